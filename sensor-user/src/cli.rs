//! Command-line interface of the `vantage` binary.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    pub attach_mode: Option<AttachModeArg>,
    /// Capacity of the per-host table (entries).
    #[arg(long, value_name = "N")]
    pub host_capacity: Option<u32>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AttachModeArg {
    /// Driver mode, falling back to generic with a warning.
    Auto,
    Driver,
    Generic,
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
