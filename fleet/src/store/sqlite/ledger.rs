//! [`Ledger`] on one SQLite write transaction. Envelope inserts are
//! insert-or-detect: `ON CONFLICT (sensor, epoch, seq) DO NOTHING` and a
//! look at how many rows changed, so the UNIQUE constraint, not a read before
//! the write, decides whether a position was free.

use std::net::IpAddr;

use rusqlite::{params, OptionalExtension as _, Transaction};
use vantage_protocol::{Alert, Detection, Digest, SensorId, Verdict};

use super::{count_from_column, enrolled, seq_from_column, seq_param, Doing as _};
use crate::{
    assurance::{dwell, sight::v1_of_verdict},
    record::HeartbeatRecord,
    store::{Applied, Enrolled, Gap, Insert, Ledger, NewEnvelope, StoreError, StoredLink},
};

/// An open write transaction of a [`SqliteStore`](super::SqliteStore).
/// Dropped without [`SqliteLedger::commit`], it rolls back.
pub struct SqliteLedger<'a> {
    tx: Transaction<'a>,
}

impl std::fmt::Debug for SqliteLedger<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteLedger")
    }
}

impl<'a> SqliteLedger<'a> {
    pub(super) fn new(tx: Transaction<'a>) -> SqliteLedger<'a> {
        SqliteLedger { tx }
    }

    /// Commits everything written through this ledger; once this returns
    /// `Ok`, it survives a crash.
    pub fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().doing("committing")
    }
}

impl Ledger for SqliteLedger<'_> {
    fn enrolled(&self, sensor: SensorId) -> Result<Option<Enrolled>, StoreError> {
        enrolled(&self.tx, sensor)
    }

    fn link_at(
        &self,
        sensor: SensorId,
        epoch: u32,
        seq: u64,
    ) -> Result<Option<StoredLink>, StoreError> {
        self.tx
            .query_row(
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

    fn max_seq(&self, sensor: SensorId, epoch: u32) -> Result<u64, StoreError> {
        self.tx
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM envelopes WHERE sensor = ?1 AND epoch = ?2",
                params![sensor.to_string(), epoch],
                |row| row.get::<_, i64>(0),
            )
            .doing("finding the last sequence number")
            .map(count_from_column)
    }

    fn insert_envelope(&mut self, envelope: &NewEnvelope<'_>) -> Result<Insert, StoreError> {
        let changed = self
            .tx
            .execute(
                "INSERT INTO envelopes (sensor, epoch, seq, hash, prev, kind, chain, received_at, wire)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (sensor, epoch, seq) DO NOTHING",
                params![
                    envelope.sensor.to_string(),
                    envelope.epoch,
                    seq_param(envelope.seq),
                    &envelope.hash[..],
                    &envelope.prev[..],
                    envelope.kind,
                    envelope.chain.name(),
                    envelope.received_at,
                    envelope.wire,
                ],
            )
            .doing("storing an envelope")?;
        if changed == 0 {
            return Ok(Insert::Taken);
        }
        Ok(Insert::Stored {
            id: self.tx.last_insert_rowid(),
        })
    }

    fn insert_alert(&mut self, envelope_id: i64, alert: &Alert) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO alerts (envelope_id, raised_at, severity, kind, host, peer, port, count, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    envelope_id,
                    seq_param(alert.at),
                    alert.severity.name(),
                    alert.kind.name(),
                    IpAddr::from(alert.host).to_string(),
                    alert.peer.map(|peer| IpAddr::from(peer).to_string()),
                    alert.port,
                    alert.count,
                    alert.detail.as_str(),
                ],
            )
            .doing("storing an alert")
            .map(|_| ())
    }

    fn apply_detection(
        &mut self,
        envelope_id: i64,
        sensor: SensorId,
        detection: &Detection,
    ) -> Result<Applied, StoreError> {
        super::detections::apply(&self.tx, envelope_id, sensor, detection)
    }

    fn insert_digest(&mut self, envelope_id: i64, digest: &Digest) -> Result<(), StoreError> {
        super::detections::insert_digest(&self.tx, envelope_id, digest)
    }

    fn insert_heartbeat(
        &mut self,
        envelope_id: i64,
        beat: &HeartbeatRecord,
    ) -> Result<(), StoreError> {
        let health = serde_json::to_string(&beat.health).unwrap_or_default();
        let visibility = serde_json::to_string(&beat.visibility).unwrap_or_default();
        let sight = &beat.sight;
        let findings = serde_json::to_string(&sight.findings).unwrap_or_else(|_| "[]".into());
        let declared = sight.declared;
        let detection = beat.detection;
        self.tx
            .execute(
                "INSERT INTO heartbeats (envelope_id, sent_at, uptime_secs, interval_secs, verdict, health, visibility,
                     revision, sight_verdict, findings, hosts_seen, declared_mode, declared_hosts_min,
                     declared_hosts_max, sight_since, window_secs, sight_packets, sight_bytes,
                     resolvers_seen, detect_suppressed, detect_raised, detect_open_alerts,
                     detect_active_blocks, detect_alert_only)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
                     ?20, ?21, ?22, ?23, ?24)",
                params![
                    envelope_id,
                    seq_param(beat.at),
                    beat.uptime_secs,
                    beat.interval_secs,
                    v1_of_verdict(sight.verdict).name(),
                    health,
                    visibility,
                    sight.revision,
                    sight.verdict.name(),
                    findings,
                    sight.hosts_seen,
                    declared.map(|d| d.mode.name()),
                    declared.map(|d| d.hosts_min),
                    declared.map(|d| d.hosts_max),
                    sight.since.map(seq_param),
                    sight.window_secs,
                    sight.packets.map(seq_param),
                    sight.bytes.map(seq_param),
                    sight
                        .resolvers_seen
                        .as_ref()
                        .map(|seen| serde_json::to_string(seen).unwrap_or_else(|_| "[]".into())),
                    detection.map(|d| d.suppressed),
                    detection.map(|d| d.raised),
                    detection.map(|d| d.open_alerts),
                    detection.map(|d| d.active_blocks),
                    detection.map(|d| d.alert_only),
                ],
            )
            .doing("storing a heartbeat")
            .map(|_| ())
    }

    fn verdict_mark(&self, sensor: SensorId) -> Result<Option<dwell::Mark>, StoreError> {
        let row = self
            .tx
            .query_row(
                "SELECT at, verdict, interval_secs FROM verdict_marks WHERE sensor = ?1",
                params![sensor.to_string()],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, u32>(2)?,
                    ))
                },
            )
            .optional()
            .doing("reading the last heartbeat counted")?;
        Ok(row.map(|(at, verdict, interval_secs)| dwell::Mark {
            at: seq_from_column(at),
            verdict: verdict.parse().unwrap_or(Verdict::Unknown),
            interval_secs,
        }))
    }

    fn advance_verdict_clock(
        &mut self,
        sensor: SensorId,
        advance: &dwell::Advance,
    ) -> Result<(), StoreError> {
        let id = sensor.to_string();
        for (state, secs) in &advance.spent {
            self.tx
                .execute(
                    "INSERT INTO verdict_times (sensor, state, secs) VALUES (?1, ?2, ?3)
                     ON CONFLICT (sensor, state) DO UPDATE SET secs = secs + ?3",
                    params![id, state.name(), seq_param(*secs)],
                )
                .doing("adding time in state")?;
        }
        let mark = advance.mark;
        self.tx
            .execute(
                "INSERT INTO verdict_marks (sensor, at, verdict, interval_secs) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (sensor) DO UPDATE SET at = ?2, verdict = ?3, interval_secs = ?4",
                params![id, seq_param(mark.at), mark.verdict.name(), mark.interval_secs],
            )
            .doing("keeping the last heartbeat counted")
            .map(|_| ())
    }

    fn insert_gap(&mut self, gap: &Gap) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO gaps (sensor, epoch, first_missing, last_missing, detected_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    gap.sensor.to_string(),
                    gap.epoch,
                    seq_param(gap.first_missing),
                    seq_param(gap.last_missing),
                    gap.detected_at
                ],
            )
            .doing("recording a gap")
            .map(|_| ())
    }

    fn bump_counter(
        &mut self,
        name: &str,
        sensor: Option<SensorId>,
        now: f64,
    ) -> Result<(), StoreError> {
        let sensor = sensor.map(|id| id.to_string()).unwrap_or_default();
        self.tx
            .execute(
                "INSERT INTO counters (name, sensor, count, last_at) VALUES (?1, ?2, 1, ?3)
                 ON CONFLICT (name, sensor) DO UPDATE SET count = count + 1, last_at = ?3",
                params![name, sensor, now],
            )
            .doing("counting")
            .map(|_| ())
    }
}
