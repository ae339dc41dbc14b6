//! The collector's SQLite store: enrolled sensors, every accepted envelope
//! (with its wire bytes, so a customer can re-verify the chain), decoded
//! alerts and heartbeats, detected gaps, and counters of everything refused.
//!
//! The database runs in WAL mode with `synchronous = FULL`: once a
//! transaction commits, what it stored survives a crash or a power cut, so an
//! ack sent after the commit is a promise the collector keeps.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension as _, Transaction};
use vantage_protocol::{ChainHash, PublicKey, SensorId};

/// Storage failures, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{doing}: {source}")]
    Sqlite {
        doing: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("sensor {sensor} is already enrolled (site {site:?}, name {name:?})")]
    AlreadyEnrolled {
        sensor: String,
        site: String,
        name: String,
    },
    #[error("no enrolled sensor matches {0:?}")]
    UnknownSensor(String),
}

pub(crate) trait Doing<T> {
    fn doing(self, doing: &'static str) -> Result<T, StoreError>;
}

impl<T> Doing<T> for Result<T, rusqlite::Error> {
    fn doing(self, doing: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlite { doing, source })
    }
}

const SCHEMA: &str = "
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

/// An enrolled sensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolled {
    pub sensor: SensorId,
    pub public_key: PublicKey,
    pub site: String,
    pub name: String,
}

/// What the ingest logic needs to know about a stored envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredLink {
    pub hash: ChainHash,
    pub prev: ChainHash,
}

/// The open database.
pub struct Store {
    conn: Connection,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path).doing("opening the database")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .doing("setting the busy timeout")?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .doing("enabling WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")
            .doing("setting synchronous=FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .doing("enabling foreign keys")?;
        conn.execute_batch(SCHEMA).doing("creating the schema")?;
        Ok(Store { conn })
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Starts a write transaction.
    pub fn transaction(&mut self) -> Result<Transaction<'_>, StoreError> {
        self.conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .doing("starting a transaction")
    }

    /// Registers `public_key` for `site` under `name`.
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

/// The enrolled sensor with this id, if any.
pub fn enrolled(conn: &Connection, sensor: SensorId) -> Result<Option<Enrolled>, StoreError> {
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

/// The stored envelope at this position, if any.
pub fn link_at(
    conn: &Connection,
    sensor: SensorId,
    epoch: u32,
    seq: u64,
) -> Result<Option<StoredLink>, StoreError> {
    conn.query_row(
        "SELECT hash, prev FROM envelopes WHERE sensor = ?1 AND epoch = ?2 AND seq = ?3",
        params![sensor.to_string(), epoch, seq_param(seq)],
        |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?)),
    )
    .optional()
    .doing("looking up a chain position")
    .map(|found| {
        found.and_then(|(hash, prev)| {
            Some(StoredLink {
                hash: hash.try_into().ok()?,
                prev: prev.try_into().ok()?,
            })
        })
    })
}

/// Highest stored sequence number of a sensor's epoch (0 when none).
pub fn max_seq(conn: &Connection, sensor: SensorId, epoch: u32) -> Result<u64, StoreError> {
    conn.query_row(
        "SELECT COALESCE(MAX(seq), 0) FROM envelopes WHERE sensor = ?1 AND epoch = ?2",
        params![sensor.to_string(), epoch],
        |row| row.get::<_, i64>(0),
    )
    .doing("finding the last sequence number")
    .map(|seq| u64::try_from(seq).unwrap_or(0))
}

/// Adds one to a named counter, per sensor ("" when the sensor is unknown).
pub fn bump_counter(
    conn: &Connection,
    name: &str,
    sensor: &str,
    now: f64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO counters (name, sensor, count, last_at) VALUES (?1, ?2, 1, ?3)
         ON CONFLICT (name, sensor) DO UPDATE SET count = count + 1, last_at = ?3",
        params![name, sensor, now],
    )
    .doing("counting")
    .map(|_| ())
}

/// SQLite integers are signed; sequence numbers above i64::MAX are stored
/// wrapped (bit-identical), which keeps uniqueness and equality.
pub fn seq_param(seq: u64) -> i64 {
    i64::from_ne_bytes(seq.to_ne_bytes())
}

pub fn seq_from_column(value: i64) -> u64 {
    u64::from_ne_bytes(value.to_ne_bytes())
}
