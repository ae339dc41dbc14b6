//! Events the program sends to the agent through the ring buffer.
//!
//! A record is an [`EventHeader`] alone ([`EVENT_HEADER_LEN`] bytes) or a
//! whole [`Event`] (the header, then [`EVENT_PAYLOAD_MAX`] bytes of payload;
//! [`EVENT_LEN`] bytes): only the DNS kinds ([`EventKind::has_payload`])
//! carry a payload, so that the other kinds take a ninth of the ring's room.
//!
//! Addresses and ports are as on the wire: `src` sent the packet, `dst`
//! received it. For the answers to a protected host ([`EventKind::TcpAnswered`],
//! [`EventKind::TcpRefused`], [`EventKind::DnsAnswer`]) `src` is therefore
//! the peer and `dst` the protected host. [`EventKind::IcmpUnreachable`] is
//! the one exception: its addresses, ports and protocol are those of the
//! packet the ICMP message quotes, turned round so that it reads like the
//! other answers (`src` the peer that was tried, `src_port` the port tried).

use crate::Addr16;

/// Bytes of the DNS message an event carries at most (from its header on).
///
/// 512 bytes is the largest DNS message over UDP without EDNS (RFC 1035
/// 2.3.4, 4.2.1), which every resolver must still be able to take: a
/// question and the common answers (A, AAAA, a CNAME chain, a few NS)
/// fit. Longer messages (EDNS, up to the 1,232 bytes of DNS flag day 2020,
/// TXT records, DNSSEC) arrive cut, flagged, with their true length. A
/// larger cap would make every DNS record in the ring larger: the ring
/// holds `EVENTS_RING_BYTES / EVENT_LEN` of them.
pub const EVENT_PAYLOAD_MAX: usize = 512;

/// Bytes of a DNS message's fixed header (RFC 1035 4.1.1); the question
/// name follows it.
pub const DNS_HEADER_LEN: usize = 12;

/// Longest question name (wire format, without its terminating zero) an
/// event reports: RFC 1035 2.3.4 allows 255 bytes with the zero.
pub const DNS_QNAME_MAX: usize = 254;

/// What an [`Event`] reports.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(
        strum::IntoStaticStr,
        strum::FromRepr,
        strum::EnumIter,
        serde::Serialize,
        serde::Deserialize
    ),
    strum(serialize_all = "snake_case"),
    serde(rename_all = "snake_case")
)]
pub enum EventKind {
    /// A protected host sent a TCP SYN (a new connection attempt).
    TcpSyn = 1,
    /// A protected host sent UDP to a peer its sketch had not seen.
    UdpNewPeer = 2,
    /// A protected host sent a DNS query (QR=0) to port 53; the payload is
    /// the message, the header says where its question name ends and its type.
    DnsQuery = 3,
    /// A protected host was sent a TCP SYN-ACK: a peer answered its SYN
    /// (`src` is the peer, `src_port` the port it answered on).
    TcpAnswered = 4,
    /// A protected host was sent a TCP RST without SYN: a refused attempt
    /// (closed port), or an aborted connection (`src` is the peer).
    TcpRefused = 5,
    /// A protected host sent an ICMP echo request (or ICMPv6, type 128).
    IcmpEcho = 6,
    /// A protected host was sent an ICMP destination unreachable (or
    /// ICMPv6, type 1) about one of its packets; addresses and ports are
    /// the quoted packet's, turned round (see the module documentation).
    IcmpUnreachable = 7,
    /// A protected host was sent a DNS response (QR=1) from port 53, over
    /// UDP or TCP; the payload is the message, up to [`EVENT_PAYLOAD_MAX`] bytes.
    DnsAnswer = 8,
}

impl EventKind {
    /// Whether the kind's records carry a payload (a whole [`Event`]).
    #[inline(always)]
    pub const fn has_payload(self) -> bool {
        matches!(self, EventKind::DnsQuery | EventKind::DnsAnswer)
    }
}

/// The fixed part of every ring buffer record (aligned to 8 so the program
/// writes it in words).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventHeader {
    /// Kernel time (`CLOCK_MONOTONIC`, ns).
    pub timestamp_ns: u64,
    pub src: Addr16,
    pub dst: Addr16,
    /// Host byte order.
    pub src_port: u16,
    pub dst_port: u16,
    pub ifindex: u32,
    /// An [`EventKind`] as `u8`.
    pub kind: u8,
    /// IP protocol number (for [`EventKind::IcmpUnreachable`], the quoted packet's).
    pub protocol: u8,
    /// 1 when the packet that raised the event was dropped by a block.
    pub dropped: u8,
    /// DNS events: bytes of the question name (wire format: labels with
    /// their length bytes, without the terminating zero), which starts at
    /// payload offset [`DNS_HEADER_LEN`]; 0 when the message has no question.
    pub qname_len: u8,
    /// DNS events: 1 when the name did not end inside the copied bytes or
    /// within [`DNS_QNAME_MAX`] bytes, or a label length was not one (a
    /// compression pointer, a length over 63); `qname_len` bytes are what
    /// was read of it and `qtype` is 0.
    pub qname_truncated: u8,
    pub _pad0: u8,
    /// DNS events: the question's type (1 A, 10 NULL, 16 TXT, 28 AAAA,
    /// ...; host byte order), the two bytes after the name; 0 when not read.
    pub qtype: u16,
    /// Bytes of the payload that are valid: the DNS message as copied (at
    /// most [`EVENT_PAYLOAD_MAX`]); 0 for kinds without a payload. Bytes
    /// past it are unspecified.
    pub payload_len: u16,
    /// DNS events: the message's true length in bytes, as its transport
    /// gives it (the UDP length less its header, or the 2-byte prefix of
    /// DNS over TCP); more than `payload_len` when the copy was cut.
    pub message_len: u16,
    pub _pad: [u8; 4],
}

/// Bytes of a record without a payload.
pub const EVENT_HEADER_LEN: usize = 64;
const _: () = assert!(core::mem::size_of::<EventHeader>() == EVENT_HEADER_LEN);

/// A ring buffer record with a payload: the header, then the payload.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub header: EventHeader,
    /// For DNS events, the message from its header on.
    pub payload: [u8; EVENT_PAYLOAD_MAX],
}

/// Bytes of a record with a payload.
pub const EVENT_LEN: usize = EVENT_HEADER_LEN + EVENT_PAYLOAD_MAX;
const _: () = assert!(core::mem::size_of::<Event>() == EVENT_LEN);
const _: () = assert!(core::mem::offset_of!(Event, payload) == EVENT_HEADER_LEN);
// The payload index mask in the program relies on a power of two.
const _: () = assert!(EVENT_PAYLOAD_MAX.is_power_of_two());
// The longest name and its terminating zero fit in the payload.
const _: () = assert!(DNS_HEADER_LEN + DNS_QNAME_MAX < EVENT_PAYLOAD_MAX);

/// Per-CPU token bucket that rate-limits events ([`crate::MAP_EVENT_BUDGET`]),
/// kept as time credit so that no division runs per packet: credit grows
/// with time up to `burst × cost` and each event spends one `cost`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EventBudget {
    pub credit_ns: u64,
    pub refilled_at_ns: u64,
}
const _: () = assert!(core::mem::size_of::<EventBudget>() == 16);
