//! How a sensor's detection stage is doing, carried in every heartbeat of a
//! sensor whose detection is on ([`crate::DetectionHeartbeat`]): the new
//! alerts the per-host and per-site rate caps held back since the agent
//! started, the alerts raised beside them, the alerts open and blocks in
//! force now, and whether a cap on blocks switched the rules of engagement
//! to alert-only. Fixed-width figures that saturate, so the heartbeat stays
//! within its size budget: at most [`DETECTION_HEALTH_MAX_LEN`] bytes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The largest postcard encoding of a [`DetectionHealth`], bytes: two u32
/// varints (5 each), two u16 varints (3 each) and a bool.
pub const DETECTION_HEALTH_MAX_LEN: usize = 5 + 5 + 3 + 3 + 1;

/// The detection stage's figures in a heartbeat. Counts "since the agent
/// started" start again from zero when the agent restarts (the heartbeat's
/// `uptime_secs` says when).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DetectionHealth {
    /// New alerts the rate caps (per protected host and per site, over a
    /// sliding hour) held back since the agent started: neither notified
    /// nor sent. Saturates at `u32::MAX`.
    pub suppressed: u32,
    /// New alerts raised (opened, whether notified or kept for the daily
    /// digest) since the agent started; updates of an open alert are not
    /// counted. Saturates at `u32::MAX`.
    pub raised: u32,
    /// Alerts open now. Saturates at `u16::MAX`.
    pub open_alerts: u16,
    /// Blocks (or shadow blocks) the rules of engagement hold now.
    /// Saturates at `u16::MAX`.
    pub active_blocks: u16,
    /// A cap on blocks was reached: the policy notifies instead of blocking
    /// until it is below both caps again.
    pub alert_only: bool,
}

impl fmt::Display for DetectionHealth {
    /// One line for people: `suppressed 4, raised 130, open 3, blocks 1`,
    /// followed by `, alert-only` while a block cap holds the policy.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "suppressed {}, raised {}, open {}, blocks {}",
            self.suppressed, self.raised, self.open_alerts, self.active_blocks
        )?;
        if self.alert_only {
            f.write_str(", alert-only")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_every_figure_and_alert_only_only_when_set() {
        let health = DetectionHealth {
            suppressed: 4,
            raised: 130,
            open_alerts: 3,
            active_blocks: 1,
            alert_only: true,
        };
        assert_eq!(
            health.to_string(),
            "suppressed 4, raised 130, open 3, blocks 1, alert-only"
        );
        let calm = DetectionHealth {
            alert_only: false,
            ..health
        };
        assert_eq!(
            calm.to_string(),
            "suppressed 4, raised 130, open 3, blocks 1"
        );
    }

    #[test]
    fn the_largest_encoding_is_the_bound() {
        let largest = DetectionHealth {
            suppressed: u32::MAX,
            raised: u32::MAX,
            open_alerts: u16::MAX,
            active_blocks: u16::MAX,
            alert_only: true,
        };
        let bytes = postcard::to_allocvec(&largest).unwrap_or_default();
        assert_eq!(bytes.len(), DETECTION_HEALTH_MAX_LEN);
        let smallest = postcard::to_allocvec(&DetectionHealth::default()).unwrap_or_default();
        assert_eq!(smallest, [0, 0, 0, 0, 0]);
    }
}
