//! Detection health in a real SQLite file: each heartbeat row keeps the
//! detection health it carried (NULL when none), a sensor's latest is that
//! of its last genuine heartbeat (gone again when detection is turned
//! off), and a version 3 database gains the columns in place, its stored
//! heartbeats reading back with none.

use rusqlite::params;
use vantage_protocol::{
    DetectionHealth, DetectionHeartbeat, Heartbeat, Message, Sealer, SensorKey, Verdict,
};

use super::{
    schema,
    tests::TempDb,
    upgrade_tests::{current, health, T},
    SqliteStore,
};
use crate::{ingest::ingest, record::ChainStatus, store::Queries as _};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

/// A heartbeat row's detection columns: suppressed, raised, open alerts,
/// active blocks, alert-only.
type Columns = (
    Option<u32>,
    Option<u32>,
    Option<u16>,
    Option<u16>,
    Option<bool>,
);

const NOW: f64 = 1_795_001_000.0;

/// A current heartbeat sent at `at`, ok since `T`.
fn beat(at: u64) -> std::result::Result<Heartbeat, Box<dyn std::error::Error>> {
    current(at, Verdict::Ok, T, 7, &[])
        .heartbeat()
        .cloned()
        .ok_or_else(|| "not a heartbeat".into())
}

fn detection(suppressed: u32, open_alerts: u16, alert_only: bool) -> DetectionHealth {
    DetectionHealth {
        suppressed,
        raised: 130,
        open_alerts,
        active_blocks: 1,
        alert_only,
    }
}

fn with_detection(heartbeat: Heartbeat, detection: DetectionHealth) -> Message {
    Message::DetectionHeartbeat(DetectionHeartbeat {
        heartbeat,
        detection,
    })
}

/// Seals and ingests `message` in its own transaction; its chain status.
fn send(
    store: &mut SqliteStore,
    sealer: &mut Sealer,
    message: &Message,
    now: f64,
) -> std::result::Result<Option<ChainStatus>, Box<dyn std::error::Error>> {
    let sealed = sealer.seal(message);
    let mut ledger = store.begin()?;
    let ingested = ingest(&mut ledger, &sealed.bytes, now)?;
    ledger.commit()?;
    Ok(ingested.chain)
}

/// The sensor's latest detection health, as the fleet view reads it.
fn latest(
    store: &SqliteStore,
    sensor: &str,
) -> std::result::Result<Option<DetectionHealth>, Box<dyn std::error::Error>> {
    Ok(store
        .last_heartbeat(sensor)?
        .and_then(|beat| beat.detection))
}

#[test]
fn the_latest_detection_health_is_that_of_the_last_heartbeat() -> Result {
    let db = TempDb::new("detection-health");
    let mut store = SqliteStore::open(&db.0)?;
    let key = SensorKey::ephemeral()?;
    store.enroll(key.public(), "acme", "gw1", NOW)?;
    let mut sealer = Sealer::new(key, 9, 1, [0; 16]);
    let id = sealer.sensor().to_string();

    send(
        &mut store,
        &mut sealer,
        &Message::Heartbeat(beat(T + 60)?),
        NOW,
    )?;
    assert_eq!(latest(&store, &id)?, None);
    let first = with_detection(beat(T + 120)?, detection(0, 2, false));
    send(&mut store, &mut sealer, &first, NOW + 60.0)?;
    assert_eq!(latest(&store, &id)?, Some(detection(0, 2, false)));
    let second = with_detection(beat(T + 180)?, detection(4, 3, true));
    send(&mut store, &mut sealer, &second, NOW + 120.0)?;
    assert_eq!(
        latest(&store, &id)?,
        Some(DetectionHealth {
            suppressed: 4,
            raised: 130,
            open_alerts: 3,
            active_blocks: 1,
            alert_only: true,
        })
    );
    // Signed but off the chain: stored, never the latest.
    let forged = sealer.seal_at(
        9,
        sealer.next_seq(),
        [0xee; 16],
        &with_detection(beat(T + 240)?, detection(99, 9, false)).encode(),
    );
    let mut ledger = store.begin()?;
    let ingested = ingest(&mut ledger, &forged.bytes, NOW + 180.0)?;
    ledger.commit()?;
    assert_eq!(ingested.chain, Some(ChainStatus::Broken));
    assert_eq!(latest(&store, &id)?, Some(detection(4, 3, true)));
    // Restarted with detection off (a new epoch): the last heartbeat
    // carries none.
    let restarted = sealer.seal_at(
        10,
        1,
        sealer.prev(),
        &Message::Heartbeat(beat(T + 300)?).encode(),
    );
    let mut ledger = store.begin()?;
    let ingested = ingest(&mut ledger, &restarted.bytes, NOW + 240.0)?;
    ledger.commit()?;
    assert_eq!(ingested.chain, Some(ChainStatus::EpochStart));
    assert_eq!(latest(&store, &id)?, None);

    let rows: Vec<Columns> = store
        .conn
        .prepare(
            "SELECT detect_suppressed, detect_raised, detect_open_alerts, detect_active_blocks,
                    detect_alert_only
             FROM heartbeats ORDER BY envelope_id",
        )?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?
        .collect::<std::result::Result<_, _>>()?;
    assert_eq!(
        rows,
        [
            (None, None, None, None, None),
            (Some(0), Some(130), Some(2), Some(1), Some(false)),
            (Some(4), Some(130), Some(3), Some(1), Some(true)),
            (Some(99), Some(130), Some(9), Some(1), Some(false)),
            (None, None, None, None, None),
        ]
    );
    Ok(())
}

#[test]
fn a_version_three_database_gains_detection_health_in_place() -> Result {
    let db = TempDb::new("detection-health-upgrade");
    let key = SensorKey::ephemeral()?;
    let id = key.public().sensor_id().to_string();
    {
        let conn = rusqlite::Connection::open(&db.0)?;
        for sql in &schema::MIGRATIONS[..3] {
            conn.execute_batch(sql)?;
        }
        conn.pragma_update(None, "user_version", 3)?;
        conn.execute(
            "INSERT INTO sensors (sensor, public_key, site, name, enrolled_at)
             VALUES (?1, ?2, 'acme', 'gw-3', 1.0)",
            params![id, key.public().to_hex()],
        )?;
        conn.execute(
            "INSERT INTO envelopes (sensor, epoch, seq, hash, prev, kind, chain, received_at, wire)
             VALUES (?1, 1, 1, zeroblob(16), zeroblob(16), 'heartbeat', 'epoch_start', ?2, x'00')",
            params![id, NOW],
        )?;
        conn.execute(
            "INSERT INTO heartbeats (envelope_id, sent_at, uptime_secs, interval_secs, verdict,
                 health, visibility, revision, sight_verdict, hosts_seen)
             VALUES (last_insert_rowid(), ?1, 600, 60, 'sees', ?2, 'null', 2, 'ok', 7)",
            params![T as i64, serde_json::to_string(&health())?],
        )?;
    }
    let mut store = SqliteStore::open(&db.0)?;
    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |row| row.get(0))?;
    assert_eq!(version, schema::LATEST);
    assert_eq!(version, 4);
    let old = store.last_heartbeat(&id)?.ok_or("no heartbeat")?;
    assert_eq!((old.sent_at, old.detection), (T, None));
    assert_eq!(
        old.sight.map(|s| (s.verdict, s.hosts_seen)),
        Some((Verdict::Ok, 7))
    );

    let mut sealer = Sealer::new(key, 2, 1, [0; 16]);
    let next = with_detection(beat(T + 60)?, detection(4, 3, true));
    send(&mut store, &mut sealer, &next, NOW + 60.0)?;
    assert_eq!(latest(&store, &id)?, Some(detection(4, 3, true)));
    Ok(())
}
