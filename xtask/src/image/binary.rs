//! The `vantage` binary that goes into the image: the static (musl) build
//! for the architecture, or, while that does not build, the glibc build
//! (the image's Debian has a newer glibc than the build machine).

use std::{path::PathBuf, process::Command};

use anyhow::Context as _;

use crate::{
    arch::Arch,
    cmd::{cargo, run, workspace_root},
};

/// Builds `vantage` for `arch` and returns its path.
pub fn build(arch: Arch) -> anyhow::Result<PathBuf> {
    crate::image::host::ensure_packages(&arch.build_packages())?;
    match crate::arch::build_static(arch, &[], &[]) {
        Ok(built) => return Ok(built.vantage),
        Err(error) => eprintln!(
            "warning: the static build of vantage for {arch} failed ({error:#}); \
             building it against glibc instead"
        ),
    }
    let triple = match arch {
        Arch::X86_64 => "x86_64-unknown-linux-gnu",
        Arch::Aarch64 => "aarch64-unknown-linux-gnu",
    };
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "-p",
        "sensor-user",
        "--bin",
        "vantage",
    ]);
    if arch == Arch::host() {
        run(&mut build)?;
        return Ok(workspace_root().join("target/release/vantage"));
    }
    run(Command::new("rustup").args(["target", "add", triple]))?;
    let gcc = match arch {
        Arch::X86_64 => "x86_64-linux-gnu-gcc",
        Arch::Aarch64 => "aarch64-linux-gnu-gcc",
    };
    let upper = triple.to_uppercase().replace('-', "_");
    let lower = triple.replace('-', "_");
    build
        .args(["--target", triple])
        .env(format!("CARGO_TARGET_{upper}_LINKER"), gcc)
        .env(format!("CC_{lower}"), gcc)
        .env(format!("AR_{lower}"), gcc.replace("-gcc", "-ar"));
    run(&mut build).context("building vantage against glibc")?;
    Ok(workspace_root().join(format!("target/{triple}/release/vantage")))
}
