//! Tunnels: VXLAN, Geneve, GRE and ERSPAN (II and III), each wrapping a
//! complete inner [`Frame`] in the outer frame's IP packet.
//!
//! The tunnel bytes (tunnel header and inner frame) are the payload of the
//! outer transport: VXLAN and Geneve set UDP, GRE and ERSPAN set IP protocol
//! 47 with no transport header. A later `.udp(..)` changes the ports (a
//! tunnel on another port, or GRE in UDP); a later `.payload(..)` removes the
//! tunnel.
//!
//! The outer UDP checksum is always computed, over IPv4 as over IPv6, like
//! any other UDP checksum of this builder. RFC 7348 and RFC 8926 allow a
//! sender to put 0 there over IPv4; tests that want that can clear bytes
//! `transport + 6..transport + 8`, which leaves every other field valid.

use super::{checksum, ip::Network, transport::Transport, Frame, Layout};

/// The IANA VXLAN port (UDP destination of [`Frame::vxlan`]).
pub const VXLAN_PORT: u16 = 4789;
/// The IANA Geneve port (UDP destination of [`Frame::geneve`]).
pub const GENEVE_PORT: u16 = 6081;
/// The UDP source port of VXLAN and Geneve frames (a real endpoint derives it
/// from a hash of the inner flow).
pub const TUNNEL_SOURCE_PORT: u16 = 49152;

/// IP protocol number of GRE.
const PROTO_GRE: u8 = 47;
/// Transparent Ethernet Bridging: an Ethernet frame inside GRE or Geneve.
const ETHERTYPE_TEB: u16 = 0x6558;
/// GRE protocol type of ERSPAN type II.
const GRE_ERSPAN_II: u16 = 0x88be;
/// GRE protocol type of ERSPAN type III.
const GRE_ERSPAN_III: u16 = 0x22eb;

/// The optional fields of a GRE header (RFC 2784, RFC 2890), in the order
/// they appear; each adds 4 bytes to the 4-byte base header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gre {
    /// C bit: a checksum over the GRE header and its payload, then 2
    /// reserved bytes.
    pub checksum: bool,
    /// K bit: a 4-byte key.
    pub key: Option<u32>,
    /// S bit: a 4-byte sequence number.
    pub sequence: Option<u32>,
    /// The protocol type; `None` takes it from the inner frame: 0x0800 or
    /// 0x86DD for a raw IP inner frame ([`Frame::raw_ip`]), 0x6558
    /// (Transparent Ethernet Bridging) for an Ethernet one.
    pub protocol: Option<u16>,
}

/// An ERSPAN type II header (8 bytes, version 1), sent in GRE with the S bit
/// and protocol type 0x88BE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErspanII {
    /// The GRE sequence number.
    pub sequence: u32,
    /// VLAN of the mirrored frame (12 bits).
    pub vlan: u16,
    /// Class of service (3 bits).
    pub cos: u8,
    /// En: trunk encapsulation type (2 bits).
    pub en: u8,
    /// T: the mirrored frame was truncated.
    pub truncated: bool,
    /// Session id (10 bits).
    pub session: u16,
    /// Index: port or module of the source (20 bits).
    pub index: u32,
}

/// An ERSPAN type III header (12 bytes, version 2, plus an 8-byte
/// platform-specific subheader when `platform` is set), sent in GRE with the
/// S bit and protocol type 0x22EB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErspanIII {
    /// The GRE sequence number.
    pub sequence: u32,
    /// VLAN of the mirrored frame (12 bits).
    pub vlan: u16,
    /// Class of service (3 bits).
    pub cos: u8,
    /// BSO: bad/short/oversized (2 bits).
    pub bso: u8,
    /// T: the mirrored frame was truncated.
    pub truncated: bool,
    /// Session id (10 bits).
    pub session: u16,
    /// Timestamp (its unit is `gra`'s).
    pub timestamp: u32,
    /// Security group tag.
    pub sgt: u16,
    /// P: the mirrored frame is an Ethernet frame (1) or not.
    pub p: bool,
    /// FT: frame type (5 bits).
    pub ft: u8,
    /// Hardware id (6 bits).
    pub hw_id: u8,
    /// D: direction, 0 ingress, 1 egress.
    pub d: bool,
    /// Gra: timestamp granularity (2 bits).
    pub gra: u8,
    /// The platform-specific subheader (platform id in the top 6 bits); when
    /// set the O bit is set and the 8 bytes follow the header.
    pub platform: Option<u64>,
}

#[derive(Clone, Debug)]
pub(super) enum Tunnel {
    Vxlan {
        vni: u32,
        inner: Box<Frame>,
    },
    Geneve {
        vni: u32,
        options: Vec<u8>,
        inner: Box<Frame>,
    },
    Gre {
        gre: Gre,
        inner: Box<Frame>,
    },
    ErspanII {
        header: ErspanII,
        inner: Box<Frame>,
    },
    ErspanIII {
        header: ErspanIII,
        inner: Box<Frame>,
    },
}

/// Where things are in the tunnel bytes, from the start of the tunnel header.
pub(super) struct TunnelLayout {
    /// Start of the ERSPAN header.
    pub(super) erspan: Option<usize>,
    /// Start of the inner frame.
    pub(super) inner_start: usize,
    /// The inner frame's own layout.
    pub(super) inner: Layout,
}

/// A Geneve option TLV: option class, type, then `data` zero-padded to a
/// multiple of 4 bytes (at most 124), its length in 4-byte units in the low
/// 5 bits of the fourth byte.
pub fn geneve_option(class: u16, kind: u8, data: &[u8]) -> Vec<u8> {
    let len = data.len().min(124).div_ceil(4) * 4;
    let mut out = class.to_be_bytes().to_vec();
    out.extend_from_slice(&[kind, (len / 4) as u8]);
    out.extend_from_slice(&data[..data.len().min(124)]);
    out.resize(4 + len, 0);
    out
}

/// The protocol type naming `inner`: its IP version when it is raw IP,
/// Transparent Ethernet Bridging otherwise.
fn inner_protocol(inner: &Frame) -> u16 {
    match (&inner.network, inner.raw_ip) {
        (Network::Ipv4 { .. }, true) => 0x0800,
        (Network::Ipv6 { .. }, true) => 0x86dd,
        _ => ETHERTYPE_TEB,
    }
}

/// A GRE header with the fields `gre` asks for, its checksum (if any)
/// computed over the header and `body`.
fn gre_header(gre: Gre, protocol: u16, body: &[u8]) -> Vec<u8> {
    let mut flags = 0u16;
    if gre.checksum {
        flags |= 0x8000;
    }
    if gre.key.is_some() {
        flags |= 0x2000;
    }
    if gre.sequence.is_some() {
        flags |= 0x1000;
    }
    let mut h = flags.to_be_bytes().to_vec();
    h.extend_from_slice(&protocol.to_be_bytes());
    if gre.checksum {
        h.extend_from_slice(&[0; 4]);
    }
    if let Some(key) = gre.key {
        h.extend_from_slice(&key.to_be_bytes());
    }
    if let Some(sequence) = gre.sequence {
        h.extend_from_slice(&sequence.to_be_bytes());
    }
    if gre.checksum {
        let mut summed = h.clone();
        summed.extend_from_slice(body);
        h[4..6].copy_from_slice(&checksum(&summed).to_be_bytes());
    }
    h
}

impl ErspanII {
    fn bytes(self) -> Vec<u8> {
        let mut h = ((1u16 << 12) | (self.vlan & 0x0fff)).to_be_bytes().to_vec();
        let word = (u16::from(self.cos & 0x7) << 13)
            | (u16::from(self.en & 0x3) << 11)
            | (u16::from(self.truncated) << 10)
            | (self.session & 0x03ff);
        h.extend_from_slice(&word.to_be_bytes());
        h.extend_from_slice(&(self.index & 0xf_ffff).to_be_bytes());
        h
    }
}

impl ErspanIII {
    fn bytes(self) -> Vec<u8> {
        let mut h = ((2u16 << 12) | (self.vlan & 0x0fff)).to_be_bytes().to_vec();
        let word = (u16::from(self.cos & 0x7) << 13)
            | (u16::from(self.bso & 0x3) << 11)
            | (u16::from(self.truncated) << 10)
            | (self.session & 0x03ff);
        h.extend_from_slice(&word.to_be_bytes());
        h.extend_from_slice(&self.timestamp.to_be_bytes());
        h.extend_from_slice(&self.sgt.to_be_bytes());
        let word = (u16::from(self.p) << 15)
            | (u16::from(self.ft & 0x1f) << 10)
            | (u16::from(self.hw_id & 0x3f) << 4)
            | (u16::from(self.d) << 3)
            | (u16::from(self.gra & 0x3) << 1)
            | u16::from(self.platform.is_some());
        h.extend_from_slice(&word.to_be_bytes());
        if let Some(platform) = self.platform {
            h.extend_from_slice(&platform.to_be_bytes());
        }
        h
    }
}

impl Tunnel {
    /// The tunnel header followed by the inner frame, and where they lie.
    pub(super) fn bytes(&self) -> (Vec<u8>, TunnelLayout) {
        let (header, erspan, inner) = match self {
            Tunnel::Vxlan { vni, inner } => {
                let mut h = vec![0x08, 0, 0, 0];
                h.extend_from_slice(&((vni & 0x00ff_ffff) << 8).to_be_bytes());
                (h, None, inner)
            }
            Tunnel::Geneve {
                vni,
                options,
                inner,
            } => {
                let mut h = vec![(options.len() / 4) as u8, 0];
                h.extend_from_slice(&inner_protocol(inner).to_be_bytes());
                h.extend_from_slice(&((vni & 0x00ff_ffff) << 8).to_be_bytes());
                h.extend_from_slice(options);
                (h, None, inner)
            }
            Tunnel::Gre { gre, inner } => {
                let protocol = gre.protocol.unwrap_or_else(|| inner_protocol(inner));
                let body = inner.build();
                (gre_header(*gre, protocol, &body), None, inner)
            }
            Tunnel::ErspanII { header, inner } => {
                let gre = Gre {
                    sequence: Some(header.sequence),
                    ..Gre::default()
                };
                let mut h = gre_header(gre, GRE_ERSPAN_II, &[]);
                let at = h.len();
                h.extend_from_slice(&header.bytes());
                (h, Some(at), inner)
            }
            Tunnel::ErspanIII { header, inner } => {
                let gre = Gre {
                    sequence: Some(header.sequence),
                    ..Gre::default()
                };
                let mut h = gre_header(gre, GRE_ERSPAN_III, &[]);
                let at = h.len();
                h.extend_from_slice(&header.bytes());
                (h, Some(at), inner)
            }
        };
        let (inner_bytes, inner_layout) = inner.build_with_layout();
        let layout = TunnelLayout {
            erspan,
            inner_start: header.len(),
            inner: inner_layout,
        };
        let mut bytes = header;
        bytes.extend_from_slice(&inner_bytes);
        (bytes, layout)
    }
}

impl Frame {
    fn with_tunnel(mut self, transport: Transport, tunnel: Tunnel) -> Frame {
        self.transport = transport;
        self.tunnel = Some(tunnel);
        self
    }

    /// VXLAN (RFC 7348): UDP from [`TUNNEL_SOURCE_PORT`] to 4789, the 8-byte
    /// VXLAN header (flags 0x08, `vni`, 24 bits), then the inner Ethernet
    /// frame, byte for byte.
    pub fn vxlan(self, vni: u32, inner: &Frame) -> Frame {
        let transport = Transport::Udp {
            src: TUNNEL_SOURCE_PORT,
            dst: VXLAN_PORT,
        };
        let inner = Box::new(inner.clone());
        self.with_tunnel(transport, Tunnel::Vxlan { vni, inner })
    }

    /// Geneve (RFC 8926): UDP from [`TUNNEL_SOURCE_PORT`] to 6081, the 8-byte
    /// Geneve header (version 0, options length in 4-byte units, protocol
    /// type 0x6558 for an Ethernet inner frame, 0x0800/0x86DD for a raw IP
    /// one, `vni`), `options` (zero-padded to a multiple of 4 bytes, at most
    /// 252; see [`geneve_option`]), then the inner frame.
    pub fn geneve(self, vni: u32, options: &[u8], inner: &Frame) -> Frame {
        let mut options = options[..options.len().min(252)].to_vec();
        options.resize(options.len().div_ceil(4) * 4, 0);
        let transport = Transport::Udp {
            src: TUNNEL_SOURCE_PORT,
            dst: GENEVE_PORT,
        };
        let inner = Box::new(inner.clone());
        self.with_tunnel(
            transport,
            Tunnel::Geneve {
                vni,
                options,
                inner,
            },
        )
    }

    /// GRE (IP protocol 47) with a 4-byte header carrying `inner`: IPv4
    /// (0x0800) or IPv6 (0x86DD) directly when `inner` is [`Frame::raw_ip`],
    /// Transparent Ethernet Bridging (0x6558) when it is an Ethernet frame.
    pub fn gre(self, inner: &Frame) -> Frame {
        self.gre_with(Gre::default(), inner)
    }

    /// GRE with checksum, key and sequence fields as `gre` asks (4 to 16
    /// bytes of header), carrying `inner` as [`Frame::gre`] does.
    pub fn gre_with(self, gre: Gre, inner: &Frame) -> Frame {
        let transport = Transport::Raw {
            protocol: PROTO_GRE,
        };
        let inner = Box::new(inner.clone());
        self.with_tunnel(transport, Tunnel::Gre { gre, inner })
    }

    /// ERSPAN type II: GRE (IP protocol 47) with the S bit, protocol 0x88BE
    /// and `header.sequence` (8 bytes), the 8-byte ERSPAN II header, then the
    /// mirrored Ethernet frame `inner`.
    pub fn erspan2(self, header: ErspanII, inner: &Frame) -> Frame {
        let transport = Transport::Raw {
            protocol: PROTO_GRE,
        };
        let inner = Box::new(inner.clone());
        self.with_tunnel(transport, Tunnel::ErspanII { header, inner })
    }

    /// ERSPAN type III: GRE (IP protocol 47) with the S bit, protocol 0x22EB
    /// and `header.sequence` (8 bytes), the 12-byte ERSPAN III header (20
    /// with the platform subheader), then the mirrored Ethernet frame `inner`.
    pub fn erspan3(self, header: ErspanIII, inner: &Frame) -> Frame {
        let transport = Transport::Raw {
            protocol: PROTO_GRE,
        };
        let inner = Box::new(inner.clone());
        self.with_tunnel(transport, Tunnel::ErspanIII { header, inner })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{
        check::{be16, be32, ipv4, ipv6, segment},
        InnerLayout, TCP_SYN,
    };
    use etherparse::{NetHeaders, PacketHeaders, TransportHeader};

    fn inner_v4() -> Frame {
        Frame::new([0x02, 0, 0, 0, 0, 0xaa], [0x02, 0, 0, 0, 0, 0xbb])
            .vlan(30)
            .ipv4("10.1.0.5", "10.1.0.6")
            .tcp(40000, 443, TCP_SYN)
            .payload(b"inner")
    }

    /// The inner frame is byte for byte where the layout says, and its own
    /// layout is the inner layout shifted.
    fn assert_inner(frame: &[u8], layout: &Layout, inner: &Frame) {
        let (bytes, own) = inner.build_with_layout();
        let at = layout
            .inner
            .unwrap_or_else(|| panic!("no inner layout"))
            .start;
        assert_eq!(
            &frame[at..at + bytes.len()],
            &bytes[..],
            "inner frame at {at}"
        );
        assert_eq!(
            layout.inner,
            Some(InnerLayout {
                start: at,
                network: at + own.network,
                transport: at + own.transport,
                payload: at + own.payload,
                end: at + own.len,
            })
        );
        assert_eq!(
            at + bytes.len(),
            layout.padding,
            "the inner frame ends the packet"
        );
    }

    #[test]
    fn vxlan_over_ipv4_wraps_the_inner_frame() {
        let inner = inner_v4();
        let (frame, layout) = Frame::client()
            .vlan(100)
            .ipv4("192.0.2.1", "192.0.2.2")
            .vxlan(0x12_3456, &inner)
            .build_with_layout();
        assert_eq!(layout.network, 18);
        assert_eq!(frame[27], 17);
        assert_eq!(layout.transport, 38);
        assert_eq!(be16(&frame, 38), TUNNEL_SOURCE_PORT);
        assert_eq!(be16(&frame, 40), 4789);
        assert_eq!(
            usize::from(be16(&frame, 42)),
            frame.len() - 38,
            "UDP length"
        );
        assert_eq!(layout.tunnel, Some(46));
        assert_eq!(&frame[46..54], &[0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
        assert_eq!(layout.inner.map(|i| i.start), Some(54));
        assert_inner(&frame, &layout, &inner);
        ipv4(&frame, 18, frame.len());
        segment(&frame, 18, 17, 38, frame.len());

        // etherparse: the outer UDP checksum, and the inner frame parsed on
        // its own from where the layout says it starts.
        let outer = PacketHeaders::from_ethernet_slice(&frame)
            .unwrap_or_else(|e| panic!("etherparse: {e}"));
        let (Some(NetHeaders::Ipv4(ip, _)), Some(TransportHeader::Udp(udp))) =
            (&outer.net, &outer.transport)
        else {
            panic!("IPv4/UDP expected")
        };
        assert_eq!(udp.destination_port, VXLAN_PORT);
        assert_eq!(
            udp.calc_checksum_ipv4(ip, &frame[46..]).ok(),
            Some(udp.checksum)
        );
        let parsed = PacketHeaders::from_ethernet_slice(&frame[54..])
            .unwrap_or_else(|e| panic!("etherparse inner: {e}"));
        assert_eq!(parsed.vlan_ids().first().map(|v| v.value()), Some(30));
        let Some(NetHeaders::Ipv4(inner_ip, _)) = &parsed.net else {
            panic!("inner IPv4 expected")
        };
        assert_eq!(inner_ip.source, [10, 1, 0, 5]);
        let Some(TransportHeader::Tcp(tcp)) = &parsed.transport else {
            panic!("inner TCP expected")
        };
        assert_eq!(
            tcp.calc_checksum_ipv4(inner_ip, b"inner").ok(),
            Some(tcp.checksum)
        );
    }

    #[test]
    fn vxlan_over_ipv6_has_a_checksum_that_verifies() {
        let inner = Frame::client()
            .ipv6("fd00::1", "fd00::2")
            .udp(1, 2)
            .payload(&[9; 7]);
        let (frame, layout) = Frame::client()
            .ipv6("2001:db8::1", "2001:db8::2")
            .vxlan(1, &inner)
            .build_with_layout();
        assert_eq!(be16(&frame, 56), 4789);
        ipv6(&frame, 14, frame.len());
        segment(&frame, 14, 17, 54, frame.len());
        assert_inner(&frame, &layout, &inner);
        let parsed = PacketHeaders::from_ethernet_slice(&frame[70..])
            .unwrap_or_else(|e| panic!("etherparse inner: {e}"));
        assert!(matches!(parsed.transport, Some(TransportHeader::Udp(_))));
    }

    #[test]
    fn geneve_carries_options_and_names_the_inner_protocol() {
        let inner = inner_v4();
        let options = [
            geneve_option(0x0102, 0x80, &[1, 2, 3, 4, 5]),
            geneve_option(0xffff, 1, &[]),
        ]
        .concat();
        assert_eq!(options.len(), 4 + 8 + 4);
        let (frame, layout) = Frame::client()
            .ipv4("192.0.2.1", "192.0.2.2")
            .geneve(0xab_cdef, &options, &inner)
            .build_with_layout();
        assert_eq!(be16(&frame, 36), 6081);
        assert_eq!(layout.tunnel, Some(42));
        assert_eq!(frame[42], 4, "version 0, options length 4 units");
        assert_eq!(be16(&frame, 44), 0x6558);
        assert_eq!(&frame[46..50], &[0xab, 0xcd, 0xef, 0]);
        assert_eq!(&frame[50..66], &options[..]);
        assert_eq!(&frame[50..54], &[0x01, 0x02, 0x80, 2]);
        assert_eq!(layout.inner.map(|i| i.start), Some(66));
        assert_inner(&frame, &layout, &inner);
        ipv4(&frame, 14, frame.len());
        segment(&frame, 14, 17, 34, frame.len());

        let raw = Frame::client()
            .raw_ip()
            .ipv6("fd00::1", "fd00::2")
            .udp(1, 2);
        let (frame, layout) = Frame::client()
            .ipv4("192.0.2.1", "192.0.2.2")
            .geneve(7, &[], &raw)
            .build_with_layout();
        assert_eq!(frame[42], 0, "no options");
        assert_eq!(be16(&frame, 44), 0x86dd);
        assert_eq!(frame[50] >> 4, 6, "IPv6 right after the Geneve header");
        assert_inner(&frame, &layout, &raw);
    }

    #[test]
    fn gre_carries_ip_directly_or_ethernet_bridged() {
        let v4 = Frame::client()
            .raw_ip()
            .ipv4("10.1.0.5", "10.1.0.6")
            .udp(1, 53);
        let (frame, layout) = Frame::client()
            .ipv4("192.0.2.1", "192.0.2.2")
            .gre(&v4)
            .build_with_layout();
        assert_eq!(frame[23], 47);
        assert_eq!((layout.transport, layout.tunnel), (34, Some(34)));
        assert_eq!(&frame[34..38], &[0, 0, 0x08, 0x00]);
        assert_eq!(layout.inner.map(|i| (i.start, i.network)), Some((38, 38)));
        assert_inner(&frame, &layout, &v4);
        ipv4(&frame, 14, frame.len());
        ipv4(&frame, 38, frame.len());
        let parsed = PacketHeaders::from_ip_slice(&frame[38..])
            .unwrap_or_else(|e| panic!("etherparse inner: {e}"));
        assert!(matches!(parsed.transport, Some(TransportHeader::Udp(_))));

        let v6 = Frame::client()
            .raw_ip()
            .ipv6("fd00::1", "fd00::2")
            .tcp(1, 2, TCP_SYN);
        let (frame, layout) = Frame::client()
            .ipv6("2001:db8::1", "2001:db8::2")
            .gre(&v6)
            .build_with_layout();
        assert_eq!(frame[20], 47);
        assert_eq!(be16(&frame, 56), 0x86dd);
        assert_inner(&frame, &layout, &v6);
        ipv6(&frame, 14, frame.len());
        ipv6(&frame, 58, frame.len());
        segment(&frame, 58, 6, 98, frame.len());

        let eth = inner_v4();
        let (frame, layout) = Frame::client()
            .ipv4("192.0.2.1", "192.0.2.2")
            .gre(&eth)
            .build_with_layout();
        assert_eq!(be16(&frame, 36), 0x6558);
        assert_eq!(layout.inner.map(|i| i.start), Some(38));
        assert_inner(&frame, &layout, &eth);
    }

    #[test]
    fn gre_optional_fields_lengthen_the_header() {
        let inner = Frame::client().raw_ip().ipv4("10.1.0.5", "10.1.0.6");
        for (gre, flags, len) in [
            (Gre::default(), 0x0000, 4),
            (
                Gre {
                    key: Some(0xdead_beef),
                    ..Gre::default()
                },
                0x2000,
                8,
            ),
            (
                Gre {
                    sequence: Some(7),
                    ..Gre::default()
                },
                0x1000,
                8,
            ),
            (
                Gre {
                    checksum: true,
                    key: Some(0xdead_beef),
                    sequence: Some(7),
                    protocol: None,
                },
                0xb000,
                16,
            ),
        ] {
            let (frame, layout) = Frame::client()
                .ipv4("192.0.2.1", "192.0.2.2")
                .gre_with(gre, &inner)
                .build_with_layout();
            assert_eq!(be16(&frame, 34), flags);
            assert_eq!(be16(&frame, 36), 0x0800);
            assert_eq!(layout.inner.map(|i| i.start), Some(34 + len), "{gre:?}");
            let mut at = 38;
            if gre.checksum {
                assert_eq!(checksum(&frame[34..]), 0, "GRE checksum verifies");
                assert_eq!(be16(&frame, 40), 0, "reserved");
                at += 4;
            }
            if let Some(key) = gre.key {
                assert_eq!(be32(&frame, at), key);
                at += 4;
            }
            if let Some(sequence) = gre.sequence {
                assert_eq!(be32(&frame, at), sequence);
            }
            assert_inner(&frame, &layout, &inner);
            ipv4(&frame, 14, frame.len());
        }
    }

    #[test]
    fn erspan_ii_follows_a_sequenced_gre_header() {
        let inner = inner_v4();
        let header = ErspanII {
            sequence: 0x0102_0304,
            vlan: 0xabc,
            cos: 5,
            en: 3,
            truncated: true,
            session: 0x3ff,
            index: 0xf_ffff,
        };
        let (frame, layout) = Frame::client()
            .ipv4("192.0.2.1", "192.0.2.2")
            .erspan2(header, &inner)
            .build_with_layout();
        assert_eq!(frame[23], 47);
        assert_eq!(layout.tunnel, Some(34));
        assert_eq!(&frame[34..42], &[0x10, 0, 0x88, 0xbe, 1, 2, 3, 4]);
        assert_eq!(layout.erspan, Some(42));
        assert_eq!(be16(&frame, 42), 0x1abc, "version 1, VLAN");
        assert_eq!(be16(&frame, 44), (5 << 13) | (3 << 11) | (1 << 10) | 0x3ff);
        assert_eq!(be32(&frame, 46), 0xf_ffff, "reserved, index");
        assert_eq!(layout.inner.map(|i| i.start), Some(50));
        assert_inner(&frame, &layout, &inner);
        ipv4(&frame, 14, frame.len());
    }

    #[test]
    fn erspan_iii_with_and_without_the_platform_subheader() {
        let inner = inner_v4();
        let header = ErspanIII {
            sequence: 9,
            vlan: 100,
            cos: 1,
            bso: 2,
            truncated: false,
            session: 77,
            timestamp: 0x1122_3344,
            sgt: 0xbeef,
            p: true,
            ft: 0x1f,
            hw_id: 0x2a,
            d: true,
            gra: 3,
            platform: None,
        };
        let (frame, layout) = Frame::client()
            .ipv6("2001:db8::1", "2001:db8::2")
            .erspan3(header, &inner)
            .build_with_layout();
        assert_eq!(frame[20], 47);
        assert_eq!(&frame[54..62], &[0x10, 0, 0x22, 0xeb, 0, 0, 0, 9]);
        assert_eq!(layout.erspan, Some(62));
        assert_eq!(be16(&frame, 62), (2 << 12) | 100, "version 2, VLAN");
        assert_eq!(be16(&frame, 64), (1 << 13) | (2 << 11) | 77);
        assert_eq!(be32(&frame, 66), 0x1122_3344);
        assert_eq!(be16(&frame, 70), 0xbeef);
        let word = (1 << 15) | (0x1f << 10) | (0x2a << 4) | (1 << 3) | (3 << 1);
        assert_eq!(be16(&frame, 72), word, "O clear");
        assert_eq!(layout.inner.map(|i| i.start), Some(74));
        assert_inner(&frame, &layout, &inner);
        ipv6(&frame, 14, frame.len());

        let (frame, layout) = Frame::client()
            .ipv4("192.0.2.1", "192.0.2.2")
            .erspan3(
                ErspanIII {
                    platform: Some(0x0400_0000_0000_0001),
                    ..header
                },
                &inner,
            )
            .build_with_layout();
        assert_eq!(layout.erspan, Some(42));
        assert_eq!(be16(&frame, 52), word | 1, "O set");
        assert_eq!(&frame[54..62], &[4, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(layout.inner.map(|i| i.start), Some(62));
        assert_inner(&frame, &layout, &inner);
        ipv4(&frame, 14, frame.len());
    }

    #[test]
    fn tunnels_nest_under_link_layers_and_truncate_anywhere() {
        let inner = inner_v4();
        let (frame, layout) = Frame::client()
            .qinq(1)
            .pppoe(2)
            .ipv4("100.64.0.1", "192.0.2.2")
            .vxlan(3, &inner)
            .build_with_layout();
        assert_eq!(layout.pppoe, Some(18));
        assert_eq!(layout.network, 26);
        assert_eq!(
            usize::from(be16(&frame, 22)),
            frame.len() - 24,
            "PPPoE length"
        );
        assert_inner(&frame, &layout, &inner);
        ipv4(&frame, 26, frame.len());
        segment(&frame, 26, 17, layout.transport, frame.len());
        for cut in 0..frame.len() {
            let mut short = frame.clone();
            short.truncate(cut);
            assert_eq!(&short[..], &frame[..cut]);
        }
    }
}
