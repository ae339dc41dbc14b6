//! Duplicate frames: a SPAN session that copies both directions of a port
//! (or two ports on one path) delivers the same frame twice within
//! microseconds. Each CPU remembers a fingerprint of the last frame that fell
//! in each of [`DEDUP_SLOTS`] slots; the same fingerprint again within
//! [`DEDUP_WINDOW_NS`] is a duplicate. Copies of one frame arrive on the same
//! CPU: receive-side scaling hashes the same headers to the same queue.
//!
//! The fingerprint covers the frame's length, the addresses, the IP
//! header's identifying fields and the transport header (ports; TCP
//! sequence, acknowledgement, flags and window), so distinct
//! packets of one flow do not collide; identical packets sent on purpose
//! within the window (rare: retransmissions wait far longer) would count as
//! duplicates.

use crate::{maps::DEDUP, parse::Packet};

/// Slots per CPU (a power of two).
pub const DEDUP_SLOTS: u32 = 1024;
/// Two copies closer than this are one frame seen twice. The coarse clock
/// ticks every few milliseconds, so copies within a tick read the same time.
pub const DEDUP_WINDOW_NS: u64 = 5_000_000;
/// One remembered frame.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DedupSlot {
    pub fingerprint: u64,
    pub seen_ns: u64,
}

/// True if `packet` (a frame of `frame_len` bytes) was seen within the
/// window.
///
/// The fingerprint is made of what the parser already read: the addresses'
/// hashes,
/// ports, the frame's length and [`Packet::varies`] (the IP and transport
/// header words that differ from one packet of a flow to the next).
#[inline(always)]
pub fn seen_twice(packet: &Packet, frame_len: usize, now: u64) -> bool {
    let (src_port, dst_port) = packet.transport.ports();
    let fingerprint = packet.src_mix
        ^ packet.dst_mix.rotate_left(17)
        ^ ((frame_len as u64) << 32 | (src_port as u64) << 16 | dst_port as u64)
        ^ packet.varies.rotate_left(7);
    let fingerprint = (fingerprint ^ (fingerprint >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let slot = (fingerprint >> 32) as u32 & (DEDUP_SLOTS - 1);
    let Some(slot) = DEDUP.get_ptr_mut(slot) else {
        return false;
    };
    // SAFETY: this CPU's slot, valid for the program's run.
    let slot = unsafe { &mut *slot };
    if slot.fingerprint == fingerprint && now.wrapping_sub(slot.seen_ns) < DEDUP_WINDOW_NS {
        return true;
    }
    slot.fingerprint = fingerprint;
    slot.seen_ns = now;
    false
}
