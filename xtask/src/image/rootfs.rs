//! The image's root file system: Debian 13 from mmdebstrap (cached, keyed on
//! everything that goes into it), then a working copy with the overlay from
//! images/rootfs, the agent, its configuration and the enabled units.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _};

use super::{definition_dir, images_dir, remove_dir, Flavour, ImageArgs};
use crate::{
    arch::Arch,
    cmd::{output, run},
};

/// The Debian release of the image and the sources it is built from.
const RELEASE: &str = "trixie";
const SOURCES: [&str; 2] = [
    "deb http://deb.debian.org/debian trixie main",
    "deb http://deb.debian.org/debian trixie-backports main",
];
/// Bumped when the way the cached root is made changes.
const RECIPE: &str = "vantage-rootfs 1";

/// A Debian root file system in the cache.
pub struct Base {
    pub dir: PathBuf,
    /// True when it was there already.
    pub reused: bool,
}

/// The package list for `arch` and `flavour`, from images/packages.txt.
fn packages(arch: Arch, flavour: Flavour) -> anyhow::Result<Vec<String>> {
    let path = definition_dir().join("packages.txt");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let kernel = match flavour {
        Flavour::Cloud => format!("cloud-{}", arch.debian()),
        Flavour::Generic => arch.debian().to_owned(),
    };
    let list: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.replace("cloud-@ARCH@", &kernel)
                .replace("@ARCH@", arch.debian())
        })
        .collect();
    if list.is_empty() {
        bail!("{} lists no package", path.display());
    }
    Ok(list)
}

/// mmdebstrap's arguments before the target directory.
fn mmdebstrap_args(arch: Arch, packages: &[String]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--mode=root",
        "--variant=essential",
        "--components=main",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.push(format!("--arch={}", arch.debian()));
    args.push(format!("--include={}", packages.join(",")));
    args
}

/// The cached root for `arch`, built by mmdebstrap when none matches (or
/// when `fresh`). The cache is keyed on the recipe, the release, the sources,
/// the arguments and the package list; `--fresh` picks up Debian's updates.
pub fn base(arch: Arch, flavour: Flavour, fresh: bool) -> anyhow::Result<Base> {
    let packages = packages(arch, flavour)?;
    let args = mmdebstrap_args(arch, &packages);
    let key = format!(
        "{RECIPE}\n{RELEASE}\n{}\n{}\n",
        SOURCES.join("\n"),
        args.join("\n")
    );
    let cache = images_dir().join("cache");
    let dir = cache.join(format!("rootfs-{arch}-{flavour:?}").to_lowercase());
    let key_file = cache.join(format!("rootfs-{arch}-{flavour:?}.key").to_lowercase());
    let cached_key = std::fs::read_to_string(&key_file).unwrap_or_default();
    if !fresh && cached_key == key && dir.join("etc/os-release").exists() {
        eprintln!(
            "using the cached root file system {} (--fresh rebuilds it)",
            dir.display()
        );
        return Ok(Base { dir, reused: true });
    }
    // The key goes last, once the root is complete: an interrupted build
    // leaves no key and is built again.
    let _ = std::fs::remove_file(&key_file);
    remove_dir(&dir)?;
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    run(Command::new("mmdebstrap")
        .args(&args)
        .arg(RELEASE)
        .arg(&dir)
        .args(SOURCES))?;
    std::fs::write(&key_file, key).with_context(|| format!("writing {}", key_file.display()))?;
    Ok(Base { dir, reused: false })
}

/// The working copy of the root, made ready to boot. Returns its path.
pub fn customise(
    base: &Path,
    work: &Path,
    args: &ImageArgs,
    vantage: &Path,
) -> anyhow::Result<PathBuf> {
    remove_dir(work)?;
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let root = work.join("root");
    run(Command::new("cp")
        .args(["-a", "--reflink=auto"])
        .arg(base)
        .arg(&root))?;
    let overlay = definition_dir().join("rootfs");
    run(Command::new("cp")
        .args(["-a", "--no-preserve=ownership"])
        .arg(format!("{}/.", overlay.display()))
        .arg(&root))?;
    run(Command::new("install")
        .args(["-m", "0755", "-o", "root", "-g", "root"])
        .arg(vantage)
        .arg(root.join("usr/sbin/vantage")))?;
    // Debug information stays on the build machine (it is most of a debug build).
    let installed = root.join("usr/sbin/vantage");
    crate::arch::strip_debug(&installed, &installed)?;
    write_config(&root, args)?;
    for dir in ["var/lib/vantage", "boot/efi"] {
        let path = root.join(dir);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    }
    // An empty machine-id: systemd makes a transient one on the read-only root.
    std::fs::write(root.join("etc/machine-id"), "").context("writing etc/machine-id")?;
    let _ = std::fs::remove_file(root.join("var/lib/dbus/machine-id"));
    run(Command::new("systemctl")
        .arg(format!("--root={}", root.display()))
        .args([
            "enable",
            "systemd-networkd.service",
            "systemd-resolved.service",
            "vantage-network.service",
            "vantage-firstboot.service",
            "vantage.service",
        ]))?;
    // Timers that write to the read-only root or need apt: not on a sensor.
    run(Command::new("systemctl")
        .arg(format!("--root={}", root.display()))
        .args([
            "disable",
            "dpkg-db-backup.timer",
            "e2scrub_all.timer",
            "e2scrub_reap.service",
        ]))?;
    run(Command::new("chroot")
        .arg(&root)
        .args([
            "/usr/sbin/vantage",
            "config-check",
            "/etc/vantage/vantage.toml",
        ])
        .stdout(std::process::Stdio::null()))
    .context("the image's default vantage.toml does not pass vantage config-check")?;
    security_score(&root);
    Ok(root)
}

/// Writes /etc/vantage/vantage.toml with the collector, pin and name given.
fn write_config(root: &Path, args: &ImageArgs) -> anyhow::Result<()> {
    let path = root.join("etc/vantage/vantage.toml");
    let template =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let text = template
        .replace("@COLLECTOR@", args.collector.as_deref().unwrap_or_default())
        .replace("@PIN@", args.pin.as_deref().unwrap_or_default())
        .replace("@SERVER_NAME@", &args.server_name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// Prints `systemd-analyze security` of the agent's unit, as the image's
/// own systemd judges it (offline: the unit file, nothing running).
fn security_score(root: &Path) {
    let report = output(Command::new("chroot").arg(root).args([
        "systemd-analyze",
        "security",
        "--offline=true",
        "--no-pager",
        "/etc/systemd/system/vantage.service",
    ]));
    match report.as_deref().and_then(|r| r.lines().last()) {
        Some(line) => println!(
            "vantage.service (systemd-analyze security --offline): {}",
            line.trim()
        ),
        None => eprintln!("warning: systemd-analyze security gave no report"),
    }
}
