//! The verdict: allowlist first (never dropped), then host, prefix and flow
//! blocks. A block only drops while `now` is before its expiry, so blocks
//! lapse on time even when no agent is running to remove them.
//!
//! For an opened tunnel the outer endpoints are checked first (the frame
//! travels to the outer destination, whatever it carries), then the inner
//! ones; flow blocks match the inner 5-tuple. When the inner frame could not
//! be parsed, the outer endpoints alone decide.

use sensor_common::{
    policy::{
        SETTING_ALLOW_ACTIVE, SETTING_BLOCK_FLOWS_ACTIVE, SETTING_BLOCK_HOSTS_ACTIVE,
        SETTING_BLOCK_NETS_ACTIVE,
    },
    BlockEntry, DropReason, FlowKey, HostKey, Settings, SiteCounters,
};

use crate::{
    facts::{FACT_ALLOWED, FACT_HOST_BLOCK, FACT_PREFIX_BLOCK},
    maps::{trie_lookup, ALLOW_NETS, BLOCK_FLOWS, BLOCK_HOSTS, BLOCK_NETS, OUTER},
    parse::{Packet, Tunneled},
};

/// Adds one to a counter that other CPUs may be adding to as well (a BPF
/// atomic add: `AtomicU64::fetch_add` is not offered on the BPF target).
#[inline(always)]
fn bump(counter: *const u64) {
    unsafe {
        core::intrinsics::atomic_xadd::<u64, u64, { core::intrinsics::AtomicOrdering::Relaxed }>(
            counter as *mut u64,
            1,
        );
    }
}

/// True (and the entry's hit counter bumped) if `entry` is a live block.
#[inline(always)]
fn enforce(entry: *const BlockEntry, now: u64) -> bool {
    let entry = unsafe { &*entry };
    if now < entry.expires_at_ns {
        bump(&entry.hits);
        true
    } else {
        false
    }
}

/// Returns why the packet must be dropped, or `None` to pass it.
#[inline(always)]
pub fn verdict(
    site: &mut SiteCounters,
    packet: &Packet,
    settings: &Settings,
    now: u64,
) -> Option<DropReason> {
    let flags = settings.flags;
    if packet.tunnel == Tunneled::Inner {
        // The frame goes to the outer destination as well.
        if let Some(outer) = OUTER.get_ptr(0) {
            // SAFETY: this CPU's slot, written by the parser for this frame.
            let outer = unsafe { &*outer };
            match endpoints(
                site,
                (&outer.src, outer.src_facts),
                (&outer.dst, outer.dst_facts),
                flags,
                now,
            ) {
                Decision::Allow => return None,
                Decision::Drop(reason) => return Some(reason),
                Decision::Undecided => {}
            }
        }
    }
    match endpoints(
        site,
        (&packet.src, packet.src_facts),
        (&packet.dst, packet.dst_facts),
        flags,
        now,
    ) {
        Decision::Allow => return None,
        Decision::Drop(reason) => return Some(reason),
        Decision::Undecided => {}
    }
    if packet.tunnel != Tunneled::OuterOnly
        && flags & SETTING_BLOCK_FLOWS_ACTIVE != 0
        && flow_blocked(packet, now)
    {
        return Some(DropReason::BlockedFlow);
    }
    None
}

/// What the addresses alone decide.
enum Decision {
    /// An address is allowlisted (counted): pass, whatever else matches.
    Allow,
    Drop(DropReason),
    Undecided,
}

/// The allowlist and the host and prefix blocks for one pair of addresses,
/// each with its facts.
#[inline(always)]
fn endpoints(
    site: &mut SiteCounters,
    (src_addr, src): (&HostKey, u32),
    (dst_addr, dst): (&HostKey, u32),
    flags: u32,
    now: u64,
) -> Decision {
    if flags & SETTING_ALLOW_ACTIVE != 0
        && ((src & FACT_ALLOWED != 0 && allowlisted(src_addr))
            || (dst & FACT_ALLOWED != 0 && allowlisted(dst_addr)))
    {
        site.allowlisted += 1;
        return Decision::Allow;
    }
    if flags & SETTING_BLOCK_HOSTS_ACTIVE != 0
        && ((src & FACT_HOST_BLOCK != 0 && host_blocked(src_addr, now))
            || (dst & FACT_HOST_BLOCK != 0 && host_blocked(dst_addr, now)))
    {
        return Decision::Drop(DropReason::BlockedHost);
    }
    if flags & SETTING_BLOCK_NETS_ACTIVE != 0
        && ((src & FACT_PREFIX_BLOCK != 0 && prefix_blocked(src_addr, now))
            || (dst & FACT_PREFIX_BLOCK != 0 && prefix_blocked(dst_addr, now)))
    {
        return Decision::Drop(DropReason::BlockedPrefix);
    }
    Decision::Undecided
}

#[inline(always)]
fn allowlisted(addr: &HostKey) -> bool {
    match trie_lookup(&ALLOW_NETS, addr) {
        Some(entry) => {
            bump(unsafe { &(*entry).hits });
            true
        }
        None => false,
    }
}

#[inline(always)]
fn host_blocked(addr: &HostKey, now: u64) -> bool {
    match BLOCK_HOSTS.get_ptr(addr) {
        Some(entry) => enforce(entry, now),
        None => false,
    }
}

#[inline(always)]
fn prefix_blocked(addr: &HostKey, now: u64) -> bool {
    match trie_lookup(&BLOCK_NETS, addr) {
        Some(entry) => enforce(entry, now),
        None => false,
    }
}

/// Flow blocks are stored initiator -> responder, with source port 0 for
/// "any"; a packet matches in either direction.
#[inline(always)]
fn flow_blocked(packet: &Packet, now: u64) -> bool {
    let (src_port, dst_port) = packet.transport.ports();
    let mut key = FlowKey::default();
    copy_address(&mut key.src, &packet.src);
    copy_address(&mut key.dst, &packet.dst);
    key.src_port = src_port;
    key.dst_port = dst_port;
    key.protocol = packet.protocol;
    if flow_entry_blocks(&key, now) {
        return true;
    }
    key.src_port = 0;
    if flow_entry_blocks(&key, now) {
        return true;
    }
    // The responder's packets: swap ends.
    copy_address(&mut key.src, &packet.dst);
    copy_address(&mut key.dst, &packet.src);
    key.src_port = dst_port;
    key.dst_port = src_port;
    if flow_entry_blocks(&key, now) {
        return true;
    }
    key.src_port = 0;
    flow_entry_blocks(&key, now)
}

/// Copies an address into a flow key as two 8-byte words. A plain
/// assignment of the byte array may be compiled into a call to `memmove`,
/// a BPF subprogram: kernels before 6.4 cannot track precision across such
/// calls, mark every register precise and then exceed the verifier's
/// instruction limit.
#[inline(always)]
fn copy_address(to: &mut sensor_common::Addr16, from: &HostKey) {
    let from = (from as *const HostKey).cast::<u64>();
    let to = (to as *mut sensor_common::Addr16).cast::<u64>();
    // SAFETY: `HostKey` is 16 bytes aligned to 8; `to` is the `src` or
    // `dst` field of a `FlowKey`, aligned to 8 at offsets 0 and 16.
    unsafe {
        core::ptr::write_volatile(to, core::ptr::read_volatile(from));
        core::ptr::write_volatile(to.add(1), core::ptr::read_volatile(from.add(1)));
    }
}

#[inline(always)]
fn flow_entry_blocks(key: &FlowKey, now: u64) -> bool {
    match BLOCK_FLOWS.get_ptr(key) {
        Some(entry) => enforce(entry, now),
        None => false,
    }
}
