//! The SQLite store on real files: durability settings, insert-or-detect on
//! the UNIQUE constraint (also between two collectors sharing one file),
//! migrations, and the queries behind the fleet view and alert listings.

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken setup step"
)]

use std::path::PathBuf;

use vantage_protocol::{
    message::bounded, AckOutcome, Addr, Alert, AlertKind, Message, RejectReason, Sealer, SensorKey,
    Severity,
};

use super::{schema, SqliteStore};
use crate::{
    ingest::ingest,
    record::{AlertFilter, ChainStatus},
    store::{Insert, Ledger as _, NewEnvelope, Queries as _, StoreError},
    view,
};

const NOW: f64 = 1_795_000_100.0;

/// A database file private to this process and test, removed on drop.
pub(super) struct TempDb(pub(super) PathBuf);

impl TempDb {
    pub(super) fn new(tag: &str) -> TempDb {
        let path = std::env::temp_dir().join(format!(
            "vantage-fleet-store-{}-{tag}.db",
            std::process::id()
        ));
        let db = TempDb(path);
        db.remove();
        db
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = self.0.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

fn alert(severity: Severity, detail: &str) -> Message {
    Message::Alert(Alert {
        at: 1_795_000_000,
        severity,
        kind: AlertKind::PortScan,
        host: Addr::V4([10, 77, 1, 10]),
        peer: Some(Addr::V4([203, 0, 113, 80])),
        port: 445,
        count: 120,
        detail: bounded(detail),
    })
}

fn enrolled_sealer(store: &mut SqliteStore) -> Sealer {
    let key = SensorKey::ephemeral().expect("key");
    store
        .enroll(key.public(), "acme", "gw1", NOW)
        .expect("enroll");
    Sealer::new(key, 9, 1, [0; 16])
}

/// Ingests one envelope in its own committed transaction.
fn ingest_one(store: &mut SqliteStore, wire: &[u8]) -> AckOutcome {
    let mut ledger = store.begin().expect("begin");
    let ingested = ingest(&mut ledger, wire, NOW).expect("ingest");
    ledger.commit().expect("commit");
    ingested.ack.outcome
}

#[test]
fn the_database_is_durable_and_enrolment_is_unique() {
    let db = TempDb::new("durable");
    let mut store = SqliteStore::open(&db.0).expect("open");
    let mode: String = store
        .conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .expect("journal_mode");
    let synchronous: i64 = store
        .conn
        .pragma_query_value(None, "synchronous", |row| row.get(0))
        .expect("synchronous");
    assert_eq!((mode.as_str(), synchronous), ("wal", 2), "WAL, FULL");
    let key = SensorKey::ephemeral().expect("key").public();
    store.enroll(key, "acme", "gw1", NOW).expect("enroll");
    let again = store.enroll(key, "other", "gw2", NOW);
    assert!(
        matches!(again, Err(StoreError::AlreadyEnrolled { ref site, ref name, .. })
            if site == "acme" && name == "gw1"),
        "{again:?}"
    );
}

#[test]
fn a_taken_position_is_detected_by_the_unique_constraint() {
    let db = TempDb::new("unique");
    let mut store = SqliteStore::open(&db.0).expect("open");
    let sealer = enrolled_sealer(&mut store);
    let sealed = sealer.seal_payload(&alert(Severity::High, "one").encode());
    let envelope = |hash| NewEnvelope {
        sensor: sealer.sensor(),
        epoch: 9,
        seq: 1,
        hash,
        prev: [0; 16],
        kind: "alert",
        chain: ChainStatus::EpochStart,
        received_at: NOW,
        wire: &sealed.bytes,
    };
    let mut ledger = store.begin().expect("begin");
    assert_eq!(
        ledger
            .insert_envelope(&envelope(sealed.hash))
            .expect("insert"),
        Insert::Stored { id: 1 }
    );
    assert_eq!(
        ledger.insert_envelope(&envelope([7; 16])).expect("insert"),
        Insert::Taken
    );
    let kept = ledger.link_at(sealer.sensor(), 9, 1).expect("link");
    assert_eq!(kept.map(|link| link.hash), Some(sealed.hash));
    ledger.commit().expect("commit");
}

#[test]
fn two_collectors_sharing_one_database_agree_on_duplicates_and_conflicts() {
    let db = TempDb::new("shared");
    let mut first = SqliteStore::open(&db.0).expect("open");
    let mut second = SqliteStore::open(&db.0).expect("open again");
    let mut sealer = enrolled_sealer(&mut first);
    let one = sealer.seal(&alert(Severity::High, "one"));
    let two = sealer.seal(&alert(Severity::High, "two"));
    let three = sealer.seal(&alert(Severity::High, "three"));
    assert_eq!(ingest_one(&mut first, &one.bytes), AckOutcome::Stored);
    assert_eq!(ingest_one(&mut first, &two.bytes), AckOutcome::Stored);
    // The sensor reconnects to the other collector and resends.
    assert_eq!(ingest_one(&mut second, &two.bytes), AckOutcome::Duplicate);
    let rewritten = sealer.seal_at(9, 2, one.hash, &alert(Severity::High, "two'").encode());
    assert_eq!(
        ingest_one(&mut second, &rewritten.bytes),
        AckOutcome::Rejected(RejectReason::Conflict)
    );
    assert_eq!(ingest_one(&mut second, &three.bytes), AckOutcome::Stored);
    let alerts = first.alerts(&AlertFilter::default()).expect("alerts");
    let seen: Vec<(&str, ChainStatus)> = alerts
        .iter()
        .map(|a| (a.detail.as_str(), a.chain))
        .collect();
    assert_eq!(
        seen,
        [
            ("one", ChainStatus::EpochStart),
            ("two", ChainStatus::Linked),
            ("three", ChainStatus::Linked)
        ]
    );
    let counters = first
        .counters(&sealer.sensor().to_string())
        .expect("counters");
    let counters: Vec<(&str, u64)> = counters.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(counters, [("conflict", 1), ("duplicate", 1)]);
}

#[test]
fn a_database_from_before_versioning_is_adopted_and_a_newer_one_refused() {
    let db = TempDb::new("migrate");
    {
        let conn = rusqlite::Connection::open(&db.0).expect("create");
        conn.execute_batch(schema::MIGRATIONS[0])
            .expect("old schema");
        conn.execute(
            "INSERT INTO sensors VALUES ('0123456789abcdef', '', 'acme', 'old', 1.0)",
            [],
        )
        .expect("old row");
    }
    let store = SqliteStore::open(&db.0).expect("open");
    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version");
    assert_eq!(version, schema::LATEST);
    let names: Vec<String> = store
        .sensors()
        .expect("sensors")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["old"]);
    store
        .conn
        .pragma_update(None, "user_version", 99)
        .expect("bump");
    drop(store);
    let refused = SqliteStore::open(&db.0);
    assert!(
        matches!(
            refused,
            Err(StoreError::NewerSchema {
                found: 99,
                supported: schema::LATEST
            })
        ),
        "{refused:?}"
    );
}

#[test]
fn queries_feed_the_fleet_view_and_alert_filters() {
    let db = TempDb::new("queries");
    let mut store = SqliteStore::open(&db.0).expect("open");
    let mut sealer = enrolled_sealer(&mut store);
    let id = sealer.sensor().to_string();
    let low = sealer.seal(&alert(Severity::Low, "low"));
    let critical = sealer.seal(&alert(Severity::Critical, "critical"));
    let _lost = sealer.seal(&alert(Severity::High, "never arrives"));
    let high = sealer.seal(&alert(Severity::High, "high"));
    let broken = sealer.seal_at(9, 5, [0xee; 16], &alert(Severity::High, "broken").encode());
    for sealed in [&low, &critical, &high, &broken] {
        assert_eq!(ingest_one(&mut store, &sealed.bytes), AckOutcome::Stored);
    }
    assert_eq!(
        ingest_one(&mut store, b"garbage"),
        AckOutcome::Rejected(RejectReason::Malformed)
    );

    let report = view::fleet_report(&store, NOW).expect("report");
    assert_eq!(report.schema, view::SENSORS_SCHEMA);
    let [me] = report.sensors.as_slice() else {
        panic!("one sensor expected: {report:?}");
    };
    assert_eq!(
        (me.sensor.as_str(), me.site.as_str()),
        (id.as_str(), "acme")
    );
    assert_eq!(me.liveness, view::Liveness::NeverSeen);
    assert_eq!(me.visibility, "unknown");
    let alerts: Vec<(&str, u64)> = me.alerts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        alerts,
        [
            ("critical", 1),
            ("high", 1),
            ("info", 0),
            ("low", 1),
            ("medium", 0)
        ]
    );
    assert_eq!((me.envelopes, me.missing, me.broken), (4, 1, 1));
    let counters: Vec<(&str, u64)> = me.counters.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(counters, [("chain_broken", 1), ("gap", 1)]);
    let unattributed: Vec<(&str, u64)> = report
        .unattributed
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(unattributed, [("malformed", 1)]);

    let details = |filter: AlertFilter| -> Vec<String> {
        store
            .alerts(&filter)
            .expect("alerts")
            .into_iter()
            .map(|a| a.detail)
            .collect()
    };
    assert_eq!(details(AlertFilter::default()), ["low", "critical", "high"]);
    let everything = AlertFilter {
        include_broken: true,
        ..AlertFilter::default()
    };
    assert_eq!(details(everything), ["low", "critical", "high", "broken"]);
    let serious = AlertFilter {
        min_severity: Some(Severity::High),
        limit: Some(1),
        ..AlertFilter::default()
    };
    assert_eq!(details(serious), ["critical"]);
    let later = AlertFilter {
        after_id: 2,
        sensor: Some(id.clone()),
        ..AlertFilter::default()
    };
    assert_eq!(details(later), ["high"]);
    let nobody = AlertFilter {
        sensor: Some("0000000000000000".into()),
        ..AlertFilter::default()
    };
    assert!(details(nobody).is_empty());
    let all = store.all_counters().expect("all counters");
    assert_eq!(all.keys().cloned().collect::<Vec<_>>(), ["".to_owned(), id]);
}
