//! Which protected hosts talk to which peers, recently: the blast radius of
//! blocking a peer (how many other protected hosts would lose it) that the
//! response policy reports in shadow mode and weighs before blocking.
//! Bounded: at most `max_peers` peers, each with at most `max_hosts` hosts;
//! when full, the least recently seen 1/64 of the peers go at once.

use std::{
    collections::HashMap,
    net::IpAddr,
    time::{Duration, SystemTime},
};

/// Peer -> protected hosts seen talking to it within `memory`.
#[derive(Clone, Debug)]
pub struct Talkers {
    peers: HashMap<IpAddr, Peer>,
    max_peers: usize,
    max_hosts: usize,
    memory: Duration,
    evicted: u64,
}

#[derive(Clone, Debug)]
struct Peer {
    hosts: Vec<(IpAddr, SystemTime)>,
    last: SystemTime,
}

impl Talkers {
    /// Remembers contacts for `memory`, within the caps.
    pub fn new(max_peers: usize, max_hosts: usize, memory: Duration) -> Talkers {
        Talkers {
            peers: HashMap::new(),
            max_peers: max_peers.max(1),
            max_hosts: max_hosts.max(1),
            memory,
            evicted: 0,
        }
    }

    /// `host` (protected) talked to `peer` at `at`.
    pub fn saw(&mut self, host: IpAddr, peer: IpAddr, at: SystemTime) {
        if !self.peers.contains_key(&peer) && self.peers.len() >= self.max_peers {
            self.evict_oldest();
        }
        let entry = self.peers.entry(peer).or_insert_with(|| Peer {
            hosts: Vec::new(),
            last: at,
        });
        entry.last = entry.last.max(at);
        if let Some((_, seen)) = entry.hosts.iter_mut().find(|(h, _)| *h == host) {
            *seen = (*seen).max(at);
        } else if entry.hosts.len() < self.max_hosts {
            entry.hosts.push((host, at));
        }
    }

    /// Protected hosts other than `except` that talked to `peer` within
    /// the memory before `now` (at most `max_hosts`).
    pub fn others(&self, peer: IpAddr, except: IpAddr, now: SystemTime) -> u32 {
        self.peers.get(&peer).map_or(0, |p| {
            p.hosts
                .iter()
                .filter(|(h, seen)| *h != except && self.fresh(*seen, now))
                .count() as u32
        })
    }

    /// Forgets contacts older than the memory.
    pub fn expire(&mut self, now: SystemTime) {
        let memory = self.memory;
        let fresh = |seen: SystemTime| now.duration_since(seen).map_or(true, |age| age < memory);
        self.peers.retain(|_, p| {
            p.hosts.retain(|(_, seen)| fresh(*seen));
            !p.hosts.is_empty()
        });
    }

    /// Forgets the least recently seen 1/64 of the peers (at least one) in
    /// one pass, so that a full table costs O(1) amortised per new peer
    /// instead of a scan of every peer each time.
    fn evict_oldest(&mut self) {
        let mut ages: Vec<(SystemTime, IpAddr)> =
            self.peers.iter().map(|(addr, p)| (p.last, *addr)).collect();
        let count = (ages.len() / 64).max(1).min(ages.len());
        if count == 0 {
            return;
        }
        ages.select_nth_unstable(count - 1);
        for (_, addr) in &ages[..count] {
            self.peers.remove(addr);
        }
        self.evicted += count as u64;
    }

    /// Peers tracked now, and evicted so far.
    pub fn stats(&self) -> (usize, u64) {
        (self.peers.len(), self.evicted)
    }

    fn fresh(&self, seen: SystemTime, now: SystemTime) -> bool {
        now.duration_since(seen)
            .map_or(true, |age| age < self.memory)
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn counts_other_recent_hosts_within_the_caps() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let peer = IpAddr::from([192, 0, 2, 1]);
        let mut talkers = Talkers::new(2, 3, Duration::from_secs(600));
        for host in 1..=5 {
            talkers.saw(ip(host), peer, t0);
        }
        // Three hosts kept (cap), the asking host excluded.
        assert_eq!(talkers.others(peer, ip(1), t0), 2);
        assert_eq!(talkers.others(peer, ip(9), t0), 3);
        // Past the memory, nobody.
        assert_eq!(
            talkers.others(peer, ip(9), t0 + Duration::from_secs(600)),
            0
        );
        // A third peer evicts the least recently seen one.
        talkers.saw(
            ip(1),
            IpAddr::from([192, 0, 2, 2]),
            t0 + Duration::from_secs(1),
        );
        talkers.saw(
            ip(1),
            IpAddr::from([192, 0, 2, 3]),
            t0 + Duration::from_secs(2),
        );
        assert_eq!(talkers.stats(), (2, 1));
        assert_eq!(talkers.others(peer, ip(9), t0), 0);
        // The peer last seen at t0+1 is 600 s old at t0+601: forgotten.
        talkers.expire(t0 + Duration::from_secs(601));
        assert_eq!(talkers.stats().0, 1);
        talkers.expire(t0 + Duration::from_secs(603));
        assert_eq!(talkers.stats().0, 0);
    }
}
