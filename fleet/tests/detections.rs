//! Detections and digests through the real `vantage-fleet` binary: a
//! sensor's envelopes (an older alert and heartbeat, detections with an
//! update and a stale revision, a digest) ingested into the collector's
//! database, then `alerts`, `alerts --kind`, `alerts --json`, `digests` and
//! `export` compared with their exact output.

mod support;

use serde_json::{json, Value};
use support::{sensor::first_revision, FleetDir};
use vantage_fleet::{ingest::ingest, store::SqliteStore};
use vantage_protocol::{
    message::bounded, Action, ActionReason, Addr, Alert, AlertKind, Day, Detection, Detector,
    Digest, Explanation, Fact, Message, Response, Sealer, SensorKey, Severity, VisibilityVerdict,
};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

/// When the collector stored the first envelope; each next one a second later.
const NOW: f64 = 1_795_000_100.0;

fn scan(revision: u16, ports: f64, score: u8) -> Detection {
    Detection {
        at: 1_795_000_000 + 60 * u64::from(revision),
        alert_id: 7,
        revision,
        detector: Detector::PortScan,
        severity: if score >= 80 {
            Severity::High
        } else {
            Severity::Medium
        },
        score,
        host: Addr::V4([172, 16, 0, 8]),
        peer: Some(Addr::V4([64, 13, 134, 52])),
        port: 0,
        domain: bounded(""),
        explanation: Explanation::new(ports, 15.0, 300, 90)
            .with(Fact::Attempts, ports + 20.0)
            .with(Fact::Unanswered, ports - 17.0),
        response: Response::of(if score >= 80 {
            Action::Notify
        } else {
            Action::Digest
        }),
    }
}

fn beacon() -> Detection {
    Detection {
        at: 1_795_000_090,
        alert_id: 8,
        revision: 1,
        detector: Detector::Beacon,
        severity: Severity::High,
        score: 91,
        host: Addr::V4([172, 16, 0, 9]),
        peer: Some(Addr::V4([203, 0, 113, 80])),
        port: 443,
        domain: bounded("updates-cdn.example"),
        explanation: Explanation::new(48.0, 20.0, 86_400, 85)
            .with(Fact::MeanIntervalSecs, 1800.0)
            .with(Fact::TimingScore, 0.92),
        response: Response {
            action: Action::Refused,
            ttl_secs: 0,
            reason: ActionReason::MirrorMode,
            blast_radius: 3,
        },
    }
}

fn digest() -> Digest {
    Digest {
        at: 1_795_046_400,
        day: Day {
            year: 2026,
            month: 11,
            day: 18,
        },
        detections: [(Detector::PortScan, 1), (Detector::Beacon, 1)]
            .into_iter()
            .collect(),
        actions: [(Action::Notify, 1), (Action::Refused, 1)]
            .into_iter()
            .collect(),
        top_hosts: [
            (Addr::V4([172, 16, 0, 8]), 1),
            (Addr::V4([172, 16, 0, 9]), 1),
        ]
        .into_iter()
        .collect(),
        suppressed: 4,
    }
}

/// Enrolls a sensor through the CLI and ingests what it sends straight
/// into the collector's database, each envelope stored a second after the
/// one before.
fn populate(fleet: &FleetDir) -> std::result::Result<String, Box<dyn std::error::Error>> {
    let key = SensorKey::ephemeral()?;
    let hex = key.public().to_hex();
    fleet.ok(&[
        "enroll",
        "--public-key",
        &hex,
        "--site",
        "acme",
        "--name",
        "gw1",
    ])?;
    let mut store = SqliteStore::open(&fleet.dir.join("fleet.db"))?;
    let mut sealer = Sealer::new(key, 9, 1, [0; 16]);
    let messages = [
        // 1: an alert of the first kind.
        Message::Alert(Alert {
            at: 1_795_000_000,
            severity: Severity::Medium,
            kind: AlertKind::VolumeSpike,
            host: Addr::V4([172, 16, 0, 8]),
            peer: None,
            port: 0,
            count: 3,
            detail: bounded("3x the usual"),
        }),
        // 2: the scan opens at revision 1.
        Message::Detection(scan(1, 40.0, 65)),
        // 3: a beacon.
        Message::Detection(beacon()),
        // 4: the scan goes on: revision 2 updates it.
        Message::Detection(scan(2, 312.0, 88)),
        // 5: revision 1 again (a replayed spool): ignored.
        Message::Detection(scan(1, 40.0, 65)),
        // 6: a heartbeat of the first revision.
        first_revision(1_795_000_100, VisibilityVerdict::Sees),
        // 7: the day's digest.
        Message::Digest(digest()),
    ];
    for (n, message) in (0u32..).zip(&messages) {
        let sealed = sealer.seal(message);
        let mut ledger = store.begin()?;
        ingest(&mut ledger, &sealed.bytes, NOW + f64::from(n))?;
        ledger.commit()?;
    }
    Ok(sealer.sensor().to_string())
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

const ALERT: &str = "     1 2026-11-18T11:08:20.000Z acme/gw1            9/1      medium   \
                     volume_spike 172.16.0.8 x3 3x the usual [epoch_start]";
const BEACON: &str = "     3 2026-11-18T11:08:22.000Z acme/gw1            9/3      high     beacon       score 91, refused (mirror_mode), 3 other hosts talk to it (alert 8 rev 1): 172.16.0.9 connected to updates-cdn.example, every 1800 s on average, regularity 48 of 100 (reported from 20), timing score 0.92 [linked]";
const SCAN: &str = "     4 2026-11-18T11:08:23.000Z acme/gw1            9/4      high     port_scan    score 88, notify (alert 7 rev 2, 1 update): 172.16.0.8 got no connection on 312 ports of 64.13.134.52 within a 300 s window (332 attempts: 295 unanswered; threshold 15) [linked]";

#[test]
fn alerts_list_detections_with_their_explanation_and_digests_are_listed() -> Result {
    let fleet = FleetDir::init("detections")?;
    let sensor = populate(&fleet)?;

    assert_eq!(lines(&fleet.ok(&["alerts"])?), [ALERT, BEACON, SCAN]);
    assert_eq!(lines(&fleet.ok(&["alerts", "--kind", "beacon"])?), [BEACON]);
    assert_eq!(
        lines(&fleet.ok(&["alerts", "--kind", "volume_spike"])?),
        [ALERT]
    );
    assert_eq!(
        lines(&fleet.ok(&["alerts", "--min-severity", "high", "--after-id", "3"])?),
        [SCAN]
    );
    assert_eq!(
        lines(&fleet.ok(&["alerts", "--limit", "2"])?),
        [ALERT, BEACON]
    );

    let json = fleet.json(&["alerts", "--json", "--kind", "port_scan"])?;
    assert_eq!(json["schema"], "vantage.fleet.alerts/1");
    assert_eq!(json["alerts"], json!([]));
    let [scan] = json["detections"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    else {
        return Err(format!("one detection expected: {json}").into());
    };
    assert_eq!(
        (
            &scan["alert_id"],
            &scan["revision"],
            &scan["updates"],
            &scan["first_id"]
        ),
        (&json!(7), &json!(2), &json!(1), &json!(2))
    );
    assert_eq!(
        scan["text"],
        "172.16.0.8 got no connection on 312 ports of 64.13.134.52 within a 300 s window (332 attempts: 295 unanswered; threshold 15)"
    );
    assert_eq!(scan["response_text"], "notify");
    assert_eq!(
        scan["response"],
        json!({"action": "notify", "ttl_secs": 0, "reason": "score_threshold", "blast_radius": 0})
    );
    assert_eq!(
        scan["explanation"],
        json!({
            "observed": 312.0, "threshold": 15.0, "window_secs": 300, "confidence": 90,
            "facts": [["attempts", 332.0], ["unanswered", 295.0]],
        })
    );

    assert_eq!(
        lines(&fleet.ok(&["digests"])?),
        [
            "     7 2026-11-18 acme/gw1            9/7      detections beacon 1, port_scan 1; \
          actions notify 1, refused 1; top hosts 172.16.0.8 1, 172.16.0.9 1; suppressed 4 [linked]"
        ]
    );
    let digests = fleet.json(&["digests", "--json", "--sensor", &sensor[..6]])?;
    assert_eq!(digests["schema"], "vantage.fleet.digests/1");
    assert_eq!(digests["digests"][0]["day"], "2026-11-18");
    assert_eq!(digests["digests"][0]["suppressed"], 4);

    // The fleet view counts a detection once, at its kept severity.
    let report = fleet.json(&["sensors", "--json"])?;
    assert_eq!(
        report["sensors"][0]["alerts"],
        json!({"critical": 0, "high": 2, "info": 0, "low": 0, "medium": 1})
    );
    assert_eq!(
        report["sensors"][0]["counters"],
        json!({"stale_revision": 1})
    );
    Ok(())
}

#[test]
fn exports_carry_detections_and_their_updates() -> Result {
    let fleet = FleetDir::init("detections-export")?;
    populate(&fleet)?;
    let jsonl = fleet.ok(&["export", "--format", "jsonl"])?;
    let exported: Vec<Value> = jsonl
        .lines()
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()?;
    let shape: Vec<(&str, i64)> = exported
        .iter()
        .map(|v| {
            (
                v["schema"].as_str().unwrap_or("?"),
                v["id"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("vantage.alert/1", 1),
            ("vantage.detection/1", 3),
            ("vantage.detection/1", 4)
        ]
    );
    assert_eq!(
        exported[2]["explanation"]["text"],
        "172.16.0.8 got no connection on 312 ports of 64.13.134.52 within a 300 s window (332 attempts: 295 unanswered; threshold 15)"
    );
    // After row 3, only the scan's update.
    let ocsf = fleet.ok(&["export", "--format", "ocsf", "--after-id", "3"])?;
    let findings: Vec<Value> = ocsf
        .lines()
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()?;
    let [update] = findings.as_slice() else {
        return Err(format!("one finding expected: {ocsf}").into());
    };
    assert_eq!(update["activity_name"], "Update");
    assert!(update["finding_info"]["uid"]
        .as_str()
        .is_some_and(|uid| uid.ends_with("-alert-7")));
    let syslog = fleet.ok(&["export", "--format", "syslog", "--min-severity", "high"])?;
    let msgids: Vec<&str> = syslog
        .lines()
        .filter_map(|line| line.split(' ').nth(5))
        .collect();
    assert_eq!(msgids, ["beacon", "port_scan"]);
    Ok(())
}

#[test]
fn an_unknown_kind_names_alert_kinds_and_detectors() -> Result {
    let fleet = FleetDir::init("detections-kind")?;
    let refused = fleet.refused(&["alerts", "--kind", "scan"])?;
    assert!(
        refused.starts_with("vantage-fleet: --kind: \"scan\" is not one of test, port_scan, "),
        "{refused}"
    );
    assert!(
        refused.ends_with(", known_bad, new_device (detectors)\n"),
        "{refused}"
    );
    Ok(())
}
