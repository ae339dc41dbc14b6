//! Detections and digests in a real SQLite file: the upsert keeps the
//! highest revision and counts updates, the stored record reads back
//! exactly (figures that are not numbers included), filters and the fleet
//! view's counts see detections, digests are listed, and a version 2
//! database gains the tables in place.

use std::collections::BTreeMap;

use vantage_protocol::{
    message::bounded, Action, ActionReason, Addr, Day, Detection, Detector, Digest, Explanation,
    Fact, Message, Response, Sealer, SensorKey, Severity,
};

use super::{schema, tests::TempDb, SqliteStore};
use crate::{
    ingest::ingest,
    record::{AlertFilter, ChainStatus, DetectionRecord, DigestFilter, DigestRecord, HostCount},
    store::Queries as _,
};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

const NOW: f64 = 1_795_000_100.0;

fn beacon(alert_id: u32, revision: u16, score: u8) -> Detection {
    Detection {
        at: 1_795_000_000 + 600 * u64::from(revision),
        alert_id,
        revision,
        detector: Detector::Beacon,
        severity: if score >= 80 {
            Severity::High
        } else {
            Severity::Medium
        },
        score,
        host: Addr::V4([172, 16, 0, 8]),
        peer: Some(Addr::V4([64, 13, 134, 52])),
        port: 443,
        domain: bounded("updates-cdn.example"),
        explanation: Explanation::new(f64::from(revision) * 24.0, 20.0, 86_400, 80)
            .with(Fact::MeanIntervalSecs, 1800.0)
            .with(Fact::TimingScore, 0.92),
        response: Response {
            action: Action::ShadowBlock,
            ttl_secs: 3600,
            reason: ActionReason::ShadowMode,
            blast_radius: 2,
        },
    }
}

fn store_with_sensor(
    db: &TempDb,
) -> std::result::Result<(SqliteStore, Sealer), Box<dyn std::error::Error>> {
    let mut store = SqliteStore::open(&db.0)?;
    let key = SensorKey::ephemeral()?;
    store.enroll(key.public(), "acme", "gw1", NOW)?;
    Ok((store, Sealer::new(key, 9, 1, [0; 16])))
}

/// Seals and ingests `message` in its own transaction, stamped `now`.
fn send(
    store: &mut SqliteStore,
    sealer: &mut Sealer,
    message: &Message,
    now: f64,
) -> std::result::Result<[u8; 16], Box<dyn std::error::Error>> {
    let sealed = sealer.seal(message);
    let mut ledger = store.begin()?;
    ingest(&mut ledger, &sealed.bytes, now)?;
    ledger.commit()?;
    Ok(sealed.hash)
}

#[test]
fn the_highest_revision_is_kept_and_reads_back_exactly() -> Result {
    let db = TempDb::new("detections");
    let (mut store, mut sealer) = store_with_sensor(&db)?;
    let id = sealer.sensor().to_string();
    send(
        &mut store,
        &mut sealer,
        &Message::Detection(beacon(7, 1, 70)),
        NOW,
    )?;
    let third = send(
        &mut store,
        &mut sealer,
        &Message::Detection(beacon(7, 3, 90)),
        NOW + 1.0,
    )?;
    send(
        &mut store,
        &mut sealer,
        &Message::Detection(beacon(7, 2, 80)),
        NOW + 2.0,
    )?;
    let listed = store.detections(&AlertFilter::default())?;
    assert_eq!(
        listed,
        [DetectionRecord {
            id: 2,
            first_id: 1,
            sensor: id.clone(),
            sensor_name: "gw1".into(),
            site: "acme".into(),
            epoch: 9,
            seq: 2,
            alert_id: 7,
            revision: 3,
            updates: 1,
            raised_at: 1_795_000_600,
            updated_at: 1_795_001_800,
            received_at: NOW + 1.0,
            detector: Detector::Beacon,
            severity: Severity::High,
            score: 90,
            host: "172.16.0.8".parse()?,
            peer: Some("64.13.134.52".parse()?),
            port: 443,
            domain: Some("updates-cdn.example".into()),
            explanation: beacon(7, 3, 90).explanation,
            response: beacon(7, 3, 90).response,
            chain: ChainStatus::Linked,
            envelope_hash: vantage_protocol::keys::hex_encode(&third),
        }]
    );
    assert_eq!(listed[0].detection(), beacon(7, 3, 90));
    let counters: Vec<(String, u64)> = store.counters(&id)?.into_iter().collect();
    assert_eq!(counters, [("stale_revision".to_owned(), 1)]);
    // A detection counts once in the fleet view, at its kept severity.
    assert_eq!(
        store.alerts_by_severity(&id)?,
        BTreeMap::from([("high".to_owned(), 1)])
    );
    Ok(())
}

/// (alert id, row id) of the detections `filter` selects.
fn ids(
    store: &SqliteStore,
    filter: AlertFilter,
) -> std::result::Result<Vec<(u32, i64)>, crate::store::StoreError> {
    Ok(store
        .detections(&filter)?
        .into_iter()
        .map(|d| (d.alert_id, d.id))
        .collect())
}

#[test]
fn filters_select_detections_and_updates_move_them_past_after_id() -> Result {
    let db = TempDb::new("detection-filters");
    let (mut store, mut sealer) = store_with_sensor(&db)?;
    let mut scan = beacon(1, 1, 70);
    scan.detector = Detector::PortScan;
    send(&mut store, &mut sealer, &Message::Detection(scan), NOW)?;
    send(
        &mut store,
        &mut sealer,
        &Message::Detection(beacon(2, 1, 70)),
        NOW,
    )?;
    assert_eq!(ids(&store, AlertFilter::default())?, [(1, 1), (2, 2)]);
    let beacons = AlertFilter {
        detector: Some(Detector::Beacon),
        ..AlertFilter::default()
    };
    assert_eq!(ids(&store, beacons)?, [(2, 2)]);
    let high = AlertFilter {
        min_severity: Some(Severity::High),
        ..AlertFilter::default()
    };
    assert_eq!(ids(&store, high.clone())?, []);
    let nobody = AlertFilter {
        sensor: Some("0000000000000000".into()),
        ..AlertFilter::default()
    };
    assert_eq!(ids(&store, nobody)?, []);
    // Alert 1 updated: it is listed after 2 now, and seen after id 2.
    send(
        &mut store,
        &mut sealer,
        &Message::Detection(Detection {
            detector: Detector::PortScan,
            ..beacon(1, 2, 85)
        }),
        NOW,
    )?;
    assert_eq!(ids(&store, AlertFilter::default())?, [(2, 2), (1, 3)]);
    let later = AlertFilter {
        after_id: 2,
        ..AlertFilter::default()
    };
    assert_eq!(ids(&store, later)?, [(1, 3)]);
    assert_eq!(ids(&store, high)?, [(1, 3)]);
    let one = AlertFilter {
        limit: Some(1),
        ..AlertFilter::default()
    };
    assert_eq!(ids(&store, one)?, [(2, 2)]);
    Ok(())
}

#[test]
fn figures_that_are_not_numbers_read_back_as_nan() -> Result {
    let db = TempDb::new("detection-nan");
    let (mut store, mut sealer) = store_with_sensor(&db)?;
    let mut odd = beacon(1, 1, 70);
    odd.explanation.observed = f32::NAN;
    odd.explanation.threshold = f32::INFINITY;
    odd.explanation = odd.explanation.with(Fact::Connections, f64::NAN);
    send(&mut store, &mut sealer, &Message::Detection(odd), NOW)?;
    let [kept] = <[DetectionRecord; 1]>::try_from(store.detections(&AlertFilter::default())?)
        .map_err(|all| format!("one detection expected: {all:?}"))?;
    assert!(kept.explanation.observed.is_nan());
    assert!(kept.explanation.threshold.is_nan());
    assert!(kept
        .explanation
        .fact(Fact::Connections)
        .is_some_and(f32::is_nan));
    assert_eq!(kept.explanation.fact(Fact::TimingScore), Some(0.92));
    assert_eq!(
        kept.text(),
        "172.16.0.8 connected to updates-cdn.example ? times, every 1800 s on average, regularity ? of 100 (reported from ?), timing score 0.92"
    );
    Ok(())
}

#[test]
fn digests_are_stored_and_listed_oldest_first() -> Result {
    let db = TempDb::new("digests");
    let (mut store, mut sealer) = store_with_sensor(&db)?;
    let id = sealer.sensor().to_string();
    let digest = |day: u8, suppressed: u32| Digest {
        at: 1_795_046_400 + 86_400 * u64::from(day - 18),
        day: Day {
            year: 2026,
            month: 11,
            day,
        },
        detections: [(Detector::PortScan, 3), (Detector::Beacon, 1)]
            .into_iter()
            .collect(),
        actions: [(Action::Notify, 2), (Action::Digest, 2)]
            .into_iter()
            .collect(),
        top_hosts: [
            (Addr::V4([172, 16, 0, 8]), 3),
            (Addr::V4([172, 16, 0, 9]), 1),
        ]
        .into_iter()
        .collect(),
        suppressed,
    };
    send(
        &mut store,
        &mut sealer,
        &Message::Digest(digest(18, 5)),
        NOW,
    )?;
    send(
        &mut store,
        &mut sealer,
        &Message::Digest(digest(19, 0)),
        NOW + 86_400.0,
    )?;
    let listed = store.digests(&DigestFilter::default())?;
    assert_eq!(
        listed.first(),
        Some(&DigestRecord {
            id: 1,
            sensor: id.clone(),
            sensor_name: "gw1".into(),
            site: "acme".into(),
            epoch: 9,
            seq: 1,
            day: "2026-11-18".into(),
            sent_at: 1_795_046_400,
            received_at: NOW,
            detections: BTreeMap::from([("beacon".to_owned(), 1), ("port_scan".to_owned(), 3)]),
            actions: BTreeMap::from([("digest".to_owned(), 2), ("notify".to_owned(), 2)]),
            top_hosts: vec![
                HostCount {
                    host: "172.16.0.8".parse()?,
                    count: 3
                },
                HostCount {
                    host: "172.16.0.9".parse()?,
                    count: 1
                },
            ],
            suppressed: 5,
            chain: ChainStatus::EpochStart,
        })
    );
    let days: Vec<&str> = listed.iter().map(|d| d.day.as_str()).collect();
    assert_eq!(days, ["2026-11-18", "2026-11-19"]);
    let last = store.digests(&DigestFilter {
        sensor: Some(id),
        last: Some(1),
    })?;
    let days: Vec<&str> = last.iter().map(|d| d.day.as_str()).collect();
    assert_eq!(days, ["2026-11-19"]);
    let nobody = store.digests(&DigestFilter {
        sensor: Some("0000000000000000".into()),
        last: None,
    })?;
    assert!(nobody.is_empty());
    Ok(())
}

#[test]
fn a_version_two_database_gains_detections_in_place() -> Result {
    let db = TempDb::new("detections-upgrade");
    {
        let conn = rusqlite::Connection::open(&db.0)?;
        conn.execute_batch(schema::MIGRATIONS[0])?;
        conn.execute_batch(schema::MIGRATIONS[1])?;
        conn.pragma_update(None, "user_version", 2)?;
    }
    let (mut store, mut sealer) = store_with_sensor(&db)?;
    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |row| row.get(0))?;
    assert_eq!(version, schema::LATEST);
    send(
        &mut store,
        &mut sealer,
        &Message::Detection(beacon(7, 1, 70)),
        NOW,
    )?;
    let alert_ids: Vec<u32> = store
        .detections(&AlertFilter::default())?
        .iter()
        .map(|d| d.alert_id)
        .collect();
    assert_eq!(alert_ids, [7]);
    Ok(())
}
