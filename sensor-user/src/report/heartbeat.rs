//! Heartbeats: what the sensor tells its MSSP every interval about its own
//! health and whether it can see the traffic it is meant to watch, and with
//! detection on, how its detection stage is doing (alerts the rate caps
//! suppressed, alerts open, blocks in force, alert-only). Pure: the
//! pipeline's judgement of what the sensor sees plus the agent's health
//! figures and the detection stage's counters.

use vantage_protocol::{
    message::bounded, DatapathState, DetectionHealth, DetectionHeartbeat, Health, Heartbeat,
    Message, Sight,
};

use crate::pipeline::detection::DetectionStats;

/// The agent's own figures for a heartbeat.
#[derive(Clone, Copy, Debug)]
pub struct HealthFigures {
    /// Unix seconds.
    pub now_unix: u64,
    pub uptime_secs: u32,
    pub interval_secs: u32,
    pub datapath: DatapathState,
    pub interfaces: u8,
    /// Envelopes waiting in the spool for an ack.
    pub spool_pending: u32,
    /// Envelopes evicted or refused for lack of room, all ranks, ever.
    pub spool_evicted: u64,
    /// Torn records cut off the spool at recovery, ever.
    pub spool_torn: u64,
    /// Envelopes the collector refused for good, dropped from the spool, ever.
    pub spool_rejected: u64,
    /// Events rate-limited or lost to a full ring, since the maps were created.
    pub events_lost: u64,
    /// Frames counted as malformed, since the maps were created.
    pub malformed: u64,
    /// Transient faults the agent survived since it started.
    pub faults: u64,
    /// Bit set of fault kinds failing right now (`agent::faults::FaultKind` order).
    pub failing: u8,
}

/// The heartbeat message for `sight` and `health`.
pub fn build(sight: Sight, health: &HealthFigures) -> Heartbeat {
    let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    Heartbeat {
        at: health.now_unix,
        uptime_secs: health.uptime_secs,
        interval_secs: health.interval_secs,
        health: Health {
            agent_version: bounded(env!("CARGO_PKG_VERSION")),
            datapath: health.datapath,
            interfaces: health.interfaces,
            spool_pending: health.spool_pending,
            spool_evicted: clamp(health.spool_evicted),
            spool_torn: clamp(health.spool_torn),
            spool_rejected: clamp(health.spool_rejected),
            events_lost: health.events_lost,
            malformed: health.malformed,
            faults: clamp(health.faults),
            failing: health.failing,
        },
        sight,
    }
}

/// The detection stage's health for the wire, each figure saturating at
/// its wire width (`u32`, `u16`).
pub fn detection_health(stats: &DetectionStats) -> DetectionHealth {
    let wide = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    DetectionHealth {
        suppressed: wide(stats.alerts.suppressed_total()),
        raised: wide(stats.alerts.raised),
        open_alerts: u16::try_from(stats.open_alerts).unwrap_or(u16::MAX),
        active_blocks: u16::try_from(stats.policy.active_blocks).unwrap_or(u16::MAX),
        alert_only: stats.alert_only,
    }
}

/// The message for `beat`: a [`Message::DetectionHeartbeat`] with the
/// detection stage's health when detection is on (`detection` is the
/// stage's counters), else the plain [`Message::Heartbeat`] that collectors
/// older than the detection heartbeat know.
pub fn message(beat: Heartbeat, detection: Option<&DetectionStats>) -> Message {
    match detection {
        Some(stats) => Message::DetectionHeartbeat(DetectionHeartbeat {
            heartbeat: beat,
            detection: detection_health(stats),
        }),
        None => Message::Heartbeat(beat),
    }
}

#[cfg(test)]
mod tests {
    use vantage_protocol::{Declared, DeploymentMode, Finding, FindingCode, Verdict};

    use super::*;
    use crate::{
        detect::{alerts::AlertCounts, Detector},
        respond::PolicyStats,
        uplink::spool::Rank,
    };

    fn sight() -> Sight {
        Sight {
            verdict: Verdict::Degraded,
            since: 900,
            window_secs: 300,
            packets: 25,
            bytes: 2500,
            hosts_seen: 7,
            findings: [Finding {
                code: FindingCode::NoDns,
                a: 0,
                b: 25,
            }]
            .into_iter()
            .collect(),
            declared: Declared {
                mode: DeploymentMode::Inline,
                hosts_min: 7,
                hosts_max: 9,
            },
            resolvers_seen: Default::default(),
        }
    }

    fn figures() -> HealthFigures {
        HealthFigures {
            now_unix: 1000,
            uptime_secs: 30,
            interval_secs: 60,
            datapath: DatapathState::Driver,
            interfaces: 2,
            spool_pending: 4,
            spool_evicted: 3,
            spool_torn: 1,
            spool_rejected: 2,
            events_lost: 9,
            malformed: 2,
            faults: 5,
            failing: 0b10,
        }
    }

    /// A stage that raised 130 alerts, suppressed 3 port scans and one
    /// host sweep, holds 3 open alerts and 1 block, and hit a block cap.
    fn stats() -> DetectionStats {
        DetectionStats {
            alerts: AlertCounts {
                raised: 130,
                updated: 12,
                merged: 40,
                suppressed: vec![(Detector::PortScan, 3), (Detector::HostSweep, 1)],
                evicted: 0,
            },
            open_alerts: 3,
            policy: PolicyStats {
                blocks: 2,
                refused_block_cap: 1,
                switches_to_alert_only: 1,
                active_blocks: 1,
                ..PolicyStats::default()
            },
            alert_only: true,
            ..DetectionStats::default()
        }
    }

    #[test]
    fn heartbeat_carries_the_figures() {
        let sight = sight();
        let beat = build(sight.clone(), &figures());
        assert_eq!(beat.at, 1000);
        assert_eq!(beat.health.spool_evicted, 3);
        assert_eq!(beat.health.spool_torn, 1);
        assert_eq!(beat.health.spool_rejected, 2);
        assert_eq!((beat.health.faults, beat.health.failing), (5, 0b10));
        assert_eq!(beat.sight, sight);
    }

    #[test]
    fn with_detection_on_the_heartbeat_carries_the_stage_health() {
        let beat = build(sight(), &figures());
        let sent = message(beat.clone(), Some(&stats()));
        assert_eq!(
            sent,
            Message::DetectionHeartbeat(DetectionHeartbeat {
                heartbeat: beat.clone(),
                detection: DetectionHealth {
                    suppressed: 4,
                    raised: 130,
                    open_alerts: 3,
                    active_blocks: 1,
                    alert_only: true,
                },
            })
        );
        assert_eq!(sent.heartbeat(), Some(&beat));
        // Detection off: the heartbeat every collector knows.
        assert_eq!(message(beat.clone(), None), Message::Heartbeat(beat));
    }

    #[test]
    fn detection_figures_saturate_at_their_wire_width() {
        let mut huge = stats();
        huge.alerts.raised = u64::MAX;
        huge.alerts.suppressed = vec![
            (Detector::PortScan, u64::from(u32::MAX)),
            (Detector::Beacon, 1),
        ];
        huge.open_alerts = 70_000;
        huge.policy.active_blocks = 65_536;
        huge.alert_only = false;
        assert_eq!(
            detection_health(&huge),
            DetectionHealth {
                suppressed: u32::MAX,
                raised: u32::MAX,
                open_alerts: u16::MAX,
                active_blocks: u16::MAX,
                alert_only: false,
            }
        );
        assert_eq!(
            detection_health(&DetectionStats::default()),
            DetectionHealth::default()
        );
    }

    #[test]
    fn the_spool_keeps_a_detection_heartbeat_like_any_heartbeat() {
        let beat = build(sight(), &figures());
        let with_detection = message(beat.clone(), Some(&stats()));
        assert_eq!(Rank::of(&with_detection), Rank::Keep);
        assert_eq!(Rank::of(&message(beat, None)), Rank::Keep);
        assert_eq!(Rank::Keep.name(), "critical_or_heartbeat");
    }
}
