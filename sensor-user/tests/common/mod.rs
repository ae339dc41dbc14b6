//! Helpers shared by the spool tests: a private temporary directory and
//! alerts to spool.

use std::path::PathBuf;

use vantage_protocol::{message::bounded, Addr, Alert, AlertKind, Message, Severity};

/// A directory under the system's temporary directory, unique to this
/// process and `tag`, emptied at creation and removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("vantage-spool-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test alert from 10.0.0.1 with `detail`.
pub fn alert(severity: Severity, detail: &str) -> Message {
    Message::Alert(Alert {
        at: 1,
        severity,
        kind: AlertKind::Test,
        host: Addr::V4([10, 0, 0, 1]),
        peer: None,
        port: 0,
        count: 1,
        detail: bounded(detail),
    })
}
