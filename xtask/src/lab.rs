//! `cargo xtask lab`: a live site in network namespaces (`vantage-lab`, in the tests crate),
//! optionally under attack (`--attack NAME`).
//!
//! xtask runs the built `vantage-lab` itself (not through `cargo run`), so
//! that a SIGTERM or SIGHUP sent to xtask alone reaches the lab: xtask passes
//! it on, waits while the lab removes what it made, and exits as the lab did.

use std::{
    io::Write as _,
    os::unix::process::ExitStatusExt as _,
    process::Command,
    sync::atomic::{AtomicI32, Ordering},
};

use anyhow::{bail, Context as _};
use clap::{builder::PossibleValuesParser, Args};

use crate::cmd::{cargo, describe, require_root, run as run_command};

#[derive(Debug, Args)]
pub struct LabArgs {
    /// Run the binaries already built, without set-up or build (as the lab tests do).
    #[arg(long)]
    no_build: bool,
    /// Where the sensor sits: good, mirror, outside-firewall,
    /// unmirrored-port, one-way-mirror, duplicate-mirror, no-dns, doh-only
    /// or remote-mirror (default good; `-- --help` describes each).
    #[arg(long, value_name = "NAME")]
    placement: Option<String>,
    /// A client attacks the site once it is up, under a policy that blocks
    /// (block_at 70, 60 s blocks): scan, sweep, lateral, beacon,
    /// dns-tunnel, known-bad or new-device (`-- --help` describes each).
    /// Checked before anything is built.
    #[arg(long, value_name = "NAME", value_parser = PossibleValuesParser::new(ATTACKS))]
    attack: Option<String>,
    /// Passed to vantage-lab (e.g. `-- --seconds 30`).
    #[arg(last = true)]
    args: Vec<String>,
}

/// The attacks `vantage-lab --attack` knows (`vantage_tests::attack::Attack`).
const ATTACKS: [&str; 7] = [
    "scan",
    "sweep",
    "lateral",
    "beacon",
    "dns-tunnel",
    "known-bad",
    "new-device",
];

/// The running lab's pid, while it may be signalled (0 otherwise).
static LAB: AtomicI32 = AtomicI32::new(0);
/// The last stop signal received, to pass on to a lab started after it.
static PENDING: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_to_the_lab(signal: libc::c_int) {
    // SAFETY: errno is thread-local; kill is async-signal-safe, and is sent
    // only to the lab while it is not yet reaped, so its pid is not reused.
    unsafe {
        let errno = *libc::__errno_location();
        PENDING.store(signal, Ordering::SeqCst);
        let lab = LAB.load(Ordering::SeqCst);
        if lab > 0 {
            libc::kill(lab, signal);
        }
        *libc::__errno_location() = errno;
    }
}

/// Passes Ctrl-C, SIGTERM and SIGHUP on to the lab. A handler (unlike
/// SIG_IGN) is reset to the default in children at exec, so the lab still
/// gets the signals sent to the whole process group (Ctrl-C, a closed
/// terminal) itself. A hangup that `nohup` asked to ignore stays ignored.
fn forward_stop_signals() {
    let handler = forward_to_the_lab as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: reading the current disposition has no preconditions; the
        // handler is async-signal-safe.
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut current);
            if signal == libc::SIGHUP && current.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            libc::signal(signal, handler);
        }
    }
}

/// Waits until `pid` has exited, leaving it to be reaped.
fn wait_without_reaping(pid: libc::pid_t) -> anyhow::Result<()> {
    loop {
        // SAFETY: waitid writes only into `info`.
        let rc = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error).context("waiting for vantage-lab");
        }
    }
}

pub fn run(args: &LabArgs) -> anyhow::Result<()> {
    if !args.no_build {
        crate::setup::ensure()?;
    }
    require_root("cargo xtask lab")?;
    if !args.no_build {
        run_command(cargo().args(["build", "--workspace", "--exclude", "sensor-ebpf", "--bins"]))?;
    }
    // Built into the same directory as xtask itself (`cargo xtask` is a `cargo run`).
    let lab = std::env::current_exe()
        .context("finding xtask's own path")?
        .with_file_name("vantage-lab");
    if !lab.is_file() {
        bail!(
            "{} is missing: build it (`cargo build -p vantage-tests --bins`)",
            lab.display()
        );
    }
    forward_stop_signals();
    let mut command = Command::new(&lab);
    if let Some(placement) = &args.placement {
        command.args(["--placement", placement]);
    }
    if let Some(attack) = &args.attack {
        command.args(["--attack", attack]);
    }
    command.args(&args.args);
    // The terminal may be gone by now: a failed echo must not stop anything.
    let _ = writeln!(std::io::stderr(), "+ {}", describe(&command));
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", lab.display()))?;
    let pid = libc::pid_t::try_from(child.id()).context("vantage-lab's pid")?;
    LAB.store(pid, Ordering::SeqCst);
    let pending = PENDING.load(Ordering::SeqCst);
    if pending != 0 {
        // SAFETY: signalling our own child, not yet reaped.
        unsafe { libc::kill(pid, pending) };
    }
    let waited = wait_without_reaping(pid);
    LAB.store(0, Ordering::SeqCst);
    waited?;
    let status = child.wait().context("waiting for vantage-lab")?;
    if status.success() {
        return Ok(());
    }
    let _ = writeln!(std::io::stderr(), "xtask: vantage-lab failed ({status})");
    // Exit as the lab did: its code, or 128 + the signal that ended it.
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    std::process::exit(code)
}
