//! The maps the program shares with the agent (names in `sensor_common::maps`).

use aya_ebpf::{
    helpers::bpf_map_lookup_elem,
    macros::map,
    maps::{Array, HashMap, LpmTrie, PerCpuArray, RingBuf},
};
use sensor_common::{
    event::EventBudget, Addr16, AllowEntry, BlockEntry, FlowKey, HostKey, HostSet, Settings,
    SiteCounters, TrieKey, BLOCK_CAPACITY, DEFAULT_HOST_CAPACITY, EVENTS_RING_BYTES, HOST_WAYS,
    PREFIX_CAPACITY,
};

/// Each CPU's set-associative table of protected hosts (the agent sizes it).
#[map(name = "HOSTS")]
pub static HOSTS: PerCpuArray<HostSet> =
    PerCpuArray::with_max_entries(DEFAULT_HOST_CAPACITY / HOST_WAYS as u32, 0);

#[map(name = "SITE")]
pub static SITE: PerCpuArray<SiteCounters> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "LOCAL_NETS")]
pub static LOCAL_NETS: LpmTrie<Addr16, u8> = LpmTrie::with_max_entries(PREFIX_CAPACITY, 0);

#[map(name = "ALLOW_NETS")]
pub static ALLOW_NETS: LpmTrie<Addr16, AllowEntry> = LpmTrie::with_max_entries(PREFIX_CAPACITY, 0);

#[map(name = "BLOCK_HOSTS")]
pub static BLOCK_HOSTS: HashMap<HostKey, BlockEntry> = HashMap::with_max_entries(BLOCK_CAPACITY, 0);

#[map(name = "BLOCK_FLOWS")]
pub static BLOCK_FLOWS: HashMap<FlowKey, BlockEntry> = HashMap::with_max_entries(BLOCK_CAPACITY, 0);

#[map(name = "BLOCK_NETS")]
pub static BLOCK_NETS: LpmTrie<Addr16, BlockEntry> = LpmTrie::with_max_entries(BLOCK_CAPACITY, 0);

#[map(name = "EVENTS")]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_RING_BYTES, 0);

#[map(name = "EVENT_BUDGET")]
pub static EVENT_BUDGET: PerCpuArray<EventBudget> = PerCpuArray::with_max_entries(1, 0);

/// Sets in each CPU's locality cache (a power of two); each set holds two ways.
pub const LOCALITY_SETS: u32 = 512;

/// Remembered map answers for one address (see `facts`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct LocalityEntry {
    pub addr: [u64; 2],
    /// `Settings::local_generation` the facts were found under.
    pub generation: u32,
    /// `Settings::policy_generation` the facts were found under.
    pub policy_generation: u32,
    /// `facts::FACT_*` bits.
    pub facts: u32,
    pub _pad: u32,
}

/// One set of the locality cache: the most recently filled way first.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct LocalitySet {
    pub ways: [LocalityEntry; 2],
}

/// Per-CPU two-way set-associative cache of address facts (see `facts`): a
/// hit costs a few instructions, a map lookup several times more. Two ways
/// per set keep a packet's source and destination cached even when they map
/// to the same set. Private to one program instance (never pinned).
#[map(name = "LOCALITY")]
pub static LOCALITY: PerCpuArray<LocalitySet> = PerCpuArray::with_max_entries(LOCALITY_SETS, 0);

/// Each CPU's recent frame fingerprints (see `dedup`). Private to one
/// program instance (never pinned).
#[map(name = "DEDUP")]
pub static DEDUP: PerCpuArray<crate::dedup::DedupSlot> =
    PerCpuArray::with_max_entries(crate::dedup::DEDUP_SLOTS, 0);

/// Each CPU's parsed packet, passed through memory (see `parse::merge`).
/// Private to one program instance (never pinned).
#[map(name = "PACKET")]
pub static PACKET: PerCpuArray<crate::parse::Packet> = PerCpuArray::with_max_entries(1, 0);

/// Each CPU's outer endpoints of the packet's opened tunnel (see
/// `parse::Tunneled`). Private to one program instance (never pinned).
#[map(name = "OUTER")]
pub static OUTER: PerCpuArray<crate::parse::Outer> = PerCpuArray::with_max_entries(1, 0);

/// Room for one value passed through memory (see `parse::forget`).
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct Scratch(pub [u8; 128]);

/// Each CPU's scratch slot. Private to one program instance (never pinned).
#[map(name = "SCRATCH")]
pub static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// Each CPU's cached time: the coarse clock read once per tick (see `clock`).
/// Private to one program instance (never pinned).
#[map(name = "CLOCK")]
pub static CLOCK: PerCpuArray<crate::clock::TickClock> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "SETTINGS")]
pub static SETTINGS: Array<Settings> = Array::with_max_entries(1, 0);

/// Longest-prefix lookup of one address (`/128`, IPv4 mapped) in a trie.
///
/// Goes to the helper directly with an aligned [`TrieKey`]: aya's packed
/// `Key` would make every lookup copy the address byte by byte.
#[inline(always)]
pub fn trie_lookup<V>(trie: &LpmTrie<Addr16, V>, addr: &HostKey) -> Option<*mut V> {
    let key = TrieKey {
        prefix_len: 128,
        addr: addr.addr,
    };
    // SAFETY: `trie` is a map definition (what aya passes as the map pointer)
    // and `key` has the layout of the trie's key.
    let value = unsafe {
        bpf_map_lookup_elem(
            trie as *const LpmTrie<Addr16, V> as *mut core::ffi::c_void,
            &key as *const TrieKey as *const core::ffi::c_void,
        )
    };
    if value.is_null() {
        None
    } else {
        Some(value.cast::<V>())
    }
}

/// This CPU's site counters.
#[inline(always)]
pub fn site() -> Option<&'static mut SiteCounters> {
    SITE.get_ptr_mut(0).map(|p| unsafe { &mut *p })
}

/// The agent's settings, read in place (all zero, i.e. everything off,
/// before the agent writes them). Fields are read where they are needed;
/// an agent rewriting them meanwhile changes a frame's handling at worst
/// from one setting to the next.
#[inline(always)]
pub fn settings() -> Option<&'static Settings> {
    SETTINGS.get(0)
}
