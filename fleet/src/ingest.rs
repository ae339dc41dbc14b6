//! Deciding what an arriving envelope is: malformed, from an unknown key,
//! forged, a duplicate (resend or replay), a conflicting second version of a
//! position, or genuine, and if genuine, how it fits the sensor's chain.
//! Everything refused is counted; only verified envelopes are stored.
//! Heartbeats of every kind are stored in one form (a detection heartbeat
//! with its detection health beside it), and every genuine one moves its
//! sensor's time in state (see `assurance::dwell`). A genuine
//! detection updates its alert (sensor, alert id) only with a higher
//! revision; a lower or equal one is counted as `stale_revision` and
//! ignored, and one in an envelope that breaks its chain is stored as an
//! envelope only.
//!
//! This is pure logic over a [`Ledger`]: it never names a database. Whether
//! a position is free is decided by the ledger's insert (insert-or-detect),
//! not by a read before it, so collectors sharing one store agree on it.

use vantage_protocol::{Ack, AckOutcome, Envelope, Message, RejectReason, SensorId};

use crate::{
    assurance::dwell,
    record::{ChainStatus, HeartbeatRecord},
    store::{Applied, Gap, Insert, Ledger, NewEnvelope, StoreError, StoredLink},
};

/// Counter of envelopes that arrived again unchanged (resends, replays).
pub const COUNTER_DUPLICATE: &str = "duplicate";
/// Counter of stored envelopes whose `prev` contradicts their neighbours.
pub const COUNTER_CHAIN_BROKEN: &str = "chain_broken";
/// Counter of gaps opened (an envelope arrived with ones before it missing).
pub const COUNTER_GAP: &str = "gap";
/// Counter of envelopes that arrived after a later one of their epoch.
pub const COUNTER_REORDERED: &str = "reordered";
/// Counter of detections whose revision was not above the one kept (sent
/// twice in different envelopes, or overtaken by a later revision).
pub const COUNTER_STALE_REVISION: &str = "stale_revision";

/// The result of one envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ingested {
    /// The answer for the sensor.
    pub ack: Ack,
    /// Row id of the stored envelope, when it was stored.
    pub stored_id: Option<i64>,
    /// How it fits its chain, when it was stored.
    pub chain: Option<ChainStatus>,
}

impl Ingested {
    fn answer(epoch: u32, seq: u64, outcome: AckOutcome) -> Ingested {
        Ingested {
            ack: Ack {
                epoch,
                seq,
                outcome,
            },
            stored_id: None,
            chain: None,
        }
    }
}

/// Where an envelope falls in its chain, and the gap it opens, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Placement {
    status: ChainStatus,
    /// First and last missing sequence numbers before it.
    gap: Option<(u64, u64)>,
}

impl From<ChainStatus> for Placement {
    fn from(status: ChainStatus) -> Placement {
        Placement { status, gap: None }
    }
}

/// Verifies `wire` and stores it through `ledger`, stamped `now` (unix
/// seconds). Refusals are answers, not errors: an `Err` means the ledger
/// failed, and the caller must not commit what this call wrote.
pub fn ingest<L: Ledger + ?Sized>(
    ledger: &mut L,
    wire: &[u8],
    now: f64,
) -> Result<Ingested, StoreError> {
    let envelope = match Envelope::decode(wire) {
        Ok(envelope) => envelope,
        Err(error) => {
            log::warn!("refused a malformed envelope: {error}");
            ledger.bump_counter(RejectReason::Malformed.name(), None, now)?;
            return Ok(Ingested::answer(
                0,
                0,
                AckOutcome::Rejected(RejectReason::Malformed),
            ));
        }
    };
    let (sensor, epoch, seq) = (envelope.sensor, envelope.epoch, envelope.seq);
    let refuse = |ledger: &mut L, reason: RejectReason| -> Result<Ingested, StoreError> {
        ledger.bump_counter(reason.name(), Some(sensor), now)?;
        Ok(Ingested::answer(epoch, seq, AckOutcome::Rejected(reason)))
    };
    let Some(enrolled) = ledger.enrolled(sensor)? else {
        log::warn!("refused envelope {epoch}/{seq} from unknown sensor {sensor}");
        return refuse(ledger, RejectReason::UnknownSensor);
    };
    if let Err(error) = envelope.verify(&enrolled.public_key) {
        log::warn!("refused envelope {epoch}/{seq} claiming sensor {sensor}: {error}");
        return refuse(ledger, RejectReason::BadSignature);
    }
    let message = match envelope.message() {
        Ok(message) => message,
        Err(error) => {
            // A position already held is answered as the insert would have.
            if let Some(existing) = ledger.link_at(sensor, epoch, seq)? {
                return position_taken(ledger, &envelope, existing, now);
            }
            log::warn!("sensor {sensor} signed an undecodable payload at {epoch}/{seq}: {error}");
            return refuse(ledger, RejectReason::Malformed);
        }
    };
    let placement = place(ledger, &envelope)?;
    let inserted = ledger.insert_envelope(&NewEnvelope {
        sensor,
        epoch,
        seq,
        hash: envelope.hash(),
        prev: envelope.prev,
        kind: message.kind_name(),
        chain: placement.status,
        received_at: now,
        wire: envelope.wire(),
    })?;
    let id = match inserted {
        Insert::Stored { id } => id,
        Insert::Taken => {
            let existing =
                ledger
                    .link_at(sensor, epoch, seq)?
                    .ok_or_else(|| StoreError::UnreadableLink {
                        sensor: sensor.to_string(),
                        epoch,
                        seq,
                    })?;
            return position_taken(ledger, &envelope, existing, now);
        }
    };
    match placement.status {
        ChainStatus::Broken => {
            log::warn!("sensor {sensor} envelope {epoch}/{seq} breaks its chain");
            ledger.bump_counter(COUNTER_CHAIN_BROKEN, Some(sensor), now)?;
        }
        ChainStatus::Reordered => ledger.bump_counter(COUNTER_REORDERED, Some(sensor), now)?,
        ChainStatus::GapBefore | ChainStatus::Linked | ChainStatus::EpochStart => {}
    }
    if let Some((first_missing, last_missing)) = placement.gap {
        ledger.insert_gap(&Gap {
            sensor,
            epoch,
            first_missing,
            last_missing,
            detected_at: now,
        })?;
        ledger.bump_counter(COUNTER_GAP, Some(sensor), now)?;
    }
    match &message {
        Message::Alert(alert) => ledger.insert_alert(id, alert)?,
        Message::Heartbeat(beat) => {
            store_heartbeat(ledger, sensor, id, &beat.into(), placement.status)?;
        }
        Message::HeartbeatV1(beat) => {
            store_heartbeat(ledger, sensor, id, &beat.into(), placement.status)?;
        }
        Message::DetectionHeartbeat(beat) => {
            store_heartbeat(ledger, sensor, id, &beat.into(), placement.status)?;
        }
        Message::Detection(detection) if placement.status.is_genuine() => {
            let applied = ledger.apply_detection(id, sensor, detection)?;
            if applied == Applied::Stale {
                ledger.bump_counter(COUNTER_STALE_REVISION, Some(sensor), now)?;
            }
        }
        Message::Digest(digest) => ledger.insert_digest(id, digest)?,
        Message::Enrolment(_) | Message::Detection(_) => {}
    }
    Ok(Ingested {
        ack: Ack {
            epoch,
            seq,
            outcome: AckOutcome::Stored,
        },
        stored_id: Some(id),
        chain: Some(placement.status),
    })
}

/// Stores a heartbeat and, unless it breaks its chain, counts the time
/// since the sensor's previous one.
fn store_heartbeat<L: Ledger + ?Sized>(
    ledger: &mut L,
    sensor: SensorId,
    id: i64,
    beat: &HeartbeatRecord,
    chain: ChainStatus,
) -> Result<(), StoreError> {
    ledger.insert_heartbeat(id, beat)?;
    if !chain.is_genuine() {
        return Ok(());
    }
    let next = dwell::Beat {
        at: beat.at,
        verdict: beat.sight.verdict,
        since: beat.sight.since,
        interval_secs: beat.interval_secs,
    };
    if let Some(advance) = dwell::advance(ledger.verdict_mark(sensor)?, next) {
        ledger.advance_verdict_clock(sensor, &advance)?;
    }
    Ok(())
}

/// The answer for a verified envelope whose position is already held:
/// a duplicate if the stored one is the same envelope, else a conflict.
fn position_taken<L: Ledger + ?Sized>(
    ledger: &mut L,
    envelope: &Envelope,
    existing: StoredLink,
    now: f64,
) -> Result<Ingested, StoreError> {
    let (sensor, epoch, seq) = (envelope.sensor, envelope.epoch, envelope.seq);
    if existing.hash == envelope.hash() {
        ledger.bump_counter(COUNTER_DUPLICATE, Some(sensor), now)?;
        return Ok(Ingested::answer(epoch, seq, AckOutcome::Duplicate));
    }
    log::warn!("sensor {sensor} signed two different envelopes at {epoch}/{seq}");
    ledger.bump_counter(RejectReason::Conflict.name(), Some(sensor), now)?;
    Ok(Ingested::answer(
        epoch,
        seq,
        AckOutcome::Rejected(RejectReason::Conflict),
    ))
}

/// Places the envelope in its chain from what is stored around it. Only
/// reads: the caller records the gap once the envelope is stored.
fn place<L: Ledger + ?Sized>(ledger: &L, envelope: &Envelope) -> Result<Placement, StoreError> {
    let (sensor, epoch, seq) = (envelope.sensor, envelope.epoch, envelope.seq);
    // A successor already stored must name this envelope as its predecessor.
    if let Some(next) = ledger.link_at(sensor, epoch, seq.wrapping_add(1))? {
        if next.prev != envelope.hash() {
            return Ok(ChainStatus::Broken.into());
        }
    }
    let highest = ledger.max_seq(sensor, epoch)?;
    if seq <= 1 {
        return Ok(ChainStatus::EpochStart.into());
    }
    Ok(match ledger.link_at(sensor, epoch, seq - 1)? {
        Some(before) if before.hash != envelope.prev => ChainStatus::Broken.into(),
        Some(_) if highest > seq => ChainStatus::Reordered.into(),
        Some(_) => ChainStatus::Linked.into(),
        None if highest > seq => ChainStatus::Reordered.into(),
        // Everything between the highest stored and this one is missing.
        None => Placement {
            status: ChainStatus::GapBefore,
            gap: Some((highest.saturating_add(1), seq - 1)),
        },
    })
}

#[cfg(test)]
mod detection_health_tests;
#[cfg(test)]
mod detection_tests;
#[cfg(test)]
mod sight_tests;
#[cfg(test)]
mod tests;
