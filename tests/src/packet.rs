//! Builds exact Ethernet frames for `BPF_PROG_TEST_RUN` tests and benchmarks:
//! VLAN tags, IPv4 (options, fragments), IPv6 (extension headers), TCP, UDP,
//! ICMP, ICMPv6 and DNS, with correct lengths and checksums.
//!
//! ```text
//! let frame = Frame::new(CLIENT_MAC, GATEWAY_MAC)
//!     .vlan(100)
//!     .ipv4("10.0.0.5", "203.0.113.7")
//!     .tcp(40000, 443, TCP_SYN)
//!     .build();
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

/// An IPv6 extension header placed before the transport header.
#[derive(Clone, Debug)]
pub enum Extension {
    HopByHop,
    Routing,
    DestinationOptions,
    /// A fragment header; `offset` in 8-byte units.
    Fragment {
        offset: u16,
        more: bool,
    },
}

#[derive(Clone, Debug)]
enum Network {
    None,
    Ipv4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        options: Vec<u8>,
        fragment_offset: u16,
        more_fragments: bool,
    },
    Ipv6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        extensions: Vec<Extension>,
    },
}

#[derive(Clone, Debug)]
enum Transport {
    None,
    Tcp { src: u16, dst: u16, flags: u8 },
    Udp { src: u16, dst: u16 },
    IcmpEcho { id: u16, seq: u16 },
}

/// Offsets of each layer in a built frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub network: usize,
    pub transport: usize,
    pub payload: usize,
    pub len: usize,
}

/// A frame under construction.
#[derive(Clone, Debug)]
pub struct Frame {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    vlans: Vec<(u16, u16)>,
    ethertype: Option<u16>,
    network: Network,
    transport: Transport,
    payload: Vec<u8>,
}

pub const CLIENT_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x05];
pub const GATEWAY_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

fn parse_v4(text: &str) -> Ipv4Addr {
    text.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
}

fn parse_v6(text: &str) -> Ipv6Addr {
    text.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
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

impl Frame {
    pub fn new(src_mac: [u8; 6], dst_mac: [u8; 6]) -> Frame {
        Frame {
            src_mac,
            dst_mac,
            vlans: Vec::new(),
            ethertype: None,
            network: Network::None,
            transport: Transport::None,
            payload: Vec::new(),
        }
    }

    /// A frame from the default client MAC to the gateway MAC.
    pub fn client() -> Frame {
        Frame::new(CLIENT_MAC, GATEWAY_MAC)
    }

    /// Adds an 802.1Q tag (the first call is the outermost tag).
    pub fn vlan(mut self, id: u16) -> Frame {
        self.vlans.push((0x8100, id));
        self
    }

    /// Adds an 802.1ad (QinQ service) tag.
    pub fn qinq(mut self, id: u16) -> Frame {
        self.vlans.push((0x88a8, id));
        self
    }

    /// A non-IP frame with this ethertype (the payload follows the header).
    pub fn ethertype(mut self, ethertype: u16) -> Frame {
        self.ethertype = Some(ethertype);
        self
    }

    pub fn ipv4(mut self, src: &str, dst: &str) -> Frame {
        self.network = Network::Ipv4 {
            src: parse_v4(src),
            dst: parse_v4(dst),
            options: Vec::new(),
            fragment_offset: 0,
            more_fragments: false,
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

    pub fn extension(mut self, extension: Extension) -> Frame {
        if let Network::Ipv6 { extensions, .. } = &mut self.network {
            extensions.push(extension);
        }
        self
    }

    pub fn tcp(mut self, src: u16, dst: u16, flags: u8) -> Frame {
        self.transport = Transport::Tcp { src, dst, flags };
        self
    }

    pub fn udp(mut self, src: u16, dst: u16) -> Frame {
        self.transport = Transport::Udp { src, dst };
        self
    }

    /// ICMP echo request (ICMPv6 over IPv6).
    pub fn icmp_echo(mut self, id: u16, seq: u16) -> Frame {
        self.transport = Transport::IcmpEcho { id, seq };
        self
    }

    pub fn payload(mut self, bytes: &[u8]) -> Frame {
        self.payload = bytes.to_vec();
        self
    }

    /// A DNS query for `name` (type A) as the UDP payload.
    pub fn dns_query(self, id: u16, name: &str) -> Frame {
        let payload = dns_message(id, false, name);
        self.payload(&payload)
    }

    /// A DNS answer (QR set) for `name` as the UDP payload.
    pub fn dns_answer(self, id: u16, name: &str) -> Frame {
        let payload = dns_message(id, true, name);
        self.payload(&payload)
    }

    fn protocol(&self) -> u8 {
        match (&self.transport, &self.network) {
            (Transport::Tcp { .. }, _) => 6,
            (Transport::Udp { .. }, _) => 17,
            (Transport::IcmpEcho { .. }, Network::Ipv6 { .. }) => 58,
            (Transport::IcmpEcho { .. }, _) => 1,
            (Transport::None, _) => 59,
        }
    }

    fn transport_bytes(&self, pseudo: &dyn Fn(u8, usize) -> Vec<u8>) -> Vec<u8> {
        let mut seg = match self.transport {
            Transport::None => Vec::new(),
            Transport::Tcp { src, dst, flags } => {
                let mut h = vec![0u8; 20];
                h[0..2].copy_from_slice(&src.to_be_bytes());
                h[2..4].copy_from_slice(&dst.to_be_bytes());
                h[4..8].copy_from_slice(&0x1000_0000u32.to_be_bytes());
                if flags & TCP_ACK != 0 {
                    h[8..12].copy_from_slice(&0x2000_0000u32.to_be_bytes());
                }
                h[12] = 5 << 4;
                h[13] = flags;
                h[14..16].copy_from_slice(&64240u16.to_be_bytes());
                h
            }
            Transport::Udp { src, dst } => {
                let mut h = vec![0u8; 8];
                h[0..2].copy_from_slice(&src.to_be_bytes());
                h[2..4].copy_from_slice(&dst.to_be_bytes());
                let len = (8 + self.payload.len()) as u16;
                h[4..6].copy_from_slice(&len.to_be_bytes());
                h
            }
            Transport::IcmpEcho { id, seq } => {
                let mut h = vec![0u8; 8];
                h[0] = if matches!(self.network, Network::Ipv6 { .. }) {
                    128
                } else {
                    8
                };
                h[4..6].copy_from_slice(&id.to_be_bytes());
                h[6..8].copy_from_slice(&seq.to_be_bytes());
                h
            }
        };
        let header_len = seg.len();
        seg.extend_from_slice(&self.payload);
        let checksum_at = match self.transport {
            Transport::Tcp { .. } => Some(16),
            Transport::Udp { .. } => Some(6),
            Transport::IcmpEcho { .. } => Some(2),
            Transport::None => None,
        };
        if let Some(at) = checksum_at {
            let icmpv4 = matches!(self.transport, Transport::IcmpEcho { .. })
                && !matches!(self.network, Network::Ipv6 { .. });
            let mut summed = if icmpv4 {
                Vec::new()
            } else {
                pseudo(self.protocol(), seg.len())
            };
            summed.extend_from_slice(&seg);
            let mut sum = checksum(&summed);
            if sum == 0 && matches!(self.transport, Transport::Udp { .. }) {
                sum = 0xffff;
            }
            seg[at..at + 2].copy_from_slice(&sum.to_be_bytes());
        }
        let _ = header_len;
        seg
    }

    /// The frame's bytes.
    pub fn build(&self) -> Vec<u8> {
        self.build_with_layout().0
    }

    /// The frame's bytes and where each layer starts.
    pub fn build_with_layout(&self) -> (Vec<u8>, Layout) {
        let mut frame = Vec::new();
        frame.extend_from_slice(&self.dst_mac);
        frame.extend_from_slice(&self.src_mac);
        for (tpid, id) in &self.vlans {
            frame.extend_from_slice(&tpid.to_be_bytes());
            frame.extend_from_slice(&(id & 0x0fff).to_be_bytes());
        }
        let ethertype = match (&self.network, self.ethertype) {
            (_, Some(t)) => t,
            (Network::Ipv4 { .. }, None) => 0x0800,
            (Network::Ipv6 { .. }, None) => 0x86dd,
            (Network::None, None) => 0x88b5,
        };
        frame.extend_from_slice(&ethertype.to_be_bytes());
        let network_at = frame.len();
        match &self.network {
            Network::None => {
                frame.extend_from_slice(&self.payload);
                let len = frame.len();
                (
                    frame,
                    Layout {
                        network: network_at,
                        transport: len,
                        payload: network_at,
                        len,
                    },
                )
            }
            Network::Ipv4 {
                src,
                dst,
                options,
                fragment_offset,
                more_fragments,
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
                let segment = self.transport_bytes(&pseudo);
                let header_len = 20 + options.len();
                let mut h = vec![0u8; 20];
                h[0] = 0x40 | (header_len / 4) as u8;
                h[2..4].copy_from_slice(&((header_len + segment.len()) as u16).to_be_bytes());
                h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
                let flags_fragment =
                    (fragment_offset & 0x1fff) | if *more_fragments { 0x2000 } else { 0 };
                h[6..8].copy_from_slice(&flags_fragment.to_be_bytes());
                h[8] = 64;
                h[9] = self.protocol();
                h[12..16].copy_from_slice(&s);
                h[16..20].copy_from_slice(&d);
                h.extend_from_slice(options);
                let sum = checksum(&h);
                h[10..12].copy_from_slice(&sum.to_be_bytes());
                frame.extend_from_slice(&h);
                let transport_at = frame.len();
                frame.extend_from_slice(&segment);
                let payload_at = transport_at + (segment.len() - self.payload.len());
                let len = frame.len();
                (
                    frame,
                    Layout {
                        network: network_at,
                        transport: transport_at,
                        payload: payload_at,
                        len,
                    },
                )
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
                let segment = self.transport_bytes(&pseudo);
                let mut ext_bytes = Vec::new();
                let codes: Vec<u8> = extensions
                    .iter()
                    .map(|e| match e {
                        Extension::HopByHop => 0,
                        Extension::Routing => 43,
                        Extension::Fragment { .. } => 44,
                        Extension::DestinationOptions => 60,
                    })
                    .collect();
                for (i, ext) in extensions.iter().enumerate() {
                    let next = codes.get(i + 1).copied().unwrap_or_else(|| self.protocol());
                    match ext {
                        Extension::Fragment { offset, more } => {
                            let value = (offset << 3) | u16::from(*more);
                            ext_bytes.extend_from_slice(&[next, 0]);
                            ext_bytes.extend_from_slice(&value.to_be_bytes());
                            ext_bytes.extend_from_slice(&[0, 0, 0x56, 0x78]);
                        }
                        Extension::Routing => {
                            // Type 0 routing header with no addresses left: 8 bytes.
                            ext_bytes.extend_from_slice(&[next, 0, 0, 0, 0, 0, 0, 0]);
                        }
                        _ => {
                            // 8 bytes: next header, length 0, a PadN option.
                            ext_bytes.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
                        }
                    }
                }
                let first_next = codes.first().copied().unwrap_or_else(|| self.protocol());
                let mut h = vec![0u8; 40];
                h[0] = 0x60;
                h[4..6].copy_from_slice(&((ext_bytes.len() + segment.len()) as u16).to_be_bytes());
                h[6] = first_next;
                h[7] = 64;
                h[8..24].copy_from_slice(&s);
                h[24..40].copy_from_slice(&d);
                frame.extend_from_slice(&h);
                frame.extend_from_slice(&ext_bytes);
                let transport_at = frame.len();
                frame.extend_from_slice(&segment);
                let payload_at = transport_at + (segment.len() - self.payload.len());
                let len = frame.len();
                (
                    frame,
                    Layout {
                        network: network_at,
                        transport: transport_at,
                        payload: payload_at,
                        len,
                    },
                )
            }
        }
    }
}

/// Encodes `name` as DNS labels (`www.example.com` -> `\x03www\x07example\x03com\x00`).
pub fn dns_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len().min(63) as u8);
        out.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    out.push(0);
    out
}

/// A DNS message with one question for `name` (type A), plus one answer when `answer`.
pub fn dns_message(id: u16, answer: bool, name: &str) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&(if answer { 0x8180u16 } else { 0x0100u16 }).to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&(if answer { 1u16 } else { 0 }).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&dns_name(name));
    m.extend_from_slice(&[0, 1, 0, 1]);
    if answer {
        m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

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
                len: 54
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
    fn dns_names_are_labels() {
        assert_eq!(
            dns_name("www.example.com"),
            b"\x03www\x07example\x03com\x00".to_vec()
        );
        let frame = Frame::client()
            .ipv4("10.0.0.5", "203.0.113.53")
            .udp(5000, 53)
            .dns_query(0x0102, "a.bc")
            .build();
        assert_eq!(&frame[42..44], &[1, 2]);
        assert_eq!(frame[44] & 0x80, 0, "QR clear in a query");
        assert_eq!(&frame[54..60], b"\x01a\x02bc\x00");
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
