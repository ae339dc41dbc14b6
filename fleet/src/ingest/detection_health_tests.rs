//! Detection heartbeats through ingest: stored in the one heartbeat form
//! with the detection health beside it, counted for time in state and
//! silence exactly like a plain heartbeat (mixed with plain ones), and off
//! the chain stored as evidence only.

use std::collections::BTreeMap;

use vantage_protocol::{
    message::bounded, AckOutcome, DatapathState, Declared, DeploymentMode, DetectionHealth,
    DetectionHeartbeat, Health, Heartbeat, Message, Sealer, SensorKey, Sight, Verdict,
};

use super::ingest;
use crate::{
    assurance::dwell::Mark,
    record::{ChainStatus, HeartbeatRecord},
    store::memory::MemoryLedger,
};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

const T: u64 = 1_795_000_000;
const NOW: f64 = 1_795_100_000.0;

fn heartbeat(at: u64, verdict: Verdict, since: u64) -> Heartbeat {
    Heartbeat {
        at,
        uptime_secs: 600,
        interval_secs: 60,
        health: Health {
            agent_version: bounded("0.2.0"),
            datapath: DatapathState::Driver,
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
        sight: Sight {
            verdict,
            since,
            window_secs: 300,
            packets: 4000,
            bytes: 2_000_000,
            hosts_seen: 5,
            findings: Default::default(),
            declared: Declared {
                mode: DeploymentMode::Inline,
                hosts_min: 5,
                hosts_max: 10,
            },
            resolvers_seen: Default::default(),
        },
    }
}

fn health(suppressed: u32, alert_only: bool) -> DetectionHealth {
    DetectionHealth {
        suppressed,
        raised: 130,
        open_alerts: 3,
        active_blocks: 1,
        alert_only,
    }
}

fn with_detection(heartbeat: Heartbeat, detection: DetectionHealth) -> Message {
    Message::DetectionHeartbeat(DetectionHeartbeat {
        heartbeat,
        detection,
    })
}

fn enrolled() -> std::result::Result<(MemoryLedger, Sealer), Box<dyn std::error::Error>> {
    let key = SensorKey::ephemeral()?;
    let mut ledger = MemoryLedger::default();
    ledger.enroll(key.public(), "acme", "gw1");
    Ok((ledger, Sealer::new(key, 4, 1, [0; 16])))
}

fn send(ledger: &mut MemoryLedger, sealer: &mut Sealer, message: &Message) -> Result {
    let sealed = sealer.seal(message);
    let ingested = ingest(ledger, &sealed.bytes, NOW)?;
    assert_eq!(ingested.ack.outcome, AckOutcome::Stored);
    Ok(())
}

fn times(ledger: &MemoryLedger) -> BTreeMap<&'static str, u64> {
    ledger
        .times
        .iter()
        .map(|((_, state), secs)| (*state, *secs))
        .collect()
}

#[test]
fn a_detection_heartbeat_is_stored_as_a_heartbeat_with_its_detection_health() -> Result {
    let (mut ledger, mut sealer) = enrolled()?;
    let beat = heartbeat(T, Verdict::Ok, T - 300);
    send(
        &mut ledger,
        &mut sealer,
        &with_detection(beat.clone(), health(4, true)),
    )?;
    let stored: Vec<&HeartbeatRecord> = ledger.heartbeats.values().collect();
    assert_eq!(
        stored,
        [&HeartbeatRecord {
            detection: Some(DetectionHealth {
                suppressed: 4,
                raised: 130,
                open_alerts: 3,
                active_blocks: 1,
                alert_only: true,
            }),
            ..HeartbeatRecord::from(&beat)
        }]
    );
    assert_eq!(HeartbeatRecord::from(&beat).detection, None);
    let kinds: Vec<&str> = ledger.envelopes.values().map(|e| e.kind).collect();
    assert_eq!(kinds, ["heartbeat"]);
    Ok(())
}

#[test]
fn detection_heartbeats_count_for_time_in_state_like_plain_ones() -> Result {
    let (mut ledger, mut sealer) = enrolled()?;
    let sensor = sealer.sensor();
    let beats = [
        // The first only sets the mark.
        Message::Heartbeat(heartbeat(T, Verdict::Ok, T - 300)),
        // 60 s ok: detection turned on.
        with_detection(heartbeat(T + 60, Verdict::Ok, T - 300), health(0, false)),
        // 30 s ok, then degraded from T+90 to T+120: 30 s.
        with_detection(
            heartbeat(T + 120, Verdict::Degraded, T + 90),
            health(2, false),
        ),
        // 240 s without a heartbeat, over three 60 s intervals: silent.
        with_detection(heartbeat(T + 360, Verdict::Ok, T + 330), health(4, true)),
        // 60 s ok: detection turned off again.
        Message::Heartbeat(heartbeat(T + 420, Verdict::Ok, T + 330)),
    ];
    for beat in &beats {
        send(&mut ledger, &mut sealer, beat)?;
    }
    // Signed, but off the chain: stored as evidence, never counted.
    let broken = sealer.seal_at(
        4,
        sealer.next_seq(),
        [0xee; 16],
        &with_detection(heartbeat(T + 480, Verdict::Blind, T + 450), health(9, true)).encode(),
    );
    let ingested = ingest(&mut ledger, &broken.bytes, NOW)?;
    assert_eq!(ingested.chain, Some(ChainStatus::Broken));

    let expected: BTreeMap<&str, u64> = [("ok", 150), ("degraded", 30), ("silent", 240)]
        .into_iter()
        .collect();
    assert_eq!(times(&ledger), expected);
    assert_eq!(
        ledger.marks.get(&sensor),
        Some(&Mark {
            at: T + 420,
            verdict: Verdict::Ok,
            interval_secs: 60
        })
    );
    let suppressed: Vec<Option<u32>> = ledger
        .heartbeats
        .values()
        .map(|beat| beat.detection.map(|d| d.suppressed))
        .collect();
    assert_eq!(suppressed, [None, Some(0), Some(2), Some(4), None, Some(9)]);
    Ok(())
}
