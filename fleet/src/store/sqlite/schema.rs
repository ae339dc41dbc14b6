//! The SQLite schema and its migrations. The file's `user_version` is the
//! number of migrations applied; the missing ones run in one transaction
//! together with the version bump, so a crash leaves either the old or the
//! new schema. Migration 1 is written with `IF NOT EXISTS`, so databases
//! created before versioning (version 0, tables present) are adopted as they
//! are.
//!
//! Migration 2 adds visibility assurance in place: each sensor's contract
//! (`sensors.contract_*`), each heartbeat's sight in the current form
//! (stored heartbeats of the first revision converted: `sees` -> `ok`,
//! `partial` -> `degraded`, their host count as `hosts_seen`), and time in
//! each verdict (`verdict_marks`, `verdict_times`), added up from the
//! heartbeats already stored by the rule of `assurance::dwell`.
//!
//! Migration 3 adds detections and digests: `detections` holds one row per
//! (sensor, alert id), the highest revision received (the upsert in
//! `SqliteLedger::apply_detection` replaces a row only with a higher
//! revision and counts the update); `digests` one row per digest envelope.
//! Every revision's envelope stays in `envelopes` with its wire bytes.
//!
//! Migration 4 adds the detection health a detection heartbeat carries:
//! five `detect_*` columns on `heartbeats`, NULL for every heartbeat that
//! carried none (all rows before the upgrade, first-revision and plain
//! heartbeats, sensors with detection off). A sensor's latest detection
//! health is that of its last heartbeat.
//!
//! `UNIQUE (sensor, epoch, seq)` on `envelopes` is what decides duplicates:
//! an insert at a taken position does nothing (see `SqliteLedger`), so
//! several collectors writing one database cannot both store a position.

use rusqlite::{Connection, TransactionBehavior};

use super::Doing as _;
use crate::store::StoreError;

/// Version 1: sensors, envelopes, alerts, heartbeats, gaps, counters.
const V1: &str = "
CREATE TABLE IF NOT EXISTS sensors (
    sensor      TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL,
    site        TEXT NOT NULL,
    name        TEXT NOT NULL,
    enrolled_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS envelopes (
    id          INTEGER PRIMARY KEY,
    sensor      TEXT NOT NULL REFERENCES sensors(sensor),
    epoch       INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    hash        BLOB NOT NULL,
    prev        BLOB NOT NULL,
    kind        TEXT NOT NULL,
    chain       TEXT NOT NULL,
    received_at REAL NOT NULL,
    wire        BLOB NOT NULL,
    UNIQUE (sensor, epoch, seq)
);
CREATE TABLE IF NOT EXISTS alerts (
    envelope_id INTEGER PRIMARY KEY REFERENCES envelopes(id),
    raised_at   INTEGER NOT NULL,
    severity    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    host        TEXT NOT NULL,
    peer        TEXT,
    port        INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    detail      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS heartbeats (
    envelope_id   INTEGER PRIMARY KEY REFERENCES envelopes(id),
    sent_at       INTEGER NOT NULL,
    uptime_secs   INTEGER NOT NULL,
    interval_secs INTEGER NOT NULL,
    verdict       TEXT NOT NULL,
    health        TEXT NOT NULL,
    visibility    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS gaps (
    id            INTEGER PRIMARY KEY,
    sensor        TEXT NOT NULL,
    epoch         INTEGER NOT NULL,
    first_missing INTEGER NOT NULL,
    last_missing  INTEGER NOT NULL,
    detected_at   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name   TEXT NOT NULL,
    sensor TEXT NOT NULL,
    count  INTEGER NOT NULL,
    last_at REAL NOT NULL,
    PRIMARY KEY (name, sensor)
);
";

/// Version 2: contracts, sight columns on heartbeats, time in each verdict.
/// `heartbeats.verdict` and `heartbeats.visibility` keep the first
/// revision's words and JSON (`visibility` is `null` for a current
/// heartbeat); `sight_verdict` holds the current verdict for every row.
const V2: &str = "
ALTER TABLE sensors ADD COLUMN contract_mode TEXT;
ALTER TABLE sensors ADD COLUMN contract_hosts_min INTEGER;
ALTER TABLE sensors ADD COLUMN contract_hosts_max INTEGER;
ALTER TABLE sensors ADD COLUMN contract_resolvers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sensors ADD COLUMN contract_changed_at REAL;

ALTER TABLE heartbeats ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
ALTER TABLE heartbeats ADD COLUMN sight_verdict TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE heartbeats ADD COLUMN findings TEXT NOT NULL DEFAULT '[]';
ALTER TABLE heartbeats ADD COLUMN hosts_seen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE heartbeats ADD COLUMN declared_mode TEXT;
ALTER TABLE heartbeats ADD COLUMN declared_hosts_min INTEGER;
ALTER TABLE heartbeats ADD COLUMN declared_hosts_max INTEGER;
ALTER TABLE heartbeats ADD COLUMN sight_since INTEGER;
ALTER TABLE heartbeats ADD COLUMN window_secs INTEGER;
ALTER TABLE heartbeats ADD COLUMN sight_packets INTEGER;
ALTER TABLE heartbeats ADD COLUMN sight_bytes INTEGER;
ALTER TABLE heartbeats ADD COLUMN resolvers_seen TEXT;
UPDATE heartbeats SET
    sight_verdict = CASE verdict
        WHEN 'sees' THEN 'ok' WHEN 'partial' THEN 'degraded' WHEN 'blind' THEN 'blind'
        ELSE 'unknown' END,
    hosts_seen = COALESCE(json_extract(visibility, '$.hosts'), 0);

CREATE TABLE verdict_marks (
    sensor        TEXT PRIMARY KEY REFERENCES sensors(sensor),
    at            INTEGER NOT NULL,
    verdict       TEXT NOT NULL,
    interval_secs INTEGER NOT NULL
);
CREATE TABLE verdict_times (
    sensor TEXT NOT NULL REFERENCES sensors(sensor),
    state  TEXT NOT NULL,
    secs   INTEGER NOT NULL,
    PRIMARY KEY (sensor, state)
);
INSERT INTO verdict_times (sensor, state, secs)
SELECT sensor, state, SUM(at - prev_at) FROM (
    SELECT sensor, at, prev_at,
           CASE WHEN at - prev_at > 3 * MAX(prev_interval, 1) THEN 'silent'
                ELSE prev_verdict END AS state
    FROM (
        SELECT e.sensor, h.sent_at AS at,
               LAG(h.sent_at) OVER w AS prev_at,
               LAG(h.sight_verdict) OVER w AS prev_verdict,
               LAG(h.interval_secs) OVER w AS prev_interval
        FROM heartbeats h JOIN envelopes e ON e.id = h.envelope_id
        WHERE e.chain != 'broken'
        WINDOW w AS (PARTITION BY e.sensor ORDER BY h.sent_at, e.id)
    )
    WHERE prev_at IS NOT NULL AND at > prev_at
)
GROUP BY sensor, state;
INSERT INTO verdict_marks (sensor, at, verdict, interval_secs)
SELECT sensor, at, verdict, interval_secs FROM (
    SELECT e.sensor, h.sent_at AS at, h.sight_verdict AS verdict, h.interval_secs,
           ROW_NUMBER() OVER (PARTITION BY e.sensor ORDER BY h.sent_at DESC, e.id DESC) AS n
    FROM heartbeats h JOIN envelopes e ON e.id = h.envelope_id
    WHERE e.chain != 'broken'
)
WHERE n = 1;
";

/// Version 3: detections (the kept revision of each sensor's alert id) and
/// daily digests. `envelope_id` is the kept revision's envelope (it moves
/// with each update), `first_envelope_id` the first one stored. A figure
/// that is not a number is stored as NULL; facts are JSON
/// `[["unanswered", 295.0], ...]`, a digest's counts JSON objects by name
/// and its top hosts `[["10.0.0.8", 3], ...]`.
const V3: &str = "
CREATE TABLE detections (
    sensor            TEXT NOT NULL REFERENCES sensors(sensor),
    alert_id          INTEGER NOT NULL,
    envelope_id       INTEGER NOT NULL REFERENCES envelopes(id),
    first_envelope_id INTEGER NOT NULL REFERENCES envelopes(id),
    revision          INTEGER NOT NULL,
    updates           INTEGER NOT NULL,
    raised_at         INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    detector          TEXT NOT NULL,
    severity          TEXT NOT NULL,
    score             INTEGER NOT NULL,
    host              TEXT NOT NULL,
    peer              TEXT,
    port              INTEGER NOT NULL,
    domain            TEXT,
    observed          REAL,
    threshold         REAL,
    window_secs       INTEGER NOT NULL,
    confidence        INTEGER NOT NULL,
    facts             TEXT NOT NULL,
    action            TEXT NOT NULL,
    ttl_secs          INTEGER NOT NULL,
    reason            TEXT NOT NULL,
    blast_radius      INTEGER NOT NULL,
    PRIMARY KEY (sensor, alert_id)
);
CREATE INDEX detections_by_envelope ON detections (envelope_id);
CREATE TABLE digests (
    envelope_id INTEGER PRIMARY KEY REFERENCES envelopes(id),
    sent_at     INTEGER NOT NULL,
    day         TEXT NOT NULL,
    detections  TEXT NOT NULL,
    actions     TEXT NOT NULL,
    top_hosts   TEXT NOT NULL,
    suppressed  INTEGER NOT NULL
);
";

/// Version 4: the detection health of detection heartbeats (NULL when a
/// heartbeat carried none): alerts the rate caps suppressed and alerts
/// raised since the agent started, alerts open, blocks in force, and
/// alert-only as 0 or 1.
const V4: &str = "
ALTER TABLE heartbeats ADD COLUMN detect_suppressed INTEGER;
ALTER TABLE heartbeats ADD COLUMN detect_raised INTEGER;
ALTER TABLE heartbeats ADD COLUMN detect_open_alerts INTEGER;
ALTER TABLE heartbeats ADD COLUMN detect_active_blocks INTEGER;
ALTER TABLE heartbeats ADD COLUMN detect_alert_only INTEGER;
";

/// Every migration, in order; migration `i` brings the file to version `i + 1`.
pub(super) const MIGRATIONS: [&str; 4] = [V1, V2, V3, V4];

/// The schema version this build writes.
pub(super) const LATEST: i64 = MIGRATIONS.len() as i64;

fn version(conn: &Connection) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .doing("reading the schema version")
}

/// Applies the migrations the file lacks. A file already up to date costs one
/// read and takes no write lock.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    if version(conn)? == LATEST {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .doing("starting a migration")?;
    // Another process may have migrated while this one waited for the lock.
    let found = version(&tx)?;
    if found > LATEST {
        return Err(StoreError::NewerSchema {
            found,
            supported: LATEST,
        });
    }
    for (applied, sql) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(found).unwrap_or(0))
    {
        tx.execute_batch(sql).doing("creating the schema")?;
        tx.pragma_update(None, "user_version", applied)
            .doing("recording the schema version")?;
    }
    tx.commit().doing("committing the schema")
}
