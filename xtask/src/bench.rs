//! `cargo xtask bench`: the XDP benchmark (`vantage-bench`) and the uplink
//! benchmark (`vantage-uplink-bench`), both in the tests crate.

use clap::Args;

use crate::cmd::{cargo, require_root, run as run_command};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Passed to vantage-bench (see `cargo xtask bench -- --help`).
    #[arg(last = true)]
    args: Vec<String>,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    crate::setup::ensure()?;
    require_root("cargo xtask bench")?;
    // The uplink benchmark starts the release `vantage-fleet`.
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "vantage-fleet",
        "-p",
        "sensor-user",
        "--bins",
    ]))?;
    run_command(
        cargo()
            .args([
                "run",
                "--release",
                "-p",
                "vantage-tests",
                "--bin",
                "vantage-bench",
                "--",
            ])
            .args(&args.args),
    )?;
    let quick: Vec<&String> = args.args.iter().filter(|a| *a == "--quick").collect();
    run_command(
        cargo()
            .args([
                "run",
                "--release",
                "-p",
                "vantage-tests",
                "--bin",
                "vantage-uplink-bench",
                "--",
            ])
            .args(quick),
    )
}
