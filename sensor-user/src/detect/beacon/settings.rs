//! `[detect.beacon]`: the beacon detector's settings, their defaults and
//! the reasons for them.

use std::time::Duration;

use crate::config::duration::HumanDuration;

/// `[detect.beacon]`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BeaconSettings {
    /// Sliding window the connections of a key are judged over (default
    /// `24h`, the day RITA analyses; 1h to 7d).
    pub window: HumanDuration,
    /// Connections (after merging repeats, see `dedupe`) a key needs before
    /// it is scored (default 4; 4 to `max_timestamps`). Four starts give
    /// three intervals, the fewest with quartiles; RITA's
    /// `unique_connection_threshold` has the same default and floor.
    pub min_connections: usize,
    /// Connections at which the count no longer limits the score (default
    /// 16; `min_connections` to `max_timestamps`). The score is
    /// `100 * combined * min(1, connections / full_connections)`: with 4
    /// connections even a perfect series scores 25 (below the digest), with
    /// 8 it scores 50, from 16 (15 intervals, 3 or 4 per quartile) the full
    /// combined score. A beacon every 3 s gets there in 45 s, every minute
    /// in 15 minutes, every hour in 15 hours.
    pub full_connections: usize,
    /// Connection starts kept per key, newest first (default 256; 16 to
    /// 4,096). Beyond it the oldest start is dropped even inside the window:
    /// the statistics use the newest `max_timestamps` connections, the
    /// hourly histogram still counts them all. 8 bytes each: with the
    /// hourly counts and the bookkeeping a full key takes about 3 KiB, so
    /// about 24 MiB if all the default 8,192 keys were full at once (a key
    /// with a few connections takes under 1 KiB). 255 intervals are ample
    /// for quartiles, and even a beacon every second (the fastest `dedupe`
    /// lets through) keeps over 4 minutes, more than `full_span`. (RITA
    /// keeps every timestamp of the day; 512 would double the memory for
    /// no better statistics.)
    pub max_timestamps: usize,
    /// The first and last connection of a key must be this far apart before
    /// it is scored (default `30s`; 1s to 1h). Page loads, application
    /// start-up and CDN fetches come in bursts of seconds to a few tens of
    /// seconds; a beacon every few seconds spans 30 s long before the minute
    /// in which it must be reported.
    pub min_span: HumanDuration,
    /// The span at which the duration score reaches 1 (default `90s`;
    /// `min_span` to 1d). A beacon every 2 to 3 s reaches a score of 70 in
    /// about 48 s; a regular-looking burst of 30 s keeps at most 69 % of its
    /// score.
    pub full_span: HumanDuration,
    /// Attempts of one key closer than this to the previous one (counted or
    /// not) are one connection (default `1s`, the initial TCP
    /// retransmission timeout of RFC 6298: retransmitted SYNs, and the
    /// parallel connections a client opens at once; 1s to 1m). Beacons
    /// faster than this are not seen.
    pub dedupe: HumanDuration,
    /// Findings below this score are not reported (default 30, the digest
    /// threshold of the shared response defaults; 1 to 100).
    pub min_score: u8,
    /// Destination ports never counted (default `[123]`: NTP clients poll
    /// their servers on a regular schedule by design, RFC 5905).
    pub ignore_ports: Vec<u16>,
    /// Registered domains (and their subdomains) never counted, by either
    /// key (default `["windowsupdate.com", "msftconnecttest.com"]`): every
    /// Windows host checks them on a schedule (update scans and delivery,
    /// the network connectivity probe), only Microsoft serves content under
    /// them, and no tenant or customer content lives there. Broad cloud
    /// domains (`microsoft.com`, `amazonaws.com`, `googleapis.com`) are
    /// deliberately absent: command and control over cloud APIs (Graph,
    /// storage buckets) is common.
    pub ignore_domains: Vec<String>,
    /// Keys, (host, peer) and (host, domain) together, tracked at most
    /// (default 8,192; 1 to 1,048,576); beyond it the least recently active
    /// key is forgotten and counted as evicted.
    pub max_tracked: usize,
    /// Weight of the timing score (default 0.4; 0 excluded to 1). RITA v5
    /// weighs its four scores 0.25 each; timing is what makes a beacon,
    /// and the only measure a minute of data supports, so it weighs more.
    pub timing_weight: f64,
    /// Weight of the duration score (default 0.2; 0 to 1).
    pub duration_weight: f64,
    /// Weight of the hourly histogram score (default 0.2; 0 to 1).
    pub histogram_weight: f64,
    /// Weight of the data size score (default 0.2; 0 to 1). The datapath
    /// reports no sizes yet, so this weight is left out and the others
    /// renormalised. The four weights must add up to 1.
    pub size_weight: f64,
    /// Complete hours a key must have been tracked before its hourly
    /// histogram counts (default 6, RITA v5's `duration_min_hours_seen`;
    /// 2 to 167). Until then the histogram weight is left out.
    pub histogram_min_hours: usize,
}

impl Default for BeaconSettings {
    fn default() -> BeaconSettings {
        BeaconSettings {
            window: HumanDuration(Duration::from_secs(86_400)),
            min_connections: 4,
            full_connections: 16,
            max_timestamps: 256,
            min_span: HumanDuration(Duration::from_secs(30)),
            full_span: HumanDuration(Duration::from_secs(90)),
            dedupe: HumanDuration(Duration::from_secs(1)),
            min_score: 30,
            ignore_ports: vec![123],
            ignore_domains: vec![
                "windowsupdate.com".to_owned(),
                "msftconnecttest.com".to_owned(),
            ],
            max_tracked: 8192,
            timing_weight: 0.4,
            duration_weight: 0.2,
            histogram_weight: 0.2,
            size_weight: 0.2,
            histogram_min_hours: 6,
        }
    }
}

/// Longest window: 7 days (168 hourly bins per key at most).
pub const MAX_WINDOW_SECS: u64 = 7 * 86_400;

/// Most connection starts kept per key.
pub const MAX_TIMESTAMPS: usize = 4096;

impl BeaconSettings {
    /// (key, problem) for each value out of range.
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let secs = |d: &HumanDuration| d.0.as_secs();
        if !(3600..=MAX_WINDOW_SECS).contains(&secs(&self.window)) {
            out.push(("window", "must be between 1h and 7d".to_owned()));
        }
        count(
            &mut out,
            "max_timestamps",
            self.max_timestamps,
            16,
            MAX_TIMESTAMPS,
        );
        count(
            &mut out,
            "min_connections",
            self.min_connections,
            4,
            self.max_timestamps,
        );
        count(
            &mut out,
            "full_connections",
            self.full_connections,
            self.min_connections,
            self.max_timestamps,
        );
        if !(1..=3600).contains(&secs(&self.min_span)) {
            out.push(("min_span", "must be between 1s and 1h".to_owned()));
        }
        if !(secs(&self.min_span)..=86_400).contains(&secs(&self.full_span)) {
            out.push(("full_span", "must be between min_span and 1d".to_owned()));
        }
        if !(1..=60).contains(&secs(&self.dedupe)) {
            out.push(("dedupe", "must be between 1s and 1m".to_owned()));
        }
        if !(1..=100).contains(&self.min_score) {
            out.push((
                "min_score",
                format!("{} is out of range (1 to 100)", self.min_score),
            ));
        }
        for domain in &self.ignore_domains {
            let name = domain.trim().trim_end_matches('.');
            if name.is_empty() || name.contains(char::is_whitespace) || name.starts_with('.') {
                out.push(("ignore_domains", format!("{domain:?} is not a domain name")));
            }
        }
        count(&mut out, "max_tracked", self.max_tracked, 1, 1 << 20);
        let weights = [
            ("timing_weight", self.timing_weight),
            ("duration_weight", self.duration_weight),
            ("histogram_weight", self.histogram_weight),
            ("size_weight", self.size_weight),
        ];
        for (key, weight) in weights {
            if !(0.0..=1.0).contains(&weight) {
                out.push((key, format!("{weight} is out of range (0 to 1)")));
            }
        }
        if self.timing_weight <= 0.0 {
            out.push(("timing_weight", "must be above 0".to_owned()));
        }
        let total: f64 = weights.iter().map(|(_, w)| w).sum();
        if (total - 1.0).abs() > 1e-6 {
            out.push((
                "timing_weight",
                format!("the four weights add up to {total}, not 1"),
            ));
        }
        count(
            &mut out,
            "histogram_min_hours",
            self.histogram_min_hours,
            2,
            167,
        );
        out
    }
}

fn count(
    out: &mut Vec<(&'static str, String)>,
    key: &'static str,
    value: usize,
    low: usize,
    high: usize,
) {
    if !(low..=high).contains(&value) {
        out.push((key, format!("{value} is out of range ({low} to {high})")));
    }
}
