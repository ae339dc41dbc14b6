//! Booting a kernel and an initramfs under QEMU and following its serial
//! console: every line is echoed and kept, the lines the VM's init prints
//! are timed, and a VM that does not finish in time is killed.

use std::{
    io::{BufRead as _, BufReader},
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};

use crate::arch::Arch;

/// How the guest is accelerated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Accel {
    /// QEMU's translator: works everywhere, about 10-50 times slower.
    Tcg,
    /// The host's KVM: only where it really works (not nested on these
    /// machines: the guest hangs) and only for the host's architecture.
    Kvm,
}

/// What a VM run printed and how long its parts took.
#[derive(Debug)]
pub struct Console {
    /// Every console line.
    pub lines: Vec<String>,
    /// QEMU start to the first line of the VM's init.
    pub boot: Option<Duration>,
    /// QEMU start to the end (power-off, or the kill at the deadline).
    pub total: Duration,
    /// True when the deadline killed the VM.
    pub timed_out: bool,
}

/// Boots `kernel` with `initrd` and follows the console until the VM powers
/// off or `deadline` passes. `init_marker` is the prefix of init's first line.
pub fn boot(
    arch: Arch,
    accel: Accel,
    kernel: &Path,
    initrd: &Path,
    memory_mib: u32,
    deadline: Duration,
    init_marker: &str,
) -> anyhow::Result<Console> {
    let mut command = Command::new(arch.qemu());
    command
        .args([
            "-accel",
            match accel {
                Accel::Tcg => "tcg",
                Accel::Kvm => "kvm",
            },
        ])
        .args(arch.qemu_machine())
        .args(["-smp", "2", "-m", &memory_mib.to_string()])
        .args(["-nographic", "-no-reboot", "-nic", "none"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args([
            "-append",
            &format!("console={} panic=-1 quiet rdinit=/init", arch.console()),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    eprintln!("+ {}", crate::cmd::describe(&command));
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", arch.qemu()))?;
    let (sender, receiver) = mpsc::channel::<String>();
    let stdout = child.stdout.take().context("QEMU's console")?;
    let stderr = child.stderr.take().context("QEMU's stderr")?;
    let err_sender = sender.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches('\r')
                .to_owned();
            if sender.send(text).is_err() {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if err_sender.send(format!("qemu: {line}")).is_err() {
                break;
            }
        }
    });
    let mut console = Console {
        lines: Vec::new(),
        boot: None,
        total: Duration::ZERO,
        timed_out: false,
    };
    loop {
        let left = deadline.saturating_sub(started.elapsed());
        match receiver.recv_timeout(left) {
            Ok(line) => {
                eprintln!("  | {line}");
                if console.boot.is_none() && line.contains(init_marker) {
                    console.boot = Some(started.elapsed());
                }
                console.lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                console.timed_out = true;
                let _ = child.kill();
                break;
            }
        }
    }
    let status = child.wait().context("waiting for QEMU")?;
    console.total = started.elapsed();
    if !console.timed_out && !status.success() {
        bail!("{} exited with {status}", arch.qemu());
    }
    Ok(console)
}
