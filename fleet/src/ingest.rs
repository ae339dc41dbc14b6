//! Deciding what an arriving envelope is: malformed, from an unknown key,
//! forged, a duplicate (resend or replay), a conflicting second version of a
//! position, or genuine, and if genuine, how it fits the sensor's chain.
//! Everything refused is counted; only verified envelopes are stored.

use std::net::IpAddr;

use rusqlite::{params, Transaction};
use vantage_protocol::{Ack, AckOutcome, Envelope, Message, RejectReason};

use crate::{
    record::ChainStatus,
    store::{self, Doing as _, StoreError},
};

/// Counter names in the `counters` table besides the reject reasons.
pub const COUNTER_DUPLICATE: &str = "duplicate";
pub const COUNTER_CHAIN_BROKEN: &str = "chain_broken";
pub const COUNTER_GAP: &str = "gap";
pub const COUNTER_REORDERED: &str = "reordered";

/// The result of one envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ingested {
    pub ack: Ack,
    /// Row id of the stored envelope, when it was stored.
    pub stored_id: Option<i64>,
    pub chain: Option<ChainStatus>,
}

fn rejected(epoch: u32, seq: u64, reason: RejectReason) -> Ingested {
    Ingested {
        ack: Ack {
            epoch,
            seq,
            outcome: AckOutcome::Rejected(reason),
        },
        stored_id: None,
        chain: None,
    }
}

/// Verifies and stores one envelope inside `tx`.
pub fn ingest(tx: &Transaction<'_>, wire: &[u8], now: f64) -> Result<Ingested, StoreError> {
    let envelope = match Envelope::decode(wire) {
        Ok(envelope) => envelope,
        Err(error) => {
            log::warn!("refused a malformed envelope: {error}");
            store::bump_counter(tx, RejectReason::Malformed.name(), "", now)?;
            return Ok(rejected(0, 0, RejectReason::Malformed));
        }
    };
    let (sensor, epoch, seq) = (envelope.sensor, envelope.epoch, envelope.seq);
    let sensor_text = sensor.to_string();
    let refuse = |reason: RejectReason| -> Result<Ingested, StoreError> {
        store::bump_counter(tx, reason.name(), &sensor_text, now)?;
        Ok(rejected(epoch, seq, reason))
    };
    let Some(enrolled) = store::enrolled(tx, sensor)? else {
        log::warn!("refused envelope {epoch}/{seq} from unknown sensor {sensor}");
        return refuse(RejectReason::UnknownSensor);
    };
    if let Err(error) = envelope.verify(&enrolled.public_key) {
        log::warn!("refused envelope {epoch}/{seq} claiming sensor {sensor}: {error}");
        return refuse(RejectReason::BadSignature);
    }
    let hash = envelope.hash();
    if let Some(existing) = store::link_at(tx, sensor, epoch, seq)? {
        if existing.hash == hash {
            store::bump_counter(tx, COUNTER_DUPLICATE, &sensor_text, now)?;
            return Ok(Ingested {
                ack: Ack {
                    epoch,
                    seq,
                    outcome: AckOutcome::Duplicate,
                },
                stored_id: None,
                chain: None,
            });
        }
        log::warn!("sensor {sensor} signed two different envelopes at {epoch}/{seq}");
        return refuse(RejectReason::Conflict);
    }
    let message = match envelope.message() {
        Ok(message) => message,
        Err(error) => {
            log::warn!("sensor {sensor} signed an undecodable payload at {epoch}/{seq}: {error}");
            return refuse(RejectReason::Malformed);
        }
    };
    let chain = chain_status(tx, &envelope, now)?;
    match chain {
        ChainStatus::Broken => {
            log::warn!("sensor {sensor} envelope {epoch}/{seq} breaks its chain");
            store::bump_counter(tx, COUNTER_CHAIN_BROKEN, &sensor_text, now)?;
        }
        ChainStatus::Reordered => store::bump_counter(tx, COUNTER_REORDERED, &sensor_text, now)?,
        _ => {}
    }
    let id = insert(tx, &envelope, &message, chain, now)?;
    Ok(Ingested {
        ack: Ack {
            epoch,
            seq,
            outcome: AckOutcome::Stored,
        },
        stored_id: Some(id),
        chain: Some(chain),
    })
}

/// Places the envelope in its chain, recording a gap if it opens one.
fn chain_status(
    tx: &Transaction<'_>,
    envelope: &Envelope,
    now: f64,
) -> Result<ChainStatus, StoreError> {
    let (sensor, epoch, seq) = (envelope.sensor, envelope.epoch, envelope.seq);
    let hash = envelope.hash();
    // A successor already stored must name this envelope as its predecessor.
    if let Some(next) = store::link_at(tx, sensor, epoch, seq.wrapping_add(1))? {
        if next.prev != hash {
            return Ok(ChainStatus::Broken);
        }
    }
    let highest = store::max_seq(tx, sensor, epoch)?;
    if seq <= 1 {
        return Ok(ChainStatus::EpochStart);
    }
    match store::link_at(tx, sensor, epoch, seq - 1)? {
        Some(before) if before.hash != envelope.prev => Ok(ChainStatus::Broken),
        Some(_) if highest > seq => Ok(ChainStatus::Reordered),
        Some(_) => Ok(ChainStatus::Linked),
        None if highest > seq => Ok(ChainStatus::Reordered),
        None => {
            // Everything between the highest stored and this one is missing.
            let first_missing = highest + 1;
            tx.execute(
                "INSERT INTO gaps (sensor, epoch, first_missing, last_missing, detected_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    sensor.to_string(),
                    epoch,
                    store::seq_param(first_missing),
                    store::seq_param(seq - 1),
                    now
                ],
            )
            .doing("recording a gap")?;
            store::bump_counter(tx, COUNTER_GAP, &sensor.to_string(), now)?;
            Ok(ChainStatus::GapBefore)
        }
    }
}

fn insert(
    tx: &Transaction<'_>,
    envelope: &Envelope,
    message: &Message,
    chain: ChainStatus,
    now: f64,
) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO envelopes (sensor, epoch, seq, hash, prev, kind, chain, received_at, wire)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            envelope.sensor.to_string(),
            envelope.epoch,
            store::seq_param(envelope.seq),
            &envelope.hash()[..],
            &envelope.prev[..],
            message.kind_name(),
            chain.name(),
            now,
            envelope.wire(),
        ],
    )
    .doing("storing an envelope")?;
    let id = tx.last_insert_rowid();
    match message {
        Message::Alert(alert) => {
            tx.execute(
                "INSERT INTO alerts (envelope_id, raised_at, severity, kind, host, peer, port, count, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    id,
                    store::seq_param(alert.at),
                    alert.severity.name(),
                    alert.kind.name(),
                    IpAddr::from(alert.host).to_string(),
                    alert.peer.map(|peer| IpAddr::from(peer).to_string()),
                    alert.port,
                    alert.count,
                    alert.detail.as_str(),
                ],
            )
            .doing("storing an alert")?;
        }
        Message::Heartbeat(beat) => {
            let health = serde_json::to_string(&beat.health).unwrap_or_default();
            let visibility = serde_json::to_string(&beat.visibility).unwrap_or_default();
            tx.execute(
                "INSERT INTO heartbeats (envelope_id, sent_at, uptime_secs, interval_secs, verdict, health, visibility)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    store::seq_param(beat.at),
                    beat.uptime_secs,
                    beat.interval_secs,
                    beat.visibility.verdict.name(),
                    health,
                    visibility,
                ],
            )
            .doing("storing a heartbeat")?;
        }
        Message::Enrolment(_) => {}
    }
    Ok(id)
}
