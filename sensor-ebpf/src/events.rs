//! Events for the agent: new outbound connection attempts and their
//! answers, echo requests, and DNS queries and answers with the message
//! itself, rate-limited per CPU by a token bucket so a flood cannot starve
//! the agent. Suppressed and lost events are counted, never silent.
//!
//! Which packet raises which event is [`kind_of`]: one event per packet at
//! most, judged on what the parser already found (no extra read for the
//! common frame). The DNS kinds copy the message with `bpf_xdp_load_bytes`
//! (one helper call, whatever the length, fragments of a multi-buffer frame
//! included) and then walk the question's labels in the copy.

use aya_ebpf::{helpers::bpf_xdp_load_bytes, programs::XdpContext};
use sensor_common::{
    event::{EventHeader, DNS_HEADER_LEN, DNS_QNAME_MAX, EVENT_PAYLOAD_MAX},
    Addr16, Event, EventKind, Settings, SiteCounters,
};

use crate::{
    maps::{EVENTS, EVENT_BUDGET},
    parse::{
        bounded,
        ip::{v4_key, v6_key, Ipv4Header, Ipv6Header},
        offset, read, Dns, Packet, TransportKind, OFFSET_MASK,
    },
};

const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: u16 = 8;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_UNREACHABLE: u8 = 3;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_UNREACHABLE: u8 = 1;
/// The ICMP header before the quoted packet (type, code, checksum, 4 unused bytes).
const ICMP_HEADER: usize = 8;
/// Masks a payload index into the payload (a power of two long).
const PAYLOAD_MASK: usize = EVENT_PAYLOAD_MAX - 1;
/// Labels a name of [`DNS_QNAME_MAX`] bytes can have (each at least 2 bytes).
const MAX_LABELS: usize = DNS_QNAME_MAX / 2 + 1;

/// The event `packet` raises, if any: what a protected host sends (SYN, a
/// DNS query, an echo request, UDP to a new peer) and what answers it
/// (SYN-ACK, RST, ICMP unreachable, a DNS response). `new_peer`: the
/// packet's source had not sent to its destination before (see `account`).
///
/// Decided on the transport first, so that the common TCP segment reads
/// only the fields its own case needs.
#[inline(always)]
pub fn kind_of(packet: &Packet, new_peer: bool) -> Option<EventKind> {
    let transport = packet.transport;
    match transport.kind {
        TransportKind::Tcp => {
            let (syn, ack, rst) = (transport.syn, transport.ack, transport.rst);
            if packet.dns != Dns::None {
                if let Some(kind) = dns_kind(packet) {
                    return Some(kind);
                }
            }
            if syn {
                if ack {
                    packet.dst_local.then_some(EventKind::TcpAnswered)
                } else {
                    packet.src_local.then_some(EventKind::TcpSyn)
                }
            } else if rst && packet.dst_local {
                Some(EventKind::TcpRefused)
            } else {
                None
            }
        }
        TransportKind::Udp => {
            if packet.dns != Dns::None {
                if let Some(kind) = dns_kind(packet) {
                    return Some(kind);
                }
            }
            (packet.src_local && new_peer).then_some(EventKind::UdpNewPeer)
        }
        TransportKind::Icmp => {
            let icmp_type = transport.icmp_type;
            let (echo, unreachable) = if packet.protocol == PROTO_ICMP {
                (ICMP_ECHO_REQUEST, ICMP_UNREACHABLE)
            } else {
                (ICMPV6_ECHO_REQUEST, ICMPV6_UNREACHABLE)
            };
            if icmp_type == echo && packet.src_local {
                Some(EventKind::IcmpEcho)
            } else if icmp_type == unreachable && packet.dst_local {
                Some(EventKind::IcmpUnreachable)
            } else {
                None
            }
        }
        TransportKind::Ports | TransportKind::None => None,
    }
}

/// A DNS query from a protected host, or a response to one.
#[inline(always)]
fn dns_kind(packet: &Packet) -> Option<EventKind> {
    match packet.dns {
        Dns::Query if packet.src_local => Some(EventKind::DnsQuery),
        Dns::Answer if packet.dst_local => Some(EventKind::DnsAnswer),
        _ => None,
    }
}

/// Takes one event's credit from this CPU's bucket; false if there is not
/// enough. No division: the agent gives the cost of one event in ns.
#[inline(always)]
fn take_token(settings: &Settings, now: u64) -> bool {
    let Some(budget) = EVENT_BUDGET.get_ptr_mut(0) else {
        return false;
    };
    let budget = unsafe { &mut *budget };
    let cost = settings.event_cost_ns as u64;
    let cap = cost * settings.event_burst as u64;
    let credit = if budget.refilled_at_ns == 0 {
        cap
    } else {
        let earned = budget.credit_ns + now.saturating_sub(budget.refilled_at_ns);
        if earned > cap {
            cap
        } else {
            earned
        }
    };
    budget.refilled_at_ns = now;
    if credit < cost || cost == 0 {
        budget.credit_ns = credit;
        return false;
    }
    budget.credit_ns = credit - cost;
    true
}

/// The addresses, ports and protocol an event carries.
#[derive(Clone, Copy)]
struct Subject {
    src: Addr16,
    dst: Addr16,
    src_port: u16,
    dst_port: u16,
    protocol: u8,
}

/// Sends one event if the rate limit and the ring buffer allow it.
#[inline(always)]
pub fn emit(
    ctx: &XdpContext,
    site: &mut SiteCounters,
    settings: &Settings,
    packet: &Packet,
    kind: EventKind,
    dropped: bool,
    now: u64,
) {
    // Without the quoted packet there is no peer to name: no event, and no
    // token spent. Every other kind takes its subject from the packet once
    // the budget allows the event (a flood past the budget copies nothing).
    let quoted = if kind == EventKind::IcmpUnreachable {
        match quoted(ctx, packet) {
            Some(subject) => Some(subject),
            None => return,
        }
    } else {
        None
    };
    if !take_token(settings, now) {
        site.events_rate_limited += 1;
        return;
    }
    let ifindex = ctx.ingress_ifindex() as u32;
    if kind.has_payload() {
        let Some(mut entry) = EVENTS.reserve::<Event>(0) else {
            site.events_ring_full += 1;
            return;
        };
        // SAFETY: the reserved record is ours until submitted.
        let event = unsafe { &mut *entry.as_mut_ptr() };
        write_header(
            &mut event.header,
            packet,
            &quoted,
            kind,
            dropped,
            ifindex,
            now,
        );
        copy_dns(ctx, packet, event);
        entry.submit(0);
    } else {
        let Some(mut entry) = EVENTS.reserve::<EventHeader>(0) else {
            site.events_ring_full += 1;
            return;
        };
        // SAFETY: the reserved record is ours until submitted.
        let header = unsafe { &mut *entry.as_mut_ptr() };
        write_header(header, packet, &quoted, kind, dropped, ifindex, now);
        entry.submit(0);
    }
    site.events_sent += 1;
}

const _: () = assert!(
    core::mem::offset_of!(EventHeader, kind) == 48
        && core::mem::size_of::<EventHeader>() == 64
        && core::mem::align_of::<EventHeader>() == 8
);

/// Fills every header field (the ring's memory is not zeroed), with the
/// addresses of the packet or, when given, of the packet it quotes.
#[inline(always)]
fn write_header(
    header: &mut EventHeader,
    packet: &Packet,
    quoted: &Option<Subject>,
    kind: EventKind,
    dropped: bool,
    ifindex: u32,
    now: u64,
) {
    let subject = match *quoted {
        Some(subject) => subject,
        None => {
            let (src_port, dst_port) = packet.transport.ports();
            Subject {
                src: packet.src.addr,
                dst: packet.dst.addr,
                src_port,
                dst_port,
                protocol: packet.protocol,
            }
        }
    };
    // The fields that are zero, as words: written as one struct they
    // become a call to `memset` (see `policy::copy_address` for why calls
    // are avoided).
    let words = (header as *mut EventHeader).cast::<u64>();
    // SAFETY: the header is 64 bytes aligned to 8; its last two words hold
    // `kind` to `_pad` (checked below), the first three set after this.
    unsafe {
        core::ptr::write_volatile(words.add(6), 0);
        core::ptr::write_volatile(words.add(7), 0);
    }
    header.timestamp_ns = now;
    header.src = subject.src;
    header.dst = subject.dst;
    header.src_port = subject.src_port;
    header.dst_port = subject.dst_port;
    header.ifindex = ifindex;
    header.kind = kind as u8;
    header.protocol = subject.protocol;
    header.dropped = dropped as u8;
}

/// Where the packet's DNS message ends in the frame and its true length,
/// read again from the headers the parser checked (the parser keeps only
/// where the message starts: see `parse::transport::L4::dns_at`).
///
/// The message ends where its datagram or its IP packet does, whichever is
/// first (never in Ethernet padding); over TCP also where its 2-byte
/// prefix says (the segment may hold the next message too). Its true
/// length is the UDP length less the UDP header, or the prefix.
#[inline(always)]
fn dns_extent(ctx: &XdpContext, packet: &Packet) -> Option<(usize, u16)> {
    let l3 = offset(packet.l3_at);
    let l4 = offset(packet.l4_at);
    let at = offset(packet.dns_at);
    // Two bytes, not one: a one-byte bounds check compiles to `pointer <
    // end`, which the verifier does not take as room for the byte.
    let version = read::<[u8; 2]>(ctx, l3)?[0] >> 4;
    let ip_end = if version == 4 {
        l3 + u16::from_be(read::<u16>(ctx, l3 + 2)?) as usize
    } else {
        l3 + IPV6_HEADER + u16::from_be(read::<u16>(ctx, l3 + 4)?) as usize
    };
    let (end, message_len) = if packet.protocol == PROTO_UDP {
        let udp_len = u16::from_be(read::<u16>(ctx, l4 + 4)?);
        let datagram_end = l4 + udp_len as usize;
        (
            if datagram_end < ip_end {
                datagram_end
            } else {
                ip_end
            },
            udp_len.saturating_sub(UDP_HEADER),
        )
    } else {
        // The prefix's offset is hidden from the compiler (`bounded`), which
        // would otherwise check `at` and read 2 bytes before it: a pointer
        // below the checked one, which the verifier refuses.
        let prefix_at = bounded(at.checked_sub(2)?, OFFSET_MASK);
        let prefix = u16::from_be_bytes(read::<[u8; 2]>(ctx, prefix_at)?);
        let prefixed_end = at + prefix as usize;
        (
            if prefixed_end < ip_end {
                prefixed_end
            } else {
                ip_end
            },
            prefix,
        )
    };
    Some((end.saturating_sub(at), message_len))
}

/// Copies the packet's DNS message (up to the payload's size) into the
/// event and finds its question.
#[inline(always)]
fn copy_dns(ctx: &XdpContext, packet: &Packet, event: &mut Event) {
    let Some((available, message_len)) = dns_extent(ctx, packet) else {
        return;
    };
    event.header.message_len = message_len;
    // The parser saw a whole DNS header; checked again here for the
    // verifier, which must know the copy is 1 to 512 bytes long.
    if available < DNS_HEADER_LEN {
        return;
    }
    let len = if available > EVENT_PAYLOAD_MAX {
        EVENT_PAYLOAD_MAX
    } else {
        available
    };
    // SAFETY: the context is the program's own and the destination is the
    // reserved record's payload, `len` <= its size.
    let copied = unsafe {
        bpf_xdp_load_bytes(
            ctx.ctx,
            u32::from(packet.dns_at),
            event.payload.as_mut_ptr().cast(),
            len as u32,
        )
    };
    if copied != 0 {
        return;
    }
    event.header.payload_len = len as u16;
    let (qname_len, cut, qtype) = question(&event.payload, len);
    event.header.qname_len = qname_len;
    event.header.qname_truncated = cut as u8;
    event.header.qtype = qtype;
}

/// Walks the question name of the message in `payload` (`copied` bytes
/// valid): its length (wire format, without the terminating zero), whether
/// it was cut, and the question type after it.
#[inline(always)]
fn question(payload: &[u8; EVENT_PAYLOAD_MAX], copied: usize) -> (u8, bool, u16) {
    // QDCOUNT 0 (a response may have none): no name to find.
    if payload[4] == 0 && payload[5] == 0 {
        return (0, false, 0);
    }
    let mut at = DNS_HEADER_LEN;
    for _ in 0..MAX_LABELS {
        if at >= copied || at > DNS_HEADER_LEN + DNS_QNAME_MAX {
            break;
        }
        let len = payload[at & PAYLOAD_MASK] as usize;
        if len == 0 {
            let qtype = if at + 2 < copied {
                u16::from_be_bytes([
                    payload[(at + 1) & PAYLOAD_MASK],
                    payload[(at + 2) & PAYLOAD_MASK],
                ])
            } else {
                0
            };
            return ((at - DNS_HEADER_LEN) as u8, false, qtype);
        }
        if len > 63 {
            // A compression pointer or a bad length: not a name to follow.
            break;
        }
        at += len + 1;
    }
    let mut end = if at < copied { at } else { copied };
    if end > DNS_HEADER_LEN + DNS_QNAME_MAX {
        end = DNS_HEADER_LEN + DNS_QNAME_MAX;
    }
    ((end - DNS_HEADER_LEN) as u8, true, 0)
}

/// The packet an ICMP destination unreachable quotes (after its 8-byte
/// header), turned round: the destination it was sent to is the event's
/// source. `None` when the quoted IP header cannot be read.
#[inline(always)]
fn quoted(ctx: &XdpContext, packet: &Packet) -> Option<Subject> {
    let at = offset(packet.l4_at) + ICMP_HEADER;
    let (peer, protocol, ports_at) = if packet.protocol == PROTO_ICMP {
        let ip = read::<Ipv4Header>(ctx, at)?;
        let header_len = ((ip.version_ihl & 0x0f) as usize) * 4;
        if ip.version_ihl >> 4 != 4 || header_len < 20 {
            return None;
        }
        // A non-first fragment has no ports.
        let first = u16::from_be(ip.flags_fragment) & 0x1fff == 0;
        (
            v4_key(ip.dst).addr,
            ip.protocol,
            first.then_some(at + header_len),
        )
    } else {
        let ip = read::<Ipv6Header>(ctx, at)?;
        if ip.version_class_flow.to_ne_bytes()[0] >> 4 != 6 {
            return None;
        }
        // Extension headers are not followed: no ports behind them.
        (v6_key(ip.dst).addr, ip.next_header, Some(at + 40))
    };
    let (src_port, dst_port) = match ports_at {
        Some(ports_at) if protocol == PROTO_TCP || protocol == PROTO_UDP => {
            match read::<[u16; 2]>(ctx, ports_at) {
                Some([src, dst]) => (u16::from_be(src), u16::from_be(dst)),
                None => (0, 0),
            }
        }
        _ => (0, 0),
    };
    Some(Subject {
        src: peer,
        dst: packet.dst.addr,
        // Turned round: the port the protected host tried is the source.
        src_port: dst_port,
        dst_port: src_port,
        protocol,
    })
}
