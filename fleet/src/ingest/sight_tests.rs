//! Heartbeats of both kinds through ingest: each stored in one form (the
//! first revision converted), and every genuine one moving its sensor's
//! time in state by exact seconds; late and chain-breaking ones move
//! nothing.

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken setup step"
)]

use std::collections::BTreeMap;

use vantage_protocol::{
    message::bounded, AckOutcome, DatapathState, Declared, DeploymentMode, Finding, FindingCode,
    Health, Heartbeat, HeartbeatV1, Message, Sealer, SensorKey, Sight, Verdict, Visibility,
    VisibilityVerdict,
};

use super::ingest;
use crate::{
    assurance::{dwell::Mark, sight::SightRecord},
    record::HeartbeatRecord,
    store::memory::MemoryLedger,
};

const T: u64 = 1_795_000_000;

fn health() -> Health {
    Health {
        agent_version: bounded("0.2.0"),
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
    }
}

fn v1(at: u64, verdict: VisibilityVerdict, hosts: u32) -> HeartbeatV1 {
    HeartbeatV1 {
        at,
        uptime_secs: 600,
        interval_secs: 60,
        health: health(),
        visibility: Visibility {
            verdict,
            packets: 1000,
            bytes: 64_000,
            hosts,
            outbound_packets: 600,
            inbound_packets: 400,
        },
    }
}

fn current(at: u64, verdict: Verdict, since: u64, findings: &[Finding]) -> Heartbeat {
    Heartbeat {
        at,
        uptime_secs: 600,
        interval_secs: 60,
        health: health(),
        sight: Sight {
            verdict,
            since,
            window_secs: 300,
            packets: 4000,
            bytes: 2_000_000,
            hosts_seen: 5,
            findings: findings.iter().copied().collect(),
            declared: Declared {
                mode: DeploymentMode::Mirror,
                hosts_min: 5,
                hosts_max: 10,
            },
            resolvers_seen: Default::default(),
        },
    }
}

fn enrolled() -> (MemoryLedger, Sealer) {
    let key = SensorKey::ephemeral().expect("key");
    let mut ledger = MemoryLedger::default();
    ledger.enroll(key.public(), "acme", "gw1");
    (ledger, Sealer::new(key, 4, 1, [0; 16]))
}

fn send(ledger: &mut MemoryLedger, sealer: &mut Sealer, message: Message) {
    let sealed = sealer.seal(&message);
    let ingested = ingest(ledger, &sealed.bytes, 1_795_100_000.0).expect("ingest");
    assert_eq!(ingested.ack.outcome, AckOutcome::Stored);
}

fn times(ledger: &MemoryLedger) -> BTreeMap<&'static str, u64> {
    ledger
        .times
        .iter()
        .map(|((_, state), secs)| (*state, *secs))
        .collect()
}

#[test]
fn both_heartbeat_kinds_are_stored_in_one_form() {
    let (mut ledger, mut sealer) = enrolled();
    let old = v1(T, VisibilityVerdict::Partial, 12);
    let finding = Finding {
        code: FindingCode::OutsideFirewall,
        a: 40,
        b: 9000,
    };
    let new = current(T + 60, Verdict::Blind, T + 30, &[finding]);
    send(&mut ledger, &mut sealer, Message::HeartbeatV1(old.clone()));
    send(&mut ledger, &mut sealer, Message::Heartbeat(new.clone()));
    let stored: Vec<&HeartbeatRecord> = ledger.heartbeats.values().collect();
    assert_eq!(
        stored,
        [
            &HeartbeatRecord {
                at: T,
                uptime_secs: 600,
                interval_secs: 60,
                health: health(),
                visibility: Some(old.visibility),
                sight: SightRecord {
                    revision: 1,
                    verdict: Verdict::Degraded,
                    since: None,
                    window_secs: None,
                    packets: None,
                    bytes: None,
                    hosts_seen: 12,
                    findings: vec![],
                    declared: None,
                    resolvers_seen: None,
                },
                detection: None,
            },
            &HeartbeatRecord {
                at: T + 60,
                uptime_secs: 600,
                interval_secs: 60,
                health: health(),
                visibility: None,
                sight: SightRecord {
                    revision: 2,
                    verdict: Verdict::Blind,
                    since: Some(T + 30),
                    window_secs: Some(300),
                    packets: Some(4000),
                    bytes: Some(2_000_000),
                    hosts_seen: 5,
                    findings: vec![finding],
                    declared: Some(Declared {
                        mode: DeploymentMode::Mirror,
                        hosts_min: 5,
                        hosts_max: 10,
                    }),
                    resolvers_seen: Some(vec![]),
                },
                detection: None,
            },
        ]
    );
    let kinds: Vec<&str> = ledger.envelopes.values().map(|e| e.kind).collect();
    assert_eq!(kinds, ["heartbeat", "heartbeat"]);
    // Degraded from T to the change at T+30, blind from then to T+60.
    let expected: BTreeMap<&str, u64> = [("degraded", 30), ("blind", 30)].into_iter().collect();
    assert_eq!(times(&ledger), expected);
}

#[test]
fn time_in_state_adds_up_exact_seconds_and_skips_late_or_broken_heartbeats() {
    let (mut ledger, mut sealer) = enrolled();
    let sensor = sealer.sensor();
    let beats = [
        // The first heartbeat only sets the mark.
        Message::HeartbeatV1(v1(T, VisibilityVerdict::Sees, 3)),
        // 60 s ok (the first revision's `sees`).
        Message::Heartbeat(current(T + 60, Verdict::Ok, T - 100, &[])),
        // 45 s ok, then blind from T+105 to T+120: 15 s.
        Message::Heartbeat(current(T + 120, Verdict::Blind, T + 105, &[])),
        // 60 s blind.
        Message::Heartbeat(current(T + 180, Verdict::Blind, T + 105, &[])),
        // Late (the sensor's clock went back): moves nothing.
        Message::Heartbeat(current(T + 170, Verdict::Ok, T + 170, &[])),
        // 181 s without a heartbeat, over three 60 s intervals: silent.
        Message::Heartbeat(current(T + 361, Verdict::Ok, T + 300, &[])),
        // 30 s ok.
        Message::Heartbeat(current(T + 391, Verdict::Ok, T + 300, &[])),
    ];
    for beat in beats {
        send(&mut ledger, &mut sealer, beat);
    }
    // Signed, but off the chain: stored as evidence, never counted.
    let broken = sealer.seal_at(
        4,
        sealer.next_seq(),
        [0xee; 16],
        &Message::Heartbeat(current(T + 451, Verdict::Degraded, T + 400, &[])).encode(),
    );
    let ingested = ingest(&mut ledger, &broken.bytes, 1_795_100_000.0).expect("ingest");
    assert_eq!(ingested.chain, Some(crate::record::ChainStatus::Broken));
    assert_eq!(ledger.heartbeats.len(), 8);
    let expected: BTreeMap<&str, u64> = [("ok", 135), ("blind", 75), ("silent", 181)]
        .into_iter()
        .collect();
    assert_eq!(times(&ledger), expected);
    assert_eq!(
        ledger.marks.get(&sensor),
        Some(&Mark {
            at: T + 391,
            verdict: Verdict::Ok,
            interval_secs: 60
        })
    );
}
