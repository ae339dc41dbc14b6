//! `[events]`: what the XDP program tells the agent through its ring
//! buffer, and the per-CPU rate limit on it.

use serde::{Deserialize, Serialize};

use super::Violations;

/// `[events]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    pub enabled: bool,
    /// Events each CPU may send per second once its burst is spent (1 to 1000000).
    pub rate_per_cpu: u32,
    /// Events each CPU may send back to back (1 to 1000000).
    pub burst: u32,
}

impl Default for EventsConfig {
    fn default() -> EventsConfig {
        EventsConfig {
            enabled: true,
            rate_per_cpu: 2000,
            burst: 4000,
        }
    }
}

impl EventsConfig {
    pub(super) fn check(&self, out: &mut Violations) {
        for (key, value) in [("rate_per_cpu", self.rate_per_cpu), ("burst", self.burst)] {
            if !(1..=1_000_000).contains(&value) {
                out.fail("events", key, format!("{value} is outside 1..=1000000"));
            }
        }
    }
}
