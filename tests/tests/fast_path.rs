//! The common-frame fast path (`sensor-ebpf/src/parse/fast.rs`) counts
//! exactly what the general parser counts. Every shape below runs twice: as
//! an Ethernet frame through the Ethernet program (which takes the fast path
//! for the common shapes) and as the same IP packet through the raw-IP
//! program (which always takes the general parser). The site counters and
//! the hosts' counters must agree, apart from the 14 bytes of Ethernet
//! header and the raw-IP link counter.

use sensor_common::{HostCounters, SiteCounters};
use vantage_tests::{
    harness::{site_diff, Harness, XDP_PASS},
    packet::{Frame, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN},
};

type Result = anyhow::Result<()>;

const ETH_HEADER: u64 = 14;

/// Frames the fast path takes, and some next to them that it leaves to the
/// general parser (options, fragments, DNS and tunnel ports, bad lengths).
fn shapes() -> Vec<(&'static str, Frame)> {
    let v4 = |src: &'static str, dst: &'static str| Frame::client().ipv4(src, dst);
    let v6 = |src: &'static str, dst: &'static str| Frame::client().ipv6(src, dst);
    vec![
        (
            "v4 SYN out",
            v4("10.0.0.5", "203.0.113.7").tcp(40000, 443, TCP_SYN),
        ),
        (
            "v4 SYN-ACK in",
            v4("203.0.113.7", "10.0.0.5").tcp(443, 40000, TCP_SYN | TCP_ACK),
        ),
        (
            "v4 RST in",
            v4("203.0.113.7", "10.0.0.5").tcp(443, 40000, TCP_RST | TCP_ACK),
        ),
        (
            "v4 data out",
            v4("10.0.0.5", "203.0.113.7")
                .tcp(40000, 443, TCP_PSH | TCP_ACK)
                .payload(&[7; 300]),
        ),
        (
            "v4 FIN lateral",
            v4("10.0.0.5", "10.0.0.6").tcp(40001, 22, TCP_FIN | TCP_ACK),
        ),
        (
            "v4 remote to remote",
            v4("198.51.100.1", "203.0.113.7").tcp(1, 2, TCP_SYN),
        ),
        (
            "v4 UDP out",
            v4("10.0.0.5", "203.0.113.7")
                .udp(5000, 443)
                .payload(&[1; 40]),
        ),
        (
            "v4 UDP in",
            v4("203.0.113.7", "10.0.0.5")
                .udp(443, 5000)
                .payload(&[2; 10]),
        ),
        ("v4 UDP empty", v4("10.0.0.5", "203.0.113.8").udp(5001, 9)),
        (
            "v4 padded",
            v4("10.0.0.5", "203.0.113.9")
                .tcp(40002, 80, TCP_ACK)
                .pad_to(60),
        ),
        (
            "v6 SYN out",
            v6("fd00::5", "2001:db8::7").tcp(40000, 443, TCP_SYN),
        ),
        (
            "v6 SYN-ACK in",
            v6("2001:db8::7", "fd00::5").tcp(443, 40000, TCP_SYN | TCP_ACK),
        ),
        (
            "v6 UDP lateral",
            v6("fd00::5", "fd00::6").udp(6000, 6001).payload(&[3; 64]),
        ),
        // Left to the general parser:
        (
            "v4 DNS query",
            v4("10.0.0.5", "203.0.113.53")
                .udp(5353, 53)
                .dns_query(1, "example.com"),
        ),
        (
            "v4 DNS over TCP",
            v4("10.0.0.5", "203.0.113.53").tcp(40003, 53, TCP_SYN),
        ),
        (
            "v4 VXLAN port",
            v4("10.0.0.5", "203.0.113.7")
                .udp(5002, 4789)
                .payload(&[0; 8]),
        ),
        (
            "v4 Geneve port",
            v4("10.0.0.5", "203.0.113.7")
                .udp(5003, 6081)
                .payload(&[0; 8]),
        ),
        (
            "v4 options",
            v4("10.0.0.5", "203.0.113.7")
                .ipv4_options(&[1, 1, 1, 1])
                .tcp(40004, 443, TCP_SYN),
        ),
        (
            "v4 later fragment",
            v4("10.0.0.5", "203.0.113.7")
                .ipv4_fragment(185, false)
                .udp(5004, 443)
                .payload(&[4; 24]),
        ),
        ("v4 ICMP", v4("10.0.0.5", "203.0.113.7").icmp_echo(1, 1)),
    ]
}

/// `delta` of the raw-IP run, as the Ethernet run of the same packet should
/// count it.
fn as_ethernet(mut delta: SiteCounters) -> SiteCounters {
    delta.raw_ip -= 1;
    delta.bytes += ETH_HEADER;
    for class in 0..delta.class_packets.len() {
        delta.class_bytes[class] += ETH_HEADER * delta.class_packets[class];
    }
    delta
}

/// A host's counters without the byte counts (the Ethernet header is 14
/// bytes more per packet) and without times.
fn comparable(mut host: HostCounters) -> HostCounters {
    let t = &mut host.traffic;
    (t.bytes_in, t.bytes_out, t.lateral_bytes_out) = (0, 0, 0);
    (host.first_seen_ns, host.last_seen_ns) = (0, 0);
    (host.mac, host.ifindex) = ([0; 6], 0);
    host
}

#[test]
fn the_fast_path_counts_what_the_general_parser_counts() -> Result {
    let mut ethernet = Harness::new(1024).unwrap_or_else(|e| panic!("loading the sensor: {e:#}"));
    let mut raw = Harness::new(1024).unwrap_or_else(|e| panic!("loading the sensor: {e:#}"));
    let mut wrong = Vec::new();
    for (name, frame) in shapes() {
        let bytes = frame.build();
        let (verdict, eth_delta) = ethernet.run_delta(&bytes)?;
        // The same bytes after the Ethernet header (padding included).
        let (raw_verdict, raw_delta) = raw.run_raw_ip_delta(&bytes[ETH_HEADER as usize..])?;
        assert_eq!((verdict, raw_verdict), (XDP_PASS, XDP_PASS), "{name}");
        assert_eq!(eth_delta.packets, 1, "{name}: one frame counted");
        let want = as_ethernet(raw_delta);
        if eth_delta != want {
            wrong.push(format!(
                "{name} (field: general parser -> Ethernet program)\n{}",
                site_diff(&want, &eth_delta)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    for host in ["10.0.0.5", "10.0.0.6", "fd00::5", "fd00::6"] {
        let eth = ethernet.known_host(host)?;
        let raw_host = raw.known_host(host)?;
        assert_eq!(comparable(eth), comparable(raw_host), "host {host}");
        assert_eq!(
            eth.traffic.bytes_out,
            raw_host.traffic.bytes_out + ETH_HEADER * raw_host.traffic.packets_out,
            "host {host}: bytes out"
        );
        assert_eq!(
            eth.traffic.bytes_in,
            raw_host.traffic.bytes_in + ETH_HEADER * raw_host.traffic.packets_in,
            "host {host}: bytes in"
        );
    }
    // Remote addresses get no entry on either side.
    assert!(ethernet.host("203.0.113.7")?.is_none() && raw.host("203.0.113.7")?.is_none());
    Ok(())
}
