//! Blocks, the allowlist and events, in the real kernel through
//! `BPF_PROG_TEST_RUN`: what is dropped, what passes, when blocks lapse, and
//! what the agent is told.

use std::time::Duration;

use sensor_common::{DropReason, EventKind};
use vantage::{
    net::{BlockOrigin, BlockTarget, Cidr},
    time::{Clock as _, SystemClock},
};
use vantage_tests::{
    expect::harness,
    harness::{drain_events, Harness, XDP_DROP, XDP_PASS},
    packet::{Frame, CLIENT_MAC, GATEWAY_MAC, TCP_ACK, TCP_SYN},
};

type Result = anyhow::Result<()>;

fn syn(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<u8> {
    Frame::client()
        .ipv4(src, dst)
        .tcp(sport, dport, TCP_SYN)
        .build()
}

fn reply(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<u8> {
    Frame::new(GATEWAY_MAC, CLIENT_MAC)
        .ipv4(src, dst)
        .tcp(sport, dport, TCP_SYN | TCP_ACK)
        .build()
}

fn block(h: &mut Harness, target: &str, ttl: Duration) -> anyhow::Result<()> {
    let target: BlockTarget = target.parse()?;
    h.datapath.maps_mut().block_add(
        &target,
        ttl,
        BlockOrigin::Operator,
        SystemClock.monotonic_ns(),
    )?;
    Ok(())
}

fn hits(h: &Harness, target: &str) -> anyhow::Result<u64> {
    let target: BlockTarget = target.parse()?;
    let record = h
        .datapath
        .maps()
        .blocks()?
        .into_iter()
        .find(|r| r.target == target);
    Ok(record.map_or(0, |r| r.entry.hits))
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn blocked_host_is_dropped_both_ways() -> Result {
    let mut h = harness();
    block(&mut h, "203.0.113.7", HOUR)?;
    let (verdict, delta) = h.run_delta(&syn("10.0.0.5", "203.0.113.7", 40000, 443))?;
    assert_eq!(verdict, XDP_DROP, "to the blocked host");
    assert_eq!(delta.dropped[DropReason::BlockedHost as usize], 1);
    let (verdict, _) = h.run_delta(&reply("203.0.113.7", "10.0.0.5", 443, 40000))?;
    assert_eq!(verdict, XDP_DROP, "from the blocked host");
    assert_eq!(
        h.run(&syn("10.0.0.5", "203.0.113.8", 40000, 443))?,
        XDP_PASS,
        "a neighbour is not blocked"
    );
    assert_eq!(hits(&h, "203.0.113.7")?, 2);
    let host = h.known_host("10.0.0.5")?;
    assert_eq!(
        (host.traffic.packets_out, host.traffic.packets_in),
        (2, 1),
        "dropped packets are still counted"
    );
    Ok(())
}

#[test]
fn blocked_flow_matches_exactly_and_in_reverse() -> Result {
    let mut h = harness();
    block(&mut h, "tcp/10.0.0.5:40000/203.0.113.7:443", HOUR)?;
    block(&mut h, "tcp/10.0.0.6:*/203.0.113.7:22", HOUR)?;
    let cases = [
        (
            syn("10.0.0.5", "203.0.113.7", 40000, 443),
            XDP_DROP,
            "the flow",
        ),
        (
            reply("203.0.113.7", "10.0.0.5", 443, 40000),
            XDP_DROP,
            "its replies",
        ),
        (
            syn("10.0.0.5", "203.0.113.7", 40001, 443),
            XDP_PASS,
            "another source port",
        ),
        (
            syn("10.0.0.5", "203.0.113.7", 40000, 444),
            XDP_PASS,
            "another destination port",
        ),
        (
            Frame::client()
                .ipv4("10.0.0.5", "203.0.113.7")
                .udp(40000, 443)
                .build(),
            XDP_PASS,
            "another protocol",
        ),
        (
            syn("10.0.0.6", "203.0.113.7", 51000, 22),
            XDP_DROP,
            "any source port",
        ),
        (
            reply("203.0.113.7", "10.0.0.6", 22, 52000),
            XDP_DROP,
            "any source port, replies",
        ),
        (
            syn("10.0.0.6", "203.0.113.7", 51000, 23),
            XDP_PASS,
            "wildcard keeps its destination port",
        ),
    ];
    let mut drops = 0;
    for (frame, want, what) in cases {
        let (verdict, delta) = h.run_delta(&frame)?;
        assert_eq!(verdict, want, "{what}");
        drops += delta.dropped[DropReason::BlockedFlow as usize];
    }
    assert_eq!(drops, 4);
    assert_eq!(hits(&h, "tcp/10.0.0.5:40000/203.0.113.7:443")?, 2);
    assert_eq!(hits(&h, "tcp/10.0.0.6:*/203.0.113.7:22")?, 2);
    Ok(())
}

#[test]
fn blocked_prefix_covers_its_addresses_only() -> Result {
    let mut h = harness();
    block(&mut h, "203.0.113.0/24", HOUR)?;
    block(&mut h, "2001:db8:bad::/48", HOUR)?;
    assert_eq!(h.run(&syn("10.0.0.5", "203.0.113.200", 1, 2))?, XDP_DROP);
    assert_eq!(h.run(&syn("10.0.0.5", "203.0.114.1", 1, 2))?, XDP_PASS);
    let v6_in = Frame::client()
        .ipv6("fd00::5", "2001:db8:bad:1::9")
        .tcp(1, 2, TCP_SYN)
        .build();
    let v6_out = Frame::client()
        .ipv6("fd00::5", "2001:db8:bae::9")
        .tcp(1, 2, TCP_SYN)
        .build();
    let (verdict, delta) = h.run_delta(&v6_in)?;
    assert_eq!(
        (verdict, delta.dropped[DropReason::BlockedPrefix as usize]),
        (XDP_DROP, 1)
    );
    assert_eq!(h.run(&v6_out)?, XDP_PASS);
    Ok(())
}

#[test]
fn blocks_lapse_at_their_expiry_without_anyone_removing_them() -> Result {
    let mut h = harness();
    block(&mut h, "203.0.113.7", Duration::from_millis(600))?;
    block(&mut h, "203.0.113.0/24", Duration::from_millis(600))?;
    block(
        &mut h,
        "tcp/10.0.0.5:*/198.51.100.9:443",
        Duration::from_millis(600),
    )?;
    let frames = [
        syn("10.0.0.5", "203.0.113.7", 40000, 443),
        syn("10.0.0.5", "203.0.113.9", 40000, 443),
        syn("10.0.0.5", "198.51.100.9", 40000, 443),
    ];
    for frame in &frames {
        assert_eq!(h.run(frame)?, XDP_DROP, "while the blocks last");
    }
    std::thread::sleep(Duration::from_millis(700));
    for frame in &frames {
        assert_eq!(
            h.run(frame)?,
            XDP_PASS,
            "after expiry, with the entries still in the maps"
        );
    }
    assert_eq!(h.datapath.maps().blocks()?.len(), 3, "nothing removed them");
    assert_eq!(
        h.datapath
            .maps_mut()
            .remove_expired_blocks(SystemClock.monotonic_ns())?,
        3
    );
    assert!(h.datapath.maps().blocks()?.is_empty());
    Ok(())
}

#[test]
fn allowlisted_address_is_never_dropped() -> Result {
    let mut h = harness();
    block(&mut h, "203.0.113.7", HOUR)?;
    block(&mut h, "203.0.113.0/24", HOUR)?;
    block(&mut h, "tcp/10.0.0.5:*/203.0.113.7:443", HOUR)?;
    let allowed: Cidr = "203.0.113.7".parse()?;
    h.datapath
        .maps_mut()
        .allow_add(&allowed, SystemClock.monotonic_ns())?;
    let (verdict, delta) = h.run_delta(&syn("10.0.0.5", "203.0.113.7", 40000, 443))?;
    assert_eq!(verdict, XDP_PASS);
    assert_eq!((delta.allowlisted, delta.dropped), (1, [0; 4]));
    assert_eq!(
        h.run(&reply("203.0.113.7", "10.0.0.5", 443, 40000))?,
        XDP_PASS
    );
    assert_eq!(
        h.run(&syn("10.0.0.5", "203.0.113.8", 40000, 443))?,
        XDP_DROP,
        "the rest of the prefix stays blocked"
    );
    let list = h.datapath.maps().allow_list()?;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].1.hits, 2);
    assert!(h.datapath.maps_mut().allow_del(&allowed)?);
    assert_eq!(
        h.run(&syn("10.0.0.5", "203.0.113.7", 40000, 443))?,
        XDP_DROP,
        "blocked again once removed"
    );
    Ok(())
}

#[test]
fn events_report_connections_and_dns_names() -> Result {
    let mut h = harness();
    let mut ring = h
        .datapath
        .take_events()
        .ok_or_else(|| anyhow::anyhow!("no ring buffer"))?;
    h.run(&syn("10.0.0.5", "203.0.113.7", 40000, 443))?;
    h.run(
        &Frame::client()
            .ipv4("10.0.0.5", "203.0.113.53")
            .udp(5353, 53)
            .dns_query(9, "updates.example.org")
            .build(),
    )?;
    h.run(
        &Frame::client()
            .ipv4("10.0.0.5", "198.51.100.4")
            .udp(6000, 123)
            .payload(&[0; 48])
            .build(),
    )?;
    h.run(
        &Frame::client()
            .ipv4("10.0.0.5", "198.51.100.4")
            .udp(6000, 123)
            .payload(&[0; 48])
            .build(),
    )?;
    h.run(&reply("203.0.113.7", "10.0.0.5", 443, 40000))?;
    let events = drain_events(&mut ring);
    assert_eq!(
        events.len(),
        4,
        "SYN, DNS query, first UDP to a new peer, the SYN-ACK; not the repeat: {events:?}"
    );
    assert_eq!(events[0].kind, EventKind::TcpSyn);
    assert_eq!(
        (events[0].src.to_string(), events[0].dst.to_string()),
        ("10.0.0.5".into(), "203.0.113.7".into())
    );
    assert_eq!(
        (events[0].src_port, events[0].dst_port, events[0].protocol),
        (40000, 443, 6)
    );
    assert_eq!(events[1].kind, EventKind::DnsQuery);
    assert_eq!(events[1].qname.as_deref(), Some("updates.example.org"));
    assert!(!events[1].qname_truncated);
    assert_eq!(events[2].kind, EventKind::UdpNewPeer);
    assert_eq!(
        (events[2].dst.to_string(), events[2].dst_port),
        ("198.51.100.4".into(), 123)
    );
    assert_eq!(events[1].qtype, 1, "type A");
    assert_eq!(events[3].kind, EventKind::TcpAnswered);
    assert_eq!(
        (
            events[3].src.to_string(),
            events[3].src_port,
            events[3].dst.to_string(),
            events[3].dst_port
        ),
        ("203.0.113.7".into(), 443, "10.0.0.5".into(), 40000),
        "the answer as on the wire"
    );
    assert!(events.iter().all(|e| !e.dropped && e.timestamp_ns > 0));
    Ok(())
}

#[test]
fn long_dns_names_are_cut_and_flagged() -> Result {
    let mut h = harness();
    let mut ring = h
        .datapath
        .take_events()
        .ok_or_else(|| anyhow::anyhow!("no ring buffer"))?;
    // 5 labels of 60 and "example.com": 318 bytes on the wire, more than
    // the 255 a name may have (RFC 1035 2.3.4); events carry 254.
    let long_name = format!(
        "{}.{}.{}.{}.{}.example.com",
        "a".repeat(60),
        "b".repeat(60),
        "c".repeat(60),
        "d".repeat(60),
        "e".repeat(60)
    );
    h.run(
        &Frame::client()
            .ipv4("10.0.0.5", "203.0.113.53")
            .udp(5353, 53)
            .dns_query(9, &long_name)
            .build(),
    )?;
    let event = drain_events(&mut ring)
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no event"))?;
    assert!(event.qname_truncated);
    let name = event.qname.unwrap_or_default();
    assert!(
        name.starts_with(&"a".repeat(60)) && long_name.starts_with(&name),
        "{name}"
    );
    // Four labels (4 x 61 bytes) and 10 of the fifth: 254 bytes.
    assert_eq!(name.len(), 4 * 61 + 9, "{name}");
    assert_eq!(event.qtype, 0, "the type lies past the name's cut");
    Ok(())
}

#[test]
fn events_are_rate_limited_and_counted() -> Result {
    let mut h = harness();
    h.datapath.maps_mut().set_events(true, 1, 5)?;
    let _ring = h.datapath.take_events();
    let before = h.site()?;
    for port in 0..40u16 {
        h.run(&syn("10.0.0.5", "203.0.113.7", 40000 + port, 443))?;
    }
    let delta = vantage_tests::harness::site_delta(&before, &h.site()?);
    assert_eq!(delta.events_sent + delta.events_rate_limited, 40);
    // A burst of 5, plus at most one refill in the (sub-second) run.
    assert!((5..=6).contains(&delta.events_sent), "{delta:?}");
    Ok(())
}

#[test]
fn events_carry_the_verdict() -> Result {
    let mut h = harness();
    let mut ring = h
        .datapath
        .take_events()
        .ok_or_else(|| anyhow::anyhow!("no ring buffer"))?;
    block(&mut h, "203.0.113.66", HOUR)?;
    assert_eq!(
        h.run(&syn("10.0.0.5", "203.0.113.66", 40000, 443))?,
        XDP_DROP
    );
    let event = drain_events(&mut ring)
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no event"))?;
    assert!(
        event.dropped,
        "a blocked attempt is still reported, marked dropped"
    );
    Ok(())
}

#[test]
fn policy_changes_apply_to_addresses_already_seen() -> Result {
    let mut h = harness();
    let frame = syn("10.0.0.5", "203.0.113.7", 40000, 443);
    // Seen (and cached) with no policy at all, then with an unrelated block.
    assert_eq!(h.run(&frame)?, XDP_PASS);
    block(&mut h, "198.51.100.1", HOUR)?;
    assert_eq!(h.run(&frame)?, XDP_PASS);
    for (change, want) in [
        ("block host", XDP_DROP),
        ("allow", XDP_PASS),
        ("unallow", XDP_DROP),
        ("unblock", XDP_PASS),
        ("block prefix", XDP_DROP),
        ("block local host", XDP_DROP),
    ] {
        let maps = h.datapath.maps_mut();
        let allowed: Cidr = "203.0.113.7".parse()?;
        match change {
            "block host" => block(&mut h, "203.0.113.7", HOUR)?,
            "allow" => maps.allow_add(&allowed, SystemClock.monotonic_ns())?,
            "unallow" => assert!(maps.allow_del(&allowed)?),
            "unblock" => assert!(maps.block_del(&"203.0.113.7".parse()?)?),
            "block prefix" => block(&mut h, "203.0.113.0/28", HOUR)?,
            _ => {
                assert!(h
                    .datapath
                    .maps_mut()
                    .block_del(&"203.0.113.0/28".parse()?)?);
                block(&mut h, "10.0.0.5", HOUR)?;
            }
        }
        assert_eq!(h.run(&frame)?, want, "after: {change}");
        assert_eq!(h.run(&frame)?, want, "again after: {change}");
    }
    Ok(())
}
