//! Header parsing: Ethernet, up to two VLAN tags, IPv4 (options, fragments),
//! IPv6 (extension headers), TCP, UDP (with the DNS header on port 53),
//! ICMP and ICMPv6.
//!
//! Every read goes through [`ptr_at`], the one bounds-checked accessor.
//! Anything cut short or inconsistent is counted under its
//! [`MalformedReason`] and reported as [`Parsed::Malformed`] (the caller
//! passes it), except that a packet whose IP header is sound keeps its
//! addresses even when its transport header is bad, so blocks still apply.

use aya_ebpf::programs::XdpContext;
use sensor_common::{Addr16, HostKey, MalformedReason, Settings, SiteCounters};

use crate::facts::{facts, FACT_LOCAL};

const ETH_HEADER: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;
const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_DEST_OPTIONS: u8 = 60;
/// Extension headers followed before giving up (counted as too deep).
const IPV6_MAX_EXTENSIONS: usize = 6;
const DNS_PORT: u16 = 53;
const DNS_HEADER: usize = 12;

/// Returns a pointer to a `T` at `offset` bytes into the frame, or `None` if
/// the frame is too short to hold it.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Option<*const T> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + core::mem::size_of::<T>() > end {
        return None;
    }
    Some((start + offset) as *const T)
}

/// Returns `index & mask` in a form the verifier can see is bounded.
///
/// LLVM knows an enum or `bool` derived index is in range and deletes a
/// plain mask, but the verifier tracks registers, not Rust types; reading
/// the index back through a volatile load hides its range from LLVM, so the
/// mask stays in the program.
#[inline(always)]
pub fn bounded(index: usize, mask: usize) -> usize {
    // SAFETY: reading a local through a valid reference.
    unsafe { core::ptr::read_volatile(&index) & mask }
}

/// Reads a `T` (made of byte arrays, so alignment never matters) at `offset`.
#[inline(always)]
fn read<T: Copy>(ctx: &XdpContext, offset: usize) -> Option<T> {
    ptr_at::<T>(ctx, offset).map(|p| unsafe { *p })
}

// Header fields have their natural alignment (as in C), so LLVM loads them
// in words; the verifier accepts unaligned packet loads on x86_64 and arm64.
// Multi-byte fields are in network byte order.

#[repr(C)]
#[derive(Clone, Copy)]
struct EthHeader {
    dst: [u16; 3],
    src: [u16; 3],
    ethertype: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct VlanTag {
    tci: u16,
    ethertype: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Ipv4Header {
    version_ihl: u8,
    tos: u8,
    total_len: u16,
    id: u16,
    flags_fragment: u16,
    ttl: u8,
    protocol: u8,
    checksum: u16,
    src: u32,
    dst: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Ipv6Header {
    version_class_flow: u32,
    payload_len: u16,
    next_header: u8,
    hop_limit: u8,
    src: [u32; 4],
    dst: [u32; 4],
}

/// The first two bytes of a hop-by-hop, routing or destination-options header.
#[repr(C)]
#[derive(Clone, Copy)]
struct Ipv6Extension {
    next_header: u8,
    len_units: u8,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Ipv6Fragment {
    next_header: u8,
    reserved: u8,
    offset_flags: u16,
    id: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct TcpHeader {
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    offset_reserved: u8,
    flags: u8,
    window: u16,
    checksum: u16,
    urgent: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct UdpHeader {
    src_port: u16,
    dst_port: u16,
    len: u16,
    checksum: u16,
}

/// The first three bytes of a DNS header: id and the byte holding QR.
#[repr(C)]
#[derive(Clone, Copy)]
struct DnsStart {
    id: u16,
    flags_hi: u8,
}

/// What the transport header said, if there was one to read.
#[derive(Clone, Copy)]
pub enum Transport {
    Tcp {
        src_port: u16,
        dst_port: u16,
        syn: bool,
        ack: bool,
        rst: bool,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
        dns_query: bool,
        dns_answer: bool,
        /// Frame offset of the DNS question (valid when `dns_query`).
        dns_question_at: usize,
    },
    Icmp,
    /// Non-first fragment, unknown protocol, or a bad transport header.
    None,
}

impl Transport {
    /// Source and destination ports (host order); zero for port-less protocols.
    #[inline(always)]
    pub fn ports(&self) -> (u16, u16) {
        match *self {
            Transport::Tcp {
                src_port, dst_port, ..
            }
            | Transport::Udp {
                src_port, dst_port, ..
            } => (src_port, dst_port),
            Transport::Icmp | Transport::None => (0, 0),
        }
    }
}

/// An IP packet's addresses and what the sensor needs from its headers.
pub struct Packet {
    pub src: HostKey,
    pub dst: HostKey,
    pub src_local: bool,
    pub dst_local: bool,
    /// `facts::FACT_*` bits of each address.
    pub src_facts: u32,
    pub dst_facts: u32,
    pub protocol: u8,
    pub transport: Transport,
    /// Source MAC as it sits in the frame.
    pub src_mac: [u16; 3],
    pub vlan: u16,
}

pub enum Parsed {
    Ip(Packet),
    NotIp,
    Malformed,
}

#[inline(always)]
fn malformed(site: &mut SiteCounters, reason: MalformedReason) -> Parsed {
    site.malformed[bounded(reason as usize, 15)] += 1;
    Parsed::Malformed
}

/// Converts a network-order field to host order.
#[inline(always)]
fn be16(raw: u16) -> u16 {
    u16::from_be(raw)
}

/// An IPv4 address (as loaded from the frame) in the IPv4-mapped key form.
#[inline(always)]
fn v4_key(raw: u32) -> HostKey {
    let words: [u32; 4] = [0, 0, u32::from_ne_bytes([0, 0, 0xff, 0xff]), raw];
    // SAFETY: same size, no invalid bit patterns.
    HostKey {
        addr: unsafe { core::mem::transmute::<[u32; 4], Addr16>(words) },
    }
}

#[inline(always)]
fn v6_key(raw: [u32; 4]) -> HostKey {
    // SAFETY: same size, no invalid bit patterns.
    HostKey {
        addr: unsafe { core::mem::transmute::<[u32; 4], Addr16>(raw) },
    }
}

/// Parses one frame, counting link-level facts (VLAN, broadcast, non-IP) on the way.
#[inline(always)]
pub fn parse(ctx: &XdpContext, site: &mut SiteCounters, settings: &Settings) -> Parsed {
    let Some(eth) = read::<EthHeader>(ctx, 0) else {
        return malformed(site, MalformedReason::EthTruncated);
    };
    if eth.dst == [0xffff; 3] {
        site.broadcast += 1;
    } else if eth.dst[0].to_ne_bytes()[0] & 1 == 1 {
        site.multicast += 1;
    }

    let mut ethertype = be16(eth.ethertype);
    let mut offset = ETH_HEADER;
    let mut vlan = 0u16;
    let mut tagged = false;
    // Two tags at most (802.1ad outer, 802.1Q inner); unrolled for the verifier.
    for _ in 0..2 {
        if ethertype != ETHERTYPE_VLAN && ethertype != ETHERTYPE_QINQ {
            break;
        }
        let Some(tag) = read::<VlanTag>(ctx, offset) else {
            return malformed(site, MalformedReason::VlanTruncated);
        };
        tagged = true;
        // The innermost tag names the customer's network.
        vlan = be16(tag.tci) & 0x0fff;
        ethertype = be16(tag.ethertype);
        offset += 4;
    }
    if tagged {
        site.vlan_tagged += 1;
    }
    if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        return malformed(site, MalformedReason::VlanTooDeep);
    }

    let frame_len = ctx.data_end() - ctx.data();
    let (src, dst, protocol, l4_offset) = match ethertype {
        ETHERTYPE_IPV4 => match parse_ipv4(ctx, site, offset, frame_len) {
            Ok(found) => found,
            Err(reason) => return malformed(site, reason),
        },
        ETHERTYPE_IPV6 => match parse_ipv6(ctx, site, offset, frame_len) {
            Ok(found) => found,
            Err(reason) => return malformed(site, reason),
        },
        _ => {
            site.non_ip += 1;
            return Parsed::NotIp;
        }
    };

    let transport = match l4_offset {
        Some(l4) => match parse_transport(ctx, site, protocol, l4) {
            Ok(t) => t,
            Err(reason) => {
                site.malformed[bounded(reason as usize, 15)] += 1;
                Transport::None
            }
        },
        None => {
            site.fragments += 1;
            Transport::None
        }
    };

    let src_facts = facts(&src, settings);
    let dst_facts = facts(&dst, settings);
    Parsed::Ip(Packet {
        src_local: src_facts & FACT_LOCAL != 0,
        dst_local: dst_facts & FACT_LOCAL != 0,
        src_facts,
        dst_facts,
        src,
        dst,
        protocol,
        transport,
        src_mac: eth.src,
        vlan,
    })
}

/// Returns source, destination, protocol and the transport header's offset
/// (`None` for a non-first fragment).
#[inline(always)]
fn parse_ipv4(
    ctx: &XdpContext,
    site: &mut SiteCounters,
    offset: usize,
    frame_len: usize,
) -> Result<(HostKey, HostKey, u8, Option<usize>), MalformedReason> {
    let ip = read::<Ipv4Header>(ctx, offset).ok_or(MalformedReason::Ipv4Truncated)?;
    if ip.version_ihl >> 4 != 4 {
        return Err(MalformedReason::Ipv4BadVersion);
    }
    let header_len = ((ip.version_ihl & 0x0f) as usize) * 4;
    if header_len < 20 || offset + header_len > frame_len {
        return Err(MalformedReason::Ipv4BadHeaderLength);
    }
    let total_len = be16(ip.total_len) as usize;
    if total_len < header_len || offset + total_len > frame_len {
        return Err(MalformedReason::Ipv4BadTotalLength);
    }
    site.ipv4 += 1;
    let fragment_offset = be16(ip.flags_fragment) & 0x1fff;
    let l4 = if fragment_offset == 0 {
        Some(offset + header_len)
    } else {
        None
    };
    Ok((v4_key(ip.src), v4_key(ip.dst), ip.protocol, l4))
}

#[inline(always)]
fn parse_ipv6(
    ctx: &XdpContext,
    site: &mut SiteCounters,
    offset: usize,
    frame_len: usize,
) -> Result<(HostKey, HostKey, u8, Option<usize>), MalformedReason> {
    let ip = read::<Ipv6Header>(ctx, offset).ok_or(MalformedReason::Ipv6Truncated)?;
    if ip.version_class_flow.to_ne_bytes()[0] >> 4 != 6 {
        return Err(MalformedReason::Ipv6BadVersion);
    }
    let payload_len = be16(ip.payload_len) as usize;
    if offset + 40 + payload_len > frame_len {
        return Err(MalformedReason::Ipv6Truncated);
    }
    site.ipv6 += 1;

    let mut next = ip.next_header;
    let mut at = offset + 40;
    let mut first_fragment = true;
    for _ in 0..IPV6_MAX_EXTENSIONS {
        match next {
            IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DEST_OPTIONS => {
                let ext = read::<Ipv6Extension>(ctx, at)
                    .ok_or(MalformedReason::Ipv6ExtensionTruncated)?;
                next = ext.next_header;
                at += (ext.len_units as usize + 1) * 8;
            }
            IPV6_FRAGMENT => {
                let frag =
                    read::<Ipv6Fragment>(ctx, at).ok_or(MalformedReason::Ipv6ExtensionTruncated)?;
                next = frag.next_header;
                if be16(frag.offset_flags) >> 3 != 0 {
                    first_fragment = false;
                }
                at += 8;
            }
            _ => break,
        }
        if at > frame_len {
            return Err(MalformedReason::Ipv6ExtensionTruncated);
        }
    }
    if matches!(
        next,
        IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DEST_OPTIONS | IPV6_FRAGMENT
    ) {
        return Err(MalformedReason::Ipv6ExtensionTooDeep);
    }
    let l4 = if first_fragment { Some(at) } else { None };
    Ok((v6_key(ip.src), v6_key(ip.dst), next, l4))
}

#[inline(always)]
fn parse_transport(
    ctx: &XdpContext,
    site: &mut SiteCounters,
    protocol: u8,
    at: usize,
) -> Result<Transport, MalformedReason> {
    match protocol {
        PROTO_TCP => {
            let tcp = read::<TcpHeader>(ctx, at).ok_or(MalformedReason::TcpTruncated)?;
            let header_len = ((tcp.offset_reserved >> 4) as usize) * 4;
            if header_len < 20 || ptr_at::<u8>(ctx, at + header_len - 1).is_none() {
                return Err(MalformedReason::TcpBadDataOffset);
            }
            site.tcp += 1;
            let syn = tcp.flags & 0x02 != 0;
            let ack = tcp.flags & 0x10 != 0;
            let rst = tcp.flags & 0x04 != 0;
            if syn && !ack {
                site.tcp_syn += 1;
            } else if syn {
                site.tcp_synack += 1;
            }
            if rst {
                site.tcp_rst += 1;
            }
            Ok(Transport::Tcp {
                src_port: be16(tcp.src_port),
                dst_port: be16(tcp.dst_port),
                syn,
                ack,
                rst,
            })
        }
        PROTO_UDP => {
            let udp = read::<UdpHeader>(ctx, at).ok_or(MalformedReason::UdpTruncated)?;
            let src_port = be16(udp.src_port);
            let dst_port = be16(udp.dst_port);
            let mut dns_query = false;
            let mut dns_answer = false;
            if src_port == DNS_PORT || dst_port == DNS_PORT {
                let dns = read::<DnsStart>(ctx, at + 8).ok_or(MalformedReason::DnsTruncated)?;
                if ptr_at::<[u8; DNS_HEADER]>(ctx, at + 8).is_none() {
                    return Err(MalformedReason::DnsTruncated);
                }
                let is_response = dns.flags_hi & 0x80 != 0;
                dns_query = dst_port == DNS_PORT && !is_response;
                dns_answer = src_port == DNS_PORT && is_response;
                if dns_query {
                    site.dns_queries += 1;
                }
                if dns_answer {
                    site.dns_answers += 1;
                }
            }
            site.udp += 1;
            Ok(Transport::Udp {
                src_port,
                dst_port,
                dns_query,
                dns_answer,
                dns_question_at: at + 8 + DNS_HEADER,
            })
        }
        PROTO_ICMP | PROTO_ICMPV6 => {
            ptr_at::<[u8; 4]>(ctx, at).ok_or(MalformedReason::IcmpTruncated)?;
            site.icmp += 1;
            Ok(Transport::Icmp)
        }
        _ => Ok(Transport::None),
    }
}
