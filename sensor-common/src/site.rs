//! Site-wide visibility counters: what the sensor can see at all.

/// Number of [`TrafficClass`] values.
pub const TRAFFIC_CLASSES: usize = 4;
/// Slots reserved for [`MalformedReason`] counters (a power of two: the
/// program masks the index with `MALFORMED_REASONS - 1`).
pub const MALFORMED_REASONS: usize = 32;
/// Number of [`EncapKind`] values.
pub const ENCAP_KINDS: usize = 4;
/// Slots reserved for [`DropReason`] counters.
pub const DROP_REASONS: usize = 4;

/// Direction of an IP packet relative to the protected networks.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(strum::IntoStaticStr, strum::EnumIter, strum::FromRepr),
    strum(serialize_all = "snake_case")
)]
pub enum TrafficClass {
    LocalToLocal = 0,
    LocalToRemote = 1,
    RemoteToLocal = 2,
    RemoteToRemote = 3,
}

/// Why a frame could not be parsed to the end. Such frames are counted and passed.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(strum::IntoStaticStr, strum::EnumIter, strum::FromRepr),
    strum(serialize_all = "snake_case")
)]
pub enum MalformedReason {
    /// Shorter than an Ethernet header.
    EthTruncated = 0,
    /// A VLAN tag is cut off.
    VlanTruncated = 1,
    /// More than two VLAN tags (TPID 0x8100, 0x88a8 or 0x9100).
    VlanTooDeep = 2,
    /// Shorter than a minimal IPv4 header.
    Ipv4Truncated = 3,
    /// Ethertype says IPv4 but the version field does not.
    Ipv4BadVersion = 4,
    /// IHL below 5, or options run past the frame.
    Ipv4BadHeaderLength = 5,
    /// Total length below the header length or beyond the frame.
    Ipv4BadTotalLength = 6,
    /// Shorter than an IPv6 header.
    Ipv6Truncated = 7,
    /// Ethertype says IPv6 but the version field does not.
    Ipv6BadVersion = 8,
    /// An IPv6 extension header is cut off.
    Ipv6ExtensionTruncated = 9,
    /// More IPv6 extension headers than the parser follows.
    Ipv6ExtensionTooDeep = 10,
    /// TCP header cut off.
    TcpTruncated = 11,
    /// TCP data offset below 5 or options past the frame.
    TcpBadDataOffset = 12,
    /// UDP header cut off.
    UdpTruncated = 13,
    /// ICMP or ICMPv6 header cut off.
    IcmpTruncated = 14,
    /// A DNS message whose header the UDP or TCP length promises but the
    /// frame does not hold.
    DnsTruncated = 15,
    /// A PPPoE session header or its PPP protocol field is cut off.
    PppoeTruncated = 16,
    /// An MPLS label stack entry is cut off, or nothing follows the stack.
    /// (A payload that is not IP, such as a pseudowire, is counted as
    /// non-IP.)
    MplsTruncated = 17,
    /// More MPLS labels than the parser follows (4).
    MplsTooDeep = 18,
    /// An IPsec Authentication Header is cut off.
    AhTruncated = 19,
    /// A tunnel header (VXLAN, Geneve, GRE, ERSPAN) is cut off.
    TunnelTruncated = 20,
    /// The frame inside an opened tunnel is cut off before its IP addresses
    /// (inside its link or IP header). The outer packet is not counted for
    /// its hosts, but blocks on its endpoints apply.
    InnerTruncated = 21,
    /// The IPv6 payload length runs past the frame.
    Ipv6BadPayloadLength = 22,
}

/// A tunnel the sensor can open (decapsulate) on a mirror port fed by remote
/// SPAN or cloud traffic mirroring.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(
        strum::IntoStaticStr,
        strum::EnumIter,
        strum::FromRepr,
        serde::Serialize,
        serde::Deserialize
    ),
    strum(serialize_all = "snake_case"),
    serde(rename_all = "snake_case")
)]
pub enum EncapKind {
    /// VXLAN, UDP port 4789 (RFC 7348).
    Vxlan = 0,
    /// Geneve, UDP port 6081 (RFC 8926).
    Geneve = 1,
    /// GRE (IP protocol 47) carrying IP or Ethernet (RFC 2784, 2890).
    Gre = 2,
    /// ERSPAN type II and III inside GRE (Cisco remote SPAN).
    Erspan = 3,
}

/// Why a frame was dropped.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(strum::IntoStaticStr, strum::EnumIter, strum::FromRepr),
    strum(serialize_all = "snake_case")
)]
pub enum DropReason {
    BlockedHost = 0,
    BlockedFlow = 1,
    BlockedPrefix = 2,
}

/// One CPU's site-wide counters (the single entry of [`crate::MAP_SITE`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SiteCounters {
    /// Every frame the program saw, and its bytes.
    pub packets: u64,
    pub bytes: u64,
    /// IP packets by [`TrafficClass`].
    pub class_packets: [u64; TRAFFIC_CLASSES],
    pub class_bytes: [u64; TRAFFIC_CLASSES],
    /// Frames that are neither IPv4 nor IPv6 (ARP, LLDP, ...).
    pub non_ip: u64,
    /// Frames to the Ethernet broadcast address.
    pub broadcast: u64,
    /// Frames to an Ethernet multicast address (broadcast excluded).
    pub multicast: u64,
    /// Frames carrying at least one VLAN tag.
    pub vlan_tagged: u64,
    pub ipv4: u64,
    pub ipv6: u64,
    /// Non-first fragments (no transport header to read).
    pub fragments: u64,
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    /// DNS queries (QR=0 to port 53) and answers (QR=1 from port 53), any direction.
    pub dns_queries: u64,
    pub dns_answers: u64,
    /// TCP SYN without ACK, SYN with ACK, and RST.
    pub tcp_syn: u64,
    pub tcp_synack: u64,
    pub tcp_rst: u64,
    /// Packets matching the allowlist (never dropped).
    pub allowlisted: u64,
    /// Events written to the ring buffer.
    pub events_sent: u64,
    /// Events suppressed by the per-CPU rate limit.
    pub events_rate_limited: u64,
    /// Events lost because the ring buffer was full.
    pub events_ring_full: u64,
    /// Host slots filled (each CPU keeps its own: a host seen on two CPUs
    /// fills two).
    pub hosts_created: u64,
    /// Host slots that could not be filled (the table is not set up yet).
    pub hosts_create_failed: u64,
    /// Hosts pushed out of their set for a new one (the least recently seen
    /// on that CPU).
    pub hosts_evicted: u64,
    /// PPPoE session frames (IP inside counted like any other).
    pub pppoe: u64,
    /// MPLS-labelled frames.
    pub mpls: u64,
    /// Frames on a link without an Ethernet header (ppp0, wg0, tun0, ipip).
    pub raw_ip: u64,
    /// IPsec ESP packets (no transport header readable after it).
    pub esp: u64,
    /// DNS queries and answers carried over TCP port 53 (also in `dns_queries`/`dns_answers`).
    pub dns_over_tcp: u64,
    /// UDP datagrams on port 53 that are not DNS messages.
    pub port53_other: u64,
    /// Frames seen twice within a few milliseconds (a SPAN session copying both directions).
    pub duplicates: u64,
    /// Frames inside a tunnel the sensor was not told to open (VXLAN, Geneve,
    /// GRE, ERSPAN, IP-in-IP).
    pub encap_unopened: u64,
    /// Frames the sensor opened, by [`EncapKind`]; their inner packets are counted.
    pub decapsulated: [u64; ENCAP_KINDS],
    /// Frames counted by [`MalformedReason`].
    pub malformed: [u64; MALFORMED_REASONS],
    /// Frames dropped by [`DropReason`].
    pub dropped: [u64; DROP_REASONS],
}
const _: () = assert!(
    core::mem::size_of::<SiteCounters>()
        == 8 * (2 + 2 * TRAFFIC_CLASSES + 30 + ENCAP_KINDS + MALFORMED_REASONS + DROP_REASONS)
);
