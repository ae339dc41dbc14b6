//! Detections and digests through ingest, against the in-memory ledger: a
//! higher revision updates its alert, a lower or equal one is ignored and
//! counted, resends are duplicates, chain-breaking envelopes change no
//! alert, digests are stored, and the older messages go on being accepted
//! beside them.

use std::collections::BTreeMap;

use vantage_protocol::{
    message::bounded, AckOutcome, Action, Addr, Alert, AlertKind, DatapathState, Day, Detection,
    Detector, Digest, Enrolment, Explanation, Fact, Health, HeartbeatV1, Message, Response, Sealed,
    Sealer, SensorId, SensorKey, Severity, Visibility, VisibilityVerdict,
};

use super::{ingest, COUNTER_STALE_REVISION};
use crate::store::memory::{KeptDetection, MemoryLedger};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

const NOW: f64 = 1_795_000_100.5;

fn enrolled() -> std::result::Result<(MemoryLedger, Sealer), Box<dyn std::error::Error>> {
    let key = SensorKey::ephemeral()?;
    let mut ledger = MemoryLedger::default();
    ledger.enroll(key.public(), "acme", "gw1");
    Ok((ledger, Sealer::new(key, 9, 1, [0; 16])))
}

/// Revision `revision` of the sensor's alert `alert_id`: a port scan whose
/// ports and score grow with the revision.
fn scan(alert_id: u32, revision: u16) -> Detection {
    let ports = 100.0 * f64::from(revision);
    Detection {
        at: 1_795_000_000 + 60 * u64::from(revision),
        alert_id,
        revision,
        detector: Detector::PortScan,
        severity: Severity::High,
        score: 60 + 10 * revision as u8,
        host: Addr::V4([172, 16, 0, 8]),
        peer: Some(Addr::V4([64, 13, 134, 52])),
        port: 0,
        domain: bounded(""),
        explanation: Explanation::new(ports, 15.0, 300, 90).with(Fact::Unanswered, ports - 5.0),
        response: Response::of(Action::Notify),
    }
}

fn digest() -> Digest {
    Digest {
        at: 1_795_046_400,
        day: Day {
            year: 2026,
            month: 11,
            day: 18,
        },
        detections: [(Detector::PortScan, 2)].into_iter().collect(),
        actions: [(Action::Notify, 2)].into_iter().collect(),
        top_hosts: [(Addr::V4([172, 16, 0, 8]), 2)].into_iter().collect(),
        suppressed: 1,
    }
}

/// Ingests `sealed`, returning its outcome.
fn send(
    ledger: &mut MemoryLedger,
    sealed: &Sealed,
) -> std::result::Result<AckOutcome, super::StoreError> {
    Ok(ingest(ledger, &sealed.bytes, NOW)?.ack.outcome)
}

fn kept(ledger: &MemoryLedger, sensor: SensorId, alert_id: u32) -> Option<(i64, u16, u32)> {
    ledger
        .detections
        .get(&(sensor, alert_id))
        .map(|k| (k.envelope_id, k.detection.revision, k.updates))
}

#[test]
fn a_higher_revision_updates_its_alert_and_a_lower_one_is_ignored() -> Result {
    let (mut ledger, mut sealer) = enrolled()?;
    let me = sealer.sensor();
    let first = sealer.seal(&Message::Detection(scan(7, 1)));
    let third = sealer.seal(&Message::Detection(scan(7, 3)));
    let second = sealer.seal(&Message::Detection(scan(7, 2)));
    let other = sealer.seal(&Message::Detection(scan(8, 1)));
    for sealed in [&first, &third, &second, &other] {
        assert_eq!(send(&mut ledger, sealed)?, AckOutcome::Stored);
    }
    // Revision 3 (envelope 2) is kept; revision 2 came too late.
    assert_eq!(kept(&ledger, me, 7), Some((2, 3, 1)));
    assert_eq!(
        ledger.detections.get(&(me, 7)),
        Some(&KeptDetection {
            envelope_id: 2,
            detection: scan(7, 3),
            updates: 1,
        })
    );
    assert_eq!(kept(&ledger, me, 8), Some((4, 1, 0)));
    assert_eq!(ledger.counter(COUNTER_STALE_REVISION, Some(me)), 1);
    assert_eq!(ledger.total_counted(), 1);
    // Every revision's envelope is kept, with its kind.
    let kinds: Vec<&str> = ledger.envelopes.values().map(|e| e.kind).collect();
    assert_eq!(kinds, ["detection"; 4]);
    Ok(())
}

#[test]
fn the_same_revision_again_is_a_duplicate_or_stale_never_an_update() -> Result {
    let (mut ledger, mut sealer) = enrolled()?;
    let me = sealer.sensor();
    let first = sealer.seal(&Message::Detection(scan(7, 1)));
    assert_eq!(send(&mut ledger, &first)?, AckOutcome::Stored);
    // The same envelope resent: the envelope's position decides.
    assert_eq!(send(&mut ledger, &first)?, AckOutcome::Duplicate);
    // The same revision in a new envelope (a spool replayed after a crash).
    let again = sealer.seal(&Message::Detection(scan(7, 1)));
    assert_eq!(send(&mut ledger, &again)?, AckOutcome::Stored);
    assert_eq!(kept(&ledger, me, 7), Some((1, 1, 0)));
    let counted: BTreeMap<&str, u64> = ledger
        .counters
        .iter()
        .map(|((name, _), n)| (name.as_str(), *n))
        .collect();
    assert_eq!(
        counted,
        BTreeMap::from([("duplicate", 1), (COUNTER_STALE_REVISION, 1)])
    );
    Ok(())
}

#[test]
fn a_detection_that_breaks_its_chain_changes_no_alert() -> Result {
    let (mut ledger, mut sealer) = enrolled()?;
    let me = sealer.sensor();
    let first = sealer.seal(&Message::Detection(scan(7, 1)));
    assert_eq!(send(&mut ledger, &first)?, AckOutcome::Stored);
    // Sequence 2 claiming a predecessor that is not sequence 1.
    let forged_link = sealer.seal_at(9, 2, [0xee; 16], &Message::Detection(scan(7, 5)).encode());
    assert_eq!(send(&mut ledger, &forged_link)?, AckOutcome::Stored);
    assert_eq!(kept(&ledger, me, 7), Some((1, 1, 0)));
    assert_eq!(ledger.counter("chain_broken", Some(me)), 1);
    assert_eq!(ledger.counter(COUNTER_STALE_REVISION, Some(me)), 0);
    Ok(())
}

#[test]
fn digests_are_stored_and_older_messages_still_accepted() -> Result {
    let (mut ledger, mut sealer) = enrolled()?;
    let alert = Alert {
        at: 1_795_000_000,
        severity: Severity::Low,
        kind: AlertKind::NewPeer,
        host: Addr::V4([172, 16, 0, 8]),
        peer: None,
        port: 0,
        count: 1,
        detail: bounded("first revision alert"),
    };
    let beat = HeartbeatV1 {
        at: 1_795_000_030,
        uptime_secs: 30,
        interval_secs: 30,
        health: Health {
            agent_version: bounded("0.1.0"),
            datapath: DatapathState::Generic,
            interfaces: 1,
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
            packets: 10,
            bytes: 1000,
            hosts: 1,
            outbound_packets: 5,
            inbound_packets: 5,
        },
    };
    let enrolment = Enrolment {
        public_key: sealer.public().0,
        site: bounded("acme"),
        hostname: bounded("gw1"),
        agent_version: bounded("0.1.0"),
    };
    let messages = [
        Message::Alert(alert.clone()),
        Message::HeartbeatV1(beat),
        Message::Enrolment(enrolment),
        Message::Detection(scan(7, 1)),
        Message::Digest(digest()),
    ];
    for message in &messages {
        assert_eq!(
            send(&mut ledger, &sealer.seal(message))?,
            AckOutcome::Stored
        );
    }
    let kinds: Vec<&str> = ledger.envelopes.values().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        ["alert", "heartbeat", "enrolment", "detection", "digest"]
    );
    assert_eq!(ledger.alerts.get(&1), Some(&alert));
    assert_eq!(ledger.heartbeats.keys().copied().collect::<Vec<_>>(), [2]);
    assert_eq!(kept(&ledger, sealer.sensor(), 7), Some((4, 1, 0)));
    assert_eq!(ledger.digests.get(&5), Some(&digest()));
    assert_eq!(ledger.total_counted(), 0);
    Ok(())
}
