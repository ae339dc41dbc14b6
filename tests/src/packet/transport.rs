//! Transport headers: TCP, UDP, ICMP echo and destination unreachable, ESP,
//! and raw payloads of any IP protocol.

use super::{checksum, ip::Network, Frame, TCP_ACK};

#[derive(Clone, Debug)]
pub(super) enum Transport {
    None,
    Tcp { src: u16, dst: u16, flags: u8 },
    Udp { src: u16, dst: u16 },
    IcmpEcho { id: u16, seq: u16 },
    IcmpUnreachable { code: u8 },
    Esp { spi: u32, sequence: u32 },
    Raw { protocol: u8 },
}

impl Frame {
    /// A 20-byte TCP header (sequence 0x10000000, acknowledgement 0x20000000
    /// when `flags` has ACK, window 64240) with a correct checksum.
    pub fn tcp(mut self, src: u16, dst: u16, flags: u8) -> Frame {
        self.transport = Transport::Tcp { src, dst, flags };
        self
    }

    /// An 8-byte UDP header with its length and a correct checksum (never 0:
    /// a computed 0 is sent as 0xffff).
    pub fn udp(mut self, src: u16, dst: u16) -> Frame {
        self.transport = Transport::Udp { src, dst };
        self
    }

    /// ICMP echo request (ICMPv6 over IPv6).
    pub fn icmp_echo(mut self, id: u16, seq: u16) -> Frame {
        self.transport = Transport::IcmpEcho { id, seq };
        self
    }

    /// ICMP destination unreachable (type 3; ICMPv6 type 1 over IPv6) with
    /// `code`, quoting `quoted` (an IP packet, e.g. a raw-IP frame's bytes,
    /// cut where the test likes) after its 8-byte header.
    pub fn icmp_unreachable(mut self, code: u8, quoted: &[u8]) -> Frame {
        self.transport = Transport::IcmpUnreachable { code };
        self.payload(quoted)
    }

    /// ESP (IP protocol 50): an 8-byte header (`spi`, `sequence`) followed by
    /// the payload as opaque bytes; nothing after it is readable.
    pub fn esp(mut self, spi: u32, sequence: u32) -> Frame {
        self.transport = Transport::Esp { spi, sequence };
        self
    }

    /// No transport header of the builder's: the IP protocol (or the last
    /// IPv6 next header) says `protocol` (e.g. 253, or 6 to hand-craft a TCP
    /// header) and the payload follows the IP header and its extensions.
    pub fn ip_protocol(mut self, protocol: u8) -> Frame {
        self.transport = Transport::Raw { protocol };
        self
    }

    /// The IP protocol number the transport is named by (59, No Next Header,
    /// when there is none).
    pub(super) fn protocol_number(&self) -> u8 {
        match (&self.transport, &self.network) {
            (Transport::Tcp { .. }, _) => 6,
            (Transport::Udp { .. }, _) => 17,
            (
                Transport::IcmpEcho { .. } | Transport::IcmpUnreachable { .. },
                Network::Ipv6 { .. },
            ) => 58,
            (Transport::IcmpEcho { .. } | Transport::IcmpUnreachable { .. }, _) => 1,
            (Transport::Esp { .. }, _) => 50,
            (Transport::Raw { protocol }, _) => *protocol,
            (Transport::None, _) => 59,
        }
    }

    /// The transport header followed by `body`, its checksum computed over
    /// the pseudo-header that `pseudo(protocol, length)` returns.
    pub(super) fn transport_bytes(
        &self,
        body: &[u8],
        pseudo: &dyn Fn(u8, usize) -> Vec<u8>,
    ) -> Vec<u8> {
        let mut seg = match self.transport {
            Transport::None | Transport::Raw { .. } => Vec::new(),
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
                let len = (8 + body.len()) as u16;
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
            Transport::IcmpUnreachable { code } => {
                let mut h = vec![0u8; 8];
                h[0] = if matches!(self.network, Network::Ipv6 { .. }) {
                    1
                } else {
                    3
                };
                h[1] = code;
                h
            }
            Transport::Esp { spi, sequence } => {
                let mut h = spi.to_be_bytes().to_vec();
                h.extend_from_slice(&sequence.to_be_bytes());
                h
            }
        };
        seg.extend_from_slice(body);
        let checksum_at = match self.transport {
            Transport::Tcp { .. } => Some(16),
            Transport::Udp { .. } => Some(6),
            Transport::IcmpEcho { .. } | Transport::IcmpUnreachable { .. } => Some(2),
            Transport::None | Transport::Esp { .. } | Transport::Raw { .. } => None,
        };
        if let Some(at) = checksum_at {
            let icmpv4 = matches!(
                self.transport,
                Transport::IcmpEcho { .. } | Transport::IcmpUnreachable { .. }
            ) && !matches!(self.network, Network::Ipv6 { .. });
            let mut summed = if icmpv4 {
                Vec::new()
            } else {
                pseudo(self.protocol_number(), seg.len())
            };
            summed.extend_from_slice(&seg);
            let mut sum = checksum(&summed);
            if sum == 0 && matches!(self.transport, Transport::Udp { .. }) {
                sum = 0xffff;
            }
            seg[at..at + 2].copy_from_slice(&sum.to_be_bytes());
        }
        seg
    }
}

#[cfg(test)]
mod tests {
    use crate::packet::{
        check::{be32, ipv4, ipv6, segment},
        Extension, Frame,
    };

    #[test]
    fn esp_hides_everything_after_its_header() {
        let opaque = [0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3];
        let (frame, layout) = Frame::client()
            .ipv4("10.0.0.5", "203.0.113.7")
            .esp(0xcafe_f00d, 42)
            .payload(&opaque)
            .build_with_layout();
        assert_eq!(frame[23], 50, "IPv4 protocol ESP");
        assert_eq!(layout.transport, 34);
        assert_eq!(be32(&frame, 34), 0xcafe_f00d);
        assert_eq!(be32(&frame, 38), 42);
        assert_eq!(layout.payload, 42);
        assert_eq!(&frame[42..], &opaque);
        ipv4(&frame, 14, frame.len());

        let (frame, layout) = Frame::client()
            .ipv6("2001:db8::2", "2001:db8::1")
            .extension(Extension::DestinationOptions)
            .esp(1, 2)
            .payload(&opaque)
            .build_with_layout();
        assert_eq!(frame[20], 60);
        assert_eq!(frame[54], 50, "the chain ends at ESP");
        assert_eq!(layout.transport, 62);
        assert_eq!(be32(&frame, 62), 1);
        assert_eq!(layout.payload, 70);
        ipv6(&frame, 14, frame.len());
    }

    #[test]
    fn unknown_protocols_carry_their_payload_right_after_ip() {
        let (frame, layout) = Frame::client()
            .ipv4("10.0.0.5", "203.0.113.7")
            .ip_protocol(253)
            .payload(b"experiment")
            .build_with_layout();
        assert_eq!(frame[23], 253);
        assert_eq!((layout.transport, layout.payload), (34, 34));
        assert_eq!(&frame[34..], b"experiment");
        ipv4(&frame, 14, frame.len());

        let (frame, layout) = Frame::client()
            .ipv6("2001:db8::2", "2001:db8::1")
            .ip_protocol(253)
            .payload(b"x")
            .build_with_layout();
        assert_eq!(frame[20], 253);
        assert_eq!(layout.transport, 54);
        ipv6(&frame, 14, frame.len());
    }

    #[test]
    fn unreachables_quote_the_packet_after_an_8_byte_header() {
        let quoted = Frame::client()
            .ipv4("10.0.0.5", "203.0.113.7")
            .udp(40000, 161)
            .raw_ip()
            .build();
        let (frame, layout) = Frame::client()
            .ipv4("203.0.113.7", "10.0.0.5")
            .icmp_unreachable(3, &quoted[..28])
            .build_with_layout();
        assert_eq!(frame[23], 1);
        assert_eq!((frame[34], frame[35]), (3, 3), "type 3, code 3");
        assert_eq!(layout.payload, 42);
        assert_eq!(&frame[42..], &quoted[..28]);
        assert_eq!(crate::packet::checksum(&frame[34..]), 0);

        let quoted = Frame::client()
            .ipv6("fd00::5", "2001:db8::7")
            .tcp(40000, 443, crate::packet::TCP_SYN)
            .raw_ip()
            .build();
        let frame = Frame::client()
            .ipv6("2001:db8::7", "fd00::5")
            .icmp_unreachable(4, &quoted)
            .build();
        assert_eq!(frame[20], 58);
        assert_eq!((frame[54], frame[55]), (1, 4), "ICMPv6 type 1, code 4");
        assert_eq!(&frame[62..], &quoted[..]);
        segment(&frame, 14, 58, 54, frame.len());
    }

    #[test]
    fn icmp_and_icmpv6_checksums_verify() {
        let frame = Frame::client()
            .ipv6("2001:db8::2", "2001:db8::1")
            .icmp_echo(1, 2)
            .payload(b"abc")
            .build();
        segment(&frame, 14, 58, 54, frame.len());
        let frame = Frame::client()
            .ipv4("10.0.0.5", "203.0.113.7")
            .icmp_echo(1, 2)
            .payload(b"abc")
            .build();
        assert_eq!(crate::packet::checksum(&frame[34..]), 0);
    }
}
