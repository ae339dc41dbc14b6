//! `vantage-fleet export`: stored alerts and detections to a SIEM, as JSON
//! lines, OCSF or RFC 5424 syslog, to stdout or over UDP/TCP, once or
//! following new ones. A detection updated by a later revision is exported
//! again (its row id moves to the new revision's).

use std::{io::Write as _, path::Path};

use anyhow::Context as _;
use vantage_fleet::{
    listing,
    record::AlertFilter,
    siem::{
        self,
        transport::{Destination, Sender},
        ExportFormat,
    },
    store::{Queries as _, SqliteStore},
};

/// Exports alerts and detections of `db` stored after row `after_id` in `format` to `to`
/// (stdout when `None`); with `follow`, keeps polling every second.
pub fn run(
    db: &Path,
    format: &str,
    to: Option<&str>,
    after_id: i64,
    min_severity: Option<&str>,
    follow: bool,
) -> anyhow::Result<()> {
    let format: ExportFormat = format
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--format: {e}"))?;
    let mut sender = match to {
        Some(to) => {
            let destination: Destination = to
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--to: {e}"))?;
            Some(Sender::connect(destination).with_context(|| format!("connecting to {to}"))?)
        }
        None => None,
    };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "-".to_owned());
    let store = SqliteStore::open(db)?;
    let mut filter = AlertFilter {
        after_id,
        min_severity: super::parse_severity(min_severity)?,
        ..AlertFilter::default()
    };
    let stdout = std::io::stdout();
    loop {
        let listed = listing::merge(store.alerts(&filter)?, store.detections(&filter)?, None);
        for entry in listed {
            let line = siem::render_listed(format, &entry, &host);
            match sender.as_mut() {
                Some(sender) => sender.send(&line).context("sending")?,
                None => writeln!(stdout.lock(), "{line}")?,
            }
            filter.after_id = entry.id();
        }
        if !follow {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
