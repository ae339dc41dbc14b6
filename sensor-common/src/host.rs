//! Per-host counters, kept for every address inside a protected prefix.

use crate::Addr16;

/// Bits in each distinct-count sketch (a linear-counting bitmap).
pub const SKETCH_BITS: u32 = 1 << SKETCH_BITS_LOG2;
/// log2 of [`SKETCH_BITS`]: a hash's top bits pick the sketch bit.
pub const SKETCH_BITS_LOG2: u32 = 9;
/// `SKETCH_BITS` as 64-bit words.
pub const SKETCH_WORDS: usize = (SKETCH_BITS / 64) as usize;

/// Ways in each set of [`crate::MAP_HOSTS`].
pub const HOST_WAYS: usize = 8;

/// One protected host's slot in a set of [`crate::MAP_HOSTS`]: its address
/// (all zero: the slot is free) and this CPU's counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HostSlot {
    pub key: HostKey,
    /// When this CPU last touched the slot, in its own packet count (the
    /// site's `packets`): finer than the coarse clock, for choosing which
    /// way to evict.
    pub touched: u64,
    pub counters: HostCounters,
}

/// One set of [`crate::MAP_HOSTS`], a per-CPU array: each CPU keeps its own
/// copy of every set. A host lives in the set [`host_set`] names; within it,
/// a new host takes a free way, else the way touched least recently on this
/// CPU (an eviction, counted).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HostSet {
    pub ways: [HostSlot; HOST_WAYS],
}

/// The set of [`crate::MAP_HOSTS`] that holds `key`, for a table of `sets`
/// sets (a power of two). The same function on both sides of the map.
#[inline(always)]
pub fn host_set(key: &HostKey, sets: u32) -> u32 {
    host_set_of(addr_mix(key), sets)
}

/// [`host_set`] from the address's [`addr_mix`].
#[inline(always)]
pub fn host_set_of(mix: u64, sets: u32) -> u32 {
    (mix >> 40) as u32 & sets.wrapping_sub(1)
}

/// Key of [`crate::MAP_BLOCK_HOSTS`] and the address in a [`HostSlot`].
///
/// Aligned to 8 so the XDP program copies it in words, not bytes.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct HostKey {
    pub addr: Addr16,
}
const _: () = assert!(core::mem::size_of::<HostKey>() == 16);

/// Additive per-host counters: every field is a `u64` count that only grows,
/// so per-CPU copies are summed and two readings are subtracted word by word
/// (see the `user` feature's `words`).
///
/// "Out" is traffic the host sent, "in" is traffic sent to it. Byte counts
/// are whole frames as the program saw them (link-layer headers included).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "user", derive(serde::Serialize, serde::Deserialize))]
pub struct HostTraffic {
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    /// TCP SYN without ACK sent by the host.
    pub tcp_syn_out: u64,
    /// TCP SYN+ACK received by the host.
    pub tcp_synack_in: u64,
    /// TCP RST received by the host.
    pub tcp_rst_in: u64,
    pub udp_out: u64,
    pub udp_in: u64,
    pub icmp_out: u64,
    pub icmp_in: u64,
    /// DNS queries (QR=0, destination port 53) sent.
    pub dns_queries_out: u64,
    /// DNS answers (QR=1, source port 53) received.
    pub dns_answers_in: u64,
    /// Packets sent to another protected host.
    pub lateral_packets_out: u64,
    /// Packets received from another protected host.
    pub lateral_packets_in: u64,
    /// Bytes sent to another protected host.
    pub lateral_bytes_out: u64,
}
/// Number of `u64` counters in [`HostTraffic`].
pub const HOST_TRAFFIC_WORDS: usize = 16;
const _: () = assert!(core::mem::size_of::<HostTraffic>() == HOST_TRAFFIC_WORDS * 8);

/// One CPU's counters for one protected host.
///
/// Sketches are bitmaps: per-CPU copies are merged with bitwise OR and the
/// distinct count is estimated by linear counting. Times are
/// `CLOCK_MONOTONIC` nanoseconds (`bpf_ktime_get_ns`); zero means "never on
/// this CPU".
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HostCounters {
    pub traffic: HostTraffic,
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    /// Sketch of distinct remote peers (either direction).
    pub peer_sketch: [u64; SKETCH_WORDS],
    /// Sketch of distinct destination ports the host sent TCP/UDP to.
    pub port_sketch: [u64; SKETCH_WORDS],
    /// Source MAC of the last frame the host sent.
    pub mac: [u8; 6],
    /// VLAN id of the last frame the host sent (0: untagged).
    pub vlan: u16,
    /// Interface index the host's last frame arrived on.
    pub ifindex: u32,
    pub _pad: u32,
}
const _: () = assert!(core::mem::size_of::<HostCounters>() == 18 * 8 + 2 * SKETCH_WORDS * 8 + 16);
const _: () =
    assert!(core::mem::size_of::<HostSlot>() == 24 + core::mem::size_of::<HostCounters>());
const _: () =
    assert!(core::mem::size_of::<HostSet>() == HOST_WAYS * core::mem::size_of::<HostSlot>());

/// Sets the sketch bit for `hash`; returns true if it was clear before.
#[inline(always)]
pub fn sketch_insert(sketch: &mut [u64; SKETCH_WORDS], hash: u32) -> bool {
    let bit = hash >> (32 - SKETCH_BITS_LOG2);
    let word = (bit / 64) as usize;
    let mask = 1u64 << (bit % 64);
    if word < SKETCH_WORDS {
        let before = sketch[word];
        sketch[word] = before | mask;
        before & mask == 0
    } else {
        false
    }
}

impl HostKey {
    /// The address as two words (cheap: the key is 8-byte aligned).
    #[inline(always)]
    pub fn words(&self) -> [u64; 2] {
        // SAFETY: [u8; 16] and [u64; 2] have the same size and no invalid values.
        unsafe { core::mem::transmute::<Addr16, [u64; 2]>(self.addr) }
    }
}

/// A 64-bit finalizer (the splitmix64 mix): sequential inputs come out
/// independent-looking, which linear counting needs (a bare multiplicative
/// hash spreads them too evenly, and the estimate runs high).
#[inline(always)]
fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// One 64-bit hash of an address, computed once per packet and used for
/// everything that needs one: the host set (its bits 40 and up, see
/// [`host_set_of`]), the sketch bit (its top bits, see [`addr_hash_of`]) and
/// the XDP program's caches (its low bits).
#[inline(always)]
pub fn addr_mix(key: &HostKey) -> u64 {
    let [a, b] = key.words();
    mix64(a ^ b.rotate_left(23))
}

/// Hashes an address for a sketch.
#[inline(always)]
pub fn addr_hash(key: &HostKey) -> u32 {
    addr_hash_of(addr_mix(key))
}

/// [`addr_hash`] from the address's [`addr_mix`].
#[inline(always)]
pub fn addr_hash_of(mix: u64) -> u32 {
    (mix >> 32) as u32
}

/// Seed of [`port_hash`], chosen so that 38 common service ports (20-23,
/// 25, 53, 67-69, 80, 88, 110, 123, 135, 137-139, 143, 161, 389, 443, 445,
/// 465, 514, 587, 636, 993, 995, 1433, 1723, 3306, 3389, 5060, 5353, 5432,
/// 5900, 8080, 8443) all land on distinct sketch bits.
const PORT_HASH_SEED: u64 = 0x5bd1_e990;

/// Hashes a port number for a sketch.
#[inline(always)]
pub fn port_hash(port: u16) -> u32 {
    (mix64(u64::from(port) ^ PORT_HASH_SEED) >> 32) as u32
}

#[cfg(not(target_arch = "bpf"))]
/// Estimates the number of distinct items in a (merged) sketch by linear counting.
///
/// Returns `None` when every bit is set: the sketch is saturated and the
/// count is at least [`sketch_saturation_floor`].
pub fn sketch_estimate(sketch: &[u64; SKETCH_WORDS]) -> Option<u32> {
    let set: u32 = sketch.iter().map(|w| w.count_ones()).sum();
    let zeros = SKETCH_BITS - set;
    if zeros == 0 {
        return None;
    }
    let m = SKETCH_BITS as f64;
    let estimate = -m * ln(zeros as f64 / m);
    Some((estimate + 0.5) as u32)
}

#[cfg(not(target_arch = "bpf"))]
/// The smallest count a saturated sketch stands for.
pub const fn sketch_saturation_floor() -> u32 {
    // m * ln(m): the expected number of items that fill every bit.
    SKETCH_BITS * 6
}

#[cfg(not(target_arch = "bpf"))]
/// Natural logarithm on `(0, 1]` without `std` (series on the mantissa).
fn ln(x: f64) -> f64 {
    // ln(x) = 2 * atanh((x-1)/(x+1)); reduce x into [0.5, 1] first.
    let mut x = x;
    let mut shift = 0.0;
    while x < 0.5 {
        x *= 2.0;
        shift -= core::f64::consts::LN_2;
    }
    let y = (x - 1.0) / (x + 1.0);
    let y2 = y * y;
    let mut term = y;
    let mut sum = 0.0;
    let mut n = 1.0;
    while n < 60.0 {
        sum += term / n;
        term *= y2;
        n += 2.0;
    }
    2.0 * sum + shift
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketch_counts_distinct_items_within_its_error() {
        for n in [1u32, 10, 100, 300, 1000] {
            let mut sketch = [0u64; SKETCH_WORDS];
            for i in 0..n {
                let key = HostKey {
                    addr: crate::v4_mapped([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]),
                };
                sketch_insert(&mut sketch, addr_hash(&key));
                // Inserting again never changes the estimate.
                assert!(!sketch_insert(&mut sketch, addr_hash(&key)));
            }
            let est = sketch_estimate(&sketch).unwrap_or(u32::MAX) as f64;
            let err = (est - n as f64).abs() / n as f64;
            // Linear counting with 512 bits: about 2% standard error at 100
            // items, 4.6% at 1000; allow two standard errors.
            let allowed = if n <= 10 {
                1.0 / n as f64
            } else if n <= 300 {
                0.06
            } else {
                0.10
            };
            assert!(err <= allowed, "n={n} est={est}");
        }
    }

    #[test]
    fn port_sketch_separates_ports() {
        let mut sketch = [0u64; SKETCH_WORDS];
        for port in 1..=200u16 {
            sketch_insert(&mut sketch, port_hash(port));
        }
        let est = sketch_estimate(&sketch).unwrap_or(0);
        assert!((185..=215).contains(&est), "estimate {est}");
    }

    #[test]
    fn common_ports_never_share_a_bit() {
        let common = [
            20u16, 21, 22, 23, 25, 53, 67, 68, 69, 80, 88, 110, 123, 135, 137, 138, 139, 143, 161,
            389, 443, 445, 465, 514, 587, 636, 993, 995, 1433, 1723, 3306, 3389, 5060, 5353, 5432,
            5900, 8080, 8443,
        ];
        let mut sketch = [0u64; SKETCH_WORDS];
        for port in common {
            assert!(
                sketch_insert(&mut sketch, port_hash(port)),
                "port {port} collided"
            );
        }
    }

    #[test]
    fn empty_sketch_is_zero_and_full_sketch_is_saturated() {
        assert_eq!(sketch_estimate(&[0; SKETCH_WORDS]), Some(0));
        assert_eq!(sketch_estimate(&[u64::MAX; SKETCH_WORDS]), None);
    }

    #[test]
    fn ln_matches_known_values() {
        assert!((ln(0.5) + core::f64::consts::LN_2).abs() < 1e-12);
        assert!((ln(0.1) + core::f64::consts::LN_10).abs() < 1e-12);
        assert!(ln(1.0).abs() < 1e-15);
    }
}
