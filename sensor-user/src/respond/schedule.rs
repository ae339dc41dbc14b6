//! Which thresholds apply at a moment: the local weekday and time of day
//! (in `response.timezone`, through `jiff` and the time zone database, so
//! DST is the zone's), matched against `[[response.schedule]]` in order,
//! first match wins, else the section's own thresholds (`default`).

use std::time::SystemTime;

use jiff::{tz::TimeZone, Timestamp};

use crate::config::response::{ResponseConfig, ScheduleEntry};

/// The three thresholds, scores 1 to 101 (101: never).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    pub block_at: u8,
    pub notify_at: u8,
    pub digest_at: u8,
}

/// A local weekday and time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalMoment {
    /// 0 Monday to 6 Sunday.
    pub weekday: u8,
    /// Minutes since local midnight, 0 to 1439.
    pub minute: u16,
}

/// `now` as a jiff timestamp; times outside jiff's range (years beyond
/// -9999..=9999) read as the Unix epoch.
pub(crate) fn timestamp(now: SystemTime) -> Timestamp {
    Timestamp::try_from(now).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl LocalMoment {
    /// `now` on the wall clock of `tz`.
    pub fn at(now: SystemTime, tz: &TimeZone) -> LocalMoment {
        let local = tz.to_datetime(timestamp(now));
        LocalMoment {
            weekday: local.weekday().to_monday_zero_offset().clamp(0, 6) as u8,
            minute: (local.hour().clamp(0, 23) as u16) * 60 + local.minute().clamp(0, 59) as u16,
        }
    }
}

/// True when `entry` covers `at`. A range wrapping midnight belongs to the
/// day it starts on: its hours after midnight match on the next day.
pub fn entry_matches(entry: &ScheduleEntry, at: LocalMoment) -> bool {
    let (start, end) = (entry.hours.start.0, entry.hours.end.0);
    let today = entry.days.contains(at.weekday);
    if start < end {
        return today && start <= at.minute && at.minute < end;
    }
    let yesterday = entry.days.contains((at.weekday + 6) % 7);
    (today && at.minute >= start) || (yesterday && at.minute < end)
}

/// The thresholds in force and where they come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveRule {
    /// The schedule entry's name, or `no schedule` when no entry matched.
    pub name: String,
    pub thresholds: Thresholds,
}

/// The rule in force at `at`: the first matching schedule entry (its
/// thresholds left out are the section's), else the section's.
pub fn rule_at(config: &ResponseConfig, at: LocalMoment) -> ActiveRule {
    let section = Thresholds {
        block_at: config.block_at,
        notify_at: config.notify_at,
        digest_at: config.digest_at,
    };
    for (index, entry) in config.schedule.iter().enumerate() {
        if entry_matches(entry, at) {
            return ActiveRule {
                name: config.schedule_name(index),
                thresholds: Thresholds {
                    block_at: entry.block_at.unwrap_or(section.block_at),
                    notify_at: entry.notify_at.unwrap_or(section.notify_at),
                    digest_at: entry.digest_at.unwrap_or(section.digest_at),
                },
            };
        }
    }
    ActiveRule {
        name: "no schedule".to_owned(),
        thresholds: section,
    }
}
