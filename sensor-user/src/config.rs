//! The agent's TOML configuration: defaults, parsing, and validation that
//! names the offending field and its line.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

use crate::target::{Cidr, HumanDuration};

/// A fully commented configuration file with every option at its default.
pub const EXAMPLE: &str = r#"# Vantage agent configuration (TOML). Every key is optional.

[sensor]
# Interfaces to attach to. XDP sees only ingress, so an inline gateway lists
# both its LAN and its WAN side. `vantage run --iface` overrides this list.
interfaces = []
# Protected networks: hosts inside them get per-host counters.
local_nets = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]
# auto: native (driver) XDP, falling back to generic XDP with a warning.
# driver or generic: that mode only.
attach_mode = "auto"
# bpffs directory for the pinned maps and links (they outlive the agent).
pin_dir = "/sys/fs/bpf/vantage"
# Where the agent writes agent.json, read by `vantage status`.
state_dir = "/run/vantage"
# Protected hosts tracked at once; beyond this the least recently seen is
# evicted (and counted). 16 to 4194304.
host_capacity = 16384

[events]
# New outbound connections and DNS names sent to the agent.
enabled = true
# Events each CPU may send per second once its burst is spent (1 to 1000000).
rate_per_cpu = 2000
# Events each CPU may send back to back (1 to 1000000).
burst = 4000

[blocks]
# TTL of `vantage block add` without --ttl.
default_ttl = "1h"
# Longest TTL accepted.
max_ttl = "7d"
# Addresses or prefixes that are never dropped, applied at start.
allow = []

[status]
# How often the agent refreshes its state file.
interval = "1s"

[uplink]
# The MSSP's collector (`vantage-fleet serve`), as host:port. Empty: no
# uplink, no spool, no heartbeats. The sensor only ever dials out.
collector = ""
# Name the collector's certificate was made for (`vantage-fleet init --name`).
server_name = "vantage-fleet"
# The collector key's pin, printed by `vantage-fleet init` or `vantage-fleet pin`:
# "sha256:" and 64 hex digits. Required with `collector`.
pin = ""
# The sensor's signing key, made by `vantage keygen` (must be mode 0600).
key = "/etc/vantage/sensor.key"
# Durable directory for the spool and the uplink log (not a tmpfs).
spool_dir = "/var/lib/vantage"
# Bytes of unacknowledged envelopes kept (16384 to 1073741824). Beyond it the
# lowest severity is evicted first; heartbeats and critical alerts go last.
spool_max_bytes = 4194304
# How often a heartbeat is sent (1s to 1h). The collector calls a sensor
# silent after three missed heartbeats.
heartbeat_interval = "60s"
# Reconnection backoff: doubles from retry_min up to retry_max, with jitter.
retry_min = "1s"
retry_max = "60s"
"#;

/// `[sensor]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SensorConfig {
    pub interfaces: Vec<String>,
    pub local_nets: Vec<Cidr>,
    pub attach_mode: AttachMode,
    pub pin_dir: PathBuf,
    pub state_dir: PathBuf,
    pub host_capacity: u32,
}

/// How to attach the XDP program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    Auto,
    Driver,
    Generic,
}

/// `[events]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    pub enabled: bool,
    pub rate_per_cpu: u32,
    pub burst: u32,
}

/// `[blocks]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlocksConfig {
    pub default_ttl: HumanDuration,
    pub max_ttl: HumanDuration,
    pub allow: Vec<Cidr>,
}

/// `[status]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusConfig {
    pub interval: HumanDuration,
}

/// `[uplink]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UplinkConfig {
    pub collector: String,
    pub server_name: String,
    pub pin: String,
    pub key: PathBuf,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    pub heartbeat_interval: HumanDuration,
    pub retry_min: HumanDuration,
    pub retry_max: HumanDuration,
}

impl UplinkConfig {
    pub fn enabled(&self) -> bool {
        !self.collector.is_empty()
    }
}

impl Default for UplinkConfig {
    fn default() -> UplinkConfig {
        UplinkConfig {
            collector: String::new(),
            server_name: "vantage-fleet".to_owned(),
            pin: String::new(),
            key: PathBuf::from("/etc/vantage/sensor.key"),
            spool_dir: PathBuf::from("/var/lib/vantage"),
            spool_max_bytes: 4 * 1024 * 1024,
            heartbeat_interval: HumanDuration(Duration::from_secs(60)),
            retry_min: HumanDuration(Duration::from_secs(1)),
            retry_max: HumanDuration(Duration::from_secs(60)),
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub sensor: SensorConfig,
    pub events: EventsConfig,
    pub blocks: BlocksConfig,
    pub status: StatusConfig,
    pub uplink: UplinkConfig,
}

/// The default protected networks: RFC 1918, shared address space, ULA.
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
        }
    }
}

impl Default for EventsConfig {
    fn default() -> EventsConfig {
        EventsConfig {
            enabled: true,
            rate_per_cpu: 2000,
            burst: 4000,
        }
    }
}

impl Default for BlocksConfig {
    fn default() -> BlocksConfig {
        BlocksConfig {
            default_ttl: HumanDuration(Duration::from_secs(3600)),
            max_ttl: HumanDuration(Duration::from_secs(7 * 86_400)),
            allow: Vec::new(),
        }
    }
}

impl Default for StatusConfig {
    fn default() -> StatusConfig {
        StatusConfig {
            interval: HumanDuration(Duration::from_secs(1)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}:{line}:{column}: field `{field}`: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    #[error("reading {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A semantic problem found after parsing: which field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub section: &'static str,
    pub key: &'static str,
    pub message: String,
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// The dotted field at a line: the table header above it and the key on it.
fn field_at_line(text: &str, line: usize) -> String {
    let mut section = String::new();
    let mut key = String::new();
    for (index, raw) in text.lines().enumerate() {
        let current = raw.trim();
        if index + 1 > line {
            break;
        }
        if current.starts_with('[') {
            section = current
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned();
            key.clear();
        } else if let Some((k, _)) = current.split_once('=') {
            if !current.starts_with('#') {
                key = k.trim().to_owned();
            }
        }
        if index + 1 == line
            && !current.contains('=')
            && !current.starts_with('[')
            && !current.starts_with('#')
        {
            // A continuation line of a multi-line array: keep the last key.
        }
    }
    match (section.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => section,
        (false, false) => format!("{section}.{key}"),
    }
}

/// Where `key` sits inside `[section]`, if it is written in the file.
fn find_key(text: &str, section: &str, key: &str) -> Option<(usize, usize)> {
    let mut in_section = section.is_empty();
    for (index, raw) in text.lines().enumerate() {
        let current = raw.trim();
        if current.starts_with('[') {
            in_section = current.trim_matches(|c| c == '[' || c == ']').trim() == section;
            continue;
        }
        if in_section {
            if let Some((k, _)) = current.split_once('=') {
                if k.trim() == key {
                    let column = raw.len() - raw.trim_start().len() + 1;
                    return Some((index + 1, column));
                }
            }
        }
    }
    None
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml_str(&text, path)
    }

    /// Parses and validates `text`; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|error| {
            let (line, column, field) = match error.span() {
                Some(span) => {
                    let (line, column) = line_column(text, span.start);
                    (line, column, field_at_line(text, line))
                }
                None => (0, 0, String::new()),
            };
            let field = match unknown_field(error.message()) {
                Some(unknown) if !field.ends_with(&unknown) => {
                    if field.is_empty() {
                        unknown
                    } else {
                        format!("{field}.{unknown}")
                    }
                }
                _ => field,
            };
            ConfigError::Invalid {
                path: origin.to_path_buf(),
                line,
                column,
                field,
                message: error.message().trim().to_owned(),
            }
        })?;
        if let Some(violation) = config.violations().into_iter().next() {
            let (line, column) = find_key(text, violation.section, violation.key).unwrap_or((0, 0));
            return Err(ConfigError::Invalid {
                path: origin.to_path_buf(),
                line,
                column,
                field: format!("{}.{}", violation.section, violation.key),
                message: violation.message,
            });
        }
        Ok(config)
    }

    /// Checks the settings (also after command-line overrides).
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.violations().into_iter().next() {
            None => Ok(()),
            Some(v) => Err(ConfigError::Invalid {
                path: PathBuf::from("<command line>"),
                line: 0,
                column: 0,
                field: format!("{}.{}", v.section, v.key),
                message: v.message,
            }),
        }
    }

    /// Every semantic problem, in file order.
    pub fn violations(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        let mut fail = |section, key, message: String| {
            found.push(Violation {
                section,
                key,
                message,
            })
        };
        let s = &self.sensor;
        for (i, iface) in s.interfaces.iter().enumerate() {
            if iface.is_empty()
                || iface.len() > 15
                || iface.contains('/')
                || iface.contains(char::is_whitespace)
            {
                fail(
                    "sensor",
                    "interfaces",
                    format!("{iface:?} is not a valid interface name"),
                );
            } else if s.interfaces[..i].contains(iface) {
                fail("sensor", "interfaces", format!("{iface:?} is listed twice"));
            }
        }
        if s.local_nets.is_empty() {
            fail(
                "sensor",
                "local_nets",
                "at least one protected network is needed".to_owned(),
            );
        }
        if !(16..=4_194_304).contains(&s.host_capacity) {
            fail(
                "sensor",
                "host_capacity",
                format!("{} is outside 16..=4194304", s.host_capacity),
            );
        }
        let e = &self.events;
        if !(1..=1_000_000).contains(&e.rate_per_cpu) {
            fail(
                "events",
                "rate_per_cpu",
                format!("{} is outside 1..=1000000", e.rate_per_cpu),
            );
        }
        if !(1..=1_000_000).contains(&e.burst) {
            fail(
                "events",
                "burst",
                format!("{} is outside 1..=1000000", e.burst),
            );
        }
        let b = &self.blocks;
        if b.default_ttl.0 > b.max_ttl.0 {
            fail(
                "blocks",
                "default_ttl",
                format!(
                    "{} is longer than max_ttl ({})",
                    crate::target::format_duration(b.default_ttl.0),
                    crate::target::format_duration(b.max_ttl.0)
                ),
            );
        }
        if self.status.interval.0 > Duration::from_secs(60) {
            fail("status", "interval", "must be 60s or less".to_owned());
        }
        let u = &self.uplink;
        if u.enabled() {
            let port_ok = u.collector.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !port_ok {
                fail(
                    "uplink",
                    "collector",
                    format!("{:?} is not host:port", u.collector),
                );
            }
            if vantage_protocol::KeyPin::parse(&u.pin).is_none() {
                fail(
                    "uplink",
                    "pin",
                    format!(
                        "{:?} is not \"sha256:\" and 64 hex digits (see `vantage-fleet pin`)",
                        u.pin
                    ),
                );
            }
            if rustls::pki_types::ServerName::try_from(u.server_name.as_str()).is_err() {
                fail(
                    "uplink",
                    "server_name",
                    format!("{:?} is not a DNS name or IP address", u.server_name),
                );
            }
        }
        if !(16_384..=1_073_741_824).contains(&u.spool_max_bytes) {
            fail(
                "uplink",
                "spool_max_bytes",
                format!("{} is outside 16384..=1073741824", u.spool_max_bytes),
            );
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&u.heartbeat_interval.0) {
            fail(
                "uplink",
                "heartbeat_interval",
                "must be between 1s and 1h".to_owned(),
            );
        }
        if u.retry_max.0 < u.retry_min.0 {
            fail(
                "uplink",
                "retry_max",
                "must not be shorter than retry_min".to_owned(),
            );
        }
        found
    }
}

/// The name in toml's "unknown field `x`" message.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("test.toml"))
    }

    fn invalid(text: &str) -> (usize, String, String) {
        match parse(text) {
            Err(ConfigError::Invalid {
                line,
                field,
                message,
                ..
            }) => (line, field, message),
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = parse("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config, Config::default());
        assert_eq!(config.sensor.local_nets.len(), 5);
        assert_eq!(config.sensor.host_capacity, 16_384);
    }

    #[test]
    fn example_parses_to_the_defaults() {
        let config = parse(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config, Config::default());
    }

    #[test]
    fn full_file_is_read() {
        let config = parse(
            "[sensor]\ninterfaces = [\"lan0\", \"wan0\"]\nlocal_nets = [\"10.1.0.0/16\"]\nattach_mode = \"generic\"\nhost_capacity = 1024\n[blocks]\ndefault_ttl = \"10m\"\nallow = [\"10.1.0.1\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.sensor.interfaces, vec!["lan0", "wan0"]);
        assert_eq!(config.sensor.attach_mode, AttachMode::Generic);
        assert_eq!(config.blocks.default_ttl.0, Duration::from_secs(600));
        assert_eq!(config.blocks.allow[0].to_string(), "10.1.0.1/32");
    }

    #[test]
    fn unknown_key_names_field_and_line() {
        let (line, field, message) = invalid("[sensor]\ninterfaces = []\nhost_capacty = 5\n");
        assert_eq!(line, 3);
        assert_eq!(field, "sensor.host_capacty");
        assert!(message.contains("unknown field"), "{message}");
    }

    #[test]
    fn bad_cidr_names_field_and_line() {
        let (line, field, message) = invalid("\n[sensor]\nlocal_nets = [\"10.0.0/8\"]\n");
        assert_eq!(line, 3);
        assert_eq!(field, "sensor.local_nets");
        assert!(message.contains("10.0.0/8"), "{message}");
    }

    #[test]
    fn wrong_type_names_field_and_line() {
        let (line, field, _) = invalid("[events]\nenabled = \"yes\"\n");
        assert_eq!((line, field.as_str()), (2, "events.enabled"));
    }

    #[test]
    fn unknown_attach_mode_is_refused() {
        let (line, field, _) = invalid("[sensor]\nattach_mode = \"fast\"\n");
        assert_eq!((line, field.as_str()), (2, "sensor.attach_mode"));
    }

    #[test]
    fn out_of_range_capacity_names_its_line() {
        let (line, field, message) = invalid("[sensor]\n\nhost_capacity = 8\n");
        assert_eq!((line, field.as_str()), (3, "sensor.host_capacity"));
        assert!(message.contains("16..=4194304"), "{message}");
    }

    #[test]
    fn default_ttl_longer_than_max_is_refused() {
        let (line, field, _) = invalid("[blocks]\nmax_ttl = \"1h\"\ndefault_ttl = \"2h\"\n");
        assert_eq!((line, field.as_str()), (3, "blocks.default_ttl"));
    }

    #[test]
    fn unknown_section_is_refused() {
        let (line, field, _) = invalid("[sensr]\ninterfaces = []\n");
        assert_eq!(line, 1);
        assert!(field.contains("sensr"), "{field}");
    }

    #[test]
    fn duplicate_interface_is_refused() {
        let (line, field, message) = invalid("[sensor]\ninterfaces = [\"eth0\", \"eth0\"]\n");
        assert_eq!((line, field.as_str()), (2, "sensor.interfaces"));
        assert!(message.contains("twice"), "{message}");
    }
}
