//! The collector's SQLite store: enrolled sensors and their contracts,
//! every accepted envelope (with its wire bytes, so a customer can re-verify
//! the chain), decoded alerts, detections (the highest revision of each),
//! digests and heartbeats, time in each verdict, detected gaps, and counters
//! of everything refused.
//!
//! The database runs in WAL mode with `synchronous = FULL`: once a
//! transaction commits, what it stored survives a crash or a power cut, so an
//! ack sent after the commit is a promise the collector keeps. Writes go
//! through a [`SqliteLedger`], one `BEGIN IMMEDIATE` transaction, committed
//! by its owner.

mod detections;
mod ledger;
mod queries;
mod schema;

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension as _};
use vantage_protocol::{PublicKey, SensorId};

use super::{Enrolled, StoreError};
use crate::assurance::contract::Contract;

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
    /// seconds), with no contract. See [`SqliteStore::enroll_with_contract`].
    pub fn enroll(
        &mut self,
        public_key: PublicKey,
        site: &str,
        name: &str,
        now: f64,
    ) -> Result<Enrolled, StoreError> {
        self.enroll_with_contract(public_key, site, name, &Contract::default(), now)
    }

    /// Registers `public_key` for `site` under `name` with `contract`, in one
    /// statement, stamped `now` (unix seconds). Fails with
    /// [`StoreError::AlreadyEnrolled`] if its sensor id is enrolled already.
    pub fn enroll_with_contract(
        &mut self,
        public_key: PublicKey,
        site: &str,
        name: &str,
        contract: &Contract,
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
        let terms = ContractColumns::of(contract);
        let changed_at = (!contract.is_empty()).then_some(now);
        self.conn
            .execute(
                "INSERT INTO sensors (sensor, public_key, site, name, enrolled_at,
                     contract_mode, contract_hosts_min, contract_hosts_max, contract_resolvers, contract_changed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    sensor.to_string(),
                    public_key.to_hex(),
                    site,
                    name,
                    now,
                    terms.mode,
                    terms.hosts_min,
                    terms.hosts_max,
                    terms.resolvers,
                    changed_at
                ],
            )
            .doing("enrolling a sensor")?;
        Ok(Enrolled {
            sensor,
            public_key,
            site: site.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Replaces the contract of the enrolled sensor `sensor` (its full id),
    /// stamped `now`. Fails with [`StoreError::NoSuchSensor`] if none has
    /// that id.
    pub fn set_contract(
        &mut self,
        sensor: &str,
        contract: &Contract,
        now: f64,
    ) -> Result<(), StoreError> {
        let terms = ContractColumns::of(contract);
        let changed = self
            .conn
            .execute(
                "UPDATE sensors SET contract_mode = ?2, contract_hosts_min = ?3, contract_hosts_max = ?4,
                     contract_resolvers = ?5, contract_changed_at = ?6
                 WHERE sensor = ?1",
                params![
                    sensor,
                    terms.mode,
                    terms.hosts_min,
                    terms.hosts_max,
                    terms.resolvers,
                    now
                ],
            )
            .doing("changing a contract")?;
        if changed == 0 {
            return Err(StoreError::NoSuchSensor {
                given: sensor.to_owned(),
            });
        }
        Ok(())
    }
}

/// A contract as its columns hold it.
struct ContractColumns {
    mode: Option<&'static str>,
    hosts_min: Option<u32>,
    hosts_max: Option<u32>,
    resolvers: String,
}

impl ContractColumns {
    fn of(contract: &Contract) -> ContractColumns {
        let resolvers: Vec<String> = contract.resolvers.iter().map(ToString::to_string).collect();
        ContractColumns {
            mode: contract.mode.map(|mode| mode.name()),
            hosts_min: contract.hosts.map(|range| range.min),
            hosts_max: contract.hosts.map(|range| range.max),
            resolvers: serde_json::to_string(&resolvers).unwrap_or_else(|_| "[]".to_owned()),
        }
    }

    /// The contract the columns read back as; a value that does not parse
    /// (written by hand) reads as the term not set.
    fn read(
        mode: Option<String>,
        hosts_min: Option<u32>,
        hosts_max: Option<u32>,
        resolvers: &str,
    ) -> Contract {
        let resolvers: Vec<String> = serde_json::from_str(resolvers).unwrap_or_default();
        Contract {
            mode: mode.and_then(|m| crate::assurance::contract::parse_mode(&m).ok().flatten()),
            hosts: hosts_min
                .zip(hosts_max)
                .map(|(min, max)| crate::assurance::contract::HostRange { min, max }),
            resolvers: resolvers.iter().filter_map(|r| r.parse().ok()).collect(),
        }
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
mod detection_health_tests;
#[cfg(test)]
mod detection_tests;
#[cfg(test)]
mod sight_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upgrade_tests;
