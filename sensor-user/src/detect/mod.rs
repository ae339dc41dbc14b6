//! Detection: pure Rust over what the sensor saw, driven by the time passed
//! in. The pipeline turns each interval's events and host samples into
//! [`Observation`]s; every detector ([`Detect`]) takes them one by one and,
//! on each [`Detect::tick`], reports [`Finding`]s: a score from 0 to 100
//! with a structured [`Explanation`] (codes and numbers; people read the
//! text `vantage` and the collector render from them).
//!
//! Every detector keeps bounded state (caps on tracked hosts, peers and
//! names; the oldest is evicted and counted in [`DetectorStats`]). Findings
//! are raw: the `alerts` stage merges repeated findings into one open alert
//! per (host, detector, peer or domain) and applies rate caps.

pub mod alerts;
pub mod beacon;
pub mod dns_tunnel;
pub mod known_bad;
pub mod lateral;
pub mod new_device;
pub mod pdns;
pub mod scan;

use std::{net::IpAddr, time::SystemTime};

use serde::{Deserialize, Serialize};

pub use vantage_protocol::detection::{Detector, Fact};

use crate::net::Cidr;

/// Why a detector scored what it did: the main measure against its
/// threshold or expectation, the window it was taken over, how sure the
/// detector is, and further named numbers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The main measure (distinct ports, peers, names, connections, ...).
    pub observed: f64,
    /// The threshold or expectation `observed` was compared with.
    pub threshold: f64,
    /// The sliding window the measure covers, seconds (0: none).
    pub window_secs: u32,
    /// How sure the detector is, 0 to 100.
    pub confidence: u8,
    /// Further named numbers, at most [`Explanation::FACTS_MAX`].
    pub facts: Vec<(Fact, f64)>,
}

impl Explanation {
    /// Facts an explanation carries at most (the wire keeps it compact).
    pub const FACTS_MAX: usize = 6;

    /// Adds a fact, ignoring it beyond [`Explanation::FACTS_MAX`].
    pub fn with(mut self, fact: Fact, value: f64) -> Explanation {
        if self.facts.len() < Explanation::FACTS_MAX {
            self.facts.push((fact, value));
        }
        self
    }

    /// The value of `fact`, if present.
    pub fn fact(&self, fact: Fact) -> Option<f64> {
        self.facts.iter().find(|(f, _)| *f == fact).map(|(_, v)| *v)
    }
}

/// One detector's judgement about one host (and peer, domain or port).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// On the pipeline's clock.
    pub at: SystemTime,
    pub detector: Detector,
    /// The protected host concerned (the scanner, the beaconing client, the new device).
    pub host: IpAddr,
    pub peer: Option<IpAddr>,
    /// A registered domain (beacons by name, DNS tunnels, listed domains).
    pub domain: Option<String>,
    pub port: Option<u16>,
    /// 0 (nothing) to 100 (certain and serious).
    pub score: u8,
    pub explanation: Explanation,
}

/// How a connection attempt went, from the datapath's view of the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The peer answered a SYN with a SYN-ACK.
    Answered,
    /// The peer answered with a RST (closed port) or an ICMP unreachable.
    Refused,
}

/// The transport of a connection attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Tcp,
    Udp,
    /// ICMP or ICMPv6 echo request (port is 0).
    IcmpEcho,
}

/// What was seen, by kind. `host` is always the protected host concerned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "seen", rename_all = "snake_case")]
pub enum Seen {
    /// `host` opened (or tried) a connection: TCP SYN, UDP to a peer its
    /// sketch had not seen, ICMP echo request. `peer` may be protected too.
    Attempt {
        host: IpAddr,
        peer: IpAddr,
        port: u16,
        transport: Transport,
        /// The registered domain `peer` was last resolved from (passive
        /// DNS, filled in by the pipeline), when known.
        domain: Option<String>,
    },
    /// The answer `peer` gave to `host`'s attempt on `port`.
    Answer {
        host: IpAddr,
        peer: IpAddr,
        port: u16,
        outcome: Outcome,
    },
    /// `host` asked `resolver` for `name` (dotted, lower case, no final dot).
    DnsQuery {
        host: IpAddr,
        resolver: IpAddr,
        name: String,
        /// Record type (1 A, 16 TXT, 10 NULL, 28 AAAA, ...); 0 when unknown.
        qtype: u16,
        /// The name was longer than the kernel copies and was cut.
        truncated: bool,
    },
    /// `resolver` answered `host`: `name` resolves to `addrs`.
    DnsAnswer {
        host: IpAddr,
        resolver: IpAddr,
        name: String,
        addrs: Vec<IpAddr>,
        /// Time to live of the answer, seconds.
        ttl_secs: u32,
    },
    /// A protected host's entry in the host table, with the MAC and VLAN of
    /// its last frame; sent when the entry is new.
    Device {
        host: IpAddr,
        mac: [u8; 6],
        vlan: u16,
    },
}

impl Seen {
    /// The protected host concerned.
    pub fn host(&self) -> IpAddr {
        match self {
            Seen::Attempt { host, .. }
            | Seen::Answer { host, .. }
            | Seen::DnsQuery { host, .. }
            | Seen::DnsAnswer { host, .. }
            | Seen::Device { host, .. } => *host,
        }
    }
}

/// One thing seen, at a time on the pipeline's clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub at: SystemTime,
    #[serde(flatten)]
    pub seen: Seen,
}

/// What the detectors know of the site: which addresses are protected, and
/// which are the site's own infrastructure (never reported as peers of a
/// beacon or a tunnel, never blocked).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Site {
    /// `sensor.local_nets`.
    pub protected: Vec<Cidr>,
    /// The site's resolvers (`site.resolvers`).
    pub resolvers: Vec<IpAddr>,
    /// The collector's addresses (resolved from `uplink.collector`).
    pub collector: Vec<IpAddr>,
    /// The gateway's addresses (`site.gateway`).
    pub gateway: Vec<IpAddr>,
}

impl Site {
    /// True when `addr` is inside a protected prefix.
    pub fn is_protected(&self, addr: IpAddr) -> bool {
        self.protected.iter().any(|net| net.contains(addr))
    }

    /// True for the site's own resolvers, collector and gateway.
    pub fn is_infrastructure(&self, addr: IpAddr) -> bool {
        self.resolvers.contains(&addr)
            || self.collector.contains(&addr)
            || self.gateway.contains(&addr)
    }
}

/// A detector's bookkeeping, for `vantage status` and the heartbeat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectorStats {
    /// Keys (hosts, pairs, domains) tracked now.
    pub tracked: u32,
    /// Keys evicted to stay within the caps, since the start.
    pub evicted: u64,
}

/// A detector: takes observations as they come, reports findings when
/// ticked. Implementations never read a clock: `at` and `now` are the only
/// time they know.
pub trait Detect {
    /// Which detector this is.
    fn detector(&self) -> Detector;

    /// Takes one observation. May report findings at once (a known-bad
    /// peer), or only remember it until [`Detect::tick`].
    fn observe(&mut self, observation: &Observation, site: &Site, out: &mut Vec<Finding>);

    /// Called at the end of each interval: forgets what fell out of the
    /// windows and reports what crossed a threshold.
    fn tick(&mut self, now: SystemTime, site: &Site, out: &mut Vec<Finding>);

    /// Tracked and evicted keys.
    fn stats(&self) -> DetectorStats;
}

/// Maps a value to a 0-100 score: 0 below `threshold`, 50 at it, rising
/// towards 100 as `observed` reaches `threshold * saturate_at`.
pub fn ratio_score(observed: f64, threshold: f64, saturate_at: f64) -> u8 {
    if threshold <= 0.0 || observed < threshold {
        return 0;
    }
    let top = threshold * saturate_at.max(1.0);
    if observed >= top {
        return 100;
    }
    let span = top - threshold;
    if span <= 0.0 {
        return 100;
    }
    let score = 50.0 + 50.0 * (observed - threshold) / span;
    score.clamp(0.0, 100.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_score_is_zero_below_fifty_at_and_full_at_saturation() {
        assert_eq!(ratio_score(14.0, 15.0, 4.0), 0);
        assert_eq!(ratio_score(15.0, 15.0, 4.0), 50);
        assert_eq!(ratio_score(37.5, 15.0, 4.0), 75);
        assert_eq!(ratio_score(60.0, 15.0, 4.0), 100);
        assert_eq!(ratio_score(600.0, 15.0, 4.0), 100);
        assert_eq!(ratio_score(5.0, 0.0, 4.0), 0);
    }
}
