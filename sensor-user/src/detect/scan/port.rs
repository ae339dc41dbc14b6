//! Vertical scans: per (protected host, peer), the distinct destination
//! ports of TCP and UDP attempts that failed (refused or silent) within a
//! sliding window.

use std::{net::IpAddr, time::Duration, time::SystemTime};

use super::{
    check_count, check_window,
    track::{ignored_peer, millis, window_millis, Lru, Targets},
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

/// Ports remembered per (host, peer) within the window. Attempts to further
/// new ports are not counted until older ones leave the window: the score
/// saturates at 4 times the threshold (60 ports by default, 120 for a
/// protected peer), far below. About 28 bytes per remembered port: 7 KiB
/// for a full pair, 28 MiB if all the default 4,096 pairs were full at once.
pub const MAX_PORTS_PER_PAIR: usize = 256;

/// `[detect.port_scan]`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortScanSettings {
    /// Sliding window the failed ports are counted over (default `5m`,
    /// Zeek's `Scan::port_scan_interval`; 1m to 1h).
    pub window: HumanDuration,
    /// Distinct failed ports of one peer that make a scan, score 50; the
    /// score reaches 100 at 4 times this (default 15, Zeek's
    /// `Scan::port_scan_threshold`; 2 to 256).
    pub ports: usize,
    /// The same when the peer is a protected host (default 30; 2 to 256).
    /// Twice Zeek's: on a LAN a host legitimately probes a dozen ports of a
    /// neighbour (printer set-up and discovery trying 80, 443, 515, 631,
    /// 9100, 161, 8080...; inventory and management tools checking service
    /// ports; NAS and media clients), and host firewalls silently drop
    /// what they do not serve. A real internal scan (nmap's top 100 or 1000
    /// ports) is still far above it.
    pub internal_ports: usize,
    /// Hosts never reported as scanners: the customer's vulnerability
    /// scanner, a monitoring server (CIDR strings, `"10.0.0.5"` or
    /// `"10.0.9.0/28"`).
    pub exempt: Vec<Cidr>,
    /// (host, peer) pairs tracked at most (default 4,096; 1 to 1,048,576);
    /// beyond it the least recently active pair is forgotten and counted
    /// as evicted.
    pub max_tracked: usize,
}

impl Default for PortScanSettings {
    fn default() -> PortScanSettings {
        PortScanSettings {
            window: HumanDuration(Duration::from_secs(300)),
            ports: 15,
            internal_ports: 30,
            exempt: Vec::new(),
            max_tracked: 4096,
        }
    }
}

impl PortScanSettings {
    /// (key, problem) for each value out of range.
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        check_window("window", self.window.0, 60, 3600, "1m and 1h", &mut out);
        check_count("ports", self.ports, 2, MAX_PORTS_PER_PAIR, &mut out);
        check_count(
            "internal_ports",
            self.internal_ports,
            2,
            MAX_PORTS_PER_PAIR,
            &mut out,
        );
        check_count("max_tracked", self.max_tracked, 1, 1 << 20, &mut out);
        out
    }
}

/// The vertical scan detector ([`Detector::PortScan`]).
///
/// Observes `Seen::Attempt` (TCP and UDP) and `Seen::Answer`; on each
/// tick reports every (host, peer) with at least the threshold of distinct
/// failed ports in the window: `peer` the scanned peer, `port` none, score
/// [`ratio_score`] (50 at the threshold, 100 at 4 times it), confidence the
/// share of attempts not answered. Reported again on every tick while above
/// the threshold, with the current score.
#[derive(Debug)]
pub struct PortScan {
    settings: PortScanSettings,
    window_ms: u64,
    pairs: Lru<(IpAddr, IpAddr), Targets<u16>>,
}

impl PortScan {
    pub fn new(settings: PortScanSettings) -> PortScan {
        PortScan {
            window_ms: window_millis(settings.window.0),
            pairs: Lru::new(settings.max_tracked),
            settings,
        }
    }

    pub fn settings(&self) -> &PortScanSettings {
        &self.settings
    }

    fn exempt(&self, host: IpAddr) -> bool {
        self.settings.exempt.iter().any(|net| net.contains(host))
    }
}

impl Detect for PortScan {
    fn detector(&self) -> Detector {
        Detector::PortScan
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
                if host == peer || self.exempt(*host) || ignored_peer(site, *peer) {
                    return;
                }
                let at_ms = millis(observation.at);
                if let Some(targets) = self.pairs.entry((*host, *peer), Targets::new) {
                    targets.attempt(*port, at_ms, MAX_PORTS_PER_PAIR);
                }
            }
            Seen::Answer {
                host,
                peer,
                port,
                outcome,
            } => {
                if let Some(targets) = self.pairs.touch(&(*host, *peer)) {
                    targets.answer(*port, *outcome);
                }
            }
            _ => {}
        }
    }

    fn tick(&mut self, now: SystemTime, site: &Site, out: &mut Vec<Finding>) {
        let (now_ms, window_ms) = (millis(now), self.window_ms);
        self.pairs.retain(|_, targets| {
            targets.prune(now_ms, window_ms);
            !targets.is_empty()
        });
        let mut found = Vec::new();
        for ((host, peer), targets) in self.pairs.iter() {
            let threshold = if site.is_protected(*peer) {
                self.settings.internal_ports
            } else {
                self.settings.ports
            };
            let summary = targets.summary();
            if threshold == 0 || summary.failed < threshold as u64 {
                continue;
            }
            let (observed, threshold) = (summary.failed as f64, threshold as f64);
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
            .with(Fact::DistinctPorts, summary.distinct as f64);
            found.push(Finding {
                at: now,
                detector: Detector::PortScan,
                host: *host,
                peer: Some(*peer),
                domain: None,
                port: None,
                score: ratio_score(observed, threshold, SATURATE),
                explanation,
            });
        }
        found.sort_by_key(|finding| (finding.host, finding.peer));
        out.extend(found);
    }

    fn stats(&self) -> DetectorStats {
        DetectorStats {
            tracked: u32::try_from(self.pairs.len()).unwrap_or(u32::MAX),
            evicted: self.pairs.evicted(),
        }
    }
}
