//! Header parsing, one pass per frame: the link layer ([`link`]: Ethernet
//! with up to two VLAN tags of any common TPID, PPPoE sessions, MPLS label
//! stacks, or raw IP on links without an Ethernet header), the network layer
//! ([`ip`]: IPv4 with options and fragments, IPv6 with extension, AH and ESP
//! headers), the transport ([`transport`]: TCP, UDP, ICMP, DNS over UDP and
//! TCP when it really is DNS), and, where the settings say so, one tunnel
//! ([`tunnel`]: VXLAN, Geneve, GRE, ERSPAN II/III) whose inner frame is then
//! parsed the same way. Common frames (untagged Ethernet, IPv4 without
//! options or IPv6 without extensions, TCP or UDP that is neither DNS nor a
//! tunnel) take a straight [`fast`] pass that counts the same.
//!
//! Counting fails open, policy never does: once the source and destination
//! addresses are readable the packet is an [`Parsed::Ip`], whatever follows
//! the IP header (an extension chain of any length, an unknown protocol, a
//! cut transport header, a non-first fragment); what was wrong is counted
//! under its [`MalformedReason`], the packet counts for its hosts, and host
//! and prefix blocks and the allowlist apply. Ports are kept whenever they
//! are readable, so flow blocks apply too.
//!
//! Every read goes through [`ptr_at`], the one bounds-checked accessor.

mod fast;
pub mod ip;
pub mod link;
pub mod transport;
pub mod tunnel;

use aya_ebpf::programs::XdpContext;
use sensor_common::{host::addr_mix, HostKey, MalformedReason, Settings, SiteCounters};

use crate::facts::{facts, FACT_LOCAL};
pub use transport::{Dns, Transport, TransportKind};

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

/// Largest frame offset the program reads at (the linear part of a frame is
/// one page at most); an offset read back from memory is masked with it so
/// the verifier sees it bounded (a full u16 is not enough: the verifier
/// wants offset plus access size within 0xffff).
pub const OFFSET_MASK: usize = 0x3fff;

/// A frame offset stored as u16, bounded for use with the packet.
#[inline(always)]
pub fn offset(stored: u16) -> usize {
    bounded(stored as usize, OFFSET_MASK)
}

/// Reads a `T` (made of byte arrays or naturally aligned integers, loaded
/// as the verifier allows on x86_64 and arm64) at `offset`.
#[inline(always)]
pub fn read<T: Copy>(ctx: &XdpContext, offset: usize) -> Option<T> {
    ptr_at::<T>(ctx, offset).map(|p| unsafe { *p })
}

/// Converts a network-order field to host order.
#[inline(always)]
pub fn be16(raw: u16) -> u16 {
    u16::from_be(raw)
}

/// Counts a malformed frame under `reason`.
#[inline(always)]
pub fn count_malformed(site: &mut SiteCounters, reason: MalformedReason) {
    site.malformed[bounded(reason as usize, sensor_common::site::MALFORMED_REASONS - 1)] += 1;
}

/// An IP packet's addresses and what the sensor needs from its headers.
#[derive(Clone, Copy)]
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
    /// A DNS query or answer (over UDP or TCP), checked to look like one.
    pub dns: Dns,
    /// Frame offset of the DNS message's header (valid when `dns` is not
    /// [`Dns::None`]).
    pub dns_at: u16,
    /// Source MAC as it sits in the frame (zero on a raw-IP link).
    pub src_mac: [u16; 3],
    pub vlan: u16,
    /// Bytes counted for the packet's hosts: the whole frame, or the inner
    /// frame of an opened tunnel.
    pub len: u32,
    /// Frame offset of the IP header (the inner one for an opened tunnel).
    pub l3_at: u16,
    /// Frame offset of the transport header; 0 when it cannot be read.
    pub l4_at: u16,
    /// Where the packet sits relative to an opened tunnel.
    pub tunnel: Tunneled,
    /// The frame went to a broadcast or multicast MAC address: its
    /// destination IP (a subnet broadcast address, say) is not a host.
    pub to_group: bool,
    /// IP and transport header words that differ between packets of one
    /// flow (IPv4 id, fragment field and checksum, or IPv6 flow label and
    /// length; TCP sequence, acknowledgement, flags and window, or UDP
    /// length and checksum), for the duplicate fingerprint (see `dedup`).
    pub varies: u64,
    /// `sensor_common::host::addr_mix` of each address: the one hash of it
    /// that the caches, the host table and the sketches use.
    pub src_mix: u64,
    pub dst_mix: u64,
}

/// A packet's relation to an opened tunnel.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Tunneled {
    /// No tunnel opened: the frame's own packet.
    No,
    /// The inner packet of an opened tunnel; the outer endpoints are in
    /// this CPU's [`crate::maps::OUTER`] slot (blocks apply to them too:
    /// the frame travels to the outer destination).
    Inner,
    /// The outer packet of an opened tunnel whose inner frame could not be
    /// parsed (counted as malformed or non-IP): not accounted to any host,
    /// but blocks on its endpoints apply.
    OuterOnly,
}

/// The outer endpoints of an opened tunnel, and what the maps say of them.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Outer {
    pub src: HostKey,
    pub dst: HostKey,
    pub src_facts: u32,
    pub dst_facts: u32,
}

/// Why [`layers`] found no IP packet.
enum Unparsed {
    NotIp,
    Malformed(MalformedReason),
}

pub enum Parsed {
    /// The packet, in this CPU's scratch slot (see [`merge`]).
    Ip(&'static Packet),
    NotIp,
    Malformed,
}

/// One pass over the headers from `at`: link (unless `raw_ip`), IP, transport.
#[inline(always)]
fn layers(
    ctx: &XdpContext,
    site: &mut SiteCounters,
    at: usize,
    start: link::Start,
    frame_len: usize,
    link: &mut link::Link,
) -> Result<(ip::Ip, transport::L4), Unparsed> {
    let l3 = match link::parse(ctx, site, at, start, link) {
        Ok(Some(l3)) => l3,
        Ok(None) => return Err(Unparsed::NotIp),
        Err(reason) => return Err(Unparsed::Malformed(reason)),
    };
    // Offsets read back from memory are masked (see `offset`).
    let l3 = match l3 {
        link::L3::V4(at) => link::L3::V4(offset(at) as u16),
        link::L3::V6(at) => link::L3::V6(offset(at) as u16),
    };
    let ip = match ip::parse(ctx, site, l3, frame_len) {
        Ok(ip) => ip,
        Err(reason) => return Err(Unparsed::Malformed(reason)),
    };
    let ip = forget(ip);
    let l4 = transport::parse(ctx, site, &ip);
    Ok((ip, l4))
}

/// Passes a value through this CPU's scratch slot and reads it back where
/// the compiler cannot see it coming from.
///
/// The parser's paths end each stage with different known values (which
/// link layer, which offsets, which transport); to the verifier a value read
/// from map memory is just a number, so the paths merge here and the next
/// stage is checked once, not once per way through the previous one. Offsets
/// read back must be masked again before they index the packet.
#[inline(always)]
pub fn forget<T: Copy>(value: T) -> T {
    const { assert!(core::mem::size_of::<T>() <= core::mem::size_of::<crate::maps::Scratch>()) };
    let Some(slot) = crate::maps::SCRATCH.get_ptr_mut(0) else {
        return value;
    };
    let slot = slot.cast::<T>();
    // SAFETY: this CPU's slot is large enough (checked above) and aligned to
    // 8 bytes, and nothing else uses it during this program's run.
    unsafe {
        slot.write(value);
        core::hint::black_box(slot).read()
    }
}

/// Parses one frame; `raw_ip` for links without an Ethernet header.
#[inline(always)]
pub fn parse(
    ctx: &XdpContext,
    site: &mut SiteCounters,
    settings: &Settings,
    raw_ip: bool,
    frame_len: usize,
) -> Parsed {
    if !raw_ip {
        let Some(slot) = crate::maps::PACKET.get_ptr_mut(0) else {
            return Parsed::NotIp;
        };
        // SAFETY: this CPU's slot, valid for the program's run.
        let slot = unsafe { &mut *slot };
        if fast::parse(ctx, site, frame_len, slot) {
            let (src_mix, dst_mix) = (addr_mix(&slot.src), addr_mix(&slot.dst));
            slot.src_mix = src_mix;
            slot.dst_mix = dst_mix;
            let src_facts = facts(&slot.src, src_mix, settings);
            let dst_facts = facts(&slot.dst, dst_mix, settings);
            slot.src_facts = src_facts;
            slot.dst_facts = dst_facts;
            slot.src_local = src_facts & FACT_LOCAL != 0;
            slot.dst_local = dst_facts & FACT_LOCAL != 0;
            return Parsed::Ip(slot);
        }
    }
    let mut link = link::Link::default();
    let start = if raw_ip {
        site.raw_ip += 1;
        link::Start::RawIp
    } else {
        link::Start::Ethernet
    };
    let (mut ip, mut l4) = match layers(ctx, site, 0, start, frame_len, &mut link) {
        Ok(found) => found,
        Err(Unparsed::NotIp) => return Parsed::NotIp,
        Err(Unparsed::Malformed(reason)) => {
            count_malformed(site, reason);
            return Parsed::Malformed;
        }
    };
    let mut len = frame_len as u32;
    let mut tunneled = Tunneled::No;
    let mut outer = None;
    let found = l4.tunnel;
    match found.state {
        tunnel::TunnelState::None => {}
        tunnel::TunnelState::Unopened => site.encap_unopened += 1,
        tunnel::TunnelState::Open => {
            let (kind, start) = (found.kind, found.start);
            let inner = offset(found.inner);
            if settings.flags & (sensor_common::policy::SETTING_DECAP_VXLAN << (kind as u32)) == 0 {
                site.encap_unopened += 1;
            } else {
                site.decapsulated[bounded(kind as usize, sensor_common::site::ENCAP_KINDS - 1)] +=
                    1;
                // The inner frame is what the mirrored port carried: its
                // hosts, its MAC and VLAN, its length.
                let mut inner_link = link::Link::default();
                match layers(ctx, site, inner, start, frame_len, &mut inner_link) {
                    Ok((inner_ip, inner_l4)) => {
                        // One level is opened: a tunnel inside is counted.
                        if inner_l4.tunnel.state != tunnel::TunnelState::None {
                            site.encap_unopened += 1;
                        }
                        outer = Some((ip.src, ip.dst));
                        ip = inner_ip;
                        l4 = inner_l4;
                        link = inner_link;
                        len = frame_len.saturating_sub(inner) as u32;
                        tunneled = Tunneled::Inner;
                    }
                    Err(unparsed) => {
                        match unparsed {
                            Unparsed::NotIp => {}
                            Unparsed::Malformed(reason) => {
                                count_malformed(site, inner_reason(reason))
                            }
                        }
                        // The outer packet still goes where it is addressed.
                        tunneled = Tunneled::OuterOnly;
                    }
                }
            }
        }
    }
    if let Some((src, dst)) = outer {
        if let Some(slot) = crate::maps::OUTER.get_ptr_mut(0) {
            // SAFETY: this CPU's slot, valid for the program's run.
            unsafe {
                slot.write(Outer {
                    src,
                    dst,
                    src_facts: facts(&src, addr_mix(&src), settings),
                    dst_facts: facts(&dst, addr_mix(&dst), settings),
                });
            }
        }
    }
    let (src_mix, dst_mix) = (addr_mix(&ip.src), addr_mix(&ip.dst));
    let src_facts = facts(&ip.src, src_mix, settings);
    let dst_facts = facts(&ip.dst, dst_mix, settings);
    merge(Packet {
        src_local: src_facts & FACT_LOCAL != 0,
        dst_local: dst_facts & FACT_LOCAL != 0,
        src_facts,
        dst_facts,
        src: ip.src,
        dst: ip.dst,
        protocol: ip.protocol,
        transport: l4.transport,
        dns: l4.dns,
        dns_at: l4.dns_at,
        src_mac: link.src_mac,
        vlan: link.vlan,
        len,
        l3_at: ip.at,
        l4_at: ip.l4,
        tunnel: tunneled,
        to_group: link.to_group,
        varies: varies(ctx, ip.at, ip.l4),
        src_mix,
        dst_mix,
    })
}

/// [`Packet::varies`] for a frame the general parser read: the same header
/// words the fast path takes, read again (IPv4 from its fifth byte, IPv6
/// from its first; the transport header after its ports).
#[inline(always)]
fn varies(ctx: &XdpContext, l3: u16, l4: u16) -> u64 {
    let mut varies = read::<u64>(ctx, offset(l3) + 4).unwrap_or(0);
    if l4 != 0 {
        let at = offset(l4) + 4;
        varies ^= read::<u64>(ctx, at).unwrap_or(0).rotate_left(13);
        varies ^= u64::from(read::<u32>(ctx, at + 8).unwrap_or(0)).rotate_left(29);
    }
    varies
}

/// The reason an opened tunnel's inner frame is counted under: cut before
/// its IP addresses is [`MalformedReason::InnerTruncated`] (the outer
/// packet's lengths said it was whole); anything else keeps its own reason.
#[inline(always)]
fn inner_reason(reason: MalformedReason) -> MalformedReason {
    match reason {
        MalformedReason::EthTruncated
        | MalformedReason::VlanTruncated
        | MalformedReason::PppoeTruncated
        | MalformedReason::MplsTruncated
        | MalformedReason::Ipv4Truncated
        | MalformedReason::Ipv6Truncated => MalformedReason::InnerTruncated,
        other => other,
    }
}

/// Passes the packet through a per-CPU map slot and hands back a reference
/// to the slot.
///
/// The many ways through the parser end with different known values in
/// registers (which transport, which DNS kind, which offsets); read from map
/// memory through a pointer the compiler cannot see through, they are just
/// numbers, so the verifier checks the rest of the program once instead of
/// once per way through the parser.
#[inline(always)]
fn merge(packet: Packet) -> Parsed {
    let Some(slot) = crate::maps::PACKET.get_ptr_mut(0) else {
        return Parsed::NotIp;
    };
    // SAFETY: this CPU's slot, valid for the program's run.
    unsafe {
        slot.write(packet);
        Parsed::Ip(&*slot)
    }
}
