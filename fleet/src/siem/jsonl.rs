//! JSON lines: the stored alert as one flat object, schema
//! `vantage.alert/1`; a detection as schema `vantage.detection/1`, flat but
//! for its `explanation` (the sentence, the figures and the facts by name)
//! and `response` (what the sensor did) objects.

use serde_json::json;

use super::rfc3339;
use crate::record::{AlertRecord, DetectionRecord};

pub const ALERT_SCHEMA: &str = "vantage.alert/1";
pub const DETECTION_SCHEMA: &str = "vantage.detection/1";

pub fn render(record: &AlertRecord) -> String {
    json!({
        "schema": ALERT_SCHEMA,
        "id": record.id,
        "sensor": record.sensor,
        "sensor_name": record.sensor_name,
        "site": record.site,
        "epoch": record.epoch,
        "seq": record.seq,
        "raised_at": record.raised_at,
        "raised_time": rfc3339(record.raised_at as f64),
        "received_at": record.received_at,
        "received_time": rfc3339(record.received_at),
        "severity": record.severity.name(),
        "kind": record.kind.name(),
        "host": record.host.to_string(),
        "peer": record.peer.map(|p| p.to_string()),
        "port": record.port,
        "count": record.count,
        "detail": record.detail,
        "chain": record.chain.name(),
        "envelope_hash": record.envelope_hash,
    })
    .to_string()
}

pub fn render_detection(record: &DetectionRecord) -> String {
    let e = &record.explanation;
    let r = &record.response;
    json!({
        "schema": DETECTION_SCHEMA,
        "id": record.id,
        "first_id": record.first_id,
        "sensor": record.sensor,
        "sensor_name": record.sensor_name,
        "site": record.site,
        "epoch": record.epoch,
        "seq": record.seq,
        "alert_id": record.alert_id,
        "revision": record.revision,
        "updates": record.updates,
        "raised_at": record.raised_at,
        "raised_time": rfc3339(record.raised_at as f64),
        "updated_at": record.updated_at,
        "updated_time": rfc3339(record.updated_at as f64),
        "received_at": record.received_at,
        "received_time": rfc3339(record.received_at),
        "severity": record.severity.name(),
        "detector": record.detector.name(),
        "score": record.score,
        "host": record.host.to_string(),
        "peer": record.peer.map(|p| p.to_string()),
        "port": record.port,
        "domain": record.domain,
        "explanation": {
            "text": record.text(),
            "observed": super::figure(e.observed),
            "threshold": super::figure(e.threshold),
            "window_secs": e.window_secs,
            "confidence": e.confidence,
            "facts": super::facts(e),
        },
        "response": {
            "action": r.action.name(),
            "ttl_secs": r.ttl_secs,
            "reason": r.reason.name(),
            "blast_radius": r.blast_radius,
            "text": record.response_text(),
        },
        "chain": record.chain.name(),
        "envelope_hash": record.envelope_hash,
    })
    .to_string()
}
