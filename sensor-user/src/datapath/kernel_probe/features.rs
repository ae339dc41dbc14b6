//! The features themselves: each with the mainline Linux version that
//! introduced it (the commit, as listed in bcc's `docs/kernel-versions.md`)
//! and what the sensor uses it for.

use std::fmt;

/// A mainline Linux version, `major.minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinuxVersion {
    pub major: u16,
    pub minor: u16,
}

impl LinuxVersion {
    pub const fn new(major: u16, minor: u16) -> LinuxVersion {
        LinuxVersion { major, minor }
    }
}

impl fmt::Display for LinuxVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl serde::Serialize for LinuxVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The oldest kernel the XDP program is verified and tested on: Debian's
/// 6.12 under `cargo xtask vm test` (the build machines run 6.18).
pub const TESTED_ON: LinuxVersion = LinuxVersion::new(6, 12);

/// One BPF feature the XDP program (`sensor-ebpf`) or its loader uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Feature {
    /// `BPF_PROG_TYPE_XDP`, Linux 4.8 (commit 6a773a15a1e8).
    XdpPrograms,
    /// `BPF_MAP_TYPE_HASH`, Linux 3.19 (commit 0f8e4bd8a1fc).
    HashMaps,
    /// `BPF_MAP_TYPE_ARRAY`, Linux 3.19 (commit 28fbcfa08d8e).
    ArrayMaps,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`, Linux 4.6 (commit a10423b87a7e).
    PerCpuArrays,
    /// `BPF_MAP_TYPE_LPM_TRIE`, Linux 4.11 (commit b95a5c4db09b).
    LpmTries,
    /// BPF-to-BPF function calls, Linux 4.16 (commit cc8b0b92a169).
    FunctionCalls,
    /// Bounded loops accepted by the verifier, Linux 5.3 (commit 2589726d12a1).
    BoundedLoops,
    /// `bpf_jiffies64`, helper 118, Linux 5.5 (commit 5576b991e9c1).
    Jiffies64,
    /// `BPF_MAP_TYPE_RINGBUF`, Linux 5.8 (commit 457f44363a88).
    RingBuffer,
    /// `bpf_ringbuf_reserve`, helper 131, Linux 5.8 (commit 457f44363a88).
    RingbufReserve,
    /// `bpf_ringbuf_submit`, helper 132, Linux 5.8 (commit 457f44363a88).
    RingbufSubmit,
    /// `bpf_ktime_get_coarse_ns`, helper 160, Linux 5.11 (commit d05512618056).
    KtimeGetCoarseNs,
    /// `bpf_xdp_get_buff_len`, helper 188, Linux 5.18 (commit 0165cc817075).
    XdpGetBuffLen,
    /// `bpf_xdp_load_bytes`, helper 189, Linux 5.18 (commit 3f364222d032).
    XdpLoadBytes,
    /// XDP multi-buffer programs (`BPF_F_XDP_HAS_FRAGS`), Linux 5.18 (commit c2f2cdbeffda).
    XdpFrags,
    /// XDP `bpf_link` attachments (`BPF_LINK_CREATE` for XDP), Linux 5.9
    /// (commit aa8d3a716b59). Optional: without it the agent attaches by
    /// netlink, which also outlives the agent.
    XdpLinks,
}

impl Feature {
    /// Every feature, in the order reports list them (oldest first; the
    /// optional one last).
    pub const ALL: [Feature; 16] = [
        Feature::HashMaps,
        Feature::ArrayMaps,
        Feature::PerCpuArrays,
        Feature::XdpPrograms,
        Feature::LpmTries,
        Feature::FunctionCalls,
        Feature::BoundedLoops,
        Feature::Jiffies64,
        Feature::RingBuffer,
        Feature::RingbufReserve,
        Feature::RingbufSubmit,
        Feature::KtimeGetCoarseNs,
        Feature::XdpGetBuffLen,
        Feature::XdpLoadBytes,
        Feature::XdpFrags,
        Feature::XdpLinks,
    ];

    /// Stable identifier (snake case), as in `vantage kernel-check --json`.
    pub fn id(self) -> &'static str {
        self.into()
    }

    /// What the kernel calls it, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Feature::XdpPrograms => "XDP programs",
            Feature::HashMaps => "hash maps",
            Feature::ArrayMaps => "array maps",
            Feature::PerCpuArrays => "per-CPU array maps",
            Feature::LpmTries => "LPM trie maps",
            Feature::FunctionCalls => "BPF-to-BPF function calls",
            Feature::BoundedLoops => "bounded loops",
            Feature::Jiffies64 => "bpf_jiffies64",
            Feature::RingBuffer => "the BPF ring buffer (BPF_MAP_TYPE_RINGBUF)",
            Feature::RingbufReserve => "bpf_ringbuf_reserve",
            Feature::RingbufSubmit => "bpf_ringbuf_submit",
            Feature::KtimeGetCoarseNs => "bpf_ktime_get_coarse_ns",
            Feature::XdpGetBuffLen => "bpf_xdp_get_buff_len",
            Feature::XdpLoadBytes => "bpf_xdp_load_bytes",
            Feature::XdpFrags => "XDP multi-buffer programs (BPF_F_XDP_HAS_FRAGS)",
            Feature::XdpLinks => "XDP bpf_link attachments",
        }
    }

    /// The mainline Linux release that introduced it.
    pub fn since(self) -> LinuxVersion {
        match self {
            Feature::HashMaps | Feature::ArrayMaps => LinuxVersion::new(3, 19),
            Feature::PerCpuArrays => LinuxVersion::new(4, 6),
            Feature::XdpPrograms => LinuxVersion::new(4, 8),
            Feature::LpmTries => LinuxVersion::new(4, 11),
            Feature::FunctionCalls => LinuxVersion::new(4, 16),
            Feature::BoundedLoops => LinuxVersion::new(5, 3),
            Feature::Jiffies64 => LinuxVersion::new(5, 5),
            Feature::RingBuffer | Feature::RingbufReserve | Feature::RingbufSubmit => {
                LinuxVersion::new(5, 8)
            }
            Feature::XdpLinks => LinuxVersion::new(5, 9),
            Feature::KtimeGetCoarseNs => LinuxVersion::new(5, 11),
            Feature::XdpGetBuffLen | Feature::XdpLoadBytes | Feature::XdpFrags => {
                LinuxVersion::new(5, 18)
            }
        }
    }

    /// What the sensor uses it for.
    pub fn used_for(self) -> &'static str {
        match self {
            Feature::XdpPrograms => "the sensor runs on every frame as one",
            Feature::HashMaps => "host and flow blocks",
            Feature::ArrayMaps => "the agent's settings",
            Feature::PerCpuArrays => "per-CPU host counters, site counters and caches",
            Feature::LpmTries => "protected networks, the allowlist and prefix blocks",
            Feature::FunctionCalls => "probed only: the program is built with every body inlined",
            Feature::BoundedLoops => "walks the question name of DNS messages",
            Feature::Jiffies64 => "reads the clock once per tick, not per packet",
            Feature::RingBuffer => "carries events to the agent",
            Feature::RingbufReserve => "writes each event in place",
            Feature::RingbufSubmit => "hands each event to the agent",
            Feature::KtimeGetCoarseNs => "times last-seen, block expiry and events",
            Feature::XdpGetBuffLen => "measures jumbo frames",
            Feature::XdpLoadBytes => "copies DNS queries and answers to the agent",
            Feature::XdpFrags => "the entry points for jumbo MTUs",
            Feature::XdpLinks => {
                "pinned attachments the next agent swaps atomically; without it, netlink"
            }
        }
    }

    /// False only for a feature the agent can do without.
    pub fn required(self) -> bool {
        self != Feature::XdpLinks
    }
}

/// The oldest mainline Linux with every required feature.
pub fn minimum_kernel() -> LinuxVersion {
    Feature::ALL
        .iter()
        .filter(|feature| feature.required())
        .map(|feature| feature.since())
        .max()
        .unwrap_or(TESTED_ON)
}

/// The `major.minor` a release such as `6.1.0-57-cloud-amd64` starts
/// with, for advice only: decisions come from the probes.
pub fn release_version(release: &str) -> Option<LinuxVersion> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some(LinuxVersion::new(major, minor))
}

/// For a kernel with every feature but older than [`TESTED_ON`]: its
/// verifier may still refuse the program (Debian 12's 6.1 does).
pub fn older_verifier_note(release: &str) -> Option<String> {
    let version = release_version(release)?;
    (version < TESTED_ON).then(|| {
        format!(
            "kernel {release} has every BPF feature the XDP program uses, but it is older than \
             {TESTED_ON}, the oldest kernel the program is verified on: its verifier may still \
             refuse the program (Linux 6.1's does)"
        )
    })
}
