//! Names and default sizes of the maps the XDP program declares.
//!
//! The agent opens maps by these names and pins them under bpffs with the
//! same names, so a restarted agent finds the live maps again.

/// Per-CPU array of [`crate::host::HostSet`]: each CPU's set-associative
/// table of protected hosts and their counters.
pub const MAP_HOSTS: &str = "HOSTS";
/// Per-CPU array with one [`crate::SiteCounters`].
pub const MAP_SITE: &str = "SITE";
/// LPM trie of protected (local) prefixes: `Key<Addr16>` -> `u8`.
pub const MAP_LOCAL_NETS: &str = "LOCAL_NETS";
/// LPM trie of allowlisted prefixes: `Key<Addr16>` -> [`crate::AllowEntry`].
pub const MAP_ALLOW_NETS: &str = "ALLOW_NETS";
/// Hash of blocked hosts: [`crate::HostKey`] -> [`crate::BlockEntry`].
pub const MAP_BLOCK_HOSTS: &str = "BLOCK_HOSTS";
/// Hash of blocked flows: [`crate::FlowKey`] -> [`crate::BlockEntry`].
pub const MAP_BLOCK_FLOWS: &str = "BLOCK_FLOWS";
/// LPM trie of blocked prefixes: `Key<Addr16>` -> [`crate::BlockEntry`].
pub const MAP_BLOCK_NETS: &str = "BLOCK_NETS";
/// Ring buffer of [`crate::Event`].
pub const MAP_EVENTS: &str = "EVENTS";
/// Per-CPU array with one [`crate::event::EventBudget`] (the rate limiter's state).
pub const MAP_EVENT_BUDGET: &str = "EVENT_BUDGET";
/// Array with one [`crate::Settings`], written by the agent.
pub const MAP_SETTINGS: &str = "SETTINGS";

/// Every map, in the order the agent pins them.
pub const ALL_MAPS: [&str; 10] = [
    MAP_HOSTS,
    MAP_SITE,
    MAP_LOCAL_NETS,
    MAP_ALLOW_NETS,
    MAP_BLOCK_HOSTS,
    MAP_BLOCK_FLOWS,
    MAP_BLOCK_NETS,
    MAP_EVENTS,
    MAP_EVENT_BUDGET,
    MAP_SETTINGS,
];

/// The XDP program's name in the object file (frames with an Ethernet header).
pub const PROGRAM_SENSOR: &str = "vantage_xdp";
/// The same for multi-buffer frames (interfaces with a jumbo MTU).
pub const PROGRAM_SENSOR_FRAGS: &str = "vantage_xdp_frags";
/// The same for links without an Ethernet header (ppp0, wg0, tun0, ipip).
pub const PROGRAM_RAW_IP: &str = "vantage_xdp_raw_ip";
/// Raw-IP links with multi-buffer frames.
pub const PROGRAM_RAW_IP_FRAGS: &str = "vantage_xdp_raw_ip_frags";
/// A pass-only XDP program in the same object, the benchmark's reference.
pub const PROGRAM_REFERENCE: &str = "vantage_reference_pass";
/// The benchmark's cut-down copies of [`PROGRAM_SENSOR`], each stopping after
/// one more stage (parse; clock and duplicates; host accounting; verdict),
/// in that order. Never attached.
pub const PROGRAM_STAGES: [&str; 4] = [
    "vantage_stage_parse",
    "vantage_stage_dedup",
    "vantage_stage_account",
    "vantage_stage_policy",
];

/// Default capacity of [`MAP_HOSTS`] in host slots (sets × ways); the agent
/// sizes the map at load.
pub const DEFAULT_HOST_CAPACITY: u32 = 32_768;
/// Capacity of [`MAP_LOCAL_NETS`] and [`MAP_ALLOW_NETS`].
pub const PREFIX_CAPACITY: u32 = 1_024;
/// Capacity of each block map.
pub const BLOCK_CAPACITY: u32 = 8_192;
/// Size of the events ring buffer in bytes (a power of two, page aligned).
pub const EVENTS_RING_BYTES: u32 = 1 << 20;
