//! The network layer: IPv4 (options, fragments, AH) and IPv6 (hop-by-hop,
//! routing, destination options, fragment and AH headers, any number of
//! them). Once the fixed header is there with the right version, the
//! addresses are known and the packet is returned, whatever follows: a
//! non-first fragment, ESP, a chain longer than the parser follows or cut
//! short only leave the transport unknown (`l4: 0`) and are counted. A
//! length field that claims more than the frame holds is counted and leaves
//! only the transport's ports to be read (`ports_only`).

use aya_ebpf::programs::XdpContext;
use sensor_common::{Addr16, HostKey, MalformedReason, SiteCounters};

use super::{be16, count_malformed, link::L3, read};

const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_DEST_OPTIONS: u8 = 60;
const PROTO_ESP: u8 = 50;
const PROTO_AH: u8 = 51;
/// Extension headers (AH included) followed before the rest counts as too deep.
const IPV6_MAX_EXTENSIONS: usize = 8;

/// What the network layer found.
#[derive(Clone, Copy)]
pub struct Ip {
    pub src: HostKey,
    pub dst: HostKey,
    /// The transport protocol (after any extension and AH headers).
    pub protocol: u8,
    /// Frame offset of the transport header, or 0 when it cannot be read
    /// (an IP header always comes first, so 0 is never a transport's
    /// offset). A plain number: an `Option`'s empty payload is undefined
    /// and the compiler may fill it from a pointer, which older verifiers
    /// reject.
    pub l4: u16,
    /// Frame offset where the IP packet ends (its own length, not Ethernet padding).
    pub end: u32,
    /// Frame offset of the IP header.
    pub at: u16,
    /// The IP length field claims more than the frame holds (counted as
    /// malformed): the transport's ports are still read, for the flow
    /// blocks, but nothing after them is trusted.
    pub ports_only: bool,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Ipv4Header {
    pub(crate) version_ihl: u8,
    pub(crate) tos: u8,
    pub(crate) total_len: u16,
    pub(crate) id: u16,
    pub(crate) flags_fragment: u16,
    pub(crate) ttl: u8,
    pub(crate) protocol: u8,
    pub(crate) checksum: u16,
    pub(crate) src: u32,
    pub(crate) dst: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Ipv6Header {
    pub(crate) version_class_flow: u32,
    pub(crate) payload_len: u16,
    pub(crate) next_header: u8,
    pub(crate) hop_limit: u8,
    pub(crate) src: [u64; 2],
    pub(crate) dst: [u64; 2],
}

/// The first two bytes of an extension or AH header.
#[repr(C)]
#[derive(Clone, Copy)]
struct NextAndLength {
    next_header: u8,
    len: u8,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Ipv6Fragment {
    next_header: u8,
    reserved: u8,
    offset_flags: u16,
    id: u32,
}

/// An IPv4 address (as loaded from the frame) in the IPv4-mapped key form,
/// built as two words so that it is stored, and read back, a word at a
/// time (a word read of narrower stores waits for them to drain).
#[inline(always)]
pub(crate) fn v4_key(raw: u32) -> HostKey {
    // ::ffff:a.b.c.d: bytes 10 and 11 are 0xff, the address follows.
    #[cfg(target_endian = "little")]
    let low = 0xffff_0000u64 | (raw as u64) << 32;
    #[cfg(target_endian = "big")]
    let low = 0xffffu64 << 32 | raw as u64;
    key_of_words([0, low])
}

/// An IPv6 address as loaded from the frame (two words).
#[inline(always)]
pub(crate) fn v6_key(raw: [u64; 2]) -> HostKey {
    key_of_words(raw)
}

#[inline(always)]
fn key_of_words(words: [u64; 2]) -> HostKey {
    // SAFETY: same size, no invalid bit patterns.
    HostKey {
        addr: unsafe { core::mem::transmute::<[u64; 2], Addr16>(words) },
    }
}

/// Parses the IP header at `l3`. `Err` only when there are no addresses to
/// read (too short, or the wrong version).
#[inline(always)]
pub fn parse(
    ctx: &XdpContext,
    site: &mut SiteCounters,
    l3: L3,
    frame_len: usize,
) -> Result<Ip, MalformedReason> {
    match l3 {
        L3::V4(at) => ipv4(ctx, site, super::offset(at), frame_len),
        L3::V6(at) => ipv6(ctx, site, super::offset(at), frame_len),
    }
}

#[inline(always)]
fn ipv4(
    ctx: &XdpContext,
    site: &mut SiteCounters,
    at: usize,
    frame_len: usize,
) -> Result<Ip, MalformedReason> {
    let ip = read::<Ipv4Header>(ctx, at).ok_or(MalformedReason::Ipv4Truncated)?;
    if ip.version_ihl >> 4 != 4 {
        return Err(MalformedReason::Ipv4BadVersion);
    }
    site.ipv4 += 1;
    let mut packet = Ip {
        src: v4_key(ip.src),
        dst: v4_key(ip.dst),
        protocol: ip.protocol,
        l4: 0,
        end: frame_len as u32,
        at: at as u16,
        ports_only: false,
    };
    let header_len = ((ip.version_ihl & 0x0f) as usize) * 4;
    let total_len = be16(ip.total_len) as usize;
    if header_len < IPV4_HEADER || at + header_len > frame_len {
        count_malformed(site, MalformedReason::Ipv4BadHeaderLength);
        return Ok(packet);
    }
    if total_len < header_len || at + total_len > frame_len {
        count_malformed(site, MalformedReason::Ipv4BadTotalLength);
        packet.ports_only = true;
    } else {
        packet.end = (at + total_len) as u32;
    }
    if be16(ip.flags_fragment) & 0x1fff != 0 {
        site.fragments += 1;
        return Ok(packet);
    }
    let mut l4 = at + header_len;
    if packet.protocol == PROTO_AH {
        // RFC 4302: the length is in 4-byte units, minus 2.
        let Some(ah) = read::<NextAndLength>(ctx, l4) else {
            count_malformed(site, MalformedReason::AhTruncated);
            return Ok(packet);
        };
        packet.protocol = ah.next_header;
        l4 += (ah.len as usize + 2) * 4;
    }
    if packet.protocol == PROTO_ESP {
        site.esp += 1;
        return Ok(packet);
    }
    packet.l4 = l4 as u16;
    Ok(packet)
}

#[inline(always)]
fn ipv6(
    ctx: &XdpContext,
    site: &mut SiteCounters,
    at: usize,
    frame_len: usize,
) -> Result<Ip, MalformedReason> {
    let ip = read::<Ipv6Header>(ctx, at).ok_or(MalformedReason::Ipv6Truncated)?;
    if ip.version_class_flow.to_ne_bytes()[0] >> 4 != 6 {
        return Err(MalformedReason::Ipv6BadVersion);
    }
    site.ipv6 += 1;
    let mut packet = Ip {
        src: v6_key(ip.src),
        dst: v6_key(ip.dst),
        protocol: ip.next_header,
        l4: 0,
        end: frame_len as u32,
        at: at as u16,
        ports_only: false,
    };
    let payload_len = be16(ip.payload_len) as usize;
    if at + IPV6_HEADER + payload_len > frame_len {
        count_malformed(site, MalformedReason::Ipv6BadPayloadLength);
        packet.ports_only = true;
    } else {
        packet.end = (at + IPV6_HEADER + payload_len) as u32;
    }
    let mut next = ip.next_header;
    let mut offset = at + IPV6_HEADER;
    for _ in 0..IPV6_MAX_EXTENSIONS {
        match next {
            IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DEST_OPTIONS => {
                let Some(ext) = read::<NextAndLength>(ctx, offset) else {
                    count_malformed(site, MalformedReason::Ipv6ExtensionTruncated);
                    return Ok(packet);
                };
                next = ext.next_header;
                offset += (ext.len as usize + 1) * 8;
            }
            IPV6_FRAGMENT => {
                let Some(frag) = read::<Ipv6Fragment>(ctx, offset) else {
                    count_malformed(site, MalformedReason::Ipv6ExtensionTruncated);
                    return Ok(packet);
                };
                next = frag.next_header;
                offset += 8;
                if be16(frag.offset_flags) >> 3 != 0 {
                    site.fragments += 1;
                    packet.protocol = next;
                    return Ok(packet);
                }
            }
            PROTO_AH => {
                let Some(ah) = read::<NextAndLength>(ctx, offset) else {
                    count_malformed(site, MalformedReason::AhTruncated);
                    return Ok(packet);
                };
                next = ah.next_header;
                offset += (ah.len as usize + 2) * 4;
            }
            _ => break,
        }
        if offset > packet.end as usize {
            count_malformed(site, MalformedReason::Ipv6ExtensionTruncated);
            return Ok(packet);
        }
    }
    packet.protocol = next;
    match next {
        IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DEST_OPTIONS | IPV6_FRAGMENT | PROTO_AH => {
            count_malformed(site, MalformedReason::Ipv6ExtensionTooDeep);
        }
        PROTO_ESP => site.esp += 1,
        _ => packet.l4 = offset as u16,
    }
    Ok(packet)
}
