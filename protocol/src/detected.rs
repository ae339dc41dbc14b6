//! Detections on the wire: one open alert of the sensor's detectors (per
//! host, detector and peer or domain) with its score, the numbers that
//! explain it and what the rules of engagement did.
//!
//! A detection is sent again when its alert changes (score raised,
//! evidence added): same `alert_id`, higher `revision`. The collector keeps
//! the highest revision of each (sensor, `alert_id`) and never goes back.
//!
//! Everything is sized for the wire: numbers as `f32`, at most
//! [`FACTS_MAX`] facts, the registered domain in at most [`DOMAIN_MAX`]
//! bytes (empty when none). A typical detection (IPv4 host and peer, four
//! facts, no domain) seals into an envelope of about 160 bytes, signature
//! included; see `tests/detection_wire.rs` for the measured sizes.

use heapless::{String as BoundedString, Vec as BoundedVec};
use serde::{Deserialize, Serialize};

use crate::{
    detection::{Detector, Fact},
    message::{Addr, Severity},
    response::Response,
};

/// Facts an explanation carries at most (as the sensor's `Explanation`).
pub const FACTS_MAX: usize = 6;
/// Longest registered domain, bytes (one DNS label's limit).
pub const DOMAIN_MAX: usize = 63;

/// Why a detector scored what it did, in wire form (the sensor's
/// `detect::Explanation` with `f32` numbers).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The main measure (distinct ports, peers, names, connections, ...).
    pub observed: f32,
    /// The threshold or expectation `observed` was compared with.
    pub threshold: f32,
    /// The sliding window the measure covers, seconds (0: none).
    pub window_secs: u32,
    /// How sure the detector is, 0 to 100.
    pub confidence: u8,
    /// Further named numbers.
    pub facts: BoundedVec<(Fact, f32), FACTS_MAX>,
}

impl Explanation {
    /// An explanation without facts; `f64` figures are narrowed to `f32`.
    pub fn new(observed: f64, threshold: f64, window_secs: u32, confidence: u8) -> Explanation {
        Explanation {
            observed: observed as f32,
            threshold: threshold as f32,
            window_secs,
            confidence,
            facts: BoundedVec::new(),
        }
    }

    /// Adds a fact, ignoring it beyond [`FACTS_MAX`].
    pub fn with(mut self, fact: Fact, value: f64) -> Explanation {
        let _ignored_when_full = self.facts.push((fact, value as f32));
        self
    }

    /// The value of `fact`, if present.
    pub fn fact(&self, fact: Fact) -> Option<f32> {
        self.facts.iter().find(|(f, _)| *f == fact).map(|(_, v)| *v)
    }
}

/// One open alert of a detector, as sent (first and every later revision).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Unix seconds of this revision.
    pub at: u64,
    /// The sensor's id of the open alert: unique per sensor, kept by every
    /// revision of the alert.
    pub alert_id: u32,
    /// Starts at 1; each update of the alert sends the next.
    pub revision: u16,
    pub detector: Detector,
    pub severity: Severity,
    /// 0 (nothing) to 100 (certain and serious).
    pub score: u8,
    /// The protected host concerned (the scanner, the beaconing client, the
    /// new device).
    pub host: Addr,
    pub peer: Option<Addr>,
    /// Destination port, 0 when none applies.
    pub port: u16,
    /// The registered domain concerned, empty when none.
    pub domain: BoundedString<DOMAIN_MAX>,
    pub explanation: Explanation,
    /// What the rules of engagement did.
    pub response: Response,
}

impl Detection {
    /// The registered domain, if any.
    pub fn domain(&self) -> Option<&str> {
        Some(self.domain.as_str()).filter(|domain| !domain.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_beyond_the_cap_are_ignored_and_found_by_code() {
        let mut explanation = Explanation::new(312.0, 15.0, 300, 90);
        for n in 0..8 {
            explanation = explanation.with(Fact::Attempts, f64::from(n));
        }
        assert_eq!(explanation.facts.len(), FACTS_MAX);
        let explanation = Explanation::new(312.0, 15.0, 300, 90)
            .with(Fact::Unanswered, 295.0)
            .with(Fact::TimingScore, 0.25);
        assert_eq!(explanation.fact(Fact::Unanswered), Some(295.0));
        assert_eq!(explanation.fact(Fact::TimingScore), Some(0.25));
        assert_eq!(explanation.fact(Fact::Answered), None);
    }
}
