//! Beacons ([`Detector::Beacon`]): a protected host connecting to one peer,
//! or to the addresses of one registered domain, at machine-like regular
//! intervals, the way implants call home to their command and control.
//!
//! The method is Active Countermeasures' RITA beacon analysis
//! (`activecm/rita-legacy` `pkg/beacon/analyzer.go`, v3 and v4;
//! `activecm/rita` `analysis/beacons.go`, v5), applied to a sliding window
//! of connection start times per (host, peer) and per (host, registered
//! domain), and scored as the connections arrive rather than once a day.
//! Formulas, with their sources and our departures (see [`score`]):
//!
//! - intervals `d_i` between successive connection starts, sorted;
//!   quantiles by nearest rank, `d[round(p (k - 1))]` (RITA v3/v4);
//! - symmetry `1 - |B|`, `B = (Q1 + Q3 - 2 Q2) / (Q3 - Q1)` the Bowley
//!   skewness, taken as 0 when `Q2` equals `Q1` or `Q3` or the spread
//!   `Q3 - Q1` is under 1 s or a quarter of the median (RITA: 0 under 10 s);
//! - dispersion `max(0, 1 - 2 MAD / median)` (RITA v4/v5: `1 - MAD / median`;
//!   RITA v3: `1 - MAD / 30 s`);
//! - rate `min(median / mean', mean' / median)`, `mean'` the mean interval
//!   without the longest 5 %: the connections counted against those of a
//!   strict beacon at the median interval (our form of RITA v3's connection
//!   count score, `count / (data set span / 10 s)`); it sees bursts then
//!   silence, whose quartiles all fall inside the bursts;
//! - timing score `sqrt(symmetry * dispersion) * rate` (RITA v4/v5: the
//!   arithmetic mean of symmetry and dispersion; v3 also the count);
//! - duration score `min(1, span / full_span)`, with `full_span` 90 s (RITA
//!   v5: the larger of the data set coverage and the longest run of hours
//!   over 12, judged over a day);
//! - histogram score over the hourly counts of the window's complete hours,
//!   once there are `histogram_min_hours` (6) of them: the larger of
//!   `1 - cv` and the bimodal fit (RITA v4/v5, same defaults);
//! - size score: RITA's data size score; the datapath reports connection
//!   starts only, so it is absent (`None`) and its weight is left out;
//! - combined: the weighted geometric mean of the components present, the
//!   weights of absent ones left out and the rest renormalised (RITA: the
//!   weighted arithmetic mean of all four, 0.25 each; ours 0.4 timing, 0.2
//!   each other);
//! - score `round(100 * combined * min(1, connections / full_connections))`.
//!
//! Before scoring: attempts of a key within `dedupe` (1 s) of its previous
//! attempt are one connection (retransmitted SYNs, parallel connections);
//! a key needs `min_connections` (4) connections spanning `min_span` (30 s).
//! Never counted: ports in `ignore_ports` (NTP), the site's resolvers,
//! collector and gateway, multicast and broadcast peers (including the
//! broadcast address of a protected prefix), loopback and unspecified
//! addresses, and domains in `ignore_domains`.
//!
//! A domain key is reported only once it has seen more than one peer
//! address: with one, the (host, peer) key says the same.
//!
//! Measured (unit tests and the public captures): a strict series scores
//! 100 from 16 connections; the `curl` of `test-cc-capture-2.pcap` (every
//! 2 to 3 s) reaches 70 after 48 s (16 connections) and 79 at 64 s; jittered
//! series every 2 to 3 s score 75 to 79 after 22 connections, every 60 s
//! ± 10 % 94 to 98 after 20; the person browsing of the unit test (bursts
//! of page loads, then reading) peaks at 16; the Teams session of `teams.pcap` reports nothing (no key
//! spans 30 s; without that gate its keys would score 8 at most).

pub mod score;
mod settings;
mod track;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_score;

use std::{collections::BTreeMap, net::IpAddr, time::SystemTime};

pub use settings::{BeaconSettings, MAX_TIMESTAMPS, MAX_WINDOW_SECS};
pub use track::Target;

use score::{Components, Weights};
use track::{hour_of, millis, Track, HOUR_MS};

use super::{Detect, Detector, DetectorStats, Explanation, Fact, Finding, Observation, Seen, Site};

/// A key is reported while its last connection is no older than this many
/// median intervals, plus [`STALE_SLACK_MS`] (ticks come every few
/// seconds): a beacon that stopped stops being reported, and its alert
/// closes in due course, although its connections stay in the window.
pub const STALE_INTERVALS: f64 = 4.0;

/// See [`STALE_INTERVALS`].
pub const STALE_SLACK_MS: u64 = 60_000;

/// One key's last verdict, reported on every tick while it stands.
#[derive(Clone, Debug)]
struct Verdict {
    score: u8,
    port: Option<u16>,
    explanation: Explanation,
    /// Reported until then (ms since the epoch).
    live_until_ms: u64,
}

/// The beacon detector ([`Detector::Beacon`]).
///
/// Observes `Seen::Attempt` (TCP SYN, UDP to a new peer, ICMP echo); on
/// each tick scores the keys whose connections changed (or whose hour
/// turned) and reports every key whose score is at least `min_score` and
/// whose last connection is recent ([`STALE_INTERVALS`]):
///
/// - `peer` for a (host, peer) key, `domain` for a (host, domain) key;
/// - `port` when all the connections analysed went to one port (never for
///   ICMP);
/// - `score` 0 to 100 (see the module documentation);
/// - explanation: `observed` the combined score times 100, `threshold` the
///   combined score (times 100) needed to reach `min_score` at this
///   connection count (`min_score / count factor`), `window_secs` the
///   window, `confidence` 100 times the count factor times the share of the
///   component weights that could be measured (60 % with timing and
///   duration only, 80 % once the histogram counts). Facts, in this order
///   and at most [`Explanation::FACTS_MAX`]: `Connections` (analysed),
///   `MeanIntervalSecs`, `TimingScore`, `DurationScore` (left out when the
///   histogram counts and the duration is 1), `SizeScore` (when sizes are
///   known), `HoursSeen` (when the histogram counts), `TimingSkew` (absolute
///   Bowley skewness), `TimingMadSecs`.
#[derive(Debug)]
pub struct Beacon {
    settings: BeaconSettings,
    /// `ignore_domains`, lower case, no final dot.
    ignore_domains: Vec<String>,
    tracks: BTreeMap<(IpAddr, Target), Track>,
    verdicts: BTreeMap<(IpAddr, Target), Verdict>,
    /// (last activity ms, sequence) -> key: least recently active first.
    recency: BTreeMap<(u64, u64), (IpAddr, Target)>,
    next_sequence: u64,
    evicted: u64,
}

impl Beacon {
    pub fn new(settings: BeaconSettings) -> Beacon {
        let ignore_domains = settings
            .ignore_domains
            .iter()
            .filter_map(|d| normal_domain(d))
            .collect();
        Beacon {
            settings,
            ignore_domains,
            tracks: BTreeMap::new(),
            verdicts: BTreeMap::new(),
            recency: BTreeMap::new(),
            next_sequence: 0,
            evicted: 0,
        }
    }

    pub fn settings(&self) -> &BeaconSettings {
        &self.settings
    }

    fn ignored(&self, peer: IpAddr, port: u16, domain: Option<&str>, site: &Site) -> bool {
        self.settings.ignore_ports.contains(&port)
            || site.is_infrastructure(peer)
            || not_a_host(peer, site)
            || domain.is_some_and(|d| {
                self.ignore_domains.iter().any(|ignored| {
                    d == ignored
                        || d.strip_suffix(ignored.as_str())
                            .is_some_and(|rest| rest.ends_with('.'))
                })
            })
    }

    fn record(&mut self, key: (IpAddr, Target), at_ms: u64, port: u16, peer: IpAddr) {
        let dedupe_ms = millis_of(self.settings.dedupe.0);
        let max_starts = self.settings.max_timestamps;
        if !self.tracks.contains_key(&key) {
            while self.tracks.len() >= self.settings.max_tracked.max(1) {
                let Some((_, oldest)) = self.recency.pop_first() else {
                    break;
                };
                self.tracks.remove(&oldest);
                self.verdicts.remove(&oldest);
                self.evicted += 1;
            }
            let sequence = self.next_sequence;
            self.next_sequence += 1;
            self.recency.insert((at_ms, sequence), key.clone());
            self.tracks
                .insert(key.clone(), Track::new(peer, (at_ms, sequence)));
        }
        let Some(track) = self.tracks.get_mut(&key) else {
            return;
        };
        track.record(at_ms, port, peer, dedupe_ms, max_starts);
        let (last, sequence) = track.recency;
        if at_ms > last {
            track.recency = (at_ms, sequence);
            if let Some(k) = self.recency.remove(&(last, sequence)) {
                self.recency.insert((at_ms, sequence), k);
            }
        }
    }

    /// Scores one key at `now_ms`; `None` below the gates.
    fn judge(&self, track: &Track, now_ms: u64) -> Option<Verdict> {
        let s = &self.settings;
        let connections = track.len();
        if connections < s.min_connections.max(score::MIN_STARTS) {
            return None;
        }
        let starts = track.starts_secs();
        let span = starts.last().copied().unwrap_or(0.0);
        if span < s.min_span.0.as_secs_f64() {
            return None;
        }
        let timing = score::timing(&starts)?;
        let duration = score::duration_score(span, s.full_span.0.as_secs_f64());
        let now_hour = hour_of(now_ms);
        let complete = track.complete_hours(now_hour);
        let histogram =
            (complete.len() >= s.histogram_min_hours).then(|| score::histogram_score(&complete));
        let components = Components {
            timing: timing.score,
            duration,
            histogram,
            size: None,
        };
        let weights = Weights {
            timing: s.timing_weight,
            duration: s.duration_weight,
            histogram: s.histogram_weight,
            size: s.size_weight,
        };
        let (combined, present) = score::combine(&components, &weights);
        let factor = score::count_factor(connections, s.full_connections);
        let value = score::beacon_score(combined, factor);
        let threshold = if factor > 0.0 {
            f64::from(s.min_score) / factor
        } else {
            f64::INFINITY
        };
        let mut facts = vec![
            (Fact::Connections, connections as f64),
            (Fact::MeanIntervalSecs, timing.mean_secs),
            (Fact::TimingScore, timing.score),
        ];
        if histogram.is_none() || duration < 1.0 {
            facts.push((Fact::DurationScore, duration));
        }
        if let Some(size) = components.size {
            facts.push((Fact::SizeScore, size));
        }
        if histogram.is_some() {
            facts.push((Fact::HoursSeen, track.hours_seen() as f64));
        }
        facts.push((Fact::TimingSkew, timing.skew.abs()));
        facts.push((Fact::TimingMadSecs, timing.mad_secs));
        let explanation = facts.into_iter().fold(
            Explanation {
                observed: combined * 100.0,
                threshold,
                window_secs: u32::try_from(s.window.0.as_secs()).unwrap_or(u32::MAX),
                confidence: (100.0 * factor * present).round().clamp(0.0, 100.0) as u8,
                facts: Vec::new(),
            },
            |e, (fact, v)| e.with(fact, v),
        );
        let last_ms = track.last_ms().unwrap_or(now_ms);
        let stale_ms = (STALE_INTERVALS * timing.median_secs * 1000.0).round() as u64;
        Some(Verdict {
            score: value,
            port: track.single_port(),
            explanation,
            live_until_ms: last_ms
                .saturating_add(stale_ms)
                .saturating_add(STALE_SLACK_MS),
        })
    }

    #[cfg(test)]
    fn tracks(&self, host: IpAddr, target: &Target) -> bool {
        self.tracks.contains_key(&(host, target.clone()))
    }
}

impl Detect for Beacon {
    fn detector(&self) -> Detector {
        Detector::Beacon
    }

    fn observe(&mut self, observation: &Observation, site: &Site, _out: &mut Vec<Finding>) {
        let Seen::Attempt {
            host,
            peer,
            port,
            domain,
            ..
        } = &observation.seen
        else {
            return;
        };
        let domain = domain.as_deref().and_then(normal_domain);
        if self.ignored(*peer, *port, domain.as_deref(), site) {
            return;
        }
        let at_ms = millis(observation.at);
        self.record((*host, Target::Peer(*peer)), at_ms, *port, *peer);
        if let Some(domain) = domain {
            self.record((*host, Target::Domain(domain)), at_ms, *port, *peer);
        }
    }

    fn tick(&mut self, now: SystemTime, _site: &Site, out: &mut Vec<Finding>) {
        let now_ms = millis(now);
        let window_ms = millis_of(self.settings.window.0);
        let cutoff_ms = now_ms.saturating_sub(window_ms);
        let window_hours = u32::try_from(window_ms.div_ceil(HOUR_MS).max(1)).unwrap_or(u32::MAX);
        let now_hour = hour_of(now_ms);
        let oldest_hour = now_hour.saturating_add(1).saturating_sub(window_hours);

        let mut emptied = Vec::new();
        for (key, track) in &mut self.tracks {
            if track.expire(cutoff_ms, oldest_hour) {
                emptied.push(key.clone());
            }
        }
        for key in emptied {
            if let Some(track) = self.tracks.remove(&key) {
                self.recency.remove(&track.recency);
            }
            self.verdicts.remove(&key);
        }

        let mut judged = Vec::new();
        for (key, track) in &self.tracks {
            if track.dirty || track.evaluated_hour != Some(now_hour) {
                judged.push((key.clone(), self.judge(track, now_ms)));
            }
        }
        for (key, verdict) in judged {
            if let Some(track) = self.tracks.get_mut(&key) {
                track.dirty = false;
                track.evaluated_hour = Some(now_hour);
            }
            match verdict {
                Some(v) => self.verdicts.insert(key, v),
                None => self.verdicts.remove(&key),
            };
        }

        for ((host, target), verdict) in &self.verdicts {
            if verdict.score < self.settings.min_score || now_ms > verdict.live_until_ms {
                continue;
            }
            let (peer, domain) = match target {
                Target::Peer(peer) => (Some(*peer), None),
                Target::Domain(domain) => {
                    let several = self
                        .tracks
                        .get(&(*host, target.clone()))
                        .is_some_and(Track::several_peers);
                    if !several {
                        continue;
                    }
                    (None, Some(domain.clone()))
                }
            };
            out.push(Finding {
                at: now,
                detector: Detector::Beacon,
                host: *host,
                peer,
                domain,
                port: verdict.port,
                score: verdict.score,
                explanation: verdict.explanation.clone(),
            });
        }
    }

    fn stats(&self) -> DetectorStats {
        DetectorStats {
            tracked: u32::try_from(self.tracks.len()).unwrap_or(u32::MAX),
            evicted: self.evicted,
        }
    }
}

fn millis_of(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Lower case, without a final dot; `None` when empty.
fn normal_domain(domain: &str) -> Option<String> {
    let name = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

/// Multicast, broadcast (limited, or of a protected IPv4 prefix up to /30),
/// loopback and unspecified addresses: not a peer a host beacons to.
fn not_a_host(peer: IpAddr, site: &Site) -> bool {
    if peer.is_multicast() || peer.is_loopback() || peer.is_unspecified() {
        return true;
    }
    let IpAddr::V4(v4) = peer else {
        return false;
    };
    if v4.is_broadcast() {
        return true;
    }
    let bits = u32::from(v4);
    site.protected.iter().any(|net| match net.addr {
        IpAddr::V4(network) if net.prefix_len <= 30 => {
            let host_mask = u32::MAX >> net.prefix_len;
            (u32::from(network) | host_mask) == bits
        }
        _ => false,
    })
}
