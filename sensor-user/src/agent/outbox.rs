//! Picking up alerts raised by hand (`vantage alert`): each waiting request
//! is signed and committed, then its file removed; files that are not
//! requests are moved aside.

use std::path::PathBuf;

use vantage_protocol::Message;

use super::{faults::FaultKind, Agent};
use crate::{time::unix_secs, uplink::outbox};

impl Agent {
    /// Commits every waiting request in one spool commit, then removes
    /// their files (off the runtime thread: removal syncs the directory).
    pub(super) async fn drain_outbox(&mut self) {
        if self.uplink.is_none() {
            return;
        }
        let dir = uplink_dir(self);
        let now = self.clock.now();
        let mut alerts = Vec::new();
        let mut taken: Vec<PathBuf> = Vec::new();
        let mut rejected: Vec<PathBuf> = Vec::new();
        for (path, request) in outbox::waiting(&dir) {
            match request {
                Ok(request) => {
                    alerts.push(Message::Alert(request.to_alert(unix_secs(now))));
                    taken.push(path);
                }
                Err(error) => {
                    log::warn!("{}: {error}; moved aside", path.display());
                    rejected.push(path);
                }
            }
        }
        if alerts.is_empty() && rejected.is_empty() {
            return;
        }
        if !alerts.is_empty() && !self.commit(alerts).await {
            // Left in place: tried again on the next round.
            return;
        }
        let cleared = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for path in &rejected {
                outbox::reject(path)?;
            }
            for path in &taken {
                outbox::remove(path)?;
            }
            Ok(())
        })
        .await
        .map_err(|join| join.to_string())
        .and_then(|result| result.map_err(|e| e.to_string()));
        self.faults.check(FaultKind::Outbox, cleared, now);
    }
}

fn uplink_dir(agent: &Agent) -> PathBuf {
    agent
        .options
        .uplink
        .as_ref()
        .map(|settings| settings.spool_dir.clone())
        .unwrap_or_default()
}
