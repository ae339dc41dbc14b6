//! The `vantage` command line: every subcommand and its arguments (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use vantage::config::AttachMode;
use vantage_protocol::{AlertKind, Severity};

/// Vantage edge sensor: XDP traffic accounting, blocks with expiry, and a view of what it sees.
#[derive(Debug, Parser)]
#[command(name = "vantage", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load the XDP program, attach it and run the agent until SIGINT/SIGTERM.
    Run(RunArgs),
    /// Show what the sensor sees: per-host counters and site visibility counters.
    Status(StatusArgs),
    /// Manage blocks (each with a TTL enforced by the kernel itself).
    #[command(subcommand)]
    Block(BlockCommand),
    /// Manage the allowlist (allowlisted addresses are never dropped).
    #[command(subcommand)]
    Allow(AllowCommand),
    /// Detach the program and remove every pinned map and link.
    Unload(CommonArgs),
    /// Create the sensor's Ed25519 signing key (PKCS#8, mode 0600) and print its fingerprint.
    Keygen {
        /// Where to write the key; refuses to overwrite.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print a signed enrolment request for `vantage-fleet enroll --request`.
    EnrolmentRequest {
        /// The sensor's key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The customer site this sensor protects.
        #[arg(long)]
        site: String,
        /// Name to show in the fleet view (default: this host's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Raise an alert by hand (for example to prove the path to the SOC works);
    /// the running agent signs and spools it.
    Alert(AlertArgs),
    /// Show the uplink log: every envelope committed, sent, acknowledged or evicted.
    Log(LogArgs),
    /// Check the sensor's placement: watch the running sensor for a while and
    /// print what it can and cannot see, with fixes. Exits 0 only when it sees
    /// what it should, 1 on findings, 2 on error.
    Placement(PlacementArgs),
    /// Look up a recognisable canary name from this (protected) host, so that
    /// the sensor raises a canary alert and the path to the SOC is proven.
    Canary(CanaryArgs),
    /// Replay a capture (pcap or pcapng) through the real XDP program
    /// (BPF_PROG_TEST_RUN, root) with the capture's timestamps as the clock,
    /// or a trace recorded by `vantage run --record` (no root), and print
    /// the alerts and decisions the sensor would have made.
    Replay(ReplayArgs),
    /// Probe the running kernel for each BPF feature the XDP program needs
    /// and print the kernel release and each feature, present or missing;
    /// exits 1 where the program would be refused.
    KernelCheck {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a fully commented example configuration file.
    ConfigExample,
    /// Check a configuration file and print the settings it resolves to.
    ConfigCheck {
        /// The file to check.
        file: PathBuf,
    },
}

/// Where the sensor keeps its pins and state.
#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// TOML configuration file.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// bpffs directory holding the pinned maps and links (overrides the config).
    #[arg(long, value_name = "DIR")]
    pub pin_dir: Option<PathBuf>,
    /// Directory of the agent's state file (overrides the config).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Interface to attach to; repeat for each side of an inline gateway (LAN and WAN).
    #[arg(long = "iface", short = 'i', value_name = "IF")]
    pub interfaces: Vec<String>,
    /// Protected network (CIDR); repeatable. Replaces the configured list.
    #[arg(long = "local-net", value_name = "CIDR")]
    pub local_nets: Vec<String>,
    /// XDP attach mode.
    #[arg(long, value_enum)]
    pub attach_mode: Option<AttachMode>,
    /// Capacity of the per-host table (entries).
    #[arg(long, value_name = "N")]
    pub host_capacity: Option<u32>,
    /// Append every sampled interval (host samples, site counters, events)
    /// to FILE as JSON lines, for `vantage replay --trace FILE`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The capture file (pcap or pcapng: told apart by its magic bytes).
    #[arg(
        value_name = "CAPTURE",
        required_unless_present = "trace",
        conflicts_with = "trace"
    )]
    pub capture: Option<PathBuf>,
    /// Replay this trace (`vantage run --record FILE`) instead of a capture.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// TOML configuration file (detectors, rules of engagement, site).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Protected network (CIDR); repeatable. Replaces the configured list.
    #[arg(long = "local-net", value_name = "CIDR")]
    pub local_nets: Vec<String>,
    /// One JSON object per line: `alert`, `decision`, then a `summary`.
    #[arg(long)]
    pub json: bool,
    /// The sensor's device inventory (`inventory.json` from its state
    /// directory): without it, a capture cannot say which devices are new,
    /// and the new-device detector reports nothing.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Length of one sampling interval on the capture's clock (whole seconds: `1s`, `5s`).
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub tick: String,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Print the stable JSON report (schema `vantage.status/1`).
    #[arg(long)]
    pub json: bool,
    /// Redraw every N seconds until interrupted.
    #[arg(long, value_name = "SECONDS")]
    pub watch: Option<u64>,
}

#[derive(Debug, Args)]
pub struct PlacementArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Seconds to watch; the census and the DNS and VLAN rules judge what
    /// the watch saw, so 60 or more is a fair sample.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub duration: u64,
    /// Print the report as JSON (schema `vantage.placement/1`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CanaryArgs {
    /// Ask this resolver directly instead of this host's own.
    #[arg(long, value_name = "IP")]
    pub resolver: Option<std::net::IpAddr>,
    /// The domain under which the canary name is looked up.
    #[arg(long, default_value = vantage::canary::DEFAULT_SUFFIX)]
    pub suffix: String,
}

#[derive(Debug, Subcommand)]
pub enum BlockCommand {
    /// Block a host (`203.0.113.7`), a prefix (`203.0.113.0/24`) or a flow
    /// (`tcp/10.0.0.5:*/203.0.113.7:443`) until the TTL runs out.
    Add {
        target: String,
        /// How long the block lasts (`30s`, `10m`, `2h`, `1d`); default from the config.
        #[arg(long)]
        ttl: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Remove a block.
    Del {
        target: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List blocks with their remaining time and hit counts.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AllowCommand {
    /// Allowlist an address or prefix.
    Add {
        net: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Remove an allowlist entry.
    Del {
        net: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List the allowlist with hit counts.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Debug, Args)]
pub struct AlertArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// info, low, medium, high or critical.
    #[arg(long, default_value = "info", value_parser = severity)]
    pub severity: Severity,
    /// test, port_scan, host_sweep, new_peer, dns_anomaly, volume_spike, block_hit, visibility.
    #[arg(long, default_value = "test", value_parser = alert_kind)]
    pub kind: AlertKind,
    /// The protected host concerned.
    #[arg(long, default_value = "0.0.0.0")]
    pub host: std::net::IpAddr,
    #[arg(long)]
    pub peer: Option<std::net::IpAddr>,
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Free text (at most 64 bytes are sent).
    #[arg(long, default_value = "")]
    pub detail: String,
    /// Seconds to wait for the agent to commit it (0: do not wait).
    #[arg(long, default_value_t = 10)]
    pub wait: u64,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Only the last N entries.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    /// Only entries of this event (committed, sent, acked, evicted, ...).
    #[arg(long)]
    pub event: Option<String>,
}

/// `--severity`: one of the protocol's severity names.
fn severity(text: &str) -> Result<Severity, String> {
    one_of(text, Severity::ALL, Severity::name)
}

/// `--kind`: one of the protocol's alert kind names.
fn alert_kind(text: &str) -> Result<AlertKind, String> {
    one_of(text, AlertKind::ALL, AlertKind::name)
}

fn one_of<T: Copy>(text: &str, all: &[T], name: fn(T) -> &'static str) -> Result<T, String> {
    all.iter()
        .copied()
        .find(|v| name(*v) == text)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            format!("expected one of {}", names.join(", "))
        })
}
