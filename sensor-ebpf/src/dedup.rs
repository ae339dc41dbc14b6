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

use aya_ebpf::programs::XdpContext;

use crate::{
    maps::DEDUP,
    parse::{offset, ptr_at, Packet, Transport},
};

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

/// True if `packet` (a frame of `frame_len` bytes) was seen within the window.
///
/// The fingerprint is made of what the parser already read (addresses,
/// ports, protocol, length) and two more words: eight bytes of the IP
/// header after its first four (IPv4: id, fragment, TTL, protocol and
/// checksum) and eight of the transport header after its ports (TCP
/// sequence and acknowledgement; UDP length, checksum and data), and for
/// TCP four more (data offset, flags, window).
#[inline(always)]
pub fn seen_twice(ctx: &XdpContext, packet: &Packet, frame_len: usize, now: u64) -> bool {
    let [s0, s1] = packet.src.words();
    let [d0, d1] = packet.dst.words();
    let (src_port, dst_port) = packet.transport.ports();
    let mut fingerprint = (s0 ^ d1.rotate_left(17))
        ^ (s1.rotate_left(31) ^ d0)
        ^ ((frame_len as u64) << 32 | (src_port as u64) << 16 | dst_port as u64);
    if let Some(word) = ptr_at::<[u8; 8]>(ctx, offset(packet.l3_at) + 4) {
        fingerprint ^= u64::from_ne_bytes(unsafe { *word }).rotate_left(7);
    }
    if packet.l4_at != 0 {
        let at = offset(packet.l4_at) + 4;
        if let Some(word) = ptr_at::<[u8; 8]>(ctx, at) {
            fingerprint ^= u64::from_ne_bytes(unsafe { *word }).rotate_left(43);
        }
        // TCP: the data offset, flags and window too (a RST and a SYN-ACK
        // of one flow may carry the same numbers).
        if let Transport::Tcp { .. } = packet.transport {
            if let Some(word) = ptr_at::<[u8; 4]>(ctx, at + 8) {
                fingerprint ^= u32::from_ne_bytes(unsafe { *word }) as u64;
            }
        }
    }
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
