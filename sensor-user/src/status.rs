//! What `vantage status` reports: per-CPU kernel counters merged into one
//! snapshot, as stable JSON (documented in the README, schema
//! `vantage.status/1`) or as a table for people. Pure data in, data out.

use std::{collections::BTreeMap, fmt::Write as _, net::IpAddr};

use sensor_common::{
    host::{sketch_estimate, sketch_saturation_floor},
    DropReason, HostCounters, MalformedReason, SiteCounters, TrafficClass, SKETCH_WORDS,
};
use serde::{Deserialize, Serialize};

use crate::{agent_state::AgentState, datapath::HostRecord, target::ip_from_addr16};

/// Schema name written into every report; bumped on incompatible changes.
pub const STATUS_SCHEMA: &str = "vantage.status/1";

/// A distinct-count estimate from a sketch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistinctCount {
    /// Estimated count, or the smallest count a full sketch stands for.
    pub estimate: u32,
    /// True when the sketch is full and `estimate` is only a lower bound.
    pub saturated: bool,
}

impl DistinctCount {
    fn from_sketch(sketch: &[u64; SKETCH_WORDS]) -> DistinctCount {
        match sketch_estimate(sketch) {
            Some(estimate) => DistinctCount {
                estimate,
                saturated: false,
            },
            None => DistinctCount {
                estimate: sketch_saturation_floor(),
                saturated: true,
            },
        }
    }
}

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
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub tcp_syn_out: u64,
    pub tcp_synack_in: u64,
    pub tcp_rst_in: u64,
    pub udp_out: u64,
    pub udp_in: u64,
    pub icmp_out: u64,
    pub icmp_in: u64,
    pub dns_queries_out: u64,
    pub dns_answers_in: u64,
    pub lateral_packets_out: u64,
    pub lateral_packets_in: u64,
    pub lateral_bytes_out: u64,
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
    pub events: EventCounters,
    /// Every malformed reason, zeros included.
    pub malformed: BTreeMap<String, u64>,
    pub malformed_total: u64,
    /// Every drop reason, zeros included.
    pub dropped: BTreeMap<String, u64>,
    pub dropped_total: u64,
}

/// The per-host map's occupancy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostTableStatus {
    pub capacity: u32,
    pub live: u64,
    pub created: u64,
    /// Entries the LRU pushed out to make room: `created - live`.
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

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub schema: String,
    /// Unix seconds.
    pub generated_at: f64,
    pub agent: AgentState,
    pub local_nets: Vec<String>,
    pub host_table: HostTableStatus,
    pub site: SiteStatus,
    pub blocks: BlockCounts,
    pub hosts: Vec<HostStatus>,
}

fn format_mac(mac: [u8; 6]) -> String {
    if mac == [0; 6] {
        return String::new();
    }
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

/// Sums one host's per-CPU counters: counts add up, first seen is the
/// earliest, last seen the latest, sketches are OR-ed, and MAC, VLAN and
/// interface come from the CPU that saw the host send last.
pub fn sum_host_counters(per_cpu: &[HostCounters]) -> HostCounters {
    let mut sum = HostCounters::default();
    let mut first_seen = u64::MAX;
    let mut identity: Option<&HostCounters> = None;
    for cpu in per_cpu {
        sum.packets_out += cpu.packets_out;
        sum.bytes_out += cpu.bytes_out;
        sum.packets_in += cpu.packets_in;
        sum.bytes_in += cpu.bytes_in;
        sum.tcp_syn_out += cpu.tcp_syn_out;
        sum.tcp_synack_in += cpu.tcp_synack_in;
        sum.tcp_rst_in += cpu.tcp_rst_in;
        sum.udp_out += cpu.udp_out;
        sum.udp_in += cpu.udp_in;
        sum.icmp_out += cpu.icmp_out;
        sum.icmp_in += cpu.icmp_in;
        sum.dns_queries_out += cpu.dns_queries_out;
        sum.dns_answers_in += cpu.dns_answers_in;
        sum.lateral_packets_out += cpu.lateral_packets_out;
        sum.lateral_packets_in += cpu.lateral_packets_in;
        sum.lateral_bytes_out += cpu.lateral_bytes_out;
        if cpu.first_seen_ns != 0 {
            first_seen = first_seen.min(cpu.first_seen_ns);
        }
        sum.last_seen_ns = sum.last_seen_ns.max(cpu.last_seen_ns);
        for word in 0..SKETCH_WORDS {
            sum.peer_sketch[word] |= cpu.peer_sketch[word];
            sum.port_sketch[word] |= cpu.port_sketch[word];
        }
        if cpu.mac != [0; 6] && identity.is_none_or(|best| cpu.last_seen_ns > best.last_seen_ns) {
            identity = Some(cpu);
        }
    }
    sum.first_seen_ns = if first_seen == u64::MAX {
        0
    } else {
        first_seen
    };
    if let Some(cpu) = identity {
        sum.mac = cpu.mac;
        sum.vlan = cpu.vlan;
        sum.ifindex = cpu.ifindex;
    }
    sum
}

/// Merges one host's per-CPU counters; `to_unix` turns kernel time into Unix seconds.
pub fn merge_host(record: &HostRecord, to_unix: &dyn Fn(u64) -> f64) -> HostStatus {
    let sum = sum_host_counters(&record.per_cpu);
    HostStatus {
        addr: ip_from_addr16(&record.key.addr),
        mac: format_mac(sum.mac),
        vlan: sum.vlan,
        ifindex: sum.ifindex,
        first_seen: to_unix(sum.first_seen_ns),
        last_seen: to_unix(sum.last_seen_ns),
        packets_out: sum.packets_out,
        bytes_out: sum.bytes_out,
        packets_in: sum.packets_in,
        bytes_in: sum.bytes_in,
        tcp_syn_out: sum.tcp_syn_out,
        tcp_synack_in: sum.tcp_synack_in,
        tcp_rst_in: sum.tcp_rst_in,
        udp_out: sum.udp_out,
        udp_in: sum.udp_in,
        icmp_out: sum.icmp_out,
        icmp_in: sum.icmp_in,
        dns_queries_out: sum.dns_queries_out,
        dns_answers_in: sum.dns_answers_in,
        lateral_packets_out: sum.lateral_packets_out,
        lateral_packets_in: sum.lateral_packets_in,
        lateral_bytes_out: sum.lateral_bytes_out,
        peers: DistinctCount::from_sketch(&sum.peer_sketch),
        dst_ports: DistinctCount::from_sketch(&sum.port_sketch),
    }
}

/// Sums per-CPU site counters field by field (every field is a `u64`).
pub fn sum_site_counters(per_cpu: &[SiteCounters]) -> SiteCounters {
    let mut total = SiteCounters::default();
    for cpu in per_cpu {
        for (t, c) in site_words_mut(&mut total).iter_mut().zip(site_words(cpu)) {
            *t += c;
        }
    }
    total
}

/// `SiteCounters` as its `u64` fields, in order.
pub fn site_words(site: &SiteCounters) -> &[u64] {
    // SAFETY: SiteCounters is repr(C) and made only of u64 fields and u64
    // arrays (its size is asserted in sensor-common), so it has no padding.
    unsafe {
        std::slice::from_raw_parts(
            (site as *const SiteCounters).cast::<u64>(),
            size_of::<SiteCounters>() / 8,
        )
    }
}

/// Mutable view of [`site_words`].
pub fn site_words_mut(site: &mut SiteCounters) -> &mut [u64] {
    // SAFETY: as in `site_words`.
    unsafe {
        std::slice::from_raw_parts_mut(
            (site as *mut SiteCounters).cast::<u64>(),
            size_of::<SiteCounters>() / 8,
        )
    }
}

/// Sums the per-CPU site counters into the report's form.
pub fn merge_site(per_cpu: &[SiteCounters]) -> SiteStatus {
    let s = sum_site_counters(per_cpu);
    let classes = TrafficClass::ALL
        .iter()
        .map(|c| {
            let i = *c as usize;
            (
                c.name().to_owned(),
                Volume {
                    packets: s.class_packets[i],
                    bytes: s.class_bytes[i],
                },
            )
        })
        .collect();
    let malformed: BTreeMap<String, u64> = MalformedReason::ALL
        .iter()
        .map(|r| (r.name().to_owned(), s.malformed[*r as usize]))
        .collect();
    let dropped: BTreeMap<String, u64> = DropReason::ALL
        .iter()
        .map(|r| (r.name().to_owned(), s.dropped[*r as usize]))
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

/// The host table's occupancy from the live entry count and the site counters.
pub fn host_table(capacity: u32, live: u64, per_cpu: &[SiteCounters]) -> HostTableStatus {
    let created: u64 = per_cpu.iter().map(|c| c.hosts_created).sum();
    let create_failed: u64 = per_cpu.iter().map(|c| c.hosts_create_failed).sum();
    HostTableStatus {
        capacity,
        live,
        created,
        evicted: created.saturating_sub(live),
        create_failed,
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn distinct(count: DistinctCount) -> String {
    if count.saturated {
        format!(">{}", count.estimate)
    } else {
        count.estimate.to_string()
    }
}

/// Renders the report as text for a terminal.
pub fn render_table(report: &StatusReport) -> String {
    let mut out = String::new();
    let agent = &report.agent;
    if agent.running {
        let ifaces: Vec<String> = agent
            .interfaces
            .iter()
            .map(|i| format!("{} ({})", i.name, i.mode))
            .collect();
        let _ = writeln!(
            out,
            "agent: running, pid {}, on {}",
            agent.pid,
            ifaces.join(", ")
        );
    } else {
        let _ = writeln!(
            out,
            "agent: NOT RUNNING (counters below are the pinned maps; blocks still expire on time)"
        );
    }
    let _ = writeln!(out, "protected: {}", report.local_nets.join(", "));
    let t = &report.host_table;
    let _ = writeln!(
        out,
        "hosts: {} live of {} capacity, {} created, {} evicted, {} failed",
        t.live, t.capacity, t.created, t.evicted, t.create_failed
    );
    let s = &report.site;
    let _ = writeln!(
        out,
        "\nsite: {} packets, {}",
        s.packets,
        human_bytes(s.bytes)
    );
    for (name, volume) in &s.classes {
        let _ = writeln!(
            out,
            "  {name:<17} {:>12} pkts {:>12}",
            volume.packets,
            human_bytes(volume.bytes)
        );
    }
    let _ = writeln!(
        out,
        "  ipv4 {}  ipv6 {}  non-ip {}  broadcast {}  multicast {}  vlan {}  fragments {}",
        s.ipv4, s.ipv6, s.non_ip, s.broadcast, s.multicast, s.vlan_tagged, s.fragments
    );
    let _ = writeln!(
        out,
        "  tcp {}  udp {}  icmp {}  syn {}  syn-ack {}  rst {}  dns asked {}  answered {}",
        s.tcp, s.udp, s.icmp, s.tcp_syn, s.tcp_synack, s.tcp_rst, s.dns_queries, s.dns_answers
    );
    let _ = writeln!(
        out,
        "  events sent {}  rate-limited {}  ring-full {}  allowlisted {}",
        s.events.sent, s.events.rate_limited, s.events.ring_full, s.allowlisted
    );
    let nonzero = |map: &BTreeMap<String, u64>| -> String {
        let parts: Vec<String> = map
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    };
    let _ = writeln!(
        out,
        "  malformed {}: {}",
        s.malformed_total,
        nonzero(&s.malformed)
    );
    let _ = writeln!(
        out,
        "  dropped {}: {}",
        s.dropped_total,
        nonzero(&s.dropped)
    );
    let b = &report.blocks;
    let _ = writeln!(
        out,
        "blocks: {} active ({} hosts, {} prefixes, {} flows in map)",
        b.active, b.hosts, b.prefixes, b.flows
    );
    let _ = writeln!(
        out,
        "\n{:<26} {:<17} {:>9} {:>9} {:>10} {:>10} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>6} {:>5}",
        "host",
        "mac",
        "pkts out",
        "pkts in",
        "bytes out",
        "bytes in",
        "syn",
        "synak",
        "rst",
        "dnsq",
        "dnsa",
        "icmp",
        "peers",
        "ports"
    );
    for h in &report.hosts {
        let _ = writeln!(
            out,
            "{:<26} {:<17} {:>9} {:>9} {:>10} {:>10} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>6} {:>5}",
            h.addr.to_string(),
            h.mac,
            h.packets_out,
            h.packets_in,
            human_bytes(h.bytes_out),
            human_bytes(h.bytes_in),
            h.tcp_syn_out,
            h.tcp_synack_in,
            h.tcp_rst_in,
            h.dns_queries_out,
            h.dns_answers_in,
            h.icmp_out + h.icmp_in,
            distinct(h.peers),
            distinct(h.dst_ports),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sensor_common::{host::sketch_insert, v4_mapped, HostKey};

    fn counters(packets_out: u64, first: u64, last: u64, mac: [u8; 6]) -> HostCounters {
        HostCounters {
            packets_out,
            bytes_out: packets_out * 100,
            first_seen_ns: first,
            last_seen_ns: last,
            mac,
            ..HostCounters::default()
        }
    }

    #[test]
    fn host_merge_sums_counters_and_keeps_extremes() {
        let mut a = counters(3, 50, 400, [2, 0, 0, 0, 0, 1]);
        let mut b = counters(4, 20, 900, [2, 0, 0, 0, 0, 2]);
        let c = counters(0, 0, 0, [0; 6]);
        sketch_insert(&mut a.peer_sketch, 7 << 23);
        sketch_insert(&mut b.peer_sketch, 7 << 23);
        sketch_insert(&mut b.peer_sketch, 300 << 23);
        let record = HostRecord {
            key: HostKey {
                addr: v4_mapped([10, 0, 0, 9]),
            },
            per_cpu: vec![a, b, c],
        };
        let merged = merge_host(&record, &|ns| ns as f64);
        assert_eq!(merged.addr.to_string(), "10.0.0.9");
        assert_eq!(merged.packets_out, 7);
        assert_eq!(merged.bytes_out, 700);
        assert_eq!(merged.first_seen, 20.0);
        assert_eq!(merged.last_seen, 900.0);
        assert_eq!(merged.mac, "02:00:00:00:00:02");
        assert_eq!(
            merged.peers,
            DistinctCount {
                estimate: 2,
                saturated: false
            }
        );
    }

    #[test]
    fn site_merge_names_every_reason() {
        let mut cpu0 = SiteCounters::default();
        cpu0.malformed[MalformedReason::TcpTruncated as usize] = 2;
        cpu0.dropped[DropReason::BlockedFlow as usize] = 5;
        cpu0.class_packets[TrafficClass::RemoteToLocal as usize] = 9;
        let mut cpu1 = SiteCounters::default();
        cpu1.malformed[MalformedReason::TcpTruncated as usize] = 1;
        cpu1.packets = 11;
        let site = merge_site(&[cpu0, cpu1]);
        assert_eq!(site.packets, 11);
        assert_eq!(site.malformed.len(), MalformedReason::ALL.len());
        assert_eq!(site.malformed["tcp_truncated"], 3);
        assert_eq!(site.malformed_total, 3);
        assert_eq!(site.dropped["blocked_flow"], 5);
        assert_eq!(site.dropped_total, 5);
        assert_eq!(site.classes["remote_to_local"].packets, 9);
    }

    #[test]
    fn evictions_are_created_minus_live() {
        let cpu = SiteCounters {
            hosts_created: 1500,
            ..SiteCounters::default()
        };
        let table = host_table(1024, 1024, &[cpu]);
        assert_eq!(table.evicted, 476);
    }
}
