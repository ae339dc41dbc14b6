//! What answers a protected host, in the real kernel through
//! `BPF_PROG_TEST_RUN`: a SYN-ACK to it is one `tcp_answered` event, a RST
//! one `tcp_refused`, an ICMP destination unreachable one
//! `icmp_unreachable` naming the peer and port its quoted packet tried;
//! its echo requests are `icmp_echo` events; a DNS response to it is one
//! `dns_answer` carrying the message byte for byte (over UDP, TCP, a raw-IP
//! link and inside an opened tunnel), cut at 512 bytes with its true length
//! and a flag; DNS queries carry their type. Answers between two remote
//! hosts, answers a protected host sends, echo replies, mDNS and LLMNR
//! raise none, and the token bucket limits the new kinds too.

use sensor_common::{EncapKind, EventKind, TrafficClass as C};
use vantage::{datapath::DNS_MESSAGE_MAX, sample::Event};
use vantage_tests::{
    expect::{classed, count_ip, harness, seen},
    harness::{assert_site, drain_events, site_delta, Harness, XDP_PASS},
    packet::{
        dns_message, dns_message_with, dns_name, dns_tcp_payload, Frame, CLIENT_MAC, GATEWAY_MAC,
        TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN,
    },
};

type Result = anyhow::Result<()>;

fn events(h: &mut Harness) -> anyhow::Result<vantage::datapath::EventReader> {
    h.datapath
        .take_events()
        .ok_or_else(|| anyhow::anyhow!("no ring buffer"))
}

/// A frame from the gateway's side (the way answers arrive).
fn inbound() -> Frame {
    Frame::new(GATEWAY_MAC, CLIENT_MAC)
}

/// The one event `frame` raised, or a failure naming what came instead.
fn only_event(
    h: &mut Harness,
    ring: &mut vantage::datapath::EventReader,
    frame: &[u8],
) -> anyhow::Result<Event> {
    assert_eq!(h.run(frame)?, XDP_PASS);
    let mut events = drain_events(ring);
    if events.len() != 1 {
        anyhow::bail!("one event expected: {events:?}");
    }
    Ok(events.remove(0))
}

/// (kind, src, src port, dst, dst port, protocol) of an event.
type Summary = (EventKind, String, u16, String, u16, u8);

fn summary(e: &Event) -> Summary {
    (
        e.kind,
        e.src.to_string(),
        e.src_port,
        e.dst.to_string(),
        e.dst_port,
        e.protocol,
    )
}

/// What [`summary`] gives for an event of `kind` with these addresses.
fn wire(src: &str, sport: u16, dst: &str, dport: u16, protocol: u8, kind: EventKind) -> Summary {
    (kind, src.into(), sport, dst.into(), dport, protocol)
}

#[test]
fn a_syn_ack_to_a_protected_host_is_one_answered_event() -> Result {
    let mut h = harness();
    let mut ring = events(&mut h)?;
    let frame = inbound()
        .ipv4("203.0.113.7", "10.0.0.5")
        .tcp(443, 40000, TCP_SYN | TCP_ACK)
        .build();
    let (verdict, delta) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = classed(seen(frame.len()), C::RemoteToLocal, frame.len());
    count_ip(&mut want, false);
    want.tcp = 1;
    want.tcp_synack = 1;
    want.hosts_created = 1;
    want.events_sent = 1;
    assert_site(&delta, &want, "SYN-ACK to a protected host");
    let events = drain_events(&mut ring);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        summary(&events[0]),
        wire(
            "203.0.113.7",
            443,
            "10.0.0.5",
            40000,
            6,
            EventKind::TcpAnswered
        ),
        "as on the wire: the peer is the source"
    );
    assert!(!events[0].dropped && events[0].timestamp_ns > 0);
    assert_eq!(
        (events[0].qname.as_deref(), events[0].answer.as_deref()),
        (None, None)
    );

    let v6 = inbound()
        .ipv6("2001:db8::7", "fd00::5")
        .tcp(22, 50000, TCP_SYN | TCP_ACK)
        .build();
    let event = only_event(&mut h, &mut ring, &v6)?;
    assert_eq!(
        summary(&event),
        wire(
            "2001:db8::7",
            22,
            "fd00::5",
            50000,
            6,
            EventKind::TcpAnswered
        )
    );
    Ok(())
}

#[test]
fn a_rst_to_a_protected_host_is_refused() -> Result {
    let mut h = harness();
    let mut ring = events(&mut h)?;
    for flags in [TCP_RST | TCP_ACK, TCP_RST] {
        let frame = inbound()
            .ipv4("203.0.113.7", "10.0.0.5")
            .tcp(23, 40001, flags)
            .build();
        let (_, delta) = h.run_delta(&frame)?;
        assert_eq!(
            (delta.tcp_rst, delta.events_sent),
            (1, 1),
            "flags {flags:#x}"
        );
        let events = drain_events(&mut ring);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            summary(&events[0]),
            wire(
                "203.0.113.7",
                23,
                "10.0.0.5",
                40001,
                6,
                EventKind::TcpRefused
            )
        );
    }
    // RST with SYN is no refusal (nor an answer: SYN without ACK).
    let odd = inbound()
        .ipv4("203.0.113.7", "10.0.0.5")
        .tcp(23, 40002, TCP_RST | TCP_SYN)
        .build();
    assert_eq!(h.run(&odd)?, XDP_PASS);
    let events = drain_events(&mut ring);
    assert!(events.is_empty(), "{events:?}");
    // A plain ACK (the rest of a connection) raises nothing either.
    let ack = inbound()
        .ipv4("203.0.113.7", "10.0.0.5")
        .tcp(443, 40000, TCP_ACK | TCP_PSH)
        .payload(b"data")
        .build();
    assert_eq!(h.run(&ack)?, XDP_PASS);
    assert!(drain_events(&mut ring).is_empty());
    Ok(())
}

/// Between two remote hosts, or from a protected host to a remote one,
/// nothing answers a protected host's attempt.
#[test]
fn answers_not_addressed_to_a_protected_host_raise_nothing() -> Result {
    let mut h = harness();
    let mut ring = events(&mut h)?;
    let quoted = Frame::client()
        .ipv4("198.51.100.4", "203.0.113.9")
        .udp(40000, 161)
        .raw_ip()
        .build();
    let frames = [
        (
            "SYN-ACK between remote hosts",
            inbound()
                .ipv4("198.51.100.4", "203.0.113.7")
                .tcp(443, 40000, TCP_SYN | TCP_ACK)
                .build(),
        ),
        (
            "RST between remote hosts",
            inbound()
                .ipv4("198.51.100.4", "203.0.113.7")
                .tcp(443, 40000, TCP_RST | TCP_ACK)
                .build(),
        ),
        (
            "DNS answer between remote hosts",
            inbound()
                .ipv4("198.51.100.53", "203.0.113.7")
                .udp(53, 40000)
                .dns_answer(1, "example.com")
                .build(),
        ),
        (
            "unreachable between remote hosts",
            inbound()
                .ipv4("198.51.100.1", "198.51.100.4")
                .icmp_unreachable(3, &quoted)
                .build(),
        ),
        (
            "SYN-ACK from a protected server to a remote client",
            Frame::client()
                .ipv4("10.0.0.5", "203.0.113.7")
                .tcp(443, 40000, TCP_SYN | TCP_ACK)
                .build(),
        ),
        (
            "RST from a protected host",
            Frame::client()
                .ipv4("10.0.0.5", "203.0.113.7")
                .tcp(40000, 443, TCP_RST)
                .build(),
        ),
    ];
    for (what, frame) in &frames {
        let (verdict, delta) = h.run_delta(frame)?;
        assert_eq!(verdict, XDP_PASS, "{what}");
        assert_eq!(
            (
                delta.events_sent,
                delta.events_rate_limited,
                delta.events_ring_full
            ),
            (0, 0, 0),
            "{what}"
        );
    }
    let events = drain_events(&mut ring);
    assert!(events.is_empty(), "{events:?}");
    Ok(())
}

#[test]
fn echo_requests_from_protected_hosts_are_events() -> Result {
    let mut h = harness();
    let mut ring = events(&mut h)?;
    let v4 = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.7")
        .icmp_echo(7, 1)
        .payload(b"ping")
        .build();
    let (_, delta) = h.run_delta(&v4)?;
    assert_eq!((delta.icmp, delta.events_sent), (1, 1));
    let event = {
        let mut events = drain_events(&mut ring);
        assert_eq!(events.len(), 1, "{events:?}");
        events.remove(0)
    };
    assert_eq!(
        summary(&event),
        wire("10.0.0.5", 0, "203.0.113.7", 0, 1, EventKind::IcmpEcho)
    );

    let v6 = Frame::client()
        .ipv6("fd00::5", "2001:db8::7")
        .icmp_echo(7, 1)
        .build();
    let event = only_event(&mut h, &mut ring, &v6)?;
    assert_eq!(
        summary(&event),
        wire("fd00::5", 0, "2001:db8::7", 0, 58, EventKind::IcmpEcho)
    );

    // A sweep: one event per address tried.
    for last in 1..=5u8 {
        let frame = Frame::client()
            .ipv4("10.0.0.5", &format!("10.0.1.{last}"))
            .icmp_echo(8, u16::from(last))
            .build();
        assert_eq!(h.run(&frame)?, XDP_PASS);
    }
    let events = drain_events(&mut ring);
    assert_eq!(
        events
            .iter()
            .map(|e| (e.kind, e.dst.to_string()))
            .collect::<Vec<_>>(),
        (1..=5)
            .map(|i| (EventKind::IcmpEcho, format!("10.0.1.{i}")))
            .collect::<Vec<_>>()
    );

    // Echo requests from outside, and replies (type 0, ICMPv6 129), are none.
    let from_outside = inbound()
        .ipv4("203.0.113.7", "10.0.0.5")
        .icmp_echo(9, 1)
        .build();
    let mut reply = inbound()
        .ipv4("203.0.113.7", "10.0.0.5")
        .icmp_echo(7, 1)
        .build();
    reply[34] = 0;
    let mut reply6 = inbound()
        .ipv6("2001:db8::7", "fd00::5")
        .icmp_echo(7, 1)
        .build();
    reply6[54] = 129;
    for frame in [&from_outside, &reply, &reply6] {
        assert_eq!(h.run(frame)?, XDP_PASS);
    }
    let events = drain_events(&mut ring);
    assert!(events.is_empty(), "{events:?}");
    Ok(())
}

#[test]
fn an_unreachable_names_the_peer_and_port_its_quote_tried() -> Result {
    let mut h = harness();
    let mut ring = events(&mut h)?;
    // A router says UDP 10.0.0.5:40000 -> 203.0.113.9:161 is unreachable
    // (code 3, port unreachable), quoting the IP header and 8 bytes.
    let quoted = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.9")
        .udp(40000, 161)
        .payload(&[0; 20])
        .raw_ip()
        .build();
    let frame = inbound()
        .ipv4("198.51.100.1", "10.0.0.5")
        .icmp_unreachable(3, &quoted[..28])
        .build();
    let (_, delta) = h.run_delta(&frame)?;
    assert_eq!((delta.icmp, delta.events_sent), (1, 1));
    let event = {
        let mut events = drain_events(&mut ring);
        assert_eq!(events.len(), 1, "{events:?}");
        events.remove(0)
    };
    assert_eq!(
        summary(&event),
        wire(
            "203.0.113.9",
            161,
            "10.0.0.5",
            40000,
            17,
            EventKind::IcmpUnreachable
        ),
        "the quoted packet, turned round"
    );

    // ICMPv6 (type 1, code 1: administratively prohibited) about a SYN.
    let quoted6 = Frame::client()
        .ipv6("fd00::5", "2001:db8::9")
        .tcp(40001, 3389, TCP_SYN)
        .raw_ip()
        .build();
    let frame6 = inbound()
        .ipv6("2001:db8::1", "fd00::5")
        .icmp_unreachable(1, &quoted6)
        .build();
    let event = only_event(&mut h, &mut ring, &frame6)?;
    assert_eq!(
        summary(&event),
        wire(
            "2001:db8::9",
            3389,
            "fd00::5",
            40001,
            6,
            EventKind::IcmpUnreachable
        )
    );

    // The quote cut after the IP header: the peer without ports.
    let cut = inbound()
        .ipv4("198.51.100.1", "10.0.0.5")
        .icmp_unreachable(1, &quoted[..20])
        .build();
    let event = only_event(&mut h, &mut ring, &cut)?;
    assert_eq!(
        summary(&event),
        wire(
            "203.0.113.9",
            0,
            "10.0.0.5",
            0,
            17,
            EventKind::IcmpUnreachable
        )
    );
    // Cut inside the IP header: no peer to name, no event.
    let no_peer = inbound()
        .ipv4("198.51.100.1", "10.0.0.5")
        .icmp_unreachable(1, &quoted[..12])
        .build();
    let (_, delta) = h.run_delta(&no_peer)?;
    assert_eq!(
        (delta.icmp, delta.events_sent, delta.events_rate_limited),
        (1, 0, 0)
    );
    assert!(drain_events(&mut ring).is_empty());
    Ok(())
}

/// The DNS message of an event, checked against what was sent.
fn assert_answer(event: &Event, message: &[u8], name: &str, what: &str) {
    assert_eq!(event.kind, EventKind::DnsAnswer, "{what}");
    assert_eq!(event.answer.as_deref(), Some(message), "{what}: the bytes");
    assert_eq!(usize::from(event.message_len), message.len(), "{what}");
    assert!(!event.answer_truncated, "{what}");
    assert_eq!(event.qname.as_deref(), Some(name), "{what}");
    assert_eq!((event.qtype, event.qname_truncated), (1, false), "{what}");
}

#[test]
fn a_dns_answer_carries_the_message() -> Result {
    let mut h = harness();
    let mut ring = events(&mut h)?;
    let name = "www.example.com";
    let message = dns_message(0x4242, true, name);
    let udp = inbound()
        .ipv4("203.0.113.53", "10.0.0.5")
        .udp(53, 40000)
        .payload(&message)
        .build();
    let (verdict, delta) = h.run_delta(&udp)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = classed(seen(udp.len()), C::RemoteToLocal, udp.len());
    count_ip(&mut want, false);
    want.udp = 1;
    want.dns_answers = 1;
    want.hosts_created = 1;
    want.events_sent = 1;
    assert_site(&delta, &want, "DNS answer over UDP");
    let events = drain_events(&mut ring);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        summary(&events[0]),
        wire(
            "203.0.113.53",
            53,
            "10.0.0.5",
            40000,
            17,
            EventKind::DnsAnswer
        )
    );
    assert_answer(&events[0], &message, name, "UDP");

    // Padded to Ethernet's minimum: the padding is not part of the message.
    let short = dns_message_with(1, true, "a.io", 1, &[]);
    let padded = inbound()
        .ipv4("203.0.113.53", "10.0.0.5")
        .udp(53, 40001)
        .payload(&short)
        .pad_to(64)
        .build();
    let event = only_event(&mut h, &mut ring, &padded)?;
    assert_answer(&event, &short, "a.io", "padded");

    let tcp = inbound()
        .ipv6("2001:db8::53", "fd00::5")
        .tcp(53, 40002, TCP_PSH | TCP_ACK)
        .payload(&dns_tcp_payload(&message))
        .build();
    let event = only_event(&mut h, &mut ring, &tcp)?;
    assert_eq!(event.protocol, 6);
    assert_answer(&event, &message, name, "TCP, after the length prefix");

    let raw = inbound()
        .ipv4("203.0.113.53", "10.0.0.5")
        .udp(53, 40003)
        .payload(&message)
        .raw_ip()
        .build();
    assert_eq!(h.run_raw_ip(&raw)?, XDP_PASS);
    let events = drain_events(&mut ring);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_answer(&events[0], &message, name, "raw-IP link");

    h.set_parsing(&[EncapKind::Vxlan], false)?;
    let inner = inbound()
        .ipv4("203.0.113.53", "10.0.0.5")
        .udp(53, 40004)
        .payload(&message);
    let tunnelled = Frame::client()
        .ipv4("192.0.2.1", "192.0.2.2")
        .vxlan(42, &inner)
        .build();
    let event = only_event(&mut h, &mut ring, &tunnelled)?;
    assert_eq!(event.dst_port, 40004);
    assert_answer(&event, &message, name, "inside VXLAN");
    Ok(())
}

#[test]
fn a_long_dns_answer_arrives_cut_with_its_true_length() -> Result {
    let mut h = harness();
    let mut ring = events(&mut h)?;
    let addrs: Vec<[u8; 4]> = (0..40u8).map(|i| [192, 0, 2, i]).collect();
    let message = dns_message_with(9, true, "many.example.com", 1, &addrs);
    assert!(message.len() > DNS_MESSAGE_MAX);
    let check = |event: &Event, held: usize, what: &str| {
        assert_eq!(event.kind, EventKind::DnsAnswer, "{what}");
        let copied = held.min(DNS_MESSAGE_MAX);
        assert_eq!(event.answer.as_deref(), Some(&message[..copied]), "{what}");
        assert_eq!(usize::from(event.message_len), message.len(), "{what}");
        assert!(event.answer_truncated, "{what}");
        assert_eq!(event.qname.as_deref(), Some("many.example.com"), "{what}");
    };
    let udp = inbound()
        .ipv4("203.0.113.53", "10.0.0.5")
        .udp(53, 40000)
        .payload(&message)
        .build();
    let event = only_event(&mut h, &mut ring, &udp)?;
    check(&event, message.len(), "UDP, cut at the cap");

    let tcp = inbound()
        .ipv4("203.0.113.53", "10.0.0.5")
        .tcp(53, 40001, TCP_PSH | TCP_ACK)
        .payload(&dns_tcp_payload(&message))
        .build();
    let event = only_event(&mut h, &mut ring, &tcp)?;
    check(&event, message.len(), "TCP, cut at the cap");

    // The first segment of a message over TCP holds 300 of its bytes: the
    // prefix still gives its true length.
    let first = inbound()
        .ipv4("203.0.113.53", "10.0.0.5")
        .tcp(53, 40002, TCP_ACK)
        .payload(&dns_tcp_payload(&message)[..302])
        .build();
    let event = only_event(&mut h, &mut ring, &first)?;
    check(&event, 300, "TCP, the segment holds part of it");

    // Two messages in one segment: only the first is carried.
    let second = dns_message(10, true, "next.example.com");
    let mut both = dns_tcp_payload(&dns_message(11, true, "first.example.com"));
    both.extend_from_slice(&dns_tcp_payload(&second));
    let two = inbound()
        .ipv4("203.0.113.53", "10.0.0.5")
        .tcp(53, 40003, TCP_PSH | TCP_ACK)
        .payload(&both)
        .build();
    let event = only_event(&mut h, &mut ring, &two)?;
    assert_answer(
        &event,
        &dns_message(11, true, "first.example.com"),
        "first.example.com",
        "the first of two messages",
    );
    Ok(())
}

#[test]
fn mdns_and_llmnr_raise_no_dns_events() -> Result {
    let mut h = harness();
    let mut ring = events(&mut h)?;
    let mdns_mac = [0x01, 0x00, 0x5e, 0, 0, 0xfb];
    let frames = [
        (
            "mDNS response to the group",
            Frame::new(CLIENT_MAC, mdns_mac)
                .ipv4("10.0.0.7", "224.0.0.251")
                .udp(5353, 5353)
                .dns_answer(0, "printer.local")
                .build(),
        ),
        (
            "unicast mDNS response to a protected host",
            Frame::new(CLIENT_MAC, CLIENT_MAC)
                .ipv4("10.0.0.7", "10.0.0.5")
                .udp(5353, 5353)
                .dns_answer(0, "printer.local")
                .build(),
        ),
        (
            "mDNS response over IPv6",
            Frame::new(CLIENT_MAC, [0x33, 0x33, 0, 0, 0, 0xfb])
                .ipv6("fd00::7", "ff02::fb")
                .udp(5353, 5353)
                .dns_answer(0, "printer.local")
                .build(),
        ),
        (
            "LLMNR query",
            Frame::new(CLIENT_MAC, [0x01, 0x00, 0x5e, 0, 0, 0xfc])
                .ipv4("10.0.0.5", "224.0.0.252")
                .udp(50000, 5355)
                .dns_query(3, "fileserver")
                .build(),
        ),
        (
            "LLMNR response",
            Frame::new(CLIENT_MAC, CLIENT_MAC)
                .ipv4("10.0.0.7", "10.0.0.5")
                .udp(5355, 50000)
                .dns_answer(3, "fileserver")
                .build(),
        ),
    ];
    for (what, frame) in &frames {
        let (verdict, delta) = h.run_delta(frame)?;
        assert_eq!(verdict, XDP_PASS, "{what}");
        assert_eq!((delta.dns_queries, delta.dns_answers), (0, 0), "{what}");
    }
    let events = drain_events(&mut ring);
    assert!(
        events
            .iter()
            .all(|e| e.kind == EventKind::UdpNewPeer && e.qname.is_none()),
        "new peers at most, never a DNS event: {events:?}"
    );
    Ok(())
}

#[test]
fn dns_queries_carry_their_type() -> Result {
    let mut h = harness();
    let mut ring = events(&mut h)?;
    let null = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.53")
        .udp(40000, 53)
        .dns_query_typed(1, "t1.tunnel.example", 10)
        .build();
    let event = only_event(&mut h, &mut ring, &null)?;
    assert_eq!(
        (
            event.kind,
            event.qname.as_deref(),
            event.qtype,
            event.qname_truncated
        ),
        (EventKind::DnsQuery, Some("t1.tunnel.example"), 10, false)
    );
    assert_eq!(
        usize::from(event.message_len),
        12 + dns_name("t1.tunnel.example").len() + 4
    );
    assert_eq!(event.answer, None, "a query is no answer");

    let txt = Frame::client()
        .ipv6("fd00::5", "2001:db8::53")
        .tcp(40001, 53, TCP_PSH | TCP_ACK)
        .payload(&dns_tcp_payload(&dns_message_with(
            2,
            false,
            "x.example",
            16,
            &[],
        )))
        .build();
    let event = only_event(&mut h, &mut ring, &txt)?;
    assert_eq!(
        (event.qname.as_deref(), event.qtype),
        (Some("x.example"), 16)
    );

    // The name's end lies past the packet (the UDP length claims it all;
    // the IP length and the frame hold 5 bytes of the name): cut, no type.
    let (frame, layout) = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.53")
        .udp(40002, 53)
        .dns_query_typed(3, "abcdefgh.example", 28)
        .build_with_layout();
    let end = layout.payload + 12 + 5;
    let mut cut = frame[..end].to_vec();
    cut[16..18].copy_from_slice(&((end - 14) as u16).to_be_bytes());
    let event = only_event(&mut h, &mut ring, &cut)?;
    assert_eq!(
        (event.qname.as_deref(), event.qtype, event.qname_truncated),
        (Some("abcd"), 0, true)
    );

    // Two bytes of a binary label are zero: the name still ends where its
    // labels say, and the type after it is found.
    let mut message = dns_message_with(4, false, "ab.example", 10, &[]);
    message[13] = 0;
    let binary = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.53")
        .udp(40003, 53)
        .payload(&message)
        .build();
    let event = only_event(&mut h, &mut ring, &binary)?;
    assert_eq!(
        (event.qname.as_deref(), event.qtype, event.qname_truncated),
        (Some("\\000b.example"), 10, false)
    );
    Ok(())
}

#[test]
fn the_token_bucket_limits_answers_and_echoes_too() -> Result {
    let mut h = harness();
    h.datapath.maps_mut().set_events(true, 1, 5)?;
    let mut ring = events(&mut h)?;
    let before = h.site()?;
    for i in 0..10u16 {
        let frames = [
            inbound()
                .ipv4("203.0.113.7", "10.0.0.5")
                .tcp(443, 40000 + i, TCP_SYN | TCP_ACK)
                .build(),
            inbound()
                .ipv4("203.0.113.53", "10.0.0.5")
                .udp(53, 40000 + i)
                .dns_answer(i, "example.com")
                .build(),
            Frame::client()
                .ipv4("10.0.0.5", "203.0.113.7")
                .icmp_echo(1, i)
                .build(),
        ];
        for frame in &frames {
            assert_eq!(h.run(frame)?, XDP_PASS);
        }
    }
    let delta = site_delta(&before, &h.site()?);
    assert_eq!(delta.events_sent + delta.events_rate_limited, 30);
    // A burst of 5, plus at most one refill in the (sub-second) run.
    assert!((5..=6).contains(&delta.events_sent), "{delta:?}");
    let events = drain_events(&mut ring);
    assert_eq!(events.len() as u64, delta.events_sent);
    Ok(())
}
