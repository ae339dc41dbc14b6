//! `[sensor]`: where the program attaches, what it protects, where its pins
//! and state live.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Violations;
use crate::net::Cidr;

/// `[sensor]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SensorConfig {
    /// Interface names (at most 15 bytes each, no duplicates).
    pub interfaces: Vec<String>,
    /// Protected prefixes; hosts inside them get per-host counters.
    pub local_nets: Vec<Cidr>,
    pub attach_mode: AttachMode,
    /// bpffs directory for pinned maps and links.
    pub pin_dir: PathBuf,
    /// Directory of the agent's state file.
    pub state_dir: PathBuf,
    /// Host slots per CPU (64 to 1048576).
    pub host_capacity: u32,
    /// Tunnels to open (`vxlan`, `geneve`, `gre`, `erspan`): on a mirror
    /// port fed by remote SPAN or cloud traffic mirroring, the inner hosts
    /// are counted instead of the tunnel's endpoints.
    pub decapsulate: Vec<sensor_common::EncapKind>,
    /// A frame seen twice within a few milliseconds (a mirror copying both
    /// directions) counts once for its hosts. Always counted as a duplicate.
    pub skip_duplicates: bool,
}

/// How to attach the XDP program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    /// Native (driver) XDP, falling back to generic with a warning.
    Auto,
    /// Native XDP only.
    Driver,
    /// Generic (skb) XDP only.
    Generic,
}

/// The default protected networks: RFC 1918, shared address space (RFC 6598), ULA (RFC 4193).
pub fn default_local_nets() -> Vec<Cidr> {
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    ]
    .iter()
    .filter_map(|s| s.parse().ok())
    .collect()
}

impl Default for SensorConfig {
    fn default() -> SensorConfig {
        SensorConfig {
            interfaces: Vec::new(),
            local_nets: default_local_nets(),
            attach_mode: AttachMode::Auto,
            pin_dir: PathBuf::from("/sys/fs/bpf/vantage"),
            state_dir: PathBuf::from("/run/vantage"),
            host_capacity: sensor_common::DEFAULT_HOST_CAPACITY,
            decapsulate: Vec::new(),
            skip_duplicates: false,
        }
    }
}

impl SensorConfig {
    pub(super) fn check(&self, out: &mut Violations) {
        for (i, iface) in self.interfaces.iter().enumerate() {
            if iface.is_empty()
                || iface.len() > 15
                || iface.contains('/')
                || iface.contains(char::is_whitespace)
            {
                out.fail(
                    "sensor",
                    "interfaces",
                    format!("{iface:?} is not a valid interface name"),
                );
            } else if self.interfaces[..i].contains(iface) {
                out.fail("sensor", "interfaces", format!("{iface:?} is listed twice"));
            }
        }
        for (i, kind) in self.decapsulate.iter().enumerate() {
            if self.decapsulate[..i].contains(kind) {
                let name: &str = kind.into();
                out.fail("sensor", "decapsulate", format!("{name:?} is listed twice"));
            }
        }
        if self.local_nets.is_empty() {
            out.fail(
                "sensor",
                "local_nets",
                "at least one protected network is needed".to_owned(),
            );
        }
        if !(64..=1_048_576).contains(&self.host_capacity) {
            out.fail(
                "sensor",
                "host_capacity",
                format!("{} is outside 64..=1048576", self.host_capacity),
            );
        }
    }
}
