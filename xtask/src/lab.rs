//! `cargo xtask lab`: a live site in network namespaces (`vantage-lab`, in the tests crate).

use clap::Args;

use crate::cmd::{cargo, require_root, run as run_command};

#[derive(Debug, Args)]
pub struct LabArgs {
    /// Passed to vantage-lab (see `cargo xtask lab -- --help`).
    #[arg(last = true)]
    args: Vec<String>,
}

pub fn run(args: &LabArgs) -> anyhow::Result<()> {
    crate::setup::ensure()?;
    require_root("cargo xtask lab")?;
    run_command(cargo().args(["build", "--workspace", "--exclude", "sensor-ebpf", "--bins"]))?;
    run_command(
        cargo()
            .args(["run", "-p", "vantage-tests", "--bin", "vantage-lab", "--"])
            .args(&args.args),
    )
}
