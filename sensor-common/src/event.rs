//! Events the program sends to the agent through the ring buffer.

use crate::Addr16;

/// Longest DNS query name (wire format, labels with length bytes) an event carries.
pub const DNS_QNAME_MAX: usize = 128;

/// What an [`Event`] reports.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(
        strum::IntoStaticStr,
        strum::FromRepr,
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
    /// A protected host sent a DNS query; `qname` holds the name.
    DnsQuery = 3,
}

/// One ring buffer record (aligned to 8 so the program writes it in words).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub timestamp_ns: u64,
    pub src: Addr16,
    pub dst: Addr16,
    /// Host byte order.
    pub src_port: u16,
    pub dst_port: u16,
    pub ifindex: u32,
    /// An [`EventKind`] as `u8`.
    pub kind: u8,
    pub protocol: u8,
    /// Bytes of `qname` that are valid (DNS events only).
    pub qname_len: u8,
    /// Set when the name was longer than [`DNS_QNAME_MAX`] and cut.
    pub qname_truncated: u8,
    /// 1 when the packet that raised the event was dropped by a block.
    pub dropped: u8,
    pub _pad: [u8; 3],
    pub qname: [u8; DNS_QNAME_MAX],
}
const _: () = assert!(core::mem::size_of::<Event>() == 56 + DNS_QNAME_MAX);

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
