//! Evasion shapes against policy, in the real kernel through
//! `BPF_PROG_TEST_RUN`: counting fails open, policy never does. A matrix of
//! block kinds (none, host block on the remote, prefix block covering it,
//! flow block on the exact conversation, the allowlist over a host block) ×
//! shapes (long IPv6 extension chains, AH, cut AH, ESP, an unknown protocol, TCP cut
//! after 2, 4 and 12 bytes, non-first fragments, bad IP lengths) × IPv4/IPv6
//! × both directions. Each cell checks the verdict (host and prefix blocks
//! always drop, a flow block exactly when the ports are readable, the
//! allowlist always passes), that the packet counted for the protected host,
//! and the malformed reason; a failure prints the whole table.

use sensor_common::{
    site::MALFORMED_REASONS, DropReason, MalformedReason as M, SiteCounters, TrafficClass as C,
};
use vantage::{
    net::{BlockOrigin, BlockTarget, Cidr},
    time::{Clock as _, SystemClock},
};
use vantage_tests::{
    harness::{Harness, XDP_DROP, XDP_PASS},
    packet::{Extension, Frame, Layout, TCP_ACK},
};

type Result = anyhow::Result<()>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    V4,
    V6,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    /// From the protected host to the remote.
    Out,
    /// From the remote to the protected host.
    In,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Policy {
    None,
    HostBlock,
    PrefixBlock,
    FlowBlock,
    AllowOverHostBlock,
}

const LOCAL_PORT: u16 = 40000;
const REMOTE_PORT: u16 = 443;

fn local(f: Family) -> &'static str {
    match f {
        Family::V4 => "10.0.0.5",
        Family::V6 => "fd00::5",
    }
}

fn remote(f: Family) -> &'static str {
    match f {
        Family::V4 => "203.0.113.7",
        Family::V6 => "2001:db8::7",
    }
}

/// The IP header, source and destination by direction, and the ports.
fn base(f: Family, d: Dir) -> (Frame, u16, u16) {
    let (src, dst, sport, dport) = match d {
        Dir::Out => (local(f), remote(f), LOCAL_PORT, REMOTE_PORT),
        Dir::In => (remote(f), local(f), REMOTE_PORT, LOCAL_PORT),
    };
    let frame = match f {
        Family::V4 => Frame::client().ipv4(src, dst),
        Family::V6 => Frame::client().ipv6(src, dst),
    };
    (frame, sport, dport)
}

/// Cuts a valid frame to `keep` transport bytes and fixes the IP length, so
/// that only the transport header is short.
fn cut_transport(frame: &[u8], layout: Layout, keep: usize) -> Vec<u8> {
    let mut cut = frame[..layout.transport + keep].to_vec();
    set_ip_length(&mut cut, layout, layout.transport + keep);
    cut
}

/// Sets the IP length field so that the packet ends at frame offset `end`
/// (which may lie beyond the frame).
fn set_ip_length(frame: &mut [u8], layout: Layout, end: usize) {
    let l3 = layout.network;
    if frame[l3] >> 4 == 4 {
        frame[l3 + 2..l3 + 4].copy_from_slice(&((end - l3) as u16).to_be_bytes());
        frame[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
        let sum = vantage_tests::packet::checksum(&frame[l3..l3 + 20]);
        frame[l3 + 10..l3 + 12].copy_from_slice(&sum.to_be_bytes());
    } else {
        frame[l3 + 4..l3 + 6].copy_from_slice(&((end - l3 - 40) as u16).to_be_bytes());
    }
}

/// One evasion shape.
struct Shape {
    name: &'static str,
    families: &'static [Family],
    build: fn(Family, Dir) -> Vec<u8>,
    /// The first four transport bytes (the ports) are in the frame, at the
    /// offset the headers give.
    ports_readable: bool,
    malformed: Option<M>,
    esp: u64,
    fragments: u64,
    /// Shown next to a failing cell.
    note: &'static str,
}

fn dest_options(f: Family, d: Dir, count: usize) -> Vec<u8> {
    let (mut frame, sport, dport) = base(f, d);
    for _ in 0..count {
        frame = frame.extension(Extension::DestinationOptions);
    }
    frame.udp(sport, dport).payload(&[0x11; 8]).build()
}

fn tcp_cut(f: Family, d: Dir, keep: usize) -> Vec<u8> {
    let (frame, sport, dport) = base(f, d);
    let (bytes, layout) = frame.tcp(sport, dport, TCP_ACK).build_with_layout();
    cut_transport(&bytes, layout, keep)
}

const BOTH: &[Family] = &[Family::V4, Family::V6];
const V4: &[Family] = &[Family::V4];
const V6: &[Family] = &[Family::V6];

fn shape(
    name: &'static str,
    families: &'static [Family],
    build: fn(Family, Dir) -> Vec<u8>,
    ports_readable: bool,
    malformed: Option<M>,
) -> Shape {
    Shape {
        name,
        families,
        build,
        ports_readable,
        malformed,
        esp: 0,
        fragments: 0,
        note: "",
    }
}

/// The note on the bad-length shapes: the TCP header is whole in the frame
/// where the IP header length says, so "ports are kept whenever the first 4
/// transport bytes are readable" (the datapath's description) applies.
const LENGTH_LIES: &str =
    "DESCRIBED: ports readable (whole TCP header in the frame), only the IP length lies";

fn shapes() -> Vec<Shape> {
    vec![
        shape(
            "7 dest-opts, UDP",
            V6,
            |f, d| dest_options(f, d, 7),
            true,
            None,
        ),
        shape(
            "9 dest-opts, UDP",
            V6,
            |f, d| dest_options(f, d, 9),
            false,
            Some(M::Ipv6ExtensionTooDeep),
        ),
        shape(
            "20 dest-opts, UDP",
            V6,
            |f, d| dest_options(f, d, 20),
            false,
            Some(M::Ipv6ExtensionTooDeep),
        ),
        shape(
            "AH, TCP",
            BOTH,
            |f, d| {
                let (frame, sport, dport) = base(f, d);
                // HMAC-96 (12 bytes) over IPv4; a 4-byte ICV keeps IPv6's
                // AH a multiple of 8 bytes.
                let icv = if f == Family::V4 { 12 } else { 4 };
                frame
                    .auth_header(0x100, 1, icv)
                    .tcp(sport, dport, TCP_ACK)
                    .build()
            },
            true,
            None,
        ),
        Shape {
            esp: 1,
            ..shape(
                "ESP",
                BOTH,
                |f, d| base(f, d).0.esp(0x100, 1).payload(&[0xee; 32]).build(),
                false,
                None,
            )
        },
        shape(
            "protocol 253",
            BOTH,
            |f, d| base(f, d).0.ip_protocol(253).payload(&[0xfd; 16]).build(),
            false,
            None,
        ),
        shape(
            "AH cut after 1 byte",
            BOTH,
            |f, d| {
                let (frame, sport, dport) = base(f, d);
                let (bytes, layout) = frame
                    .auth_header(0x100, 1, 4)
                    .tcp(sport, dport, TCP_ACK)
                    .build_with_layout();
                let mut cut = bytes[..layout.extensions + 1].to_vec();
                set_ip_length(&mut cut, layout, layout.extensions + 1);
                cut
            },
            false,
            Some(M::AhTruncated),
        ),
        shape(
            "TCP cut after 2",
            BOTH,
            |f, d| tcp_cut(f, d, 2),
            false,
            Some(M::TcpTruncated),
        ),
        shape(
            "TCP cut after 4",
            BOTH,
            |f, d| tcp_cut(f, d, 4),
            true,
            Some(M::TcpTruncated),
        ),
        shape(
            "TCP cut after 12",
            BOTH,
            |f, d| tcp_cut(f, d, 12),
            true,
            Some(M::TcpTruncated),
        ),
        Shape {
            fragments: 1,
            ..shape(
                "non-first fragment",
                BOTH,
                |f, d| {
                    let (frame, sport, dport) = base(f, d);
                    let frame = match f {
                        Family::V4 => frame.ipv4_fragment(185, false),
                        Family::V6 => frame.extension(Extension::Fragment {
                            offset: 185,
                            more: false,
                        }),
                    };
                    frame.tcp(sport, dport, TCP_ACK).build()
                },
                false,
                None,
            )
        },
        Shape {
            note: LENGTH_LIES,
            ..shape(
                "IPv4 total length 1500",
                V4,
                |f, d| {
                    let (frame, sport, dport) = base(f, d);
                    let (mut bytes, layout) = frame.tcp(sport, dport, TCP_ACK).build_with_layout();
                    set_ip_length(&mut bytes, layout, layout.network + 1500);
                    bytes
                },
                true,
                Some(M::Ipv4BadTotalLength),
            )
        },
        shape(
            "IPv4 header length 16",
            V4,
            |f, d| {
                let (frame, sport, dport) = base(f, d);
                let (mut bytes, layout) = frame.tcp(sport, dport, TCP_ACK).build_with_layout();
                // IHL 4: where the transport starts is unknown.
                bytes[layout.network] = 0x44;
                bytes
            },
            false,
            Some(M::Ipv4BadHeaderLength),
        ),
        Shape {
            note: LENGTH_LIES,
            ..shape(
                "IPv6 payload length 1000",
                V6,
                |f, d| {
                    let (frame, sport, dport) = base(f, d);
                    let (mut bytes, layout) = frame.tcp(sport, dport, TCP_ACK).build_with_layout();
                    set_ip_length(&mut bytes, layout, layout.network + 40 + 1000);
                    bytes
                },
                true,
                Some(M::Ipv6BadPayloadLength),
            )
        },
    ]
}

fn harness_with(policy: Policy) -> anyhow::Result<Harness> {
    let mut h = Harness::new(1024).unwrap_or_else(|e| panic!("loading the sensor: {e:#}"));
    let now = SystemClock.monotonic_ns();
    let hour = std::time::Duration::from_secs(3600);
    let mut targets: Vec<String> = Vec::new();
    for f in [Family::V4, Family::V6] {
        match policy {
            Policy::None => {}
            Policy::HostBlock | Policy::AllowOverHostBlock => targets.push(remote(f).into()),
            Policy::PrefixBlock => targets.push(match f {
                Family::V4 => "203.0.113.0/24".into(),
                Family::V6 => "2001:db8::/32".into(),
            }),
            Policy::FlowBlock => {
                let (l, r) = match f {
                    Family::V4 => (local(f).to_owned(), remote(f).to_owned()),
                    Family::V6 => (format!("[{}]", local(f)), format!("[{}]", remote(f))),
                };
                for proto in ["tcp", "udp"] {
                    targets.push(format!("{proto}/{l}:{LOCAL_PORT}/{r}:{REMOTE_PORT}"));
                }
            }
        }
        if policy == Policy::AllowOverHostBlock {
            let allowed: Cidr = remote(f).parse()?;
            h.datapath.maps_mut().allow_add(&allowed, now)?;
        }
    }
    for target in targets {
        let target: BlockTarget = target.parse()?;
        h.datapath
            .maps_mut()
            .block_add(&target, hour, BlockOrigin::Operator, now)?;
    }
    Ok(h)
}

/// Counted for the protected host: its packets in or out, by direction.
fn host_packets(h: &Harness, f: Family, d: Dir) -> anyhow::Result<u64> {
    Ok(h.host(local(f))?.map_or(0, |host| match d {
        Dir::Out => host.traffic.packets_out,
        Dir::In => host.traffic.packets_in,
    }))
}

fn verdict_name(v: u32) -> &'static str {
    match v {
        XDP_DROP => "DROP",
        XDP_PASS => "PASS",
        _ => "other",
    }
}

/// Runs every shape in both families and directions under `policy`; fails
/// with the whole table if any cell is wrong.
fn run_matrix(policy: Policy) -> Result {
    let mut h = harness_with(policy)?;
    let mut rows = vec![format!(
        "{:<6} {:<22} {:<26} {:<3} {:<3} {:<4} {:<4} {:<7} {:<9} {}",
        "", "policy", "shape", "ip", "dir", "want", "got", "counted", "malformed", "other"
    )];
    let mut failures = 0;
    for shape in shapes() {
        for &f in shape.families {
            for d in [Dir::Out, Dir::In] {
                let frame = (shape.build)(f, d);
                let before = host_packets(&h, f, d)?;
                let (verdict, delta) = h.run_delta(&frame)?;
                let counted = host_packets(&h, f, d)? == before + 1;
                let (want, reason) = match policy {
                    Policy::None | Policy::AllowOverHostBlock => (XDP_PASS, None),
                    Policy::HostBlock => (XDP_DROP, Some(DropReason::BlockedHost)),
                    Policy::PrefixBlock => (XDP_DROP, Some(DropReason::BlockedPrefix)),
                    Policy::FlowBlock if shape.ports_readable => {
                        (XDP_DROP, Some(DropReason::BlockedFlow))
                    }
                    Policy::FlowBlock => (XDP_PASS, None),
                };
                let mut want_malformed = [0u64; MALFORMED_REASONS];
                if let Some(m) = shape.malformed {
                    want_malformed[m as usize] = 1;
                }
                let mut want_dropped = [0u64; 4];
                if let Some(r) = reason {
                    want_dropped[r as usize] = 1;
                }
                let class = match d {
                    Dir::Out => C::LocalToRemote,
                    Dir::In => C::RemoteToLocal,
                };
                let other = check_other(&delta, &shape, f, class, policy, &want_dropped);
                let malformed_ok = delta.malformed == want_malformed;
                let ok = verdict == want && counted && malformed_ok && other.is_empty();
                if !ok {
                    failures += 1;
                }
                rows.push(format!(
                    "{:<6} {:<22} {:<26} {:<3} {:<3} {:<4} {:<4} {:<7} {:<9} {}{}",
                    if ok { "ok" } else { "FAIL" },
                    format!("{policy:?}"),
                    shape.name,
                    format!("{f:?}").to_lowercase(),
                    format!("{d:?}").to_lowercase(),
                    verdict_name(want),
                    verdict_name(verdict),
                    if counted { "yes" } else { "NO" },
                    if malformed_ok { "ok" } else { "WRONG" },
                    other,
                    if ok || shape.note.is_empty() {
                        String::new()
                    } else {
                        format!("  [{}]", shape.note)
                    },
                ));
            }
        }
    }
    assert!(
        failures == 0,
        "{failures} cell(s) wrong under {policy:?}:\n{}",
        rows.join("\n")
    );
    Ok(())
}

/// The counters besides the verdict, the host and the malformed reason:
/// the family, the class, esp, fragments, drops and the allowlist.
fn check_other(
    delta: &SiteCounters,
    shape: &Shape,
    f: Family,
    class: C,
    policy: Policy,
    want_dropped: &[u64; 4],
) -> String {
    let mut wrong = Vec::new();
    let (v4, v6) = match f {
        Family::V4 => (1, 0),
        Family::V6 => (0, 1),
    };
    if (delta.ipv4, delta.ipv6) != (v4, v6) {
        wrong.push(format!("ipv4/ipv6 {}/{}", delta.ipv4, delta.ipv6));
    }
    if delta.class_packets[class as usize] != 1 {
        wrong.push(format!("class {:?}", delta.class_packets));
    }
    if (delta.esp, delta.fragments) != (shape.esp, shape.fragments) {
        wrong.push(format!("esp/fragments {}/{}", delta.esp, delta.fragments));
    }
    if &delta.dropped != want_dropped {
        wrong.push(format!("dropped {:?}", delta.dropped));
    }
    let allowlisted = u64::from(policy == Policy::AllowOverHostBlock);
    if delta.allowlisted != allowlisted {
        wrong.push(format!("allowlisted {}", delta.allowlisted));
    }
    if delta.duplicates != 0 {
        wrong.push("duplicate".into());
    }
    wrong.join(", ")
}

#[test]
fn without_policy_every_shape_passes_and_counts() -> Result {
    run_matrix(Policy::None)
}

#[test]
fn a_host_block_drops_every_shape() -> Result {
    run_matrix(Policy::HostBlock)
}

#[test]
fn a_prefix_block_drops_every_shape() -> Result {
    run_matrix(Policy::PrefixBlock)
}

#[test]
fn a_flow_block_drops_exactly_when_the_ports_are_readable() -> Result {
    run_matrix(Policy::FlowBlock)
}

#[test]
fn the_allowlist_overrides_a_host_block_on_every_shape() -> Result {
    run_matrix(Policy::AllowOverHostBlock)
}
