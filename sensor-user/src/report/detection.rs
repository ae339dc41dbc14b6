//! Detections and digests as the wire carries them: codes and numbers
//! (`vantage_protocol::Detection`, `Digest`); the collector and `vantage`
//! render the text from them (`vantage_protocol::render`).

use std::time::SystemTime;

use vantage_protocol::{
    message::bounded, Action as WireAction, ActionReason, Day, Detection, Digest,
    Explanation as WireExplanation, Message, Response, DOMAIN_MAX,
};

use crate::{
    pipeline::detection::DetectionOutput,
    respond::{Action, DigestReport, Refusal},
    time::unix_secs,
};

/// Whether an output goes to the collector now: everything a person is
/// told about; digest-level alerts only reach it in the daily digest.
pub fn is_sent(output: &DetectionOutput) -> bool {
    output.decision.action.notifies()
}

/// The wire's response for a decision.
pub fn response_of(output: &DetectionOutput) -> Response {
    let decision = &output.decision;
    let blast_radius = u16::try_from(output.blast_radius).unwrap_or(u16::MAX);
    let (action, ttl, reason) = match &decision.action {
        Action::Block { ttl, .. } => (
            WireAction::Block,
            ttl.as_secs(),
            ActionReason::ScoreThreshold,
        ),
        Action::ShadowBlock { ttl, .. } => (
            WireAction::ShadowBlock,
            ttl.as_secs(),
            ActionReason::ShadowMode,
        ),
        Action::Refused { reason, .. } => (
            WireAction::Refused,
            0,
            match reason {
                Refusal::NeverBlock => ActionReason::NeverBlock,
                Refusal::MirrorMode => ActionReason::MirrorMode,
                Refusal::BlockCap => ActionReason::BlockCap,
            },
        ),
        Action::Notify if decision.reason.ends_with("already_blocked") => {
            (WireAction::Notify, 0, ActionReason::AlreadyBlocked)
        }
        Action::Notify => (WireAction::Notify, 0, ActionReason::ScoreThreshold),
        Action::Digest => (WireAction::Digest, 0, ActionReason::ScoreThreshold),
        Action::None => (WireAction::None, 0, ActionReason::ScoreThreshold),
    };
    Response {
        action,
        ttl_secs: u32::try_from(ttl).unwrap_or(u32::MAX),
        reason,
        blast_radius,
    }
}

/// The signed message for one alert (revisions count from 1 on the wire).
pub fn detection_message(output: &DetectionOutput) -> Message {
    let raised = &output.raised;
    let finding = &raised.finding;
    let e = &finding.explanation;
    let explanation = e.facts.iter().fold(
        WireExplanation::new(e.observed, e.threshold, e.window_secs, e.confidence),
        |wire, (fact, value)| wire.with(*fact, *value),
    );
    // A name longer than the wire takes is left out rather than cut.
    let domain = finding
        .domain
        .as_deref()
        .filter(|d| d.len() <= DOMAIN_MAX)
        .unwrap_or("");
    Message::Detection(Detection {
        at: unix_secs(finding.at),
        alert_id: raised.id,
        revision: raised.revision.saturating_add(1),
        detector: finding.detector,
        severity: raised.severity,
        score: finding.score,
        host: finding.host.into(),
        peer: finding.peer.map(Into::into),
        port: finding.port.unwrap_or(0),
        domain: bounded(domain),
        explanation,
        response: response_of(output),
    })
}

/// The daily digest message; `day` is the local date it covers.
pub fn digest_message(
    report: &DigestReport,
    day: Day,
    suppressed: u64,
    now: SystemTime,
) -> Message {
    let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    let mut digest = Digest {
        at: unix_secs(now),
        day,
        detections: Default::default(),
        actions: Default::default(),
        top_hosts: Default::default(),
        suppressed: count(suppressed),
    };
    for (detector, n) in &report.by_detector {
        let _full = digest.detections.push((*detector, count(*n)));
    }
    for (kind, n) in &report.by_action {
        let action = match kind {
            crate::respond::ActionKind::Block => WireAction::Block,
            crate::respond::ActionKind::ShadowBlock => WireAction::ShadowBlock,
            crate::respond::ActionKind::Notify => WireAction::Notify,
            crate::respond::ActionKind::Digest => WireAction::Digest,
            crate::respond::ActionKind::Refused => WireAction::Refused,
            crate::respond::ActionKind::None => WireAction::None,
        };
        let _full = digest.actions.push((action, count(*n)));
    }
    for host in &report.top_hosts {
        let _full = digest
            .top_hosts
            .push((host.host.into(), count(host.alerts)));
    }
    Message::Digest(digest)
}

/// The local date of `at` in `tz`.
pub fn local_day(at: SystemTime, tz: &jiff::tz::TimeZone) -> Day {
    let date = jiff::Timestamp::try_from(at)
        .map(|t| t.to_zoned(tz.clone()).date())
        .unwrap_or_default();
    Day {
        year: u16::try_from(date.year()).unwrap_or(0),
        month: u8::try_from(date.month()).unwrap_or(0),
        day: u8::try_from(date.day()).unwrap_or(0),
    }
}
