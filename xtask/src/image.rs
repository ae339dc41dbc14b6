//! `cargo xtask image`: a bootable gateway disk image from Debian packages.
//!
//! The steps, each in its own module: the host tools ([`host`]), the agent
//! binary ([`binary`]), the Debian root file system, built by mmdebstrap and
//! cached by its package list ([`rootfs`]), and the GPT disk with an EFI
//! system partition (systemd-boot), a read-only root and a data partition,
//! assembled without loop mounts ([`disk`]).

mod binary;
pub mod disk;
pub mod host;
mod rootfs;

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{bail, Context as _};
use clap::Args;

use crate::{arch::Arch, cmd::workspace_root};

/// Arguments of `cargo xtask image`.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Target architecture of the image.
    #[arg(long, value_enum, default_value_t = Arch::X86_64)]
    pub arch: Arch,
    /// The MSSP's collector (`vantage-fleet serve`), as HOST:PORT, written
    /// into the image's default configuration.
    #[arg(long, value_name = "HOST:PORT", requires = "pin")]
    pub collector: Option<String>,
    /// The collector key's pin (`vantage-fleet pin`): "sha256:" and 64 hex digits.
    #[arg(long, value_name = "PIN", requires = "collector")]
    pub pin: Option<String>,
    /// The name the collector's certificate was made for (`vantage-fleet init --name`).
    #[arg(long, value_name = "NAME", default_value = "vantage-fleet")]
    pub server_name: String,
    /// Files to put on the data partition (a site's vantage.toml, network/,
    /// site, name): see images/README.md.
    #[arg(long, value_name = "DIR")]
    pub provision: Option<PathBuf>,
    /// A prebuilt `vantage` for the architecture, instead of building one.
    #[arg(long, value_name = "FILE")]
    pub vantage: Option<PathBuf>,
    /// Kernel flavour: "cloud" (virtual machines, small) or "generic"
    /// (physical gateways: every NIC driver Debian builds).
    #[arg(long, value_enum, default_value_t = Flavour::Cloud)]
    pub kernel: Flavour,
    /// Rebuild the Debian root file system even when a cached one matches.
    #[arg(long)]
    pub fresh: bool,
    /// Where to write the image (default: target/images/vantage-ARCH.img).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Debian kernel flavours the image can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Flavour {
    /// `linux-image-cloud-ARCH`: virtio and cloud drivers only.
    Cloud,
    /// `linux-image-ARCH`: every driver.
    Generic,
}

/// The directory of built images and their caches.
pub fn images_dir() -> PathBuf {
    workspace_root().join("target").join("images")
}

/// The default path of the image for `arch`.
pub fn default_image(arch: Arch) -> PathBuf {
    images_dir().join(format!("vantage-{arch}.img"))
}

/// The image definition in the source tree (package list, overlay files).
pub fn definition_dir() -> PathBuf {
    workspace_root().join("images")
}

pub fn run(args: &ImageArgs) -> anyhow::Result<()> {
    crate::cmd::require_root("image")?;
    if let Some(pin) = &args.pin {
        check_pin(pin)?;
    }
    let started = Instant::now();
    crate::cmd::ensure_packages(&host::image_packages(args.arch))?;
    host::ensure_binfmt(args.arch)?;
    let vantage = match &args.vantage {
        Some(path) => path.clone(),
        None => binary::build(args.arch)?,
    };
    let out = args.out.clone().unwrap_or_else(|| default_image(args.arch));
    let work = images_dir().join(format!("work-{}", args.arch));
    let rootfs_started = Instant::now();
    let cached = rootfs::base(args.arch, args.kernel, args.fresh)?;
    let root = rootfs::customise(&cached.dir, &work, args, &vantage)?;
    let rootfs_time = rootfs_started.elapsed();
    let data_dir = work.join("data");
    disk::data_contents(args.provision.as_deref(), &data_dir)?;
    let layout = disk::assemble(args.arch, &root, &data_dir, &work, &out)?;
    remove_dir(&work)?;
    let total = started.elapsed();
    let size = std::fs::metadata(&out)
        .with_context(|| format!("reading {}", out.display()))?
        .len();
    println!("image:      {}", out.display());
    println!(
        "size:       {} MiB ({} bytes; {} MiB allocated on disk)",
        size >> 20,
        size,
        allocated(&out)? >> 20
    );
    println!(
        "partitions: esp {} MiB, root {} MiB ({} MiB used, read-only), data {} MiB",
        layout.esp_mib, layout.root_mib, layout.root_used_mib, layout.data_mib
    );
    println!(
        "rootfs:     {} ({:.1} s, {})",
        cached.dir.display(),
        rootfs_time.as_secs_f64(),
        if cached.reused { "cached" } else { "built" }
    );
    println!("build time: {:.1} s", total.as_secs_f64());
    Ok(())
}

/// Fails unless `pin` is "sha256:" and 64 hex digits.
fn check_pin(pin: &str) -> anyhow::Result<()> {
    let hex = pin.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("--pin must be \"sha256:\" and 64 hex digits (vantage-fleet pin), not {pin:?}");
    }
    Ok(())
}

/// Bytes a file takes on disk (sparse files take less than their length).
fn allocated(path: &Path) -> anyhow::Result<u64> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(meta.blocks() * 512)
}

/// Removes a directory tree if it is there.
pub fn remove_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", dir.display())),
    }
}
