//! `cargo xtask test`: every test, in the real kernel, then lints.

use clap::Args;

use crate::cmd::{cargo, require_root, run as run_command};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Skip clippy and rustfmt.
    #[arg(long)]
    no_lint: bool,
    /// Passed to the test binaries (e.g. a test name filter).
    #[arg(last = true)]
    test_args: Vec<String>,
}

pub fn run(args: &TestArgs) -> anyhow::Result<()> {
    crate::setup::ensure()?;
    require_root("cargo xtask test")?;
    let mut phases: Vec<(&str, bool)> = Vec::new();

    // The agent binary first: the traffic tests start it.
    run_command(cargo().args(["build", "--workspace", "--bins"]))?;

    let unit = run_command(
        cargo()
            .args([
                "test",
                "--workspace",
                "--exclude",
                "vantage-tests",
                "--no-fail-fast",
                "--",
            ])
            .args(&args.test_args),
    );
    phases.push(("unit tests", unit.is_ok()));

    // Kernel tests share interfaces, namespaces and pinned maps: one at a time.
    let kernel = run_command(
        cargo()
            .args([
                "test",
                "-p",
                "vantage-tests",
                "--no-fail-fast",
                "--",
                "--test-threads=1",
            ])
            .args(&args.test_args),
    );
    phases.push(("kernel tests", kernel.is_ok()));

    if !args.no_lint {
        let clippy = run_command(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]));
        phases.push(("clippy", clippy.is_ok()));
        let fmt = run_command(cargo().args(["fmt", "--all", "--", "--check"]));
        phases.push(("rustfmt", fmt.is_ok()));
    }

    let failed: Vec<&str> = phases
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| *name)
        .collect();
    for (name, ok) in &phases {
        eprintln!(
            "xtask test: {name:<12} {}",
            if *ok { "passed" } else { "FAILED" }
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("failed: {}", failed.join(", "))
    }
}
