//! The sensor's own record of its uplink, one JSON object per line in
//! `SPOOL_DIR/uplink.log`: every envelope committed, sent, acknowledged,
//! evicted or refused, every connection, and every torn spool tail. This is
//! what the customer can hold against the MSSP's records; `vantage log` prints
//! it. Rotated to `uplink.log.1` at 8 MiB.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, BufRead as _, BufReader, Write as _},
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::{Deserialize, Serialize};

use crate::time::{unix_seconds, Clock};

pub const LOG_FILE: &str = "uplink.log";
const ROTATE_AT: u64 = 8 * 1024 * 1024;

/// One line of the log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Unix seconds.
    pub at: f64,
    /// committed, sent, acked, duplicate, rejected (the collector refused
    /// it for now: not enrolled, unknown key, cannot store; sent again
    /// later), dropped (refused for good: a conflict or a malformed envelope;
    /// removed from the spool), evicted, refused (no room in the spool),
    /// connected, disconnected, torn, epoch.
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// alert, heartbeat or enrolment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Severity of an alert, or the eviction rank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Chain hash of the envelope (32 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl LogEntry {
    /// An entry for `event`; [`SendLog::write`] stamps it with the time.
    pub fn event(event: &str) -> LogEntry {
        LogEntry {
            event: event.to_owned(),
            ..LogEntry::default()
        }
    }
}

/// Appends entries; a failure to log is reported once and never stops the uplink.
#[derive(Debug)]
pub struct SendLog {
    clock: Arc<dyn Clock>,
    path: PathBuf,
    file: Option<File>,
    len: u64,
    warned: bool,
}

impl SendLog {
    /// Opens (creates) `dir/uplink.log` for appending; entries are stamped on `clock`.
    pub fn open(dir: &Path, clock: Arc<dyn Clock>) -> SendLog {
        let path = dir.join(LOG_FILE);
        let file = OpenOptions::new().create(true).append(true).open(&path);
        let len = fs::metadata(&path).map_or(0, |m| m.len());
        let (file, warned) = match file {
            Ok(file) => (Some(file), false),
            Err(error) => {
                log::warn!(
                    "cannot open {}: {error}; the uplink log is off",
                    path.display()
                );
                (None, true)
            }
        };
        SendLog {
            clock,
            path,
            file,
            len,
            warned,
        }
    }

    /// Appends `entry`, stamped now unless it carries a time.
    pub fn write(&mut self, entry: &LogEntry) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let stamped;
        let entry = if entry.at == 0.0 {
            stamped = LogEntry {
                at: unix_seconds(self.clock.now()),
                ..entry.clone()
            };
            &stamped
        } else {
            entry
        };
        let mut line = serde_json::to_string(entry).unwrap_or_default();
        line.push('\n');
        match file.write_all(line.as_bytes()) {
            Ok(()) => self.len += line.len() as u64,
            Err(error) if !self.warned => {
                self.warned = true;
                log::warn!("writing {}: {error}", self.path.display());
            }
            Err(_) => {}
        }
        if self.len > ROTATE_AT {
            self.rotate();
        }
    }

    fn rotate(&mut self) {
        let old = self.path.with_extension("log.1");
        if fs::rename(&self.path, &old).is_ok() {
            if let Ok(file) = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
            {
                self.file = Some(file);
                self.len = 0;
            }
        }
    }
}

/// Reads the log (the rotated file first), skipping lines that do not parse.
pub fn read_log(dir: &Path) -> io::Result<Vec<LogEntry>> {
    let mut entries = Vec::new();
    for path in [dir.join(format!("{LOG_FILE}.1")), dir.join(LOG_FILE)] {
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        for line in BufReader::new(file).lines() {
            if let Ok(entry) = serde_json::from_str::<LogEntry>(&line?) {
                entries.push(entry);
            }
        }
    }
    Ok(entries)
}
