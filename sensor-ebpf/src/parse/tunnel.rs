//! Tunnels a mirror port may deliver copies in: VXLAN (RFC 7348, UDP 4789),
//! Geneve (RFC 8926, UDP 6081), GRE (RFC 2784/2890, IP protocol 47) carrying
//! IP or transparent Ethernet bridging, and ERSPAN type II and III inside
//! GRE. Recognising one says where its inner frame starts; whether it is
//! opened is the settings' choice (`parse` decides). IP-in-IP and
//! 6in4 are recognised but never opened.

use aya_ebpf::programs::XdpContext;
use sensor_common::{EncapKind, MalformedReason, SiteCounters};

use super::{be16, count_malformed, link::Start, read};

pub(super) const VXLAN_PORT: u16 = 4789;
pub(super) const GENEVE_PORT: u16 = 6081;
const VXLAN_HEADER: usize = 8;
const GENEVE_HEADER: usize = 8;
const GRE_HEADER: usize = 4;
const ETHERTYPE_TEB: u16 = 0x6558;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_ERSPAN_II: u16 = 0x88be;
const ETHERTYPE_ERSPAN_III: u16 = 0x22eb;
const ERSPAN_II_HEADER: usize = 8;
const ERSPAN_III_HEADER: usize = 12;
const ERSPAN_III_SUBHEADER: usize = 8;
const GRE_CHECKSUM: u16 = 0x8000;
const GRE_KEY: u16 = 0x2000;
const GRE_SEQUENCE: u16 = 0x1000;

/// Whether a packet carries a tunnel, and whether it can be opened.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TunnelState {
    None,
    /// One the sensor knows how to open (see [`Tunnel`]'s other fields).
    Open,
    /// One it recognises but does not open (IP-in-IP, 6in4, PPTP's GRE,
    /// a payload it cannot name, or a header cut short).
    Unopened,
}

/// A tunnel found in a packet: for an open one, its kind, and where and how
/// the inner frame starts. A plain struct whose every byte is always
/// written (see `transport::Transport` for why not an enum with payloads).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Tunnel {
    pub state: TunnelState,
    pub kind: EncapKind,
    pub start: Start,
    _padding: u8,
    /// Frame offset of the inner frame (0 unless open).
    pub inner: u16,
}

const _: () = assert!(core::mem::size_of::<Tunnel>() == 6);

impl Tunnel {
    /// No tunnel.
    pub const NONE: Tunnel = Tunnel {
        state: TunnelState::None,
        kind: EncapKind::Vxlan,
        start: Start::Ethernet,
        _padding: 0,
        inner: 0,
    };

    /// A tunnel recognised but not opened.
    pub const UNOPENED: Tunnel = Tunnel {
        state: TunnelState::Unopened,
        ..Tunnel::NONE
    };

    /// A tunnel of `kind` whose inner frame starts at `inner` with `start`.
    #[inline(always)]
    pub fn open(kind: EncapKind, inner: u16, start: Start) -> Tunnel {
        Tunnel {
            state: TunnelState::Open,
            kind,
            start,
            _padding: 0,
            inner,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy)]
struct GreHeader {
    flags_version: u16,
    protocol: u16,
}

/// What an inner EtherType names as the start of the inner frame.
#[inline(always)]
fn inner_start(protocol: u16) -> Option<Start> {
    match protocol {
        ETHERTYPE_TEB => Some(Start::Ethernet),
        ETHERTYPE_IPV4 => Some(Start::Ipv4),
        ETHERTYPE_IPV6 => Some(Start::Ipv6),
        _ => None,
    }
}

/// A UDP tunnel by its destination port; `payload` and `len` are the
/// datagram's payload.
#[inline(always)]
pub fn udp(
    ctx: &XdpContext,
    site: &mut SiteCounters,
    dst_port: u16,
    payload: usize,
    len: usize,
) -> Tunnel {
    match dst_port {
        VXLAN_PORT => {
            let Some(header) =
                read::<[u8; VXLAN_HEADER]>(ctx, payload).filter(|_| len >= VXLAN_HEADER)
            else {
                count_malformed(site, MalformedReason::TunnelTruncated);
                return Tunnel::UNOPENED;
            };
            // The I flag says the VNI is valid; without it this is not VXLAN.
            if header[0] & 0x08 == 0 {
                return Tunnel::NONE;
            }
            Tunnel::open(
                EncapKind::Vxlan,
                (payload + VXLAN_HEADER) as u16,
                Start::Ethernet,
            )
        }
        GENEVE_PORT => {
            let Some(header) =
                read::<[u8; GENEVE_HEADER]>(ctx, payload).filter(|_| len >= GENEVE_HEADER)
            else {
                count_malformed(site, MalformedReason::TunnelTruncated);
                return Tunnel::UNOPENED;
            };
            if header[0] >> 6 != 0 {
                // A Geneve version this parser does not know.
                return Tunnel::UNOPENED;
            }
            let options = ((header[0] & 0x3f) as usize) * 4;
            if len < GENEVE_HEADER + options {
                count_malformed(site, MalformedReason::TunnelTruncated);
                return Tunnel::UNOPENED;
            }
            let protocol = u16::from_be_bytes([header[2], header[3]]);
            match inner_start(protocol) {
                Some(start) => Tunnel::open(
                    EncapKind::Geneve,
                    (payload + GENEVE_HEADER + options) as u16,
                    start,
                ),
                None => Tunnel::UNOPENED,
            }
        }
        _ => Tunnel::NONE,
    }
}

/// A GRE packet at `at`, in an IP packet ending at frame offset `end`:
/// plain GRE over IP or Ethernet, or ERSPAN. A header that does not fit
/// before `end` is `TunnelTruncated` and left unopened.
#[inline(always)]
pub fn gre(ctx: &XdpContext, site: &mut SiteCounters, at: usize, end: usize) -> Tunnel {
    let Some(gre) = read::<GreHeader>(ctx, at) else {
        count_malformed(site, MalformedReason::TunnelTruncated);
        return Tunnel::UNOPENED;
    };
    let flags = be16(gre.flags_version);
    if flags & 0x0007 != 0 {
        // Version 1 is PPTP's enhanced GRE: not a mirror.
        return Tunnel::UNOPENED;
    }
    let mut header = GRE_HEADER;
    if flags & GRE_CHECKSUM != 0 {
        header += 4;
    }
    if flags & GRE_KEY != 0 {
        header += 4;
    }
    if flags & GRE_SEQUENCE != 0 {
        header += 4;
    }
    let payload = at + header;
    let protocol = be16(gre.protocol);
    let (kind, inner, start) = match protocol {
        ETHERTYPE_ERSPAN_II => (
            EncapKind::Erspan,
            payload + ERSPAN_II_HEADER,
            Start::Ethernet,
        ),
        ETHERTYPE_ERSPAN_III => {
            // The O flag (last bit of the header) adds a platform subheader.
            let Some(erspan) = read::<[u8; ERSPAN_III_HEADER]>(ctx, payload) else {
                count_malformed(site, MalformedReason::TunnelTruncated);
                return Tunnel::UNOPENED;
            };
            let subheader = if erspan[11] & 0x01 != 0 {
                ERSPAN_III_SUBHEADER
            } else {
                0
            };
            (
                EncapKind::Erspan,
                payload + ERSPAN_III_HEADER + subheader,
                Start::Ethernet,
            )
        }
        _ => match inner_start(protocol) {
            Some(start) => (EncapKind::Gre, payload, start),
            None => return Tunnel::UNOPENED,
        },
    };
    if inner > end {
        count_malformed(site, MalformedReason::TunnelTruncated);
        return Tunnel::UNOPENED;
    }
    Tunnel::open(kind, inner as u16, start)
}
