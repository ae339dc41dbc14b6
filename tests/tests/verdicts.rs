//! Packet-to-verdict tests in the real kernel through `BPF_PROG_TEST_RUN`:
//! every frame type, every truncation length, garbage, and exact counter
//! deltas for each.

use sensor_common::{site::MALFORMED_REASONS, MalformedReason as M, TrafficClass as C};
use vantage_tests::{
    expect::{classed, harness, malformed, outbound_syn, seen},
    harness::{sketch_bits, XDP_PASS},
    packet::{
        Extension, Frame, Layout, BROADCAST_MAC, CLIENT_MAC, GATEWAY_MAC, TCP_ACK, TCP_RST, TCP_SYN,
    },
};

type Result = anyhow::Result<()>;

#[test]
fn tcp_syn_from_a_protected_host() -> Result {
    let mut h = harness();
    let frame = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.7")
        .tcp(40000, 443, TCP_SYN)
        .build();
    let (verdict, delta) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS);
    let want = outbound_syn(54, false, true);
    assert_eq!(delta, want);
    let host = h.known_host("10.0.0.5")?;
    assert_eq!(
        (
            host.traffic.packets_out,
            host.traffic.bytes_out,
            host.traffic.tcp_syn_out
        ),
        (1, 54, 1)
    );
    assert_eq!(
        (
            host.traffic.packets_in,
            host.traffic.udp_out,
            host.traffic.icmp_out
        ),
        (0, 0, 0)
    );
    assert_eq!(host.mac, CLIENT_MAC);
    assert_eq!(
        (
            sketch_bits(&host.peer_sketch),
            sketch_bits(&host.port_sketch)
        ),
        (1, 1)
    );
    assert!(host.first_seen_ns > 0 && host.last_seen_ns >= host.first_seen_ns);
    assert!(
        h.host("203.0.113.7")?.is_none(),
        "remote addresses get no host entry"
    );
    Ok(())
}

#[test]
fn tcp_synack_and_rst_to_a_protected_host() -> Result {
    let mut h = harness();
    let synack = Frame::new(GATEWAY_MAC, CLIENT_MAC)
        .ipv4("203.0.113.7", "10.0.0.5")
        .tcp(443, 40000, TCP_SYN | TCP_ACK)
        .build();
    let (verdict, delta) = h.run_delta(&synack)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = classed(seen(54), C::RemoteToLocal, 54);
    want.ipv4 = 1;
    want.tcp = 1;
    want.tcp_synack = 1;
    want.hosts_created = 1;
    want.events_sent = 1;
    assert_eq!(delta, want, "the answer raises an event");
    let rst = Frame::new(GATEWAY_MAC, CLIENT_MAC)
        .ipv4("203.0.113.7", "10.0.0.5")
        .tcp(443, 40000, TCP_RST | TCP_ACK)
        .build();
    let (_, delta) = h.run_delta(&rst)?;
    let mut want = classed(seen(54), C::RemoteToLocal, 54);
    want.ipv4 = 1;
    want.tcp = 1;
    want.tcp_rst = 1;
    want.events_sent = 1;
    assert_eq!(delta, want, "the refusal raises an event");
    let host = h.known_host("10.0.0.5")?;
    assert_eq!(
        (
            host.traffic.packets_in,
            host.traffic.bytes_in,
            host.traffic.tcp_synack_in,
            host.traffic.tcp_rst_in
        ),
        (2, 108, 1, 1)
    );
    assert_eq!(host.traffic.packets_out, 0);
    assert_eq!(host.mac, [0; 6], "a host that sent nothing has no MAC yet");
    Ok(())
}

#[test]
fn dns_query_and_answer() -> Result {
    let mut h = harness();
    let query = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.53")
        .udp(5353, 53)
        .dns_query(7, "www.example.com")
        .build();
    let (verdict, delta) = h.run_delta(&query)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = classed(seen(query.len()), C::LocalToRemote, query.len());
    want.ipv4 = 1;
    want.udp = 1;
    want.dns_queries = 1;
    want.hosts_created = 1;
    want.events_sent = 1;
    assert_eq!(delta, want);
    let answer = Frame::new(GATEWAY_MAC, CLIENT_MAC)
        .ipv4("203.0.113.53", "10.0.0.5")
        .udp(53, 5353)
        .dns_answer(7, "www.example.com")
        .build();
    let (_, delta) = h.run_delta(&answer)?;
    let mut want = classed(seen(answer.len()), C::RemoteToLocal, answer.len());
    want.ipv4 = 1;
    want.udp = 1;
    want.dns_answers = 1;
    want.events_sent = 1;
    assert_eq!(delta, want, "the answer raises an event");
    let host = h.known_host("10.0.0.5")?;
    assert_eq!(
        (
            host.traffic.dns_queries_out,
            host.traffic.dns_answers_in,
            host.traffic.udp_out,
            host.traffic.udp_in
        ),
        (1, 1, 1, 1)
    );
    Ok(())
}

#[test]
fn icmp_and_icmpv6_echo() -> Result {
    let mut h = harness();
    let ping = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.7")
        .icmp_echo(1, 1)
        .payload(&[0xab; 56])
        .build();
    let (verdict, delta) = h.run_delta(&ping)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = classed(seen(98), C::LocalToRemote, 98);
    want.ipv4 = 1;
    want.icmp = 1;
    want.hosts_created = 1;
    want.events_sent = 1;
    assert_eq!(delta, want, "an echo request raises an event");
    let ping6 = Frame::client()
        .ipv6("fd00::5", "2001:db8::7")
        .icmp_echo(1, 1)
        .build();
    let (verdict, delta) = h.run_delta(&ping6)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = classed(seen(ping6.len()), C::LocalToRemote, ping6.len());
    want.ipv6 = 1;
    want.icmp = 1;
    want.hosts_created = 1;
    want.events_sent = 1;
    assert_eq!(delta, want);
    assert_eq!(h.known_host("10.0.0.5")?.traffic.icmp_out, 1);
    assert_eq!(h.known_host("fd00::5")?.traffic.icmp_out, 1);
    Ok(())
}

#[test]
fn ipv6_tcp_syn() -> Result {
    let mut h = harness();
    let frame = Frame::client()
        .ipv6("fd00::5", "2001:db8::1")
        .tcp(40000, 443, TCP_SYN)
        .build();
    let (verdict, delta) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS);
    let want = outbound_syn(74, true, true);
    assert_eq!(delta, want);
    assert_eq!(h.known_host("fd00::5")?.traffic.tcp_syn_out, 1);
    Ok(())
}

#[test]
fn vlan_tags_one_two_and_too_many() -> Result {
    let mut h = harness();
    let one = Frame::client()
        .vlan(100)
        .ipv4("10.0.0.5", "203.0.113.7")
        .tcp(40000, 443, TCP_SYN)
        .build();
    let (verdict, delta) = h.run_delta(&one)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = outbound_syn(58, false, true);
    want.vlan_tagged = 1;
    assert_eq!(delta, want);
    assert_eq!(h.known_host("10.0.0.5")?.vlan, 100);

    let two = Frame::client()
        .qinq(10)
        .vlan(200)
        .ipv4("10.0.0.5", "203.0.113.7")
        .tcp(40000, 443, TCP_SYN)
        .build();
    let (_, delta) = h.run_delta(&two)?;
    want = outbound_syn(62, false, false);
    want.vlan_tagged = 1;
    assert_eq!(delta, want);
    assert_eq!(
        h.known_host("10.0.0.5")?.vlan,
        200,
        "the inner (customer) tag names the VLAN"
    );

    let three = Frame::client()
        .qinq(10)
        .vlan(20)
        .vlan(30)
        .ipv4("10.0.0.5", "203.0.113.7")
        .tcp(40000, 443, TCP_SYN)
        .build();
    let (verdict, delta) = h.run_delta(&three)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = malformed(66, M::VlanTooDeep);
    want.vlan_tagged = 1;
    assert_eq!(delta, want);
    Ok(())
}

#[test]
fn ipv4_options_and_fragments() -> Result {
    let mut h = harness();
    let with_options = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.7")
        .ipv4_options(&[0x94, 4, 0, 0, 1, 1, 1, 0])
        .tcp(40000, 443, TCP_SYN)
        .build();
    let (verdict, delta) = h.run_delta(&with_options)?;
    assert_eq!(verdict, XDP_PASS);
    assert_eq!(
        (delta.tcp, delta.tcp_syn, delta.ipv4, delta.malformed),
        (1, 1, 1, [0; MALFORMED_REASONS])
    );

    let first = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.7")
        .ipv4_fragment(0, true)
        .tcp(40000, 443, TCP_SYN)
        .build();
    let (_, delta) = h.run_delta(&first)?;
    assert_eq!(
        (delta.tcp, delta.fragments),
        (1, 0),
        "a first fragment carries the transport header"
    );

    let later = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.7")
        .ipv4_fragment(185, false)
        .tcp(40000, 443, TCP_SYN)
        .build();
    let (verdict, delta) = h.run_delta(&later)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = classed(seen(54), C::LocalToRemote, 54);
    want.ipv4 = 1;
    want.fragments = 1;
    assert_eq!(delta, want, "a later fragment's bytes are not a TCP header");
    let host = h.known_host("10.0.0.5")?;
    assert_eq!((host.traffic.packets_out, host.traffic.tcp_syn_out), (3, 2));
    Ok(())
}

#[test]
fn ipv6_extension_headers() -> Result {
    let mut h = harness();
    let chain = Frame::client()
        .ipv6("fd00::5", "2001:db8::1")
        .extension(Extension::HopByHop)
        .extension(Extension::Routing)
        .extension(Extension::DestinationOptions)
        .extension(Extension::Fragment {
            offset: 0,
            more: true,
        })
        .tcp(40000, 443, TCP_SYN)
        .build();
    let (verdict, delta) = h.run_delta(&chain)?;
    assert_eq!(verdict, XDP_PASS);
    assert_eq!(
        (
            delta.ipv6,
            delta.tcp,
            delta.tcp_syn,
            delta.fragments,
            delta.malformed
        ),
        (1, 1, 1, 0, [0; MALFORMED_REASONS])
    );

    let later = Frame::client()
        .ipv6("fd00::5", "2001:db8::1")
        .extension(Extension::Fragment {
            offset: 100,
            more: false,
        })
        .tcp(40000, 443, TCP_SYN)
        .build();
    let (_, delta) = h.run_delta(&later)?;
    assert_eq!((delta.ipv6, delta.tcp, delta.fragments), (1, 0, 1));

    // Seven destination-options headers: all followed, the SYN is seen.
    let mut seven = Frame::client().ipv6("fd00::5", "2001:db8::1");
    for _ in 0..7 {
        seven = seven.extension(Extension::DestinationOptions);
    }
    let seven = seven.tcp(40000, 443, TCP_SYN).build();
    let (verdict, delta) = h.run_delta(&seven)?;
    assert_eq!(verdict, XDP_PASS);
    assert_eq!(delta, outbound_syn(seven.len(), true, false));

    // Nine: deeper than the parser follows. The transport is unknown, but the
    // packet still counts for its hosts (and blocks apply).
    let mut nine = Frame::client().ipv6("fd00::5", "2001:db8::1");
    for _ in 0..9 {
        nine = nine.extension(Extension::DestinationOptions);
    }
    let nine = nine.tcp(40000, 443, TCP_SYN).build();
    let (verdict, delta) = h.run_delta(&nine)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = classed(
        malformed(nine.len(), M::Ipv6ExtensionTooDeep),
        C::LocalToRemote,
        nine.len(),
    );
    want.ipv6 = 1;
    assert_eq!(delta, want);
    Ok(())
}

#[test]
fn non_ip_broadcast_and_multicast() -> Result {
    let mut h = harness();
    let arp = Frame::new(CLIENT_MAC, BROADCAST_MAC)
        .ethertype(0x0806)
        .payload(&[0u8; 28])
        .build();
    let (verdict, delta) = h.run_delta(&arp)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = seen(42);
    want.non_ip = 1;
    want.broadcast = 1;
    assert_eq!(delta, want);

    let mdns = Frame::new(CLIENT_MAC, [0x01, 0x00, 0x5e, 0, 0, 0xfb])
        .ipv4("10.0.0.5", "224.0.0.251")
        .udp(5353, 5353)
        .payload(&[0; 12])
        .build();
    let (_, delta) = h.run_delta(&mdns)?;
    assert_eq!((delta.multicast, delta.broadcast, delta.udp), (1, 0, 1));
    Ok(())
}

#[test]
fn lateral_and_remote_to_remote_traffic() -> Result {
    let mut h = harness();
    let lateral = Frame::client()
        .ipv4("10.0.0.5", "10.0.0.6")
        .tcp(40000, 445, TCP_SYN)
        .build();
    let (_, delta) = h.run_delta(&lateral)?;
    let mut want = classed(seen(54), C::LocalToLocal, 54);
    want.ipv4 = 1;
    want.tcp = 1;
    want.tcp_syn = 1;
    want.hosts_created = 2;
    want.events_sent = 1;
    assert_eq!(delta, want);
    let src = h.known_host("10.0.0.5")?;
    let dst = h.known_host("10.0.0.6")?;
    assert_eq!(
        (
            src.traffic.lateral_packets_out,
            src.traffic.lateral_bytes_out,
            src.traffic.packets_out
        ),
        (1, 54, 1)
    );
    assert_eq!(
        (dst.traffic.lateral_packets_in, dst.traffic.packets_in),
        (1, 1)
    );

    let transit = Frame::client()
        .ipv4("198.51.100.1", "203.0.113.7")
        .tcp(40000, 443, TCP_SYN)
        .build();
    let (_, delta) = h.run_delta(&transit)?;
    let mut want = classed(seen(54), C::RemoteToRemote, 54);
    want.ipv4 = 1;
    want.tcp = 1;
    want.tcp_syn = 1;
    assert_eq!(
        delta, want,
        "no host entry and no event for traffic between outsiders"
    );
    Ok(())
}

/// Cuts a valid frame to `keep` transport bytes and fixes the IP length fields,
/// so that only the transport layer is short.
fn cut_transport(frame: &[u8], layout: Layout, keep: usize) -> Vec<u8> {
    let mut cut = frame[..layout.transport + keep].to_vec();
    let l3 = layout.network;
    if cut[l3] >> 4 == 4 {
        let total = (layout.transport - l3 + keep) as u16;
        cut[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
    } else {
        let payload = (layout.transport - l3 - 40 + keep) as u16;
        cut[l3 + 4..l3 + 6].copy_from_slice(&payload.to_be_bytes());
    }
    cut
}

#[test]
fn frames_shorter_than_ethernet_are_refused_by_the_kernel() -> Result {
    let mut h = harness();
    let frame = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.7")
        .tcp(40000, 443, TCP_SYN)
        .build();
    let before = h.site()?;
    for len in 0..14 {
        assert!(
            h.run(&frame[..len]).is_err(),
            "BPF_PROG_TEST_RUN takes no frame under 14 bytes (len {len})"
        );
    }
    assert_eq!(h.site()?, before, "the program never ran");
    Ok(())
}

#[test]
fn every_truncation_of_tcp_over_ipv4() -> Result {
    let mut h = harness();
    let frame = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.7")
        .tcp(40000, 443, TCP_SYN)
        .build();
    for len in 14..frame.len() {
        let (verdict, delta) = h.run_delta(&frame[..len])?;
        assert_eq!(verdict, XDP_PASS, "len {len}");
        let want = if len < 34 {
            malformed(len, M::Ipv4Truncated)
        } else {
            // The addresses are readable: the packet counts for its hosts
            // (and blocks apply), with the reason its transport is unknown.
            let mut want = classed(malformed(len, M::Ipv4BadTotalLength), C::LocalToRemote, len);
            want.ipv4 = 1;
            want.hosts_created = u64::from(len == 34);
            want
        };
        assert_eq!(delta, want, "len {len}");
    }
    let host = h.known_host("10.0.0.5")?;
    assert_eq!(host.traffic.packets_out, (34..frame.len()).len() as u64);
    Ok(())
}

#[test]
fn every_truncation_of_udp_over_ipv6() -> Result {
    let mut h = harness();
    let frame = Frame::client()
        .ipv6("fd00::5", "2001:db8::1")
        .udp(4000, 4001)
        .payload(&[1, 2, 3, 4])
        .build();
    for len in 14..frame.len() {
        let (verdict, delta) = h.run_delta(&frame[..len])?;
        assert_eq!(verdict, XDP_PASS, "len {len}");
        let want = if len < 54 {
            malformed(len, M::Ipv6Truncated)
        } else {
            let mut want = classed(
                malformed(len, M::Ipv6BadPayloadLength),
                C::LocalToRemote,
                len,
            );
            want.ipv6 = 1;
            want.hosts_created = u64::from(len == 54);
            want
        };
        assert_eq!(delta, want, "len {len}");
    }
    Ok(())
}

#[test]
fn every_truncation_of_a_vlan_frame() -> Result {
    let mut h = harness();
    let frame = Frame::client()
        .vlan(7)
        .ipv4("10.0.0.5", "203.0.113.7")
        .udp(4000, 4001)
        .payload(&[0; 8])
        .build();
    for len in 14..frame.len() {
        let (verdict, delta) = h.run_delta(&frame[..len])?;
        assert_eq!(verdict, XDP_PASS, "len {len}");
        let mut want = match len {
            14..=17 => malformed(len, M::VlanTruncated),
            18..=37 => malformed(len, M::Ipv4Truncated),
            _ => {
                let mut want =
                    classed(malformed(len, M::Ipv4BadTotalLength), C::LocalToRemote, len);
                want.ipv4 = 1;
                want.hosts_created = u64::from(len == 38);
                want
            }
        };
        if len >= 18 {
            want.vlan_tagged = 1;
        }
        assert_eq!(delta, want, "len {len}");
    }
    Ok(())
}

#[test]
fn every_truncation_of_each_transport_header() -> Result {
    let mut h = harness();
    let cases = [
        (
            Frame::client()
                .ipv4("10.0.0.5", "203.0.113.7")
                .tcp(40000, 443, TCP_SYN),
            20,
            M::TcpTruncated,
        ),
        (
            Frame::client()
                .ipv6("fd00::5", "2001:db8::1")
                .udp(4000, 4001),
            8,
            M::UdpTruncated,
        ),
        (
            Frame::client()
                .ipv4("10.0.0.5", "203.0.113.7")
                .icmp_echo(1, 1),
            4,
            M::IcmpTruncated,
        ),
        (
            Frame::client()
                .ipv4("10.0.0.5", "203.0.113.53")
                .udp(5353, 53)
                .dns_query(1, "example.com"),
            8 + 12,
            M::DnsTruncated,
        ),
    ];
    for (builder, header, reason) in cases {
        let (frame, layout) = builder.build_with_layout();
        let shortest = if reason == M::DnsTruncated { 8 } else { 0 };
        for keep in shortest..header {
            let cut = cut_transport(&frame, layout, keep);
            let (verdict, delta) = h.run_delta(&cut)?;
            assert_eq!(verdict, XDP_PASS, "{reason:?} keep {keep}");
            let mut want_malformed = [0u64; MALFORMED_REASONS];
            want_malformed[reason as usize] = 1;
            assert_eq!(delta.malformed, want_malformed, "{reason:?} keep {keep}");
            // A DNS message cut short still has a sound UDP header.
            let udp = u64::from(reason == M::DnsTruncated);
            assert_eq!(
                (delta.tcp, delta.udp, delta.icmp, delta.dns_queries),
                (0, udp, 0, 0),
                "{reason:?} keep {keep}"
            );
            assert_eq!(
                delta.ipv4 + delta.ipv6,
                1,
                "the IP header was sound: {reason:?} keep {keep}"
            );
        }
    }
    Ok(())
}

#[test]
fn inconsistent_headers_are_named() -> Result {
    let mut h = harness();
    let frame = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.7")
        .tcp(40000, 443, TCP_SYN)
        .build();
    let mut bad_ihl = frame.clone();
    bad_ihl[14] = 0x44;
    let mut long_ihl = frame.clone();
    long_ihl[14] = 0x4f;
    let mut bad_version = frame.clone();
    bad_version[14] = 0x55;
    let mut short_total = frame.clone();
    short_total[16..18].copy_from_slice(&10u16.to_be_bytes());
    let mut bad_offset = frame.clone();
    bad_offset[46] = 0x40;
    let mut long_offset = frame.clone();
    long_offset[46] = 0xf0;
    let mut v6 = Frame::client()
        .ipv6("fd00::5", "2001:db8::1")
        .tcp(1, 2, TCP_SYN)
        .build();
    v6[14] = 0x40;
    for (name, bytes, reason) in [
        ("ihl 4", &bad_ihl, M::Ipv4BadHeaderLength),
        ("ihl 15", &long_ihl, M::Ipv4BadHeaderLength),
        ("version 5", &bad_version, M::Ipv4BadVersion),
        ("total length 10", &short_total, M::Ipv4BadTotalLength),
        ("data offset 4", &bad_offset, M::TcpBadDataOffset),
        ("data offset 15", &long_offset, M::TcpBadDataOffset),
        ("ipv6 version 4", &v6, M::Ipv6BadVersion),
    ] {
        let (verdict, delta) = h.run_delta(bytes)?;
        assert_eq!(verdict, XDP_PASS, "{name}");
        let mut want = [0u64; MALFORMED_REASONS];
        want[reason as usize] = 1;
        assert_eq!(delta.malformed, want, "{name}");
    }
    Ok(())
}

/// A small deterministic generator (xorshift64*).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn garbage_is_counted_and_passed() -> Result {
    let mut h = harness();
    let mut noise = Noise(0x5eed_1234_abcd_0001);
    let before = h.site()?;
    let rounds = 3000;
    for i in 0..rounds {
        let len = 14 + (noise.next() % 243) as usize;
        let mut frame: Vec<u8> = (0..len).map(|_| noise.next() as u8).collect();
        // Steer two thirds of the frames into the deeper parsers.
        let ethertype: u16 = match i % 6 {
            0 | 1 => 0x0800,
            2 => 0x86dd,
            3 => 0x8100,
            _ => u16::from_be_bytes([frame[12], frame[13]]),
        };
        frame[12..14].copy_from_slice(&ethertype.to_be_bytes());
        // Give some frames consistent IP lengths so garbage reaches the
        // transport parsers too.
        if ethertype == 0x0800 && len >= 34 {
            frame[14] = 0x40 | (5 + (noise.next() % 3) as u8);
            frame[16..18].copy_from_slice(&((len - 14) as u16).to_be_bytes());
            frame[20] &= if i % 2 == 0 { 0x20 } else { 0xff };
            frame[21] = if i % 2 == 0 { 0 } else { frame[21] };
            frame[23] = [6u8, 17, 1, 47][(noise.next() % 4) as usize];
        }
        if ethertype == 0x86dd && len >= 54 {
            frame[14] = 0x60;
            frame[18..20].copy_from_slice(&((len - 54) as u16).to_be_bytes());
            frame[20] = [6u8, 17, 58, 0, 43, 44, 60][(noise.next() % 7) as usize];
        }
        let verdict = h.run(&frame)?;
        assert_eq!(
            verdict, XDP_PASS,
            "garbage frame {i} ({len} bytes): {frame:02x?}"
        );
    }
    let d = vantage_tests::harness::site_delta(&before, &h.site()?);
    assert_eq!(d.packets, rounds);
    // Every frame ends in exactly one place: non-IP, refused before an IP
    // header was accepted, or counted as IPv4/IPv6.
    let refused_early: u64 = [
        M::EthTruncated,
        M::VlanTruncated,
        M::VlanTooDeep,
        M::Ipv4Truncated,
        M::Ipv4BadVersion,
        M::Ipv6Truncated,
        M::Ipv6BadVersion,
    ]
    .iter()
    .map(|reason| d.malformed[*reason as usize])
    .sum();
    assert_eq!(d.non_ip + refused_early + d.ipv4 + d.ipv6, rounds, "{d:?}");
    assert!(
        d.ipv4 > 100 && d.ipv6 > 50 && d.tcp + d.udp > 50,
        "the generator reached the parsers: {d:?}"
    );
    let transport_malformed: u64 = d.malformed[M::Ipv6ExtensionTruncated as usize..]
        .iter()
        .sum();
    assert!(
        transport_malformed > 0,
        "some garbage broke a transport header: {d:?}"
    );
    assert_eq!(d.dropped, [0; 4]);
    Ok(())
}

#[test]
fn changing_the_protected_networks_takes_effect_at_once() -> Result {
    let mut h = harness();
    let frame = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.53")
        .udp(5353, 53)
        .dns_query(1, "a.example")
        .build();
    let (_, delta) = h.run_delta(&frame)?;
    assert_eq!(delta.class_packets[C::LocalToRemote as usize], 1);
    // Both addresses are now in the locality cache; the generation bump must retire them.
    let nets: Vec<vantage::net::Cidr> = vec!["203.0.113.0/24".parse()?];
    h.datapath.maps_mut().set_local_nets(&nets)?;
    let (_, delta) = h.run_delta(&frame)?;
    assert_eq!(
        delta.class_packets[C::RemoteToLocal as usize],
        1,
        "{delta:?}"
    );
    assert_eq!(h.known_host("203.0.113.53")?.traffic.packets_in, 1);
    assert_eq!(
        h.known_host("10.0.0.5")?.traffic.packets_out,
        1,
        "no longer counted as protected"
    );
    Ok(())
}
