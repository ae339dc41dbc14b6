//! Horizontal sweeps: per (protected host, destination port, transport),
//! the distinct peers whose attempts failed (refused or silent) within a
//! sliding window. ICMP echo sweeps are keyed on port 0.

use std::{net::IpAddr, time::Duration, time::SystemTime};

use super::{
    check_count, check_window,
    track::{ignored_peer, millis, window_millis, Lru, Summary, Targets},
    SATURATE,
};
use crate::{
    config::duration::HumanDuration,
    detect::{
        ratio_score, Detect, Detector, DetectorStats, Explanation, Fact, Finding, Observation,
        Seen, Site, Transport,
    },
    net::Cidr,
};

/// Peers remembered per (host, port, transport) within the window.
/// Attempts to further new peers are not counted until older ones leave
/// the window: the score saturates at 4 times the threshold (100 peers by
/// default, 200 when they are protected hosts), below it. About 48 bytes
/// per remembered peer: 12 KiB for a full key, 48 MiB if all the default
/// 4,096 keys were full at once (a host sweeping 4,096 ports at once).
pub const MAX_PEERS_PER_SWEEP: usize = 256;

/// `[detect.host_sweep]`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostSweepSettings {
    /// Sliding window the failed peers are counted over (default `5m`,
    /// Zeek's `Scan::addr_scan_interval`; 1m to 1h).
    pub window: HumanDuration,
    /// Distinct failed peers on one port that make a sweep, score 50; the
    /// score reaches 100 at 4 times this (default 25, Zeek's
    /// `Scan::addr_scan_threshold`; 2 to 256).
    pub peers: usize,
    /// The same when the peers are protected hosts (default 50; 2 to 256).
    /// Twice Zeek's: inside a site one host legitimately tries one port on
    /// many neighbours (printer and scanner discovery by unicast SNMP or
    /// IPP across the subnet, inventory and monitoring servers polling
    /// every device, backup agents), host firewalls silently drop what they
    /// do not serve, and sleeping devices do not answer. A sweep of a whole
    /// /24 still crosses it well (the score saturates at 200 peers). A
    /// sweep mixing protected and other peers adds their shares: 15 others
    /// (15/25) and 20 protected (20/50) make one threshold.
    pub internal_peers: usize,
    /// Hosts never reported as sweepers: a vulnerability scanner, a
    /// monitoring server pinging every device (CIDR strings).
    pub exempt: Vec<Cidr>,
    /// UDP destination ports not counted (default `[443]`: browsers open
    /// QUIC to dozens of servers, and a UDP peer only counts as answered
    /// when the pipeline reports its first datagram back).
    pub ignore_udp_ports: Vec<u16>,
    /// (host, port, transport) keys tracked at most (default 4,096; 1 to
    /// 1,048,576); beyond it the least recently active key is forgotten
    /// and counted as evicted.
    pub max_tracked: usize,
}

impl Default for HostSweepSettings {
    fn default() -> HostSweepSettings {
        HostSweepSettings {
            window: HumanDuration(Duration::from_secs(300)),
            peers: 25,
            internal_peers: 50,
            exempt: Vec::new(),
            ignore_udp_ports: vec![443],
            max_tracked: 4096,
        }
    }
}

impl HostSweepSettings {
    /// (key, problem) for each value out of range.
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        check_window("window", self.window.0, 60, 3600, "1m and 1h", &mut out);
        check_count("peers", self.peers, 2, MAX_PEERS_PER_SWEEP, &mut out);
        check_count(
            "internal_peers",
            self.internal_peers,
            2,
            MAX_PEERS_PER_SWEEP,
            &mut out,
        );
        check_count("max_tracked", self.max_tracked, 1, 1 << 20, &mut out);
        out
    }
}

/// The horizontal sweep detector ([`Detector::HostSweep`]).
///
/// Observes `Seen::Attempt` (TCP, UDP, ICMP echo) and `Seen::Answer`;
/// peers that are multicast, broadcast, unspecified or site
/// infrastructure are not counted, nor the DNS (port 53) of the site's
/// resolvers (`site.resolvers`), which recurse to many servers. On each tick reports every (host, port,
/// transport) with at least the threshold of distinct failed peers in the
/// window: `peer` none, `port` the swept port (none for ICMP echo), score
/// [`ratio_score`] (50 at the threshold, 100 at 4 times it), confidence
/// the share of attempts not answered. Reported again on every tick while
/// above the threshold, with the current score.
#[derive(Debug)]
pub struct HostSweep {
    settings: HostSweepSettings,
    window_ms: u64,
    sweeps: Lru<(IpAddr, u16, Transport), Targets<IpAddr>>,
}

const DNS_PORT: u16 = 53;

const TRANSPORTS: [Transport; 3] = [Transport::Tcp, Transport::Udp, Transport::IcmpEcho];

fn rank(transport: Transport) -> u8 {
    match transport {
        Transport::Tcp => 0,
        Transport::Udp => 1,
        Transport::IcmpEcho => 2,
    }
}

impl HostSweep {
    pub fn new(settings: HostSweepSettings) -> HostSweep {
        HostSweep {
            window_ms: window_millis(settings.window.0),
            sweeps: Lru::new(settings.max_tracked),
            settings,
        }
    }

    pub fn settings(&self) -> &HostSweepSettings {
        &self.settings
    }

    fn exempt(&self, host: IpAddr) -> bool {
        self.settings.exempt.iter().any(|net| net.contains(host))
    }

    /// (observed, threshold) for `external` failed peers against
    /// `settings.peers` and `internal` ones against
    /// `settings.internal_peers`: the threshold the mix implies, so that
    /// observed / threshold is the sum of the two shares.
    fn measure(&self, external: u64, internal: u64) -> Option<(f64, f64)> {
        let peers = self.settings.peers as u128;
        let inner = self.settings.internal_peers as u128;
        let (outside, inside) = (u128::from(external), u128::from(internal));
        if peers == 0 || inner == 0 {
            return None;
        }
        let weighted = outside
            .saturating_mul(inner)
            .saturating_add(inside.saturating_mul(peers));
        if weighted < peers.saturating_mul(inner) {
            return None;
        }
        let total = outside + inside;
        let threshold = if inside == 0 {
            peers as f64
        } else if outside == 0 {
            inner as f64
        } else {
            total as f64 * peers as f64 * inner as f64 / weighted as f64
        };
        Some((total as f64, threshold))
    }
}

impl Detect for HostSweep {
    fn detector(&self) -> Detector {
        Detector::HostSweep
    }

    fn observe(&mut self, observation: &Observation, site: &Site, _out: &mut Vec<Finding>) {
        match &observation.seen {
            Seen::Attempt {
                host,
                peer,
                port,
                transport,
                ..
            } => {
                let ignored_port =
                    *transport == Transport::Udp && self.settings.ignore_udp_ports.contains(port);
                // A site resolver recursing talks DNS to hundreds of servers.
                let recursion = *port == DNS_PORT && site.resolvers.contains(host);
                if ignored_port
                    || recursion
                    || host == peer
                    || self.exempt(*host)
                    || ignored_peer(site, *peer)
                    || site.is_infrastructure(*peer)
                {
                    return;
                }
                let port = if *transport == Transport::IcmpEcho {
                    0
                } else {
                    *port
                };
                let at_ms = millis(observation.at);
                if let Some(targets) = self.sweeps.entry((*host, port, *transport), Targets::new) {
                    targets.attempt(*peer, at_ms, MAX_PEERS_PER_SWEEP);
                }
            }
            Seen::Answer {
                host,
                peer,
                port,
                outcome,
            } => {
                for transport in TRANSPORTS {
                    if let Some(targets) = self.sweeps.touch(&(*host, *port, transport)) {
                        targets.answer(*peer, *outcome);
                    }
                }
            }
            _ => {}
        }
    }

    fn tick(&mut self, now: SystemTime, site: &Site, out: &mut Vec<Finding>) {
        let (now_ms, window_ms) = (millis(now), self.window_ms);
        self.sweeps.retain(|_, targets| {
            targets.prune(now_ms, window_ms);
            !targets.is_empty()
        });
        let mut found = Vec::new();
        for ((host, port, transport), targets) in self.sweeps.iter() {
            let mut summary = Summary::default();
            let (mut external, mut internal) = (0u64, 0u64);
            for (peer, tally) in targets.iter() {
                summary.add(tally);
                if tally.failed() {
                    if site.is_protected(*peer) {
                        internal += 1;
                    } else {
                        external += 1;
                    }
                }
            }
            let Some((observed, threshold)) = self.measure(external, internal) else {
                continue;
            };
            let explanation = Explanation {
                observed,
                threshold,
                window_secs: u32::try_from(self.settings.window.0.as_secs()).unwrap_or(u32::MAX),
                confidence: summary.failed_share(),
                facts: Vec::new(),
            }
            .with(Fact::Attempts, summary.attempts as f64)
            .with(Fact::Answered, summary.answered as f64)
            .with(Fact::Refused, summary.refused as f64)
            .with(Fact::Unanswered, summary.silent as f64)
            .with(Fact::DistinctPeers, summary.distinct as f64);
            let finding = Finding {
                at: now,
                detector: Detector::HostSweep,
                host: *host,
                peer: None,
                domain: None,
                port: (*transport != Transport::IcmpEcho).then_some(*port),
                score: ratio_score(observed, threshold, SATURATE),
                explanation,
            };
            found.push(((*host, *port, rank(*transport)), finding));
        }
        found.sort_by_key(|(key, _)| *key);
        out.extend(found.into_iter().map(|(_, finding)| finding));
    }

    fn stats(&self) -> DetectorStats {
        DetectorStats {
            tracked: u32::try_from(self.sweeps.len()).unwrap_or(u32::MAX),
            evicted: self.sweeps.evicted(),
        }
    }
}
