//! Command-line interface of `vantage-fleet`.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand};

/// The MSSP's collector for Vantage sensors.
#[derive(Debug, Parser)]
#[command(name = "vantage-fleet", version)]
pub struct Cli {
    /// Directory holding the collector's key, certificate and database.
    #[arg(long, global = true, default_value = "/var/lib/vantage-fleet")]
    pub dir: PathBuf,
    /// Database file (default: DIR/fleet.db).
    #[arg(long, global = true)]
    pub db: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    pub fn db_path(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(|| self.dir.join("fleet.db"))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the collector's TLS key and certificate and print the pin sensors need.
    Init {
        /// Name sensors use to reach the collector (goes into the certificate).
        #[arg(long)]
        name: String,
    },
    /// Print the pin of the collector's key.
    Pin,
    /// Accept sensors' connections and store what they send.
    Serve {
        #[arg(long, default_value = "0.0.0.0:7443")]
        listen: SocketAddr,
    },
    /// Register a sensor's public key for a site.
    Enroll {
        /// A signed enrolment request from `vantage enrolment-request`.
        #[arg(long, conflicts_with_all = ["public_key", "site"])]
        request: Option<String>,
        /// The sensor's public key (64 hex digits, printed by `vantage keygen`).
        #[arg(long, requires = "site")]
        public_key: Option<String>,
        /// Customer site the sensor protects.
        #[arg(long)]
        site: Option<String>,
        /// Name to show for the sensor (default: its hostname or id).
        #[arg(long)]
        name: Option<String>,
    },
    /// The fleet: per sensor, last heartbeat, visibility, alerts, gaps, silence.
    Sensors {
        #[arg(long)]
        json: bool,
    },
    /// Stored alerts, oldest first.
    Alerts {
        #[arg(long)]
        json: bool,
        /// Only this sensor (id).
        #[arg(long)]
        sensor: Option<String>,
        /// Only this severity or worse (info, low, medium, high, critical).
        #[arg(long)]
        min_severity: Option<String>,
        /// Only alerts stored after this row id.
        #[arg(long, default_value_t = 0)]
        after_id: i64,
        /// Also list envelopes flagged as breaking their chain.
        #[arg(long)]
        include_broken: bool,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Send stored alerts to a SIEM: as JSON lines, OCSF Detection Findings
    /// or RFC 5424 syslog, to stdout or over UDP/TCP.
    Export {
        /// jsonl, ocsf or syslog.
        #[arg(long)]
        format: String,
        /// udp://HOST:PORT or tcp://HOST:PORT (default: stdout).
        #[arg(long)]
        to: Option<String>,
        /// Only alerts stored after this row id.
        #[arg(long, default_value_t = 0)]
        after_id: i64,
        /// Only this severity or worse.
        #[arg(long)]
        min_severity: Option<String>,
        /// Keep running and send new alerts as they are stored.
        #[arg(long)]
        follow: bool,
    },
}
