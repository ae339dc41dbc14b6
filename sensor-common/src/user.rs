//! What only the agent needs of the shared types (feature `user`): `aya::Pod`
//! for every map type, the merge of per-CPU copies into one value, and the
//! counters viewed as plain `u64` words so that sums and deltas are written
//! once for every field.
//!
//! Enum names (`TrafficClass`, `MalformedReason`, `DropReason`, `EventKind`)
//! are derived with `strum` under this feature: `<&'static str>::from(value)`
//! gives the stable snake_case name, `Enum::iter()` every value in order.

use crate::{
    event::EventBudget,
    host::{HostTraffic, HOST_TRAFFIC_WORDS},
    AllowEntry, BlockEntry, Event, EventHeader, FlowKey, HostCounters, HostKey, Settings,
    SiteCounters, TrieKey, SKETCH_WORDS,
};

// SAFETY (all impls): each type is `#[repr(C)]`, `Copy`, made of integers and
// integer arrays only, with every padding byte spelled out as a named field
// (sizes asserted next to the types), so any bit pattern is a valid value.
unsafe impl aya::Pod for HostKey {}
unsafe impl aya::Pod for HostCounters {}
unsafe impl aya::Pod for crate::host::HostSlot {}
unsafe impl aya::Pod for crate::host::HostSet {}
unsafe impl aya::Pod for SiteCounters {}
unsafe impl aya::Pod for FlowKey {}
unsafe impl aya::Pod for BlockEntry {}
unsafe impl aya::Pod for AllowEntry {}
unsafe impl aya::Pod for Settings {}
unsafe impl aya::Pod for EventBudget {}
unsafe impl aya::Pod for Event {}
unsafe impl aya::Pod for EventHeader {}
unsafe impl aya::Pod for TrieKey {}

/// Number of `u64` words in [`SiteCounters`].
pub const SITE_WORDS: usize = core::mem::size_of::<SiteCounters>() / 8;

/// A struct made only of `u64` counters, viewed as a slice of them in field order.
pub trait CounterWords: Copy + Default {
    /// The counters, in field order.
    fn words(&self) -> &[u64];
    /// The counters, mutable, in field order.
    fn words_mut(&mut self) -> &mut [u64];

    /// Field-by-field sum of `items` (wrapping, as the kernel's counters do).
    fn sum<'a>(items: impl IntoIterator<Item = &'a Self>) -> Self
    where
        Self: 'a,
    {
        let mut total = Self::default();
        for item in items {
            for (t, v) in total.words_mut().iter_mut().zip(item.words()) {
                *t = t.wrapping_add(*v);
            }
        }
        total
    }

    /// Field-by-field `self - earlier`, for two readings of the same
    /// counters: a counter that wrapped past `u64::MAX` since `earlier` still
    /// gives its true increase (modular difference).
    fn since(&self, earlier: &Self) -> Self {
        let mut delta = Self::default();
        for ((d, now), then) in delta
            .words_mut()
            .iter_mut()
            .zip(self.words())
            .zip(earlier.words())
        {
            *d = now.wrapping_sub(*then);
        }
        delta
    }
}

impl CounterWords for HostTraffic {
    fn words(&self) -> &[u64] {
        // SAFETY: HostTraffic is repr(C) and made of HOST_TRAFFIC_WORDS u64
        // fields (size asserted beside it), so it has no padding.
        unsafe {
            core::slice::from_raw_parts(
                (self as *const HostTraffic).cast::<u64>(),
                HOST_TRAFFIC_WORDS,
            )
        }
    }

    fn words_mut(&mut self) -> &mut [u64] {
        // SAFETY: as in `words`.
        unsafe {
            core::slice::from_raw_parts_mut(
                (self as *mut HostTraffic).cast::<u64>(),
                HOST_TRAFFIC_WORDS,
            )
        }
    }
}

impl CounterWords for SiteCounters {
    fn words(&self) -> &[u64] {
        // SAFETY: SiteCounters is repr(C) and made only of u64 fields and u64
        // arrays (size asserted beside it), so it has no padding.
        unsafe {
            core::slice::from_raw_parts((self as *const SiteCounters).cast::<u64>(), SITE_WORDS)
        }
    }

    fn words_mut(&mut self) -> &mut [u64] {
        // SAFETY: as in `words`.
        unsafe {
            core::slice::from_raw_parts_mut((self as *mut SiteCounters).cast::<u64>(), SITE_WORDS)
        }
    }
}

impl HostCounters {
    /// Merges one host's per-CPU copies: counts add up, first seen is the
    /// earliest non-zero time, last seen the latest, sketches are OR-ed, and
    /// MAC, VLAN and interface come from the CPU that saw the host send last.
    pub fn merge(per_cpu: &[HostCounters]) -> HostCounters {
        let mut merged = HostCounters {
            traffic: HostTraffic::sum(per_cpu.iter().map(|cpu| &cpu.traffic)),
            ..HostCounters::default()
        };
        merged.first_seen_ns = per_cpu
            .iter()
            .map(|cpu| cpu.first_seen_ns)
            .filter(|&ns| ns != 0)
            .min()
            .unwrap_or(0);
        merged.last_seen_ns = per_cpu
            .iter()
            .map(|cpu| cpu.last_seen_ns)
            .max()
            .unwrap_or(0);
        for cpu in per_cpu {
            for word in 0..SKETCH_WORDS {
                merged.peer_sketch[word] |= cpu.peer_sketch[word];
                merged.port_sketch[word] |= cpu.port_sketch[word];
            }
        }
        let sender = per_cpu.iter().filter(|cpu| cpu.mac != [0; 6]).fold(
            None::<&HostCounters>,
            |best, cpu| match best {
                Some(best) if best.last_seen_ns >= cpu.last_seen_ns => Some(best),
                _ => Some(cpu),
            },
        );
        if let Some(cpu) = sender {
            merged.mac = cpu.mac;
            merged.vlan = cpu.vlan;
            merged.ifindex = cpu.ifindex;
        }
        merged
    }
}

impl SiteCounters {
    /// Sums the per-CPU copies field by field.
    pub fn merge(per_cpu: &[SiteCounters]) -> SiteCounters {
        SiteCounters::sum(per_cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::sketch_insert;

    fn cpu(packets_out: u64, first: u64, last: u64, mac: [u8; 6]) -> HostCounters {
        HostCounters {
            traffic: HostTraffic {
                packets_out,
                bytes_out: packets_out * 100,
                ..HostTraffic::default()
            },
            first_seen_ns: first,
            last_seen_ns: last,
            mac,
            ..HostCounters::default()
        }
    }

    #[test]
    fn host_merge_sums_counters_and_keeps_extremes() {
        let mut a = cpu(3, 50, 400, [2, 0, 0, 0, 0, 1]);
        let mut b = cpu(4, 20, 900, [2, 0, 0, 0, 0, 2]);
        let c = cpu(0, 0, 0, [0; 6]);
        sketch_insert(&mut a.peer_sketch, 7 << 23);
        sketch_insert(&mut b.peer_sketch, 7 << 23);
        sketch_insert(&mut b.peer_sketch, 300 << 23);
        let merged = HostCounters::merge(&[a, b, c]);
        assert_eq!(merged.traffic.packets_out, 7);
        assert_eq!(merged.traffic.bytes_out, 700);
        assert_eq!((merged.first_seen_ns, merged.last_seen_ns), (20, 900));
        assert_eq!(merged.mac, [2, 0, 0, 0, 0, 2]);
        let bits: u32 = merged.peer_sketch.iter().map(|w| w.count_ones()).sum();
        assert_eq!(bits, 2);
    }

    #[test]
    fn site_merge_adds_every_word() {
        let mut cpu0 = SiteCounters::default();
        cpu0.malformed[3] = 2;
        cpu0.dropped[1] = 5;
        let mut cpu1 = SiteCounters::default();
        cpu1.malformed[3] = 1;
        cpu1.packets = 11;
        let merged = SiteCounters::merge(&[cpu0, cpu1]);
        assert_eq!(
            (merged.packets, merged.malformed[3], merged.dropped[1]),
            (11, 3, 5)
        );
        assert_eq!(merged.words().len(), SITE_WORDS);
    }

    #[test]
    fn difference_survives_a_wrapped_counter() {
        let before = HostTraffic {
            packets_out: u64::MAX - 1,
            bytes_in: 10,
            ..HostTraffic::default()
        };
        let after = HostTraffic {
            packets_out: 3,
            bytes_in: 25,
            ..HostTraffic::default()
        };
        let delta = after.since(&before);
        assert_eq!((delta.packets_out, delta.bytes_in), (5, 15));
    }

    #[test]
    fn names_are_snake_case() {
        use strum::IntoEnumIterator as _;
        let names: [&str; 4] = [
            crate::TrafficClass::LocalToRemote.into(),
            crate::MalformedReason::Ipv6ExtensionTooDeep.into(),
            crate::DropReason::BlockedPrefix.into(),
            crate::EventKind::UdpNewPeer.into(),
        ];
        assert_eq!(
            names,
            [
                "local_to_remote",
                "ipv6_extension_too_deep",
                "blocked_prefix",
                "udp_new_peer"
            ]
        );
        // Every reason has a counter (the rest are spare, for new reasons
        // without a change of map layout).
        assert!(crate::MalformedReason::iter().count() <= crate::site::MALFORMED_REASONS);
        assert!(
            crate::MalformedReason::iter().all(|r| (r as usize) < crate::site::MALFORMED_REASONS)
        );
    }
}
