//! DNS that really is DNS, and duplicate frames, in the real kernel through
//! `BPF_PROG_TEST_RUN`: DNS over TCP (query and answer, per-host counters,
//! the query event with its name), a SYN to port 53 (with or without a
//! payload) is no query, port-53 datagrams that are not DNS (a 4-byte one
//! whose Ethernet padding looks like a DNS header, opcode 5, QDCOUNT 7) are
//! `port53_other`, mDNS is not DNS, a UDP length promising a DNS header the
//! packet does not hold is `DnsTruncated`; the same frame twice within 5 ms
//! is a duplicate, counted again for its hosts unless told otherwise, and
//! different frames, or the same one 20 ms later, are not. Exact deltas of
//! every site counter throughout.

use std::time::Duration;

use sensor_common::{EventKind, MalformedReason as M, SiteCounters, TrafficClass as C};
use vantage::datapath::EventReader;
use vantage_tests::{
    expect::{classed, harness, seen},
    harness::{assert_site, drain_events, Harness, XDP_PASS},
    packet::{
        dns_message, dns_tcp_payload, Frame, CLIENT_MAC, GATEWAY_MAC, TCP_ACK, TCP_PSH, TCP_SYN,
    },
};

type Result = anyhow::Result<()>;

fn events(h: &mut Harness) -> anyhow::Result<EventReader> {
    h.datapath
        .take_events()
        .ok_or_else(|| anyhow::anyhow!("no ring buffer"))
}

/// An IPv4 TCP segment of `len` bytes, from a protected host when `out`.
fn tcp_v4(len: usize, out: bool) -> SiteCounters {
    let class = if out {
        C::LocalToRemote
    } else {
        C::RemoteToLocal
    };
    let mut s = classed(seen(len), class, len);
    s.ipv4 = 1;
    s.tcp = 1;
    s
}

/// A UDP datagram of `len` bytes from a protected host to the outside.
fn udp_out(len: usize, new_host: bool, new_peer: bool) -> SiteCounters {
    let mut s = classed(seen(len), C::LocalToRemote, len);
    s.ipv4 = 1;
    s.udp = 1;
    s.hosts_created = u64::from(new_host);
    s.events_sent = u64::from(new_peer);
    s
}

#[test]
fn dns_over_tcp_query_and_answer() -> Result {
    let mut h = harness();
    let mut ring = events(&mut h)?;
    let name = "intranet.example.com";
    let query = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.53")
        .tcp(40000, 53, TCP_PSH | TCP_ACK)
        .tcp_dns_query(0x77, name)
        .build();
    let (verdict, delta) = h.run_delta(&query)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = tcp_v4(query.len(), true);
    want.dns_over_tcp = 1;
    want.dns_queries = 1;
    want.hosts_created = 1;
    want.events_sent = 1;
    assert_site(&delta, &want, "DNS query over TCP");

    let answer = Frame::new(GATEWAY_MAC, CLIENT_MAC)
        .ipv4("203.0.113.53", "10.0.0.5")
        .tcp(53, 40000, TCP_PSH | TCP_ACK)
        .tcp_dns_answer(0x77, name)
        .build();
    let (verdict, delta) = h.run_delta(&answer)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = tcp_v4(answer.len(), false);
    want.dns_over_tcp = 1;
    want.dns_answers = 1;
    want.events_sent = 1;
    assert_site(&delta, &want, "DNS answer over TCP");

    let host = h.known_host("10.0.0.5")?;
    assert_eq!(
        (
            host.traffic.dns_queries_out,
            host.traffic.dns_answers_in,
            host.traffic.packets_out,
            host.traffic.packets_in
        ),
        (1, 1, 1, 1)
    );
    let events = drain_events(&mut ring);
    assert_eq!(events.len(), 2, "{events:?}");
    let event = &events[0];
    assert_eq!(event.kind, EventKind::DnsQuery);
    assert_eq!(event.qname.as_deref(), Some(name));
    assert!(!event.qname_truncated);
    let answer = &events[1];
    assert_eq!(
        (answer.kind, answer.qname.as_deref(), answer.src_port),
        (EventKind::DnsAnswer, Some(name), 53)
    );
    assert_eq!(
        answer.answer.as_deref(),
        Some(&dns_message(0x77, true, name)[..])
    );
    assert_eq!(
        (
            event.src.to_string(),
            event.dst.to_string(),
            event.src_port,
            event.dst_port,
            event.protocol
        ),
        ("10.0.0.5".into(), "203.0.113.53".into(), 40000, 53, 6)
    );

    // Over IPv6 too.
    let query6 = Frame::client()
        .ipv6("fd00::5", "2001:db8::53")
        .tcp(40001, 53, TCP_PSH | TCP_ACK)
        .tcp_dns_query(0x78, "v6.example.org")
        .build();
    let (_, delta) = h.run_delta(&query6)?;
    let mut want = classed(seen(query6.len()), C::LocalToRemote, query6.len());
    want.ipv6 = 1;
    want.tcp = 1;
    want.dns_over_tcp = 1;
    want.dns_queries = 1;
    want.hosts_created = 1;
    want.events_sent = 1;
    assert_site(&delta, &want, "DNS query over TCP/IPv6");
    let events = drain_events(&mut ring);
    assert_eq!(
        events
            .iter()
            .map(|e| e.qname.as_deref())
            .collect::<Vec<_>>(),
        [Some("v6.example.org")]
    );
    Ok(())
}

#[test]
fn a_syn_to_port_53_is_not_a_dns_query() -> Result {
    let mut h = harness();
    let mut ring = events(&mut h)?;
    let plain = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.53")
        .tcp(40000, 53, TCP_SYN)
        .build();
    // A SYN carrying a length-prefixed query (as TCP Fast Open would).
    let carrying = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.53")
        .tcp(40001, 53, TCP_SYN)
        .payload(&dns_tcp_payload(&dns_message(1, false, "tfo.example")))
        .build();
    for (i, (what, frame)) in [("SYN", &plain), ("SYN with a query", &carrying)]
        .into_iter()
        .enumerate()
    {
        let (verdict, delta) = h.run_delta(frame)?;
        assert_eq!(verdict, XDP_PASS, "{what}");
        let mut want = tcp_v4(frame.len(), true);
        want.tcp_syn = 1;
        want.events_sent = 1;
        want.hosts_created = u64::from(i == 0);
        assert_site(&delta, &want, what);
    }
    let events = drain_events(&mut ring);
    assert!(
        events.len() == 2
            && events
                .iter()
                .all(|e| e.kind == EventKind::TcpSyn && e.qname.is_none()),
        "{events:?}"
    );
    assert_eq!(h.known_host("10.0.0.5")?.traffic.dns_queries_out, 0);
    Ok(())
}

#[test]
fn a_short_datagram_to_port_53_is_not_dns_whatever_the_padding_says() -> Result {
    let mut h = harness();
    // Four bytes that start a query (id, flags 0x0100), then Ethernet
    // padding that reads on as QDCOUNT 1 and zero counts: a query header
    // only for a parser that reads past the UDP length.
    let (mut frame, layout) = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.53")
        .udp(40000, 53)
        .payload(&[0x12, 0x34, 0x01, 0x00])
        .pad_to(60)
        .build_with_layout();
    assert_eq!((frame.len(), layout.padding), (60, 46));
    frame[46..48].copy_from_slice(&[0, 1]);
    let (verdict, delta) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = udp_out(60, true, true);
    want.port53_other = 1;
    assert_site(&delta, &want, "4 bytes to port 53, padded to 60");
    assert_eq!(h.known_host("10.0.0.5")?.traffic.dns_queries_out, 0);
    Ok(())
}

/// A 20-byte port-53 payload: a DNS header with `flags` and `questions`
/// (no answers), then 8 bytes of zeros.
fn dns_like(flags: u16, questions: u16) -> Vec<u8> {
    let mut p = vec![0xab, 0xcd];
    p.extend_from_slice(&flags.to_be_bytes());
    p.extend_from_slice(&questions.to_be_bytes());
    p.resize(20, 0);
    p
}

#[test]
fn port_53_payloads_that_are_not_dns() -> Result {
    let mut h = harness();
    let cases = [
        ("opcode 5 (update) query", 0x2800u16, 1u16, true),
        ("QDCOUNT 7 query", 0x0100, 7, true),
        ("opcode 5 answer", 0xa800, 1, false),
        ("answer with QDCOUNT 2", 0x8180, 2, false),
    ];
    for (i, (what, flags, questions, to_dns)) in cases.into_iter().enumerate() {
        let port = 40000 + i as u16;
        let frame = if to_dns {
            Frame::client()
                .ipv4("10.0.0.5", "203.0.113.53")
                .udp(port, 53)
        } else {
            Frame::new(GATEWAY_MAC, CLIENT_MAC)
                .ipv4("203.0.113.53", "10.0.0.5")
                .udp(53, port)
        };
        let frame = frame.payload(&dns_like(flags, questions)).build();
        let (verdict, delta) = h.run_delta(&frame)?;
        assert_eq!(verdict, XDP_PASS, "{what}");
        let len = frame.len();
        let mut want = if to_dns {
            udp_out(len, i == 0, i == 0)
        } else {
            let mut s = classed(seen(len), C::RemoteToLocal, len);
            s.ipv4 = 1;
            s.udp = 1;
            s
        };
        want.port53_other = 1;
        assert_site(&delta, &want, what);
    }
    let host = h.known_host("10.0.0.5")?;
    assert_eq!(
        (host.traffic.dns_queries_out, host.traffic.dns_answers_in),
        (0, 0)
    );
    Ok(())
}

#[test]
fn mdns_is_not_dns() -> Result {
    let mut h = harness();
    let mut ring = events(&mut h)?;
    let frame = Frame::new(CLIENT_MAC, [0x01, 0x00, 0x5e, 0, 0, 0xfb])
        .ipv4("10.0.0.5", "224.0.0.251")
        .udp(5353, 5353)
        .dns_query(0, "printer.local")
        .build();
    let (verdict, delta) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = udp_out(frame.len(), true, true);
    want.multicast = 1;
    assert_site(&delta, &want, "mDNS query");
    let events = drain_events(&mut ring);
    assert!(
        events.len() == 1 && events[0].kind == EventKind::UdpNewPeer,
        "a new peer, not a DNS name: {events:?}"
    );
    Ok(())
}

#[test]
fn a_udp_length_promising_a_dns_header_the_packet_lacks() -> Result {
    let mut h = harness();
    let (frame, layout) = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.53")
        .udp(40000, 53)
        .dns_query(1, "example.com")
        .build_with_layout();
    // Five bytes of the DNS header; the IP length says so, the UDP length
    // still claims the whole message.
    let end = layout.transport + 8 + 5;
    let mut cut = frame[..end].to_vec();
    cut[16..18].copy_from_slice(&((end - 14) as u16).to_be_bytes());
    let (verdict, delta) = h.run_delta(&cut)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = udp_out(cut.len(), true, true);
    want.malformed[M::DnsTruncated as usize] = 1;
    assert_site(&delta, &want, "DNS header cut by the IP length");
    Ok(())
}

/// Pins this thread to one CPU: duplicates are remembered per CPU.
fn pin_to_one_cpu() {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the call only reads it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    assert_eq!(
        rc,
        0,
        "sched_setaffinity: {}",
        std::io::Error::last_os_error()
    );
}

fn syn(sport: u16) -> Vec<u8> {
    Frame::client()
        .ipv4("10.0.0.5", "203.0.113.7")
        .tcp(sport, 443, TCP_SYN)
        .build()
}

fn outbound_syn(new_host: bool) -> SiteCounters {
    let mut s = tcp_v4(54, true);
    s.tcp_syn = 1;
    s.events_sent = 1;
    s.hosts_created = u64::from(new_host);
    s
}

#[test]
fn the_same_frame_twice_is_a_duplicate_counted_again_by_default() -> Result {
    pin_to_one_cpu();
    let mut h = harness();
    let mut ring = events(&mut h)?;
    let frame = syn(40000);
    let (_, first) = h.run_delta(&frame)?;
    let (verdict, second) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS);
    assert_site(&first, &outbound_syn(true), "first copy");
    let mut want = outbound_syn(false);
    want.duplicates = 1;
    assert_site(&second, &want, "second copy");
    assert_eq!(h.known_host("10.0.0.5")?.traffic.packets_out, 2);
    assert_eq!(drain_events(&mut ring).len(), 2);
    Ok(())
}

#[test]
fn with_skip_duplicates_a_duplicate_counts_once_and_raises_one_event() -> Result {
    pin_to_one_cpu();
    let mut h = harness();
    h.set_parsing(&[], true)?;
    let mut ring = events(&mut h)?;
    let frame = syn(40000);
    let (_, first) = h.run_delta(&frame)?;
    let (verdict, second) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS);
    assert_site(&first, &outbound_syn(true), "first copy");
    // Parsed and counted as a duplicate, but not traffic again: no class,
    // no host, no event.
    let mut want = seen(54);
    want.ipv4 = 1;
    want.tcp = 1;
    want.tcp_syn = 1;
    want.duplicates = 1;
    assert_site(&second, &want, "second copy, skipped");
    let host = h.known_host("10.0.0.5")?;
    assert_eq!((host.traffic.packets_out, host.traffic.tcp_syn_out), (1, 1));
    assert_eq!(drain_events(&mut ring).len(), 1);
    Ok(())
}

#[test]
fn different_frames_are_not_duplicates() -> Result {
    pin_to_one_cpu();
    let mut h = harness();
    h.set_parsing(&[], true)?;
    // Another source port; then the same segment with one more payload byte.
    let frames = [
        syn(40000),
        syn(40001),
        Frame::client()
            .ipv4("10.0.0.5", "203.0.113.7")
            .tcp(40001, 443, TCP_SYN)
            .payload(&[0])
            .build(),
    ];
    for (i, frame) in frames.iter().enumerate() {
        let (_, delta) = h.run_delta(frame)?;
        let mut want = tcp_v4(frame.len(), true);
        want.tcp_syn = 1;
        want.events_sent = 1;
        want.hosts_created = u64::from(i == 0);
        assert_site(&delta, &want, &format!("frame {i}"));
    }
    assert_eq!(h.known_host("10.0.0.5")?.traffic.packets_out, 3);
    Ok(())
}

#[test]
fn the_same_frame_20_ms_later_is_not_a_duplicate() -> Result {
    pin_to_one_cpu();
    let mut h = harness();
    h.set_parsing(&[], true)?;
    let frame = syn(40000);
    let (_, first) = h.run_delta(&frame)?;
    assert_site(&first, &outbound_syn(true), "first copy");
    std::thread::sleep(Duration::from_millis(20));
    let (_, again) = h.run_delta(&frame)?;
    assert_site(&again, &outbound_syn(false), "20 ms later");
    assert_eq!(h.known_host("10.0.0.5")?.traffic.packets_out, 2);
    Ok(())
}
