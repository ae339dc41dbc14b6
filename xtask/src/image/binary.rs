//! The `vantage` binary that goes into the image: the static (musl)
//! release build for the architecture.

use std::path::PathBuf;

use crate::arch::{build_static, Arch, Profile};

/// Builds `vantage` for `arch` and returns its path.
pub fn build(arch: Arch) -> anyhow::Result<PathBuf> {
    crate::cmd::ensure_packages(&arch.build_packages())?;
    Ok(build_static(arch, Profile::Release, &[], &[])?.vantage)
}
