//! The agent's state file (`<state_dir>/agent.json`), written atomically each
//! tick and read by `vantage status`. The agent listens on no socket; this
//! file is how it is observed.

use std::{
    io::Write as _,
    os::unix::fs::DirBuilderExt as _,
    path::{Path, PathBuf},
    time::Duration,
};

use crate::{
    report::agent_state::AgentState,
    time::{unix_seconds, Clock},
};

/// File name inside the state directory.
pub const STATE_FILE: &str = "agent.json";

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
    let result = write();
    if result.is_err() {
        // Do not leave a partial temporary file holding the space.
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|source| StateFileError::Write { path, source })
}

/// File in the state directory whose lock marks the running agent.
pub const LOCK_FILE: &str = "agent.lock";

/// Why the instance lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it.
    Held(PathBuf),
    /// The lock file could not be opened or locked.
    Io(PathBuf, std::io::Error),
}

/// Takes the lock that lets one agent run per state directory; held until
/// the returned file is dropped (or the process ends, however it ends).
pub fn lock_instance(dir: &Path) -> Result<std::fs::File, LockError> {
    let path = dir.join(LOCK_FILE);
    let open = || -> std::io::Result<std::fs::File> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
    };
    let file = open().map_err(|e| LockError::Io(path.clone(), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Held(path)),
        Err(std::fs::TryLockError::Error(e)) => Err(LockError::Io(path, e)),
    }
}

/// True if an agent holds the lock of state directory `dir` now. Creates
/// nothing: no lock file means no agent.
pub fn agent_running(dir: &Path) -> bool {
    let Ok(file) = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(LOCK_FILE))
    else {
        return false;
    };
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// Removes the state file (on a clean exit).
pub fn remove_state(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(STATE_FILE));
}

/// Reads the agent's state. `running` is false if there is no file or its
/// process is gone; if the process lives but the file has not been refreshed
/// within `stale_after`, `running` is true and `stale` set: the agent is
/// alive but cannot write its state (its faults say why once it can again).
pub fn read_state(dir: &Path, stale_after: Duration, clock: &dyn Clock) -> AgentState {
    let Ok(body) = std::fs::read(dir.join(STATE_FILE)) else {
        return AgentState::default();
    };
    let Ok(mut state) = serde_json::from_slice::<AgentState>(&body) else {
        return AgentState::default();
    };
    let now = unix_seconds(clock.now());
    let fresh = now - state.updated_at <= stale_after.as_secs_f64();
    state.running = state.running && crate::sys::process_alive(state.pid);
    state.stale = state.running && !fresh;
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{report::agent_state::InterfaceState, time::SystemClock};

    #[test]
    fn state_round_trips_and_goes_stale() {
        let dir = std::env::temp_dir().join(format!("vantage-state-test-{}", std::process::id()));
        let clock = SystemClock;
        let now = unix_seconds(clock.now());
        let state = AgentState {
            running: true,
            pid: std::process::id(),
            started_at: now,
            updated_at: now,
            interfaces: vec![InterfaceState {
                name: "eth0".into(),
                mode: "driver".into(),
                ..InterfaceState::default()
            }],
            ..AgentState::default()
        };
        write_state(&dir, &state).unwrap_or_else(|e| panic!("{e}"));
        let read = read_state(&dir, Duration::from_secs(5), &clock);
        assert!(read.running && !read.stale);
        assert_eq!(read.interfaces, state.interfaces);

        let old = AgentState {
            updated_at: now - 60.0,
            ..state.clone()
        };
        write_state(&dir, &old).unwrap_or_else(|e| panic!("{e}"));
        let read = read_state(&dir, Duration::from_secs(5), &clock);
        assert!(read.running && read.stale, "{read:?}");

        let gone = AgentState {
            pid: u32::MAX - 1,
            ..state
        };
        write_state(&dir, &gone).unwrap_or_else(|e| panic!("{e}"));
        assert!(!read_state(&dir, Duration::from_secs(5), &clock).running);
        remove_state(&dir);
        assert!(!read_state(&dir, Duration::from_secs(5), &clock).running);
        let _ = std::fs::remove_dir(&dir);
    }
}
