//! Events for the agent: new outbound connection attempts and DNS query
//! names, rate-limited per CPU by a token bucket so a flood cannot starve
//! the agent. Suppressed and lost events are counted, never silent.

use aya_ebpf::programs::XdpContext;
use sensor_common::{EventKind, Settings, SiteCounters, DNS_QNAME_MAX};

use crate::{
    maps::{EVENTS, EVENT_BUDGET},
    parse::{offset, ptr_at, Dns, Packet},
};

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
    if !take_token(settings, now) {
        site.events_rate_limited += 1;
        return;
    }
    let Some(mut entry) = EVENTS.reserve::<sensor_common::Event>(0) else {
        site.events_ring_full += 1;
        return;
    };
    let event = entry.as_mut_ptr();
    let (src_port, dst_port) = packet.transport.ports();
    unsafe {
        (*event).timestamp_ns = now;
        (*event).src = packet.src.addr;
        (*event).dst = packet.dst.addr;
        (*event).src_port = src_port;
        (*event).dst_port = dst_port;
        (*event).ifindex = ctx.ingress_ifindex() as u32;
        (*event).kind = kind as u8;
        (*event).protocol = packet.protocol;
        (*event).qname_len = 0;
        (*event).qname_truncated = 0;
        (*event).dropped = dropped as u8;
        (*event)._pad = [0; 3];
        (*event).qname = [0; DNS_QNAME_MAX];
    }
    if packet.dns == Dns::Query {
        let name = unsafe { &mut (*event).qname };
        let at = offset(packet.dns_question_at);
        let (len, truncated) = copy_qname(ctx, at, name);
        unsafe {
            (*event).qname_len = len;
            (*event).qname_truncated = truncated as u8;
        }
    }
    entry.submit(0);
    site.events_sent += 1;
}

/// Copies the wire-format query name up to its terminating zero byte.
/// Returns the bytes copied and whether the name was cut.
#[inline(always)]
fn copy_qname(ctx: &XdpContext, at: usize, name: &mut [u8; DNS_QNAME_MAX]) -> (u8, bool) {
    let mut copied = 0u8;
    #[expect(
        clippy::needless_range_loop,
        reason = "i is also the packet offset, and a constant-bounded index keeps the verifier happy"
    )]
    for i in 0..DNS_QNAME_MAX {
        // Two bytes, not one: a one-byte check compiles to `pointer < end`,
        // which tells the verifier nothing about the byte itself. A name is
        // always followed by its type and class, so this never cuts one.
        let Some(bytes) = ptr_at::<[u8; 2]>(ctx, at + i) else {
            // The frame ended before the name did.
            return (copied, true);
        };
        let byte = unsafe { (*bytes)[0] };
        if byte == 0 {
            return (copied, false);
        }
        name[i] = byte;
        copied += 1;
    }
    (copied, true)
}
