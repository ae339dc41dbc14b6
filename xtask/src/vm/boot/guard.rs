//! What makes `vm boot` clean up on every exit: child processes killed on
//! drop, and SIGINT, SIGTERM and SIGHUP turned into a flag that the waiting
//! loops check, so that the run unwinds and every guard's drop runs.

use std::{
    path::PathBuf,
    process::Child,
    sync::atomic::{AtomicBool, Ordering},
};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Catches SIGINT, SIGTERM and SIGHUP from now on.
pub fn catch_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe {
            libc::signal(
                signal,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

/// Fails once a stop signal arrived.
pub fn check_stop() -> anyhow::Result<()> {
    if STOP.load(Ordering::SeqCst) {
        anyhow::bail!("stopped by a signal");
    }
    Ok(())
}

/// A child process, killed (and reaped) when dropped.
pub struct Process {
    pub name: String,
    pub child: Child,
}

impl Process {
    pub fn new(name: &str, child: Child) -> Process {
        Process {
            name: name.to_owned(),
            child,
        }
    }

    /// Whether it has exited, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            eprintln!("stopped {} (pid {})", self.name, self.child.id());
        }
    }
}

/// A file or directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = if self.0.is_dir() {
            std::fs::remove_dir_all(&self.0)
        } else {
            std::fs::remove_file(&self.0)
        };
    }
}
