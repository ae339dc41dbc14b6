//! The collector's SQLite store: enrolled sensors, every accepted envelope
//! (with its wire bytes, so a customer can re-verify the chain), decoded
//! alerts and heartbeats, detected gaps, and counters of everything refused.
//!
//! The database runs in WAL mode with `synchronous = FULL`: once a
//! transaction commits, what it stored survives a crash or a power cut, so an
//! ack sent after the commit is a promise the collector keeps. Writes go
//! through a [`SqliteLedger`], one `BEGIN IMMEDIATE` transaction, committed
//! by its owner.

mod ledger;
mod queries;
mod schema;

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension as _};
use vantage_protocol::{PublicKey, SensorId};

use super::{Enrolled, StoreError};

pub use ledger::SqliteLedger;

/// Attaches the operation to a SQLite error.
trait Doing<T> {
    fn doing(self, doing: &'static str) -> Result<T, StoreError>;
}

impl<T> Doing<T> for Result<T, rusqlite::Error> {
    fn doing(self, doing: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlite { doing, source })
    }
}

/// The open database.
pub struct SqliteStore {
    conn: Connection,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`, in WAL mode
    /// with `synchronous = FULL`, and brings its schema up to date.
    ///
    /// Fails with [`StoreError::NewerSchema`] on a database written by a
    /// newer collector, and [`StoreError::Sqlite`] on any SQLite failure.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut conn = Connection::open(path).doing("opening the database")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .doing("setting the busy timeout")?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .doing("enabling WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")
            .doing("setting synchronous=FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .doing("enabling foreign keys")?;
        schema::migrate(&mut conn)?;
        Ok(SqliteStore { conn })
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`): the [`Ledger`]
    /// ingest works in. Nothing it wrote is kept unless it is committed.
    ///
    /// [`Ledger`]: super::Ledger
    pub fn begin(&mut self) -> Result<SqliteLedger<'_>, StoreError> {
        self.conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .doing("starting a transaction")
            .map(SqliteLedger::new)
    }

    /// Registers `public_key` for `site` under `name`, stamped `now` (unix
    /// seconds). Fails with [`StoreError::AlreadyEnrolled`] if its sensor id
    /// is enrolled already.
    pub fn enroll(
        &mut self,
        public_key: PublicKey,
        site: &str,
        name: &str,
        now: f64,
    ) -> Result<Enrolled, StoreError> {
        let sensor = public_key.sensor_id();
        if let Some(existing) = enrolled(&self.conn, sensor)? {
            return Err(StoreError::AlreadyEnrolled {
                sensor: sensor.to_string(),
                site: existing.site,
                name: existing.name,
            });
        }
        self.conn
            .execute(
                "INSERT INTO sensors (sensor, public_key, site, name, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![sensor.to_string(), public_key.to_hex(), site, name, now],
            )
            .doing("enrolling a sensor")?;
        Ok(Enrolled {
            sensor,
            public_key,
            site: site.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// The enrolled sensor with this id, if any (and if its stored key parses).
fn enrolled(conn: &Connection, sensor: SensorId) -> Result<Option<Enrolled>, StoreError> {
    let row = conn
        .query_row(
            "SELECT public_key, site, name FROM sensors WHERE sensor = ?1",
            params![sensor.to_string()],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            },
        )
        .optional()
        .doing("looking up a sensor")?;
    Ok(row.and_then(|(key, site, name)| {
        Some(Enrolled {
            sensor,
            public_key: PublicKey::from_hex(&key).ok()?,
            site,
            name,
        })
    }))
}

/// SQLite integers are signed; sequence numbers (and timestamps) above
/// i64::MAX are stored wrapped (bit-identical), which keeps uniqueness and
/// equality.
fn seq_param(seq: u64) -> i64 {
    i64::from_ne_bytes(seq.to_ne_bytes())
}

/// The inverse of [`seq_param`].
fn seq_from_column(value: i64) -> u64 {
    u64::from_ne_bytes(value.to_ne_bytes())
}

/// A count column as u64 (negative counts, which cannot happen, read as 0).
fn count_from_column(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests;
