//! Known-bad peers ([`Detector::KnownBad`]): connections to an address or
//! prefix on one of the operator's local lists, DNS queries for a listed
//! domain, and connections to the addresses a listed domain resolved to
//! (for the host that asked, for a while).
//!
//! Reports at once, in [`Detect::observe`]. The score starts high (an
//! address or prefix 85, a domain 80) and falls with the entry's age: stale
//! threat intelligence is the main source of false positives (indicators
//! are short-lived and addresses get reassigned; see Li et al., "Reading
//! the Tea Leaves: A Comparative Analysis of Threat Intelligence", USENIX
//! Security 2019). By default an entry loses 5 points per whole 30 days
//! listed, down to a floor of 40: an address match notifies (>= 60) during
//! the first 180 days after the listing (85 → 60 at 150 days, 55 at 180), a
//! domain match during the first 150 (80 → 60 at 120 days); after that it
//! goes to the daily digest, and never below it (the floor of 40 is reached
//! at 270 days for an address, 240 for a domain).
//!
//! An entry covering the site's own infrastructure (a resolver, the
//! collector, the gateway, or a whole protected prefix) is a list problem
//! ([`KnownBad::list_problems`]) and never matches.

mod files;
mod list;
mod parse;
#[cfg(test)]
mod tests;

use std::{
    collections::HashMap,
    net::IpAddr,
    path::PathBuf,
    time::{Duration, SystemTime},
};

pub use files::ListFiles;
pub use list::{Entry, Infrastructure, ListError, ListProblem, ListSet, Target};

use super::{Detect, Detector, DetectorStats, Explanation, Fact, Finding, Observation, Seen, Site};
use crate::config::duration::HumanDuration;

/// Days per decay step of the score.
pub const DECAY_STEP_DAYS: u32 = 30;

/// The longest a DNS answer's TTL keeps an address listed (1 day).
pub const MAX_TTL_HOLD: Duration = Duration::from_secs(86_400);

/// `[detect.known_bad]`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnownBadSettings {
    /// List files, in order (the list index is the position here). Default: none.
    pub lists: Vec<PathBuf>,
    /// Score of a fresh address or prefix match. Default 85 (notify; a
    /// block threshold of 85 catches fresh address matches only).
    pub address_score: u8,
    /// Score of a fresh domain match. Default 80 (a name is shared by fewer
    /// unrelated services than an address, but a query is not a connection).
    pub domain_score: u8,
    /// Points an entry loses per whole 30 days since it was listed. Default 5.
    pub decay_per_month: u8,
    /// The least an aged entry scores. Default 40 (daily digest).
    pub score_floor: u8,
    /// How long, at least, an address a listed domain resolved to stays
    /// listed for the host that asked (longer when the answer's TTL is,
    /// up to a day). Default 10m: clients connect within seconds of the
    /// answer, and a short hold limits the false matches on addresses a
    /// listed domain shares with others (CDNs, shared hosting).
    pub resolved_hold: HumanDuration,
    /// (host, address) pairs from answers held at most; when full, the
    /// expired go first, else the 1/64 soonest to expire. Default 16384.
    pub max_resolved: usize,
}

impl Default for KnownBadSettings {
    fn default() -> KnownBadSettings {
        KnownBadSettings {
            lists: Vec::new(),
            address_score: 85,
            domain_score: 80,
            decay_per_month: 5,
            score_floor: 40,
            resolved_hold: HumanDuration(Duration::from_secs(600)),
            max_resolved: 16_384,
        }
    }
}

impl KnownBadSettings {
    /// (key, problem) for each out-of-range value.
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        for (key, value) in [
            ("address_score", self.address_score),
            ("domain_score", self.domain_score),
            ("decay_per_month", self.decay_per_month),
            ("score_floor", self.score_floor),
        ] {
            if value > 100 {
                problems.push((key, format!("{value} is above 100")));
            }
        }
        let top = self.address_score.min(self.domain_score);
        if self.score_floor > top {
            problems.push((
                "score_floor",
                format!(
                    "{} is above address_score or domain_score ({top})",
                    self.score_floor
                ),
            ));
        }
        if self.resolved_hold.0 > MAX_TTL_HOLD {
            problems.push(("resolved_hold", "must be a day or shorter".to_owned()));
        }
        if !(1..=1_048_576).contains(&self.max_resolved) {
            problems.push((
                "max_resolved",
                format!("{} is outside 1 to 1048576", self.max_resolved),
            ));
        }
        problems
    }
}

/// A listed domain's answer, held for the host that asked.
#[derive(Clone, Debug)]
struct Resolved {
    /// The name answered (looked up in the current lists when the host
    /// connects, so a list reload applies at once).
    name: Box<str>,
    expires: SystemTime,
}

/// The known-bad detector. State: the lists, and the (host, address) pairs
/// listed domains resolved to, capped at `max_resolved`.
#[derive(Debug)]
pub struct KnownBad {
    settings: KnownBadSettings,
    lists: ListSet,
    resolved: HashMap<(IpAddr, IpAddr), Resolved>,
    evicted: u64,
}

impl KnownBad {
    pub fn new(settings: KnownBadSettings, lists: ListSet) -> KnownBad {
        KnownBad {
            settings,
            lists,
            resolved: HashMap::new(),
            evicted: 0,
        }
    }

    /// Uses `lists` from now on (answers already held are judged against them).
    pub fn replace_lists(&mut self, lists: ListSet) {
        self.lists = lists;
    }

    pub fn lists(&self) -> &ListSet {
        &self.lists
    }

    /// The name (path) of list `index`, as findings carry it in [`Fact::ListIndex`].
    pub fn list_name(&self, index: usize) -> Option<&str> {
        self.lists.list_name(index)
    }

    /// Entries covering the site's own infrastructure (never matched).
    pub fn list_problems(&self, site: &Site) -> Vec<ListProblem> {
        self.lists.problems(site)
    }

    /// The score of an entry `age_days` old: `base` minus
    /// `decay_per_month` per whole 30 days, not below `score_floor` (nor
    /// above `base`).
    pub fn score(&self, base: u8, age_days: u32) -> u8 {
        let steps = age_days / DECAY_STEP_DAYS;
        let decay = steps.saturating_mul(u32::from(self.settings.decay_per_month));
        let floor = self.settings.score_floor.min(base);
        let score = u32::from(base).saturating_sub(decay).max(u32::from(floor));
        score.min(100) as u8
    }

    fn finding(&self, at: SystemTime, host: IpAddr, peer: IpAddr, entry: &Entry) -> Finding {
        let base = match entry.target {
            Target::Prefix(_) => self.settings.address_score,
            Target::Domain(_) => self.settings.domain_score,
        };
        let age = entry.age_days(at);
        let score = self.score(base, age);
        let domain = match &entry.target {
            Target::Domain(name) => Some(name.to_string()),
            Target::Prefix(_) => None,
        };
        // Confidence: the share of the fresh score the entry keeps.
        let confidence = if base == 0 {
            0
        } else {
            (u32::from(score) * 100 / u32::from(base)).min(100) as u8
        };
        Finding {
            at,
            detector: Detector::KnownBad,
            host,
            peer: Some(peer),
            domain,
            port: None,
            score,
            explanation: Explanation {
                observed: 1.0,
                threshold: 1.0,
                window_secs: 0,
                confidence,
                facts: Vec::new(),
            }
            .with(Fact::ListIndex, entry.list as f64)
            .with(Fact::ListLine, f64::from(entry.line))
            .with(Fact::EntryAgeDays, f64::from(age)),
        }
    }

    /// Holds `addr` as listed for `host` until `expires`. When full, pairs
    /// expired at `at` go first; if none has, the 1/64 of the cap soonest
    /// to expire (at least one; ties: the lowest pair) is evicted at once.
    fn hold(
        &mut self,
        at: SystemTime,
        host: IpAddr,
        addr: IpAddr,
        name: &str,
        expires: SystemTime,
    ) {
        let key = (host, addr);
        let max = self.settings.max_resolved.max(1);
        if !self.resolved.contains_key(&key) && self.resolved.len() >= max {
            self.resolved.retain(|_, held| held.expires > at);
            if self.resolved.len() >= max {
                let batch = (max / 64).max(1);
                let mut by_expiry: Vec<(SystemTime, (IpAddr, IpAddr))> = self
                    .resolved
                    .iter()
                    .map(|(key, held)| (held.expires, *key))
                    .collect();
                by_expiry.sort_unstable();
                for (_, key) in by_expiry.iter().take(batch) {
                    self.resolved.remove(key);
                }
                self.evicted += batch as u64;
            }
        }
        let held = self.resolved.entry(key).or_insert_with(|| Resolved {
            name: Box::from(name),
            expires,
        });
        if expires >= held.expires {
            held.name = Box::from(name);
            held.expires = expires;
        }
    }
}

impl Detect for KnownBad {
    fn detector(&self) -> Detector {
        Detector::KnownBad
    }

    fn observe(&mut self, observation: &Observation, site: &Site, out: &mut Vec<Finding>) {
        let at = observation.at;
        match &observation.seen {
            Seen::Attempt {
                host, peer, port, ..
            } => {
                if site.is_infrastructure(*peer) {
                    return;
                }
                // An address entry is the more direct evidence; else the
                // listed domain this host resolved the peer from.
                let by_name = || {
                    self.resolved
                        .get(&(*host, *peer))
                        .filter(|held| held.expires > at)
                        .and_then(|held| self.lists.match_name(&held.name, site))
                };
                let found = self
                    .lists
                    .match_addr(*peer, site)
                    .map(|entry| (entry, by_name()))
                    .or_else(|| by_name().map(|entry| (entry, None)));
                if let Some((entry, also)) = found {
                    let mut finding = self.finding(at, *host, *peer, entry);
                    finding.port = Some(*port);
                    if let Some(Target::Domain(name)) = also.map(|e| &e.target) {
                        finding.domain = Some(name.to_string());
                    }
                    out.push(finding);
                }
            }
            Seen::DnsQuery {
                host,
                resolver,
                name,
                truncated,
                ..
            } => {
                // A cut name keeps its head, not its tail: its suffix is
                // not the real one and would match the wrong domain.
                if *truncated {
                    return;
                }
                if let Some(entry) = self.lists.match_name(name, site) {
                    out.push(self.finding(at, *host, *resolver, entry));
                }
            }
            Seen::DnsAnswer {
                host,
                name,
                addrs,
                ttl_secs,
                ..
            } => {
                if self.lists.match_name(name, site).is_none() {
                    return;
                }
                let ttl = Duration::from_secs(u64::from(*ttl_secs)).min(MAX_TTL_HOLD);
                let expires = at + ttl.max(self.settings.resolved_hold.0);
                for addr in addrs {
                    // Sinkhole answers (0.0.0.0, ::, loopback) from DNS
                    // firewalls, and the site's own machines, are not the peer.
                    if addr.is_unspecified() || addr.is_loopback() || site.is_infrastructure(*addr)
                    {
                        continue;
                    }
                    self.hold(at, *host, *addr, name, expires);
                }
            }
            Seen::Answer { .. } | Seen::Device { .. } => {}
        }
    }

    fn tick(&mut self, now: SystemTime, _site: &Site, _out: &mut Vec<Finding>) {
        self.resolved.retain(|_, held| held.expires > now);
    }

    fn stats(&self) -> DetectorStats {
        DetectorStats {
            tracked: u32::try_from(self.resolved.len()).unwrap_or(u32::MAX),
            evicted: self.evicted,
        }
    }
}
