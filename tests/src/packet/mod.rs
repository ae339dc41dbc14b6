//! Builds exact frames for `BPF_PROG_TEST_RUN` tests and benchmarks, with
//! correct lengths and checksums:
//!
//! - link layers (`link.rs`): Ethernet, any number of VLAN tags (TPID 0x8100,
//!   0x88a8, 0x9100 or any other), PPPoE sessions, MPLS label stacks, Ethernet
//!   padding, and raw IP frames with no link header (what `ppp0`, `wg0` or
//!   `tun0` hands to XDP);
//! - IP (`ip.rs`): IPv4 (options, fragments, AH), IPv6 (extension chains of any
//!   length, sized extensions, AH);
//! - transports (`transport.rs`): TCP, UDP, ICMP and ICMPv6 (echo request,
//!   destination unreachable), ESP, and any other
//!   IP protocol number with a raw payload;
//! - tunnels (`tunnel.rs`): VXLAN, Geneve, GRE, ERSPAN II and III, each
//!   wrapping a complete inner [`Frame`];
//! - DNS (`dns.rs`): messages over UDP and over TCP.
//!
//! ```text
//! let frame = Frame::new(CLIENT_MAC, GATEWAY_MAC)
//!     .vlan(100)
//!     .ipv4("10.0.0.5", "203.0.113.7")
//!     .tcp(40000, 443, TCP_SYN)
//!     .build();
//! let inner = Frame::client().ipv4("10.1.0.5", "10.1.0.6").udp(1, 2);
//! let (tunnelled, layout) = Frame::client()
//!     .ipv4("192.0.2.1", "192.0.2.2")
//!     .vxlan(42, &inner)
//!     .build_with_layout();
//! ```
//!
//! Tests cut frames anywhere with `Vec::truncate`; [`Layout`] says where each
//! layer starts so that they can aim.

mod dns;
mod ip;
mod link;
mod transport;
mod tunnel;

use std::net::{Ipv4Addr, Ipv6Addr};

pub use dns::{dns_message, dns_message_with, dns_name, dns_tcp_payload};
pub use ip::{AuthHeader, Extension};
pub use link::{MplsLabel, TPID_8021AD, TPID_8021Q, TPID_QINQ_9100};
pub use tunnel::{
    geneve_option, ErspanII, ErspanIII, Gre, GENEVE_PORT, TUNNEL_SOURCE_PORT, VXLAN_PORT,
};

use ip::Network;
use transport::Transport;
use tunnel::Tunnel;

/// TCP flag FIN.
pub const TCP_FIN: u8 = 0x01;
/// TCP flag SYN.
pub const TCP_SYN: u8 = 0x02;
/// TCP flag RST.
pub const TCP_RST: u8 = 0x04;
/// TCP flag PSH.
pub const TCP_PSH: u8 = 0x08;
/// TCP flag ACK.
pub const TCP_ACK: u8 = 0x10;

/// The MAC address [`Frame::client`] sends from.
pub const CLIENT_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x05];
/// The MAC address [`Frame::client`] sends to.
pub const GATEWAY_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// The Ethernet broadcast address.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// Offsets (in bytes from the start of the built frame) of each layer.
///
/// `network`, `transport`, `payload` and `len` describe the outermost packet
/// and keep the meaning they always had; the other fields are for link
/// layers, IP extensions and tunnels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Start of the IPv4/IPv6 header (0 for a raw IP frame); for a frame with
    /// no IP layer, start of its payload.
    pub network: usize,
    /// Start of the header named by the last IP protocol/next-header field:
    /// TCP, UDP, ICMP, the ESP header, or, for GRE or an unknown protocol
    /// (which have no header of this builder's), the payload. `len` for a
    /// frame with no IP layer.
    pub transport: usize,
    /// Start of what follows the transport header: application data, the
    /// ESP-protected bytes, or a tunnel header.
    pub payload: usize,
    /// Length of the whole frame, Ethernet padding included.
    pub len: usize,
    /// Start of the PPPoE session header, when there is one.
    pub pppoe: Option<usize>,
    /// Start of the first MPLS label stack entry, when there is one.
    pub mpls: Option<usize>,
    /// Start of the IPv6 extension headers, or of the IPv4 AH: where the IP
    /// header (options included) ends. Equals `transport` when there is none,
    /// and `network` for a frame with no IP layer.
    pub extensions: usize,
    /// Start of the tunnel header (VXLAN, Geneve, or the GRE header of GRE and
    /// ERSPAN), when the frame is a tunnel.
    pub tunnel: Option<usize>,
    /// Start of the ERSPAN header (after the GRE header), for ERSPAN.
    pub erspan: Option<usize>,
    /// Where the inner frame of a tunnel lies (one level deep).
    pub inner: Option<InnerLayout>,
    /// Where Ethernet padding starts, that is where the packet ends; equals
    /// `len` when the frame is not padded.
    pub padding: usize,
}

/// Where the inner frame of a tunnel lies, in bytes from the start of the
/// outer frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InnerLayout {
    /// Start of the inner frame: its Ethernet header, or its IP header when
    /// the inner frame is raw IP (GRE or Geneve carrying IP directly).
    pub start: usize,
    /// Start of the inner IP header (see [`Layout::network`]).
    pub network: usize,
    /// Start of the inner transport header (see [`Layout::transport`]).
    pub transport: usize,
    /// Start of the inner payload (see [`Layout::payload`]).
    pub payload: usize,
    /// End of the inner frame (its own padding included).
    pub end: usize,
}

impl Layout {
    /// The same layout for a packet that starts `by` bytes later.
    fn shifted(self, by: usize) -> Layout {
        let inner = self.inner.map(|i| InnerLayout {
            start: i.start + by,
            network: i.network + by,
            transport: i.transport + by,
            payload: i.payload + by,
            end: i.end + by,
        });
        Layout {
            network: self.network + by,
            transport: self.transport + by,
            payload: self.payload + by,
            len: self.len + by,
            pppoe: self.pppoe.map(|o| o + by),
            mpls: self.mpls.map(|o| o + by),
            extensions: self.extensions + by,
            tunnel: self.tunnel.map(|o| o + by),
            erspan: self.erspan.map(|o| o + by),
            inner,
            padding: self.padding + by,
        }
    }
}

/// A frame under construction.
///
/// Methods consume and return the frame, so a frame is one expression;
/// [`Frame::build`] can be called any number of times.
#[derive(Clone, Debug)]
pub struct Frame {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    /// (TPID, VLAN id), outermost first.
    vlans: Vec<(u16, u16)>,
    ethertype: Option<u16>,
    pppoe: Option<u16>,
    mpls: Vec<MplsLabel>,
    raw_ip: bool,
    network: Network,
    transport: Transport,
    payload: Vec<u8>,
    tunnel: Option<Tunnel>,
    pad_to: usize,
}

/// The Internet checksum (RFC 1071) of `data`, folded.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            u16::from_be_bytes([chunk[0], 0])
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn parse_v4(text: &str) -> Ipv4Addr {
    text.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
}

fn parse_v6(text: &str) -> Ipv6Addr {
    text.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}

impl Frame {
    /// An Ethernet frame from `src_mac` to `dst_mac` with nothing in it yet.
    pub fn new(src_mac: [u8; 6], dst_mac: [u8; 6]) -> Frame {
        Frame {
            src_mac,
            dst_mac,
            vlans: Vec::new(),
            ethertype: None,
            pppoe: None,
            mpls: Vec::new(),
            raw_ip: false,
            network: Network::None,
            transport: Transport::None,
            payload: Vec::new(),
            tunnel: None,
            pad_to: 0,
        }
    }

    /// A frame from the default client MAC to the gateway MAC.
    pub fn client() -> Frame {
        Frame::new(CLIENT_MAC, GATEWAY_MAC)
    }

    /// Sets the bytes after the transport header (or after the link header
    /// when there is no IP layer). A tunnel set later replaces them.
    pub fn payload(mut self, bytes: &[u8]) -> Frame {
        self.payload = bytes.to_vec();
        self.tunnel = None;
        self
    }

    /// The frame's bytes.
    pub fn build(&self) -> Vec<u8> {
        self.build_with_layout().0
    }

    /// The frame's bytes and where each layer starts.
    pub fn build_with_layout(&self) -> (Vec<u8>, Layout) {
        let (body, tunnel) = match &self.tunnel {
            Some(t) => {
                let (bytes, layout) = t.bytes();
                (bytes, Some(layout))
            }
            None => (self.payload.clone(), None),
        };
        let (packet, mut layout) = self.network_packet(&body);
        if let Some(t) = tunnel {
            let at = layout.payload;
            layout.tunnel = Some(at);
            layout.erspan = t.erspan.map(|o| at + o);
            let start = at + t.inner_start;
            let i = t.inner;
            layout.inner = Some(InnerLayout {
                start,
                network: start + i.network,
                transport: start + i.transport,
                payload: start + i.payload,
                end: start + i.len,
            });
        }
        let (mut frame, link) = self.link_header(packet.len());
        let mut layout = layout.shifted(frame.len());
        layout.pppoe = link.pppoe;
        layout.mpls = link.mpls;
        frame.extend_from_slice(&packet);
        layout.padding = frame.len();
        if frame.len() < self.pad_to {
            frame.resize(self.pad_to, 0);
        }
        layout.len = frame.len();
        (frame, layout)
    }
}

/// Checks shared by the tests of every module.
#[cfg(test)]
pub(crate) mod check {
    use super::checksum;

    /// A big-endian u16 at `at`.
    pub(crate) fn be16(bytes: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([bytes[at], bytes[at + 1]])
    }

    /// A big-endian u32 at `at`.
    pub(crate) fn be32(bytes: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
    }

    /// The IPv4 header at `at` sums to zero and its total length reaches
    /// exactly `end`; returns the header length.
    pub(crate) fn ipv4(bytes: &[u8], at: usize, end: usize) -> usize {
        assert_eq!(bytes[at] >> 4, 4, "IPv4 version at {at}");
        let header_len = usize::from(bytes[at] & 0x0f) * 4;
        assert_eq!(
            checksum(&bytes[at..at + header_len]),
            0,
            "IPv4 header checksum at {at}"
        );
        assert_eq!(
            usize::from(be16(bytes, at + 2)),
            end - at,
            "IPv4 total length at {at}"
        );
        header_len
    }

    /// The IPv6 header at `at` has a payload length reaching exactly `end`.
    pub(crate) fn ipv6(bytes: &[u8], at: usize, end: usize) {
        assert_eq!(bytes[at] >> 4, 6, "IPv6 version at {at}");
        assert_eq!(
            usize::from(be16(bytes, at + 4)),
            end - at - 40,
            "IPv6 payload length at {at}"
        );
    }

    /// The TCP/UDP/ICMPv6 segment `at..end` of protocol `protocol` verifies
    /// against the pseudo-header of the IP header at `ip`.
    pub(crate) fn segment(bytes: &[u8], ip: usize, protocol: u8, at: usize, end: usize) {
        let seg = &bytes[at..end];
        let mut summed = Vec::new();
        if bytes[ip] >> 4 == 4 {
            summed.extend_from_slice(&bytes[ip + 12..ip + 20]);
            summed.extend_from_slice(&[0, protocol]);
            summed.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        } else {
            summed.extend_from_slice(&bytes[ip + 8..ip + 40]);
            summed.extend_from_slice(&(seg.len() as u32).to_be_bytes());
            summed.extend_from_slice(&[0, 0, 0, protocol]);
        }
        summed.extend_from_slice(seg);
        assert_eq!(checksum(&summed), 0, "protocol {protocol} checksum at {at}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn ipv4_header_checksum_verifies_and_lengths_match() {
        let (frame, layout) = Frame::client()
            .ipv4("10.0.0.5", "203.0.113.7")
            .tcp(40000, 443, TCP_SYN)
            .build_with_layout();
        assert_eq!(frame.len(), 14 + 20 + 20);
        assert_eq!(
            layout,
            Layout {
                network: 14,
                transport: 34,
                payload: 54,
                len: 54,
                extensions: 34,
                padding: 54,
                ..Layout::default()
            }
        );
        assert_eq!(
            checksum(&frame[14..34]),
            0,
            "a header with its checksum sums to zero"
        );
        assert_eq!(u16::from_be_bytes([frame[16], frame[17]]), 40);
        assert_eq!(frame[47], TCP_SYN);
    }

    #[test]
    fn udp_checksum_verifies_with_pseudo_header() {
        let frame = Frame::client()
            .ipv4("10.0.0.5", "203.0.113.53")
            .udp(5000, 53)
            .dns_query(7, "example.com")
            .build();
        let udp = &frame[34..];
        let mut summed = vec![10, 0, 0, 5, 203, 0, 113, 53, 0, 17];
        summed.extend_from_slice(&(udp.len() as u16).to_be_bytes());
        summed.extend_from_slice(udp);
        assert_eq!(checksum(&summed), 0);
        assert_eq!(u16::from_be_bytes([udp[4], udp[5]]) as usize, udp.len());
    }

    #[test]
    fn vlan_tags_and_ipv6_extensions_are_laid_out() {
        let (frame, layout) = Frame::client()
            .qinq(10)
            .vlan(20)
            .ipv6("fd00::5", "2001:db8::1")
            .extension(Extension::HopByHop)
            .extension(Extension::Fragment {
                offset: 0,
                more: true,
            })
            .udp(1, 2)
            .build_with_layout();
        assert_eq!(&frame[12..14], &[0x88, 0xa8]);
        assert_eq!(&frame[16..18], &[0x81, 0x00]);
        assert_eq!(&frame[20..22], &[0x86, 0xdd]);
        assert_eq!(layout.network, 22);
        assert_eq!(frame[22 + 6], 0, "first next header is hop-by-hop");
        assert_eq!(frame[62], 44, "hop-by-hop points at the fragment header");
        assert_eq!(frame[70], 17, "fragment header points at UDP");
        assert_eq!(layout.transport, 22 + 40 + 16);
    }
    /// FNV-1a, to pin whole frames in a line each.
    fn fnv(bytes: &[u8]) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }

    /// The shapes the builder made before it learnt tunnels and link layers,
    /// pinned byte for byte (length, hash, and layout) so that the integration
    /// tests and the benchmark keep sending exactly what they sent.
    #[test]
    fn existing_shapes_are_byte_identical() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("{s}: {e}"));
        let shapes = [
            (
                "v4 tcp syn",
                Frame::client()
                    .ipv4("10.0.0.5", "203.0.113.7")
                    .tcp(40000, 443, TCP_SYN),
                54,
                0x7853_5a9b_b145_fbc7u64,
                [14, 34, 54, 54],
            ),
            (
                "vlan v4 options fragment udp dns",
                Frame::client()
                    .vlan(100)
                    .ipv4("10.0.0.5", "203.0.113.53")
                    .ipv4_options(&[0x94, 0x04, 0, 0, 1])
                    .ipv4_fragment(0, true)
                    .udp(5000, 53)
                    .dns_query(0x1234, "www.example.com"),
                87,
                0x0aa2_cb56_5b99_69f7,
                [18, 46, 54, 87],
            ),
            (
                "qinq v6 chain udp answer",
                Frame::client()
                    .qinq(10)
                    .vlan(20)
                    .ipv6("fd00::5", "2001:db8::1")
                    .extension(Extension::HopByHop)
                    .extension(Extension::Routing)
                    .extension(Extension::DestinationOptions)
                    .extension(Extension::Fragment {
                        offset: 3,
                        more: true,
                    })
                    .udp(53, 5000)
                    .dns_answer(0xbeef, "a.example"),
                145,
                0x8ad9_6da4_9998_3b37,
                [22, 94, 102, 145],
            ),
            (
                "v6 icmp",
                Frame::client()
                    .ipv6("fd00::5", "2001:db8::1")
                    .icmp_echo(7, 9)
                    .payload(b"ping"),
                66,
                0x9794_467d_38e1_ac5d,
                [14, 54, 62, 66],
            ),
            (
                "v4 icmp",
                Frame::client()
                    .ipv4("10.0.0.5", "8.8.8.8")
                    .icmp_echo(7, 9)
                    .payload(b"ping!"),
                47,
                0xe59b_c697_915c_914c,
                [14, 34, 42, 47],
            ),
            (
                "arp",
                Frame::new(CLIENT_MAC, BROADCAST_MAC)
                    .ethertype(0x0806)
                    .payload(&[0, 1, 8, 0, 6, 4, 0, 1]),
                22,
                0x59ce_c3b3_44f0_101a,
                [14, 22, 14, 22],
            ),
            (
                "no network",
                Frame::client().payload(b"xyz"),
                17,
                0xc074_cc45_2839_76f1,
                [14, 17, 14, 17],
            ),
            (
                "v6 tcp ack rst payload",
                Frame::client()
                    .ip(ip("fd00::5"), ip("2001:db8::9"))
                    .tcp(1, 2, TCP_ACK | TCP_RST | TCP_FIN)
                    .payload(b"hello"),
                79,
                0x09e6_374b_cf51_5e39,
                [14, 54, 74, 79],
            ),
            (
                "v4 no transport",
                Frame::client().ip(ip("10.0.0.5"), ip("10.0.0.6")),
                34,
                0xc0b5_b60d_51b6_9075,
                [14, 34, 34, 34],
            ),
            (
                "v4 ethertype override",
                Frame::client()
                    .ipv4("10.0.0.5", "10.0.0.6")
                    .ethertype(0x9999)
                    .udp(1, 2),
                42,
                0x99b9_2e45_7fac_9a55,
                [14, 34, 42, 42],
            ),
        ];
        for (name, frame, len, hash, [network, transport, payload, end]) in shapes {
            let (bytes, layout) = frame.build_with_layout();
            assert_eq!(bytes.len(), len, "{name}: length");
            assert_eq!(fnv(&bytes), hash, "{name}: bytes");
            assert_eq!(
                bytes,
                frame.build(),
                "{name}: build and build_with_layout agree"
            );
            assert_eq!(
                (layout.network, layout.transport, layout.payload, layout.len),
                (network, transport, payload, end),
                "{name}: layout"
            );
        }
    }
}
