//! Heartbeats on the wire, all three kinds: the detection heartbeat
//! (`Message::DetectionHeartbeat`, variant 6) round trips through verified
//! envelopes within the heartbeat's size budget, its byte layout is fixed,
//! and the byte layouts of the heartbeats sensors sent before it (variant 3,
//! and the first revision's variant 1) still decode, as spools and
//! collector databases hold them.

mod support;

use support::{real_header_sealer, small_header_sealer};
use vantage_protocol::{
    message::bounded, Addr, DatapathState, Declared, DeploymentMode, DetectionHealth,
    DetectionHeartbeat, Envelope, Finding, FindingCode, Health, Heartbeat, HeartbeatV1, Message,
    Sealer, Sight, Verdict, Visibility, VisibilityVerdict, DETECTION_HEALTH_MAX_LEN,
    MAX_ENVELOPE_LEN,
};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

/// The heartbeat envelope's budget, bytes (as `wire.rs` holds the plain
/// heartbeat to).
const HEARTBEAT_BUDGET: usize = 192;

fn health() -> Health {
    Health {
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
    }
}

/// A small heartbeat whose every byte is written out below: one caveat,
/// one resolver.
fn small_heartbeat() -> Heartbeat {
    Heartbeat {
        at: 1_795_000_000,
        uptime_secs: 3600,
        interval_secs: 60,
        health: health(),
        sight: Sight {
            verdict: Verdict::Ok,
            since: 1_794_999_700,
            window_secs: 300,
            packets: 1000,
            bytes: 100_000,
            hosts_seen: 5,
            findings: [Finding {
                code: FindingCode::CannotBlock,
                a: 0,
                b: 0,
            }]
            .into_iter()
            .collect(),
            declared: Declared {
                mode: DeploymentMode::Inline,
                hosts_min: 5,
                hosts_max: 10,
            },
            resolvers_seen: [Addr::V4([10, 0, 0, 53])].into_iter().collect(),
        },
    }
}

/// The byte layout of [`small_heartbeat`] after its variant index.
#[rustfmt::skip]
fn small_heartbeat_body() -> Vec<u8> {
    [
        &[0xc0, 0x8d, 0xf6, 0xd7, 0x06][..], // at
        &[0x90, 0x1c],                       // uptime_secs 3600
        &[60],                               // interval_secs
        &[5, b'0', b'.', b'2', b'.', b'0'],  // agent_version
        &[1],                                // datapath: driver
        &[1],                                // interfaces
        &[0, 0, 0, 0],                       // spool pending, evicted, torn, rejected
        &[0, 0, 0, 0],                       // events_lost, malformed, faults, failing
        &[1],                                // verdict: ok
        &[0x94, 0x8b, 0xf6, 0xd7, 0x06],     // since
        &[0xac, 0x02],                       // window_secs 300
        &[0xe8, 0x07],                       // packets 1000
        &[0xa0, 0x8d, 0x06],                 // bytes 100000
        &[5],                                // hosts_seen
        &[1, 14, 0, 0],                      // one finding: cannot_block 0 0
        &[1, 5, 10],                         // declared: inline, 5 to 10 hosts
        &[1, 0, 10, 0, 0, 53],               // one resolver: V4 10.0.0.53
    ]
    .concat()
}

fn detection_health() -> DetectionHealth {
    DetectionHealth {
        suppressed: 4,
        raised: 130,
        open_alerts: 3,
        active_blocks: 1,
        alert_only: true,
    }
}

fn largest_detection_health() -> DetectionHealth {
    DetectionHealth {
        suppressed: u32::MAX,
        raised: u32::MAX,
        open_alerts: u16::MAX,
        active_blocks: u16::MAX,
        alert_only: true,
    }
}

/// A heartbeat as a sensor sends it every minute: it sees 5 of 375
/// declared hosts and no DNS (as in `wire.rs`).
fn typical_heartbeat() -> Heartbeat {
    let findings = [
        Finding {
            code: FindingCode::FewerHostsThanExpected,
            a: 5,
            b: 375,
        },
        Finding {
            code: FindingCode::NoDns,
            a: 0,
            b: 1_234_567,
        },
    ];
    Heartbeat {
        at: 1_795_000_000,
        uptime_secs: 86_400,
        interval_secs: 60,
        health: Health {
            agent_version: bounded("0.1.0"),
            interfaces: 2,
            spool_pending: 3,
            spool_torn: 1,
            events_lost: 17,
            malformed: 4,
            ..health()
        },
        sight: Sight {
            verdict: Sight::verdict_of(&findings),
            since: 1_794_990_000,
            window_secs: 300,
            packets: 1_234_567,
            bytes: 987_654_321,
            hosts_seen: 5,
            findings: findings.into_iter().collect(),
            declared: Declared {
                mode: DeploymentMode::Inline,
                hosts_min: 375,
                hosts_max: 375,
            },
            resolvers_seen: heapless::Vec::new(),
        },
    }
}

fn with_detection(heartbeat: Heartbeat, detection: DetectionHealth) -> Message {
    Message::DetectionHeartbeat(DetectionHeartbeat {
        heartbeat,
        detection,
    })
}

#[test]
fn detection_heartbeats_round_trip_through_verified_envelopes() -> Result {
    let mut sealer = small_header_sealer()?;
    let public = sealer.public();
    for message in [
        with_detection(small_heartbeat(), detection_health()),
        with_detection(typical_heartbeat(), DetectionHealth::default()),
        with_detection(typical_heartbeat(), largest_detection_health()),
    ] {
        let sealed = sealer.seal(&message);
        let envelope = Envelope::decode(&sealed.bytes)?;
        envelope.verify(&public)?;
        assert_eq!(envelope.message()?, message);
    }
    let message = with_detection(small_heartbeat(), detection_health());
    assert_eq!(message.kind_name(), "heartbeat");
    assert_eq!(message.heartbeat(), Some(&small_heartbeat()));
    assert_eq!(message.detection_health(), Some(&detection_health()));
    let plain = Message::Heartbeat(small_heartbeat());
    assert_eq!(plain.heartbeat(), Some(&small_heartbeat()));
    assert_eq!(plain.detection_health(), None);
    Ok(())
}

#[test]
fn the_wire_layout_of_a_detection_heartbeat_is_fixed() -> Result {
    let message = with_detection(small_heartbeat(), detection_health());
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &[6][..],              // Message::DetectionHeartbeat
        &small_heartbeat_body(),
        &[4],                  // suppressed
        &[0x82, 0x01],         // raised 130
        &[3],                  // open_alerts
        &[1],                  // active_blocks
        &[1],                  // alert_only
    ]
    .concat();
    assert_eq!(message.encode(), expected);
    assert_eq!(Message::decode(&expected)?, message);
    assert_eq!(expected.len(), 58);
    Ok(())
}

#[test]
fn heartbeats_sent_before_the_detection_heartbeat_still_decode() -> Result {
    // Variant 3, as sensors with detection off still send it.
    let current = [&[3][..], &small_heartbeat_body()].concat();
    assert_eq!(
        Message::decode(&current)?,
        Message::Heartbeat(small_heartbeat())
    );
    assert_eq!(Message::Heartbeat(small_heartbeat()).encode(), current);
    // Variant 1, as the first protocol revision sent it.
    #[rustfmt::skip]
    let first: Vec<u8> = [
        &[1][..],                            // Message::HeartbeatV1
        &[0xc0, 0x8d, 0xf6, 0xd7, 0x06],     // at
        &[0x90, 0x1c],                       // uptime_secs 3600
        &[60],                               // interval_secs
        &[5, b'0', b'.', b'2', b'.', b'0'],  // agent_version
        &[1, 1, 0, 0, 0, 0, 0, 0, 0, 0],     // datapath .. failing
        &[1],                                // verdict: sees
        &[0xe8, 0x07],                       // packets 1000
        &[0xa0, 0x8d, 0x06],                 // bytes 100000
        &[5],                                // hosts
        &[0xd8, 0x04],                       // outbound_packets 600
        &[0x90, 0x03],                       // inbound_packets 400
    ]
    .concat();
    assert_eq!(
        Message::decode(&first)?,
        Message::HeartbeatV1(HeartbeatV1 {
            at: 1_795_000_000,
            uptime_secs: 3600,
            interval_secs: 60,
            health: health(),
            visibility: Visibility {
                verdict: VisibilityVerdict::Sees,
                packets: 1000,
                bytes: 100_000,
                hosts: 5,
                outbound_packets: 600,
                inbound_packets: 400,
            },
        })
    );
    // A detection heartbeat cut short of its detection health is refused,
    // never read as a plain heartbeat.
    let cut = [&[6][..], &small_heartbeat_body()].concat();
    assert!(Message::decode(&cut).is_err());
    Ok(())
}

#[test]
fn a_detection_heartbeat_seals_within_the_heartbeat_budget() -> Result {
    let small = small_header_sealer()?;
    let real = real_header_sealer()?;
    let size =
        |sealer: &Sealer, message: &Message| sealer.seal_payload(&message.encode()).bytes.len();
    let plain = Message::Heartbeat(typical_heartbeat());
    let typical = with_detection(typical_heartbeat(), detection_health());
    let largest = with_detection(typical_heartbeat(), largest_detection_health());
    let sizes = [&plain, &typical, &largest].map(|m| (size(&small, m), size(&real, m)));
    // Printed for the README's wire-size table (`cargo test -- --nocapture`).
    println!(
        "heartbeat envelope (epoch 7, seq 1 / epoch 1795000000, seq 1000): plain {:?} B, \
         with detection health {:?} B, with the largest detection health {:?} B",
        sizes[0], sizes[1], sizes[2]
    );
    // The typical detection health takes 6 bytes, the largest 17.
    assert_eq!(typical.encode().len(), plain.encode().len() + 6);
    assert_eq!(
        largest.encode().len(),
        plain.encode().len() + DETECTION_HEALTH_MAX_LEN
    );
    assert_eq!(sizes, [(151, 156), (157, 162), (168, 173)]);
    assert!(sizes.iter().all(|&(s, r)| s.max(r) <= HEARTBEAT_BUDGET));
    // Every finding at once with the largest figures still fits an envelope.
    let mut worst = typical_heartbeat();
    worst.sight.findings = FindingCode::ALL
        .iter()
        .map(|code| Finding {
            code: *code,
            a: u64::MAX,
            b: u64::MAX,
        })
        .collect();
    let worst = with_detection(worst, largest_detection_health());
    assert!(size(&real, &worst) <= MAX_ENVELOPE_LEN);
    Ok(())
}
