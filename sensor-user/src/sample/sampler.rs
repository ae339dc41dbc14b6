//! Consecutive readings of the maps into intervals: the change of every
//! counter since the previous reading, correct across counter wrap-around
//! and across a host's slot being evicted and filled again. Each CPU keeps
//! its own slot for a host, so changes are taken per CPU, then summed.

use std::{collections::HashMap, net::IpAddr, time::SystemTime};

use sensor_common::{user::CounterWords as _, HostCounters, HostTraffic, SiteCounters};

use super::{DistinctCount, Event, HostSample, Interval, Reading, SiteSample};

/// What the previous reading said about one host's slot on one CPU.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    first_seen_ns: u64,
    totals: HostTraffic,
}

/// Remembers the previous reading; see [`Sampler::next`].
#[derive(Clone, Debug, Default)]
pub struct Sampler {
    hosts: HashMap<IpAddr, Vec<Seen>>,
    site: Option<SiteCounters>,
    at: Option<SystemTime>,
}

impl Sampler {
    /// A sampler with no earlier reading: the first interval's changes are
    /// the totals (everything since the maps were created).
    pub fn new() -> Sampler {
        Sampler::default()
    }

    /// A sampler that measures from `reading`, taken at `at` (an agent
    /// starting over maps an earlier agent left counts from its own start).
    pub fn starting_from(reading: &Reading, at: SystemTime) -> Sampler {
        let mut sampler = Sampler::new();
        sampler.remember(reading, at);
        sampler
    }

    /// The interval from the previous reading to `reading`, taken at wall
    /// time `now` and kernel time `now_monotonic_ns`, with the events drained
    /// meanwhile.
    ///
    /// On each CPU, a host's change is `totals - previous totals` while its
    /// slot is the same one (same first-seen time), modulo 2^64 so that a
    /// counter that wrapped still gives its true increase; a slot that is new,
    /// or was evicted and filled again in between (a new first-seen time),
    /// counts its whole new totals: what the old slot counted after the
    /// previous reading is lost with it, never counted twice. The host's
    /// change is the sum over CPUs.
    pub fn next(
        &mut self,
        reading: Reading,
        events: Vec<Event>,
        now: SystemTime,
        now_monotonic_ns: u64,
    ) -> Interval {
        let start = self.at.unwrap_or(now);
        let mut hosts: Vec<HostSample> = reading
            .hosts
            .iter()
            .map(|(addr, per_cpu)| {
                let previous = self.hosts.get(addr);
                let mut new_entry = previous.is_none();
                let deltas: Vec<HostTraffic> = per_cpu
                    .iter()
                    .enumerate()
                    .map(|(cpu, copy)| {
                        let seen = previous
                            .and_then(|seen| seen.get(cpu))
                            .filter(|seen| seen.first_seen_ns == copy.first_seen_ns);
                        match seen {
                            Some(seen) => copy.traffic.since(&seen.totals),
                            None => {
                                if copy.first_seen_ns != 0 {
                                    new_entry = true;
                                }
                                copy.traffic
                            }
                        }
                    })
                    .collect();
                let counters = HostCounters::merge(per_cpu);
                HostSample {
                    addr: *addr,
                    totals: counters.traffic,
                    delta: HostTraffic::sum(&deltas),
                    new_entry,
                    first_seen_ns: counters.first_seen_ns,
                    last_seen_ns: counters.last_seen_ns,
                    mac: counters.mac,
                    vlan: counters.vlan,
                    ifindex: counters.ifindex,
                    peers: DistinctCount::from_sketch(&counters.peer_sketch),
                    dst_ports: DistinctCount::from_sketch(&counters.port_sketch),
                }
            })
            .collect();
        hosts.sort_by_key(|host| host.addr);
        let site = SiteSample {
            totals: reading.site,
            delta: match &self.site {
                Some(previous) => reading.site.since(previous),
                None => reading.site,
            },
        };
        self.remember(&reading, now);
        Interval {
            start,
            end: now,
            hosts,
            site,
            events,
            host_capacity: reading.host_capacity,
            end_monotonic_ns: now_monotonic_ns,
        }
    }

    fn remember(&mut self, reading: &Reading, at: SystemTime) {
        self.hosts = reading
            .hosts
            .iter()
            .map(|(addr, per_cpu)| {
                let seen = per_cpu
                    .iter()
                    .map(|copy| Seen {
                        first_seen_ns: copy.first_seen_ns,
                        totals: copy.traffic,
                    })
                    .collect();
                (*addr, seen)
            })
            .collect();
        self.site = Some(reading.site);
        self.at = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn host(packets_out: u64, bytes_out: u64, first_seen_ns: u64) -> HostCounters {
        HostCounters {
            traffic: HostTraffic {
                packets_out,
                bytes_out,
                ..HostTraffic::default()
            },
            first_seen_ns,
            last_seen_ns: first_seen_ns + 1,
            ..HostCounters::default()
        }
    }

    fn reading(hosts: &[(&str, HostCounters)], site_packets: u64) -> Reading {
        Reading {
            hosts: hosts
                .iter()
                .map(|(addr, counters)| {
                    (
                        addr.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
                        vec![*counters],
                    )
                })
                .collect(),
            site: SiteCounters {
                packets: site_packets,
                ..SiteCounters::default()
            },
            host_capacity: 1024,
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn delta_of(interval: &Interval, addr: &str) -> (u64, u64, bool) {
        let host = interval
            .hosts
            .iter()
            .find(|h| h.addr.to_string() == addr)
            .unwrap_or_else(|| panic!("{addr} missing from {:?}", interval.hosts));
        (host.delta.packets_out, host.delta.bytes_out, host.new_entry)
    }

    #[test]
    fn deltas_are_changes_since_the_previous_reading() {
        let mut sampler =
            Sampler::starting_from(&reading(&[("10.0.0.1", host(10, 1000, 5))], 40), at(100));
        let interval = sampler.next(
            reading(&[("10.0.0.1", host(13, 1300, 5))], 47),
            Vec::new(),
            at(101),
            0,
        );
        assert_eq!((interval.start, interval.end), (at(100), at(101)));
        assert_eq!(delta_of(&interval, "10.0.0.1"), (3, 300, false));
        assert_eq!(interval.site.delta.packets, 7);
        assert_eq!(interval.site.totals.packets, 47);
        assert_eq!(interval.hosts[0].totals.packets_out, 13);
    }

    #[test]
    fn a_new_host_counts_its_totals() {
        let mut sampler = Sampler::starting_from(&reading(&[], 0), at(100));
        let interval = sampler.next(
            reading(&[("10.0.0.2", host(4, 400, 9))], 4),
            Vec::new(),
            at(101),
            0,
        );
        assert_eq!(delta_of(&interval, "10.0.0.2"), (4, 400, true));
    }

    #[test]
    fn a_host_evicted_and_created_again_counts_only_its_new_entry() {
        let mut sampler =
            Sampler::starting_from(&reading(&[("10.0.0.3", host(500, 50_000, 7))], 0), at(100));
        // Evicted, then created again with 2 packets: fewer than before.
        let interval = sampler.next(
            reading(&[("10.0.0.3", host(2, 200, 9_000))], 0),
            Vec::new(),
            at(101),
            0,
        );
        assert_eq!(delta_of(&interval, "10.0.0.3"), (2, 200, true));
        // Created again with more packets than the old entry had: still not
        // the difference of two unrelated entries.
        let mut sampler =
            Sampler::starting_from(&reading(&[("10.0.0.3", host(5, 500, 7))], 0), at(100));
        let interval = sampler.next(
            reading(&[("10.0.0.3", host(8, 800, 9_000))], 0),
            Vec::new(),
            at(101),
            0,
        );
        assert_eq!(delta_of(&interval, "10.0.0.3"), (8, 800, true));
        // And the interval after that is an ordinary difference again.
        let interval = sampler.next(
            reading(&[("10.0.0.3", host(9, 900, 9_000))], 0),
            Vec::new(),
            at(102),
            0,
        );
        assert_eq!(delta_of(&interval, "10.0.0.3"), (1, 100, false));
    }

    #[test]
    fn a_wrapped_counter_gives_its_true_increase() {
        let mut sampler = Sampler::starting_from(
            &reading(
                &[("10.0.0.4", host(u64::MAX - 2, u64::MAX, 7))],
                u64::MAX - 9,
            ),
            at(100),
        );
        let interval = sampler.next(
            reading(&[("10.0.0.4", host(4, 99, 7))], 5),
            Vec::new(),
            at(101),
            0,
        );
        assert_eq!(delta_of(&interval, "10.0.0.4"), (7, 100, false));
        assert_eq!(interval.site.delta.packets, 15);
    }

    #[test]
    fn a_host_gone_from_the_map_is_forgotten() {
        let mut sampler =
            Sampler::starting_from(&reading(&[("10.0.0.5", host(5, 500, 7))], 0), at(100));
        let interval = sampler.next(reading(&[], 0), Vec::new(), at(101), 0);
        assert!(interval.hosts.is_empty());
        // Back later with the same first-seen time is impossible for a new
        // entry, but even then it counts as new once forgotten.
        let interval = sampler.next(
            reading(&[("10.0.0.5", host(6, 600, 7))], 0),
            Vec::new(),
            at(102),
            0,
        );
        assert_eq!(delta_of(&interval, "10.0.0.5"), (6, 600, true));
    }

    #[test]
    fn without_a_starting_reading_the_first_interval_is_the_totals() {
        let mut sampler = Sampler::new();
        let interval = sampler.next(
            reading(&[("10.0.0.6", host(3, 300, 7))], 9),
            Vec::new(),
            at(100),
            0,
        );
        assert_eq!(delta_of(&interval, "10.0.0.6"), (3, 300, true));
        assert_eq!(interval.site.delta.packets, 9);
        assert_eq!(interval.start, at(100));
    }
}
