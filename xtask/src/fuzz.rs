//! `cargo xtask fuzz`: the cargo-fuzz targets of the wire protocol (in
//! `fuzz/`), each for a fixed time, from seeds of valid envelopes, messages
//! and acks. Fails, naming the target and the crash file, on any panic.
//! `cargo xtask test` runs a short round of it.

use std::process::Command;

use anyhow::{bail, Context as _};
use clap::Args;

use crate::cmd::{cargo, describe, succeeds, workspace_root};

/// Seconds per target in the short round of `cargo xtask test`.
pub const SHORT_RUN_SECS: u64 = 15;

/// Every target in `fuzz/Cargo.toml`.
pub const TARGETS: [&str; 4] = ["envelope", "message", "ack_frame", "certificate_pin"];

#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// Seconds to fuzz each target.
    #[arg(long, default_value_t = 300)]
    seconds: u64,
}

pub fn run(args: &FuzzArgs) -> anyhow::Result<()> {
    fuzz_all(args.seconds)
}

/// `rustup run nightly cargo ...` with the stable toolchain's environment removed.
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
    crate::cmd::run(cargo().args(["install", "cargo-fuzz", "--locked"]))
}

/// "Done 12345 runs in 15 second(s)" from libFuzzer's output.
fn runs_done(output: &str) -> Option<u64> {
    output.lines().rev().find_map(|line| {
        line.strip_prefix("Done ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

pub fn fuzz_all(seconds: u64) -> anyhow::Result<()> {
    ensure_cargo_fuzz()?;
    let root = workspace_root();
    let corpus = root.join("fuzz").join("corpus");
    crate::cmd::run(
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
    for target in TARGETS {
        let target_corpus = corpus.join(target);
        std::fs::create_dir_all(&target_corpus)
            .with_context(|| format!("creating {}", target_corpus.display()))?;
        let mut command = nightly_cargo();
        command
            .args(["fuzz", "run", target])
            .arg(&target_corpus)
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-max_len=1024",
                "-print_final_stats=0",
            ]);
        eprintln!("+ {}", describe(&command));
        let out = command
            .output()
            .with_context(|| format!("starting {}", describe(&command)))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "fuzz target {target} failed ({}); crash inputs are in {}:\n{}",
                out.status,
                root.join("fuzz").join("artifacts").join(target).display(),
                tail.join("\n")
            );
        }
        match runs_done(&stderr) {
            Some(runs) => eprintln!("xtask fuzz: {target}: {runs} runs in {seconds} s, no crash"),
            None => bail!("fuzz target {target}: libFuzzer did not report its runs:\n{stderr}"),
        }
    }
    Ok(())
}
