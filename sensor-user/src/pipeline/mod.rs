//! The pure core shared by `vantage run` and, later, replays of captures and
//! traces: each [`Interval`] goes in with the time it ends, and what the
//! agent must do comes out ([`Outputs`]). No I/O, no clock of its own: the
//! caller passes `now`, so the same steps run live or in accelerated time.
//!
//! Today a step tallies the kernel's events, judges what the sensor can see
//! (`visibility::Judge`), raises an alert when that verdict changes and one
//! for each canary, and says when a heartbeat is due. Learning, detection and
//! the response policy slot in here as further stages of [`Pipeline::step`].

use std::{
    collections::{HashSet, VecDeque},
    net::IpAddr,
    time::{Duration, SystemTime},
};

use sensor_common::EventKind;
use vantage_protocol::{canary, message::bounded, Alert, AlertKind, Severity, Sight, Verdict};

use self::{
    detection::{DetectionStage, StageOutputs},
    observe::AnswerCounts,
};
use crate::{
    detect::Observation,
    report::agent_state::{EventTotals, RecentEvent},
    sample::{Event, Interval},
    visibility::{self, Declaration, Judge, SelfTestResult, Surroundings},
};

/// The alert for a verdict that changed: how bad it is now, and the codes
/// of the problems behind it.
fn verdict_alert(change: &visibility::Change, now: SystemTime) -> Alert {
    let codes: Vec<&str> = visibility::problems(&change.sight)
        .map(|f| f.code.name())
        .collect();
    let detail = if codes.is_empty() {
        format!("{} -> {}", change.from.name(), change.to.name())
    } else {
        format!(
            "{} -> {}: {}",
            change.from.name(),
            change.to.name(),
            codes.join(",")
        )
    };
    Alert {
        at: crate::time::unix_seconds(now) as u64,
        severity: match change.to {
            Verdict::Blind => Severity::High,
            Verdict::Degraded => Severity::Medium,
            Verdict::Ok | Verdict::Unknown => Severity::Info,
        },
        kind: AlertKind::Visibility,
        host: IpAddr::from([0, 0, 0, 0]).into(),
        peer: None,
        port: 0,
        count: u32::try_from(codes.len()).unwrap_or(u32::MAX),
        detail: bounded(&detail),
    }
}

/// The canary alert for a DNS query event that carries one.
fn canary_alert(event: &Event, now: SystemTime) -> Option<Alert> {
    if event.kind != EventKind::DnsQuery {
        return None;
    }
    let qname = event.qname.as_deref()?;
    canary::parse(qname)?;
    Some(Alert {
        at: crate::time::unix_seconds(now) as u64,
        severity: Severity::Info,
        kind: AlertKind::Canary,
        host: event.src.into(),
        peer: Some(event.dst.into()),
        port: event.dst_port,
        count: 1,
        detail: bounded(qname),
    })
}

/// Recent events kept for `vantage status`.
pub const RECENT_EVENTS: usize = 32;

/// Settings of the pipeline.
pub struct PipelineOptions {
    /// How often a heartbeat is due; `None` when nothing is sent upstream.
    pub heartbeat_interval: Option<Duration>,
    /// What the site is declared to be.
    pub declaration: Declaration,
    /// The detectors, alerts and rules of engagement; `None` when
    /// `detect.enabled` is off.
    pub detection: Option<DetectionStage>,
}

/// What one step asks of the agent.
#[derive(Clone, Debug, PartialEq)]
pub struct Outputs {
    /// What the sensor can see, judged at the end of the interval.
    pub sight: Sight,
    /// A heartbeat carrying `sight` is due now.
    pub heartbeat_due: bool,
    /// Alerts to sign and send: a change of verdict, canaries.
    pub alerts: Vec<Alert>,
    /// What the detectors raised and the policy decided.
    pub detection: StageOutputs,
}

/// The pipeline's state across steps.
pub struct Pipeline {
    heartbeat_interval: Option<Duration>,
    judge: Judge,
    started_at: SystemTime,
    next_heartbeat: Option<SystemTime>,
    events: EventTotals,
    recent: VecDeque<RecentEvent>,
    detection: Option<DetectionStage>,
    observations: Vec<Observation>,
    answers: AnswerCounts,
    blocked: HashSet<IpAddr>,
}

impl Pipeline {
    /// A pipeline starting at `started_at`; the first step owes a heartbeat.
    pub fn new(options: PipelineOptions, started_at: SystemTime) -> Pipeline {
        Pipeline {
            heartbeat_interval: options.heartbeat_interval,
            next_heartbeat: options.heartbeat_interval.map(|_| started_at),
            judge: Judge::new(options.declaration, started_at),
            started_at,
            events: EventTotals::default(),
            recent: VecDeque::with_capacity(RECENT_EVENTS),
            detection: options.detection,
            observations: Vec::new(),
            answers: AnswerCounts::default(),
            blocked: HashSet::new(),
        }
    }

    /// Seconds since the pipeline started, at `now`.
    pub fn uptime_secs(&self, now: SystemTime) -> u32 {
        let elapsed = now.duration_since(self.started_at).unwrap_or_default();
        u32::try_from(elapsed.as_secs()).unwrap_or(u32::MAX)
    }

    /// Takes one interval, ending at `now`, with the interfaces as the
    /// agent found them and the latest self-test.
    pub fn step(
        &mut self,
        interval: &Interval,
        surroundings: &Surroundings,
        self_test: Option<SelfTestResult>,
        now: SystemTime,
    ) -> Outputs {
        let mut alerts = Vec::new();
        for event in &interval.events {
            self.tally(event, interval);
            if let Some(alert) = canary_alert(event, now) {
                alerts.push(alert);
            }
        }
        let heartbeat_due = match (self.next_heartbeat, self.heartbeat_interval) {
            (Some(due), Some(every)) if now >= due => {
                // Keep to the schedule; after a stall, restart it from now.
                let next = due + every;
                self.next_heartbeat = Some(if next <= now { now + every } else { next });
                true
            }
            _ => false,
        };
        let (sight, change) = self.judge.step(interval, surroundings, self_test, now);
        if let Some(change) = change {
            alerts.insert(0, verdict_alert(&change, now));
        }
        let detection = match &mut self.detection {
            Some(stage) => {
                self.observations.clear();
                observe::observe(
                    interval,
                    stage.passive_dns(),
                    &mut self.answers,
                    &mut self.observations,
                );
                let blocked = &self.blocked;
                stage.step(&self.observations, now, &|addr| blocked.contains(&addr))
            }
            None => StageOutputs::default(),
        };
        Outputs {
            sight,
            heartbeat_due,
            alerts,
            detection,
        }
    }

    /// The addresses blocked in the kernel now (host blocks), so that the
    /// policy does not block them again.
    pub fn note_blocked(&mut self, blocked: impl IntoIterator<Item = IpAddr>) {
        self.blocked.clear();
        self.blocked.extend(blocked);
    }

    /// The detection stage, when detection is on.
    pub fn detection(&self) -> Option<&DetectionStage> {
        self.detection.as_ref()
    }

    /// The detection stage, mutable (list reloads).
    pub fn detection_mut(&mut self) -> Option<&mut DetectionStage> {
        self.detection.as_mut()
    }

    /// DNS answers parsed, cut and malformed so far.
    pub fn answer_counts(&self) -> AnswerCounts {
        self.answers
    }

    /// Events drained so far, by kind.
    pub fn event_totals(&self) -> EventTotals {
        self.events
    }

    /// Counts a record the datapath could not decode.
    pub fn count_undecodable(&mut self, records: u64) {
        self.events.undecodable += records;
    }

    /// The latest events, newest last.
    pub fn recent_events(&self) -> impl Iterator<Item = &RecentEvent> {
        self.recent.iter()
    }

    fn tally(&mut self, event: &Event, interval: &Interval) {
        match event.kind {
            EventKind::TcpSyn => self.events.tcp_syn += 1,
            EventKind::UdpNewPeer => self.events.udp_new_peer += 1,
            EventKind::DnsQuery => self.events.dns_query += 1,
            EventKind::TcpAnswered => self.events.tcp_answered += 1,
            EventKind::TcpRefused => self.events.tcp_refused += 1,
            EventKind::IcmpEcho => self.events.icmp_echo += 1,
            EventKind::IcmpUnreachable => self.events.icmp_unreachable += 1,
            EventKind::DnsAnswer => self.events.dns_answer += 1,
        }
        if self.recent.len() == RECENT_EVENTS {
            self.recent.pop_front();
        }
        self.recent.push_back(RecentEvent {
            at: interval.unix_of(event.timestamp_ns),
            kind: <&str>::from(event.kind).to_owned(),
            src: event.src.to_string(),
            dst: event.dst.to_string(),
            protocol: event.protocol,
            src_port: event.src_port,
            dst_port: event.dst_port,
            qname: event.qname.clone(),
            qtype: (event.qtype != 0).then_some(event.qtype),
            dropped: event.dropped,
        });
    }
}

pub mod detection;
pub mod observe;
pub mod talkers;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_detection;
