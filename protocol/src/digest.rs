//! The daily digest a sensor sends: how many detections each detector
//! raised on one local day, what the rules of engagement did with them, the
//! hosts most often concerned, and how many alerts the rate caps held back.
//! The detections kept for the digest were sent as [`crate::Detection`]s
//! already; this is the day's summary for the people who read it at nine.

use std::fmt;

use heapless::Vec as BoundedVec;
use serde::{Deserialize, Serialize};

use crate::{detection::Detector, message::Addr, response::Action};

/// Detectors a digest counts at most (room beyond today's seven).
pub const DIGEST_DETECTORS_MAX: usize = 16;
/// Actions a digest counts at most (one of each fits).
pub const DIGEST_ACTIONS_MAX: usize = 8;
/// Hosts a digest names at most.
pub const TOP_HOSTS_MAX: usize = 5;

/// A calendar date on the sensor's local clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Day {
    pub year: u16,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
}

impl fmt::Display for Day {
    /// ISO 8601: `2026-11-18`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// One local day of detections, in counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// Unix seconds when the sensor sent it.
    pub at: u64,
    /// The local day it covers.
    pub day: Day,
    /// Detections raised (alerts opened) per detector; detectors without
    /// any are left out.
    pub detections: BoundedVec<(Detector, u32), DIGEST_DETECTORS_MAX>,
    /// Detections per action taken; actions never taken are left out.
    pub actions: BoundedVec<(Action, u32), DIGEST_ACTIONS_MAX>,
    /// The hosts with the most detections, most first, with their count.
    pub top_hosts: BoundedVec<(Addr, u32), TOP_HOSTS_MAX>,
    /// Alerts the rate caps held back (neither notified nor sent).
    pub suppressed: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_print_as_iso_dates() {
        let day = Day {
            year: 2026,
            month: 1,
            day: 9,
        };
        assert_eq!(day.to_string(), "2026-01-09");
    }
}
