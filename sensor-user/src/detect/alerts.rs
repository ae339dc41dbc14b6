//! Alerts, not floods: the detectors report a finding on every tick while
//! something stays above their threshold; this book turns those findings
//! into few alerts. One open alert per (host, detector, subject), where the
//! subject is the peer, the domain or the port; further evidence raises its
//! score and sends an update of the same alert (same id, next revision)
//! instead of a new one. New alerts are capped per host and per site over a
//! sliding hour; what the caps suppress is counted by detector for the
//! heartbeat and the digest. An alert with no fresh finding for
//! `close_after` is closed, so a later one is new.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};
use vantage_protocol::Severity;

use super::{Detector, Finding};
use crate::config::duration::HumanDuration;

/// `[detect.alerts]`: how findings become alerts.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// Findings below this score are not alerts at all (0 to 100).
    pub min_score: u8,
    /// An open alert is updated when its score rises by at least this much
    /// (or crosses a severity band, or reaches 100).
    pub update_step: u8,
    /// An open alert with no new finding for this long is closed.
    pub close_after: HumanDuration,
    /// New alerts per protected host per sliding hour; beyond, suppressed and counted.
    pub per_host_per_hour: u32,
    /// New alerts for the whole site per sliding hour.
    pub per_site_per_hour: u32,
    /// Open alerts remembered at most; the least recently updated is closed first.
    pub max_open: u32,
}

impl Default for AlertSettings {
    fn default() -> AlertSettings {
        AlertSettings {
            min_score: 30,
            update_step: 10,
            close_after: HumanDuration(Duration::from_secs(3600)),
            per_host_per_hour: 10,
            per_site_per_hour: 100,
            max_open: 4096,
        }
    }
}

impl AlertSettings {
    /// Out-of-range values as (key, problem).
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.min_score > 100 {
            out.push(("min_score", format!("{} is above 100", self.min_score)));
        }
        if !(1..=100).contains(&self.update_step) {
            out.push((
                "update_step",
                format!("{} is outside 1..=100", self.update_step),
            ));
        }
        for (key, value) in [
            ("per_host_per_hour", self.per_host_per_hour),
            ("per_site_per_hour", self.per_site_per_hour),
            ("max_open", self.max_open),
        ] {
            if value == 0 {
                out.push((key, "must be at least 1".to_owned()));
            }
        }
        out
    }
}

/// What one alert is about: the detector, the host, and the peer, domain or port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AlertKey {
    pub host: IpAddr,
    pub detector: Detector,
    pub subject: Subject,
}

/// The second half of an [`AlertKey`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    Peer(IpAddr),
    Domain(String),
    Port(u16),
    None,
}

impl AlertKey {
    /// The key of `finding`: a domain wins over a peer (a beacon by name
    /// spans the domain's addresses), a peer over a port.
    pub fn of(finding: &Finding) -> AlertKey {
        let subject = match (&finding.domain, finding.peer, finding.port) {
            (Some(domain), _, _) => Subject::Domain(domain.clone()),
            (None, Some(peer), _) => Subject::Peer(peer),
            (None, None, Some(port)) => Subject::Port(port),
            (None, None, None) => Subject::None,
        };
        AlertKey {
            host: finding.host,
            detector: finding.detector,
            subject,
        }
    }
}

/// An alert to send: a new one (revision 0) or an update of an open one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Raised {
    /// The sensor's id for this alert, the same in every update.
    pub id: u32,
    /// 0 for a new alert, then 1, 2, ... for each update.
    pub revision: u16,
    pub severity: Severity,
    /// The finding behind this revision (its score is the alert's score).
    pub finding: Finding,
}

/// Severity of a score: 90+ critical, 75+ high, 60+ medium, 30+ low, below info.
pub fn severity_of(score: u8) -> Severity {
    match score {
        90.. => Severity::Critical,
        75..=89 => Severity::High,
        60..=74 => Severity::Medium,
        30..=59 => Severity::Low,
        _ => Severity::Info,
    }
}

#[derive(Clone, Debug)]
struct Open {
    id: u32,
    revision: u16,
    /// Score last sent.
    sent_score: u8,
    updated_at: SystemTime,
}

/// Counts of what the book held back, since the start.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCounts {
    /// New alerts sent.
    pub raised: u64,
    /// Updates of open alerts sent.
    pub updated: u64,
    /// Findings that only confirmed an open alert (no update sent).
    pub merged: u64,
    /// New alerts suppressed by the per-host or per-site caps, by detector.
    pub suppressed: Vec<(Detector, u64)>,
    /// Open alerts closed early to stay within `max_open`.
    pub evicted: u64,
}

impl AlertCounts {
    /// Alerts suppressed by the rate caps, all detectors.
    pub fn suppressed_total(&self) -> u64 {
        self.suppressed.iter().map(|(_, n)| n).sum()
    }

    fn suppress(&mut self, detector: Detector) {
        match self.suppressed.iter_mut().find(|(d, _)| *d == detector) {
            Some((_, n)) => *n += 1,
            None => self.suppressed.push((detector, 1)),
        }
    }
}

/// The open alerts and the rate caps; see the module documentation.
#[derive(Clone, Debug)]
pub struct AlertBook {
    settings: AlertSettings,
    open: HashMap<AlertKey, Open>,
    next_id: u32,
    /// Times of new alerts in the last hour, site-wide and per host.
    site_recent: VecDeque<SystemTime>,
    host_recent: HashMap<IpAddr, VecDeque<SystemTime>>,
    counts: AlertCounts,
}

const HOUR: Duration = Duration::from_secs(3600);

impl AlertBook {
    /// An empty book; ids start at `first_id` (the agent passes a value that
    /// differs across restarts, so the collector never merges two alerts).
    pub fn new(settings: AlertSettings, first_id: u32) -> AlertBook {
        AlertBook {
            settings,
            open: HashMap::new(),
            next_id: first_id,
            site_recent: VecDeque::new(),
            host_recent: HashMap::new(),
            counts: AlertCounts::default(),
        }
    }

    /// Takes one finding at `now`: a new alert, an update, or nothing.
    pub fn offer(&mut self, finding: Finding, now: SystemTime) -> Option<Raised> {
        if finding.score < self.settings.min_score {
            return None;
        }
        let key = AlertKey::of(&finding);
        if let Some(open) = self.open.get_mut(&key) {
            open.updated_at = now;
            let step = self.settings.update_step;
            let saturated = finding.score == 100 && open.sent_score < 100;
            if finding.score >= open.sent_score.saturating_add(step)
                || saturated
                || (finding.score > open.sent_score
                    && severity_of(finding.score) > severity_of(open.sent_score))
            {
                open.revision = open.revision.saturating_add(1);
                open.sent_score = finding.score;
                self.counts.updated += 1;
                return Some(Raised {
                    id: open.id,
                    revision: open.revision,
                    severity: severity_of(finding.score),
                    finding,
                });
            }
            self.counts.merged += 1;
            return None;
        }
        self.forget_old(now);
        let host_recent = self.host_recent.entry(finding.host).or_default();
        if host_recent.len() >= self.settings.per_host_per_hour as usize
            || self.site_recent.len() >= self.settings.per_site_per_hour as usize
        {
            self.counts.suppress(finding.detector);
            return None;
        }
        host_recent.push_back(now);
        self.site_recent.push_back(now);
        if self.open.len() >= self.settings.max_open as usize {
            self.evict_least_recent();
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.open.insert(
            key,
            Open {
                id,
                revision: 0,
                sent_score: finding.score,
                updated_at: now,
            },
        );
        self.counts.raised += 1;
        Some(Raised {
            id,
            revision: 0,
            severity: severity_of(finding.score),
            finding,
        })
    }

    /// Closes alerts without a finding for `close_after`; call once a tick.
    pub fn close_quiet(&mut self, now: SystemTime) {
        let quiet = self.settings.close_after.0;
        self.open.retain(|_, open| {
            now.duration_since(open.updated_at)
                .map_or(true, |idle| idle < quiet)
        });
        self.forget_old(now);
    }

    /// The id the next new alert gets (saved by the agent, so that ids
    /// stay unique across restarts).
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// Alerts open now.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// What the book raised, merged and suppressed so far.
    pub fn counts(&self) -> &AlertCounts {
        &self.counts
    }

    fn forget_old(&mut self, now: SystemTime) {
        let recent = |at: &SystemTime| now.duration_since(*at).map_or(true, |age| age < HOUR);
        while self.site_recent.front().is_some_and(|at| !recent(at)) {
            self.site_recent.pop_front();
        }
        self.host_recent.retain(|_, times| {
            while times.front().is_some_and(|at| !recent(at)) {
                times.pop_front();
            }
            !times.is_empty()
        });
    }

    fn evict_least_recent(&mut self) {
        let oldest = self
            .open
            .iter()
            .min_by_key(|(_, open)| open.updated_at)
            .map(|(key, _)| key.clone());
        if let Some(key) = oldest {
            self.open.remove(&key);
            self.counts.evicted += 1;
        }
    }
}

#[cfg(test)]
mod tests;
