//! Writes valid inputs for the fuzz targets into `DIR/<target>/`: signed
//! envelopes of every message, the bare messages, and acks behind a frame
//! header. `cargo xtask fuzz` runs it before fuzzing.

use std::path::PathBuf;

use vantage_protocol::{
    message::bounded, Ack, AckOutcome, Addr, Alert, AlertKind, DatapathState, Enrolment, Health,
    Heartbeat, Message, RejectReason, Sealer, SensorKey, Severity, Visibility, VisibilityVerdict,
};

fn messages(key: &SensorKey) -> Vec<Message> {
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
        Message::Heartbeat(Heartbeat {
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
                events_lost: 3,
                malformed: 4,
            },
            visibility: Visibility {
                verdict: VisibilityVerdict::Partial,
                packets: 1000,
                bytes: 100_000,
                hosts: 3,
                outbound_packets: 600,
                inbound_packets: 0,
            },
        }),
        Message::Enrolment(Enrolment {
            public_key: key.public().0,
            site: bounded("acme"),
            hostname: bounded("gw-01"),
            agent_version: bounded("0.1.0"),
        }),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: fuzz_seeds DIR")?);
    let key = SensorKey::ephemeral()?;
    let mut sealer = Sealer::new(SensorKey::ephemeral()?, 1, 1, [0; 16]);
    for target in ["envelope", "message", "ack_frame"] {
        std::fs::create_dir_all(dir.join(target))?;
    }
    for (i, message) in messages(&key).iter().enumerate() {
        std::fs::write(
            dir.join("envelope").join(format!("seed-{i}")),
            sealer.seal(message).bytes,
        )?;
        std::fs::write(
            dir.join("message").join(format!("seed-{i}")),
            message.encode(),
        )?;
    }
    let outcomes = [
        AckOutcome::Stored,
        AckOutcome::Duplicate,
        AckOutcome::Rejected(RejectReason::BadSignature),
    ];
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let mut seed = vec![0, 12];
        seed.extend(
            Ack {
                epoch: 3,
                seq: 300,
                outcome,
            }
            .encode(),
        );
        std::fs::write(dir.join("ack_frame").join(format!("seed-{i}")), seed)?;
    }
    Ok(())
}
