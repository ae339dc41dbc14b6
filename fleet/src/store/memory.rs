//! An in-memory [`Ledger`] for unit tests of the ingest logic: the same
//! contract as the SQLite ledger (a taken position is reported, never
//! overwritten; row ids increase from 1), with everything inspectable.

use std::collections::BTreeMap;

use vantage_protocol::{Alert, Detection, Digest, PublicKey, SensorId};

use super::{Applied, Enrolled, Gap, Insert, Ledger, NewEnvelope, StoreError, StoredLink};
use crate::{
    assurance::dwell,
    record::{ChainStatus, HeartbeatRecord},
};

/// One stored envelope.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEnvelope {
    /// Row id.
    pub id: i64,
    /// The link other envelopes are checked against.
    pub link: StoredLink,
    /// Kind of message it carries.
    pub kind: &'static str,
    /// Its place in the chain when stored.
    pub chain: ChainStatus,
    /// Its wire bytes.
    pub wire: Vec<u8>,
}

/// The kept revision of one detection.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptDetection {
    /// Row id of the kept revision's envelope.
    pub envelope_id: i64,
    /// The kept revision.
    pub detection: Detection,
    /// Later revisions applied after the first.
    pub updates: u32,
}

/// Everything a test may want to look at, in plain maps.
#[derive(Clone, Debug, Default)]
pub struct MemoryLedger {
    /// Enrolled sensors.
    pub sensors: BTreeMap<SensorId, Enrolled>,
    /// Envelopes by (sensor, epoch, seq).
    pub envelopes: BTreeMap<(SensorId, u32, u64), StoredEnvelope>,
    /// Alerts by envelope row id.
    pub alerts: BTreeMap<i64, Alert>,
    /// Detections by (sensor, alert id): the kept revision's envelope row
    /// id, the revision, and the updates counted.
    pub detections: BTreeMap<(SensorId, u32), KeptDetection>,
    /// Digests by envelope row id.
    pub digests: BTreeMap<i64, Digest>,
    /// Heartbeats by envelope row id.
    pub heartbeats: BTreeMap<i64, HeartbeatRecord>,
    /// The last heartbeat counted for time in state, by sensor.
    pub marks: BTreeMap<SensorId, dwell::Mark>,
    /// Seconds in each state, by sensor and state name.
    pub times: BTreeMap<(SensorId, &'static str), u64>,
    /// Gaps in detection order.
    pub gaps: Vec<Gap>,
    /// Counters by (name, sensor); `None` for input that named no sensor.
    pub counters: BTreeMap<(String, Option<SensorId>), u64>,
    last_id: i64,
}

impl MemoryLedger {
    /// Enrolls `public_key` for `site` under `name`.
    pub fn enroll(&mut self, public_key: PublicKey, site: &str, name: &str) {
        let sensor = public_key.sensor_id();
        self.sensors.insert(
            sensor,
            Enrolled {
                sensor,
                public_key,
                site: site.to_owned(),
                name: name.to_owned(),
            },
        );
    }

    /// The counter `name` of `sensor` (0 when never bumped).
    pub fn counter(&self, name: &str, sensor: Option<SensorId>) -> u64 {
        self.counters
            .get(&(name.to_owned(), sensor))
            .copied()
            .unwrap_or(0)
    }

    /// The sum of every counter.
    pub fn total_counted(&self) -> u64 {
        self.counters.values().sum()
    }
}

impl Ledger for MemoryLedger {
    fn enrolled(&self, sensor: SensorId) -> Result<Option<Enrolled>, StoreError> {
        Ok(self.sensors.get(&sensor).cloned())
    }

    fn link_at(
        &self,
        sensor: SensorId,
        epoch: u32,
        seq: u64,
    ) -> Result<Option<StoredLink>, StoreError> {
        Ok(self
            .envelopes
            .get(&(sensor, epoch, seq))
            .map(|stored| stored.link))
    }

    fn max_seq(&self, sensor: SensorId, epoch: u32) -> Result<u64, StoreError> {
        Ok(self
            .envelopes
            .range((sensor, epoch, 0)..=(sensor, epoch, u64::MAX))
            .map(|(&(_, _, seq), _)| seq)
            .max()
            .unwrap_or(0))
    }

    fn insert_envelope(&mut self, envelope: &NewEnvelope<'_>) -> Result<Insert, StoreError> {
        let key = (envelope.sensor, envelope.epoch, envelope.seq);
        if self.envelopes.contains_key(&key) {
            return Ok(Insert::Taken);
        }
        self.last_id += 1;
        let id = self.last_id;
        self.envelopes.insert(
            key,
            StoredEnvelope {
                id,
                link: StoredLink {
                    hash: envelope.hash,
                    prev: envelope.prev,
                },
                kind: envelope.kind,
                chain: envelope.chain,
                wire: envelope.wire.to_vec(),
            },
        );
        Ok(Insert::Stored { id })
    }

    fn insert_alert(&mut self, envelope_id: i64, alert: &Alert) -> Result<(), StoreError> {
        self.alerts.insert(envelope_id, alert.clone());
        Ok(())
    }

    fn apply_detection(
        &mut self,
        envelope_id: i64,
        sensor: SensorId,
        detection: &Detection,
    ) -> Result<Applied, StoreError> {
        let kept = KeptDetection {
            envelope_id,
            detection: detection.clone(),
            updates: 0,
        };
        match self.detections.get_mut(&(sensor, detection.alert_id)) {
            None => {
                self.detections.insert((sensor, detection.alert_id), kept);
                Ok(Applied::New)
            }
            Some(old) if detection.revision > old.detection.revision => {
                *old = KeptDetection {
                    updates: old.updates + 1,
                    ..kept
                };
                Ok(Applied::Updated)
            }
            Some(_) => Ok(Applied::Stale),
        }
    }

    fn insert_digest(&mut self, envelope_id: i64, digest: &Digest) -> Result<(), StoreError> {
        self.digests.insert(envelope_id, digest.clone());
        Ok(())
    }

    fn insert_heartbeat(
        &mut self,
        envelope_id: i64,
        beat: &HeartbeatRecord,
    ) -> Result<(), StoreError> {
        self.heartbeats.insert(envelope_id, beat.clone());
        Ok(())
    }

    fn verdict_mark(&self, sensor: SensorId) -> Result<Option<dwell::Mark>, StoreError> {
        Ok(self.marks.get(&sensor).copied())
    }

    fn advance_verdict_clock(
        &mut self,
        sensor: SensorId,
        advance: &dwell::Advance,
    ) -> Result<(), StoreError> {
        for (state, secs) in &advance.spent {
            *self.times.entry((sensor, state.name())).or_default() += secs;
        }
        self.marks.insert(sensor, advance.mark);
        Ok(())
    }

    fn insert_gap(&mut self, gap: &Gap) -> Result<(), StoreError> {
        self.gaps.push(*gap);
        Ok(())
    }

    fn bump_counter(
        &mut self,
        name: &str,
        sensor: Option<SensorId>,
        _now: f64,
    ) -> Result<(), StoreError> {
        *self.counters.entry((name.to_owned(), sensor)).or_default() += 1;
        Ok(())
    }
}
