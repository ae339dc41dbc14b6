//! Scans: a protected host trying many ports of one peer ([`PortScan`],
//! vertical) or one port on many peers ([`HostSweep`], horizontal), mostly
//! without answer. The measures and default thresholds are Zeek's scan
//! policy (`policy/misc/scan.zeek`: `port_scan_threshold` 15 distinct
//! ports, `addr_scan_threshold` 25 distinct hosts, both over a 5-minute
//! `*_scan_interval`, counting failed connections only), with a sliding
//! window instead of Zeek's fixed epochs, and separate, higher thresholds
//! when the peers are protected hosts themselves.
//!
//! "Failed" is Zeek's: an attempt whose target never answered with a
//! SYN-ACK (refused by a RST or an ICMP unreachable, or silent). A target
//! counts as answered only when the pipeline reports
//! `Seen::Answer { outcome: Answered }` for the same host, peer and port;
//! today that is a SYN-ACK only, so UDP and ICMP echo targets always count
//! as failed (hence the sweep's `ignore_udp_ports` and its rule for the
//! site's resolvers). Should the pipeline report UDP replies or echo
//! replies (port 0) as answers, they are taken into account as they are.
//!
//! The window slides per target: a port or peer is remembered while its
//! last attempt is at most `window` before the tick, and forgotten after.
//! The attempt and answer counts of the explanation cover the remembered
//! targets (including their earlier attempts within the run of attempts
//! that kept them in the window).

mod port;
mod sweep;
pub(in crate::detect) mod track;

#[cfg(test)]
pub(in crate::detect) mod testkit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_sweep;

pub use port::{PortScan, PortScanSettings, MAX_PORTS_PER_PAIR};
pub use sweep::{HostSweep, HostSweepSettings, MAX_PEERS_PER_SWEEP};

/// Scores rise from 50 at the threshold to 100 at this multiple of it.
pub const SATURATE: f64 = 4.0;

/// Checks a window against `low..=high` seconds, for the settings checks.
pub(in crate::detect) fn check_window(
    key: &'static str,
    window: std::time::Duration,
    low_secs: u64,
    high_secs: u64,
    text: &str,
    out: &mut Vec<(&'static str, String)>,
) {
    if !(low_secs..=high_secs).contains(&window.as_secs()) {
        out.push((key, format!("must be between {text}")));
    }
}

/// Checks a count against `low..=high`, for the settings checks.
pub(in crate::detect) fn check_count(
    key: &'static str,
    value: usize,
    low: usize,
    high: usize,
    out: &mut Vec<(&'static str, String)>,
) {
    if !(low..=high).contains(&value) {
        out.push((key, format!("{value} is out of range ({low} to {high})")));
    }
}
