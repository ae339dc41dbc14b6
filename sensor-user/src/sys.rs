//! The few libc calls the agent makes outside the datapath, each wrapped in
//! a safe function. Together with `datapath/`, the only place allowed
//! `unsafe` code.

/// Reads a POSIX clock in nanoseconds (0 if the clock cannot be read).
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0))
}

/// True if a process with this id exists (signal 0 checks without signalling).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// Restores the default action for SIGPIPE (the Rust runtime ignores it), so
/// that a command writing into a closed pipe (`vantage status | head -1`)
/// ends quietly as other command-line tools do, instead of panicking.
pub fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to its default has no
    // preconditions and installs no handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
