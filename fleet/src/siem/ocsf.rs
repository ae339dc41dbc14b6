//! OCSF 1.1 Detection Finding (class_uid 2004, category "Findings"): what a
//! SIEM with an OCSF pipeline ingests without a custom parser. Field names
//! follow the schema's v1.1.0 tag; what OCSF has no place for (chain status,
//! envelope hash, epoch, sequence) goes under `unmapped`.
//!
//! A detection is one finding through its revisions: `finding_info.uid` is
//! `SENSOR-alert-ALERT_ID` for all of them, the first stored is activity
//! `Create` and every later one `Update`. Its score is `risk_score`, the
//! detector's confidence `confidence_score`, the explanation the `message`
//! and `finding_info.desc`; the figures behind it and what the sensor did
//! (`response`) go under `unmapped`.

use serde_json::{json, Value};
use vantage_protocol::Severity;

use crate::record::{AlertRecord, DetectionRecord};

const CLASS_UID: u32 = 2004;
const CATEGORY_UID: u32 = 2;
const ACTIVITY_CREATE: u32 = 1;
const ACTIVITY_UPDATE: u32 = 2;
/// OCSF analytic type_id 1: Rule.
const ANALYTIC_RULE: u32 = 1;

/// OCSF severity_id: 1 informational, 2 low, 3 medium, 4 high, 5 critical.
pub fn severity_id(severity: Severity) -> u32 {
    match severity {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

fn severity_caption(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "Informational",
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

pub fn finding(record: &AlertRecord) -> Value {
    let received_ms = (record.received_at * 1000.0).round() as u64;
    let raised_ms = record.raised_at.saturating_mul(1000);
    // OCSF 1.1 Detection Finding has no top-level endpoints: the addresses
    // are evidence of the finding.
    let mut evidence = json!({ "src_endpoint": { "ip": record.host.to_string() } });
    if let Some(peer) = record.peer {
        let mut dst = json!({ "ip": peer.to_string() });
        if record.port != 0 {
            dst["port"] = json!(record.port);
        }
        evidence["dst_endpoint"] = dst;
    }
    json!({
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "time": received_ms,
        "severity_id": severity_id(record.severity),
        "severity": severity_caption(record.severity),
        "status_id": 1,
        "status": "New",
        "message": record.detail,
        "finding_info": {
            "uid": format!("{}-{}-{}", record.sensor, record.epoch, record.seq),
            "title": format!("{} on {}", record.kind.name(), record.host),
            "desc": record.detail,
            "types": [record.kind.name()],
            "created_time": raised_ms,
        },
        "metadata": {
            "version": "1.1.0",
            "product": {
                "name": "Vantage",
                "vendor_name": "Vantage",
                "feature": { "name": "vantage-fleet" },
            },
            "tenant_uid": record.site,
            "original_time": record.raised_at.to_string(),
            "uid": record.id.to_string(),
        },
        "device": {
            "uid": record.sensor,
            "name": record.sensor_name,
            "type_id": 0,
        },
        "evidences": [evidence],
        "count": record.count,
        "unmapped": {
            "chain": record.chain.name(),
            "envelope_hash": record.envelope_hash,
            "epoch": record.epoch,
            "seq": record.seq,
        },
    })
}

pub fn render(record: &AlertRecord) -> String {
    finding(record).to_string()
}

/// The finding of a detection at its kept revision.
pub fn detection_finding(record: &DetectionRecord) -> Value {
    let (activity_id, activity_name) = if record.updates == 0 {
        (ACTIVITY_CREATE, "Create")
    } else {
        (ACTIVITY_UPDATE, "Update")
    };
    let received_ms = (record.received_at * 1000.0).round() as u64;
    let text = record.text();
    let mut evidence = json!({ "src_endpoint": { "ip": record.host.to_string() } });
    let mut dst = serde_json::Map::new();
    if let Some(peer) = record.peer {
        dst.insert("ip".into(), json!(peer.to_string()));
    }
    if record.port != 0 {
        dst.insert("port".into(), json!(record.port));
    }
    if let Some(domain) = &record.domain {
        dst.insert("hostname".into(), json!(domain));
    }
    if !dst.is_empty() {
        evidence["dst_endpoint"] = Value::Object(dst);
    }
    let e = &record.explanation;
    let r = &record.response;
    json!({
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": CLASS_UID * 100 + activity_id,
        "time": received_ms,
        "severity_id": severity_id(record.severity),
        "severity": severity_caption(record.severity),
        "status_id": 1,
        "status": "New",
        "message": text,
        "risk_score": record.score,
        "confidence_score": e.confidence,
        "finding_info": {
            "uid": format!("{}-alert-{}", record.sensor, record.alert_id),
            "title": format!("{} on {}", record.detector.name(), record.host),
            "desc": text,
            "types": [record.detector.name()],
            "created_time": record.raised_at.saturating_mul(1000),
            "modified_time": record.updated_at.saturating_mul(1000),
            "analytic": {
                "name": record.detector.name(),
                "uid": (record.detector as u8).to_string(),
                "type_id": ANALYTIC_RULE,
                "type": "Rule",
            },
        },
        "metadata": {
            "version": "1.1.0",
            "product": {
                "name": "Vantage",
                "vendor_name": "Vantage",
                "feature": { "name": "vantage-fleet" },
            },
            "tenant_uid": record.site,
            "original_time": record.updated_at.to_string(),
            "uid": record.id.to_string(),
        },
        "device": {
            "uid": record.sensor,
            "name": record.sensor_name,
            "type_id": 0,
        },
        "evidences": [evidence],
        "unmapped": {
            "chain": record.chain.name(),
            "envelope_hash": record.envelope_hash,
            "epoch": record.epoch,
            "seq": record.seq,
            "alert_id": record.alert_id,
            "revision": record.revision,
            "updates": record.updates,
            "explanation": {
                "observed": super::figure(e.observed),
                "threshold": super::figure(e.threshold),
                "window_secs": e.window_secs,
                "facts": super::facts(e),
            },
            "response": {
                "action": r.action.name(),
                "ttl_secs": r.ttl_secs,
                "reason": r.reason.name(),
                "blast_radius": r.blast_radius,
            },
        },
    })
}

pub fn render_detection(record: &DetectionRecord) -> String {
    detection_finding(record).to_string()
}
