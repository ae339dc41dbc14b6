//! Lateral movement: one protected host reaching several other protected
//! hosts on remote-administration ports (SSH, RPC, NetBIOS and SMB, RDP,
//! WinRM) within a sliding window, answered or not. This is the fan-out of
//! an intruder or a worm pushing itself from host to host with stolen
//! credentials (MITRE ATT&CK T1021 Remote Services, T1570 Lateral Tool
//! Transfer: PsExec and SMB copies, WMI over RPC, WinRM, RDP, SSH).
//!
//! One session to one host is routine administration (a PsExec from an
//! admin's workstation to a domain controller); so is a workstation
//! reaching its file server at logon. What stands out is the same host
//! reaching three or more distinct protected hosts within minutes. The
//! site's own infrastructure (its resolvers, which in a Windows domain are
//! the domain controllers every client talks SMB and RPC to at logon and
//! every Group Policy refresh; its gateway) is not counted as a peer.

use std::{collections::HashMap, net::IpAddr, time::Duration, time::SystemTime};

use super::{
    ratio_score,
    scan::{
        track::{ignored_peer, millis, window_millis, Lru, Summary, Tally},
        SATURATE,
    },
    Detect, Detector, DetectorStats, Explanation, Fact, Finding, Observation, Seen, Site,
    Transport,
};
use crate::{config::duration::HumanDuration, net::Cidr};

#[cfg(test)]
mod tests;

/// Protected peers remembered per host within the window (the score
/// saturates at 4 times the threshold: 12 by default).
pub const MAX_PEERS_PER_HOST: usize = 64;

/// Admin ports configurable at most.
pub const MAX_PORTS: usize = 16;

/// `[detect.lateral_movement]`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LateralMovementSettings {
    /// Sliding window the protected peers are counted over (default `10m`;
    /// 1m to 1d). Ten minutes holds a worm's or a script's burst and a
    /// hands-on-keyboard intruder hopping host by host; a whole day of an
    /// administrator's sessions it does not.
    pub window: HumanDuration,
    /// Distinct protected peers reached on admin ports that make lateral
    /// movement, score 50; the score reaches 100 at 4 times this (default
    /// 3; 2 to 64). One peer is routine administration, two is a
    /// workstation reaching its file and print servers; three distinct
    /// hosts in minutes is a fan-out.
    pub peers: usize,
    /// Remote-administration ports (default 22 SSH, 135 RPC endpoint
    /// mapper (WMI, DCOM), 139 and 445 NetBIOS and SMB (PsExec, admin
    /// shares), 3389 RDP, 5985 and 5986 WinRM; 1 to 16 ports).
    pub ports: Vec<u16>,
    /// Hosts never reported: jump hosts, administrators' workstations,
    /// management and backup servers that reach every host (CIDR strings).
    pub exempt: Vec<Cidr>,
    /// Protected peers not counted: file and print servers every
    /// workstation maps at logon (CIDR strings).
    pub exempt_peers: Vec<Cidr>,
    /// Hosts tracked at most (default 4,096; 1 to 1,048,576); beyond it the
    /// least recently active host is forgotten and counted as evicted.
    pub max_tracked: usize,
}

impl Default for LateralMovementSettings {
    fn default() -> LateralMovementSettings {
        LateralMovementSettings {
            window: HumanDuration(Duration::from_secs(600)),
            peers: 3,
            ports: vec![22, 135, 139, 445, 3389, 5985, 5986],
            exempt: Vec::new(),
            exempt_peers: Vec::new(),
            max_tracked: 4096,
        }
    }
}

impl LateralMovementSettings {
    /// (key, problem) for each value out of range.
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let window = self.window.0.as_secs();
        if !(60..=86_400).contains(&window) {
            out.push(("window", "must be between 1m and 1d".to_owned()));
        }
        if !(2..=MAX_PEERS_PER_HOST).contains(&self.peers) {
            out.push((
                "peers",
                format!("{} is out of range (2 to {MAX_PEERS_PER_HOST})", self.peers),
            ));
        }
        if !(1..=MAX_PORTS).contains(&self.ports.len()) {
            out.push(("ports", format!("must list 1 to {MAX_PORTS} ports")));
        }
        for (i, port) in self.ports.iter().enumerate() {
            if *port == 0 {
                out.push(("ports", "0 is not a port".to_owned()));
            } else if self.ports[..i].contains(port) {
                out.push(("ports", format!("{port} is listed twice")));
            }
        }
        if !(1..=1 << 20).contains(&self.max_tracked) {
            out.push((
                "max_tracked",
                format!("{} is out of range (1 to 1048576)", self.max_tracked),
            ));
        }
        out
    }
}

/// One protected peer a host reached: attempts and answers on admin
/// ports, and which of `settings.ports` (bit i: `ports[i]`).
#[derive(Clone, Copy, Debug, Default)]
struct Reach {
    tally: Tally,
    ports: u16,
}

/// The lateral movement detector ([`Detector::LateralMovement`]).
///
/// Observes `Seen::Attempt` (TCP and UDP) and `Seen::Answer` on the admin
/// ports; on each tick reports every host that reached at least the
/// threshold of distinct other protected hosts in the window: `peer` none,
/// `port` the admin port when only one was used, score [`ratio_score`] (50
/// at the threshold, 100 at 4 times it), confidence 50 plus half the share
/// of peers that answered (a session is movement; silence a probe).
/// Reported again on every tick while above the threshold.
#[derive(Debug)]
pub struct LateralMovement {
    settings: LateralMovementSettings,
    window_ms: u64,
    hosts: Lru<IpAddr, HashMap<IpAddr, Reach>>,
}

impl LateralMovement {
    pub fn new(settings: LateralMovementSettings) -> LateralMovement {
        LateralMovement {
            window_ms: window_millis(settings.window.0),
            hosts: Lru::new(settings.max_tracked),
            settings,
        }
    }

    pub fn settings(&self) -> &LateralMovementSettings {
        &self.settings
    }

    /// Bit of `port` among the admin ports (the first 16).
    fn port_bit(&self, port: u16) -> Option<u16> {
        let index = self.settings.ports.iter().position(|p| *p == port)?;
        (index < MAX_PORTS).then(|| 1u16 << index)
    }

    fn counted(&self, host: IpAddr, peer: IpAddr, site: &Site) -> bool {
        host != peer
            && site.is_protected(peer)
            && !ignored_peer(site, peer)
            && !site.is_infrastructure(peer)
            && !self.settings.exempt.iter().any(|net| net.contains(host))
            && !self
                .settings
                .exempt_peers
                .iter()
                .any(|net| net.contains(peer))
    }

    fn finding(
        &self,
        now: SystemTime,
        host: IpAddr,
        peers: &HashMap<IpAddr, Reach>,
    ) -> Option<Finding> {
        let threshold = self.settings.peers;
        if threshold == 0 || peers.len() < threshold {
            return None;
        }
        let mut summary = Summary::default();
        let (mut ports, mut answering) = (0u16, 0u64);
        for reach in peers.values() {
            summary.add(&reach.tally);
            ports |= reach.ports;
            answering += u64::from(!reach.tally.failed());
        }
        let observed = peers.len() as f64;
        let confidence = 50 + 50 * answering / summary.distinct.max(1);
        let port = match ports.count_ones() {
            1 => self
                .settings
                .ports
                .get(ports.trailing_zeros() as usize)
                .copied(),
            _ => None,
        };
        let explanation = Explanation {
            observed,
            threshold: threshold as f64,
            window_secs: u32::try_from(self.settings.window.0.as_secs()).unwrap_or(u32::MAX),
            confidence: u8::try_from(confidence).unwrap_or(100),
            facts: Vec::new(),
        }
        .with(Fact::DistinctHosts, observed)
        .with(Fact::DistinctPorts, f64::from(ports.count_ones()))
        .with(Fact::Attempts, summary.attempts as f64)
        .with(Fact::Answered, summary.answered as f64)
        .with(Fact::Refused, summary.refused as f64)
        .with(Fact::Unanswered, summary.silent as f64);
        Some(Finding {
            at: now,
            detector: Detector::LateralMovement,
            host,
            peer: None,
            domain: None,
            port,
            score: ratio_score(observed, threshold as f64, SATURATE),
            explanation,
        })
    }
}

impl Detect for LateralMovement {
    fn detector(&self) -> Detector {
        Detector::LateralMovement
    }

    fn observe(&mut self, observation: &Observation, site: &Site, _out: &mut Vec<Finding>) {
        match &observation.seen {
            Seen::Attempt {
                host,
                peer,
                port,
                transport: Transport::Tcp | Transport::Udp,
                ..
            } => {
                let Some(bit) = self.port_bit(*port) else {
                    return;
                };
                if !self.counted(*host, *peer, site) {
                    return;
                }
                let at_ms = millis(observation.at);
                let Some(peers) = self.hosts.entry(*host, HashMap::new) else {
                    return;
                };
                if !peers.contains_key(peer) && peers.len() >= MAX_PEERS_PER_HOST {
                    return;
                }
                let reach = peers.entry(*peer).or_default();
                reach.tally.attempt(at_ms);
                reach.ports |= bit;
            }
            Seen::Answer {
                host,
                peer,
                port,
                outcome,
            } => {
                if self.port_bit(*port).is_none() {
                    return;
                }
                if let Some(reach) = self.hosts.touch(host).and_then(|peers| peers.get_mut(peer)) {
                    reach.tally.answer(*outcome);
                }
            }
            _ => {}
        }
    }

    fn tick(&mut self, now: SystemTime, _site: &Site, out: &mut Vec<Finding>) {
        let (now_ms, window_ms) = (millis(now), self.window_ms);
        self.hosts.retain(|_, peers| {
            peers.retain(|_, reach| reach.tally.within(now_ms, window_ms));
            !peers.is_empty()
        });
        let mut found: Vec<Finding> = self
            .hosts
            .iter()
            .filter_map(|(host, peers)| self.finding(now, *host, peers))
            .collect();
        found.sort_by_key(|finding| finding.host);
        out.extend(found);
    }

    fn stats(&self) -> DetectorStats {
        DetectorStats {
            tracked: u32::try_from(self.hosts.len()).unwrap_or(u32::MAX),
            evicted: self.hosts.evicted(),
        }
    }
}
