//! The collector's storage boundary. Everything that names a database lives
//! under this module; the rest of the collector sees two interfaces:
//!
//! - [`Ledger`], what ingest needs while it decides about one envelope: the
//!   enrolled key of a sensor, the chain link stored at a position, the
//!   highest sequence number of an epoch, the last heartbeat counted for
//!   time in state, and inserts (envelopes, alerts, heartbeats, gaps,
//!   counters, time in state, digests); a detection is applied to the alert
//!   it updates, keeping the highest revision. Inserting an envelope is
//!   insert-or-detect:
//!   a position (sensor, epoch, sequence) already taken is reported as
//!   [`Insert::Taken`], never overwritten, so several collectors could share
//!   one database.
//! - [`Queries`], what the fleet view, the alerts listing and the SIEM
//!   exports read.
//!
//! [`SqliteStore`] implements both on a SQLite file; tests of the ingest
//! logic use an in-memory [`Ledger`] (`memory`, test builds only).

#[cfg(test)]
pub mod memory;
pub mod sqlite;

use std::collections::BTreeMap;

use vantage_protocol::{Alert, AlertKind, ChainHash, Detection, Digest, PublicKey, SensorId};

use crate::{
    assurance::{contract::Contract, dwell},
    record::{
        AlertFilter, AlertRecord, ChainStatus, DetectionRecord, DigestFilter, DigestRecord,
        HeartbeatRecord, LastHeartbeat,
    },
};

pub use sqlite::{SqliteLedger, SqliteStore};

/// Storage failures, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused or failed `doing`.
    #[error("{doing}: {source}")]
    Sqlite {
        /// What the store was doing, e.g. "storing an envelope".
        doing: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// `enroll` for a key whose sensor id is already enrolled.
    #[error("sensor {sensor} is already enrolled (site {site:?}, name {name:?})")]
    AlreadyEnrolled {
        /// The sensor id (16 hex digits).
        sensor: String,
        /// Site it is enrolled for.
        site: String,
        /// Name it is enrolled under.
        name: String,
    },
    /// The database was written by a newer collector.
    #[error(
        "the database has schema version {found}; this collector knows versions up to {supported}"
    )]
    NewerSchema {
        /// `user_version` found in the file.
        found: i64,
        /// Highest version this build can migrate to.
        supported: i64,
    },
    /// No enrolled sensor's id is or starts with what was given.
    #[error("no enrolled sensor is {given:?} or has an id starting with it")]
    NoSuchSensor {
        /// The id or prefix given.
        given: String,
    },
    /// Several enrolled sensors' ids start with what was given.
    #[error("{given:?} is the start of several sensor ids ({}): give more digits", matches.join(", "))]
    AmbiguousSensor {
        /// The prefix given.
        given: String,
        /// The ids it starts.
        matches: Vec<String>,
    },
    /// An insert found a position taken but the row there cannot be read
    /// back (its hash columns are not 16 bytes): the database is damaged.
    #[error("position {epoch}/{seq} of sensor {sensor} is taken but its stored chain link is unreadable")]
    UnreadableLink {
        /// The sensor id (16 hex digits).
        sensor: String,
        /// Boot epoch of the position.
        epoch: u32,
        /// Sequence number of the position.
        seq: u64,
    },
}

/// An enrolled sensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolled {
    /// Its id: the first 8 bytes of its key's hash.
    pub sensor: SensorId,
    /// The key its envelopes must be signed with.
    pub public_key: PublicKey,
    /// Customer site it protects.
    pub site: String,
    /// Name shown for it.
    pub name: String,
}

/// What the ingest logic needs to know about a stored envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredLink {
    /// The stored envelope's chain hash.
    pub hash: ChainHash,
    /// The chain hash it names as its predecessor.
    pub prev: ChainHash,
}

/// A verified envelope about to be stored.
#[derive(Clone, Copy, Debug)]
pub struct NewEnvelope<'a> {
    /// Sensor that signed it.
    pub sensor: SensorId,
    /// Boot epoch.
    pub epoch: u32,
    /// Sequence number within the epoch (from 1).
    pub seq: u64,
    /// Its chain hash.
    pub hash: ChainHash,
    /// The chain hash it names as its predecessor.
    pub prev: ChainHash,
    /// Kind of message it carries (`alert`, `heartbeat`, `enrolment`).
    pub kind: &'static str,
    /// How it fits its sensor's chain.
    pub chain: ChainStatus,
    /// Unix seconds (fractional) when the collector received it.
    pub received_at: f64,
    /// Its exact wire bytes, kept so a customer can re-verify the chain.
    pub wire: &'a [u8],
}

/// What became of an envelope insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// Stored under this row id (ids increase with arrival).
    Stored {
        /// Row id of the new envelope.
        id: i64,
    },
    /// Another envelope already holds this (sensor, epoch, seq); nothing
    /// was written.
    Taken,
}

/// What became of a detection handed to the store: decided by the store's
/// write (an upsert that only replaces a lower revision), not by a read
/// before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The first revision stored of its (sensor, alert id).
    New,
    /// Higher than the revision kept: it replaced it, and the alert's
    /// update count went up by one.
    Updated,
    /// Not higher than the revision kept: nothing was written (an alert
    /// never goes backwards).
    Stale,
}

/// Sequence numbers of an epoch found missing when a later one arrived.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gap {
    /// The sensor whose envelopes are missing.
    pub sensor: SensorId,
    /// Their boot epoch.
    pub epoch: u32,
    /// First missing sequence number.
    pub first_missing: u64,
    /// Last missing sequence number (inclusive).
    pub last_missing: u64,
    /// Unix seconds when the gap was seen.
    pub detected_at: f64,
}

/// The reads and writes ingest needs, inside one unit of work (for SQLite,
/// one transaction that the caller commits).
pub trait Ledger {
    /// The enrolled sensor with this id, if any.
    fn enrolled(&self, sensor: SensorId) -> Result<Option<Enrolled>, StoreError>;

    /// The envelope stored at this position, if any.
    fn link_at(
        &self,
        sensor: SensorId,
        epoch: u32,
        seq: u64,
    ) -> Result<Option<StoredLink>, StoreError>;

    /// Highest stored sequence number of a sensor's epoch (0 when none).
    fn max_seq(&self, sensor: SensorId, epoch: u32) -> Result<u64, StoreError>;

    /// Stores an envelope unless its position is taken (see [`Insert`]).
    fn insert_envelope(&mut self, envelope: &NewEnvelope<'_>) -> Result<Insert, StoreError>;

    /// Stores the alert carried by the envelope with row id `envelope_id`.
    fn insert_alert(&mut self, envelope_id: i64, alert: &Alert) -> Result<(), StoreError>;

    /// Applies the detection carried by the envelope with row id
    /// `envelope_id` to the sensor's alert `detection.alert_id`: stores it
    /// if the alert is new, replaces the kept revision if it is higher
    /// (counting an update), else leaves everything as it is.
    fn apply_detection(
        &mut self,
        envelope_id: i64,
        sensor: SensorId,
        detection: &Detection,
    ) -> Result<Applied, StoreError>;

    /// Stores the digest carried by the envelope with row id `envelope_id`.
    fn insert_digest(&mut self, envelope_id: i64, digest: &Digest) -> Result<(), StoreError>;

    /// Stores the heartbeat (of either kind) carried by the envelope with
    /// row id `envelope_id`.
    fn insert_heartbeat(
        &mut self,
        envelope_id: i64,
        heartbeat: &HeartbeatRecord,
    ) -> Result<(), StoreError>;

    /// The last heartbeat counted for the sensor's time in state, if any.
    fn verdict_mark(&self, sensor: SensorId) -> Result<Option<dwell::Mark>, StoreError>;

    /// Adds `advance.spent` to the sensor's time in each state and keeps
    /// `advance.mark` as its last heartbeat counted.
    fn advance_verdict_clock(
        &mut self,
        sensor: SensorId,
        advance: &dwell::Advance,
    ) -> Result<(), StoreError>;

    /// Records a gap in a sensor's chain.
    fn insert_gap(&mut self, gap: &Gap) -> Result<(), StoreError>;

    /// Adds one to the counter `name` of `sensor` (`None`: input that names
    /// no sensor at all), stamping it with `now` (unix seconds).
    fn bump_counter(
        &mut self,
        name: &str,
        sensor: Option<SensorId>,
        now: f64,
    ) -> Result<(), StoreError>;
}

/// An enrolled sensor as stored, for the fleet view.
#[derive(Clone, Debug, PartialEq)]
pub struct SensorRow {
    /// Sensor id (16 hex digits).
    pub sensor: String,
    /// Its public key as stored (64 hex digits).
    pub public_key: String,
    /// Customer site.
    pub site: String,
    /// Name shown for it.
    pub name: String,
    /// Unix seconds of its enrolment.
    pub enrolled_at: f64,
    /// What the MSSP expects of its site.
    pub contract: Contract,
    /// Unix seconds when the contract was last set (`None`: never).
    pub contract_changed_at: Option<f64>,
}

/// How many envelopes a sensor has stored, missing and broken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EnvelopeCounts {
    /// Envelopes stored.
    pub envelopes: u64,
    /// Sequence numbers below an epoch's highest that never arrived.
    pub missing: u64,
    /// Envelopes flagged as breaking the chain.
    pub broken: u64,
}

/// The reads behind the fleet view, the alerts listing and SIEM exports.
/// Sensors are named by their id text (16 hex digits, `""` for counters of
/// input that named no sensor).
pub trait Queries {
    /// Every enrolled sensor, ordered by site then name.
    fn sensors(&self) -> Result<Vec<SensorRow>, StoreError>;

    /// The id of the enrolled sensor whose id is `given` or starts with it
    /// (case-insensitive). Fails with [`StoreError::NoSuchSensor`] or
    /// [`StoreError::AmbiguousSensor`].
    fn resolve_sensor(&self, given: &str) -> Result<String, StoreError> {
        let given_lower = given.trim().to_ascii_lowercase();
        let ids: Vec<String> = self
            .sensors()?
            .into_iter()
            .map(|row| row.sensor)
            .filter(|id| id.starts_with(&given_lower))
            .collect();
        if given_lower.is_empty() || ids.is_empty() {
            return Err(StoreError::NoSuchSensor {
                given: given.to_owned(),
            });
        }
        if let Some(exact) = ids.iter().find(|id| **id == given_lower) {
            return Ok(exact.clone());
        }
        match <[String; 1]>::try_from(ids) {
            Ok([one]) => Ok(one),
            Err(matches) => Err(StoreError::AmbiguousSensor {
                given: given.to_owned(),
                matches,
            }),
        }
    }

    /// The sensor's most recently stored heartbeat, ignoring envelopes that
    /// break its chain.
    fn last_heartbeat(&self, sensor: &str) -> Result<Option<LastHeartbeat>, StoreError>;

    /// Stored alerts and detections by severity name (a detection counts
    /// once, at its kept revision's severity), ignoring envelopes that
    /// break the chain; severities without any are absent.
    fn alerts_by_severity(&self, sensor: &str) -> Result<BTreeMap<String, u64>, StoreError>;

    /// Stored, missing and broken envelopes of the sensor.
    fn envelope_counts(&self, sensor: &str) -> Result<EnvelopeCounts, StoreError>;

    /// The sensor's counters by name.
    fn counters(&self, sensor: &str) -> Result<BTreeMap<String, u64>, StoreError>;

    /// Every counter, by sensor id (`""` for unattributed) then name.
    fn all_counters(&self) -> Result<BTreeMap<String, BTreeMap<String, u64>>, StoreError>;

    /// Stored alerts matching `filter`, in arrival (row id) order.
    fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRecord>, StoreError>;

    /// Stored detections matching `filter` (its `detector`, not its
    /// `kind`), in the order of their kept revision's row id.
    fn detections(&self, filter: &AlertFilter) -> Result<Vec<DetectionRecord>, StoreError>;

    /// Stored digests matching `filter`, oldest first, ignoring envelopes
    /// that break the chain.
    fn digests(&self, filter: &DigestFilter) -> Result<Vec<DigestRecord>, StoreError>;

    /// The sensor's most recently stored alert of `kind`, ignoring envelopes
    /// that break its chain.
    fn last_alert(&self, sensor: &str, kind: AlertKind) -> Result<Option<AlertRecord>, StoreError>;

    /// Seconds the sensor spent in each state (a verdict's name, or
    /// `silent`); states never held are absent.
    fn verdict_times(&self, sensor: &str) -> Result<BTreeMap<String, u64>, StoreError>;
}
