//! What `vantage replay` prints: with `--json`, one object per line
//! (`alert`, `decision`, then one `summary`); otherwise one readable line
//! per alert and decision, and a summary paragraph.
//!
//! - `{"type":"alert","at":<unix s>,"id":<n>,"revision":<n>,"detector":"port_scan",
//!   "host":"<ip>","peer":"<ip>"|null,"domain":"<name>"|null,"port":<n>|null,
//!   "score":<0-100>,"severity":"medium","explanation":{"observed":..,"threshold":..,
//!   "window_secs":..,"confidence":..,"facts":{"<fact>":<number>,..}}}`
//! - `{"type":"decision","at":..,"alert_id":<n>,"action":"block|notify|digest|shadow_block|refused",
//!   "host":"<ip>","peer":"<ip>"|null,"target":"<ip>"|null,"ttl_secs":<n>|null,
//!   "blast_radius":<n>,"reason":"<code>"}`
//! - `{"type":"summary","frames":..,"bytes":..,"span_secs":..,"skipped_frames":..,
//!   "snapped_frames":..,"clock_steps_back":..,"intervals":..,"alerts":{"<detector>":<n>},
//!   "decisions":{"<action>":<n>},"suppressed":<n>,"dns_answers":{..},"stopped_by":null}`

use std::{collections::BTreeMap, net::IpAddr};

use serde::Serialize;

use crate::{
    detect::{alerts::Raised, Explanation},
    pipeline::{detection::DetectionOutput, observe::AnswerCounts},
    respond::{Action, ActionKind},
};

use super::ReplayStats;

/// The explanation with its facts by name.
#[derive(Serialize)]
struct ExplanationLine {
    observed: f64,
    threshold: f64,
    window_secs: u32,
    confidence: u8,
    facts: BTreeMap<&'static str, f64>,
}

impl ExplanationLine {
    fn of(explanation: &Explanation) -> ExplanationLine {
        ExplanationLine {
            observed: explanation.observed,
            threshold: explanation.threshold,
            window_secs: explanation.window_secs,
            confidence: explanation.confidence,
            facts: explanation
                .facts
                .iter()
                .map(|(fact, value)| (fact.name(), *value))
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct AlertLine<'a> {
    r#type: &'static str,
    at: f64,
    id: u32,
    revision: u16,
    detector: &'static str,
    host: IpAddr,
    peer: Option<IpAddr>,
    domain: Option<&'a str>,
    port: Option<u16>,
    score: u8,
    severity: &'static str,
    explanation: ExplanationLine,
}

#[derive(Serialize)]
struct DecisionLine<'a> {
    r#type: &'static str,
    at: f64,
    alert_id: u32,
    action: &'static str,
    host: IpAddr,
    peer: Option<IpAddr>,
    target: Option<IpAddr>,
    ttl_secs: Option<u64>,
    blast_radius: u32,
    reason: &'a str,
}

/// The alert line of a raised alert.
pub fn alert_json(raised: &Raised) -> String {
    let finding = &raised.finding;
    let line = AlertLine {
        r#type: "alert",
        at: crate::time::unix_seconds(finding.at),
        id: raised.id,
        revision: raised.revision,
        detector: finding.detector.name(),
        host: finding.host,
        peer: finding.peer,
        domain: finding.domain.as_deref(),
        port: finding.port,
        score: finding.score,
        severity: raised.severity.name(),
        explanation: ExplanationLine::of(&finding.explanation),
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// The decision line, or `None` when the policy did nothing.
pub fn decision_json(output: &DetectionOutput) -> Option<String> {
    let action = &output.decision.action;
    if action.kind() == ActionKind::None {
        return None;
    }
    let (target, ttl) = match action {
        Action::Block { target, ttl } | Action::ShadowBlock { target, ttl, .. } => {
            (Some(*target), Some(ttl.as_secs()))
        }
        Action::Refused { target, .. } => (Some(*target), None),
        Action::Notify | Action::Digest | Action::None => (None, None),
    };
    let finding = &output.raised.finding;
    let line = DecisionLine {
        r#type: "decision",
        at: crate::time::unix_seconds(finding.at),
        alert_id: output.raised.id,
        action: action.kind().name(),
        host: finding.host,
        peer: finding.peer,
        target,
        ttl_secs: ttl,
        blast_radius: output.blast_radius,
        reason: &output.decision.reason,
    };
    serde_json::to_string(&line).ok()
}

/// One readable line for an alert and its decision, in the words the
/// collector uses (`vantage_protocol::render`).
pub fn text_line(output: &DetectionOutput) -> String {
    let raised = &output.raised;
    let finding = &raised.finding;
    let at = humantime::format_rfc3339_seconds(finding.at);
    let update = if raised.revision > 0 {
        format!(" (update {})", raised.revision)
    } else {
        String::new()
    };
    let explained = match crate::report::detection::detection_message(output) {
        vantage_protocol::Message::Detection(detection) => format!(
            "{}; {}",
            vantage_protocol::render::explain(&detection),
            vantage_protocol::render::response(&detection.response)
        ),
        _ => String::new(),
    };
    format!(
        "{at} {severity:<8} {detector} score {score}{update}: {explained} [{reason}]",
        severity = raised.severity.name(),
        detector = finding.detector.name(),
        score = finding.score,
        reason = output.decision.reason,
    )
}

/// The summary: what was replayed and what came of it.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub r#type: &'static str,
    #[serde(flatten)]
    pub stats: ReplayStats,
    pub span_secs: f64,
    /// New alerts (revision 0) per detector.
    pub alerts: BTreeMap<&'static str, u64>,
    /// Decisions per action (updates included).
    pub decisions: BTreeMap<&'static str, u64>,
    /// New alerts the rate caps suppressed.
    pub suppressed: u64,
    pub dns_answers: AnswerCounts,
    /// Frames the program counted as malformed (and passed).
    pub malformed_frames: u64,
    /// Protected hosts in the host table at the end (0: the declared
    /// networks are not the capture's).
    pub hosts_seen: usize,
}

impl Summary {
    /// Counts one output.
    pub fn count(&mut self, output: &DetectionOutput) {
        if output.raised.revision == 0 {
            *self
                .alerts
                .entry(output.raised.finding.detector.name())
                .or_default() += 1;
        }
        *self
            .decisions
            .entry(output.decision.action.kind().name())
            .or_default() += 1;
    }

    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
