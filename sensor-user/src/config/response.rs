//! `[response]`: the rules of engagement. What the agent does with a
//! detector's score: block (drop traffic for a while), notify a person now,
//! put it in the daily digest, or nothing; by time of day and day of the
//! week (`[[response.schedule]]`), with addresses that are never blocked and
//! caps on how much the policy may block. `crate::respond` applies them.
//!
//! Blocking is opt-in: `block_at` defaults to 101, above any score.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::local_time::{ClockTime, DaySet, HourRange, DAY_NAMES};
use super::{
    duration::{format_duration, HumanDuration},
    Violations,
};
use crate::net::Cidr;

/// What the policy may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Blocks what crosses `block_at` (when the sensor can block).
    #[default]
    Enforce,
    /// Takes every decision as `enforce` would, drops nothing, reports
    /// what would have been blocked.
    Shadow,
    /// Never blocks: what crosses `block_at` notifies a person.
    AlertOnly,
}

/// A threshold no score reaches (scores are 0 to 100): "never".
pub const NEVER: u8 = 101;

/// `[[response.schedule]]`: thresholds for some hours of some days. The
/// first entry matching the local time wins; a threshold left out is the
/// section's.
///
/// A range that wraps midnight belongs to the day it starts on:
/// `days = ["mon-fri"]`, `hours = "22:00-06:00"` covers Monday 22:00 to
/// Tuesday 06:00, ..., Friday 22:00 to Saturday 06:00.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntry {
    /// Named in decisions' reasons (default: `schedule1`, `schedule2`, ...
    /// by position). Letters, digits, `-` and `_`, at most 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Days the hours start on (default: every day).
    #[serde(default = "all_days")]
    pub days: DaySet,
    /// Local hours (default: `"00:00-24:00"`).
    #[serde(default = "all_day")]
    pub hours: HourRange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_at: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_at: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_at: Option<u8>,
}

fn all_days() -> DaySet {
    DaySet::ALL
}

fn all_day() -> HourRange {
    HourRange::ALL_DAY
}

/// Schedule entries accepted at most.
pub const SCHEDULE_MAX: usize = 32;

/// `[response]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseConfig {
    /// `enforce` (default), `shadow` or `alert_only`.
    pub mode: ResponseMode,
    /// IANA time zone of the schedule and the digest (`"Europe/Paris"`).
    /// Not set: the system's local zone (UTC if it cannot be told).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Score from which the policy blocks (1 to 101; default 101, never).
    pub block_at: u8,
    /// Score from which a person is notified now (1 to 101; default 60).
    pub notify_at: u8,
    /// Score from which a finding goes into the daily digest (1 to 101;
    /// default 30; not above `notify_at`).
    pub digest_at: u8,
    /// How long a policy block lasts (1m to 7d; default 1h).
    pub block_ttl: HumanDuration,
    /// Addresses or prefixes the policy never blocks (besides the gateway,
    /// resolvers, collector and `blocks.allow`, added by the agent).
    pub never_block: Vec<Cidr>,
    /// Policy blocks active at once (1 to 65536; default 64); reaching it
    /// switches the policy to alert-only until one expires.
    pub max_active_blocks: u32,
    /// New policy blocks in any 60 seconds (1 to 1000; default 10);
    /// reaching it switches the policy to alert-only for the rest of the
    /// minute.
    pub max_new_blocks_per_minute: u32,
    /// Local time the daily digest is made (`"HH:MM"`, default `"07:00"`).
    pub digest_at_time: ClockTime,
    /// Thresholds by time of day; first match wins (at most 32).
    pub schedule: Vec<ScheduleEntry>,
}

impl Default for ResponseConfig {
    fn default() -> ResponseConfig {
        ResponseConfig {
            mode: ResponseMode::Enforce,
            timezone: None,
            block_at: NEVER,
            notify_at: 60,
            digest_at: 30,
            block_ttl: HumanDuration(Duration::from_secs(3600)),
            never_block: Vec::new(),
            max_active_blocks: 64,
            max_new_blocks_per_minute: 10,
            digest_at_time: ClockTime(7 * 60),
            schedule: Vec::new(),
        }
    }
}

/// A time zone name the time zone database does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown time zone {name:?} (an IANA name such as \"Europe/Paris\"): {source}")]
pub struct TimeZoneError {
    pub name: String,
    #[source]
    pub source: jiff::Error,
}

impl ResponseConfig {
    /// The time zone of `timezone`, else the system's (UTC when unknown).
    /// Reads the system's time zone database.
    pub fn time_zone(&self) -> Result<jiff::tz::TimeZone, TimeZoneError> {
        match &self.timezone {
            None => Ok(jiff::tz::TimeZone::system()),
            Some(name) => jiff::tz::TimeZone::get(name).map_err(|source| TimeZoneError {
                name: name.clone(),
                source,
            }),
        }
    }

    /// The name `schedule[index]` is known by in reasons.
    pub fn schedule_name(&self, index: usize) -> String {
        match self.schedule.get(index).and_then(|e| e.name.clone()) {
            Some(name) => name,
            None => format!("schedule{}", index + 1),
        }
    }

    pub(super) fn check(&self, out: &mut Violations) {
        if let Err(error) = self.time_zone() {
            out.fail("response", "timezone", error.to_string());
        }
        for (key, value) in [
            ("block_at", self.block_at),
            ("notify_at", self.notify_at),
            ("digest_at", self.digest_at),
        ] {
            if !(1..=NEVER).contains(&value) {
                out.fail("response", key, format!("{value} is outside 1..=101"));
            }
        }
        if self.digest_at > self.notify_at {
            out.fail(
                "response",
                "digest_at",
                format!(
                    "{} is above notify_at ({}): nothing would go into the digest",
                    self.digest_at, self.notify_at
                ),
            );
        }
        let ttl = self.block_ttl.0;
        if ttl < Duration::from_secs(60) || ttl > Duration::from_secs(7 * 86_400) {
            out.fail(
                "response",
                "block_ttl",
                format!("{} is outside 1m..=7d", format_duration(ttl)),
            );
        }
        if !(1..=65_536).contains(&self.max_active_blocks) {
            out.fail(
                "response",
                "max_active_blocks",
                format!("{} is outside 1..=65536", self.max_active_blocks),
            );
        }
        if !(1..=1000).contains(&self.max_new_blocks_per_minute) {
            out.fail(
                "response",
                "max_new_blocks_per_minute",
                format!("{} is outside 1..=1000", self.max_new_blocks_per_minute),
            );
        }
        if self.schedule.len() > SCHEDULE_MAX {
            out.fail(
                "response",
                "schedule",
                format!("{} entries, {SCHEDULE_MAX} at most", self.schedule.len()),
            );
        }
        for (index, entry) in self.schedule.iter().enumerate() {
            if let Some(problem) = self.entry_problem(index, entry) {
                out.fail(
                    "response",
                    "schedule",
                    format!(
                        "entry {} ({}): {problem}",
                        index + 1,
                        self.schedule_name(index)
                    ),
                );
            }
        }
    }

    /// The first problem with one schedule entry.
    fn entry_problem(&self, index: usize, entry: &ScheduleEntry) -> Option<String> {
        if let Some(name) = &entry.name {
            let fine = !name.is_empty()
                && name.len() <= 32
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !fine {
                return Some(format!(
                    "name {name:?}: letters, digits, '-' and '_', 1 to 32 of them"
                ));
            }
            if name == "default" {
                return Some("name \"default\" is the section's own thresholds".to_owned());
            }
            let earlier = self.schedule[..index]
                .iter()
                .any(|e| e.name.as_deref() == Some(name.as_str()));
            if earlier {
                return Some(format!("name {name:?} is used twice"));
            }
        }
        for (key, value) in [
            ("block_at", entry.block_at),
            ("notify_at", entry.notify_at),
            ("digest_at", entry.digest_at),
        ] {
            if let Some(value) = value.filter(|v| !(1..=NEVER).contains(v)) {
                return Some(format!("{key} {value} is outside 1..=101"));
            }
        }
        let notify_at = entry.notify_at.unwrap_or(self.notify_at);
        let digest_at = entry.digest_at.unwrap_or(self.digest_at);
        if digest_at > notify_at {
            return Some(format!(
                "digest_at {digest_at} is above notify_at {notify_at}: nothing would go into the digest"
            ));
        }
        None
    }
}
