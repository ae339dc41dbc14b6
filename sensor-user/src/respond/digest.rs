//! The daily digest: every decision counted (by detector, by action, by
//! host), and once a day at `response.digest_at_time` on the local wall
//! clock a [`DigestReport`] of the day that ended, even a quiet one.
//!
//! Days are local days (`jiff` with the zone's rules), so across a DST
//! change the digest still comes at 07:00 local and its day lasts 23 or 25
//! hours. A digest time that does not exist that day (02:30 when the clocks
//! jump from 02:00 to 03:00) is taken as the same time after the jump
//! (03:30); one that happens twice (clocks set back) is its first.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    time::{Duration, SystemTime},
};

use jiff::{civil::Date, tz::TimeZone, Timestamp};
use serde::{Deserialize, Serialize};

use super::{schedule::timestamp, ActionKind, Decision, DecisionInput};
use crate::{
    config::response::{ClockTime, ResponseConfig, TimeZoneError},
    detect::Detector,
};

/// Hosts counted one by one each day at most; alerts about further hosts
/// are counted in the totals and in `hosts_unranked`.
pub const DIGEST_HOSTS_MAX: usize = 8192;

/// Hosts in a report's top list.
pub const TOP_HOSTS: usize = 5;

/// A host's alerts in a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCount {
    pub host: IpAddr,
    pub alerts: u64,
    /// Its highest score that day, 0 to 100.
    pub max_score: u8,
}

/// One day's decisions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigestReport {
    /// The day began (the previous digest time, or when the book was made).
    pub from: SystemTime,
    /// The day ended: the digest time that passed.
    pub to: SystemTime,
    /// Decisions recorded.
    pub total: u64,
    /// Decisions by detector, detectors with none left out, in wire order.
    pub by_detector: Vec<(Detector, u64)>,
    /// Decisions by action, actions with none left out.
    pub by_action: Vec<(ActionKind, u64)>,
    /// The five hosts with the most decisions (then the highest score,
    /// then the lowest address).
    pub top_hosts: Vec<HostCount>,
    /// Decisions about hosts beyond the [`DIGEST_HOSTS_MAX`] counted one by
    /// one (in the totals, not ranked).
    pub hosts_unranked: u64,
}

/// The day's counts, and when the next digest is due.
#[derive(Clone, Debug)]
pub struct DigestBook {
    tz: TimeZone,
    at: ClockTime,
    from: Timestamp,
    next_due: Timestamp,
    total: u64,
    by_detector: BTreeMap<Detector, u64>,
    by_action: BTreeMap<ActionKind, u64>,
    hosts: HashMap<IpAddr, (u64, u8)>,
    hosts_unranked: u64,
}

impl DigestBook {
    /// A book for `config.digest_at_time` in `config.time_zone()` (reads
    /// the time zone database), whose first day begins at `start`.
    pub fn new(config: &ResponseConfig, start: SystemTime) -> Result<DigestBook, TimeZoneError> {
        Ok(DigestBook::with_time_zone(
            config.digest_at_time,
            config.time_zone()?,
            start,
        ))
    }

    /// A book making its digest at `at` local time in `tz`.
    pub fn with_time_zone(at: ClockTime, tz: TimeZone, start: SystemTime) -> DigestBook {
        // 24:00 is no digest time; the config refuses it.
        let at = ClockTime(at.0.min(1439));
        let from = timestamp(start);
        let next_due = next_after(from, at, &tz);
        DigestBook {
            tz,
            at,
            from,
            next_due,
            total: 0,
            by_detector: BTreeMap::new(),
            by_action: BTreeMap::new(),
            hosts: HashMap::new(),
            hosts_unranked: 0,
        }
    }

    /// Counts one decision.
    pub fn record(&mut self, detector: Detector, host: IpAddr, score: u8, action: ActionKind) {
        self.total += 1;
        *self.by_detector.entry(detector).or_default() += 1;
        *self.by_action.entry(action).or_default() += 1;
        let room = self.hosts.len() < DIGEST_HOSTS_MAX;
        match self.hosts.get_mut(&host) {
            Some((alerts, max_score)) => {
                *alerts += 1;
                *max_score = (*max_score).max(score);
            }
            None if room => {
                self.hosts.insert(host, (1, score));
            }
            None => self.hosts_unranked += 1,
        }
    }

    /// Counts one decision of the policy.
    pub fn record_decision(&mut self, input: &DecisionInput, decision: &Decision) {
        self.record(
            input.detector,
            input.host,
            input.score,
            decision.action.kind(),
        );
    }

    /// When the next digest is due.
    pub fn next_due(&self) -> SystemTime {
        SystemTime::from(self.next_due)
    }

    /// The report of the day that ended, once the digest time has passed
    /// (call it on every tick; decisions recorded between the digest time
    /// and the call are in this report), then a new day begins. If several
    /// digest times passed (the agent was stopped), one report covers them
    /// all, up to the last.
    pub fn due(&mut self, now: SystemTime) -> Option<DigestReport> {
        let now = timestamp(now);
        if now < self.next_due {
            return None;
        }
        let to = last_at_or_before(now, self.at, &self.tz).max(self.next_due);
        let mut top: Vec<HostCount> = self
            .hosts
            .iter()
            .map(|(host, (alerts, max_score))| HostCount {
                host: *host,
                alerts: *alerts,
                max_score: *max_score,
            })
            .collect();
        top.sort_by(|a, b| (b.alerts, b.max_score, a.host).cmp(&(a.alerts, a.max_score, b.host)));
        top.truncate(TOP_HOSTS);
        let report = DigestReport {
            from: SystemTime::from(self.from),
            to: SystemTime::from(to),
            total: self.total,
            by_detector: std::mem::take(&mut self.by_detector).into_iter().collect(),
            by_action: std::mem::take(&mut self.by_action).into_iter().collect(),
            top_hosts: top,
            hosts_unranked: self.hosts_unranked,
        };
        self.from = to;
        self.next_due = next_after(now, self.at, &self.tz);
        self.total = 0;
        self.hosts.clear();
        self.hosts_unranked = 0;
        Some(report)
    }
}

/// `at` on `date` in `tz` (a time in a DST gap moves forward by the gap).
fn on(date: Date, at: ClockTime, tz: &TimeZone) -> Option<Timestamp> {
    tz.to_timestamp(date.at(at.hour(), at.minute(), 0, 0)).ok()
}

/// The first `at` local time strictly after `t`.
fn next_after(t: Timestamp, at: ClockTime, tz: &TimeZone) -> Timestamp {
    let mut date = tz.to_datetime(t).date();
    for _ in 0..3 {
        if let Some(due) = on(date, at, tz).filter(|due| *due > t) {
            return due;
        }
        match date.tomorrow() {
            Ok(next) => date = next,
            Err(_) => break,
        }
    }
    // The end of jiff's calendar: a day later will do.
    t.checked_add(Duration::from_secs(86_400)).unwrap_or(t)
}

/// The last `at` local time at or before `t`.
fn last_at_or_before(t: Timestamp, at: ClockTime, tz: &TimeZone) -> Timestamp {
    let mut date = tz.to_datetime(t).date();
    for _ in 0..3 {
        if let Some(due) = on(date, at, tz).filter(|due| *due <= t) {
            return due;
        }
        match date.yesterday() {
            Ok(previous) => date = previous,
            Err(_) => break,
        }
    }
    t
}
