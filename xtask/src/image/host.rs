//! The host's side of image building and booting: the Debian packages the
//! tools come from (installed when missing) and binfmt for foreign-arch
//! root file systems.

use std::{path::Path, process::Command};

use anyhow::{bail, Context as _};

use crate::{
    arch::Arch,
    cmd::{output, run, succeeds},
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
    list.push(match arch {
        Arch::X86_64 => "binutils-x86-64-linux-gnu",
        Arch::Aarch64 => "binutils-aarch64-linux-gnu",
    });
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

fn installed(name: &str) -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", name]))
        .is_some_and(|status| status.ends_with("install ok installed"))
}

/// Installs whichever of `packages` is missing (apt-get, as root).
pub fn ensure_packages(packages: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing missing Debian packages: {}", missing.join(" "));
    let install = |missing: &[&str]| {
        run(Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    };
    if install(&missing).is_err() {
        run(Command::new("apt-get").args(["update", "-q"]))?;
        install(&missing)?;
    }
    Ok(())
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
