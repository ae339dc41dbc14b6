//! Writes valid inputs for the fuzz targets into `DIR/<target>/`: signed
//! envelopes of every message, the bare messages, framed acks and a minimal
//! certificate. `cargo xtask fuzz` runs it before fuzzing.
//!
//! Usage: `cargo run -p vantage-protocol --example fuzz_seeds -- DIR`

use std::path::{Path, PathBuf};

use vantage_protocol::{
    frame, message::bounded, pin::spki_of_certificate, Ack, AckOutcome, Addr, Alert, AlertKind,
    DatapathState, Declared, DeploymentMode, DetectionHealth, DetectionHeartbeat, Enrolment,
    Finding, FindingCode, Health, Heartbeat, Message, PublicKey, RejectReason, Sealer, SensorKey,
    Severity, Sight, Verdict,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One message of each kind (new kinds last, so that earlier seeds keep
/// their names); the enrolment names `key`, as a real one names the key
/// that signs it.
fn messages(key: &PublicKey) -> Vec<Message> {
    let heartbeat = Heartbeat {
        at: 1_795_000_000,
        uptime_secs: 3600,
        interval_secs: 60,
        health: Health {
            agent_version: bounded("0.1.0"),
            datapath: DatapathState::Generic,
            interfaces: 2,
            spool_pending: 1,
            spool_evicted: 2,
            spool_torn: 1,
            spool_rejected: 0,
            events_lost: 3,
            malformed: 4,
            faults: 0,
            failing: 0,
        },
        sight: Sight {
            verdict: Verdict::Degraded,
            since: 1_700_000_000,
            window_secs: 300,
            packets: 1000,
            bytes: 100_000,
            hosts_seen: 3,
            findings: [Finding {
                code: FindingCode::OneSided,
                a: 600,
                b: 0,
            }]
            .into_iter()
            .collect(),
            declared: Declared {
                mode: DeploymentMode::Mirror,
                hosts_min: 3,
                hosts_max: 10,
            },
            resolvers_seen: heapless::Vec::new(),
        },
    };
    vec![
        Message::Alert(Alert {
            at: 1_795_000_000,
            severity: Severity::High,
            kind: AlertKind::PortScan,
            host: Addr::V4([10, 77, 1, 10]),
            peer: Some(Addr::V6([
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
            ])),
            port: 445,
            count: 120,
            detail: bounded("120 ports in 10 s"),
        }),
        Message::Heartbeat(heartbeat.clone()),
        Message::Enrolment(Enrolment {
            public_key: key.0,
            site: bounded("acme"),
            hostname: bounded("gw-01"),
            agent_version: bounded("0.1.0"),
        }),
        Message::DetectionHeartbeat(DetectionHeartbeat {
            heartbeat,
            detection: DetectionHealth {
                suppressed: 4,
                raised: 130,
                open_alerts: 3,
                active_blocks: 1,
                alert_only: true,
            },
        }),
    ]
}

/// One DER element (definite length, short or long form).
fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xff {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(contents);
    out
}

/// The structure of an Ed25519 X.509 certificate, with an empty issuer and
/// subject and a zero signature: enough for the pin's DER walk.
fn certificate(public_key: &[u8; 32]) -> (Vec<u8>, Vec<u8>) {
    const SEQUENCE: u8 = 0x30;
    let ed25519 = der(SEQUENCE, &der(0x06, &[0x2b, 0x65, 0x70]));
    let bits = |bytes: &[u8]| der(0x03, &[&[0u8][..], bytes].concat());
    let spki = der(SEQUENCE, &[ed25519.clone(), bits(public_key)].concat());
    let validity = der(
        SEQUENCE,
        &[der(0x17, b"240101000000Z"), der(0x18, b"20740101000000Z")].concat(),
    );
    let tbs = der(
        SEQUENCE,
        &[
            der(0xa0, &der(0x02, &[2])),
            der(0x02, &[1]),
            ed25519.clone(),
            der(SEQUENCE, &[]),
            validity,
            der(SEQUENCE, &[]),
            spki.clone(),
        ]
        .concat(),
    );
    let cert = der(SEQUENCE, &[tbs, ed25519, bits(&[0; 64])].concat());
    (cert, spki)
}

fn write(dir: &Path, target: &str, name: String, bytes: &[u8]) -> Result<()> {
    let path = dir.join(target).join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()).into())
}

fn main() -> Result<()> {
    let dir = PathBuf::from(std::env::args_os().nth(1).ok_or("usage: fuzz_seeds DIR")?);
    for target in ["envelope", "message", "ack_frame", "certificate_pin"] {
        let path = dir.join(target);
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }

    let mut sealer = Sealer::new(SensorKey::ephemeral()?, 1, 1, [0; 16]);
    let key = sealer.public();
    for (i, message) in messages(&key).iter().enumerate() {
        write(
            &dir,
            "envelope",
            format!("seed-{i}"),
            &sealer.seal(message).bytes,
        )?;
        write(&dir, "message", format!("seed-{i}"), &message.encode())?;
    }

    let outcomes = [
        AckOutcome::Stored,
        AckOutcome::Duplicate,
        AckOutcome::Rejected(RejectReason::BadSignature),
    ];
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let ack = Ack {
            epoch: 3,
            seq: 300,
            outcome,
        };
        let mut seed = Vec::new();
        frame::push_frame(&mut seed, &ack.encode())?;
        write(&dir, "ack_frame", format!("seed-{i}"), &seed)?;
    }

    let (cert, spki) = certificate(&key.0);
    if spki_of_certificate(&cert) != Some(&spki[..]) {
        return Err("the seed certificate's key is not found by the pin's DER walk".into());
    }
    write(&dir, "certificate_pin", "seed-0".into(), &cert)?;
    Ok(())
}
