//! DNS tunnels and exfiltration: one protected host sending many distinct,
//! long, random-looking names under one registered domain, or asking for
//! record types that carry data (NULL, TXT, ...). The measures are the
//! indicators of Farnham, "Detecting DNS Tunneling" (SANS reading room,
//! 2013): hostnames per domain, name and label length (the 52-character
//! heuristic it reports), entropy of the names, uncommon record types,
//! query volume. Many distinct names are required, as Paxson et al.,
//! "Practical Comprehensive Bounds on Surreptitious Communication over DNS"
//! (USENIX Security 2013), argue: what a domain can receive is bounded by
//! the information in the distinct queries it gets (their detector bounds
//! it per domain and day, with lossless compression; this one is a
//! cheaper, windowed proxy and misses tunnels slower than about 100 names
//! in the window).
//!
//! Per (host, registered domain) over a sliding window (5 minutes by
//! default): the distinct names (as 64-bit hashes), their longest label and
//! mean length below the registered domain, the entropy of those labels,
//! the share of unusual record types and the queries per minute; combined
//! by [`Evidence::score`]. Lengths and entropy are taken over the bytes the
//! message carried (the datapath's `\ddd` escapes undone), lower-cased.
//!
//! Not tracked: names without a registered domain (under `arpa`, `local`,
//! single labels: [`registered_domain`]), names under `ignore_domains` (the
//! site's own) and `known_benign` (DNS blocklists, anti-malware lookups).
//!
//! Names the sensor cut (longer than its copy, `truncated`) have lost their
//! domain: they are counted under the domain to which the same host last
//! sent a whole name with a label of at least `long_label / 2` bytes within
//! the window (a tunnel mixes long data names, cut, with shorter ones), or
//! else under the host with no domain (reported with `domain` none).

mod settings;
mod shape;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_scenarios;
#[cfg(test)]
mod tests_state;
mod track;

use std::{collections::HashMap, net::IpAddr, time::SystemTime};

pub use settings::{
    DnsTunnelSettings, DEFAULT_KNOWN_BENIGN, DEFAULT_UNUSUAL_TYPES, MAX_NAMES_LIMIT,
};
pub use shape::{shannon_entropy, Evidence, TunnelMeasures};

use self::{
    settings::{is_under, normalize_domain},
    shape::{name_shape, NameShape},
    track::{millis, name_hash, KeyState, LongLabelSeen},
};
use super::{
    pdns::{recency::Recency, registered_domain},
    Detect, Detector, DetectorStats, Explanation, Fact, Finding, Observation, Seen, Site,
};

/// A querying host and the registered domain (none: names cut short with no
/// domain to attribute them to).
type Key = (IpAddr, Option<String>);

/// What the detector did with the queries it saw, since the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsTunnelCounters {
    /// `Seen::DnsQuery` observations.
    pub queries: u64,
    /// Queries not tracked: no registered domain, `ignore_domains`,
    /// `known_benign` (or cut names attributed to one of those).
    pub exempt: u64,
    /// Cut names counted under the host's last long-label domain.
    pub cut_attributed: u64,
    /// Cut names counted under the host alone (no domain).
    pub cut_unattributed: u64,
    /// Keys forgotten for `max_tracked` or `max_total_names`.
    pub keys_evicted: u64,
    /// Names forgotten for `max_names` (or `max_total_names`).
    pub names_evicted: u64,
    /// Hosts whose last long-label domain was forgotten for `max_tracked`.
    pub hosts_evicted: u64,
}

/// The DNS tunnel detector ([`Detector::DnsTunnel`]).
///
/// Observes `Seen::DnsQuery`; on each tick forgets what left the window and
/// reports every (host, domain) scoring at least `report_from`: `host` the
/// querier, `domain` the registered domain (none for cut names that could
/// not be attributed), `peer` the resolver of its latest query (often the
/// site's own: the finding is about the domain), `port` none. Explanation:
/// observed the distinct names, threshold `distinct_names`, the window,
/// confidence [`Evidence::confidence`] (halved without a domain), facts
/// `DistinctNames`, `MaxLabelLen`, `MeanNameLen`, `EntropyBits`,
/// `UnusualTypes` (a count), `QueriesPerMinute`. Reported again on every
/// tick while at or above `report_from`, with the current score.
#[derive(Debug)]
pub struct DnsTunnel {
    settings: DnsTunnelSettings,
    window_ms: u64,
    bucket_ms: u64,
    /// `ignore_domains` and `known_benign`, normalised.
    exempt: Vec<String>,
    keys: HashMap<Key, KeyState>,
    order: Recency<Key>,
    hosts: HashMap<IpAddr, LongLabelSeen>,
    host_order: Recency<IpAddr>,
    total_names: usize,
    counters: DnsTunnelCounters,
}

/// Rounds to hundredths, for the explanation's facts.
fn hundredths(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

impl DnsTunnel {
    /// Buckets per window: the window slides in steps of a thirtieth (10 s
    /// for 5 minutes).
    const BUCKETS: u64 = 30;

    pub fn new(settings: DnsTunnelSettings) -> DnsTunnel {
        let window_ms = u64::try_from(settings.window.0.as_millis())
            .unwrap_or(u64::MAX)
            .max(1000);
        let exempt = settings
            .ignore_domains
            .iter()
            .chain(&settings.known_benign)
            .filter_map(|entry| normalize_domain(entry))
            .collect();
        DnsTunnel {
            window_ms,
            bucket_ms: (window_ms / Self::BUCKETS).max(1000),
            exempt,
            keys: HashMap::new(),
            order: Recency::new(),
            hosts: HashMap::new(),
            host_order: Recency::new(),
            total_names: 0,
            counters: DnsTunnelCounters::default(),
            settings,
        }
    }

    pub fn settings(&self) -> &DnsTunnelSettings {
        &self.settings
    }

    pub fn counters(&self) -> DnsTunnelCounters {
        self.counters
    }

    /// The measures of (host, domain) now (before the next tick's expiry),
    /// if tracked.
    pub fn measures(&self, host: IpAddr, domain: Option<&str>) -> Option<TunnelMeasures> {
        self.keys
            .get(&(host, domain.map(str::to_owned)))
            .map(KeyState::measures)
    }

    fn is_exempt(&self, name: &str) -> bool {
        self.exempt.iter().any(|domain| is_under(name, domain))
    }

    /// Labels at least this long make a host's domain the home of its cut names.
    fn long_label_floor(&self) -> u8 {
        u8::try_from(self.settings.long_label / 2).unwrap_or(u8::MAX)
    }

    /// Remembers that `host` just sent a whole name with a long label under
    /// `domain` (`None`: an exempt one).
    fn note_long_label(&mut self, host: IpAddr, domain: Option<String>, at: SystemTime) {
        if !self.hosts.contains_key(&host) {
            while self.hosts.len() >= self.settings.max_tracked.max(1) {
                let Some(oldest) = self.host_order.pop_oldest() else {
                    break;
                };
                self.hosts.remove(&oldest);
                self.counters.hosts_evicted += 1;
            }
        }
        let previous = self.hosts.get(&host).map(|seen| seen.stamp);
        let stamp = self.host_order.touch(previous, host, at);
        self.hosts.insert(
            host,
            LongLabelSeen {
                domain,
                at_ms: millis(at),
                stamp,
            },
        );
    }

    /// Forgets the least recently active key.
    fn evict_oldest_key(&mut self) -> bool {
        let Some(oldest) = self.order.pop_oldest() else {
            return false;
        };
        if let Some(state) = self.keys.remove(&oldest) {
            self.total_names -= state.names();
        }
        self.counters.keys_evicted += 1;
        true
    }

    /// Counts one query of `name` (its hash and shape) under `key`.
    fn count(
        &mut self,
        key: Key,
        name: &str,
        shape: NameShape,
        qtype: u16,
        resolver: IpAddr,
        at: SystemTime,
    ) {
        let at_ms = millis(at);
        if !self.keys.contains_key(&key) {
            while self.keys.len() >= self.settings.max_tracked.max(1) && self.evict_oldest_key() {}
        }
        let previous = self.keys.get(&key).map(|state| state.stamp);
        let stamp = self.order.touch(previous, key.clone(), at);
        let unusual = self.settings.unusual_types.contains(&qtype);
        let max_names = self.settings.max_names.max(1);
        let state = self
            .keys
            .entry(key.clone())
            .or_insert_with(|| KeyState::new(resolver, stamp));
        state.stamp = stamp;
        state.resolver = resolver;
        state.count_query(at_ms, qtype != 0, unusual, self.bucket_ms, self.window_ms);

        let hash = name_hash(name);
        if !state.knows(hash) && state.names() >= max_names && state.evict_oldest_name() {
            self.counters.names_evicted += 1;
            self.total_names -= 1;
        }
        if !state.see_name(hash, shape, at_ms) {
            return;
        }
        self.total_names += 1;

        // The budget over all keys: the least recently active keys go
        // first; this one (the most recent) only loses names.
        while self.total_names > self.settings.max_total_names.max(1) {
            if self.order.is_oldest(&key) {
                let Some(state) = self.keys.get_mut(&key) else {
                    break;
                };
                if !state.evict_oldest_name() {
                    break;
                }
                self.counters.names_evicted += 1;
                self.total_names -= 1;
            } else if !self.evict_oldest_key() {
                break;
            }
        }
    }

    /// Forgets names, query slices and long-label hosts older than the
    /// window before `now`, and keys left without names.
    fn expire(&mut self, now_ms: u64) {
        let cutoff = now_ms.saturating_sub(self.window_ms);
        let mut gone = Vec::new();
        for (key, state) in &mut self.keys {
            self.total_names -= state.prune(cutoff);
            if state.names() == 0 {
                gone.push((key.clone(), state.stamp));
            }
        }
        for (key, stamp) in gone {
            self.keys.remove(&key);
            self.order.remove(stamp);
        }
        let host_order = &mut self.host_order;
        self.hosts.retain(|_, seen| {
            let keep = seen.at_ms >= cutoff;
            if !keep {
                host_order.remove(seen.stamp);
            }
            keep
        });
    }
}

impl Detect for DnsTunnel {
    fn detector(&self) -> Detector {
        Detector::DnsTunnel
    }

    fn observe(&mut self, observation: &Observation, _site: &Site, _out: &mut Vec<Finding>) {
        let Seen::DnsQuery {
            host,
            resolver,
            name,
            qtype,
            truncated,
        } = &observation.seen
        else {
            return;
        };
        self.counters.queries += 1;
        let at = observation.at;
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        if *truncated {
            let cutoff = millis(at).saturating_sub(self.window_ms);
            let domain = match self.hosts.get(host).filter(|seen| seen.at_ms >= cutoff) {
                Some(LongLabelSeen { domain: None, .. }) => {
                    self.counters.exempt += 1;
                    return;
                }
                Some(LongLabelSeen {
                    domain: Some(domain),
                    ..
                }) => {
                    self.counters.cut_attributed += 1;
                    Some(domain.clone())
                }
                None => {
                    self.counters.cut_unattributed += 1;
                    None
                }
            };
            let shape = name_shape(&name);
            self.count((*host, domain), &name, shape, *qtype, *resolver, at);
            return;
        }
        let Some(domain) = registered_domain(&name) else {
            self.counters.exempt += 1;
            return;
        };
        let below = name
            .get(..name.len().saturating_sub(domain.len()))
            .unwrap_or("")
            .trim_end_matches('.');
        let shape = name_shape(below);
        let long = shape.max_label >= self.long_label_floor();
        if self.is_exempt(&name) {
            self.counters.exempt += 1;
            if long {
                self.note_long_label(*host, None, at);
            }
            return;
        }
        if long {
            self.note_long_label(*host, Some(domain.clone()), at);
        }
        self.count((*host, Some(domain)), &name, shape, *qtype, *resolver, at);
    }

    fn tick(&mut self, now: SystemTime, _site: &Site, out: &mut Vec<Finding>) {
        self.expire(millis(now));
        let window_secs = u32::try_from(self.settings.window.0.as_secs()).unwrap_or(u32::MAX);
        let mut found = Vec::new();
        for ((host, domain), state) in &self.keys {
            let measures = state.measures();
            let evidence = Evidence::of(&measures, &self.settings);
            let score = evidence.score();
            if score < self.settings.report_from {
                continue;
            }
            let mut confidence = evidence.confidence();
            if domain.is_none() {
                confidence /= 2;
            }
            let explanation = Explanation {
                observed: measures.distinct_names as f64,
                threshold: self.settings.distinct_names as f64,
                window_secs,
                confidence,
                facts: Vec::new(),
            }
            .with(Fact::DistinctNames, measures.distinct_names as f64)
            .with(Fact::MaxLabelLen, measures.max_label as f64)
            .with(Fact::MeanNameLen, hundredths(measures.mean_name_len))
            .with(Fact::EntropyBits, hundredths(measures.entropy_bits))
            .with(Fact::UnusualTypes, measures.unusual_queries as f64)
            .with(
                Fact::QueriesPerMinute,
                hundredths(measures.queries_per_minute),
            );
            found.push(Finding {
                at: now,
                detector: Detector::DnsTunnel,
                host: *host,
                peer: Some(state.resolver),
                domain: domain.clone(),
                port: None,
                score,
                explanation,
            });
        }
        found.sort_by(|a, b| {
            b.score
                .cmp(&a.score)
                .then(a.host.cmp(&b.host))
                .then_with(|| a.domain.cmp(&b.domain))
        });
        out.extend(found);
    }

    fn stats(&self) -> DetectorStats {
        let counters = &self.counters;
        DetectorStats {
            tracked: u32::try_from(self.keys.len()).unwrap_or(u32::MAX),
            evicted: counters.keys_evicted + counters.names_evicted + counters.hosts_evicted,
        }
    }
}
