//! Link layers: the Ethernet header, VLAN tags, PPPoE sessions, MPLS label
//! stacks, Ethernet padding, and raw IP frames that have no link header.

use super::{ip::Network, Frame};

/// 802.1Q VLAN tag.
pub const TPID_8021Q: u16 = 0x8100;
/// 802.1ad (QinQ) service tag.
pub const TPID_8021AD: u16 = 0x88a8;
/// The pre-standard QinQ TPID some switches still use.
pub const TPID_QINQ_9100: u16 = 0x9100;

/// Ethertype of a PPPoE session frame.
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// Ethertype of MPLS unicast.
const ETHERTYPE_MPLS: u16 = 0x8847;

/// One MPLS label stack entry; the bottom-of-stack bit is set by the builder
/// on the last entry of the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MplsLabel {
    /// The label (20 bits; higher bits are dropped).
    pub label: u32,
    /// Traffic class (3 bits).
    pub tc: u8,
    /// Time to live.
    pub ttl: u8,
}

impl MplsLabel {
    /// `label` with traffic class 0 and TTL 64.
    pub fn new(label: u32) -> MplsLabel {
        MplsLabel {
            label,
            tc: 0,
            ttl: 64,
        }
    }

    /// The 4-byte stack entry, with the bottom-of-stack bit when `bottom`.
    fn bytes(self, bottom: bool) -> [u8; 4] {
        let entry = ((self.label & 0xf_ffff) << 12)
            | (u32::from(self.tc & 0x7) << 9)
            | (u32::from(bottom) << 8)
            | u32::from(self.ttl);
        entry.to_be_bytes()
    }
}

/// Where the link header put its shims, from the start of the frame.
pub(super) struct LinkOffsets {
    pub(super) pppoe: Option<usize>,
    pub(super) mpls: Option<usize>,
}

impl Frame {
    /// Adds an 802.1Q tag, TPID 0x8100 (the first tag added is the outermost).
    pub fn vlan(self, id: u16) -> Frame {
        self.vlan_tpid(TPID_8021Q, id)
    }

    /// Adds an 802.1ad (QinQ service) tag, TPID 0x88a8.
    pub fn qinq(self, id: u16) -> Frame {
        self.vlan_tpid(TPID_8021AD, id)
    }

    /// Adds a VLAN tag with any TPID (0x8100, 0x88a8, 0x9100, ...) and VLAN
    /// id `id` (12 bits; priority and DEI 0). Tags can be added without limit;
    /// the first one added is the outermost.
    pub fn vlan_tpid(mut self, tpid: u16, id: u16) -> Frame {
        self.vlans.push((tpid, id));
        self
    }

    /// Forces the ethertype after the VLAN tags (a non-IP frame when there is
    /// no IP layer: the payload follows the header).
    pub fn ethertype(mut self, ethertype: u16) -> Frame {
        self.ethertype = Some(ethertype);
        self
    }

    /// Puts the packet in a PPPoE session (ethertype 0x8864): ver/type 0x11,
    /// code 0, `session` id, length = PPP payload length including the 2-byte
    /// PPP protocol, which is 0x0021 for IPv4, 0x0057 for IPv6, 0x0281 for
    /// MPLS, and 0xc021 (LCP) with no IP layer.
    pub fn pppoe(mut self, session: u16) -> Frame {
        self.pppoe = Some(session);
        self
    }

    /// Appends MPLS unicast label stack entries (ethertype 0x8847, or PPP
    /// protocol 0x0281 inside PPPoE); the first entry is the outermost and the
    /// last carries the bottom-of-stack bit. The IP packet follows the stack
    /// directly.
    pub fn mpls(mut self, labels: &[MplsLabel]) -> Frame {
        self.mpls.extend_from_slice(labels);
        self
    }

    /// Builds the frame without any link header: it starts at the IP header,
    /// as on an L3 interface (`ppp0`, `wg0`, `tun0`). MACs, VLAN tags, PPPoE
    /// and MPLS are left out.
    pub fn raw_ip(mut self) -> Frame {
        self.raw_ip = true;
        self
    }

    /// Pads the frame with zeros after the packet up to `len` bytes when it is
    /// shorter, as a NIC pads Ethernet frames to 60 bytes (`pad_to(60)`). IP
    /// lengths do not count the padding.
    pub fn pad_to(mut self, len: usize) -> Frame {
        self.pad_to = len;
        self
    }

    /// The link header for a network packet of `packet_len` bytes (empty for
    /// a raw IP frame), and where its shims start.
    pub(super) fn link_header(&self, packet_len: usize) -> (Vec<u8>, LinkOffsets) {
        let mut offsets = LinkOffsets {
            pppoe: None,
            mpls: None,
        };
        let mut h = Vec::new();
        if self.raw_ip {
            return (h, offsets);
        }
        h.extend_from_slice(&self.dst_mac);
        h.extend_from_slice(&self.src_mac);
        for (tpid, id) in &self.vlans {
            h.extend_from_slice(&tpid.to_be_bytes());
            h.extend_from_slice(&(id & 0x0fff).to_be_bytes());
        }
        let ethertype = match (&self.network, self.ethertype) {
            (_, Some(t)) => t,
            _ if self.pppoe.is_some() => ETHERTYPE_PPPOE_SESSION,
            _ if !self.mpls.is_empty() => ETHERTYPE_MPLS,
            (Network::Ipv4 { .. }, None) => 0x0800,
            (Network::Ipv6 { .. }, None) => 0x86dd,
            (Network::None, None) => 0x88b5,
        };
        h.extend_from_slice(&ethertype.to_be_bytes());
        let mpls_len = 4 * self.mpls.len();
        if let Some(session) = self.pppoe {
            offsets.pppoe = Some(h.len());
            let protocol: u16 = match &self.network {
                _ if !self.mpls.is_empty() => 0x0281,
                Network::Ipv4 { .. } => 0x0021,
                Network::Ipv6 { .. } => 0x0057,
                Network::None => 0xc021,
            };
            h.extend_from_slice(&[0x11, 0]);
            h.extend_from_slice(&session.to_be_bytes());
            h.extend_from_slice(&((2 + mpls_len + packet_len) as u16).to_be_bytes());
            h.extend_from_slice(&protocol.to_be_bytes());
        }
        if !self.mpls.is_empty() {
            offsets.mpls = Some(h.len());
            let last = self.mpls.len() - 1;
            for (i, label) in self.mpls.iter().enumerate() {
                h.extend_from_slice(&label.bytes(i == last));
            }
        }
        (h, offsets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{
        check::{be16, be32, ipv4, ipv6, segment},
        TCP_ACK, TCP_SYN,
    };
    use etherparse::{LinkExtHeader, NetHeaders, PacketHeaders, TransportHeader};

    #[test]
    fn vlan_tags_of_every_tpid_stack_in_order() {
        let (frame, layout) = Frame::client()
            .qinq(10)
            .vlan_tpid(TPID_QINQ_9100, 20)
            .vlan(0x0abc)
            .ipv4("10.0.0.5", "203.0.113.7")
            .udp(5000, 53)
            .payload(b"data")
            .build_with_layout();
        assert_eq!(be16(&frame, 12), 0x88a8);
        assert_eq!(be16(&frame, 14), 10);
        assert_eq!(be16(&frame, 16), 0x9100);
        assert_eq!(be16(&frame, 18), 20);
        assert_eq!(be16(&frame, 20), 0x8100);
        assert_eq!(be16(&frame, 22), 0x0abc);
        assert_eq!(be16(&frame, 24), 0x0800);
        assert_eq!(layout.network, 26);
        ipv4(&frame, 26, frame.len());
        segment(&frame, 26, 17, layout.transport, frame.len());

        // etherparse reads the same three tags and the packet behind them.
        let parsed = PacketHeaders::from_ethernet_slice(&frame)
            .unwrap_or_else(|e| panic!("etherparse: {e}"));
        let tags: Vec<(u16, u16)> = parsed
            .link_exts
            .iter()
            .map(|ext| match ext {
                LinkExtHeader::Vlan(v) => (v.vlan_id.value(), u16::from(v.ether_type)),
                LinkExtHeader::Macsec(_) => panic!("no MACsec here"),
            })
            .collect();
        assert_eq!(tags, vec![(10, 0x9100), (20, 0x8100), (0x0abc, 0x0800)]);
        let Some(NetHeaders::Ipv4(ip, _)) = &parsed.net else {
            panic!("IPv4 expected: {:?}", parsed.net)
        };
        let Some(TransportHeader::Udp(udp)) = &parsed.transport else {
            panic!("UDP expected")
        };
        assert_eq!(udp.calc_checksum_ipv4(ip, b"data").ok(), Some(udp.checksum));
    }

    #[test]
    fn any_number_of_tags_each_four_bytes() {
        let mut frame = Frame::client();
        for id in 1..=6 {
            frame = frame.vlan_tpid([TPID_8021AD, TPID_QINQ_9100, TPID_8021Q][id % 3], id as u16);
        }
        let (bytes, layout) = frame
            .ipv6("fd00::5", "2001:db8::1")
            .tcp(1, 2, TCP_SYN)
            .build_with_layout();
        assert_eq!(layout.network, 14 + 6 * 4);
        for id in 1..=6 {
            let at = 12 + 4 * (id - 1);
            assert_eq!(
                be16(&bytes, at),
                [TPID_8021AD, TPID_QINQ_9100, TPID_8021Q][id % 3]
            );
            assert_eq!(be16(&bytes, at + 2), id as u16);
        }
        assert_eq!(be16(&bytes, layout.network - 2), 0x86dd);
        ipv6(&bytes, layout.network, bytes.len());
    }

    #[test]
    fn pppoe_session_carries_ipv4_and_ipv6() {
        let (frame, layout) = Frame::client()
            .vlan(7)
            .pppoe(0x1234)
            .ipv4("100.64.0.2", "203.0.113.7")
            .tcp(40000, 443, TCP_SYN)
            .build_with_layout();
        assert_eq!(be16(&frame, 16), 0x8864);
        assert_eq!(layout.pppoe, Some(18));
        assert_eq!(&frame[18..22], &[0x11, 0, 0x12, 0x34]);
        assert_eq!(be16(&frame, 24), 0x0021, "PPP protocol IPv4");
        assert_eq!(layout.network, 26);
        let ip_len = usize::from(be16(&frame, 28));
        assert_eq!(usize::from(be16(&frame, 22)), ip_len + 2, "PPPoE length");
        ipv4(&frame, 26, frame.len());
        segment(&frame, 26, 6, layout.transport, frame.len());

        let (frame, layout) = Frame::client()
            .pppoe(1)
            .ipv6("2001:db8::2", "2001:db8::1")
            .udp(5000, 53)
            .payload(&[1, 2, 3])
            .build_with_layout();
        assert_eq!(be16(&frame, 12), 0x8864);
        assert_eq!(layout.pppoe, Some(14));
        assert_eq!(be16(&frame, 20), 0x0057, "PPP protocol IPv6");
        assert_eq!(layout.network, 22);
        assert_eq!(usize::from(be16(&frame, 18)), 2 + 40 + 8 + 3);
        ipv6(&frame, 22, frame.len());
        segment(&frame, 22, 17, layout.transport, frame.len());
    }

    #[test]
    fn mpls_stack_marks_only_the_last_label_bottom() {
        let labels = [
            MplsLabel::new(16),
            MplsLabel {
                label: 0xf_ffff,
                tc: 5,
                ttl: 1,
            },
            MplsLabel::new(1000),
        ];
        let (frame, layout) = Frame::client()
            .mpls(&labels)
            .ipv4("10.0.0.5", "203.0.113.7")
            .tcp(40000, 443, TCP_ACK)
            .build_with_layout();
        assert_eq!(be16(&frame, 12), 0x8847);
        assert_eq!(layout.mpls, Some(14));
        assert_eq!(be32(&frame, 14), (16 << 12) | 64);
        assert_eq!(be32(&frame, 18), (0xf_ffff << 12) | (5 << 9) | 1);
        assert_eq!(be32(&frame, 22), (1000 << 12) | (1 << 8) | 64);
        assert_eq!(layout.network, 26);
        assert_eq!(frame[26], 0x45, "the IP header follows the stack directly");
        // etherparse reads the IP packet where the layout says it starts.
        let parsed = PacketHeaders::from_ip_slice(&frame[layout.network..])
            .unwrap_or_else(|e| panic!("etherparse: {e}"));
        assert!(matches!(parsed.transport, Some(TransportHeader::Tcp(_))));

        let (frame, layout) = Frame::client()
            .pppoe(9)
            .mpls(&[MplsLabel::new(20)])
            .ipv6("2001:db8::2", "2001:db8::1")
            .build_with_layout();
        assert_eq!(be16(&frame, 12), 0x8864);
        assert_eq!(be16(&frame, 20), 0x0281, "PPP protocol MPLS");
        assert_eq!(layout.mpls, Some(22));
        assert_eq!(layout.network, 26);
        assert_eq!(usize::from(be16(&frame, 18)), 2 + 4 + 40);
    }

    #[test]
    fn raw_ip_frames_start_at_the_ip_header() {
        let (frame, layout) = Frame::client()
            .vlan(5)
            .raw_ip()
            .ipv4("10.0.0.5", "203.0.113.7")
            .udp(5000, 53)
            .payload(&[0; 4])
            .build_with_layout();
        assert_eq!(layout.network, 0);
        assert_eq!(layout.transport, 20);
        assert_eq!(frame.len(), 20 + 8 + 4);
        ipv4(&frame, 0, frame.len());
        segment(&frame, 0, 17, 20, frame.len());
        let parsed =
            PacketHeaders::from_ip_slice(&frame).unwrap_or_else(|e| panic!("etherparse: {e}"));
        assert!(matches!(parsed.transport, Some(TransportHeader::Udp(_))));

        let frame = Frame::client()
            .raw_ip()
            .ipv6("2001:db8::2", "2001:db8::1")
            .tcp(1, 2, TCP_SYN)
            .build();
        assert_eq!(frame[0] >> 4, 6);
        assert_eq!(frame.len(), 60);
        segment(&frame, 0, 6, 40, 60);
    }

    #[test]
    fn short_frames_are_padded_after_the_packet() {
        let (frame, layout) = Frame::client()
            .ipv4("10.0.0.5", "203.0.113.53")
            .udp(5000, 53)
            .payload(&[1, 2, 3, 4])
            .pad_to(60)
            .build_with_layout();
        assert_eq!(frame.len(), 60);
        assert_eq!(layout.len, 60);
        assert_eq!(layout.padding, 14 + 20 + 8 + 4);
        assert!(frame[layout.padding..].iter().all(|&b| b == 0));
        ipv4(&frame, 14, layout.padding);
        assert_eq!(be16(&frame, 38), 12, "UDP length leaves the padding out");
        segment(&frame, 14, 17, 34, layout.padding);

        let long = Frame::client()
            .ipv4("10.0.0.5", "203.0.113.7")
            .tcp(1, 2, TCP_SYN)
            .payload(&[7; 10]);
        assert_eq!(
            long.clone().pad_to(60).build(),
            long.build(),
            "64 bytes need no padding"
        );
    }
}
