//! `vantage status` as a table for a terminal.

use std::{collections::BTreeMap, fmt::Write as _};

use super::status::{DistinctCount, StatusReport};

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
    // What it can see comes first: the verdict, each finding and its fix.
    match agent.sight.as_ref().filter(|_| agent.running) {
        Some(sight) => {
            for line in sight.lines() {
                let _ = writeln!(out, "{line}");
            }
            if let Some(test) = &agent.self_test {
                let _ = writeln!(
                    out,
                    "  self-test at {}: {} of {} of its own packets seen (query, answer, SYN, SYN-ACK), from {} to {}",
                    crate::time::format_unix(test.at),
                    test.seen,
                    test.made,
                    test.from,
                    test.to
                );
            }
        }
        None => {
            let _ = writeln!(
                out,
                "sight: unknown (no agent is judging it: `vantage placement` checks it now)"
            );
        }
    }
    if agent.running {
        let _ = writeln!(out, "agent: running, pid {}", agent.pid);
        for i in &agent.interfaces {
            let mut facts = vec![
                format!("{} XDP", i.mode),
                i.link.replace('_', "-"),
                format!("MTU {}", i.mtu),
            ];
            if i.multi_buffer {
                facts.push("multi-buffer".to_owned());
            }
            if i.took_over {
                facts.push("taken over from the earlier agent".to_owned());
            }
            if i.merging_off {
                facts.push("GRO/LRO off".to_owned());
            }
            let _ = writeln!(out, "  on {}: {}", i.name, facts.join(", "));
            if let Some(because) = &i.generic_because {
                let _ = writeln!(out, "    generic because: {because}");
            }
            if i.vlan_offload {
                let _ = writeln!(
                    out,
                    "    reports rx VLAN offload: stripped tags are not seen (ethtool -K {} rxvlan off)",
                    i.name
                );
            }
        }
        let e = &agent.events;
        let _ = writeln!(
            out,
            "  events drained: syn {}  syn-ack {}  rst {}  udp-new-peer {}  echo {}  unreachable {}  dns-query {}  dns-answer {}  undecodable {}  overflow {}",
            e.tcp_syn,
            e.tcp_answered,
            e.tcp_refused,
            e.udp_new_peer,
            e.icmp_echo,
            e.icmp_unreachable,
            e.dns_query,
            e.dns_answer,
            e.undecodable,
            e.overflow
        );
        if let Some(d) = &agent.detection {
            let _ = writeln!(
                out,
                "  detection: {} alerts raised, {} updated, {} open, {} suppressed by the rate caps; {} policy blocks ({} active){}",
                d.alerts.raised,
                d.alerts.updated,
                d.open_alerts,
                d.alerts.suppressed_total(),
                d.policy.blocks,
                d.policy.active_blocks,
                if d.alert_only {
                    "; ALERT-ONLY: a cap on blocks was reached"
                } else {
                    ""
                }
            );
            let tracked: Vec<String> = d
                .detectors
                .iter()
                .map(|(detector, stats)| {
                    format!(
                        "{} {} ({} evicted)",
                        detector.name(),
                        stats.tracked,
                        stats.evicted
                    )
                })
                .collect();
            let _ = writeln!(out, "    tracking: {}", tracked.join(", "));
        }
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
        "hosts: {} live of {} slots per CPU; entries created {}, evicted {}, failed {} (per CPU: a host seen on two CPUs has two)",
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
    let _ = writeln!(
        out,
        "  pppoe {}  mpls {}  raw-ip {}  esp {}  dns/tcp {}  port-53 other {}  duplicates {}",
        s.pppoe, s.mpls, s.raw_ip, s.esp, s.dns_over_tcp, s.port53_other, s.duplicates
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
        "  tunnels: open {}; frames opened: {}; frames in tunnels not opened: {}; duplicates {}",
        if report.parsing.decapsulate.is_empty() {
            "none".to_owned()
        } else {
            report.parsing.decapsulate.join(", ")
        },
        nonzero(&s.decapsulated),
        s.encap_unopened,
        if report.parsing.skip_duplicates {
            "counted once for hosts"
        } else {
            "counted again for hosts"
        }
    );
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
            h.traffic.packets_out,
            h.traffic.packets_in,
            human_bytes(h.traffic.bytes_out),
            human_bytes(h.traffic.bytes_in),
            h.traffic.tcp_syn_out,
            h.traffic.tcp_synack_in,
            h.traffic.tcp_rst_in,
            h.traffic.dns_queries_out,
            h.traffic.dns_answers_in,
            h.traffic.icmp_out + h.traffic.icmp_in,
            distinct(h.peers),
            distinct(h.dst_ports),
        );
    }
    out
}
