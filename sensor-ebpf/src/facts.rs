//! What the sensor needs to know about one address before deciding anything:
//! is it protected, and does it have a host block, a covering prefix block or
//! an allowlist entry. The maps decide; a per-CPU two-way set-associative
//! cache remembers their answers for the current generations, so that for
//! an address already seen a packet costs no map lookup here. A zeroed
//! cache entry (generations 0) can only match before any agent configured
//! the maps, when every map is empty and its facts are all zero anyway.
//!
//! A cached "has an entry" only says where to look: the verdict still reads
//! the entry itself, so expiry checks and hit counters stay exact.

use sensor_common::{
    policy::{SETTING_ALLOW_ACTIVE, SETTING_BLOCK_HOSTS_ACTIVE, SETTING_BLOCK_NETS_ACTIVE},
    HostKey, Settings,
};

use crate::maps::{
    trie_lookup, LocalityEntry, ALLOW_NETS, BLOCK_HOSTS, BLOCK_NETS, LOCALITY, LOCALITY_SETS,
    LOCAL_NETS,
};

/// Inside a protected prefix.
pub const FACT_LOCAL: u32 = 1 << 0;
/// Has an entry in the host block map.
pub const FACT_HOST_BLOCK: u32 = 1 << 1;
/// Is covered by an entry in the prefix block map.
pub const FACT_PREFIX_BLOCK: u32 = 1 << 2;
/// Is covered by an allowlist entry.
pub const FACT_ALLOWED: u32 = 1 << 3;

/// Asks the maps (skipping those the settings say are empty).
#[inline(always)]
fn look_up(addr: &HostKey, flags: u32) -> u32 {
    let mut facts = 0;
    if trie_lookup(&LOCAL_NETS, addr).is_some() {
        facts |= FACT_LOCAL;
    }
    if flags & SETTING_BLOCK_HOSTS_ACTIVE != 0 && BLOCK_HOSTS.get_ptr(addr).is_some() {
        facts |= FACT_HOST_BLOCK;
    }
    if flags & SETTING_BLOCK_NETS_ACTIVE != 0 && trie_lookup(&BLOCK_NETS, addr).is_some() {
        facts |= FACT_PREFIX_BLOCK;
    }
    if flags & SETTING_ALLOW_ACTIVE != 0 && trie_lookup(&ALLOW_NETS, addr).is_some() {
        facts |= FACT_ALLOWED;
    }
    facts
}

/// The facts about `addr`, from the cache when it holds them for the
/// current generations.
///
/// On a miss the answer is stored and then read back from the cache entry:
/// to the verifier a value loaded from a map is one unknown number, whereas
/// the constants `look_up` builds on each of its paths would multiply the
/// states it has to explore until it gives up.
#[inline(always)]
pub fn facts(addr: &HostKey, mix: u64, settings: &Settings) -> u32 {
    let words = addr.words();
    let set = mix as u32;
    // An in-range index into a per-CPU array always resolves.
    let Some(set) = LOCALITY.get_ptr_mut(set & (LOCALITY_SETS - 1)) else {
        return 0;
    };
    let set = unsafe { &mut *set };
    for way in &set.ways {
        if way.generation == settings.local_generation
            && way.policy_generation == settings.policy_generation
            && way.addr == words
        {
            return way.facts;
        }
    }
    set.ways[1] = set.ways[0];
    set.ways[0] = LocalityEntry {
        addr: words,
        generation: settings.local_generation,
        policy_generation: settings.policy_generation,
        facts: look_up(addr, settings.flags),
        _pad: 0,
    };
    // SAFETY: reading back the field just written, in this CPU's entry.
    unsafe { core::ptr::read_volatile(&set.ways[0].facts) }
}
