//! `cargo xtask fuzz`: the cargo-fuzz targets of the wire protocol decoders
//! (in `fuzz/`, outside the workspace), each for a fixed time, starting from
//! seeds of valid envelopes, messages, acks and a certificate written by the
//! `fuzz_seeds` example of `vantage-protocol`. Needs the nightly toolchain
//! (libFuzzer and AddressSanitizer); installs cargo-fuzz if it is missing.
//! Fails, naming the target and the crash input, on any panic, sanitizer
//! report, timeout or out-of-memory. `cargo xtask test` runs a short round.

use std::process::Command;

use anyhow::{bail, Context as _};
use clap::Args;

use crate::cmd::{cargo, describe, run as run_command, succeeds, workspace_root};

/// Seconds per target in the short round of `cargo xtask test`.
pub const SHORT_RUN_SECS: u64 = 15;

/// Every target in `fuzz/Cargo.toml`, in the order they run.
pub const TARGETS: [&str; 4] = ["envelope", "message", "ack_frame", "certificate_pin"];

/// Seconds one input may take before libFuzzer calls it a hang; the decoders
/// take microseconds.
const INPUT_TIMEOUT_SECS: u64 = 10;

/// Longest input libFuzzer generates; the longest valid envelope is 618 bytes.
const MAX_INPUT_LEN: usize = 1024;

#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// Seconds to fuzz each target.
    #[arg(long, default_value_t = 300)]
    pub seconds: u64,
}

/// Builds every fuzz target, writes the seeds, then fuzzes each target for
/// `seconds_per_target` seconds.
pub fn run(seconds_per_target: u64) -> anyhow::Result<()> {
    if seconds_per_target == 0 {
        // libFuzzer reads -max_total_time=0 as "forever".
        bail!("fuzzing needs at least one second per target");
    }
    ensure_cargo_fuzz()?;
    let root = workspace_root();
    let corpus = root.join("fuzz").join("corpus");
    run_command(
        cargo()
            .args([
                "run",
                "-q",
                "-p",
                "vantage-protocol",
                "--example",
                "fuzz_seeds",
                "--",
            ])
            .arg(&corpus),
    )?;
    // Build all targets up front, with the output shown, so a build error is
    // reported as one and not taken for a crash.
    run_command(nightly_cargo().args(["fuzz", "build", "--fuzz-dir", "fuzz"]))
        .context("building the fuzz targets")?;

    for target in TARGETS {
        let target_corpus = corpus.join(target);
        std::fs::create_dir_all(&target_corpus)
            .with_context(|| format!("creating {}", target_corpus.display()))?;
        let mut command = nightly_cargo();
        command
            .args(["fuzz", "run", "--fuzz-dir", "fuzz", target])
            .arg(&target_corpus)
            .args([
                "--".to_owned(),
                format!("-max_total_time={seconds_per_target}"),
                format!("-max_len={MAX_INPUT_LEN}"),
                format!("-timeout={INPUT_TIMEOUT_SECS}"),
                "-print_final_stats=0".to_owned(),
            ]);
        eprintln!("+ {}", describe(&command));
        eprintln!("xtask fuzz: {target}: fuzzing for {seconds_per_target} s");
        let out = command
            .output()
            .with_context(|| format!("starting {}", describe(&command)))?;
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        if !out.status.success() {
            let artifacts = root.join("fuzz").join("artifacts").join(target);
            let found = crash_input(&log)
                .map(|path| format!("the input is {}", root.join(path).display()))
                .unwrap_or_else(|| format!("crash inputs go to {}", artifacts.display()));
            let panic = panic_message(&log)
                .map(|panic| format!("{panic}\n"))
                .unwrap_or_default();
            bail!(
                "fuzz target {target} failed ({}); {found}; reproduce with \
                 `cargo +nightly fuzz run --fuzz-dir fuzz {target} <input>` in {}.\n\
                 {panic}End of its output:\n{}",
                out.status,
                root.display(),
                tail(&log, 40)
            );
        }
        match runs_done(&log) {
            Some((runs, secs)) => {
                eprintln!("xtask fuzz: {target}: {runs} runs in {secs} s, no crash")
            }
            None => bail!(
                "fuzz target {target}: libFuzzer did not report how many runs it did:\n{}",
                tail(&log, 60)
            ),
        }
    }
    Ok(())
}

/// `rustup run nightly cargo ...` in the workspace root, with the stable
/// toolchain's environment removed (cargo-fuzz would otherwise build with the
/// stable cargo named by `CARGO`).
fn nightly_cargo() -> Command {
    let mut command = Command::new("rustup");
    command.args(["run", "nightly", "cargo"]);
    for var in [
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO",
        "RUSTDOC",
    ] {
        command.env_remove(var);
    }
    command.current_dir(workspace_root());
    command
}

fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    if succeeds(nightly_cargo().args(["fuzz", "--version"])) {
        return Ok(());
    }
    eprintln!("xtask fuzz: installing cargo-fuzz");
    run_command(cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    if !succeeds(nightly_cargo().args(["fuzz", "--version"])) {
        bail!("`cargo +nightly fuzz --version` fails after installing cargo-fuzz; is the nightly toolchain installed (`rustup toolchain install nightly`)?");
    }
    Ok(())
}

/// Runs and seconds from libFuzzer's "Done 12345 runs in 15 second(s)".
fn runs_done(log: &str) -> Option<(u64, u64)> {
    log.lines().rev().find_map(|line| {
        let mut words = line.strip_prefix("Done ")?.split_whitespace();
        let runs = words.next()?.parse().ok()?;
        let secs = words.nth(2)?.parse().ok()?;
        Some((runs, secs))
    })
}

/// The file libFuzzer saved the failing input to: "... Test unit written to PATH".
fn crash_input(log: &str) -> Option<&str> {
    log.lines().find_map(|line| {
        let (_, path) = line.split_once("Test unit written to ")?;
        Some(path.trim())
    })
}

/// A Rust panic's location and message: "thread '..' panicked at FILE:LINE:COL:"
/// and the line after it.
fn panic_message(log: &str) -> Option<String> {
    let mut lines = log
        .lines()
        .skip_while(|line| !line.contains(" panicked at "));
    let at = lines.next()?;
    Some(match lines.next() {
        Some(message) => format!("{at}\n{message}"),
        None => at.to_owned(),
    })
}

/// The last `count` lines of `log`.
fn tail(log: &str, count: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_output() {
        let log = "#1024\tpulse  cov: 10\nDone 123456 runs in 15 second(s)\n";
        assert_eq!(runs_done(log), Some((123_456, 15)));
        assert_eq!(runs_done("INFO: Seed: 1\n"), None);
        let crash = "==1== ERROR: libFuzzer: deadly signal\n\
                     artifact_prefix='/w/fuzz/artifacts/envelope/'; Test unit written to /w/fuzz/artifacts/envelope/crash-ab12\n";
        assert_eq!(
            crash_input(crash),
            Some("/w/fuzz/artifacts/envelope/crash-ab12")
        );
        let panic = "INFO: Seed: 1\nthread '<unnamed>' panicked at fuzz_targets/message.rs:9:5:\n\
                     assertion failed\nnote: run with RUST_BACKTRACE=1\n";
        assert_eq!(
            panic_message(panic).as_deref(),
            Some("thread '<unnamed>' panicked at fuzz_targets/message.rs:9:5:\nassertion failed")
        );
        assert_eq!(panic_message(log), None);
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
    }
}
