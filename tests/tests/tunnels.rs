//! Tunnels in the real kernel through `BPF_PROG_TEST_RUN`: VXLAN, Geneve
//! (with and without options, Ethernet and IP inside), GRE (IPv4 and IPv6
//! inside, Ethernet with key and sequence), ERSPAN II and III (with and
//! without the platform subheader). Each is run unopened (the outer packet
//! counts, `encap_unopened`) and opened (`decapsulated[kind]`, the inner
//! packet counts with the inner frame's bytes, MAC and VLAN, and the outer
//! endpoints get no host entry even inside the protected networks), each with
//! the exact delta of every site counter. Also IP-in-IP and 6in4 (never
//! opened), and a block on an inner host, which drops only when the tunnel
//! is opened, and one on an outer endpoint, which drops only when it is
//! not. Broken tunnels are in `tunnel_faults.rs`.

use sensor_common::{DropReason, EncapKind, TrafficClass as C};
use vantage::{
    net::{BlockOrigin, BlockTarget},
    time::{Clock as _, SystemClock},
};
use vantage_tests::{
    expect::{classed, count_ip, seen},
    harness::{assert_site, XDP_DROP, XDP_PASS},
    mirror::{
        harness, inner, outer, INNER_MAC, INNER_V4, INNER_V6, OUTER_V4, OUTER_V6, SENSOR_MAC,
        SPAN_MAC,
    },
    packet::{geneve_option, ErspanII, ErspanIII, Frame, Gre, Layout, GATEWAY_MAC, TCP_SYN},
};

type Result = anyhow::Result<()>;

/// Every kind but `kind` opened: `kind` stays closed whatever the others say.
fn all_but(kind: EncapKind) -> Vec<EncapKind> {
    ALL_KINDS.into_iter().filter(|k| *k != kind).collect()
}

const ALL_KINDS: [EncapKind; 4] = [
    EncapKind::Vxlan,
    EncapKind::Geneve,
    EncapKind::Gre,
    EncapKind::Erspan,
];

struct Case {
    kind: EncapKind,
    frame: Frame,
    outer_v6: bool,
    /// VXLAN and Geneve ride in UDP; GRE and ERSPAN do not.
    outer_udp: bool,
    inner_v6: bool,
    inner_ethernet: bool,
    inner_vlan: u16,
}

impl Case {
    fn new(kind: EncapKind, outer_v6: bool, inner_v6: bool, inner_ethernet: bool) -> Case {
        Case {
            kind,
            frame: Frame::client(),
            outer_v6,
            outer_udp: matches!(kind, EncapKind::Vxlan | EncapKind::Geneve),
            inner_v6,
            inner_ethernet,
            inner_vlan: 0,
        }
    }

    fn inner(&self) -> Frame {
        inner(self.inner_v6, self.inner_ethernet, self.inner_vlan)
    }

    fn outer_hosts(&self) -> (&'static str, &'static str) {
        if self.outer_v6 {
            OUTER_V6
        } else {
            OUTER_V4
        }
    }

    fn inner_src(&self) -> &'static str {
        if self.inner_v6 {
            INNER_V6.0
        } else {
            INNER_V4.0
        }
    }
}

/// Runs `case` unopened (every other kind opened) and opened (only its own
/// kind), each on a fresh sensor, with exact deltas and host entries.
fn check(name: &str, case: Case) -> Result {
    let (frame, layout): (Vec<u8>, Layout) = case.frame.build_with_layout();
    let len = frame.len();
    let inner_start = layout
        .inner
        .map(|i| i.start)
        .ok_or_else(|| anyhow::anyhow!("{name}: no inner frame"))?;
    let inner_len = len - inner_start;
    let (outer_src, outer_dst) = case.outer_hosts();

    let mut h = harness(&all_but(case.kind));
    let (verdict, delta) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS, "{name} unopened");
    let mut want = classed(seen(len), C::LocalToLocal, len);
    count_ip(&mut want, case.outer_v6);
    if case.outer_udp {
        want.udp = 1;
        // The outer sender's first datagram to a new peer.
        want.events_sent = 1;
    }
    want.encap_unopened = 1;
    want.hosts_created = 2;
    assert_site(&delta, &want, &format!("{name} unopened"));
    let src = h.known_host(outer_src)?;
    assert_eq!(
        (src.traffic.packets_out, src.traffic.bytes_out, src.mac),
        (1, len as u64, SPAN_MAC),
        "{name} unopened: the outer sender"
    );
    assert_eq!(
        h.known_host(outer_dst)?.traffic.bytes_in,
        len as u64,
        "{name} unopened"
    );
    assert!(h.host(case.inner_src())?.is_none(), "{name} unopened");

    let mut h = harness(&[case.kind]);
    let (verdict, delta) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS, "{name} opened");
    let mut want = seen(len);
    count_ip(&mut want, case.outer_v6);
    want.udp = u64::from(case.outer_udp);
    want.decapsulated[case.kind as usize] = 1;
    want = classed(want, C::LocalToRemote, inner_len);
    count_ip(&mut want, case.inner_v6);
    want.tcp = 1;
    want.tcp_syn = 1;
    want.vlan_tagged = u64::from(case.inner_vlan != 0);
    want.hosts_created = 1;
    want.events_sent = 1;
    assert_site(&delta, &want, &format!("{name} opened"));
    let host = h.known_host(case.inner_src())?;
    let mac = if case.inner_ethernet {
        INNER_MAC
    } else {
        [0; 6]
    };
    assert_eq!(
        (
            host.traffic.packets_out,
            host.traffic.bytes_out,
            host.traffic.tcp_syn_out,
            host.mac,
            host.vlan
        ),
        (1, inner_len as u64, 1, mac, case.inner_vlan),
        "{name} opened: the inner sender, with the inner frame's bytes, MAC and VLAN"
    );
    for outer in [outer_src, outer_dst] {
        assert!(
            h.host(outer)?.is_none(),
            "{name} opened: the protected outer endpoint {outer} must not become a host"
        );
    }
    Ok(())
}

#[test]
fn vxlan_with_a_tagged_ethernet_frame_inside() -> Result {
    let mut case = Case::new(EncapKind::Vxlan, false, false, true);
    case.inner_vlan = 30;
    case.frame = outer(false).vxlan(0x12_3456, &case.inner());
    check("vxlan", case)
}

#[test]
fn geneve_without_options_ethernet_inside() -> Result {
    let mut case = Case::new(EncapKind::Geneve, true, true, true);
    case.frame = outer(true).geneve(77, &[], &case.inner());
    check("geneve, no options, ethernet", case)
}

#[test]
fn geneve_with_options_ethernet_inside() -> Result {
    let mut case = Case::new(EncapKind::Geneve, false, false, true);
    let mut options = geneve_option(0x0102, 0x80, &[1, 2, 3, 4, 5, 6, 7, 8]);
    options.extend_from_slice(&geneve_option(0xffff, 0x01, &[9, 9, 9, 9]));
    case.frame = outer(false).geneve(77, &options, &case.inner());
    check("geneve, options, ethernet", case)
}

#[test]
fn geneve_without_options_ipv4_inside() -> Result {
    let mut case = Case::new(EncapKind::Geneve, false, false, false);
    case.frame = outer(false).geneve(78, &[], &case.inner());
    check("geneve, no options, ipv4", case)
}

#[test]
fn geneve_with_options_ipv6_inside() -> Result {
    let mut case = Case::new(EncapKind::Geneve, true, true, false);
    let options = geneve_option(0x0102, 0x80, &[0xab; 12]);
    case.frame = outer(true).geneve(78, &options, &case.inner());
    check("geneve, options, ipv6", case)
}

#[test]
fn gre_with_ipv4_inside() -> Result {
    let mut case = Case::new(EncapKind::Gre, false, false, false);
    case.frame = outer(false).gre(&case.inner());
    check("gre, ipv4", case)
}

#[test]
fn gre_with_ipv6_inside() -> Result {
    let mut case = Case::new(EncapKind::Gre, true, true, false);
    case.frame = outer(true).gre(&case.inner());
    check("gre, ipv6", case)
}

#[test]
fn gre_bridging_ethernet_with_key_and_sequence() -> Result {
    let gre = Gre {
        key: Some(0xdead_beef),
        sequence: Some(42),
        ..Gre::default()
    };
    let mut case = Case::new(EncapKind::Gre, false, false, true);
    case.inner_vlan = 12;
    case.frame = outer(false).gre_with(gre, &case.inner());
    check("gre teb, key and sequence", case)?;
    let gre = Gre {
        checksum: true,
        ..gre
    };
    let mut case = Case::new(EncapKind::Gre, true, true, true);
    case.frame = outer(true).gre_with(gre, &case.inner());
    check("gre teb, checksum, key and sequence", case)
}

#[test]
fn erspan_type_ii() -> Result {
    let header = ErspanII {
        sequence: 1,
        vlan: 100,
        session: 3,
        index: 7,
        ..ErspanII::default()
    };
    let mut case = Case::new(EncapKind::Erspan, false, false, true);
    case.frame = outer(false).erspan2(header, &case.inner());
    check("erspan ii", case)
}

#[test]
fn erspan_type_iii_without_and_with_the_subheader() -> Result {
    let header = ErspanIII {
        sequence: 9,
        vlan: 100,
        session: 3,
        timestamp: 0x1234_5678,
        p: true,
        ..ErspanIII::default()
    };
    let mut case = Case::new(EncapKind::Erspan, false, false, true);
    case.frame = outer(false).erspan3(header, &case.inner());
    check("erspan iii, no subheader", case)?;
    let header = ErspanIII {
        platform: Some(0x0c00_0000_1234_5678),
        ..header
    };
    let mut case = Case::new(EncapKind::Erspan, true, true, true);
    case.inner_vlan = 40;
    case.frame = outer(true).erspan3(header, &case.inner());
    check("erspan iii, subheader", case)
}

#[test]
fn ip_in_ip_and_6in4_are_never_opened() -> Result {
    let mut h = harness(&ALL_KINDS);
    for (i, (protocol, inner_v6)) in [(4u8, false), (41, true)].into_iter().enumerate() {
        let inner = inner(inner_v6, false, 0).build();
        let frame = outer(false).ip_protocol(protocol).payload(&inner).build();
        let (verdict, delta) = h.run_delta(&frame)?;
        assert_eq!(verdict, XDP_PASS, "protocol {protocol}");
        let len = frame.len();
        let mut want = classed(seen(len), C::LocalToLocal, len);
        want.ipv4 = 1;
        want.encap_unopened = 1;
        want.hosts_created = if i == 0 { 2 } else { 0 };
        assert_site(&delta, &want, &format!("IP protocol {protocol}"));
    }
    assert_eq!(h.known_host(OUTER_V4.0)?.traffic.packets_out, 2);
    assert!(h.host(INNER_V4.0)?.is_none() && h.host(INNER_V6.0)?.is_none());
    Ok(())
}

#[test]
fn a_block_on_an_inner_host_drops_only_when_opened() -> Result {
    let frames = [
        (
            EncapKind::Vxlan,
            outer(false).vxlan(5, &inner(false, true, 0)),
        ),
        (EncapKind::Gre, outer(false).gre(&inner(false, false, 0))),
        (
            EncapKind::Erspan,
            outer(false).erspan2(ErspanII::default(), &inner(false, true, 0)),
        ),
    ];
    for (kind, frame) in frames {
        let frame = frame.build();
        for opened in [false, true] {
            let open = if opened { vec![kind] } else { Vec::new() };
            let mut h = harness(&open);
            let target: BlockTarget = INNER_V4.1.parse()?;
            h.datapath.maps_mut().block_add(
                &target,
                std::time::Duration::from_secs(3600),
                BlockOrigin::Operator,
                SystemClock.monotonic_ns(),
            )?;
            let (verdict, delta) = h.run_delta(&frame)?;
            let (want, drops) = if opened { (XDP_DROP, 1) } else { (XDP_PASS, 0) };
            assert_eq!(verdict, want, "{kind:?} opened: {opened}");
            assert_eq!(
                delta.dropped[DropReason::BlockedHost as usize],
                drops,
                "{kind:?} opened: {opened}"
            );
            assert_eq!(
                (delta.encap_unopened, delta.decapsulated[kind as usize]),
                (u64::from(!opened), u64::from(opened)),
                "{kind:?} opened: {opened}"
            );
        }
    }
    Ok(())
}

/// A block on an outer endpoint drops the frame whether or not the tunnel
/// is opened: the frame travels to the outer destination whatever it
/// carries, so wrapping traffic in VXLAN does not reach past a block. Also
/// when the inner frame cannot be parsed (ARP inside, or cut short).
#[test]
fn a_block_on_an_outer_endpoint_drops_whether_opened_or_not() -> Result {
    let whole = outer(false).vxlan(5, &inner(false, true, 0)).build();
    let arp = Frame::new(INNER_MAC, GATEWAY_MAC)
        .ethertype(0x0806)
        .payload(&[0u8; 28]);
    let carrying_arp = outer(false).vxlan(5, &arp).build();
    for (what, frame) in [("a SYN", &whole), ("ARP", &carrying_arp)] {
        for opened in [false, true] {
            let open = if opened {
                vec![EncapKind::Vxlan]
            } else {
                Vec::new()
            };
            let mut h = harness(&open);
            let target: BlockTarget = OUTER_V4.1.parse()?;
            h.datapath.maps_mut().block_add(
                &target,
                std::time::Duration::from_secs(3600),
                BlockOrigin::Operator,
                SystemClock.monotonic_ns(),
            )?;
            let (verdict, delta) = h.run_delta(frame)?;
            let context = format!("VXLAN carrying {what}, opened: {opened}");
            assert_eq!(verdict, XDP_DROP, "{context}");
            assert_eq!(
                delta.dropped[DropReason::BlockedHost as usize],
                1,
                "{context}"
            );
            assert_eq!(
                delta.decapsulated[EncapKind::Vxlan as usize],
                u64::from(opened),
                "{context}"
            );
        }
    }
    Ok(())
}

/// A block on the inner destination drops an opened tunnel's frame, and the
/// allowlist on an outer endpoint lets it through (allowlisted once).
#[test]
fn inner_blocks_and_outer_allowlist_on_an_opened_tunnel() -> Result {
    let frame = outer(false).vxlan(5, &inner(false, true, 0)).build();
    let mut h = harness(&[EncapKind::Vxlan]);
    let now = SystemClock.monotonic_ns();
    let target: BlockTarget = INNER_V4.1.parse()?;
    h.datapath.maps_mut().block_add(
        &target,
        std::time::Duration::from_secs(3600),
        BlockOrigin::Operator,
        now,
    )?;
    let (verdict, delta) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_DROP);
    assert_eq!(delta.dropped[DropReason::BlockedHost as usize], 1);
    let allowed = OUTER_V4.0.parse()?;
    h.datapath.maps_mut().allow_add(&allowed, now)?;
    // The allowlist holds for the outer source; the frame differs from the
    // first (another source port) so it is not a duplicate.
    let frame = outer(false)
        .vxlan(
            5,
            &Frame::new(INNER_MAC, GATEWAY_MAC)
                .ipv4(INNER_V4.0, INNER_V4.1)
                .tcp(40001, 443, TCP_SYN),
        )
        .build();
    let (verdict, delta) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS);
    assert_eq!((delta.allowlisted, delta.dropped), (1, [0; 4]));
    Ok(())
}

/// One level of tunnel is opened: VXLAN inside VXLAN counts the middle
/// packet for its hosts and the tunnel it carries as not opened.
#[test]
fn a_tunnel_inside_an_opened_tunnel_is_counted_not_opened() -> Result {
    let mut h = harness(&[EncapKind::Vxlan]);
    let middle = Frame::new(SPAN_MAC, SENSOR_MAC)
        .ipv4("10.8.0.1", "10.8.0.2")
        .vxlan(9, &inner(false, true, 0));
    let frame = outer(false).vxlan(5, &middle).build();
    let (verdict, delta) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS);
    assert_eq!(delta.decapsulated[EncapKind::Vxlan as usize], 1);
    assert_eq!(delta.encap_unopened, 1);
    assert_eq!((delta.ipv4, delta.udp, delta.tcp), (2, 2, 0));
    let host = h.known_host("10.8.0.1")?;
    assert_eq!(host.traffic.udp_out, 1);
    assert!(
        h.host(INNER_V4.0)?.is_none(),
        "the innermost frame is not opened"
    );
    assert!(
        h.host(OUTER_V4.0)?.is_none(),
        "the outer endpoints are not hosts"
    );
    Ok(())
}
