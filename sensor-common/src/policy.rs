//! Blocks, the allowlist, and the settings the agent hands the program.

use crate::Addr16;

/// Key of [`crate::MAP_BLOCK_FLOWS`]: one direction of a conversation.
///
/// Ports are in host byte order. A `src_port` of 0 matches any source port.
/// The program matches a packet in either direction. Aligned to 8 so the
/// XDP program copies it in words.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FlowKey {
    pub src: Addr16,
    pub dst: Addr16,
    pub src_port: u16,
    pub dst_port: u16,
    /// IP protocol number (6 TCP, 17 UDP, ...).
    pub protocol: u8,
    pub _pad: [u8; 3],
}
const _: () = assert!(core::mem::size_of::<FlowKey>() == 40);

/// Value of every block map.
///
/// The program drops a matching packet only while `now < expires_at_ns`
/// (`CLOCK_MONOTONIC`), so a block lapses on time even if no agent runs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BlockEntry {
    pub expires_at_ns: u64,
    pub created_at_ns: u64,
    /// Packets dropped by this entry (updated atomically by the program).
    pub hits: u64,
    /// Who made the block: [`BLOCK_ORIGIN_OPERATOR`] or [`BLOCK_ORIGIN_POLICY`].
    pub origin: u32,
    pub _pad: u32,
}
const _: () = assert!(core::mem::size_of::<BlockEntry>() == 32);

/// A block made by hand with `vantage block add`.
pub const BLOCK_ORIGIN_OPERATOR: u32 = 1;
/// A block made by the agent's response policy.
pub const BLOCK_ORIGIN_POLICY: u32 = 2;

/// Value of [`crate::MAP_ALLOW_NETS`]. Allowlisted traffic is never dropped.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AllowEntry {
    pub created_at_ns: u64,
    /// Packets that matched this entry (updated atomically by the program).
    pub hits: u64,
}
const _: () = assert!(core::mem::size_of::<AllowEntry>() == 16);

/// The single entry of [`crate::MAP_SETTINGS`].
///
/// The `*_ACTIVE` flags let the program skip lookups in empty maps; whoever
/// changes a map sets its flag, and only a writer that saw the map empty clears it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Settings {
    pub flags: u32,
    /// Nanoseconds of credit one event costs (10^9 / events per second):
    /// each CPU earns credit with time and spends it on events.
    pub event_cost_ns: u32,
    /// Events each CPU may emit back to back.
    pub event_burst: u32,
    /// Bumped by the agent after every change to the protected prefixes; the
    /// program's per-CPU locality cache trusts only entries of this
    /// generation. 0 disables the cache.
    pub local_generation: u32,
    /// Bumped by every writer after each change to the allowlist or the host
    /// or prefix block maps; the cache remembers which addresses have such
    /// entries only for this generation.
    pub policy_generation: u32,
    /// Sets in [`crate::MAP_HOSTS`] (a power of two), written by the agent
    /// after loading; 0 before, when the program counts no hosts.
    pub host_sets: u32,
}
const _: () = assert!(core::mem::size_of::<Settings>() == 24);

/// [`Settings::flags`]: the allowlist has entries.
pub const SETTING_ALLOW_ACTIVE: u32 = 1 << 0;
/// [`Settings::flags`]: the host block map has entries.
pub const SETTING_BLOCK_HOSTS_ACTIVE: u32 = 1 << 1;
/// [`Settings::flags`]: the flow block map has entries.
pub const SETTING_BLOCK_FLOWS_ACTIVE: u32 = 1 << 2;
/// [`Settings::flags`]: the prefix block map has entries.
pub const SETTING_BLOCK_NETS_ACTIVE: u32 = 1 << 3;
/// [`Settings::flags`]: emit events into the ring buffer.
pub const SETTING_EVENTS_ENABLED: u32 = 1 << 4;
/// [`Settings::flags`]: open VXLAN (see [`crate::EncapKind`]); the next three
/// bits open Geneve, GRE and ERSPAN: `SETTING_DECAP_VXLAN << kind`.
pub const SETTING_DECAP_VXLAN: u32 = 1 << 5;
/// [`Settings::flags`]: do not count a duplicate frame for its hosts again
/// (it is still counted in `SiteCounters::duplicates`).
pub const SETTING_SKIP_DUPLICATES: u32 = 1 << 9;
