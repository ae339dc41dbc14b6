//! The link layer: where the IP header starts. Ethernet (counting broadcast,
//! multicast and VLAN-tagged frames) with up to two VLAN tags of TPID
//! 0x8100, 0x88a8 or 0x9100, then IP directly, a PPPoE session (RFC 2516)
//! carrying IPv4 or IPv6, or an MPLS label stack (RFC 3032) of up to four
//! labels over IP; or raw IP on links without an Ethernet header.

use aya_ebpf::programs::XdpContext;
use sensor_common::{MalformedReason, SiteCounters};

use super::{be16, read};

const ETH_HEADER: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const TPID_8021Q: u16 = 0x8100;
const TPID_8021AD: u16 = 0x88a8;
const TPID_QINQ_LEGACY: u16 = 0x9100;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const ETHERTYPE_MPLS_UNICAST: u16 = 0x8847;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
/// MPLS labels followed before giving up.
const MPLS_MAX_LABELS: usize = 4;

/// Where a frame's layers begin.
#[repr(u8)]
#[derive(Clone, Copy)]
pub enum Start {
    /// An Ethernet header.
    Ethernet,
    /// An IP header (links without an Ethernet header).
    RawIp,
    /// An IPv4 header (inside GRE or Geneve).
    Ipv4,
    /// An IPv6 header (inside GRE or Geneve).
    Ipv6,
}

/// Where the IP header is, and which version.
#[derive(Clone, Copy)]
pub enum L3 {
    V4(u16),
    V6(u16),
}

/// What the link layer says about the sender.
#[derive(Clone, Copy, Default)]
pub struct Link {
    /// Source MAC as it sits in the frame.
    pub src_mac: [u16; 3],
    /// The innermost VLAN id (0: untagged).
    pub vlan: u16,
    /// Sent to a broadcast or multicast MAC address.
    pub to_group: bool,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct EthHeader {
    pub(super) dst: [u16; 3],
    pub(super) src: [u16; 3],
    pub(super) ethertype: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct VlanTag {
    tci: u16,
    ethertype: u16,
}

/// PPPoE session header and the PPP protocol field.
#[repr(C)]
#[derive(Clone, Copy)]
struct PppoeSession {
    version_type: u8,
    code: u8,
    session: u16,
    length: u16,
    protocol: u16,
}

#[inline(always)]
fn is_vlan_tpid(ethertype: u16) -> bool {
    ethertype == TPID_8021Q || ethertype == TPID_8021AD || ethertype == TPID_QINQ_LEGACY
}

/// What follows a raw-IP link header or an MPLS label stack.
enum Payload {
    Ip(L3),
    /// An IP version nibble, but fewer than four bytes of header.
    CutIp(MalformedReason),
    /// Not IP (a pseudowire, another protocol).
    Other,
    /// Nothing at all.
    Empty,
}

/// The IP version from the first nibble at `at` (raw IP and MPLS payloads).
/// Reads four bytes when it can (no IP header is shorter), else two, else
/// the last byte together with the one before it: a lone one-byte read at a
/// computed offset compiles to a bounds check the verifier cannot use. (A
/// raw-IP frame of one byte has no byte before it and counts as non-IP.)
#[inline(always)]
fn payload(ctx: &XdpContext, at: usize) -> Payload {
    let (first, whole) = if let Some(bytes) = read::<[u8; 4]>(ctx, at) {
        (bytes[0], true)
    } else if let Some(bytes) = read::<[u8; 2]>(ctx, at) {
        (bytes[0], false)
    } else if let Some(bytes) = at
        .checked_sub(1)
        .and_then(|before| read::<[u8; 2]>(ctx, before))
    {
        // Exactly one byte left: read it with the byte before it.
        (bytes[1], false)
    } else {
        return Payload::Empty;
    };
    match (first >> 4, whole) {
        (4, true) => Payload::Ip(L3::V4(at as u16)),
        (6, true) => Payload::Ip(L3::V6(at as u16)),
        (4, false) => Payload::CutIp(MalformedReason::Ipv4Truncated),
        (6, false) => Payload::CutIp(MalformedReason::Ipv6Truncated),
        _ => Payload::Other,
    }
}

/// Finds the IP header. `Ok(None)`: not IP (counted as non-IP).
#[inline(always)]
pub fn parse(
    ctx: &XdpContext,
    site: &mut SiteCounters,
    at: usize,
    start: Start,
    link: &mut Link,
) -> Result<Option<L3>, MalformedReason> {
    match start {
        Start::Ipv4 => return Ok(Some(L3::V4((at) as u16))),
        Start::Ipv6 => return Ok(Some(L3::V6((at) as u16))),
        Start::RawIp => {
            return match payload(ctx, at) {
                Payload::Ip(l3) => Ok(Some(l3)),
                Payload::CutIp(reason) => Err(reason),
                Payload::Other | Payload::Empty => {
                    site.non_ip += 1;
                    Ok(None)
                }
            };
        }
        Start::Ethernet => {}
    }
    let eth = read::<EthHeader>(ctx, at).ok_or(MalformedReason::EthTruncated)?;
    if eth.dst == [0xffff; 3] {
        site.broadcast += 1;
    } else if eth.dst[0].to_ne_bytes()[0] & 1 == 1 {
        site.multicast += 1;
    }
    link.src_mac = eth.src;
    link.to_group = eth.dst[0].to_ne_bytes()[0] & 1 == 1;

    let mut ethertype = be16(eth.ethertype);
    let mut offset = at + ETH_HEADER;
    if ethertype == ETHERTYPE_IPV4 {
        return Ok(Some(L3::V4((offset) as u16)));
    }
    let mut tagged = false;
    // Two tags at most (outer service tag, inner customer tag); unrolled.
    for _ in 0..2 {
        if !is_vlan_tpid(ethertype) {
            break;
        }
        let tag = read::<VlanTag>(ctx, offset).ok_or(MalformedReason::VlanTruncated)?;
        tagged = true;
        // The innermost tag names the customer's network.
        link.vlan = be16(tag.tci) & 0x0fff;
        ethertype = be16(tag.ethertype);
        offset += 4;
    }
    if tagged {
        site.vlan_tagged += 1;
    }
    match ethertype {
        ETHERTYPE_IPV4 => Ok(Some(L3::V4((offset) as u16))),
        ETHERTYPE_IPV6 => Ok(Some(L3::V6((offset) as u16))),
        ETHERTYPE_PPPOE_SESSION => {
            let pppoe = read::<PppoeSession>(ctx, offset).ok_or(MalformedReason::PppoeTruncated)?;
            site.pppoe += 1;
            match be16(pppoe.protocol) {
                PPP_IPV4 => Ok(Some(L3::V4((offset + 8) as u16))),
                PPP_IPV6 => Ok(Some(L3::V6((offset + 8) as u16))),
                _ => {
                    // LCP, IPCP and the like.
                    site.non_ip += 1;
                    Ok(None)
                }
            }
        }
        ETHERTYPE_MPLS_UNICAST => {
            site.mpls += 1;
            for _ in 0..MPLS_MAX_LABELS {
                let entry = read::<[u8; 4]>(ctx, offset).ok_or(MalformedReason::MplsTruncated)?;
                offset += 4;
                if entry[2] & 1 == 1 {
                    // Bottom of the stack: IP follows, or a pseudowire.
                    return match payload(ctx, offset) {
                        Payload::Ip(l3) => Ok(Some(l3)),
                        Payload::CutIp(reason) => Err(reason),
                        Payload::Empty => Err(MalformedReason::MplsTruncated),
                        Payload::Other => {
                            site.non_ip += 1;
                            Ok(None)
                        }
                    };
                }
            }
            Err(MalformedReason::MplsTooDeep)
        }
        other if is_vlan_tpid(other) => Err(MalformedReason::VlanTooDeep),
        _ => {
            site.non_ip += 1;
            Ok(None)
        }
    }
}
