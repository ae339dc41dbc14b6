//! The transport layer: TCP, UDP, ICMP and ICMPv6 headers, DNS queries and
//! answers over UDP and TCP port 53 (only what really looks like DNS, inside
//! the lengths the IP and UDP headers give, never Ethernet padding), and the
//! tunnels [`super::tunnel`] recognises.
//!
//! Ports are kept whenever they are readable, even when the rest of the
//! header is cut, so flow blocks apply.

use aya_ebpf::programs::XdpContext;
use sensor_common::{MalformedReason, SiteCounters};

use super::{
    be16, count_malformed,
    ip::Ip,
    read,
    tunnel::{self, Tunnel},
};

const PROTO_ICMP: u8 = 1;
const PROTO_IPIP: u8 = 4;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6_IN_IP: u8 = 41;
const PROTO_GRE: u8 = 47;
const PROTO_ICMPV6: u8 = 58;
const DNS_PORT: u16 = 53;
const DNS_HEADER: usize = 12;
const UDP_HEADER: usize = 8;
const TCP_HEADER: usize = 20;

/// Which transport header a packet has, as far as it could be read.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Non-first fragment, ESP, an unknown protocol, or no readable header.
    None,
    Tcp,
    Udp,
    /// A TCP or UDP header cut after its ports.
    Ports,
    /// ICMP or ICMPv6 (which one: the packet's protocol), by its type.
    Icmp,
}

/// What the transport header said. A plain struct whose every byte is
/// always written (an enum with payloads leaves the bytes of the other
/// variants undefined, and the compiler may then fill them from any
/// register, a pointer included, which older verifiers reject).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Transport {
    pub kind: TransportKind,
    /// TCP flags (false for every other kind).
    pub syn: bool,
    pub ack: bool,
    pub rst: bool,
    /// Ports, host order (zero for port-less kinds).
    pub src_port: u16,
    pub dst_port: u16,
    /// The ICMP or ICMPv6 type (zero for other kinds).
    pub icmp_type: u8,
    _padding: u8,
}

const _: () = assert!(core::mem::size_of::<Transport>() == 10);

impl Transport {
    /// No transport header known.
    pub const NONE: Transport = Transport {
        kind: TransportKind::None,
        syn: false,
        ack: false,
        rst: false,
        src_port: 0,
        dst_port: 0,
        icmp_type: 0,
        _padding: 0,
    };

    /// A whole TCP header.
    #[inline(always)]
    pub fn tcp(src_port: u16, dst_port: u16, syn: bool, ack: bool, rst: bool) -> Transport {
        Transport {
            kind: TransportKind::Tcp,
            syn,
            ack,
            rst,
            src_port,
            dst_port,
            ..Transport::NONE
        }
    }

    /// A whole UDP header.
    #[inline(always)]
    pub fn udp(src_port: u16, dst_port: u16) -> Transport {
        Transport {
            kind: TransportKind::Udp,
            src_port,
            dst_port,
            ..Transport::NONE
        }
    }

    /// A TCP or UDP header cut after its ports.
    #[inline(always)]
    pub fn ports_of(src_port: u16, dst_port: u16) -> Transport {
        Transport {
            kind: TransportKind::Ports,
            src_port,
            dst_port,
            ..Transport::NONE
        }
    }

    /// An ICMP or ICMPv6 message of `icmp_type`.
    #[inline(always)]
    pub fn icmp(icmp_type: u8) -> Transport {
        Transport {
            kind: TransportKind::Icmp,
            icmp_type,
            ..Transport::NONE
        }
    }

    /// Source and destination ports (host order); zero for port-less protocols.
    #[inline(always)]
    pub fn ports(&self) -> (u16, u16) {
        (self.src_port, self.dst_port)
    }
}

/// A DNS message, as far as the sensor can tell.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dns {
    None,
    /// A standard query (QR=0, opcode 0, one question) to port 53.
    Query,
    /// A standard response (QR=1, opcode 0, at most one question) from port 53.
    Answer,
}

/// What the transport layer found.
#[derive(Clone, Copy)]
pub struct L4 {
    pub transport: Transport,
    pub dns: Dns,
    /// Frame offset of the DNS message's header (after the 2-byte prefix
    /// over TCP). Its lengths are read again only for an event (see
    /// `events`), so that parsing DNS costs no more than finding it.
    pub dns_at: u16,
    pub tunnel: Tunnel,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct TcpHeader {
    pub(super) src_port: u16,
    pub(super) dst_port: u16,
    pub(super) seq: u32,
    pub(super) ack: u32,
    pub(super) offset_reserved: u8,
    pub(super) flags: u8,
    pub(super) window: u16,
    pub(super) checksum: u16,
    pub(super) urgent: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct UdpHeader {
    pub(super) src_port: u16,
    pub(super) dst_port: u16,
    pub(super) len: u16,
    pub(super) checksum: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct PortPair {
    src: u16,
    dst: u16,
}

/// The DNS header fields the check reads.
#[repr(C)]
#[derive(Clone, Copy)]
struct DnsHeader {
    id: u16,
    flags: u16,
    questions: u16,
    answers: u16,
    authorities: u16,
    additionals: u16,
}

/// Whether the `len` bytes at `at` are a DNS message, and which kind.
/// `Err` when the lengths promise a header the frame does not hold.
#[inline(always)]
fn dns_message(
    ctx: &XdpContext,
    at: usize,
    len: usize,
    to_dns: bool,
    from_dns: bool,
) -> Result<Dns, MalformedReason> {
    if len < DNS_HEADER {
        return Ok(Dns::None);
    }
    let header = read::<DnsHeader>(ctx, at).ok_or(MalformedReason::DnsTruncated)?;
    let flags = be16(header.flags);
    let response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0x0f;
    let questions = be16(header.questions);
    if opcode != 0 {
        return Ok(Dns::None);
    }
    if !response && to_dns && questions == 1 && header.answers == 0 && header.authorities == 0 {
        Ok(Dns::Query)
    } else if response && from_dns && questions <= 1 {
        Ok(Dns::Answer)
    } else {
        Ok(Dns::None)
    }
}

#[inline(always)]
fn count_dns(site: &mut SiteCounters, dns: Dns) {
    match dns {
        Dns::Query => site.dns_queries += 1,
        Dns::Answer => site.dns_answers += 1,
        Dns::None => {}
    }
}

/// Ports of a header cut after them, if they are there.
#[inline(always)]
fn ports_only(ctx: &XdpContext, at: usize) -> Transport {
    match read::<PortPair>(ctx, at) {
        Some(ports) => Transport::ports_of(be16(ports.src), be16(ports.dst)),
        None => Transport::NONE,
    }
}

/// Parses the transport header of `ip`, if it can be read.
#[inline(always)]
pub fn parse(ctx: &XdpContext, site: &mut SiteCounters, ip: &Ip) -> L4 {
    let mut l4 = L4 {
        transport: Transport::NONE,
        dns: Dns::None,
        dns_at: 0,
        tunnel: Tunnel::NONE,
    };
    if ip.l4 == 0 {
        return l4;
    }
    let at = super::offset(ip.l4);
    if ip.ports_only {
        if ip.protocol == PROTO_TCP || ip.protocol == PROTO_UDP {
            l4.transport = ports_only(ctx, at);
        }
        return l4;
    }
    match ip.protocol {
        PROTO_TCP => tcp(ctx, site, ip, at, &mut l4),
        PROTO_UDP => udp(ctx, site, ip, at, &mut l4),
        PROTO_ICMP | PROTO_ICMPV6 => {
            if let Some([icmp_type, ..]) = read::<[u8; 4]>(ctx, at) {
                site.icmp += 1;
                l4.transport = Transport::icmp(icmp_type);
            } else {
                count_malformed(site, MalformedReason::IcmpTruncated);
            }
        }
        PROTO_GRE => l4.tunnel = tunnel::gre(ctx, site, at, ip.end as usize),
        PROTO_IPIP | PROTO_IPV6_IN_IP => l4.tunnel = Tunnel::UNOPENED,
        _ => {}
    }
    l4
}

#[inline(always)]
fn tcp(ctx: &XdpContext, site: &mut SiteCounters, ip: &Ip, at: usize, l4: &mut L4) {
    let end = ip.end as usize;
    let Some(tcp) = read::<TcpHeader>(ctx, at) else {
        count_malformed(site, MalformedReason::TcpTruncated);
        l4.transport = ports_only(ctx, at);
        return;
    };
    let (src_port, dst_port) = (be16(tcp.src_port), be16(tcp.dst_port));
    let header_len = ((tcp.offset_reserved >> 4) as usize) * 4;
    if header_len < TCP_HEADER || at + header_len > end {
        count_malformed(site, MalformedReason::TcpBadDataOffset);
        l4.transport = Transport::ports_of(src_port, dst_port);
        return;
    }
    site.tcp += 1;
    let syn = tcp.flags & 0x02 != 0;
    let ack = tcp.flags & 0x10 != 0;
    let rst = tcp.flags & 0x04 != 0;
    if syn && !ack {
        site.tcp_syn += 1;
    } else if syn {
        site.tcp_synack += 1;
    }
    if rst {
        site.tcp_rst += 1;
    }
    l4.transport = Transport::tcp(src_port, dst_port, syn, ack, rst);
    let (to_dns, from_dns) = (dst_port == DNS_PORT, src_port == DNS_PORT);
    if (to_dns || from_dns) && !syn {
        // RFC 1035 4.2.2: over TCP each message has a 2-byte length first.
        // Only a segment that starts a message is looked at.
        let payload = at + header_len;
        let available = end.saturating_sub(payload);
        if available >= 2 + DNS_HEADER {
            if let Ok(dns) = dns_message(ctx, payload + 2, available - 2, to_dns, from_dns) {
                if dns != Dns::None {
                    site.dns_over_tcp += 1;
                    count_dns(site, dns);
                    l4.dns = dns;
                    l4.dns_at = (payload + 2) as u16;
                }
            }
        }
    }
}

#[inline(always)]
fn udp(ctx: &XdpContext, site: &mut SiteCounters, ip: &Ip, at: usize, l4: &mut L4) {
    let end = ip.end as usize;
    let Some(udp) = read::<UdpHeader>(ctx, at) else {
        count_malformed(site, MalformedReason::UdpTruncated);
        l4.transport = ports_only(ctx, at);
        return;
    };
    let (src_port, dst_port) = (be16(udp.src_port), be16(udp.dst_port));
    site.udp += 1;
    l4.transport = Transport::udp(src_port, dst_port);
    // The datagram's own length, never past the IP packet (and so never
    // into Ethernet padding).
    let claimed = at + be16(udp.len) as usize;
    let datagram_end = if claimed < end { claimed } else { end };
    let payload = at + UDP_HEADER;
    let payload_len = datagram_end.saturating_sub(payload);
    let (to_dns, from_dns) = (dst_port == DNS_PORT, src_port == DNS_PORT);
    if to_dns || from_dns {
        if claimed >= payload + DNS_HEADER && end < payload + DNS_HEADER {
            // The UDP length promises a DNS header the packet does not hold.
            count_malformed(site, MalformedReason::DnsTruncated);
            return;
        }
        match dns_message(ctx, payload, payload_len, to_dns, from_dns) {
            Ok(Dns::None) => site.port53_other += 1,
            Ok(dns) => {
                count_dns(site, dns);
                l4.dns = dns;
                l4.dns_at = payload as u16;
            }
            Err(reason) => count_malformed(site, reason),
        }
        return;
    }
    l4.tunnel = tunnel::udp(ctx, site, dst_port, payload, payload_len);
}
