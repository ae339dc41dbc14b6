//! The writer's log line and spool rank of heartbeats: a heartbeat with
//! detection health is committed as a heartbeat, kept at the highest rank,
//! and its log line says what the rate caps held back; a plain heartbeat's
//! line has no detail.

use std::{path::PathBuf, sync::Arc};

use vantage_protocol::{
    message::bounded, DatapathState, Declared, DeploymentMode, DetectionHealth, DetectionHeartbeat,
    Health, Heartbeat, Message, Sealer, SensorKey, Sight, Verdict,
};

use super::start;
use crate::{
    time::ManualClock,
    uplink::{
        sendlog::{read_log, SendLog},
        spool::{Rank, Spool},
    },
};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

/// A directory private to this test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("vantage-writer-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn heartbeat() -> Heartbeat {
    Heartbeat {
        at: 1_700_000_000,
        uptime_secs: 60,
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
            verdict: Verdict::Ok,
            since: 1_699_999_700,
            window_secs: 300,
            packets: 1000,
            bytes: 100_000,
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

#[test]
fn a_detection_heartbeat_is_kept_and_logged_with_its_detection_health() -> Result {
    let dir = TempDir::new("detection-heartbeat");
    let (mut spool, _) = Spool::open(&dir.0, 1 << 20)?;
    let (epoch, chain) = spool.begin_epoch(0)?;
    let sealer = Sealer::new(SensorKey::ephemeral()?, epoch, 1, chain.hash);
    let clock = Arc::new(ManualClock::at_unix(1_700_000_000));
    let (handle, thread) = start(spool, sealer, SendLog::open(&dir.0, clock))?;
    let with_detection = Message::DetectionHeartbeat(DetectionHeartbeat {
        heartbeat: heartbeat(),
        detection: DetectionHealth {
            suppressed: 4,
            raised: 130,
            open_alerts: 3,
            active_blocks: 1,
            alert_only: true,
        },
    });
    let report = handle.commit_blocking(vec![with_detection, Message::Heartbeat(heartbeat())])?;
    assert!(report.evicted.is_empty() && report.refused.is_empty());
    drop(handle);
    thread.join();

    let committed: Vec<_> = read_log(&dir.0)?
        .into_iter()
        .filter(|entry| entry.event == "committed")
        .map(|entry| (entry.seq, entry.kind, entry.severity, entry.detail))
        .collect();
    let kept = || Some("critical_or_heartbeat".to_owned());
    assert_eq!(
        committed,
        [
            (
                Some(1),
                Some("heartbeat".to_owned()),
                kept(),
                Some("detection suppressed 4, raised 130, open 3, blocks 1, alert-only".to_owned())
            ),
            (Some(2), Some("heartbeat".to_owned()), kept(), None),
        ]
    );
    // Both wait in the spool file at the highest rank.
    let (spool, _) = Spool::open(&dir.0, 1 << 20)?;
    let ranks: Vec<(u64, Rank)> = spool.pending().map(|p| (p.seq, p.rank)).collect();
    assert_eq!(ranks, [(1, Rank::Keep), (2, Rank::Keep)]);
    Ok(())
}
