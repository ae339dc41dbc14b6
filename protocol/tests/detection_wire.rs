//! Detections and digests on the wire: round trips through verified
//! envelopes, the sizes of typical and largest ones, and the byte layout
//! that fixes their wire codes (older messages keep theirs).

mod support;

use support::{real_header_sealer, small_header_sealer};
use vantage_protocol::{
    message::bounded, Action, ActionReason, Addr, Alert, AlertKind, Day, Detection, Detector,
    Digest, Envelope, Explanation, Fact, Message, Response, Sealer, Severity, MAX_ENVELOPE_LEN,
};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

/// A port scan as the sensor sends it: IPv4 host and peer, four facts, no
/// domain, notified.
fn typical_detection() -> Detection {
    Detection {
        at: 1_795_000_000,
        alert_id: 1_234,
        revision: 1,
        detector: Detector::PortScan,
        severity: Severity::High,
        score: 85,
        host: Addr::V4([172, 16, 0, 8]),
        peer: Some(Addr::V4([64, 13, 134, 52])),
        port: 0,
        domain: bounded(""),
        explanation: Explanation::new(312.0, 15.0, 300, 95)
            .with(Fact::Attempts, 340.0)
            .with(Fact::Unanswered, 295.0)
            .with(Fact::Refused, 43.0)
            .with(Fact::Answered, 2.0),
        response: Response::of(Action::Notify),
    }
}

/// The same with a registered domain of 20 characters (a beacon by name).
fn detection_with_domain() -> Detection {
    Detection {
        detector: Detector::Beacon,
        port: 443,
        domain: bounded("telemetry-sync.co.uk"),
        ..typical_detection()
    }
}

/// Every field at its widest.
fn largest_detection() -> Detection {
    let mut explanation = Explanation::new(f64::MAX, f64::MAX, u32::MAX, u8::MAX);
    for fact in [
        Fact::Attempts,
        Fact::Answered,
        Fact::Refused,
        Fact::Unanswered,
        Fact::DistinctPorts,
        Fact::ListIndex,
    ] {
        explanation = explanation.with(fact, f64::MAX);
    }
    Detection {
        at: u64::MAX,
        alert_id: u32::MAX,
        revision: u16::MAX,
        detector: Detector::NewDevice,
        severity: Severity::Critical,
        score: 100,
        host: Addr::V6([0xff; 16]),
        peer: Some(Addr::V6([0xff; 16])),
        port: u16::MAX,
        domain: bounded(&"x".repeat(100)),
        explanation,
        response: Response {
            action: Action::Refused,
            ttl_secs: u32::MAX,
            reason: ActionReason::ShadowMode,
            blast_radius: u16::MAX,
        },
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
        detections: [(Detector::PortScan, 3), (Detector::Beacon, 1)]
            .into_iter()
            .collect(),
        actions: [(Action::Notify, 2), (Action::Digest, 2)]
            .into_iter()
            .collect(),
        top_hosts: [
            (Addr::V4([172, 16, 0, 8]), 3),
            (Addr::V4([172, 16, 0, 9]), 1),
        ]
        .into_iter()
        .collect(),
        suppressed: 5,
    }
}

fn largest_digest() -> Digest {
    Digest {
        at: u64::MAX,
        day: Day {
            year: u16::MAX,
            month: u8::MAX,
            day: u8::MAX,
        },
        detections: std::iter::repeat_n((Detector::NewDevice, u32::MAX), 16).collect(),
        actions: std::iter::repeat_n((Action::Refused, u32::MAX), 8).collect(),
        top_hosts: std::iter::repeat_n((Addr::V6([0xff; 16]), u32::MAX), 5).collect(),
        suppressed: u32::MAX,
    }
}

#[test]
fn detections_and_digests_round_trip_through_verified_envelopes() -> Result {
    let mut sealer = small_header_sealer()?;
    let public = sealer.public();
    for message in [
        Message::Detection(typical_detection()),
        Message::Detection(detection_with_domain()),
        Message::Detection(largest_detection()),
        Message::Digest(digest()),
        Message::Digest(largest_digest()),
    ] {
        let sealed = sealer.seal(&message);
        assert!(sealed.bytes.len() <= MAX_ENVELOPE_LEN, "{message:?}");
        let envelope = Envelope::decode(&sealed.bytes)?;
        envelope.verify(&public)?;
        assert_eq!(envelope.message()?, message);
    }
    assert_eq!(
        Message::Detection(typical_detection()).kind_name(),
        "detection"
    );
    assert_eq!(Message::Digest(digest()).kind_name(), "digest");
    Ok(())
}

#[test]
fn a_typical_detection_seals_within_160_bytes() -> Result {
    let typical = Message::Detection(typical_detection());
    let named = Message::Detection(detection_with_domain());
    let small = small_header_sealer()?;
    let real = real_header_sealer()?;
    let size =
        |sealer: &Sealer, message: &Message| sealer.seal_payload(&message.encode()).bytes.len();
    let payload = typical.encode().len();
    let named_payload = named.encode().len();
    // Printed for the README's wire-size table (`cargo test -- --nocapture`).
    println!(
        "detection payload {payload} B, with a 20-character domain {named_payload} B; \
         envelope (epoch 7, seq 1) {} B / {} B; envelope (epoch 1795000000, seq 1000) {} B / {} B; \
         digest {} B; largest detection {} B, largest digest {} B",
        size(&small, &typical),
        size(&small, &named),
        size(&real, &typical),
        size(&real, &named),
        size(&real, &Message::Digest(digest())),
        size(&real, &Message::Detection(largest_detection())),
        size(&real, &Message::Digest(largest_digest())),
    );
    // The envelope adds signature 64, chain hash 16, version 1, sensor id
    // 8, the epoch, sequence and payload length varints.
    assert_eq!(
        size(&small, &typical),
        64 + 16 + 1 + 8 + 1 + 1 + 1 + payload
    );
    assert_eq!(size(&real, &typical), 64 + 16 + 1 + 8 + 5 + 2 + 1 + payload);
    assert_eq!(payload, 61);
    // 20 bytes of domain, and port 443 takes two bytes where 0 took one.
    assert_eq!(named_payload, payload + 20 + 1);
    assert!(size(&small, &typical) <= 160);
    assert!(size(&real, &typical) <= 160);
    assert_eq!((size(&small, &typical), size(&real, &typical)), (153, 158));
    // A 20-character domain does not fit within 160 bytes beside everything
    // else (signature and chain hash alone are 80): 174 and 179 bytes, held
    // to the heartbeat's budget instead.
    assert_eq!((size(&small, &named), size(&real, &named)), (174, 179));
    assert!(size(&real, &named) <= 192);
    Ok(())
}

#[test]
fn the_wire_layout_of_a_detection_is_fixed() {
    let bytes = Message::Detection(typical_detection()).encode();
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &[4][..],                         // Message::Detection
        &[0xc0, 0x8d, 0xf6, 0xd7, 0x06],  // at, varint
        &[0xd2, 0x09],                    // alert_id 1234
        &[1],                             // revision
        &[0],                             // detector: port_scan
        &[3],                             // severity: high
        &[85],                            // score
        &[0, 172, 16, 0, 8],              // host: V4
        &[1, 0, 64, 13, 134, 52],         // peer: Some(V4)
        &[0],                             // port
        &[0],                             // domain: empty
        &312.0f32.to_le_bytes(),          // observed
        &15.0f32.to_le_bytes(),           // threshold
        &[0xac, 0x02],                    // window_secs 300
        &[95],                            // confidence
        &[4],                             // four facts
        &[0], &340.0f32.to_le_bytes(),    // attempts
        &[3], &295.0f32.to_le_bytes(),    // unanswered
        &[2], &43.0f32.to_le_bytes(),     // refused
        &[1], &2.0f32.to_le_bytes(),      // answered
        &[1, 0, 0, 0],                    // notify, ttl 0, score_threshold, blast 0
    ]
    .concat();
    assert_eq!(bytes, expected);
}

#[test]
fn older_messages_keep_their_codes() -> Result {
    // An alert encoded by the first revision of the protocol.
    let alert = Message::Alert(Alert {
        at: 1_795_000_000,
        severity: Severity::High,
        kind: AlertKind::PortScan,
        host: Addr::V4([10, 77, 1, 10]),
        peer: None,
        port: 445,
        count: 120,
        detail: bounded("x"),
    });
    let old: &[u8] = &[
        0, 0xc0, 0x8d, 0xf6, 0xd7, 0x06, 3, 1, 0, 10, 77, 1, 10, 0, 0xbd, 0x03, 120, 1, b'x',
    ];
    assert_eq!(alert.encode(), old);
    assert_eq!(Message::decode(old)?, alert);
    Ok(())
}
