//! The common frame in one straight pass: untagged Ethernet carrying IPv4
//! without options or IPv6 without extension headers, carrying TCP or UDP
//! that is neither DNS nor a tunnel, with every length consistent. Almost all
//! of a site's traffic has this shape.
//!
//! Every condition is checked before anything is counted; a frame that
//! fails one is left whole to the general parser (`super::parse`), which
//! counts exactly what this pass would have for the frames it accepts
//! (`tests/tests/fast_path.rs` runs the same packets through both). The
//! result goes straight
//! into this CPU's packet slot: no intermediate copies, and offsets are
//! constants.

use aya_ebpf::programs::XdpContext;
use sensor_common::SiteCounters;

use super::{
    be16,
    ip::{v4_key, v6_key, Ipv4Header, Ipv6Header},
    link::EthHeader,
    ptr_at,
    transport::{TcpHeader, UdpHeader},
    tunnel::{GENEVE_PORT, VXLAN_PORT},
    Dns, Packet, Transport, Tunneled,
};

const ETH_HEADER: usize = 14;
const IPV4_AT: usize = ETH_HEADER;
const IPV6_AT: usize = ETH_HEADER;
/// The transport header after an IPv4 header without options.
const L4_AFTER_IPV4: usize = ETH_HEADER + 20;
/// The transport header after an IPv6 header without extensions.
const L4_AFTER_IPV6: usize = ETH_HEADER + 40;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const DNS_PORT: u16 = 53;
/// EtherTypes and the IPv4 version/IHL byte as they sit in the frame.
const ETHERTYPE_IPV4_RAW: u16 = 0x0800u16.to_be();
const ETHERTYPE_IPV6_RAW: u16 = 0x86ddu16.to_be();
const IPV4_NO_OPTIONS: u8 = 0x45;
/// The fragment offset bits of the IPv4 flags/fragment field.
const FRAGMENT_OFFSET: u16 = 0x1fff;

/// What the network layer of a common frame gave.
struct Network {
    src: sensor_common::HostKey,
    dst: sensor_common::HostKey,
    protocol: u8,
    /// Frame offset where the IP packet ends.
    end: usize,
    /// Header words that differ between packets of a flow (see `dedup`).
    varies: u64,
    ipv6: bool,
}

/// Parses a common frame into `slot`, counting it; false (nothing counted,
/// `slot` untouched) for any other frame.
#[inline(always)]
pub fn parse(
    ctx: &XdpContext,
    site: &mut SiteCounters,
    frame_len: usize,
    slot: &mut Packet,
) -> bool {
    let Some(eth) = ptr_at::<EthHeader>(ctx, 0) else {
        return false;
    };
    // SAFETY: in bounds (checked by `ptr_at`).
    let eth = unsafe { &*eth };
    let (network, l4) = if eth.ethertype == ETHERTYPE_IPV4_RAW {
        match ipv4(ctx, frame_len) {
            Some(network) => (network, L4_AFTER_IPV4),
            None => return false,
        }
    } else if eth.ethertype == ETHERTYPE_IPV6_RAW {
        match ipv6(ctx, frame_len) {
            Some(network) => (network, L4_AFTER_IPV6),
            None => return false,
        }
    } else {
        return false;
    };
    let (transport, flags, varies) = match network.protocol {
        PROTO_TCP => {
            let Some(tcp) = ptr_at::<TcpHeader>(ctx, l4) else {
                return false;
            };
            // SAFETY: in bounds (checked by `ptr_at`).
            let tcp = unsafe { &*tcp };
            let header_len = ((tcp.offset_reserved >> 4) as usize) * 4;
            let (src_port, dst_port) = (be16(tcp.src_port), be16(tcp.dst_port));
            if header_len < 20 || l4 + header_len > network.end {
                return false;
            }
            // DNS over TCP is looked at by the general parser.
            if src_port == DNS_PORT || dst_port == DNS_PORT {
                return false;
            }
            let varies = (tcp.seq as u64) << 32
                ^ tcp.ack as u64
                ^ ((tcp.flags as u64) << 40 | (tcp.window as u64) << 16);
            let syn = tcp.flags & 0x02 != 0;
            let ack = tcp.flags & 0x10 != 0;
            let rst = tcp.flags & 0x04 != 0;
            (
                Transport::tcp(src_port, dst_port, syn, ack, rst),
                tcp.flags,
                varies,
            )
        }
        PROTO_UDP => {
            let Some(udp) = ptr_at::<UdpHeader>(ctx, l4) else {
                return false;
            };
            // SAFETY: in bounds (checked by `ptr_at`).
            let udp = unsafe { &*udp };
            let (src_port, dst_port) = (be16(udp.src_port), be16(udp.dst_port));
            if src_port == DNS_PORT
                || dst_port == DNS_PORT
                || dst_port == VXLAN_PORT
                || dst_port == GENEVE_PORT
            {
                return false;
            }
            let varies = (udp.len as u64) | (udp.checksum as u64) << 16;
            (Transport::udp(src_port, dst_port), 0, varies)
        }
        _ => return false,
    };

    // Accepted: count what the general parser would.
    if eth.dst == [0xffff; 3] {
        site.broadcast += 1;
    } else if eth.dst[0].to_ne_bytes()[0] & 1 == 1 {
        site.multicast += 1;
    }
    if network.ipv6 {
        site.ipv6 += 1;
    } else {
        site.ipv4 += 1;
    }
    if network.protocol == PROTO_TCP {
        site.tcp += 1;
        let (syn, ack, rst) = (flags & 0x02 != 0, flags & 0x10 != 0, flags & 0x04 != 0);
        if syn && !ack {
            site.tcp_syn += 1;
        } else if syn {
            site.tcp_synack += 1;
        }
        if rst {
            site.tcp_rst += 1;
        }
    } else {
        site.udp += 1;
    }
    slot.src = network.src;
    slot.dst = network.dst;
    slot.protocol = network.protocol;
    slot.transport = transport;
    slot.dns = Dns::None;
    // Element by element: copied whole, the 6 bytes become a call to
    // `memmove` (see `policy::copy_address` for why calls are avoided).
    for (to, from) in slot.src_mac.iter_mut().zip(eth.src.iter()) {
        // SAFETY: `from` lies in the Ethernet header checked above.
        *to = unsafe { core::ptr::read_volatile(from) };
    }
    slot.vlan = 0;
    slot.len = frame_len as u32;
    slot.l3_at = IPV4_AT as u16;
    slot.l4_at = l4 as u16;
    slot.tunnel = Tunneled::No;
    slot.to_group = eth.dst[0].to_ne_bytes()[0] & 1 == 1;
    slot.varies = network.varies ^ varies.rotate_left(13);
    true
}

#[inline(always)]
fn ipv4(ctx: &XdpContext, frame_len: usize) -> Option<Network> {
    let ip = ptr_at::<Ipv4Header>(ctx, IPV4_AT)?;
    // SAFETY: in bounds (checked by `ptr_at`).
    let ip = unsafe { &*ip };
    let total_len = be16(ip.total_len) as usize;
    if ip.version_ihl != IPV4_NO_OPTIONS
        || be16(ip.flags_fragment) & FRAGMENT_OFFSET != 0
        || total_len < 20
        || IPV4_AT + total_len > frame_len
    {
        return None;
    }
    Some(Network {
        src: v4_key(ip.src),
        dst: v4_key(ip.dst),
        protocol: ip.protocol,
        end: IPV4_AT + total_len,
        varies: (ip.id as u64) | (ip.flags_fragment as u64) << 16 | (ip.checksum as u64) << 32,
        ipv6: false,
    })
}

#[inline(always)]
fn ipv6(ctx: &XdpContext, frame_len: usize) -> Option<Network> {
    let ip = ptr_at::<Ipv6Header>(ctx, IPV6_AT)?;
    // SAFETY: in bounds (checked by `ptr_at`).
    let ip = unsafe { &*ip };
    let payload_len = be16(ip.payload_len) as usize;
    if ip.version_class_flow.to_ne_bytes()[0] >> 4 != 6 || L4_AFTER_IPV6 + payload_len > frame_len {
        return None;
    }
    Some(Network {
        src: v6_key(ip.src),
        dst: v6_key(ip.dst),
        protocol: ip.next_header,
        end: L4_AFTER_IPV6 + payload_len,
        varies: (ip.version_class_flow as u64) | (ip.payload_len as u64) << 32,
        ipv6: true,
    })
}
