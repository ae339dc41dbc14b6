//! The pure core shared by `vantage run` and, later, replays of captures and
//! traces: each [`Interval`] goes in with the time it ends, and what the
//! agent must do comes out ([`Outputs`]). No I/O, no clock of its own: the
//! caller passes `now`, so the same steps run live or in accelerated time.
//!
//! Today a step tallies the kernel's events, judges visibility and says when
//! a heartbeat is due. Learning, detection and the response policy slot in
//! here as further stages of [`Pipeline::step`].

use std::{
    collections::VecDeque,
    time::{Duration, SystemTime},
};

use sensor_common::EventKind;
use vantage_protocol::Visibility;

use crate::{
    report::agent_state::{EventTotals, RecentEvent},
    sample::{Event, Interval},
    visibility,
};

/// Recent events kept for `vantage status`.
pub const RECENT_EVENTS: usize = 32;

/// Settings of the pipeline.
#[derive(Clone, Copy, Debug)]
pub struct PipelineOptions {
    /// How often a heartbeat is due; `None` when nothing is sent upstream.
    pub heartbeat_interval: Option<Duration>,
}

/// What one step asks of the agent.
#[derive(Clone, Debug, PartialEq)]
pub struct Outputs {
    /// The visibility verdict and its figures at the end of the interval.
    pub visibility: Visibility,
    /// A heartbeat carrying `visibility` is due now.
    pub heartbeat_due: bool,
}

/// The pipeline's state across steps.
#[derive(Clone, Debug)]
pub struct Pipeline {
    options: PipelineOptions,
    started_at: SystemTime,
    next_heartbeat: Option<SystemTime>,
    events: EventTotals,
    recent: VecDeque<RecentEvent>,
}

impl Pipeline {
    /// A pipeline starting at `started_at`; the first step owes a heartbeat.
    pub fn new(options: PipelineOptions, started_at: SystemTime) -> Pipeline {
        Pipeline {
            options,
            started_at,
            next_heartbeat: options.heartbeat_interval.map(|_| started_at),
            events: EventTotals::default(),
            recent: VecDeque::with_capacity(RECENT_EVENTS),
        }
    }

    /// Seconds since the pipeline started, at `now`.
    pub fn uptime_secs(&self, now: SystemTime) -> u32 {
        let elapsed = now.duration_since(self.started_at).unwrap_or_default();
        u32::try_from(elapsed.as_secs()).unwrap_or(u32::MAX)
    }

    /// Takes one interval, ending at `now`.
    pub fn step(&mut self, interval: &Interval, now: SystemTime) -> Outputs {
        for event in &interval.events {
            self.tally(event, interval);
        }
        let heartbeat_due = match (self.next_heartbeat, self.options.heartbeat_interval) {
            (Some(due), Some(every)) if now >= due => {
                // Keep to the schedule; after a stall, restart it from now.
                let next = due + every;
                self.next_heartbeat = Some(if next <= now { now + every } else { next });
                true
            }
            _ => false,
        };
        Outputs {
            visibility: visibility::assess(interval, self.uptime_secs(now)),
            heartbeat_due,
        }
    }

    /// Events drained so far, by kind.
    pub fn event_totals(&self) -> EventTotals {
        self.events
    }

    /// Counts a record the datapath could not decode.
    pub fn count_undecodable(&mut self, records: u64) {
        self.events.undecodable += records;
    }

    /// The latest events, newest last.
    pub fn recent_events(&self) -> impl Iterator<Item = &RecentEvent> {
        self.recent.iter()
    }

    fn tally(&mut self, event: &Event, interval: &Interval) {
        match event.kind {
            EventKind::TcpSyn => self.events.tcp_syn += 1,
            EventKind::UdpNewPeer => self.events.udp_new_peer += 1,
            EventKind::DnsQuery => self.events.dns_query += 1,
        }
        if self.recent.len() == RECENT_EVENTS {
            self.recent.pop_front();
        }
        self.recent.push_back(RecentEvent {
            at: interval.unix_of(event.timestamp_ns),
            kind: <&str>::from(event.kind).to_owned(),
            src: event.src.to_string(),
            dst: event.dst.to_string(),
            protocol: event.protocol,
            src_port: event.src_port,
            dst_port: event.dst_port,
            qname: event.qname.clone(),
            dropped: event.dropped,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use sensor_common::{HostCounters, SiteCounters, TrafficClass};
    use vantage_protocol::VisibilityVerdict;

    use super::*;
    use crate::{
        sample::{Reading, Sampler},
        time::{Clock as _, ManualClock},
    };

    fn event(kind: EventKind, timestamp_ns: u64) -> Event {
        Event {
            kind,
            timestamp_ns,
            src: "10.0.0.5"
                .parse()
                .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
            dst: "203.0.113.7"
                .parse()
                .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
            src_port: 40000,
            dst_port: 443,
            protocol: 6,
            ifindex: 2,
            qname: None,
            qname_truncated: false,
            dropped: false,
        }
    }

    fn reading(outbound: u64, inbound: u64) -> Reading {
        let mut site = SiteCounters::default();
        site.class_packets[TrafficClass::LocalToRemote as usize] = outbound;
        site.class_packets[TrafficClass::RemoteToLocal as usize] = inbound;
        site.packets = outbound + inbound;
        Reading {
            hosts: vec![(
                "10.0.0.5"
                    .parse()
                    .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
                vec![HostCounters::default()],
            )],
            site,
            host_capacity: 64,
        }
    }

    /// Ten minutes of one-second ticks in accelerated time: heartbeats every
    /// 60 s exactly, starting with the first step.
    #[test]
    fn heartbeats_fall_due_on_schedule_in_accelerated_time() {
        let clock = ManualClock::at_unix(1_700_000_000);
        let mut pipeline = Pipeline::new(
            PipelineOptions {
                heartbeat_interval: Some(Duration::from_secs(60)),
            },
            clock.now(),
        );
        let mut sampler = Sampler::new();
        let mut due_at = Vec::new();
        for _ in 0..600 {
            let interval = sampler.next(
                reading(10, 12),
                Vec::new(),
                clock.now(),
                clock.monotonic_ns(),
            );
            if pipeline.step(&interval, clock.now()).heartbeat_due {
                due_at.push(pipeline.uptime_secs(clock.now()));
            }
            clock.advance(Duration::from_secs(1));
        }
        assert_eq!(due_at, (0..10).map(|i| i * 60).collect::<Vec<u32>>());
    }

    #[test]
    fn a_stalled_loop_owes_one_heartbeat_not_a_burst() {
        let clock = ManualClock::at_unix(1_700_000_000);
        let options = PipelineOptions {
            heartbeat_interval: Some(Duration::from_secs(60)),
        };
        let mut pipeline = Pipeline::new(options, clock.now());
        let mut sampler = Sampler::new();
        let mut step = |pipeline: &mut Pipeline| {
            let interval =
                sampler.next(reading(1, 1), Vec::new(), clock.now(), clock.monotonic_ns());
            pipeline.step(&interval, clock.now()).heartbeat_due
        };
        assert!(step(&mut pipeline));
        clock.advance(Duration::from_secs(600));
        assert!(step(&mut pipeline));
        clock.advance(Duration::from_secs(1));
        assert!(!step(&mut pipeline));
        clock.advance(Duration::from_secs(59));
        assert!(step(&mut pipeline));
    }

    #[test]
    fn no_uplink_no_heartbeat_and_events_are_tallied_with_their_times() {
        let clock = ManualClock::at_unix(1_700_000_000);
        let mut pipeline = Pipeline::new(
            PipelineOptions {
                heartbeat_interval: None,
            },
            clock.now(),
        );
        let mono = clock.monotonic_ns();
        let events = vec![
            event(EventKind::TcpSyn, mono - 500_000_000),
            event(EventKind::DnsQuery, mono - 250_000_000),
            event(EventKind::TcpSyn, mono),
        ];
        let interval = Sampler::new().next(reading(0, 0), events, clock.now(), mono);
        let outputs = pipeline.step(&interval, clock.now());
        assert!(!outputs.heartbeat_due);
        assert_eq!(outputs.visibility.verdict, VisibilityVerdict::Unknown);
        let totals = pipeline.event_totals();
        assert_eq!(
            (totals.tcp_syn, totals.dns_query, totals.udp_new_peer),
            (2, 1, 0)
        );
        let times: Vec<f64> = pipeline.recent_events().map(|e| e.at).collect();
        assert_eq!(times, [1_699_999_999.5, 1_699_999_999.75, 1_700_000_000.0]);
        assert_eq!(
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            interval.end
        );
    }
}
