//! `cargo xtask test`: every test, in the real kernel, then lints.

use std::process::Command;

use clap::Args;

use crate::cmd::{cargo, require_root, run as run_command, workspace_root};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Skip clippy and rustfmt.
    #[arg(long)]
    no_lint: bool,
    /// Passed to the test binaries (e.g. a test name filter).
    #[arg(last = true)]
    test_args: Vec<String>,
}

/// The XDP crate builds only for the BPF target (by `sensor-user/build.rs`).
const HOST_CRATES: [&str; 3] = ["--workspace", "--exclude", "sensor-ebpf"];

pub fn run(args: &TestArgs) -> anyhow::Result<()> {
    crate::setup::ensure()?;
    require_root("cargo xtask test")?;
    let mut phases: Vec<(&str, bool)> = Vec::new();

    // The agent binary first: the traffic tests start it.
    run_command(cargo().arg("build").args(HOST_CRATES).arg("--bins"))?;

    let unit = run_command(
        cargo()
            .arg("test")
            .args(HOST_CRATES)
            .args(["--exclude", "vantage-tests", "--no-fail-fast", "--"])
            .args(&args.test_args),
    );
    phases.push(("unit tests", unit.is_ok()));

    // Kernel tests share interfaces, namespaces and bpffs: one at a time.
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

    // The datapath on a Debian kernel other than this machine's, and the
    // gateway image, in QEMU VMs (README "Kernels, VMs and images").
    let vm = crate::vm::ci_kernel_tests();
    if let Err(error) = &vm {
        eprintln!("xtask test: vm test: {error:#}");
    }
    phases.push(("vm test", vm.is_ok()));
    let image = crate::vm::ci_image_boot();
    if let Err(error) = &image {
        eprintln!("xtask test: image boot: {error:#}");
    }
    phases.push(("image boot", image.is_ok()));

    // A short round of fuzzing of every decoder that reads network input.
    let fuzz = crate::fuzz::run(crate::fuzz::SHORT_RUN_SECS);
    if let Err(error) = &fuzz {
        eprintln!("xtask test: fuzzing: {error:#}");
    }
    phases.push(("fuzzing", fuzz.is_ok()));

    if !args.no_lint {
        let clippy = run_command(cargo().arg("clippy").args(HOST_CRATES).args([
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]));
        phases.push(("clippy", clippy.is_ok()));
        phases.push(("clippy (XDP)", run_command(&mut clippy_ebpf()).is_ok()));
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
            "xtask test: {name:<13} {}",
            if *ok { "passed" } else { "FAILED" }
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("failed: {}", failed.join(", "))
    }
}

/// Clippy on the XDP crate, for its own target, with nightly.
fn clippy_ebpf() -> Command {
    let root = workspace_root();
    let mut command = Command::new("rustup");
    command
        .args([
            "run",
            "nightly",
            "cargo",
            "clippy",
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
        ])
        .arg("--target-dir")
        .arg(root.join("target").join("clippy-ebpf"))
        .args(["--", "-D", "warnings"])
        .current_dir(root.join("sensor-ebpf"));
    // `cargo xtask` runs under the stable toolchain's environment; do not let it leak in.
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
    command
}
