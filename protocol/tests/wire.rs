//! Round trips, wire sizes and rejections of every message and of envelopes.

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken setup step"
)]

use vantage_protocol::{
    frame, message::bounded, Ack, AckOutcome, Addr, Alert, AlertKind, DatapathState, Declared,
    DecodeError, DeploymentMode, Enrolment, Envelope, Finding, FindingCode, Health, Heartbeat,
    HeartbeatV1, Message, RejectReason, Sealer, SensorKey, Severity, Sight, VerifyError,
    Visibility, VisibilityVerdict, MAX_ENVELOPE_LEN, MAX_PAYLOAD_LEN,
};

fn typical_alert() -> Message {
    Message::Alert(Alert {
        at: 1_795_000_000,
        severity: Severity::High,
        kind: AlertKind::PortScan,
        host: Addr::V4([10, 77, 1, 10]),
        peer: Some(Addr::V4([203, 0, 113, 80])),
        port: 445,
        count: 120,
        detail: bounded("120 ports in 10 s"),
    })
}

fn largest_alert() -> Message {
    Message::Alert(Alert {
        at: u64::MAX,
        severity: Severity::Critical,
        kind: AlertKind::Visibility,
        host: Addr::V6([0xff; 16]),
        peer: Some(Addr::V6([0xff; 16])),
        port: u16::MAX,
        count: u32::MAX,
        detail: bounded(&"x".repeat(200)),
    })
}

fn health() -> Health {
    Health {
        agent_version: bounded("0.1.0"),
        datapath: DatapathState::Driver,
        interfaces: 2,
        spool_pending: 3,
        spool_evicted: 0,
        spool_torn: 1,
        spool_rejected: 0,
        events_lost: 17,
        malformed: 4,
        faults: 0,
        failing: 0,
    }
}

/// A heartbeat of a sensor that sees 5 of 375 hosts and no DNS.
fn heartbeat() -> Message {
    heartbeat_with(&[
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
    ])
}

fn heartbeat_with(findings: &[Finding]) -> Message {
    Message::Heartbeat(Heartbeat {
        at: 1_795_000_000,
        uptime_secs: 86_400,
        interval_secs: 60,
        health: health(),
        sight: Sight {
            verdict: Sight::verdict_of(findings),
            since: 1_794_990_000,
            window_secs: 300,
            packets: 1_234_567,
            bytes: 987_654_321,
            hosts_seen: 5,
            findings: findings.iter().copied().collect(),
            declared: Declared {
                mode: DeploymentMode::Inline,
                hosts_min: 375,
                hosts_max: 375,
            },
            resolvers_seen: heapless::Vec::new(),
        },
    })
}

/// What a sensor of the first protocol revision sent.
fn heartbeat_v1() -> Message {
    Message::HeartbeatV1(HeartbeatV1 {
        at: 1_795_000_000,
        uptime_secs: 86_400,
        interval_secs: 60,
        health: health(),
        visibility: Visibility {
            verdict: VisibilityVerdict::Sees,
            packets: 1_234_567,
            bytes: 987_654_321,
            hosts: 42,
            outbound_packets: 600_000,
            inbound_packets: 634_567,
        },
    })
}

fn enrolment(key: &SensorKey) -> Message {
    Message::Enrolment(Enrolment {
        public_key: key.public().0,
        site: bounded("acme-dental"),
        hostname: bounded("gw-01"),
        agent_version: bounded("0.1.0"),
    })
}

fn sealer() -> Sealer {
    Sealer::new(SensorKey::ephemeral().expect("key"), 7, 1, [0; 16])
}

#[test]
fn every_message_round_trips_through_a_verified_envelope() {
    let mut sealer = sealer();
    let public = sealer.public();
    let enrol = enrolment(&SensorKey::ephemeral().expect("key"));
    for message in [
        typical_alert(),
        largest_alert(),
        heartbeat(),
        heartbeat_v1(),
        enrol,
    ] {
        let sealed = sealer.seal(&message);
        let envelope = Envelope::decode(&sealed.bytes).expect("decode");
        envelope.verify(&public).expect("verify");
        assert_eq!(envelope.message().expect("message"), message);
        assert_eq!(envelope.sensor, public.sensor_id());
        assert_eq!((envelope.epoch, envelope.seq), (sealed.epoch, sealed.seq));
        assert_eq!(envelope.hash(), sealed.hash);
        assert_eq!(envelope.wire(), &sealed.bytes[..]);
    }
}

#[test]
fn envelopes_are_numbered_and_chained() {
    let mut sealer = sealer();
    let first = sealer.seal(&heartbeat());
    let second = sealer.seal(&typical_alert());
    let third = sealer.seal(&typical_alert());
    assert_eq!((first.seq, second.seq, third.seq), (1, 2, 3));
    let second = Envelope::decode(&second.bytes).expect("decode");
    let third = Envelope::decode(&third.bytes).expect("decode");
    assert_eq!(second.prev, first.hash);
    assert_eq!(third.prev, second.hash());
    assert_ne!(first.hash, second.hash());
}

#[test]
fn wire_sizes_stay_within_the_budget() {
    let mut sealer = sealer();
    let typical = sealer.seal(&typical_alert()).bytes.len();
    let heartbeat = sealer.seal(&heartbeat()).bytes.len();
    let largest = sealer.seal(&largest_alert()).bytes.len();
    // Printed for the README's wire-size table (`cargo test -- --nocapture`).
    println!(
        "typical alert envelope {typical} B, heartbeat {heartbeat} B, largest alert {largest} B"
    );
    assert!(typical <= 160, "typical alert envelope is {typical} bytes");
    assert!(heartbeat <= 192, "heartbeat envelope is {heartbeat} bytes");
    // Every finding at once, with the largest figures, still fits.
    let every: Vec<Finding> = FindingCode::ALL
        .iter()
        .map(|code| Finding {
            code: *code,
            a: u64::MAX,
            b: u64::MAX,
        })
        .collect();
    let worst = sealer.seal(&heartbeat_with(&every)).bytes.len();
    println!("heartbeat with every finding {worst} B");
    assert!(worst <= MAX_ENVELOPE_LEN, "{worst} bytes");
    assert!(largest <= MAX_ENVELOPE_LEN);
    // The budget is signature 64 + chain hash 16 + a few header bytes + payload.
    assert_eq!(
        typical,
        64 + 16 + 1 + 8 + 1 + 1 + 1 + typical_alert().encode().len()
    );
}

#[test]
fn tampering_with_any_byte_breaks_the_signature_or_the_decode() {
    let mut sealer = sealer();
    let public = sealer.public();
    let sealed = sealer.seal(&typical_alert());
    for index in 0..sealed.bytes.len() {
        let mut bytes = sealed.bytes.clone();
        bytes[index] ^= 0x01;
        // Either the bytes no longer decode, or they no longer verify.
        if let Ok(envelope) = Envelope::decode(&bytes) {
            assert!(
                envelope.verify(&public).is_err(),
                "flipping byte {index} still verified"
            );
        }
    }
}

#[test]
fn another_key_cannot_sign_for_the_sensor() {
    let mut genuine = sealer();
    let public = genuine.public();
    let sealed = genuine.seal(&typical_alert());
    // Same header, signed by someone else: the signature bytes are replaced.
    let forger = SensorKey::ephemeral().expect("key");
    let mut forged = sealed.bytes.clone();
    let body_len = forged.len() - 64;
    let mut forger_sealer = Sealer::new(forger, 7, 1, [0; 16]);
    let forger_bytes = forger_sealer.seal(&typical_alert()).bytes;
    forged[body_len..].copy_from_slice(&forger_bytes[forger_bytes.len() - 64..]);
    let envelope = Envelope::decode(&forged).expect("decode");
    assert_eq!(envelope.verify(&public), Err(VerifyError::BadSignature));
    // And the forger's own envelope names a different sensor.
    let theirs = Envelope::decode(&forger_bytes).expect("decode");
    assert!(matches!(
        theirs.verify(&public),
        Err(VerifyError::WrongSensor { .. })
    ));
}

#[test]
fn decode_errors_say_what_is_wrong() {
    let mut sealer = sealer();
    let sealed = sealer.seal(&typical_alert()).bytes;
    assert_eq!(Envelope::decode(&[]), Err(DecodeError::Empty));
    let mut future = sealed.clone();
    future[0] = 2;
    assert_eq!(
        Envelope::decode(&future),
        Err(DecodeError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    );
    assert_eq!(
        Envelope::decode(&sealed[..sealed.len() - 1]),
        Err(DecodeError::SignatureLength {
            len: 63,
            expected: 64
        })
    );
    let mut longer = sealed.clone();
    longer.push(0);
    assert_eq!(
        Envelope::decode(&longer),
        Err(DecodeError::SignatureLength {
            len: 65,
            expected: 64
        })
    );
    assert!(matches!(
        Envelope::decode(&sealed[..5]),
        Err(DecodeError::Malformed {
            what: "envelope header",
            ..
        })
    ));
    let huge = vec![1u8; MAX_ENVELOPE_LEN + 1];
    assert!(matches!(
        Envelope::decode(&huge),
        Err(DecodeError::TooLong {
            what: "envelope",
            ..
        })
    ));
    let oversized = sealer.seal_payload(&vec![0u8; MAX_PAYLOAD_LEN + 1]).bytes;
    assert!(matches!(
        Envelope::decode(&oversized),
        Err(DecodeError::TooLong {
            what: "payload",
            ..
        })
    ));
    // A payload that is not a message decodes as an envelope but not further.
    let junk = Envelope::decode(&sealer.seal_payload(&[9, 9, 9]).bytes).expect("envelope");
    assert!(matches!(
        junk.message(),
        Err(DecodeError::Malformed {
            what: "message",
            ..
        })
    ));
    let mut trailing = typical_alert().encode();
    trailing.push(0);
    assert_eq!(
        Message::decode(&trailing),
        Err(DecodeError::Trailing {
            what: "message",
            len: 1
        })
    );
}

#[test]
fn bounded_strings_refuse_oversized_input() {
    // Hand-encode an alert whose detail claims 65 bytes (one over the limit).
    let mut encoded = Message::Alert(Alert {
        detail: bounded(""),
        ..match typical_alert() {
            Message::Alert(alert) => alert,
            _ => unreachable!(),
        }
    })
    .encode();
    encoded.pop(); // the empty detail's length byte
    encoded.push(65);
    encoded.extend(std::iter::repeat_n(b'a', 65));
    assert!(matches!(
        Message::decode(&encoded),
        Err(DecodeError::Malformed {
            what: "message",
            ..
        })
    ));
}

#[test]
fn acks_and_frames_round_trip() {
    for outcome in [
        AckOutcome::Stored,
        AckOutcome::Duplicate,
        AckOutcome::Rejected(RejectReason::Conflict),
    ] {
        let ack = Ack {
            epoch: u32::MAX,
            seq: u64::MAX,
            outcome,
        };
        let bytes = ack.encode();
        assert!(bytes.len() <= frame::MAX_ACK_LEN);
        assert_eq!(Ack::decode(&bytes), Ok(ack));
    }
    let mut out = Vec::new();
    frame::push_frame(&mut out, b"abc").expect("frame");
    assert_eq!(out, [0, 3, b'a', b'b', b'c']);
    assert_eq!(frame::frame_len([0, 3], 10), Ok(3));
    assert_eq!(frame::frame_len([0, 0], 10), Err(DecodeError::Empty));
    assert!(frame::frame_len([1, 0], 10).is_err());
    assert!(frame::push_frame(&mut out, &vec![0; MAX_ENVELOPE_LEN + 1]).is_err());
}

#[test]
fn keys_are_written_owner_only_and_loaded_back() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("vantage-protocol-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("sensor.key");
    let key = SensorKey::generate(&path).expect("generate");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(SensorKey::generate(&path).is_err(), "must not overwrite");
    assert_eq!(SensorKey::load(&path).expect("load").public(), key.public());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let refused = SensorKey::load(&path).expect_err("world-readable key must be refused");
    assert!(refused.to_string().contains("chmod 600"), "{refused}");
    std::fs::write(dir.join("junk.key"), b"junk").expect("write");
    std::fs::set_permissions(dir.join("junk.key"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    assert!(SensorKey::load(&dir.join("junk.key")).is_err());
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
