//! The table lines of detections and digests, exactly, and the merge of
//! alerts and detections by row id.

use std::collections::BTreeMap;

use vantage_protocol::{
    Action, ActionReason, AlertKind, Detector, Explanation, Fact, Response, Severity,
};

use super::*;
use crate::record::{ChainStatus, HostCount};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

fn scan() -> std::result::Result<DetectionRecord, std::net::AddrParseError> {
    Ok(DetectionRecord {
        id: 7,
        first_id: 4,
        sensor: "0123456789abcdef".into(),
        sensor_name: "gw1".into(),
        site: "acme".into(),
        epoch: 9,
        seq: 7,
        alert_id: 1234,
        revision: 3,
        updates: 2,
        raised_at: 1_795_000_000,
        updated_at: 1_795_000_060,
        received_at: 1_795_000_061.25,
        detector: Detector::PortScan,
        severity: Severity::High,
        score: 85,
        host: "172.16.0.8".parse()?,
        peer: Some("64.13.134.52".parse()?),
        port: 0,
        domain: None,
        explanation: Explanation::new(312.0, 15.0, 300, 95)
            .with(Fact::Attempts, 340.0)
            .with(Fact::Unanswered, 295.0),
        response: Response::of(Action::Notify),
        chain: ChainStatus::Linked,
        envelope_hash: "00112233445566778899aabbccddeeff".into(),
    })
}

fn alert(id: i64) -> std::result::Result<AlertRecord, std::net::AddrParseError> {
    Ok(AlertRecord {
        id,
        sensor: "0123456789abcdef".into(),
        sensor_name: "gw1".into(),
        site: "acme".into(),
        epoch: 9,
        seq: 5,
        raised_at: 1_795_000_000,
        received_at: 1_795_000_001.5,
        severity: Severity::Medium,
        kind: AlertKind::VolumeSpike,
        host: "172.16.0.9".parse()?,
        peer: None,
        port: 0,
        count: 3,
        detail: "3x the usual".into(),
        chain: ChainStatus::Linked,
        envelope_hash: "ff".into(),
    })
}

#[test]
fn a_detection_line_shows_detector_score_action_and_explanation() -> Result {
    assert_eq!(
        detection_line(&scan()?),
        "     7 2026-11-18T11:07:41.250Z acme/gw1            9/7      high     port_scan    score 85, notify (alert 1234 rev 3, 2 updates): 172.16.0.8 got no connection on 312 ports of 64.13.134.52 within a 300 s window (340 attempts: 295 unanswered; threshold 15) [linked]"
    );
    let blocked = DetectionRecord {
        updates: 0,
        revision: 1,
        detector: Detector::Beacon,
        port: 443,
        domain: Some("updates-cdn.example".into()),
        explanation: Explanation::new(48.0, 20.0, 86_400, 80).with(Fact::MeanIntervalSecs, 1800.0),
        response: Response {
            action: Action::ShadowBlock,
            ttl_secs: 3600,
            reason: ActionReason::ShadowMode,
            blast_radius: 2,
        },
        ..scan()?
    };
    assert_eq!(
        detection_line(&blocked),
        "     7 2026-11-18T11:07:41.250Z acme/gw1            9/7      high     beacon       score 85, shadow_block for 1 h (shadow_mode), 2 other hosts talk to it (alert 1234 rev 1): 172.16.0.8 connected to updates-cdn.example, every 1800 s on average, regularity 48 of 100 (reported from 20) [linked]"
    );
    Ok(())
}

#[test]
fn a_digest_line_counts_by_detector_and_action() -> Result {
    let digest = DigestRecord {
        id: 12,
        sensor: "0123456789abcdef".into(),
        sensor_name: "gw1".into(),
        site: "acme".into(),
        epoch: 9,
        seq: 12,
        day: "2026-11-18".into(),
        sent_at: 1_795_046_400,
        received_at: 1_795_046_401.0,
        detections: BTreeMap::from([("beacon".to_owned(), 1), ("port_scan".to_owned(), 3)]),
        actions: BTreeMap::from([("digest".to_owned(), 2), ("notify".to_owned(), 2)]),
        top_hosts: vec![
            HostCount {
                host: "172.16.0.8".parse()?,
                count: 3,
            },
            HostCount {
                host: "172.16.0.9".parse()?,
                count: 1,
            },
        ],
        suppressed: 5,
        chain: ChainStatus::Linked,
    };
    assert_eq!(
        digest_line(&digest),
        "    12 2026-11-18 acme/gw1            9/12     detections beacon 1, port_scan 3; \
         actions digest 2, notify 2; top hosts 172.16.0.8 3, 172.16.0.9 1; suppressed 5 [linked]"
    );
    let quiet = DigestRecord {
        detections: BTreeMap::new(),
        actions: BTreeMap::new(),
        top_hosts: vec![],
        suppressed: 0,
        ..digest
    };
    assert_eq!(
        digest_line(&quiet),
        "    12 2026-11-18 acme/gw1            9/12     detections none; actions none; \
         top hosts none; suppressed 0 [linked]"
    );
    Ok(())
}

#[test]
fn alerts_and_detections_merge_by_row_id_and_the_limit_counts_both() -> Result {
    let merged = merge(vec![alert(3)?, alert(9)?], vec![scan()?], None);
    let ids: Vec<i64> = merged.iter().map(Listed::id).collect();
    assert_eq!(ids, [3, 7, 9]);
    assert!(matches!(merged[1], Listed::Detection(_)));
    assert_eq!(merged[0].line(), alert_line(&alert(3)?));
    let first_two = merge(vec![alert(3)?, alert(9)?], vec![scan()?], Some(2));
    let ids: Vec<i64> = first_two.iter().map(Listed::id).collect();
    assert_eq!(ids, [3, 7]);
    Ok(())
}
