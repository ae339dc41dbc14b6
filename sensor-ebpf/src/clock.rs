//! Time per packet without a helper call per packet: `bpf_jiffies64` is
//! inlined by the verifier into a load, while `bpf_ktime_get_coarse_ns` is
//! a call (costly on kernels with return-stack mitigations). The coarse
//! clock only changes once per tick anyway, so each CPU reads it when the
//! tick changes and reuses it until the next: the same value the coarse
//! clock would have given, `CLOCK_MONOTONIC` at tick resolution.

use aya_ebpf::helpers::{bpf_jiffies64, bpf_ktime_get_coarse_ns};

use crate::maps::CLOCK;

/// The tick and the coarse time read at it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TickClock {
    pub jiffies: u64,
    pub ns: u64,
}

/// Now, as `bpf_ktime_get_coarse_ns` gives it (ns).
#[inline(always)]
pub fn now() -> u64 {
    // SAFETY: helpers without arguments.
    let tick = unsafe { bpf_jiffies64() };
    let Some(cache) = CLOCK.get_ptr_mut(0) else {
        return unsafe { bpf_ktime_get_coarse_ns() };
    };
    // SAFETY: this CPU's slot, valid for the program's run.
    let cache = unsafe { &mut *cache };
    if cache.jiffies != tick || cache.ns == 0 {
        cache.jiffies = tick;
        cache.ns = unsafe { bpf_ktime_get_coarse_ns() };
    }
    cache.ns
}
