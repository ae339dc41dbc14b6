//! DNS messages, over UDP and over TCP (with the 2-byte length prefix).

use super::Frame;

impl Frame {
    /// A DNS query for `name` (type A) as the UDP payload.
    pub fn dns_query(self, id: u16, name: &str) -> Frame {
        let payload = dns_message(id, false, name);
        self.payload(&payload)
    }

    /// A DNS query for `name` of type `qtype` as the UDP payload.
    pub fn dns_query_typed(self, id: u16, name: &str, qtype: u16) -> Frame {
        let payload = dns_message_with(id, false, name, qtype, &[]);
        self.payload(&payload)
    }

    /// A DNS answer (QR set) for `name` as the UDP payload.
    pub fn dns_answer(self, id: u16, name: &str) -> Frame {
        let payload = dns_message(id, true, name);
        self.payload(&payload)
    }

    /// A DNS query for `name` (type A) as a TCP payload: the 2-byte message
    /// length, then the message. Use after `.tcp(src, 53, TCP_PSH | TCP_ACK)`.
    pub fn tcp_dns_query(self, id: u16, name: &str) -> Frame {
        let payload = dns_tcp_payload(&dns_message(id, false, name));
        self.payload(&payload)
    }

    /// A DNS answer (QR set) for `name` as a TCP payload, length-prefixed
    /// like [`Frame::tcp_dns_query`].
    pub fn tcp_dns_answer(self, id: u16, name: &str) -> Frame {
        let payload = dns_tcp_payload(&dns_message(id, true, name));
        self.payload(&payload)
    }
}

/// `message` as DNS over TCP sends it: its length (2 bytes, big-endian), then
/// the message.
pub fn dns_tcp_payload(message: &[u8]) -> Vec<u8> {
    let mut out = (message.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(message);
    out
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
    let addrs: &[[u8; 4]] = if answer { &[[192, 0, 2, 1]] } else { &[] };
    dns_message_with(id, answer, name, 1, addrs)
}

/// A DNS message (a response when `answer`: QR and RA set) with one
/// question for `name` of type `qtype`, then one A record (TTL 60, the name
/// as a pointer to the question's) per address in `addrs`.
pub fn dns_message_with(
    id: u16,
    answer: bool,
    name: &str,
    qtype: u16,
    addrs: &[[u8; 4]],
) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&(if answer { 0x8180u16 } else { 0x0100u16 }).to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&dns_name(name));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    for addr in addrs {
        m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        m.extend_from_slice(addr);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{
        check::{be16, ipv4, ipv6, segment},
        TCP_ACK, TCP_PSH,
    };
    use etherparse::{NetHeaders, PacketHeaders, TransportHeader};

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
    fn typed_questions_and_many_answers() {
        let query = dns_message_with(7, false, "t.example", 10, &[]);
        let name_end = 12 + dns_name("t.example").len();
        assert_eq!(&query[name_end..], &[0, 10, 0, 1]);
        assert_eq!(&query[6..8], &[0, 0], "no answers in a query");
        let addrs: Vec<[u8; 4]> = (0..40u8).map(|i| [192, 0, 2, i]).collect();
        let answer = dns_message_with(7, true, "t.example", 1, &addrs);
        assert_eq!(&answer[6..8], &[0, 40]);
        assert_eq!(answer.len(), name_end + 4 + 40 * 16);
        assert_eq!(&answer[answer.len() - 4..], &[192, 0, 2, 39]);
        assert_eq!(
            dns_message(7, true, "t.example"),
            dns_message_with(7, true, "t.example", 1, &[[192, 0, 2, 1]])
        );
    }

    #[test]
    fn dns_over_tcp_is_length_prefixed() {
        let (frame, layout) = Frame::client()
            .ipv4("10.0.0.5", "203.0.113.53")
            .tcp(40000, 53, TCP_PSH | TCP_ACK)
            .tcp_dns_query(0xabcd, "example.com")
            .build_with_layout();
        let message = dns_message(0xabcd, false, "example.com");
        assert_eq!(frame[layout.transport + 13], TCP_PSH | TCP_ACK);
        assert_eq!(usize::from(be16(&frame, layout.payload)), message.len());
        assert_eq!(&frame[layout.payload + 2..], &message[..]);
        ipv4(&frame, 14, frame.len());
        segment(&frame, 14, 6, layout.transport, frame.len());

        let parsed = PacketHeaders::from_ethernet_slice(&frame)
            .unwrap_or_else(|e| panic!("etherparse: {e}"));
        let (Some(NetHeaders::Ipv4(ip, _)), Some(TransportHeader::Tcp(tcp))) =
            (&parsed.net, &parsed.transport)
        else {
            panic!("IPv4/TCP expected")
        };
        let payload = &frame[layout.payload..];
        assert_eq!(tcp.calc_checksum_ipv4(ip, payload).ok(), Some(tcp.checksum));
        assert!(tcp.psh && tcp.ack);

        let (frame, layout) = Frame::client()
            .ipv6("2001:db8::53", "2001:db8::5")
            .tcp(53, 40000, TCP_PSH | TCP_ACK)
            .tcp_dns_answer(0xabcd, "example.com")
            .build_with_layout();
        let message = dns_message(0xabcd, true, "example.com");
        assert_eq!(usize::from(be16(&frame, layout.payload)), message.len());
        assert_eq!(
            frame[layout.payload + 4] & 0x80,
            0x80,
            "QR set in an answer"
        );
        assert_eq!(&frame[layout.payload + 2..], &message[..]);
        ipv6(&frame, 14, frame.len());
        segment(&frame, 14, 6, layout.transport, frame.len());
    }

    #[test]
    fn short_udp_payload_on_port_53_is_padded_like_a_nic() {
        let (frame, layout) = Frame::client()
            .ipv4("10.0.0.5", "203.0.113.53")
            .udp(5000, 53)
            .payload(&[0x12, 0x34, 0x01, 0x00])
            .pad_to(60)
            .build_with_layout();
        assert_eq!(frame.len(), 60);
        assert_eq!(be16(&frame, 36), 53);
        assert_eq!(be16(&frame, 38), 8 + 4, "UDP length");
        assert_eq!(&frame[42..46], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(layout.padding, 46);
        assert!(frame[46..].iter().all(|&b| b == 0));
        ipv4(&frame, 14, 46);
        segment(&frame, 14, 17, 34, 46);
    }
}
