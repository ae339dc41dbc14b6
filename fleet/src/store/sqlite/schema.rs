//! The SQLite schema and its migrations. The file's `user_version` is the
//! number of migrations applied; the missing ones run in one transaction
//! together with the version bump, so a crash leaves either the old or the
//! new schema. Migration 1 is written with `IF NOT EXISTS`, so databases
//! created before versioning (version 0, tables present) are adopted as they
//! are.
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

/// Every migration, in order; migration `i` brings the file to version `i + 1`.
pub(super) const MIGRATIONS: [&str; 1] = [V1];

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
