//! Heartbeats: what the sensor tells its MSSP every interval about its own
//! health and whether it can see the traffic it is meant to watch. Pure:
//! the pipeline's judgement of what the sensor sees plus the agent's health
//! figures.

use vantage_protocol::{message::bounded, DatapathState, Health, Heartbeat, Sight};

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

#[cfg(test)]
mod tests {
    use vantage_protocol::{Declared, DeploymentMode, Finding, FindingCode, Verdict};

    use super::*;

    #[test]
    fn heartbeat_carries_the_figures() {
        let sight = Sight {
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
        };
        let beat = build(
            sight.clone(),
            &HealthFigures {
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
            },
        );
        assert_eq!(beat.at, 1000);
        assert_eq!(beat.health.spool_evicted, 3);
        assert_eq!(beat.health.spool_torn, 1);
        assert_eq!(beat.health.spool_rejected, 2);
        assert_eq!((beat.health.faults, beat.health.failing), (5, 0b10));
        assert_eq!(beat.sight, sight);
    }
}
