//! Broken and odd tunnels in the real kernel through `BPF_PROG_TEST_RUN`:
//! an opened VXLAN carrying ARP (not IP), every cut of a VXLAN header, every
//! cut of the Geneve options, the GRE optional fields and the ERSPAN II and
//! III headers (`TunnelTruncated`), and an inner frame cut before its IP
//! header (`InnerTruncated`), each with the exact delta of every site
//! counter. Well-formed tunnels are in `tunnels.rs`.

use sensor_common::{EncapKind, MalformedReason as M, TrafficClass as C};
use vantage_tests::{
    expect::{classed, seen},
    harness::{assert_site, site_diff, XDP_PASS},
    mirror::{harness, inner, outer, INNER_MAC, OUTER_V4},
    packet::{geneve_option, ErspanII, ErspanIII, Frame, Gre, Layout, BROADCAST_MAC},
};

type Result = anyhow::Result<()>;

#[test]
fn an_inner_arp_frame_is_not_ip() -> Result {
    let mut h = harness(&[EncapKind::Vxlan]);
    let arp = Frame::new(INNER_MAC, BROADCAST_MAC)
        .ethertype(0x0806)
        .payload(&[0u8; 28]);
    let frame = outer(false).vxlan(5, &arp).build();
    let (verdict, delta) = h.run_delta(&frame)?;
    assert_eq!(verdict, XDP_PASS);
    let mut want = seen(frame.len());
    want.ipv4 = 1;
    want.udp = 1;
    want.decapsulated[EncapKind::Vxlan as usize] = 1;
    want.non_ip = 1;
    want.broadcast = 1;
    assert_site(&delta, &want, "vxlan carrying ARP");
    assert!(h.host(OUTER_V4.0)?.is_none() && h.host(OUTER_V4.1)?.is_none());
    Ok(())
}

/// `frame` cut to `end` bytes, with the outer IPv4 total length (and the
/// UDP length, for a UDP tunnel) fixed so that only what lies after `end` is
/// missing.
fn cut_outer(frame: &[u8], layout: Layout, end: usize, udp: bool) -> Vec<u8> {
    let mut cut = frame[..end].to_vec();
    let l3 = layout.network;
    let l4 = layout.transport;
    cut[l3 + 2..l3 + 4].copy_from_slice(&((end - l3) as u16).to_be_bytes());
    cut[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
    let sum = vantage_tests::packet::checksum(&cut[l3..l3 + 20]);
    cut[l3 + 10..l3 + 12].copy_from_slice(&sum.to_be_bytes());
    if udp {
        cut[l4 + 4..l4 + 6].copy_from_slice(&((end - l4) as u16).to_be_bytes());
    }
    cut
}

/// Every cut of the tunnel header of `frame` (from the tunnel header to the
/// inner frame) on a sensor that opens `kind`: `TunnelTruncated`, the outer
/// packet counted, `encap_unopened`. Returns the cuts that differed.
fn every_header_cut(name: &str, kind: EncapKind, frame: &Frame) -> anyhow::Result<Vec<String>> {
    let udp = matches!(kind, EncapKind::Vxlan | EncapKind::Geneve);
    let mut h = harness(&[kind]);
    let (frame, layout) = frame.build_with_layout();
    let (Some(tunnel), Some(inner)) = (layout.tunnel, layout.inner) else {
        anyhow::bail!("{name}: no tunnel");
    };
    // Runs of consecutive cuts that differ in the same way, as
    // (first cut, last cut, verdict and difference).
    let mut runs: Vec<(usize, usize, String)> = Vec::new();
    for (i, end) in (tunnel..inner.start).enumerate() {
        let cut = cut_outer(&frame, layout, end, udp);
        let (verdict, delta) = h.run_delta(&cut)?;
        let len = cut.len();
        let mut want = classed(seen(len), C::LocalToLocal, len);
        want.ipv4 = 1;
        want.udp = u64::from(udp);
        want.malformed[M::TunnelTruncated as usize] = 1;
        want.encap_unopened = 1;
        want.hosts_created = if i == 0 { 2 } else { 0 };
        want.events_sent = u64::from(udp && i == 0);
        if verdict == XDP_PASS && delta == want {
            continue;
        }
        // The class bytes follow the cut's length; the rest names the fault.
        let diff: Vec<String> = site_diff(&want, &delta)
            .lines()
            .filter(|l| !l.starts_with("class_bytes"))
            .map(str::to_owned)
            .collect();
        let what = format!("verdict {verdict}\n  {}", diff.join("\n  "));
        let k = end - tunnel;
        match runs.last_mut() {
            Some((_, last, previous)) if *last + 1 == k && *previous == what => *last = k,
            _ => runs.push((k, k, what)),
        }
    }
    Ok(runs
        .into_iter()
        .map(|(first, last, what)| {
            format!(
                "{name}, header ({} bytes) cut to {first}..={last} bytes: {what}",
                inner.start - tunnel
            )
        })
        .collect())
}

#[test]
fn every_cut_of_a_vxlan_header() -> Result {
    let frame = outer(false).vxlan(5, &inner(false, true, 0));
    let wrong = every_header_cut("vxlan", EncapKind::Vxlan, &frame)?;
    assert!(
        wrong.is_empty(),
        "(field: want -> got)\n{}",
        wrong.join("\n")
    );
    Ok(())
}

/// DESCRIBED BEHAVIOUR ("a cut tunnel header: `TunnelTruncated`"), for the
/// headers beyond their first bytes: Geneve options, GRE checksum, key and
/// sequence fields, the ERSPAN II header, the ERSPAN III header and its
/// platform subheader.
#[test]
fn every_cut_of_the_other_tunnel_headers() -> Result {
    let eth = inner(false, true, 0);
    let gre = Gre {
        checksum: true,
        key: Some(1),
        sequence: Some(2),
        ..Gre::default()
    };
    let erspan3 = ErspanIII {
        platform: Some(1),
        ..ErspanIII::default()
    };
    let cases = [
        (
            "geneve with options",
            EncapKind::Geneve,
            outer(false).geneve(7, &geneve_option(1, 2, &[3; 8]), &eth),
        ),
        (
            "gre checksum key sequence",
            EncapKind::Gre,
            outer(false).gre_with(gre, &eth),
        ),
        (
            "erspan ii",
            EncapKind::Erspan,
            outer(false).erspan2(ErspanII::default(), &eth),
        ),
        (
            "erspan iii subheader",
            EncapKind::Erspan,
            outer(false).erspan3(erspan3, &eth),
        ),
    ];
    let mut wrong = Vec::new();
    for (name, kind, frame) in cases {
        wrong.extend(every_header_cut(name, kind, &frame)?);
    }
    assert!(
        wrong.is_empty(),
        "(field: want -> got)\n{}",
        wrong.join("\n")
    );
    Ok(())
}

/// DESCRIBED BEHAVIOUR (`MalformedReason::InnerTruncated` in site.rs: "a
/// frame inside a tunnel is cut off before its IP header"): an opened
/// tunnel whose inner frame ends inside its Ethernet or IP header counts
/// `InnerTruncated`, not the inner frame's own link or IP reason.
#[test]
fn an_inner_frame_cut_before_its_ip_header() -> Result {
    let mut h = harness(&[EncapKind::Vxlan]);
    let (frame, layout) = outer(false)
        .vxlan(5, &inner(false, true, 0))
        .build_with_layout();
    let start = layout
        .inner
        .map(|i| i.start)
        .ok_or_else(|| anyhow::anyhow!("no inner frame"))?;
    // Inside the inner Ethernet header, then inside the inner IPv4 header.
    let mut wrong = Vec::new();
    for keep in [10, 14 + 10] {
        let cut = cut_outer(&frame, layout, start + keep, true);
        let (verdict, delta) = h.run_delta(&cut)?;
        let mut want = seen(cut.len());
        want.ipv4 = 1;
        want.udp = 1;
        want.decapsulated[EncapKind::Vxlan as usize] = 1;
        want.malformed[M::InnerTruncated as usize] = 1;
        if verdict != XDP_PASS || delta != want {
            wrong.push(format!(
                "inner frame cut to {keep} bytes: verdict {verdict}\n  {}",
                site_diff(&want, &delta).replace('\n', "\n  ")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "DESCRIBED (site.rs): InnerTruncated (field: want -> got)\n{}",
        wrong.join("\n")
    );
    Ok(())
}
