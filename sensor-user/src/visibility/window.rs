//! The sliding window the verdict is judged over: each interval's site
//! counter deltas and what its events said about name lookups, dropped once
//! they end before the window.

use std::{
    collections::{HashMap, VecDeque},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::{Duration, SystemTime},
};

use sensor_common::{user::CounterWords as _, EventKind, SiteCounters, TrafficClass};

use crate::sample::Interval;

/// Well-known public resolvers that answer DNS over HTTPS (port 443) or
/// TLS (853): Cloudflare, Google, Quad9, OpenDNS, AdGuard. A client's TCP
/// connection to one of them is a lookup the sensor cannot read.
pub const ENCRYPTED_RESOLVERS: [IpAddr; 18] = [
    IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)),
    IpAddr::V4(Ipv4Addr::new(1, 0, 0, 1)),
    IpAddr::V6(Ipv6Addr::new(0x2606, 0x4700, 0x4700, 0, 0, 0, 0, 0x1111)),
    IpAddr::V6(Ipv6Addr::new(0x2606, 0x4700, 0x4700, 0, 0, 0, 0, 0x1001)),
    IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
    IpAddr::V4(Ipv4Addr::new(8, 8, 4, 4)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8844)),
    IpAddr::V4(Ipv4Addr::new(9, 9, 9, 9)),
    IpAddr::V4(Ipv4Addr::new(149, 112, 112, 112)),
    IpAddr::V6(Ipv6Addr::new(0x2620, 0xfe, 0, 0, 0, 0, 0, 0xfe)),
    IpAddr::V6(Ipv6Addr::new(0x2620, 0xfe, 0, 0, 0, 0, 0, 0x9)),
    IpAddr::V4(Ipv4Addr::new(208, 67, 222, 222)),
    IpAddr::V4(Ipv4Addr::new(208, 67, 220, 220)),
    IpAddr::V6(Ipv6Addr::new(0x2620, 0x119, 0x35, 0, 0, 0, 0, 0x35)),
    IpAddr::V6(Ipv6Addr::new(0x2620, 0x119, 0x53, 0, 0, 0, 0, 0x53)),
    IpAddr::V4(Ipv4Addr::new(94, 140, 14, 14)),
    IpAddr::V4(Ipv4Addr::new(94, 140, 15, 15)),
];

/// Name lookups the events show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lookups {
    /// DNS queries from protected hosts (events; subject to the rate limit).
    pub queries: u64,
    /// Of those, to a resolver that is not declared (when some are).
    pub elsewhere: u64,
    /// TCP connections to a well-known resolver on 443 or to any on 853.
    pub encrypted: u64,
}

impl Lookups {
    /// The lookups `interval`'s events show, judged against `resolvers`.
    pub fn of(interval: &Interval, resolvers: &[IpAddr]) -> Lookups {
        let mut lookups = Lookups::default();
        for event in &interval.events {
            match event.kind {
                EventKind::DnsQuery => {
                    lookups.queries += 1;
                    if !resolvers.is_empty() && !resolvers.contains(&event.dst) {
                        lookups.elsewhere += 1;
                    }
                }
                EventKind::TcpSyn
                    if event.dst_port == 853
                        || (event.dst_port == 443 && is_encrypted_resolver(event.dst)) =>
                {
                    lookups.encrypted += 1;
                }
                _ => {}
            }
        }
        lookups
    }

    fn add(&mut self, other: &Lookups) {
        self.queries += other.queries;
        self.elsewhere += other.elsewhere;
        self.encrypted += other.encrypted;
    }

    fn remove(&mut self, other: &Lookups) {
        self.queries -= other.queries;
        self.elsewhere -= other.elsewhere;
        self.encrypted -= other.encrypted;
    }
}

fn is_encrypted_resolver(addr: IpAddr) -> bool {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    ENCRYPTED_RESOLVERS.contains(&addr)
}

#[derive(Clone, Debug)]
struct Slice {
    start: SystemTime,
    end: SystemTime,
    site: SiteCounters,
    lookups: Lookups,
    /// DNS queries by destination (the resolver asked).
    resolvers: Vec<(IpAddr, u64)>,
}

/// DNS query events by destination.
fn resolvers_of(interval: &Interval) -> Vec<(IpAddr, u64)> {
    let mut counts: Vec<(IpAddr, u64)> = Vec::new();
    for event in interval
        .events
        .iter()
        .filter(|e| e.kind == EventKind::DnsQuery)
    {
        match counts.iter_mut().find(|(addr, _)| *addr == event.dst) {
            Some((_, n)) => *n += 1,
            None => counts.push((event.dst, 1)),
        }
    }
    counts
}

/// The intervals of the last `span`, and their running totals.
#[derive(Clone, Debug)]
pub struct Window {
    span: Duration,
    slices: VecDeque<Slice>,
    site: SiteCounters,
    lookups: Lookups,
    resolvers: HashMap<IpAddr, u64>,
}

impl Window {
    pub fn new(span: Duration) -> Window {
        Window {
            span,
            slices: VecDeque::new(),
            site: SiteCounters::default(),
            lookups: Lookups::default(),
            resolvers: HashMap::new(),
        }
    }

    /// Adds an interval and drops what ended before the window.
    /// `own_packets`: packets the machine delivered to itself during the
    /// interval, discounted from the traffic between unprotected addresses.
    pub fn push(&mut self, interval: &Interval, lookups: Lookups, own_packets: u64) {
        let slice = Slice {
            start: interval.start,
            end: interval.end,
            site: without_own(interval.site.delta, own_packets),
            lookups,
            resolvers: resolvers_of(interval),
        };
        self.site = SiteCounters::sum([&self.site, &slice.site]);
        self.lookups.add(&slice.lookups);
        for (addr, n) in &slice.resolvers {
            *self.resolvers.entry(*addr).or_default() += n;
        }
        self.slices.push_back(slice);
        let end = interval.end;
        while self
            .slices
            .front()
            .is_some_and(|s| end.duration_since(s.end).unwrap_or_default() >= self.span)
        {
            if let Some(old) = self.slices.pop_front() {
                self.site = self.site.since(&old.site);
                self.lookups.remove(&old.lookups);
                for (addr, n) in &old.resolvers {
                    if let Some(count) = self.resolvers.get_mut(addr) {
                        *count -= n;
                        if *count == 0 {
                            self.resolvers.remove(addr);
                        }
                    }
                }
            }
        }
    }

    /// The site counters and lookups over the window.
    pub fn totals(&self) -> (SiteCounters, Lookups) {
        (self.site, self.lookups)
    }

    /// The resolvers asked in the window, most asked first (ties by
    /// address), at most `most`.
    pub fn resolvers(&self, most: usize) -> Vec<IpAddr> {
        let mut counted: Vec<(IpAddr, u64)> =
            self.resolvers.iter().map(|(addr, n)| (*addr, *n)).collect();
        counted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counted
            .into_iter()
            .take(most)
            .map(|(addr, _)| addr)
            .collect()
    }

    /// How much time the window's intervals cover.
    pub fn covered(&self) -> Duration {
        match (self.slices.front(), self.slices.back()) {
            (Some(first), Some(last)) => last.end.duration_since(first.start).unwrap_or_default(),
            _ => Duration::ZERO,
        }
    }
}

/// `site` without up to `own` packets between unprotected addresses: the
/// machine's own traffic (as the agent measures it). Never below zero; the
/// rest of the counters are left as the kernel counted them.
fn without_own(mut site: SiteCounters, own: u64) -> SiteCounters {
    let slot = TrafficClass::RemoteToRemote as usize;
    // The machine's own traffic is unicast: group frames are never taken
    // away, so they never outnumber what is left.
    let unicast = site.class_packets[slot].saturating_sub(site.broadcast + site.multicast);
    let discount = own.min(unicast);
    site.class_packets[slot] -= discount;
    site.packets = site.packets.saturating_sub(discount);
    site
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encrypted_resolvers_in_either_form() {
        assert!(is_encrypted_resolver(
            "1.1.1.1".parse().unwrap_or(IpAddr::from([0; 4]))
        ));
        assert!(is_encrypted_resolver(
            "::ffff:8.8.8.8".parse().unwrap_or(IpAddr::from([0; 4]))
        ));
        assert!(is_encrypted_resolver(
            "2620:fe::fe".parse().unwrap_or(IpAddr::from([0; 4]))
        ));
        assert!(!is_encrypted_resolver(
            "203.0.113.53".parse().unwrap_or(IpAddr::from([0; 4]))
        ));
    }
}
