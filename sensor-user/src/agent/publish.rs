//! What the agent tells others about itself: the health figures of its
//! heartbeats, and the state file `vantage status` reads.

use vantage_protocol::DatapathState;

use super::{faults::FaultKind, state_file, Agent};
use crate::{
    datapath::AttachedMode,
    report::{agent_state::UplinkState, heartbeat::HealthFigures},
    sample::Interval,
    time::{unix_seconds, unix_secs},
};

impl Agent {
    pub(super) fn health(&self, interval: &Interval, now: std::time::SystemTime) -> HealthFigures {
        let spool = self
            .uplink
            .as_ref()
            .map(|u| u.spool.view().status())
            .unwrap_or_default();
        let site = &interval.site.totals;
        let all_generic = self
            .state
            .interfaces
            .iter()
            .all(|i| i.mode == <&str>::from(AttachedMode::Generic));
        HealthFigures {
            now_unix: unix_secs(now),
            uptime_secs: self.pipeline.uptime_secs(now),
            interval_secs: self.options.uplink.as_ref().map_or(0, |u| {
                u32::try_from(u.heartbeat_interval.as_secs()).unwrap_or(u32::MAX)
            }),
            datapath: if all_generic {
                DatapathState::Generic
            } else {
                DatapathState::Driver
            },
            interfaces: u8::try_from(self.state.interfaces.len()).unwrap_or(u8::MAX),
            spool_pending: u32::try_from(spool.pending).unwrap_or(u32::MAX),
            spool_evicted: spool.counters.evicted_total(),
            spool_torn: spool.counters.torn_records,
            spool_rejected: spool.counters.rejected,
            events_lost: site.events_rate_limited + site.events_ring_full,
            malformed: site.malformed.iter().sum(),
            faults: self.faults.total(),
            failing: self.faults.failing_bits(),
        }
    }

    /// Writes the state file off the runtime thread.
    pub(super) async fn publish(&mut self, now: std::time::SystemTime) {
        self.state.updated_at = unix_seconds(now);
        self.state.events = self.pipeline.event_totals();
        self.state.events.overflow = self.events_overflow;
        self.state.recent_events = self.pipeline.recent_events().cloned().collect();
        self.state.faults = self.faults.report();
        self.state.uplink = self.uplink.as_ref().map(|uplink| {
            let (status, link) = (uplink.spool.view().status(), uplink.spool.view().link());
            UplinkState {
                connected: link.connected,
                last_error: link.last_error,
                acks: link.acks,
                pending: status.pending as u64,
                evicted: status.counters.evicted_total(),
                rejected: status.counters.rejected,
                epoch: uplink.epoch,
            }
        });
        let dir = self.options.state_dir.clone();
        let state = self.state.clone();
        let written = tokio::task::spawn_blocking(move || state_file::write_state(&dir, &state))
            .await
            .map_err(|join| join.to_string())
            .and_then(|result| result.map_err(|e| e.to_string()));
        self.faults.check(FaultKind::StateFile, written, now);
    }
}
