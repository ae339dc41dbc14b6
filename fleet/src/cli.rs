//! Command-line interface of `vantage-fleet`.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};

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
    /// The database file: `--db`, else `DIR/fleet.db`.
    pub fn db_path(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(|| self.dir.join("fleet.db"))
    }
}

/// The contract flags of `enroll` and `expect`: what the MSSP expects of
/// the sensor's site. Parsed by `assurance::contract`, which names the flag
/// in every refusal.
#[derive(Debug, Default, Args)]
pub struct ContractFlags {
    /// How the sensor is to be deployed: inline (a gateway) or mirror (a
    /// SPAN port); none removes the term.
    #[arg(long, value_name = "inline|mirror")]
    pub mode: Option<String>,
    /// Protected hosts the sensor must see sending: N or A-B; none removes
    /// the term.
    #[arg(long, value_name = "N|A-B")]
    pub expect_hosts: Option<String>,
    /// The resolvers the site's clients use, comma-separated; none removes
    /// them.
    #[arg(long, value_name = "IP,IP")]
    pub resolvers: Option<String>,
}

/// The subcommands.
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
        /// The contract the sensor's reports are judged against.
        #[command(flatten)]
        contract: ContractFlags,
    },
    /// Show a sensor's contract, or change the terms given.
    Expect {
        /// Sensor id, or a unique start of one.
        sensor: String,
        /// The terms to change; the others stay.
        #[command(flatten)]
        contract: ContractFlags,
    },
    /// The fleet: per sensor, last heartbeat, verdict, findings, contract
    /// check, time in each verdict, last canary, alerts, gaps, silence.
    Sensors {
        #[arg(long)]
        json: bool,
    },
    /// Stored alerts and detections, oldest first (a detection at its
    /// latest revision), with each detection's score, action and
    /// explanation.
    Alerts {
        #[arg(long)]
        json: bool,
        /// Only this sensor (id, or a unique start of one).
        #[arg(long)]
        sensor: Option<String>,
        /// Only this severity or worse (info, low, medium, high, critical).
        #[arg(long)]
        min_severity: Option<String>,
        /// Only this alert kind (test, port_scan, ..., canary) or detector
        /// (port_scan, host_sweep, lateral_movement, beacon, dns_tunnel,
        /// known_bad, new_device).
        #[arg(long)]
        kind: Option<String>,
        /// Only alerts stored after this row id.
        #[arg(long, default_value_t = 0)]
        after_id: i64,
        /// Also list envelopes flagged as breaking their chain.
        #[arg(long)]
        include_broken: bool,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Canaries that crossed sensors' datapaths, oldest first, with the
    /// latency of the path each proved.
    Canaries {
        #[arg(long)]
        json: bool,
        /// Only this sensor (id, or a unique start of one).
        #[arg(long)]
        sensor: Option<String>,
        /// Only the last N.
        #[arg(long)]
        last: Option<u32>,
    },
    /// The daily digests sensors sent, oldest first: detections per
    /// detector and per action, top hosts, alerts the rate caps held back.
    Digests {
        #[arg(long)]
        json: bool,
        /// Only this sensor (id, or a unique start of one).
        #[arg(long)]
        sensor: Option<String>,
        /// Only the last N.
        #[arg(long)]
        last: Option<u32>,
    },
    /// Send stored alerts and detections to a SIEM: as JSON lines, OCSF
    /// Detection Findings or RFC 5424 syslog, to stdout or over UDP/TCP.
    Export {
        /// jsonl, ocsf or syslog.
        #[arg(long)]
        format: String,
        /// udp://HOST:PORT or tcp://HOST:PORT (default: stdout).
        #[arg(long)]
        to: Option<String>,
        /// Only alerts (and detection revisions) stored after this row id.
        #[arg(long, default_value_t = 0)]
        after_id: i64,
        /// Only this severity or worse.
        #[arg(long)]
        min_severity: Option<String>,
        /// Keep running and send new alerts and detection revisions as they
        /// are stored.
        #[arg(long)]
        follow: bool,
    },
}
