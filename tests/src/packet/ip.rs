//! IPv4 (options, fragments, AH) and IPv6 (extension chains, AH).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{checksum, parse_v4, parse_v6, Frame, Layout};

/// IP protocol number of the Authentication Header.
const PROTO_AH: u8 = 51;

/// An IPv6 extension header placed before the transport header.
#[derive(Clone, Debug)]
pub enum Extension {
    /// Hop-by-hop options (next header 0): 8 bytes, one PadN option.
    HopByHop,
    /// A type 0 routing header (next header 43) with no addresses: 8 bytes.
    Routing,
    /// Destination options (next header 60): 8 bytes, one PadN option.
    DestinationOptions,
    /// A fragment header (next header 44); `offset` in 8-byte units.
    Fragment {
        /// Fragment offset, in 8-byte units.
        offset: u16,
        /// The M (more fragments) flag.
        more: bool,
    },
    /// An extension header of any type and length, to cut chains at any
    /// byte: next-header code `header` (0 hop-by-hop, 43 routing, 60
    /// destination options, or any other), Hdr Ext Len `len_units`, so
    /// `(len_units + 1) * 8` bytes in all. The body is PadN/Pad1 options,
    /// except for routing (43), whose body is zeros (type 0, no segments left).
    Sized {
        /// The next-header code that names this header.
        header: u8,
        /// Hdr Ext Len: the length in 8-byte units, not counting the first 8.
        len_units: u8,
    },
    /// An Authentication Header (next header 51).
    Authentication(AuthHeader),
}

/// An IP Authentication Header (RFC 4302): next header, payload length in
/// 4-byte units minus 2, reserved, SPI, sequence number, ICV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthHeader {
    /// Security parameters index.
    pub spi: u32,
    /// Sequence number.
    pub sequence: u32,
    /// ICV length in bytes, rounded up to a multiple of 4 (at most 1016) so
    /// that the length field describes the header exactly. The header is
    /// `12 + icv_len` bytes; IPv6 wants a multiple of 8 (ICV 4, 12, 20, ...),
    /// which is not enforced. The ICV bytes are 0x5a.
    pub icv_len: usize,
}

impl AuthHeader {
    /// The header bytes, pointing at `next`.
    fn bytes(self, next: u8) -> Vec<u8> {
        let icv = self.icv_len.min(1016).div_ceil(4) * 4;
        let len = 12 + icv;
        let mut h = vec![next, (len / 4 - 2) as u8, 0, 0];
        h.extend_from_slice(&self.spi.to_be_bytes());
        h.extend_from_slice(&self.sequence.to_be_bytes());
        h.resize(len, 0x5a);
        h
    }
}

impl Extension {
    /// The next-header code that names this extension.
    fn code(&self) -> u8 {
        match self {
            Extension::HopByHop => 0,
            Extension::Routing => 43,
            Extension::Fragment { .. } => 44,
            Extension::DestinationOptions => 60,
            Extension::Sized { header, .. } => *header,
            Extension::Authentication(_) => PROTO_AH,
        }
    }

    /// The header bytes, pointing at `next`.
    fn bytes(&self, next: u8) -> Vec<u8> {
        match self {
            Extension::Fragment { offset, more } => {
                let value = (offset << 3) | u16::from(*more);
                let mut h = vec![next, 0];
                h.extend_from_slice(&value.to_be_bytes());
                h.extend_from_slice(&[0, 0, 0x56, 0x78]);
                h
            }
            Extension::Routing => Extension::Sized {
                header: 43,
                len_units: 0,
            }
            .bytes(next),
            Extension::HopByHop | Extension::DestinationOptions => Extension::Sized {
                header: 60,
                len_units: 0,
            }
            .bytes(next),
            Extension::Sized { header, len_units } => {
                let len = (usize::from(*len_units) + 1) * 8;
                let mut h = vec![next, *len_units];
                if *header == 43 {
                    h.resize(len, 0);
                } else {
                    h.extend_from_slice(&pad_options(len - 2));
                }
                h
            }
            Extension::Authentication(ah) => ah.bytes(next),
        }
    }
}

/// Pad1/PadN options filling exactly `len` bytes.
fn pad_options(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let left = len - out.len();
        if left == 1 {
            out.push(0);
        } else {
            let n = (left - 2).min(255);
            out.extend_from_slice(&[1, n as u8]);
            out.resize(out.len() + n, 0);
        }
    }
    out
}

#[derive(Clone, Debug)]
pub(super) enum Network {
    None,
    Ipv4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        options: Vec<u8>,
        fragment_offset: u16,
        more_fragments: bool,
        auth: Option<AuthHeader>,
    },
    Ipv6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        extensions: Vec<Extension>,
    },
}

impl Frame {
    /// An IPv4 header (TTL 64, id 0x1234, no options) from `src` to `dst`;
    /// an address that does not parse becomes 0.0.0.0.
    pub fn ipv4(mut self, src: &str, dst: &str) -> Frame {
        self.network = Network::Ipv4 {
            src: parse_v4(src),
            dst: parse_v4(dst),
            options: Vec::new(),
            fragment_offset: 0,
            more_fragments: false,
            auth: None,
        };
        self
    }

    /// IPv4 options (padded to a multiple of 4 bytes).
    pub fn ipv4_options(mut self, bytes: &[u8]) -> Frame {
        if let Network::Ipv4 { options, .. } = &mut self.network {
            options.extend_from_slice(bytes);
            while options.len() % 4 != 0 {
                options.push(0);
            }
        }
        self
    }

    /// Makes the IPv4 packet a fragment (`offset` in 8-byte units).
    pub fn ipv4_fragment(mut self, offset: u16, more: bool) -> Frame {
        if let Network::Ipv4 {
            fragment_offset,
            more_fragments,
            ..
        } = &mut self.network
        {
            *fragment_offset = offset;
            *more_fragments = more;
        }
        self
    }

    /// An IPv6 header (hop limit 64) from `src` to `dst`; an address that
    /// does not parse becomes `::`.
    pub fn ipv6(mut self, src: &str, dst: &str) -> Frame {
        self.network = Network::Ipv6 {
            src: parse_v6(src),
            dst: parse_v6(dst),
            extensions: Vec::new(),
        };
        self
    }

    /// Either family, by the addresses given.
    pub fn ip(self, src: IpAddr, dst: IpAddr) -> Frame {
        match (src, dst) {
            (IpAddr::V6(s), IpAddr::V6(d)) => self.ipv6(&s.to_string(), &d.to_string()),
            _ => self.ipv4(&src.to_string(), &dst.to_string()),
        }
    }

    /// Appends an IPv6 extension header (after those already added); any
    /// number of them, in any order. Ignored for IPv4.
    pub fn extension(mut self, extension: Extension) -> Frame {
        if let Network::Ipv6 { extensions, .. } = &mut self.network {
            extensions.push(extension);
        }
        self
    }

    /// An Authentication Header before the transport header: for IPv6 an
    /// [`Extension::Authentication`] appended to the chain; for IPv4 the
    /// protocol field says 51 and the AH names the transport.
    pub fn auth_header(mut self, spi: u32, sequence: u32, icv_len: usize) -> Frame {
        let ah = AuthHeader {
            spi,
            sequence,
            icv_len,
        };
        match &mut self.network {
            Network::Ipv4 { auth, .. } => *auth = Some(ah),
            Network::Ipv6 { extensions, .. } => extensions.push(Extension::Authentication(ah)),
            Network::None => {}
        }
        self
    }

    /// The network packet carrying `body` after the transport header, and its
    /// layout with offsets from the start of the packet.
    pub(super) fn network_packet(&self, body: &[u8]) -> (Vec<u8>, Layout) {
        let protocol = self.protocol_number();
        let (packet, extensions, transport, segment_len) = match &self.network {
            Network::None => {
                let len = body.len();
                let layout = Layout {
                    transport: len,
                    len,
                    padding: len,
                    ..Layout::default()
                };
                return (body.to_vec(), layout);
            }
            Network::Ipv4 {
                src,
                dst,
                options,
                fragment_offset,
                more_fragments,
                auth,
            } => {
                let (s, d) = (src.octets(), dst.octets());
                let pseudo = move |proto: u8, len: usize| {
                    let mut p = Vec::new();
                    p.extend_from_slice(&s);
                    p.extend_from_slice(&d);
                    p.extend_from_slice(&[0, proto]);
                    p.extend_from_slice(&(len as u16).to_be_bytes());
                    p
                };
                let segment = self.transport_bytes(body, &pseudo);
                let ah = auth.map(|a| a.bytes(protocol)).unwrap_or_default();
                let header_len = 20 + options.len();
                let mut h = vec![0u8; 20];
                h[0] = 0x40 | (header_len / 4) as u8;
                let total = header_len + ah.len() + segment.len();
                h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
                h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
                let flags_fragment =
                    (fragment_offset & 0x1fff) | if *more_fragments { 0x2000 } else { 0 };
                h[6..8].copy_from_slice(&flags_fragment.to_be_bytes());
                h[8] = 64;
                h[9] = if auth.is_some() { PROTO_AH } else { protocol };
                h[12..16].copy_from_slice(&s);
                h[16..20].copy_from_slice(&d);
                h.extend_from_slice(options);
                let sum = checksum(&h);
                h[10..12].copy_from_slice(&sum.to_be_bytes());
                let transport = header_len + ah.len();
                h.extend_from_slice(&ah);
                h.extend_from_slice(&segment);
                (h, header_len, transport, segment.len())
            }
            Network::Ipv6 {
                src,
                dst,
                extensions,
            } => {
                let (s, d) = (src.octets(), dst.octets());
                let pseudo = move |proto: u8, len: usize| {
                    let mut p = Vec::new();
                    p.extend_from_slice(&s);
                    p.extend_from_slice(&d);
                    p.extend_from_slice(&(len as u32).to_be_bytes());
                    p.extend_from_slice(&[0, 0, 0, proto]);
                    p
                };
                let segment = self.transport_bytes(body, &pseudo);
                let mut ext_bytes = Vec::new();
                for (i, ext) in extensions.iter().enumerate() {
                    let next = extensions.get(i + 1).map_or(protocol, Extension::code);
                    ext_bytes.extend_from_slice(&ext.bytes(next));
                }
                let first_next = extensions.first().map_or(protocol, Extension::code);
                let mut h = vec![0u8; 40];
                h[0] = 0x60;
                h[4..6].copy_from_slice(&((ext_bytes.len() + segment.len()) as u16).to_be_bytes());
                h[6] = first_next;
                h[7] = 64;
                h[8..24].copy_from_slice(&s);
                h[24..40].copy_from_slice(&d);
                let transport = 40 + ext_bytes.len();
                h.extend_from_slice(&ext_bytes);
                h.extend_from_slice(&segment);
                (h, 40, transport, segment.len())
            }
        };
        let len = packet.len();
        let layout = Layout {
            network: 0,
            extensions,
            transport,
            payload: transport + (segment_len - body.len()),
            len,
            padding: len,
            ..Layout::default()
        };
        (packet, layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{
        check::{be16, be32, ipv4, ipv6, segment},
        TCP_ACK, TCP_PSH, TCP_SYN,
    };
    use etherparse::{NetHeaders, PacketHeaders, TransportHeader};

    #[test]
    fn ipv6_authentication_header_sits_before_tcp() {
        let (frame, layout) = Frame::client()
            .ipv6("2001:db8::2", "2001:db8::1")
            .auth_header(0x0102_0304, 9, 12)
            .tcp(40000, 443, TCP_PSH | TCP_ACK)
            .payload(b"hi")
            .build_with_layout();
        assert_eq!(frame[20], 51, "IPv6 next header is AH");
        assert_eq!(layout.extensions, 54);
        assert_eq!(frame[54], 6, "AH next header is TCP");
        assert_eq!(
            frame[55],
            (12 + 12) / 4 - 2,
            "AH length in 4-byte units minus 2"
        );
        assert_eq!(be32(&frame, 58), 0x0102_0304);
        assert_eq!(be32(&frame, 62), 9);
        assert!(frame[66..78].iter().all(|&b| b == 0x5a), "12-byte ICV");
        assert_eq!(layout.transport, 78);
        assert_eq!(layout.payload, 98);
        ipv6(&frame, 14, frame.len());
        segment(&frame, 14, 6, 78, frame.len());

        let parsed = PacketHeaders::from_ethernet_slice(&frame)
            .unwrap_or_else(|e| panic!("etherparse: {e}"));
        let Some(NetHeaders::Ipv6(ip, exts)) = &parsed.net else {
            panic!("IPv6 expected")
        };
        let auth = exts.auth.as_ref().unwrap_or_else(|| panic!("AH expected"));
        assert_eq!((auth.spi, auth.sequence_number), (0x0102_0304, 9));
        assert_eq!(auth.raw_icv().len(), 12);
        let Some(TransportHeader::Tcp(tcp)) = &parsed.transport else {
            panic!("TCP expected")
        };
        assert_eq!(tcp.calc_checksum_ipv6(ip, b"hi").ok(), Some(tcp.checksum));
    }

    #[test]
    fn ipv4_authentication_header_names_the_transport() {
        let (frame, layout) = Frame::client()
            .ipv4("10.0.0.5", "203.0.113.7")
            .auth_header(77, 1, 16)
            .udp(5000, 53)
            .payload(&[1, 2, 3, 4])
            .build_with_layout();
        assert_eq!(frame[23], 51, "IPv4 protocol is AH");
        assert_eq!(layout.extensions, 34);
        assert_eq!(frame[34], 17, "AH next header is UDP");
        assert_eq!(frame[35], (12 + 16) / 4 - 2);
        assert_eq!(layout.transport, 34 + 28);
        ipv4(&frame, 14, frame.len());
        segment(&frame, 14, 17, layout.transport, frame.len());

        let parsed = PacketHeaders::from_ethernet_slice(&frame)
            .unwrap_or_else(|e| panic!("etherparse: {e}"));
        let Some(NetHeaders::Ipv4(ip, exts)) = &parsed.net else {
            panic!("IPv4 expected")
        };
        assert_eq!(exts.auth.as_ref().map(|a| a.spi), Some(77));
        assert_eq!(ip.calc_header_checksum(), ip.header_checksum);
        let Some(TransportHeader::Udp(udp)) = &parsed.transport else {
            panic!("UDP expected")
        };
        assert_eq!(
            udp.calc_checksum_ipv4(ip, &[1, 2, 3, 4]).ok(),
            Some(udp.checksum)
        );
    }

    #[test]
    fn long_destination_option_chains_link_up() {
        for count in [7usize, 8, 9, 16] {
            let mut frame = Frame::client().ipv6("2001:db8::2", "2001:db8::1");
            for _ in 0..count {
                frame = frame.extension(Extension::DestinationOptions);
            }
            let (bytes, layout) = frame.tcp(1, 443, TCP_SYN).build_with_layout();
            assert_eq!(bytes[20], 60);
            for i in 0..count {
                let at = 54 + 8 * i;
                let next = if i + 1 == count { 6 } else { 60 };
                assert_eq!(bytes[at], next, "header {i} of {count}");
                assert_eq!(&bytes[at + 1..at + 8], &[0, 1, 4, 0, 0, 0, 0]);
            }
            assert_eq!(layout.extensions, 54);
            assert_eq!(layout.transport, 54 + 8 * count);
            ipv6(&bytes, 14, bytes.len());
            segment(&bytes, 14, 6, layout.transport, bytes.len());
        }
    }

    #[test]
    fn sized_extensions_have_the_length_they_announce() {
        let (frame, layout) = Frame::client()
            .ipv6("2001:db8::2", "2001:db8::1")
            .extension(Extension::Sized {
                header: 0,
                len_units: 3,
            })
            .extension(Extension::Sized {
                header: 43,
                len_units: 1,
            })
            .extension(Extension::Sized {
                header: 60,
                len_units: 40,
            })
            .ip_protocol(253)
            .payload(b"??")
            .build_with_layout();
        assert_eq!(frame[20], 0);
        let mut at = 54;
        for (kind, next, units) in [(0u8, 43u8, 3usize), (43, 60, 1), (60, 253, 40)] {
            assert_eq!(frame[at], next);
            assert_eq!(usize::from(frame[at + 1]), units);
            let end = at + (units + 1) * 8;
            if kind == 43 {
                assert!(frame[at + 2..end].iter().all(|&b| b == 0), "routing body");
            } else {
                // Options headers: the options cover the body exactly.
                let mut o = at + 2;
                while o < end {
                    o += if frame[o] == 0 {
                        1
                    } else {
                        2 + usize::from(frame[o + 1])
                    };
                }
                assert_eq!(o, end, "options end with the header");
            }
            at = end;
        }
        assert_eq!(layout.transport, at);
        assert_eq!(&frame[at..], b"??");
        ipv6(&frame, 14, frame.len());
    }

    #[test]
    fn pad_options_fill_any_length() {
        for len in 0..600 {
            let pad = pad_options(len);
            assert_eq!(pad.len(), len);
            let mut o = 0;
            while o < len {
                o += if pad[o] == 0 {
                    1
                } else {
                    2 + usize::from(pad[o + 1])
                };
            }
            assert_eq!(o, len);
        }
    }

    #[test]
    fn ipv6_fragment_and_auth_mix_in_a_chain() {
        let (frame, layout) = Frame::client()
            .ipv6("2001:db8::2", "2001:db8::1")
            .extension(Extension::HopByHop)
            .auth_header(5, 6, 4)
            .extension(Extension::Fragment {
                offset: 0,
                more: true,
            })
            .udp(5000, 53)
            .build_with_layout();
        assert_eq!(frame[20], 0);
        assert_eq!(frame[54], 51, "hop-by-hop points at AH");
        assert_eq!(frame[62], 44, "AH points at the fragment header");
        assert_eq!(frame[63], 2, "16-byte AH");
        assert_eq!(frame[78], 17);
        assert_eq!(layout.transport, 86);
        assert_eq!(be16(&frame, 18), 8 + 16 + 8 + 8);
    }
}
