//! `cargo xtask bench`: the XDP benchmark (`vantage-bench`, in the tests crate).

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
    )
}
