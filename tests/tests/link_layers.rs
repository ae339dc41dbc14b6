//! Link layers in the real kernel through `BPF_PROG_TEST_RUN`: PPPoE
//! sessions (IPv4, IPv6, LCP, every truncation), MPLS label stacks (one to
//! four labels over IPv4 and IPv6, five, every truncation), QinQ with the
//! 0x9100 and 0x88a8 service TPIDs and three tags, raw IP through the raw-IP
//! program, and the same block applied whatever the link layer; each frame
//! with its verdict and the exact delta of every site counter.

use sensor_common::{DropReason, MalformedReason as M, SiteCounters, TrafficClass as C};
use vantage::{
    net::{BlockOrigin, BlockTarget},
    time::{Clock as _, SystemClock},
};
use vantage_tests::{
    expect::{classed, harness, malformed, outbound_syn, seen},
    harness::{assert_site, site_diff, Harness, XDP_DROP, XDP_PASS},
    packet::{Frame, MplsLabel, CLIENT_MAC, TCP_SYN, TPID_8021AD, TPID_8021Q, TPID_QINQ_9100},
};

type Result = anyhow::Result<()>;

/// The IP packet counted for its hosts with only `reason` wrong: what a frame
/// cut after its IP fixed header gives.
fn cut_ip(len: usize, ipv6: bool, new_host: bool) -> SiteCounters {
    let reason = if ipv6 {
        M::Ipv6BadPayloadLength
    } else {
        M::Ipv4BadTotalLength
    };
    let mut s = classed(malformed(len, reason), C::LocalToRemote, len);
    if ipv6 {
        s.ipv6 = 1;
    } else {
        s.ipv4 = 1;
    }
    s.hosts_created = u64::from(new_host);
    s
}

fn syn_v4(sport: u16) -> Frame {
    Frame::client()
        .ipv4("10.0.0.5", "203.0.113.7")
        .tcp(sport, 443, TCP_SYN)
}

/// Runs every cut `frame[..len]` for `lens` and compares with `want(len)`;
/// fails once with every length that differed.
fn every_cut(
    h: &mut Harness,
    name: &str,
    frame: &[u8],
    lens: std::ops::Range<usize>,
    want: impl Fn(usize) -> SiteCounters,
) -> Result {
    let mut wrong = Vec::new();
    for len in lens {
        let (verdict, delta) = h.run_delta(&frame[..len])?;
        let want = want(len);
        if verdict != XDP_PASS || delta != want {
            wrong.push(format!(
                "{name} len {len}: verdict {verdict}\n  {}",
                site_diff(&want, &delta).replace('\n', "\n  ")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "(field: want -> got)\n{}",
        wrong.join("\n")
    );
    Ok(())
}

#[test]
fn pppoe_ipv4_and_ipv6_syn_from_a_protected_host() -> Result {
    let mut h = harness();
    let v4 = syn_v4(40000).pppoe(0x1234).build();
    let (verdict, delta) = h.run_delta(&v4)?;
    assert_eq!(verdict, XDP_PASS);
    assert_eq!(v4.len(), 14 + 8 + 40);
    let mut want = outbound_syn(v4.len(), false, true);
    want.pppoe = 1;
    assert_site(&delta, &want, "PPPoE IPv4 SYN");
    let host = h.known_host("10.0.0.5")?;
    assert_eq!(
        (host.traffic.packets_out, host.traffic.bytes_out, host.mac),
        (1, 62, CLIENT_MAC)
    );

    let v6 = Frame::client()
        .pppoe(0x1234)
        .ipv6("fd00::5", "2001:db8::1")
        .tcp(40000, 443, TCP_SYN)
        .build();
    let (verdict, delta) = h.run_delta(&v6)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = outbound_syn(v6.len(), true, true);
    want.pppoe = 1;
    assert_site(&delta, &want, "PPPoE IPv6 SYN");
    assert_eq!(h.known_host("fd00::5")?.traffic.tcp_syn_out, 1);
    Ok(())
}

#[test]
fn pppoe_lcp_is_not_ip() -> Result {
    let mut h = harness();
    // LCP Configure-Request, id 1, length 4: the builder says PPP 0xc021.
    let lcp = Frame::client().pppoe(7).payload(&[1, 1, 0, 4]).build();
    assert_eq!(&lcp[20..22], &[0xc0, 0x21]);
    let (verdict, delta) = h.run_delta(&lcp)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = seen(lcp.len());
    want.pppoe = 1;
    want.non_ip = 1;
    assert_site(&delta, &want, "PPPoE LCP");
    Ok(())
}

#[test]
fn every_truncation_of_a_pppoe_frame() -> Result {
    let mut h = harness();
    let v4 = syn_v4(40000).pppoe(1).build();
    every_cut(&mut h, "pppoe/ipv4", &v4, 14..v4.len(), |len| {
        let mut want = match len {
            14..=21 => return malformed(len, M::PppoeTruncated),
            22..=41 => malformed(len, M::Ipv4Truncated),
            _ => cut_ip(len, false, len == 42),
        };
        want.pppoe = 1;
        want
    })?;
    let v6 = Frame::client()
        .pppoe(1)
        .ipv6("fd00::5", "2001:db8::1")
        .udp(4000, 4001)
        .build();
    every_cut(&mut h, "pppoe/ipv6", &v6, 14..v6.len(), |len| {
        let mut want = match len {
            14..=21 => return malformed(len, M::PppoeTruncated),
            22..=61 => malformed(len, M::Ipv6Truncated),
            _ => cut_ip(len, true, len == 62),
        };
        want.pppoe = 1;
        want
    })
}

#[test]
fn mpls_one_to_four_labels_over_ipv4_and_ipv6() -> Result {
    let mut h = harness();
    for labels in 1..=4u32 {
        let stack: Vec<MplsLabel> = (0..labels).map(|i| MplsLabel::new(100 + i)).collect();
        let v4 = syn_v4(40000).mpls(&stack).build();
        let (verdict, delta) = h.run_delta(&v4)?;
        assert_eq!(verdict, XDP_PASS, "{labels} labels, IPv4");
        assert_eq!(v4.len(), 14 + 4 * labels as usize + 40);
        let mut want = outbound_syn(v4.len(), false, labels == 1);
        want.mpls = 1;
        assert_site(&delta, &want, &format!("{labels} labels, IPv4"));

        let v6 = Frame::client()
            .mpls(&stack)
            .ipv6("fd00::5", "2001:db8::1")
            .tcp(40000, 443, TCP_SYN)
            .build();
        let (verdict, delta) = h.run_delta(&v6)?;
        assert_eq!(verdict, XDP_PASS, "{labels} labels, IPv6");
        let mut want = outbound_syn(v6.len(), true, labels == 1);
        want.mpls = 1;
        assert_site(&delta, &want, &format!("{labels} labels, IPv6"));
    }
    let host = h.known_host("10.0.0.5")?;
    assert_eq!((host.traffic.packets_out, host.mac), (4, CLIENT_MAC));
    assert_eq!(h.known_host("fd00::5")?.traffic.packets_out, 4);
    Ok(())
}

#[test]
fn mpls_five_labels_are_too_deep() -> Result {
    let mut h = harness();
    let stack: Vec<MplsLabel> = (0..5).map(MplsLabel::new).collect();
    let frame = syn_v4(40000).mpls(&stack).build();
    let (verdict, delta) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = malformed(frame.len(), M::MplsTooDeep);
    want.mpls = 1;
    assert_site(&delta, &want, "five MPLS labels");
    assert!(h.host("10.0.0.5")?.is_none());
    Ok(())
}

/// DESCRIBED BEHAVIOUR (`MalformedReason::MplsTooDeep` in site.rs: "more MPLS
/// labels than the parser follows (4), or no IP after the stack"): a stack
/// followed by something that is not IP (a pseudowire control word, first
/// nibble 0) is `MplsTooDeep`.
#[test]
fn mpls_with_no_ip_after_the_stack() -> Result {
    let mut h = harness();
    let frame = Frame::client()
        .mpls(&[MplsLabel::new(16)])
        .payload(&[0u8; 32])
        .build();
    assert_eq!(&frame[12..14], &[0x88, 0x47]);
    let (verdict, delta) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = seen(frame.len());
    want.mpls = 1;
    want.non_ip = 1;
    assert_site(
        &delta,
        &want,
        "a payload that is not IP after the stack (a pseudowire) is non-IP",
    );
    Ok(())
}

/// Inside the label stack, or with nothing after it: `MplsTruncated`; after
/// it, the IP reasons. Where the IP header has begun (its version nibble is
/// in the frame, even alone) the frame is an IPv4 header cut short.
#[test]
fn every_truncation_of_an_mpls_frame() -> Result {
    let mut h = harness();
    let frame = syn_v4(40000)
        .mpls(&[MplsLabel::new(16), MplsLabel::new(17)])
        .build();
    let ip = 14 + 8;
    every_cut(&mut h, "mpls/ipv4", &frame, 14..frame.len(), |len| {
        let mut want = if len <= ip {
            malformed(len, M::MplsTruncated)
        } else if len < ip + 20 {
            malformed(len, M::Ipv4Truncated)
        } else {
            cut_ip(len, false, len == ip + 20)
        };
        want.mpls = 1;
        want
    })
}

#[test]
fn qinq_with_9100_and_88a8_outer_tags_names_the_inner_vlan() -> Result {
    let mut h = harness();
    // Single tags of each TPID, then the two service TPIDs over a 0x8100
    // customer tag. Source ports differ: frames alike from the IP header on
    // would be duplicates.
    let cases: [(&[(u16, u16)], u16); 5] = [
        (&[(TPID_8021Q, 11)], 11),
        (&[(TPID_8021AD, 12)], 12),
        (&[(TPID_QINQ_9100, 13)], 13),
        (&[(TPID_QINQ_9100, 10), (TPID_8021Q, 200)], 200),
        (&[(TPID_8021AD, 20), (TPID_8021Q, 300)], 300),
    ];
    for (i, (tags, vlan)) in cases.iter().enumerate() {
        let mut frame = Frame::client();
        for (tpid, id) in *tags {
            frame = frame.vlan_tpid(*tpid, *id);
        }
        let frame = frame
            .ipv4("10.0.0.5", "203.0.113.7")
            .tcp(40000 + i as u16, 443, TCP_SYN)
            .build();
        let (verdict, delta) = h.run_delta(&frame)?;
        assert_eq!(verdict, XDP_PASS, "tags {tags:04x?}");
        let mut want = outbound_syn(frame.len(), false, i == 0);
        want.vlan_tagged = 1;
        assert_site(&delta, &want, &format!("tags {tags:04x?}"));
        assert_eq!(h.known_host("10.0.0.5")?.vlan, *vlan, "tags {tags:04x?}");
    }
    Ok(())
}

#[test]
fn three_tags_are_too_deep() -> Result {
    let mut h = harness();
    for tpids in [
        [TPID_QINQ_9100, TPID_8021AD, TPID_8021Q],
        [TPID_8021AD, TPID_8021Q, TPID_8021Q],
    ] {
        let mut frame = Frame::client();
        for (i, tpid) in tpids.iter().enumerate() {
            frame = frame.vlan_tpid(*tpid, 10 + i as u16);
        }
        let frame = frame
            .ipv4("10.0.0.5", "203.0.113.7")
            .tcp(40000, 443, TCP_SYN)
            .build();
        let (verdict, delta) = h.run_delta(&frame)?;
        assert_eq!(verdict, XDP_PASS);
        let mut want = malformed(frame.len(), M::VlanTooDeep);
        want.vlan_tagged = 1;
        assert_site(&delta, &want, &format!("tags {tpids:04x?}"));
    }
    assert!(h.host("10.0.0.5")?.is_none());
    Ok(())
}

fn block(h: &mut Harness, target: &str) -> Result {
    let target: BlockTarget = target.parse()?;
    h.datapath.maps_mut().block_add(
        &target,
        std::time::Duration::from_secs(3600),
        BlockOrigin::Operator,
        SystemClock.monotonic_ns(),
    )?;
    Ok(())
}

#[test]
fn raw_ip_through_the_raw_ip_program() -> Result {
    let mut h = harness();
    let v4 = syn_v4(40000).raw_ip().build();
    assert_eq!(v4.len(), 40);
    let (verdict, delta) = h.run_raw_ip_delta(&v4)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = outbound_syn(40, false, true);
    want.raw_ip = 1;
    assert_site(&delta, &want, "raw IPv4 SYN");
    let host = h.known_host("10.0.0.5")?;
    assert_eq!(
        (host.traffic.bytes_out, host.mac, host.vlan),
        (40, [0; 6], 0),
        "no link header: no MAC"
    );

    let v6 = Frame::client()
        .raw_ip()
        .ipv6("fd00::5", "2001:db8::1")
        .tcp(40000, 443, TCP_SYN)
        .build();
    let (verdict, delta) = h.run_raw_ip_delta(&v6)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = outbound_syn(60, true, true);
    want.raw_ip = 1;
    assert_site(&delta, &want, "raw IPv6 SYN");

    // Neither version 4 nor 6 in the first nibble.
    let other = [0x50u8; 40];
    let (verdict, delta) = h.run_raw_ip_delta(&other)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = seen(40);
    want.raw_ip = 1;
    want.non_ip = 1;
    assert_site(&delta, &want, "raw IP, version 5");

    block(&mut h, "203.0.113.7")?;
    let blocked = syn_v4(40001).raw_ip().build();
    let (verdict, delta) = h.run_raw_ip_delta(&blocked)?;
    assert_eq!(verdict, XDP_DROP, "a block applies on a raw-IP link");
    let mut want = outbound_syn(40, false, false);
    want.raw_ip = 1;
    want.dropped[DropReason::BlockedHost as usize] = 1;
    assert_site(&delta, &want, "raw IP, blocked remote");
    assert_eq!(h.known_host("10.0.0.5")?.traffic.packets_out, 2);
    Ok(())
}

#[test]
fn a_blocked_remote_is_dropped_whatever_the_link_layer() -> Result {
    let mut h = harness();
    block(&mut h, "203.0.113.7")?;
    // Source ports differ so that no frame is a duplicate of another.
    /// Marks the link layer's own counter in an expected delta.
    type LinkCounter = fn(&mut SiteCounters);
    let cases: [(&str, Frame, LinkCounter); 5] = [
        ("plain", syn_v4(40000), |_| {}),
        ("pppoe", syn_v4(40001).pppoe(9), |s| s.pppoe = 1),
        ("mpls", syn_v4(40002).mpls(&[MplsLabel::new(20)]), |s| {
            s.mpls = 1
        }),
        (
            "qinq 0x9100",
            syn_v4(40003).vlan_tpid(TPID_QINQ_9100, 5).vlan(6),
            |s| s.vlan_tagged = 1,
        ),
        (
            "pppoe ipv6",
            Frame::client()
                .pppoe(9)
                .ipv6("fd00::5", "2001:db8::1")
                .tcp(40004, 443, TCP_SYN),
            |s| s.pppoe = 1,
        ),
    ];
    block(&mut h, "2001:db8::1")?;
    for (i, (name, frame, link)) in cases.iter().enumerate() {
        let frame = frame.build();
        let (verdict, delta) = h.run_delta(&frame)?;
        assert_eq!(verdict, XDP_DROP, "{name}");
        let ipv6 = *name == "pppoe ipv6";
        let mut want = outbound_syn(frame.len(), ipv6, i == 0 || ipv6);
        want.dropped[DropReason::BlockedHost as usize] = 1;
        link(&mut want);
        assert_site(&delta, &want, name);
    }
    // The same remote unblocked, inside PPPoE: passed.
    assert!(h.datapath.maps_mut().block_del(&"203.0.113.7".parse()?)?);
    let frame = syn_v4(40010).pppoe(9).build();
    let (verdict, delta) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = outbound_syn(frame.len(), false, false);
    want.pppoe = 1;
    assert_site(&delta, &want, "PPPoE, unblocked remote");
    assert_eq!(h.known_host("10.0.0.5")?.traffic.packets_out, 5);
    Ok(())
}
