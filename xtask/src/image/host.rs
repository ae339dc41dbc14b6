//! The host's side of image building and booting: the Debian packages the
//! tools come from (installed when missing) and binfmt for foreign-arch
//! root file systems.

use std::{path::Path, process::Command};

use anyhow::{bail, Context as _};

use crate::{
    arch::Arch,
    cmd::{run, succeeds},
};

/// Packages `cargo xtask image --arch ARCH` runs tools from.
pub fn image_packages(arch: Arch) -> Vec<&'static str> {
    let mut list = vec![
        "mmdebstrap",
        "debian-archive-keyring",
        "e2fsprogs",
        "dosfstools",
        "mtools",
        "fdisk",
    ];
    if arch != Arch::host() {
        list.extend(["qemu-user-static", "binfmt-support", "arch-test"]);
    }
    list
}

/// Packages `cargo xtask vm boot --arch ARCH` runs tools from.
pub fn boot_packages(arch: Arch) -> Vec<&'static str> {
    let mut list = vec!["iproute2", "qemu-utils", "e2fsprogs", "fdisk"];
    match arch {
        Arch::X86_64 => list.extend(["qemu-system-x86", "ovmf"]),
        Arch::Aarch64 => list.extend(["qemu-system-arm", "qemu-efi-aarch64"]),
    }
    list
}

/// Makes foreign-arch executables run through qemu-user (binfmt_misc), so
/// that mmdebstrap can run the maintainer scripts of a foreign root.
pub fn ensure_binfmt(arch: Arch) -> anyhow::Result<()> {
    if arch == Arch::host() {
        return Ok(());
    }
    let misc = Path::new("/proc/sys/fs/binfmt_misc");
    if !misc.join("register").exists() {
        run(Command::new("mount")
            .args(["-t", "binfmt_misc", "binfmt_misc"])
            .arg(misc))?;
    }
    let name = match arch {
        Arch::X86_64 => "qemu-x86_64",
        Arch::Aarch64 => "qemu-aarch64",
    };
    let entry = misc.join(name);
    if !entry.exists() {
        // binfmt-support registers what qemu-user-static ships.
        let _ = succeeds(Command::new("update-binfmts").args(["--enable", name]));
    }
    let state = std::fs::read_to_string(&entry)
        .with_context(|| format!("{} is not registered with binfmt_misc", entry.display()))?;
    if !state.starts_with("enabled") {
        bail!("binfmt_misc entry {name} is disabled: update-binfmts --enable {name}");
    }
    Ok(())
}
