//! Duplicate frames: a SPAN session that copies both directions of a port
//! (or two ports on one path) delivers the same frame twice within
//! microseconds. Each CPU remembers a fingerprint of the last frame that fell
//! in each of [`DEDUP_SLOTS`] slots; the same fingerprint again within
//! [`DEDUP_WINDOW_NS`] is a duplicate. Copies of one frame arrive on the same
//! CPU: receive-side scaling hashes the same headers to the same queue.
//!
//! The fingerprint covers the frame's length, the IP header and the first
//! bytes after it (ports,
//! TCP sequence, acknowledgement, flags, window and checksum), so distinct
//! packets of one flow do not collide; identical packets sent on purpose
//! within the window (rare: retransmissions wait far longer) would count as
//! duplicates.

use aya_ebpf::programs::XdpContext;

use crate::{maps::DEDUP, parse::ptr_at};

/// Slots per CPU (a power of two).
pub const DEDUP_SLOTS: u32 = 1024;
/// Two copies closer than this are one frame seen twice. The coarse clock
/// ticks every few milliseconds, so copies within a tick read the same time.
pub const DEDUP_WINDOW_NS: u64 = 5_000_000;
/// Bytes of the frame from the IP header that make the fingerprint.
const FINGERPRINT_WORDS: usize = 8;

/// One remembered frame.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DedupSlot {
    pub fingerprint: u64,
    pub seen_ns: u64,
}

/// True if the frame of `frame_len` bytes whose IP header is at `l3_at` was
/// seen within the window.
#[inline(always)]
pub fn seen_twice(ctx: &XdpContext, l3_at: usize, frame_len: usize, now: u64) -> bool {
    let mut fingerprint: u64 = 0x243f_6a88_85a3_08d3 ^ frame_len as u64;
    for i in 0..FINGERPRINT_WORDS {
        let Some(word) = ptr_at::<u64>(ctx, l3_at + i * 8) else {
            break;
        };
        // SAFETY: `ptr_at` checked the eight bytes are inside the frame.
        let word = unsafe { core::ptr::read_unaligned(word) };
        fingerprint = (fingerprint ^ word)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
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
