//! Alerts raised from outside the agent (`vantage alert`, for example to prove
//! to a customer that the path to the SOC works) wait as files in
//! `SPOOL_DIR/outbox/` until the running agent signs and spools them. The
//! agent is the spool's only writer; a file disappears only after its alert
//! is committed.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write as _},
    net::IpAddr,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::UNIX_EPOCH,
};

use serde::{Deserialize, Serialize};
use vantage_protocol::{message::bounded, Alert, AlertKind, Severity};

use crate::time::Clock;

pub const OUTBOX_DIR: &str = "outbox";

/// An alert waiting to be signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRequest {
    /// When it was raised (Unix seconds); the agent's time of pick-up if absent.
    #[serde(default)]
    pub raised_at: Option<u64>,
    pub severity: Severity,
    pub kind: AlertKind,
    pub host: IpAddr,
    pub peer: Option<IpAddr>,
    pub port: u16,
    pub count: u32,
    pub detail: String,
}

/// A file in the outbox that is not an alert request (it is moved aside).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("not an alert request: {0}")]
    Parse(String),
}

impl AlertRequest {
    /// The alert to sign; `now_unix` (seconds) stands in for a missing raise time.
    pub fn to_alert(&self, now_unix: u64) -> Alert {
        Alert {
            at: self.raised_at.unwrap_or(now_unix),
            severity: self.severity,
            kind: self.kind,
            host: self.host.into(),
            peer: self.peer.map(Into::into),
            port: self.port,
            count: self.count,
            detail: bounded(&self.detail),
        }
    }
}

static SUBMITTED: AtomicU32 = AtomicU32::new(0);

/// Writes a request durably (temporary file, sync, rename, sync directory)
/// and returns its path; the agent deletes it once the alert is committed.
pub fn submit(spool_dir: &Path, request: &AlertRequest, clock: &dyn Clock) -> io::Result<PathBuf> {
    let dir = spool_dir.join(OUTBOX_DIR);
    fs::create_dir_all(&dir)?;
    let nanos = clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!(
        "{nanos:024}-{}-{}",
        std::process::id(),
        SUBMITTED.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(format!("{name}.json"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(&serde_json::to_vec(request).map_err(io::Error::other)?)?;
    file.sync_all()?;
    fs::rename(&tmp, &path)?;
    File::open(&dir)?.sync_all()?;
    Ok(path)
}

/// Waiting requests in submission order, each parsed or with its error.
pub fn waiting(spool_dir: &Path) -> Vec<(PathBuf, Result<AlertRequest, RequestError>)> {
    let dir = spool_dir.join(OUTBOX_DIR);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let parsed = fs::read(&path)
                .map_err(|e| RequestError::Parse(e.to_string()))
                .and_then(|bytes| {
                    serde_json::from_slice::<AlertRequest>(&bytes)
                        .map_err(|e| RequestError::Parse(e.to_string()))
                });
            (path, parsed)
        })
        .collect()
}

/// Removes a consumed request (and syncs the directory).
pub fn remove(path: &Path) -> io::Result<()> {
    fs::remove_file(path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Moves an unusable request aside so it is not retried forever.
pub fn reject(path: &Path) -> io::Result<()> {
    fs::rename(path, path.with_extension("rejected"))
}
