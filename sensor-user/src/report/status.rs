//! What `vantage status` reports, as stable JSON (schema `vantage.status/1`,
//! documented in the README): the latest interval's totals per host and for
//! the site, the host table's occupancy, the blocks, and what the agent says
//! about itself. Pure: built from plain data, no I/O.

use std::{collections::BTreeMap, net::IpAddr};

use sensor_common::{
    DropReason, EncapKind, HostTraffic, MalformedReason, SiteCounters, TrafficClass,
};
use serde::{Deserialize, Serialize};
use strum::IntoEnumIterator as _;

pub use crate::sample::DistinctCount;
use crate::{
    report::agent_state::AgentState,
    sample::{HostSample, Interval},
};

/// Schema name written into every report; bumped on incompatible changes.
pub const STATUS_SCHEMA: &str = "vantage.status/1";

/// One protected host, all CPUs merged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostStatus {
    pub addr: IpAddr,
    /// Source MAC of the last frame the host sent ("" if it has sent nothing).
    pub mac: String,
    pub vlan: u16,
    pub ifindex: u32,
    /// Unix seconds.
    pub first_seen: f64,
    pub last_seen: f64,
    /// Every counter since the host's entry was created, by its kernel name.
    #[serde(flatten)]
    pub traffic: HostTraffic,
    /// Distinct peers (remote or protected) the host exchanged packets with.
    pub peers: DistinctCount,
    /// Distinct TCP/UDP destination ports the host sent to.
    pub dst_ports: DistinctCount,
}

/// Packets and bytes of one traffic class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub packets: u64,
    pub bytes: u64,
}

/// Event counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounters {
    pub sent: u64,
    pub rate_limited: u64,
    pub ring_full: u64,
}

/// Site-wide visibility counters, all CPUs summed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteStatus {
    pub packets: u64,
    pub bytes: u64,
    /// Keyed by `local_to_local`, `local_to_remote`, `remote_to_local`, `remote_to_remote`.
    pub classes: BTreeMap<String, Volume>,
    pub non_ip: u64,
    pub broadcast: u64,
    pub multicast: u64,
    pub vlan_tagged: u64,
    pub ipv4: u64,
    pub ipv6: u64,
    pub fragments: u64,
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    pub dns_queries: u64,
    pub dns_answers: u64,
    pub tcp_syn: u64,
    pub tcp_synack: u64,
    pub tcp_rst: u64,
    pub allowlisted: u64,
    /// PPPoE session frames.
    pub pppoe: u64,
    /// MPLS-labelled frames.
    pub mpls: u64,
    /// Frames on links without an Ethernet header.
    pub raw_ip: u64,
    /// IPsec ESP packets.
    pub esp: u64,
    /// DNS messages over TCP port 53 (also in `dns_queries`/`dns_answers`).
    pub dns_over_tcp: u64,
    /// UDP datagrams on port 53 that are not DNS.
    pub port53_other: u64,
    /// Frames seen twice within a few milliseconds.
    pub duplicates: u64,
    /// Frames inside tunnels the sensor did not open.
    pub encap_unopened: u64,
    /// Frames opened, by encapsulation (`vxlan`, `geneve`, `gre`, `erspan`).
    pub decapsulated: BTreeMap<String, u64>,
    pub events: EventCounters,
    /// Every malformed reason, zeros included.
    pub malformed: BTreeMap<String, u64>,
    pub malformed_total: u64,
    /// Every drop reason, zeros included.
    pub dropped: BTreeMap<String, u64>,
    pub dropped_total: u64,
}

/// The per-host table's occupancy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostTableStatus {
    /// Host slots per CPU.
    pub capacity: u32,
    /// Distinct hosts in the table.
    pub live: u64,
    /// Slots filled, on all CPUs (a host seen on two CPUs fills two).
    pub created: u64,
    /// Hosts pushed out of their set for a new one.
    pub evicted: u64,
    pub create_failed: u64,
}

/// Number of blocks of each kind, and how many are still in force.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockCounts {
    pub hosts: u64,
    pub prefixes: u64,
    pub flows: u64,
    pub active: u64,
}

/// How the program parses, as its settings say.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsingStatus {
    /// Tunnels opened (`vxlan`, `geneve`, `gre`, `erspan`).
    pub decapsulate: Vec<String>,
    /// A duplicate frame counts once for its hosts.
    pub skip_duplicates: bool,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub schema: String,
    /// Unix seconds.
    pub generated_at: f64,
    pub agent: AgentState,
    pub local_nets: Vec<String>,
    pub parsing: ParsingStatus,
    pub host_table: HostTableStatus,
    pub site: SiteStatus,
    pub blocks: BlockCounts,
    pub hosts: Vec<HostStatus>,
}

/// `aa:bb:cc:dd:ee:ff`, or "" for the all-zero MAC of a host that never sent.
pub fn format_mac(mac: [u8; 6]) -> String {
    if mac == [0; 6] {
        return String::new();
    }
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

/// One host's line; `to_unix` turns kernel time into Unix seconds.
pub fn host_status(sample: &HostSample, to_unix: &dyn Fn(u64) -> f64) -> HostStatus {
    HostStatus {
        addr: sample.addr,
        mac: format_mac(sample.mac),
        vlan: sample.vlan,
        ifindex: sample.ifindex,
        first_seen: to_unix(sample.first_seen_ns),
        last_seen: to_unix(sample.last_seen_ns),
        traffic: sample.totals,
        peers: sample.peers,
        dst_ports: sample.dst_ports,
    }
}

/// The site counters in the report's form.
pub fn site_status(s: &SiteCounters) -> SiteStatus {
    let classes = TrafficClass::iter()
        .map(|class| {
            let name: &'static str = class.into();
            let volume = Volume {
                packets: s.class_packets[class as usize],
                bytes: s.class_bytes[class as usize],
            };
            (name.to_owned(), volume)
        })
        .collect();
    let malformed: BTreeMap<String, u64> = MalformedReason::iter()
        .map(|r| (<&str>::from(r).to_owned(), s.malformed[r as usize]))
        .collect();
    let dropped: BTreeMap<String, u64> = DropReason::iter()
        .map(|r| (<&str>::from(r).to_owned(), s.dropped[r as usize]))
        .collect();
    SiteStatus {
        packets: s.packets,
        bytes: s.bytes,
        classes,
        non_ip: s.non_ip,
        broadcast: s.broadcast,
        multicast: s.multicast,
        vlan_tagged: s.vlan_tagged,
        ipv4: s.ipv4,
        ipv6: s.ipv6,
        fragments: s.fragments,
        tcp: s.tcp,
        udp: s.udp,
        icmp: s.icmp,
        dns_queries: s.dns_queries,
        dns_answers: s.dns_answers,
        tcp_syn: s.tcp_syn,
        tcp_synack: s.tcp_synack,
        tcp_rst: s.tcp_rst,
        allowlisted: s.allowlisted,
        pppoe: s.pppoe,
        mpls: s.mpls,
        raw_ip: s.raw_ip,
        esp: s.esp,
        dns_over_tcp: s.dns_over_tcp,
        port53_other: s.port53_other,
        duplicates: s.duplicates,
        encap_unopened: s.encap_unopened,
        decapsulated: EncapKind::iter()
            .map(|k| (<&str>::from(k).to_owned(), s.decapsulated[k as usize]))
            .collect(),
        events: EventCounters {
            sent: s.events_sent,
            rate_limited: s.events_rate_limited,
            ring_full: s.events_ring_full,
        },
        malformed_total: malformed.values().sum(),
        malformed,
        dropped_total: dropped.values().sum(),
        dropped,
    }
}

/// The host table's occupancy at the end of `interval`.
pub fn host_table(interval: &Interval) -> HostTableStatus {
    HostTableStatus {
        capacity: interval.host_capacity,
        live: interval.hosts.len() as u64,
        created: interval.site.totals.hosts_created,
        evicted: interval.site.totals.hosts_evicted,
        create_failed: interval.site.totals.hosts_create_failed,
    }
}

/// What the report says besides the interval itself.
#[derive(Clone, Debug)]
pub struct ReportContext {
    pub generated_at: f64,
    pub agent: AgentState,
    pub local_nets: Vec<String>,
    pub parsing: ParsingStatus,
    pub blocks: BlockCounts,
}

/// The whole report from an interval's totals; `to_unix` turns kernel time
/// into Unix seconds.
pub fn build(
    interval: &Interval,
    context: ReportContext,
    to_unix: &dyn Fn(u64) -> f64,
) -> StatusReport {
    StatusReport {
        schema: STATUS_SCHEMA.to_owned(),
        generated_at: context.generated_at,
        agent: context.agent,
        local_nets: context.local_nets,
        parsing: context.parsing,
        host_table: host_table(interval),
        site: site_status(&interval.site.totals),
        blocks: context.blocks,
        hosts: interval
            .hosts
            .iter()
            .map(|host| host_status(host, to_unix))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use sensor_common::{HostCounters, HostTraffic};

    use super::*;
    use crate::sample::{Reading, Sampler};

    #[test]
    fn host_line_carries_every_counter_by_name() {
        let counters = HostCounters {
            traffic: HostTraffic {
                packets_out: 7,
                bytes_out: 700,
                dns_queries_out: 2,
                ..HostTraffic::default()
            },
            first_seen_ns: 20,
            last_seen_ns: 900,
            mac: [2, 0, 0, 0, 0, 2],
            ..HostCounters::default()
        };
        let reading = Reading {
            hosts: vec![(
                "10.0.0.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
                vec![counters],
            )],
            ..Reading::default()
        };
        let interval = Sampler::new().next(reading, Vec::new(), UNIX_EPOCH, 0);
        let line = host_status(&interval.hosts[0], &|ns| ns as f64);
        assert_eq!(line.addr.to_string(), "10.0.0.9");
        assert_eq!(line.mac, "02:00:00:00:00:02");
        assert_eq!((line.first_seen, line.last_seen), (20.0, 900.0));
        let json = serde_json::to_value(&line).unwrap_or_default();
        assert_eq!(json["packets_out"], 7);
        assert_eq!(json["bytes_out"], 700);
        assert_eq!(json["dns_queries_out"], 2);
        assert_eq!(json["lateral_bytes_out"], 0);
    }

    #[test]
    fn site_report_names_every_reason() {
        let mut s = SiteCounters::default();
        s.malformed[MalformedReason::TcpTruncated as usize] = 3;
        s.dropped[DropReason::BlockedFlow as usize] = 5;
        s.class_packets[TrafficClass::RemoteToLocal as usize] = 9;
        s.packets = 11;
        let site = site_status(&s);
        assert_eq!(site.packets, 11);
        assert_eq!(site.malformed.len(), MalformedReason::iter().count());
        assert_eq!(site.malformed["tcp_truncated"], 3);
        assert_eq!(site.malformed_total, 3);
        assert_eq!(site.dropped["blocked_flow"], 5);
        assert_eq!(site.dropped_total, 5);
        assert_eq!(site.classes["remote_to_local"].packets, 9);
    }

    #[test]
    fn evictions_are_what_the_program_counted() {
        let interval = Interval {
            start: UNIX_EPOCH,
            end: UNIX_EPOCH,
            hosts: Vec::new(),
            site: crate::sample::SiteSample {
                totals: SiteCounters {
                    hosts_created: 1500,
                    hosts_evicted: 476,
                    ..SiteCounters::default()
                },
                delta: SiteCounters::default(),
            },
            events: Vec::new(),
            host_capacity: 1024,
            end_monotonic_ns: 0,
        };
        let table = host_table(&interval);
        assert_eq!((table.capacity, table.live, table.evicted), (1024, 0, 476));
    }
}
