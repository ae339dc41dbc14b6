//! A simulated site for tests in accelerated time: cumulative kernel
//! counters that a test grows tick by tick, read through a real
//! [`Sampler`] into [`Interval`]s, on a [`ManualClock`].

use std::{net::IpAddr, time::Duration};

use sensor_common::{HostCounters, SiteCounters, TrafficClass};

use crate::{
    sample::{Event, Interval, Reading, Sampler},
    time::{Clock as _, ManualClock},
};

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// Counters since the maps were created, grown by the test.
pub struct SimSite {
    pub clock: ManualClock,
    sampler: Sampler,
    pub site: SiteCounters,
    pub hosts: Vec<(IpAddr, HostCounters)>,
}

impl Default for SimSite {
    fn default() -> SimSite {
        SimSite::new()
    }
}

impl SimSite {
    pub fn new() -> SimSite {
        SimSite {
            clock: ManualClock::at_unix(1_700_000_000),
            sampler: Sampler::new(),
            site: SiteCounters::default(),
            hosts: Vec::new(),
        }
    }

    /// `count` packets of `class`, each `len` bytes.
    pub fn packets(&mut self, class: TrafficClass, count: u64, len: u64) {
        self.site.packets += count;
        self.site.bytes += count * len;
        self.site.class_packets[class as usize] += count;
        self.site.class_bytes[class as usize] += count * len;
    }

    /// A protected host sends `count` packets (and is in the table).
    pub fn host_sends(&mut self, addr: &str, count: u64) {
        let addr = ip(addr);
        let now = self.clock.monotonic_ns();
        match self.hosts.iter_mut().find(|(a, _)| *a == addr) {
            Some((_, host)) => {
                host.traffic.packets_out += count;
                host.last_seen_ns = now;
            }
            None => {
                let mut host = HostCounters {
                    first_seen_ns: now,
                    last_seen_ns: now,
                    ..HostCounters::default()
                };
                host.traffic.packets_out = count;
                self.hosts.push((addr, host));
            }
        }
    }

    /// A protected address only receives (it is in the table, never sends).
    pub fn host_receives(&mut self, addr: &str, count: u64) {
        let addr = ip(addr);
        let now = self.clock.monotonic_ns();
        match self.hosts.iter_mut().find(|(a, _)| *a == addr) {
            Some((_, host)) => host.traffic.packets_in += count,
            None => {
                let mut host = HostCounters {
                    first_seen_ns: now,
                    last_seen_ns: now,
                    ..HostCounters::default()
                };
                host.traffic.packets_in = count;
                self.hosts.push((addr, host));
            }
        }
    }

    /// Reads the counters as an interval ending now, then moves the clock.
    pub fn tick(&mut self, events: Vec<Event>, step: Duration) -> Interval {
        let reading = Reading {
            hosts: self
                .hosts
                .iter()
                .map(|(addr, host)| (*addr, vec![*host]))
                .collect(),
            site: self.site,
            host_capacity: 1024,
        };
        let interval =
            self.sampler
                .next(reading, events, self.clock.now(), self.clock.monotonic_ns());
        self.clock.advance(step);
        interval
    }
}
