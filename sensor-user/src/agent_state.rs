//! The agent's state file (`<state_dir>/agent.json`): what only the running
//! agent knows (its interfaces, the events it drained), written atomically
//! each status interval and read by `vantage status`. The agent listens on
//! no socket; this file is how it is observed.

use std::{
    io::Write as _,
    os::unix::fs::DirBuilderExt as _,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};

use crate::clock::unix_seconds;

/// File name inside the state directory.
pub const STATE_FILE: &str = "agent.json";

/// One attached interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceState {
    pub name: String,
    /// `driver`, `generic` or `replaced` (taken over from an earlier agent).
    pub mode: String,
}

/// Events drained from the kernel, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTotals {
    pub tcp_syn: u64,
    pub udp_new_peer: u64,
    pub dns_query: u64,
    /// Records the agent could not decode (wrong size or unknown kind).
    pub undecodable: u64,
}

/// One recent event, for people.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecentEvent {
    /// Unix seconds.
    pub at: f64,
    pub kind: String,
    pub src: String,
    pub dst: String,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    /// The DNS query name, for `dns_query` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qname: Option<String>,
    pub dropped: bool,
}

/// What the agent reports about itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    /// False when no agent is running (or its state file is stale).
    pub running: bool,
    pub pid: u32,
    /// Unix seconds.
    pub started_at: f64,
    pub updated_at: f64,
    pub interfaces: Vec<InterfaceState>,
    pub events: EventTotals,
    /// Newest last.
    pub recent_events: Vec<RecentEvent>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("writing agent state {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("encoding agent state: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Writes `state` to `dir/agent.json` atomically (temporary file + rename).
pub fn write_state(dir: &Path, state: &AgentState) -> Result<(), StateFileError> {
    let path = dir.join(STATE_FILE);
    let tmp = dir.join(format!(".{STATE_FILE}.tmp"));
    let body = serde_json::to_vec_pretty(state)?;
    let write = || -> std::io::Result<()> {
        // Recent events name hosts and DNS names: only root reads them.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&body)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|source| StateFileError::Write { path, source })
}

/// Removes the state file (on a clean exit).
pub fn remove_state(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(STATE_FILE));
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// Reads the agent's state; `running` is false if there is no file, its
/// process is gone, or it has not been refreshed within `stale_after`.
pub fn read_state(dir: &Path, stale_after: Duration) -> AgentState {
    let Ok(body) = std::fs::read(dir.join(STATE_FILE)) else {
        return AgentState::default();
    };
    let Ok(mut state) = serde_json::from_slice::<AgentState>(&body) else {
        return AgentState::default();
    };
    let now = unix_seconds(SystemTime::now());
    let fresh = now - state.updated_at <= stale_after.as_secs_f64();
    state.running = state.running && fresh && process_alive(state.pid);
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_goes_stale() {
        let dir = std::env::temp_dir().join(format!("vantage-state-test-{}", std::process::id()));
        let now = unix_seconds(SystemTime::now());
        let state = AgentState {
            running: true,
            pid: std::process::id(),
            started_at: now,
            updated_at: now,
            interfaces: vec![InterfaceState {
                name: "eth0".into(),
                mode: "driver".into(),
            }],
            ..AgentState::default()
        };
        write_state(&dir, &state).unwrap_or_else(|e| panic!("{e}"));
        let read = read_state(&dir, Duration::from_secs(5));
        assert!(read.running);
        assert_eq!(read.interfaces, state.interfaces);

        let old = AgentState {
            updated_at: now - 60.0,
            ..state
        };
        write_state(&dir, &old).unwrap_or_else(|e| panic!("{e}"));
        assert!(!read_state(&dir, Duration::from_secs(5)).running);
        remove_state(&dir);
        assert!(!read_state(&dir, Duration::from_secs(5)).running);
        let _ = std::fs::remove_dir(&dir);
    }
}
