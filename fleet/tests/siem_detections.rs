//! SIEM exports of detections: the exact JSON line, the OCSF Detection
//! Finding (Create for a first revision, Update for a later one, one
//! finding uid for all), and the exact RFC 5424 line.

use serde_json::{json, Value};
use vantage_fleet::{
    record::{ChainStatus, DetectionRecord},
    siem::{self, ExportFormat},
};
use vantage_protocol::{Action, ActionReason, Detector, Explanation, Fact, Response, Severity};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

fn record() -> std::result::Result<DetectionRecord, std::net::AddrParseError> {
    Ok(DetectionRecord {
        id: 42,
        first_id: 40,
        sensor: "0123456789abcdef".into(),
        sensor_name: "gw-01".into(),
        site: "acme".into(),
        epoch: 3,
        seq: 17,
        alert_id: 1234,
        revision: 2,
        updates: 1,
        raised_at: 1_795_000_000,
        updated_at: 1_795_000_060,
        received_at: 1_795_000_061.25,
        detector: Detector::Beacon,
        severity: Severity::High,
        score: 88,
        host: "10.77.1.10".parse()?,
        peer: Some("203.0.113.80".parse()?),
        port: 443,
        domain: Some("updates-cdn.example".into()),
        explanation: Explanation::new(48.0, 20.0, 86_400, 80)
            .with(Fact::MeanIntervalSecs, 1800.0)
            .with(Fact::TimingScore, 0.92),
        response: Response {
            action: Action::Block,
            ttl_secs: 3600,
            reason: ActionReason::ScoreThreshold,
            blast_radius: 0,
        },
        chain: ChainStatus::Linked,
        envelope_hash: "00112233445566778899aabbccddeeff".into(),
    })
}

const TEXT: &str = "10.77.1.10 connected to updates-cdn.example, every 1800 s on average, regularity 48 of 100 (reported from 20), timing score 0.92";

#[test]
fn json_lines_carry_the_explanation_and_the_response() -> Result {
    let line = siem::render_detection(ExportFormat::JsonLines, &record()?, "collector");
    assert!(!line.contains('\n'));
    let value: Value = serde_json::from_str(&line)?;
    assert_eq!(
        value,
        json!({
            "schema": "vantage.detection/1",
            "id": 42, "first_id": 40,
            "sensor": "0123456789abcdef", "sensor_name": "gw-01", "site": "acme",
            "epoch": 3, "seq": 17,
            "alert_id": 1234, "revision": 2, "updates": 1,
            "raised_at": 1_795_000_000u64, "raised_time": "2026-11-18T11:06:40.000Z",
            "updated_at": 1_795_000_060u64, "updated_time": "2026-11-18T11:07:40.000Z",
            "received_at": 1_795_000_061.25, "received_time": "2026-11-18T11:07:41.250Z",
            "severity": "high", "detector": "beacon", "score": 88,
            "host": "10.77.1.10", "peer": "203.0.113.80", "port": 443,
            "domain": "updates-cdn.example",
            "explanation": {
                "text": TEXT,
                "observed": 48.0, "threshold": 20.0, "window_secs": 86_400, "confidence": 80,
                "facts": { "mean_interval_secs": 1800.0, "timing_score": 0.92 },
            },
            "response": {
                "action": "block", "ttl_secs": 3600, "reason": "score_threshold",
                "blast_radius": 0, "text": "block for 1 h",
            },
            "chain": "linked",
            "envelope_hash": "00112233445566778899aabbccddeeff",
        })
    );
    Ok(())
}

#[test]
fn ocsf_detection_finding_is_created_then_updated() -> Result {
    let updated: Value =
        serde_json::from_str(&siem::render_detection(ExportFormat::Ocsf, &record()?, "c"))?;
    assert_eq!(updated["class_uid"], 2004);
    assert_eq!(updated["category_uid"], 2);
    assert_eq!(
        (&updated["activity_id"], &updated["activity_name"]),
        (&json!(2), &json!("Update"))
    );
    assert_eq!(updated["type_uid"], 200_402);
    assert_eq!(updated["severity_id"], 4);
    assert_eq!(updated["time"], 1_795_000_061_250u64);
    assert_eq!(updated["message"], TEXT);
    assert_eq!(updated["risk_score"], 88);
    assert_eq!(updated["confidence_score"], 80);
    assert_eq!(
        updated["finding_info"],
        json!({
            "uid": "0123456789abcdef-alert-1234",
            "title": "beacon on 10.77.1.10",
            "desc": TEXT,
            "types": ["beacon"],
            "created_time": 1_795_000_000_000u64,
            "modified_time": 1_795_000_060_000u64,
            "analytic": { "name": "beacon", "uid": "4", "type_id": 1, "type": "Rule" },
        })
    );
    assert_eq!(updated["metadata"]["uid"], "42");
    assert_eq!(updated["metadata"]["tenant_uid"], "acme");
    assert_eq!(updated["device"]["uid"], "0123456789abcdef");
    assert_eq!(
        updated["evidences"],
        json!([{
            "src_endpoint": { "ip": "10.77.1.10" },
            "dst_endpoint": { "ip": "203.0.113.80", "port": 443, "hostname": "updates-cdn.example" },
        }])
    );
    assert_eq!(
        updated["unmapped"],
        json!({
            "chain": "linked", "envelope_hash": "00112233445566778899aabbccddeeff",
            "epoch": 3, "seq": 17, "alert_id": 1234, "revision": 2, "updates": 1,
            "explanation": {
                "observed": 48.0, "threshold": 20.0, "window_secs": 86_400,
                "facts": { "mean_interval_secs": 1800.0, "timing_score": 0.92 },
            },
            "response": {
                "action": "block", "ttl_secs": 3600, "reason": "score_threshold", "blast_radius": 0,
            },
        })
    );
    let first = DetectionRecord {
        updates: 0,
        revision: 1,
        peer: None,
        port: 0,
        domain: None,
        ..record()?
    };
    let created: Value =
        serde_json::from_str(&siem::render_detection(ExportFormat::Ocsf, &first, "c"))?;
    assert_eq!(
        (&created["activity_id"], &created["type_uid"]),
        (&json!(1), &json!(200_401))
    );
    assert_eq!(
        created["finding_info"]["uid"],
        updated["finding_info"]["uid"]
    );
    assert_eq!(
        created["evidences"],
        json!([{ "src_endpoint": { "ip": "10.77.1.10" } }])
    );
    Ok(())
}

#[test]
fn syslog_rfc5424_line_is_exact() -> Result {
    let line = siem::render_detection(ExportFormat::Syslog, &record()?, "fleet-1");
    assert_eq!(
        line,
        format!(
            "<131>1 2026-11-18T11:07:41.250Z fleet-1 vantage-fleet - beacon \
             [vantage@32473 sensor=\"0123456789abcdef\" name=\"gw-01\" site=\"acme\" epoch=\"3\" \
             seq=\"17\" alert_id=\"1234\" revision=\"2\" score=\"88\" action=\"block\" \
             host=\"10.77.1.10\" peer=\"203.0.113.80\" port=\"443\" domain=\"updates-cdn.example\" \
             chain=\"linked\"] high beacon score 88, block for 1 h: {TEXT}"
        )
    );
    Ok(())
}
