//! `[status]`: how often the agent samples the kernel maps and refreshes its
//! state file.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{duration::HumanDuration, Violations};

/// `[status]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusConfig {
    /// At most 60 s.
    pub interval: HumanDuration,
}

impl Default for StatusConfig {
    fn default() -> StatusConfig {
        StatusConfig {
            interval: HumanDuration(Duration::from_secs(1)),
        }
    }
}

impl StatusConfig {
    pub(super) fn check(&self, out: &mut Violations) {
        if self.interval.0 > Duration::from_secs(60) {
            out.fail("status", "interval", "must be 60s or less".to_owned());
        }
    }
}
