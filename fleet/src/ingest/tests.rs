//! The ingest decisions against the in-memory ledger, without a database:
//! each kind of envelope with its exact ack, what is stored, and every
//! counter it moves (and none other).

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken setup step"
)]

use std::collections::BTreeMap;

use vantage_protocol::{
    message::bounded, Ack, AckOutcome, Addr, Alert, AlertKind, DatapathState, Health, HeartbeatV1,
    Message, RejectReason, Sealed, Sealer, SensorId, SensorKey, Severity, Visibility,
    VisibilityVerdict,
};

use super::{ingest, Ingested};
use crate::{
    record::ChainStatus,
    store::{memory::MemoryLedger, Gap},
};

const NOW: f64 = 1_795_000_100.5;
const EPOCH: u32 = 9;

fn alert(detail: &str) -> Message {
    Message::Alert(alert_body(detail))
}

fn alert_body(detail: &str) -> Alert {
    Alert {
        at: 1_795_000_000,
        severity: Severity::High,
        kind: AlertKind::PortScan,
        host: Addr::V4([10, 77, 1, 10]),
        peer: Some(Addr::V4([203, 0, 113, 80])),
        port: 445,
        count: 120,
        detail: bounded(detail),
    }
}

fn heartbeat() -> Message {
    Message::HeartbeatV1(HeartbeatV1 {
        at: 1_795_000_050,
        uptime_secs: 60,
        interval_secs: 30,
        health: Health {
            agent_version: bounded("0.1.0"),
            datapath: DatapathState::Driver,
            interfaces: 2,
            spool_pending: 0,
            spool_evicted: 0,
            spool_torn: 0,
            spool_rejected: 0,
            events_lost: 0,
            malformed: 0,
            faults: 0,
            failing: 0,
        },
        visibility: Visibility {
            verdict: VisibilityVerdict::Sees,
            packets: 1000,
            bytes: 64_000,
            hosts: 3,
            outbound_packets: 500,
            inbound_packets: 500,
        },
    })
}

/// An enrolled sensor's sealer at the start of epoch 9, and its ledger.
fn enrolled() -> (MemoryLedger, Sealer) {
    let key = SensorKey::ephemeral().expect("key");
    let mut ledger = MemoryLedger::default();
    ledger.enroll(key.public(), "acme", "gw1");
    (ledger, Sealer::new(key, EPOCH, 1, [0; 16]))
}

fn run(ledger: &mut MemoryLedger, wire: &[u8]) -> Ingested {
    ingest(ledger, wire, NOW).expect("the memory ledger does not fail")
}

fn stored(ledger: &mut MemoryLedger, sealed: &Sealed, chain: ChainStatus) {
    let ingested = run(ledger, &sealed.bytes);
    assert_eq!(
        (ingested.ack, ingested.chain),
        (
            Ack {
                epoch: sealed.epoch,
                seq: sealed.seq,
                outcome: AckOutcome::Stored
            },
            Some(chain)
        ),
        "envelope {}/{}",
        sealed.epoch,
        sealed.seq
    );
    assert!(ingested.stored_id.is_some());
}

fn refused(ledger: &mut MemoryLedger, wire: &[u8], epoch: u32, seq: u64, outcome: AckOutcome) {
    let ingested = run(ledger, wire);
    assert_eq!(
        ingested,
        Ingested {
            ack: Ack {
                epoch,
                seq,
                outcome
            },
            stored_id: None,
            chain: None
        }
    );
}

/// Every counter, to compare whole.
fn counters(
    entries: &[(&str, Option<SensorId>, u64)],
) -> BTreeMap<(String, Option<SensorId>), u64> {
    entries
        .iter()
        .map(|&(name, sensor, count)| ((name.to_owned(), sensor), count))
        .collect()
}

#[test]
fn a_genuine_chain_is_stored_linked_and_counts_nothing() {
    let (mut ledger, mut sealer) = enrolled();
    let one = sealer.seal(&alert("one"));
    let two = sealer.seal(&alert("two"));
    let beat = sealer.seal(&heartbeat());
    stored(&mut ledger, &one, ChainStatus::EpochStart);
    stored(&mut ledger, &two, ChainStatus::Linked);
    stored(&mut ledger, &beat, ChainStatus::Linked);
    let ids: Vec<i64> = ledger.envelopes.values().map(|e| e.id).collect();
    assert_eq!(ids, [1, 2, 3]);
    let kinds: Vec<&str> = ledger.envelopes.values().map(|e| e.kind).collect();
    assert_eq!(kinds, ["alert", "alert", "heartbeat"]);
    assert_eq!(
        ledger.envelopes.values().next().map(|e| &e.wire),
        Some(&one.bytes)
    );
    assert_eq!(ledger.alerts.keys().copied().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(ledger.alerts.get(&2), Some(&alert_body("two")));
    assert_eq!(ledger.heartbeats.keys().copied().collect::<Vec<_>>(), [3]);
    assert!(ledger.counters.is_empty());
    assert!(ledger.gaps.is_empty());
}

#[test]
fn a_resend_is_a_duplicate_and_changes_nothing() {
    let (mut ledger, mut sealer) = enrolled();
    let one = sealer.seal(&alert("one"));
    let two = sealer.seal(&alert("two"));
    stored(&mut ledger, &one, ChainStatus::EpochStart);
    stored(&mut ledger, &two, ChainStatus::Linked);
    let before = ledger.envelopes.clone();
    refused(&mut ledger, &two.bytes, EPOCH, 2, AckOutcome::Duplicate);
    refused(&mut ledger, &one.bytes, EPOCH, 1, AckOutcome::Duplicate);
    assert_eq!(ledger.envelopes, before);
    assert_eq!(ledger.alerts.len(), 2);
    let me = Some(sealer.sensor());
    assert_eq!(ledger.counters, counters(&[("duplicate", me, 2)]));
}

#[test]
fn a_second_version_of_a_position_is_a_conflict() {
    let (mut ledger, mut sealer) = enrolled();
    let one = sealer.seal(&alert("one"));
    let two = sealer.seal(&alert("two"));
    stored(&mut ledger, &one, ChainStatus::EpochStart);
    stored(&mut ledger, &two, ChainStatus::Linked);
    let rewritten = sealer.seal_at(EPOCH, 2, one.hash, &alert("two, rewritten").encode());
    let conflict = AckOutcome::Rejected(RejectReason::Conflict);
    refused(&mut ledger, &rewritten.bytes, EPOCH, 2, conflict);
    let kept = ledger.envelopes.get(&(sealer.sensor(), EPOCH, 2));
    assert_eq!(kept.map(|e| e.link.hash), Some(two.hash));
    assert_eq!(ledger.envelopes.len(), 2);
    assert_eq!(ledger.alerts.len(), 2);
    let me = Some(sealer.sensor());
    assert_eq!(ledger.counters, counters(&[("conflict", me, 1)]));
}

#[test]
fn a_gap_is_recorded_once_and_counted() {
    let (mut ledger, mut sealer) = enrolled();
    let one = sealer.seal(&alert("one"));
    let _two = sealer.seal(&alert("two"));
    let _three = sealer.seal(&alert("three"));
    let four = sealer.seal(&alert("four"));
    stored(&mut ledger, &one, ChainStatus::EpochStart);
    stored(&mut ledger, &four, ChainStatus::GapBefore);
    assert_eq!(
        ledger.gaps,
        [Gap {
            sensor: sealer.sensor(),
            epoch: EPOCH,
            first_missing: 2,
            last_missing: 3,
            detected_at: NOW,
        }]
    );
    // Resending the envelope after the gap opens no second gap.
    refused(&mut ledger, &four.bytes, EPOCH, 4, AckOutcome::Duplicate);
    assert_eq!(ledger.gaps.len(), 1);
    let me = Some(sealer.sensor());
    assert_eq!(
        ledger.counters,
        counters(&[("duplicate", me, 1), ("gap", me, 1)])
    );
}

#[test]
fn an_envelope_arriving_after_a_later_one_is_reordered() {
    let (mut ledger, mut sealer) = enrolled();
    let one = sealer.seal(&alert("one"));
    let two = sealer.seal(&alert("two"));
    let three = sealer.seal(&alert("three"));
    stored(&mut ledger, &one, ChainStatus::EpochStart);
    stored(&mut ledger, &three, ChainStatus::GapBefore);
    stored(&mut ledger, &two, ChainStatus::Reordered);
    let chains: Vec<ChainStatus> = ledger.envelopes.values().map(|e| e.chain).collect();
    assert_eq!(
        chains,
        [
            ChainStatus::EpochStart,
            ChainStatus::Reordered,
            ChainStatus::GapBefore
        ]
    );
    assert_eq!(ledger.gaps.len(), 1);
    let me = Some(sealer.sensor());
    assert_eq!(
        ledger.counters,
        counters(&[("gap", me, 1), ("reordered", me, 1)])
    );
}

#[test]
fn a_prev_that_is_not_the_predecessor_breaks_the_chain() {
    let (mut ledger, mut sealer) = enrolled();
    let one = sealer.seal(&alert("one"));
    stored(&mut ledger, &one, ChainStatus::EpochStart);
    let off_chain = sealer.seal_at(EPOCH, 2, [0xee; 16], &alert("two, off the chain").encode());
    stored(&mut ledger, &off_chain, ChainStatus::Broken);
    // Stored (as evidence), flagged, counted.
    assert_eq!(ledger.envelopes.len(), 2);
    assert_eq!(ledger.alerts.len(), 2);
    let me = Some(sealer.sensor());
    assert_eq!(ledger.counters, counters(&[("chain_broken", me, 1)]));
}

#[test]
fn a_predecessor_its_stored_successor_does_not_name_is_broken() {
    let (mut ledger, mut sealer) = enrolled();
    let one = sealer.seal(&alert("one"));
    let _two = sealer.seal(&alert("two"));
    let three = sealer.seal(&alert("three"));
    stored(&mut ledger, &one, ChainStatus::EpochStart);
    stored(&mut ledger, &three, ChainStatus::GapBefore);
    // Correctly linked to one, but three names another envelope before it.
    let other_two = sealer.seal_at(EPOCH, 2, one.hash, &alert("another two").encode());
    stored(&mut ledger, &other_two, ChainStatus::Broken);
    let me = Some(sealer.sensor());
    assert_eq!(
        ledger.counters,
        counters(&[("chain_broken", me, 1), ("gap", me, 1)])
    );
}

#[test]
fn an_unknown_sensor_is_refused_and_counted_under_its_claimed_id() {
    let (mut ledger, _sealer) = enrolled();
    let stranger = Sealer::new(SensorKey::ephemeral().expect("key"), EPOCH, 1, [0; 16]);
    let hello = stranger.seal_at(EPOCH, 1, [0; 16], &alert("hello").encode());
    let unknown = AckOutcome::Rejected(RejectReason::UnknownSensor);
    refused(&mut ledger, &hello.bytes, EPOCH, 1, unknown);
    assert!(ledger.envelopes.is_empty());
    assert!(!ledger.sensors.contains_key(&stranger.sensor()));
    let them = Some(stranger.sensor());
    assert_eq!(ledger.counters, counters(&[("unknown_sensor", them, 1)]));
}

#[test]
fn a_bad_signature_or_a_tampered_payload_is_refused() {
    let (mut ledger, sealer) = enrolled();
    let forger = Sealer::new(SensorKey::ephemeral().expect("key"), EPOCH, 1, [0; 16]);
    let genuine = sealer.seal_payload(&alert("one").encode());
    // Our sensor's header with the forger's signature.
    let mut forged = genuine.bytes.clone();
    let forged_sig = forger
        .seal_at(EPOCH, 1, [0; 16], &alert("one").encode())
        .bytes;
    let n = forged.len();
    forged[n - 64..].copy_from_slice(&forged_sig[forged_sig.len() - 64..]);
    let bad = AckOutcome::Rejected(RejectReason::BadSignature);
    refused(&mut ledger, &forged, EPOCH, 1, bad);
    // One payload bit flipped in transit.
    let mut tampered = genuine.bytes.clone();
    let at = tampered.len() - 64 - 2;
    tampered[at] ^= 0x20;
    refused(&mut ledger, &tampered, EPOCH, 1, bad);
    assert!(ledger.envelopes.is_empty());
    let me = Some(sealer.sensor());
    assert_eq!(ledger.counters, counters(&[("bad_signature", me, 2)]));
    // The genuine one still goes in.
    stored(&mut ledger, &genuine, ChainStatus::EpochStart);
}

#[test]
fn garbage_is_malformed_and_names_no_sensor() {
    let (mut ledger, _sealer) = enrolled();
    let malformed = AckOutcome::Rejected(RejectReason::Malformed);
    refused(&mut ledger, b"\x01not an envelope", 0, 0, malformed);
    refused(&mut ledger, b"", 0, 0, malformed);
    assert!(ledger.envelopes.is_empty());
    assert_eq!(ledger.counters, counters(&[("malformed", None, 2)]));
}

#[test]
fn an_undecodable_signed_payload_is_malformed_unless_its_position_is_taken() {
    let (mut ledger, mut sealer) = enrolled();
    let undecodable = sealer.seal_payload(b"\xff\xff");
    let malformed = AckOutcome::Rejected(RejectReason::Malformed);
    refused(&mut ledger, &undecodable.bytes, EPOCH, 1, malformed);
    let one = sealer.seal(&alert("one"));
    stored(&mut ledger, &one, ChainStatus::EpochStart);
    let conflict = AckOutcome::Rejected(RejectReason::Conflict);
    refused(&mut ledger, &undecodable.bytes, EPOCH, 1, conflict);
    let me = Some(sealer.sensor());
    assert_eq!(
        ledger.counters,
        counters(&[("conflict", me, 1), ("malformed", me, 1)])
    );
}
