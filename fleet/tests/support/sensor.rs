//! What the test sensors send: heartbeats of both kinds with fixed
//! figures, and the clock the tests compare against.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use vantage_protocol::{
    message::bounded, Addr, DatapathState, Declared, DeploymentMode, Finding, FindingCode, Health,
    Heartbeat, HeartbeatV1, Message, Sight, Verdict, Visibility, VisibilityVerdict,
};

/// The sensors' clock: heartbeats say they were sent from here on.
pub const T: u64 = 1_795_000_000;

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

pub fn health(version: &str) -> Health {
    Health {
        agent_version: bounded(version),
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
    }
}

pub fn current(
    at: u64,
    uptime_secs: u32,
    verdict: Verdict,
    since: u64,
    hosts_seen: u32,
) -> Message {
    let findings = if verdict == Verdict::Ok {
        vec![Finding {
            code: FindingCode::CannotBlock,
            a: 0,
            b: 0,
        }]
    } else {
        vec![]
    };
    Message::Heartbeat(Heartbeat {
        at,
        uptime_secs,
        interval_secs: 60,
        health: health("0.2.0"),
        sight: Sight {
            verdict,
            since,
            window_secs: 300,
            packets: 9000,
            bytes: 5_400_000,
            hosts_seen,
            findings: findings.into_iter().collect(),
            declared: Declared {
                mode: DeploymentMode::Mirror,
                hosts_min: 5,
                hosts_max: 10,
            },
            resolvers_seen: [Addr::V4([10, 77, 0, 53]), Addr::V4([9, 9, 9, 9])]
                .into_iter()
                .collect(),
        },
    })
}

pub fn first_revision(at: u64, verdict: VisibilityVerdict) -> Message {
    Message::HeartbeatV1(HeartbeatV1 {
        at,
        uptime_secs: 100,
        interval_secs: 30,
        health: health("0.1.0"),
        visibility: Visibility {
            verdict,
            packets: 700,
            bytes: 70_000,
            hosts: 12,
            outbound_packets: 400,
            inbound_packets: 300,
        },
    })
}

/// Takes `value[key]` out (it must be a number) and leaves a marker.
pub fn take_number(value: &mut Value, key: &str) -> f64 {
    let taken = value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key}: {value}"));
    value[key] = json!("<taken>");
    taken
}
