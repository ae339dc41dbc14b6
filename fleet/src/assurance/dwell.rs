//! Time in state: how long each sensor has spent in each verdict, added up
//! between consecutive heartbeats on the sensor's own clock (each
//! heartbeat's `at`), so that a backlog delivered at once after an outage
//! counts the time it covers, not the moment it arrived.
//!
//! The stretch between two heartbeats goes to the earlier one's verdict,
//! except that a current heartbeat whose verdict changed says since when
//! (`since`): when that falls within the stretch (at the earlier heartbeat
//! or after it, before this one), the part from then on goes to the new
//! verdict. A stretch
//! longer than [`SILENT_AFTER_MISSED`] of the earlier heartbeat's
//! intervals goes to `silent`: nobody knows what the sensor saw then. A
//! heartbeat older than the last one counted (it arrived late) moves
//! nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vantage_protocol::Verdict;

pub use crate::view::SILENT_AFTER_MISSED;

/// Where a stretch of time is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The sensor reported this verdict.
    Verdict(Verdict),
    /// Heartbeats stopped for longer than [`SILENT_AFTER_MISSED`] intervals.
    Silent,
}

impl State {
    /// The stored and shown name: a verdict's name, or `silent`.
    pub fn name(self) -> &'static str {
        match self {
            State::Verdict(verdict) => verdict.name(),
            State::Silent => "silent",
        }
    }
}

/// The last heartbeat counted for a sensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// Its `at`, unix seconds on the sensor's clock.
    pub at: u64,
    /// Its verdict.
    pub verdict: Verdict,
    /// The interval it promised the next heartbeat within, seconds.
    pub interval_secs: u32,
}

/// A heartbeat as time in state sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Beat {
    /// Its `at`, unix seconds on the sensor's clock.
    pub at: u64,
    /// Its verdict.
    pub verdict: Verdict,
    /// Since when the verdict has held (current heartbeats only).
    pub since: Option<u64>,
    /// The interval it promises the next heartbeat within, seconds.
    pub interval_secs: u32,
}

/// What one heartbeat adds, and the mark it leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advance {
    /// The mark to keep for the next heartbeat.
    pub mark: Mark,
    /// Seconds to add, per state (no zero entries).
    pub spent: Vec<(State, u64)>,
}

/// Counts `beat` after `previous` (`None`: the sensor's first heartbeat).
/// `None` when the heartbeat is older than the last one counted.
pub fn advance(previous: Option<Mark>, beat: Beat) -> Option<Advance> {
    let mark = Mark {
        at: beat.at,
        verdict: beat.verdict,
        interval_secs: beat.interval_secs,
    };
    let Some(before) = previous else {
        return Some(Advance {
            mark,
            spent: Vec::new(),
        });
    };
    if beat.at < before.at {
        return None;
    }
    let gap = beat.at - before.at;
    let limit = SILENT_AFTER_MISSED * f64::from(before.interval_secs.max(1));
    let spent = if gap == 0 {
        Vec::new()
    } else if gap as f64 > limit {
        vec![(State::Silent, gap)]
    } else {
        match beat.since {
            Some(since)
                if beat.verdict != before.verdict && since >= before.at && since < beat.at =>
            {
                [
                    (State::Verdict(before.verdict), since - before.at),
                    (State::Verdict(beat.verdict), beat.at - since),
                ]
                .into_iter()
                .filter(|(_, secs)| *secs > 0)
                .collect()
            }
            _ => vec![(State::Verdict(before.verdict), gap)],
        }
    };
    Some(Advance { mark, spent })
}

/// `2d3h`, `3h2m`, `12m`, `1m30s`, `45s`: the two largest units, the
/// second left out when zero.
pub fn human(secs: u64) -> String {
    let units = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let Some(first) = units.iter().position(|&(size, _)| secs >= size) else {
        return "0s".to_owned();
    };
    let (size, name) = units[first];
    let mut text = format!("{}{name}", secs / size);
    if let Some(&(next, next_name)) = units.get(first + 1) {
        let rest = secs % size / next;
        if rest > 0 {
            text.push_str(&format!("{rest}{next_name}"));
        }
    }
    text
}

/// `ok 3h2m, blind 12m`: longest first, states with no time left out.
pub fn summary(times: &BTreeMap<String, u64>) -> String {
    let mut entries: Vec<(&String, u64)> = times
        .iter()
        .filter(|(_, secs)| **secs > 0)
        .map(|(name, secs)| (name, *secs))
        .collect();
    entries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    entries
        .iter()
        .map(|(name, secs)| format!("{name} {}", human(*secs)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_795_000_000;

    fn beat(at: u64, verdict: Verdict, since: Option<u64>) -> Beat {
        Beat {
            at,
            verdict,
            since,
            interval_secs: 60,
        }
    }

    fn spent(previous: Option<Mark>, next: Beat) -> Vec<(&'static str, u64)> {
        advance(previous, next)
            .map(|a| a.spent.iter().map(|(s, n)| (s.name(), *n)).collect())
            .unwrap_or_default()
    }

    fn mark(at: u64, verdict: Verdict) -> Option<Mark> {
        Some(Mark {
            at,
            verdict,
            interval_secs: 60,
        })
    }

    #[test]
    fn time_between_heartbeats_goes_to_the_earlier_verdict_or_splits_at_since() {
        let first = advance(None, beat(T, Verdict::Unknown, Some(T - 30)));
        assert_eq!(
            first,
            Some(Advance {
                mark: Mark {
                    at: T,
                    verdict: Verdict::Unknown,
                    interval_secs: 60
                },
                spent: vec![]
            })
        );
        let ok = Verdict::Ok;
        assert_eq!(
            spent(mark(T, ok), beat(T + 60, ok, Some(T - 500))),
            [("ok", 60)]
        );
        // Changed 17 s after the last heartbeat.
        assert_eq!(
            spent(mark(T, ok), beat(T + 60, Verdict::Blind, Some(T + 17))),
            [("ok", 17), ("blind", 43)]
        );
        // Changed right at the last heartbeat: all to the new verdict; right
        // at this one: all to the earlier.
        assert_eq!(
            spent(mark(T, ok), beat(T + 60, Verdict::Blind, Some(T))),
            [("blind", 60)]
        );
        assert_eq!(
            spent(mark(T, ok), beat(T + 60, Verdict::Blind, Some(T + 60))),
            [("ok", 60)]
        );
        // A since outside the stretch, or none (first revision): all to the earlier.
        assert_eq!(
            spent(mark(T, ok), beat(T + 60, Verdict::Blind, Some(T - 5))),
            [("ok", 60)]
        );
        assert_eq!(
            spent(mark(T, ok), beat(T + 60, Verdict::Blind, None)),
            [("ok", 60)]
        );
        // Exactly three intervals is still reporting; one second more is silent.
        assert_eq!(spent(mark(T, ok), beat(T + 180, ok, None)), [("ok", 180)]);
        assert_eq!(
            spent(mark(T, ok), beat(T + 181, Verdict::Blind, Some(T + 100))),
            [("silent", 181)]
        );
        // Same second: no time, but the newer verdict is kept.
        let same = advance(mark(T, ok), beat(T, Verdict::Blind, Some(T)));
        assert_eq!(
            same.map(|a| (a.mark.verdict, a.spent.len())),
            Some((Verdict::Blind, 0))
        );
        // Late: nothing moves.
        assert_eq!(
            advance(mark(T, ok), beat(T - 1, Verdict::Blind, None)),
            None
        );
    }

    #[test]
    fn durations_read_as_two_units() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (60, "1m"),
            (90, "1m30s"),
            (720, "12m"),
            (10_920, "3h2m"),
            (10_959, "3h2m"),
            (7200, "2h"),
            (183_600, "2d3h"),
        ];
        for (secs, text) in cases {
            assert_eq!(human(secs), text, "{secs}");
        }
        let times: BTreeMap<String, u64> = [("blind", 720), ("ok", 10_920), ("degraded", 0)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(summary(&times), "ok 3h2m, blind 12m");
        assert_eq!(summary(&BTreeMap::new()), "");
    }
}
