//! `/init` of the test VMs that `cargo xtask vm test` boots: mounts the
//! kernel file systems, loads the kernel modules the tests need, runs each
//! test executable listed in `/vm/plan`, prints one line per run and a last
//! `vantage-vm: result: PASS|FAIL` line, and powers the VM off.
//!
//! `/vm/plan` holds one step a line: `module PATH` (a `.ko` to load with
//! `finit_module`) or `run NAME PROGRAM [ARGS...]`. Lines starting with `#`
//! are comments. Every step runs even after a failure.

use std::{
    ffi::CString,
    fs::File,
    io::Write as _,
    os::fd::AsRawFd as _,
    process::{Command, ExitCode},
    time::Instant,
};

/// The plan file inside the initramfs.
const PLAN: &str = "/vm/plan";
/// Prefix of every line this init prints (the xtask reads them).
const TAG: &str = "vantage-vm:";

/// Mounts one file system, creating the mount point.
fn mount(source: &str, target: &str, fstype: &str) -> Result<(), String> {
    std::fs::create_dir_all(target).map_err(|e| format!("mkdir {target}: {e}"))?;
    let c = |s: &str| CString::new(s).map_err(|e| format!("{s}: {e}"));
    let (source_c, target_c, fstype_c) = (c(source)?, c(target)?, c(fstype)?);
    // SAFETY: every pointer is a valid NUL-terminated string for the call.
    let rc = unsafe {
        libc::mount(
            source_c.as_ptr(),
            target_c.as_ptr(),
            fstype_c.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(format!(
            "mount {fstype} on {target}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Loads a kernel module from `path` (already present is fine).
fn load_module(path: &str) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("opening {path}: {e}"))?;
    let params = c"";
    // SAFETY: a valid descriptor and an empty NUL-terminated parameter string.
    let rc = unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), params.as_ptr(), 0) };
    if rc != 0 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EEXIST) {
            return Err(format!("loading module {path}: {error}"));
        }
    }
    Ok(())
}

/// Seconds since the kernel started (`/proc/uptime`).
fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Prints a tagged line and flushes it to the console at once.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{TAG} {line}");
    let _ = out.flush();
}

/// Sets up the root file system and the environment the tests expect.
fn prepare() -> Result<(), String> {
    mount("proc", "/proc", "proc")?;
    mount("sysfs", "/sys", "sysfs")?;
    mount("devtmpfs", "/dev", "devtmpfs")?;
    mount("bpf", "/sys/fs/bpf", "bpf")?;
    mount("debugfs", "/sys/kernel/debug", "debugfs")?;
    mount("tmpfs", "/tmp", "tmpfs")?;
    mount("tmpfs", "/run", "tmpfs")?;
    std::fs::create_dir_all("/var/run").map_err(|e| format!("mkdir /var/run: {e}"))?;
    // The loopback interface: some tests talk to themselves.
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .map_err(|e| format!("running ip: {e}"))?;
    if !up.success() {
        return Err(format!("ip link set lo up: {up}"));
    }
    Ok(())
}

/// Runs the plan and returns (runs passed, runs in all, failures).
fn run_plan(plan: &str) -> (usize, usize, Vec<String>) {
    let (mut passed, mut total) = (0, 0);
    let mut failures = Vec::new();
    for line in plan.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match words.next() {
            None => {}
            Some(word) if word.starts_with('#') => {}
            Some("module") => {
                let path = words.next().unwrap_or_default();
                if let Err(error) = load_module(path) {
                    failures.push(error.clone());
                    say(&format!("module {path}: FAIL: {error}"));
                }
            }
            Some("run") => {
                total += 1;
                let name = words.next().unwrap_or_default().to_owned();
                let Some(program) = words.next() else {
                    failures.push(format!("run {name}: no program"));
                    continue;
                };
                say(&format!("run {name}: start"));
                let started = Instant::now();
                let status = Command::new(program).args(words).status();
                let secs = started.elapsed().as_secs_f64();
                match status {
                    Ok(status) if status.success() => {
                        passed += 1;
                        say(&format!("run {name}: pass in {secs:.1} s"));
                    }
                    Ok(status) => {
                        failures.push(format!("{name}: {status}"));
                        say(&format!("run {name}: FAIL ({status}) in {secs:.1} s"));
                    }
                    Err(error) => {
                        failures.push(format!("{name}: {error}"));
                        say(&format!(
                            "run {name}: FAIL (cannot start {program}: {error})"
                        ));
                    }
                }
            }
            Some(other) => failures.push(format!("unknown plan step {other:?}")),
        }
    }
    (passed, total, failures)
}

/// Flushes the file systems and powers off (the VM exits).
fn power_off() -> ExitCode {
    // SAFETY: sync and reboot have no memory preconditions; as PID 1 a
    // power-off ends the VM.
    unsafe {
        libc::sync();
        libc::reboot(libc::LINUX_REBOOT_CMD_POWER_OFF);
    }
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    // The kernel starts init with an almost empty environment.
    std::env::set_var("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    std::env::set_var("VANTAGE_BIN", "/usr/bin/vantage");
    std::env::set_var("RUST_BACKTRACE", "1");
    // Emulated (TCG) guests are slow: tests wait longer (never measure it).
    std::env::set_var("VANTAGE_TEST_TIME_SCALE", "10");
    if let Err(error) = prepare() {
        say(&format!("result: FAIL (setting up: {error})"));
        return power_off();
    }
    let booted = uptime();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    say(&format!(
        "kernel {} ({}), init started {booted:.2} s after boot",
        release.trim(),
        std::env::consts::ARCH
    ));
    let plan = match std::fs::read_to_string(PLAN) {
        Ok(plan) => plan,
        Err(error) => {
            say(&format!("result: FAIL (reading {PLAN}: {error})"));
            return power_off();
        }
    };
    let (passed, total, failures) = run_plan(&plan);
    if failures.is_empty() && total > 0 {
        say(&format!("result: PASS ({passed} of {total} runs passed)"));
    } else {
        say(&format!(
            "result: FAIL ({passed} of {total} runs passed; {})",
            failures.join("; ")
        ));
    }
    power_off()
}
