//! A version 1 database with first-revision heartbeats upgrades in place:
//! their sight converted, time in state added up from their history by the
//! same rule as ingest, and counting goes on from the last one.

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken setup step"
)]

use std::collections::BTreeMap;

use rusqlite::params;
use vantage_protocol::{
    message::bounded, DatapathState, Declared, DeploymentMode, Finding, Health, Heartbeat, Message,
    Sealer, SensorKey, Sight, Verdict, Visibility, VisibilityVerdict,
};

use super::{schema, tests::TempDb, SqliteStore};
use crate::{assurance::sight::SightRecord, ingest::ingest, store::Queries as _};

pub(super) const T: u64 = 1_795_000_000;
pub(super) const NOW: f64 = 1_795_001_000.0;

pub(super) fn health() -> Health {
    Health {
        agent_version: bounded("0.1.0"),
        datapath: DatapathState::Driver,
        interfaces: 1,
        spool_pending: 0,
        spool_evicted: 0,
        spool_torn: 0,
        spool_rejected: 0,
        events_lost: 0,
        malformed: 0,
        faults: 0,
        failing: 0,
    }
}

fn visibility(verdict: VisibilityVerdict, hosts: u32) -> Visibility {
    Visibility {
        verdict,
        packets: 1000,
        bytes: 64_000,
        hosts,
        outbound_packets: 600,
        inbound_packets: 400,
    }
}

/// A version 1 database as the previous collector wrote it: `sensor` with
/// first-revision heartbeats (sent at, verdict, hosts, chain), each in an
/// envelope of epoch 1.
fn version_one(
    db: &TempDb,
    sensor: &str,
    key: &str,
    beats: &[(u64, VisibilityVerdict, u32, &str)],
) {
    let conn = rusqlite::Connection::open(&db.0).expect("create");
    conn.execute_batch(schema::MIGRATIONS[0])
        .expect("v1 schema");
    conn.pragma_update(None, "user_version", 1)
        .expect("version 1");
    conn.execute(
        "INSERT INTO sensors VALUES (?1, ?2, 'acme', 'gw-old', 1.0)",
        params![sensor, key],
    )
    .expect("sensor");
    for (seq, (at, verdict, hosts, chain)) in (1_i64..).zip(beats) {
        conn.execute(
            "INSERT INTO envelopes (sensor, epoch, seq, hash, prev, kind, chain, received_at, wire)
             VALUES (?1, 1, ?2, zeroblob(16), zeroblob(16), 'heartbeat', ?3, ?4, x'00')",
            params![sensor, seq, chain, *at as f64 + 0.5],
        )
        .expect("envelope");
        conn.execute(
            "INSERT INTO heartbeats VALUES (last_insert_rowid(), ?1, 600, 60, ?2, ?3, ?4)",
            params![
                *at as i64,
                verdict.name(),
                serde_json::to_string(&health()).expect("json"),
                serde_json::to_string(&visibility(*verdict, *hosts)).expect("json"),
            ],
        )
        .expect("heartbeat");
    }
}

pub(super) fn seconds(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

pub(super) fn current(
    at: u64,
    verdict: Verdict,
    since: u64,
    hosts_seen: u32,
    findings: &[Finding],
) -> Message {
    Message::Heartbeat(Heartbeat {
        at,
        uptime_secs: 30,
        interval_secs: 60,
        health: health(),
        sight: Sight {
            verdict,
            since,
            window_secs: 300,
            packets: 9000,
            bytes: 5_400_000,
            hosts_seen,
            findings: findings.iter().copied().collect(),
            declared: Declared {
                mode: DeploymentMode::Mirror,
                hosts_min: 5,
                hosts_max: 10,
            },
            resolvers_seen: Default::default(),
        },
    })
}

pub(super) fn ingest_one(store: &mut SqliteStore, wire: &[u8], now: f64) {
    let mut ledger = store.begin().expect("begin");
    ingest(&mut ledger, wire, now).expect("ingest");
    ledger.commit().expect("commit");
}

#[test]
fn a_version_one_database_upgrades_in_place_and_keeps_counting() {
    let db = TempDb::new("sight-upgrade");
    let key = SensorKey::ephemeral().expect("key");
    let sensor = key.public().sensor_id().to_string();
    version_one(
        &db,
        &sensor,
        &key.public().to_hex(),
        &[
            (T, VisibilityVerdict::Sees, 3, "epoch_start"),
            (T + 60, VisibilityVerdict::Partial, 4, "linked"),
            // Off the chain: not counted.
            (T + 90, VisibilityVerdict::Unknown, 9, "broken"),
            (T + 120, VisibilityVerdict::Partial, 4, "linked"),
            // 200 s after the last: over three 60 s intervals.
            (T + 320, VisibilityVerdict::Blind, 0, "linked"),
        ],
    );
    let mut store = SqliteStore::open(&db.0).expect("open");
    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version");
    assert_eq!(version, schema::LATEST);
    let last = store
        .last_heartbeat(&sensor)
        .expect("read")
        .expect("a heartbeat");
    assert_eq!(
        last.visibility,
        Some(visibility(VisibilityVerdict::Blind, 0))
    );
    assert_eq!(
        last.sight,
        Some(SightRecord {
            revision: 1,
            verdict: Verdict::Blind,
            since: None,
            window_secs: None,
            packets: None,
            bytes: None,
            hosts_seen: 0,
            findings: vec![],
            declared: None,
            resolvers_seen: None,
        })
    );
    let converted: Vec<(String, u32)> = store
        .conn
        .prepare("SELECT sight_verdict, hosts_seen FROM heartbeats ORDER BY envelope_id")
        .expect("prepare")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let expected: Vec<(String, u32)> = [
        ("ok", 3),
        ("degraded", 4),
        ("unknown", 9),
        ("degraded", 4),
        ("blind", 0),
    ]
    .into_iter()
    .map(|(v, h)| (v.to_owned(), h))
    .collect();
    assert_eq!(converted, expected);
    // Its history, added up: ok 60, degraded 60, then 200 s silent.
    assert_eq!(
        store.verdict_times(&sensor).expect("times"),
        seconds(&[("ok", 60), ("degraded", 60), ("silent", 200)])
    );
    // A current heartbeat after the upgrade goes on from the last one:
    // blind from T+320 to T+350, then ok since T+350 to T+380.
    let mut sealer = Sealer::new(key, 2, 1, [0; 16]);
    let beat = sealer.seal(&current(T + 380, Verdict::Ok, T + 350, 7, &[]));
    ingest_one(&mut store, &beat.bytes, NOW);
    assert_eq!(
        store.verdict_times(&sensor).expect("times"),
        seconds(&[("ok", 90), ("degraded", 60), ("silent", 200), ("blind", 30)])
    );
    let last = store
        .last_heartbeat(&sensor)
        .expect("read")
        .expect("a heartbeat");
    assert_eq!(last.visibility, None);
    assert_eq!(
        last.sight
            .map(|s| (s.revision, s.verdict, s.hosts_seen, s.since)),
        Some((2, Verdict::Ok, 7, Some(T + 350)))
    );
    let old_words: String = store
        .conn
        .query_row(
            "SELECT verdict FROM heartbeats ORDER BY envelope_id DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .expect("verdict");
    assert_eq!(
        old_words, "sees",
        "the first revision's column keeps its words"
    );
}
