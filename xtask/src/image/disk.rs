//! The disk image, assembled without loop mounts: an EFI system partition
//! (FAT, filled with mtools: systemd-boot, the kernel, the initrd), the root
//! (ext4 filled by `mkfs.ext4 -d`, mounted read-only) and the data partition
//! (ext4: the key, the configuration, the spool), laid out by sfdisk on the
//! image file and copied in with dd.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _};

use crate::{
    arch::Arch,
    cmd::{output, run},
};

/// Partition sizes and fill, in MiB.
pub struct Layout {
    pub esp_mib: u64,
    pub root_mib: u64,
    pub root_used_mib: u64,
    pub data_mib: u64,
}

const ESP_MIB: u64 = 128;
/// The data partition as built; `vm boot` rewrites it with its provisioning.
pub const DATA_MIB: u64 = 256;
/// GPT type of the EFI system partition.
const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// GPT type of Linux data (the data partition).
const DATA_TYPE: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
/// GPT partition name (and ext4 label) of the data partition.
pub const DATA_NAME: &str = "vantage-data";

/// GPT type of the root partition (Discoverable Partitions Specification).
fn root_type(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
        Arch::Aarch64 => "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
    }
}

/// The kernel command line of the image.
pub fn cmdline(arch: Arch) -> String {
    format!(
        "root=LABEL=vantage-root rootfstype=ext4 ro net.ifnames=0 panic=10 console=tty0 console={},115200",
        arch.console()
    )
}

/// Fills `out` with what the data partition starts with: the files of
/// `provision` (a site's vantage.toml, network/, site, name), root's only.
pub fn data_contents(provision: Option<&Path>, out: &Path) -> anyhow::Result<()> {
    crate::image::remove_dir(out)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    if let Some(dir) = provision {
        if !dir.is_dir() {
            bail!("--provision {}: not a directory", dir.display());
        }
        run(Command::new("cp")
            .args(["-a", "--no-preserve=ownership"])
            .arg(format!("{}/.", dir.display()))
            .arg(out))?;
    }
    run(Command::new("chmod").args(["-R", "go-rwx"]).arg(out))
}

/// Makes an ext4 file system image of `mib` MiB labelled `label` holding `dir`.
pub fn ext4(dir: &Path, label: &str, mib: u64, out: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(out);
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", label, "-E", "root_owner=0:0", "-d"])
        .arg(dir)
        .arg(out)
        .arg(format!("{mib}M")))
}

/// MiB that the tree at `dir` takes (`du`).
fn used_mib(dir: &Path) -> anyhow::Result<u64> {
    let text = output(
        Command::new("du")
            .args(["-s", "-x", "--block-size=1M"])
            .arg(dir),
    )
    .with_context(|| format!("du {}", dir.display()))?;
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("du printed {text:?}"))
}

/// The only file in `dir` whose name starts with `prefix`.
fn one_file(dir: &Path, prefix: &str) -> anyhow::Result<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            found.push(entry.path());
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "expected one {prefix}* in {}, found {found:?}",
            dir.display()
        ),
    }
}

/// The EFI system partition: systemd-boot as the removable-media loader,
/// one entry booting the kernel with the image's command line.
fn esp(arch: Arch, root: &Path, work: &Path) -> anyhow::Result<PathBuf> {
    let (loader, removable) = match arch {
        Arch::X86_64 => ("systemd-bootx64.efi", "BOOTX64.EFI"),
        Arch::Aarch64 => ("systemd-bootaa64.efi", "BOOTAA64.EFI"),
    };
    let staging = work.join("esp");
    crate::image::remove_dir(&staging)?;
    std::fs::create_dir_all(&staging)?;
    std::fs::write(
        staging.join("loader.conf"),
        "default vantage.conf\ntimeout 0\nconsole-mode keep\neditor no\n",
    )?;
    std::fs::write(
        staging.join("vantage.conf"),
        format!(
            "title Vantage gateway\nlinux /vmlinuz\ninitrd /initrd.img\noptions {}\n",
            cmdline(arch)
        ),
    )?;
    let image = work.join("esp.img");
    let _ = std::fs::remove_file(&image);
    run(Command::new("mkfs.vfat")
        .args(["-F", "32", "-n", "VANTAGE-ESP", "-C"])
        .arg(&image)
        .arg((ESP_MIB * 1024).to_string()))?;
    let mtools = |args: &[&str], files: &[PathBuf]| {
        run(Command::new(args[0])
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(&image)
            .args(&args[1..])
            .args(files))
    };
    mtools(
        &[
            "mmd",
            "::/EFI",
            "::/EFI/BOOT",
            "::/loader",
            "::/loader/entries",
        ],
        &[],
    )?;
    let boot = root.join("boot");
    let copies = [
        (
            root.join("usr/lib/systemd/boot/efi").join(loader),
            format!("::/EFI/BOOT/{removable}"),
        ),
        (one_file(&boot, "vmlinuz-")?, "::/vmlinuz".to_owned()),
        (one_file(&boot, "initrd.img-")?, "::/initrd.img".to_owned()),
        (
            staging.join("loader.conf"),
            "::/loader/loader.conf".to_owned(),
        ),
        (
            staging.join("vantage.conf"),
            "::/loader/entries/vantage.conf".to_owned(),
        ),
    ];
    for (from, to) in copies {
        mtools(&["mcopy", "-o"], &[from, PathBuf::from(to)])?;
    }
    Ok(image)
}

/// Writes the GPT disk image `out` and returns its layout.
pub fn assemble(
    arch: Arch,
    root: &Path,
    data: &Path,
    work: &Path,
    out: &Path,
) -> anyhow::Result<Layout> {
    let esp = esp(arch, root, work)?;
    let root_used_mib = used_mib(root)?;
    // Room for ext4's own tables, and 25 % to spare.
    let root_mib = (root_used_mib * 5 / 4 + 64).next_multiple_of(16);
    let root_img = work.join("root.img");
    ext4(root, "vantage-root", root_mib, &root_img)?;
    let data_img = work.join("data.img");
    ext4(data, DATA_NAME, DATA_MIB, &data_img)?;

    let esp_start = 1;
    let root_start = esp_start + ESP_MIB;
    let data_start = root_start + root_mib;
    let total = data_start + DATA_MIB + 1;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let partial = out.with_extension("img.partial");
    let _ = std::fs::remove_file(&partial);
    run(Command::new("truncate")
        .arg(format!("--size={total}M"))
        .arg(&partial))?;
    let mib = 2048; // sectors
    let script = format!(
        "label: gpt\nunit: sectors\n\
         start={}, size={}, type={ESP_TYPE}, name=\"vantage-esp\"\n\
         start={}, size={}, type={}, name=\"vantage-root\"\n\
         start={}, size={}, type={DATA_TYPE}, name=\"{DATA_NAME}\"\n",
        esp_start * mib,
        ESP_MIB * mib,
        root_start * mib,
        root_mib * mib,
        root_type(arch),
        data_start * mib,
        DATA_MIB * mib,
    );
    let script_path = work.join("sfdisk.txt");
    std::fs::write(&script_path, script)?;
    let stdin = std::fs::File::open(&script_path)?;
    run(Command::new("sfdisk")
        .args(["--quiet", "--no-reread", "--no-tell-kernel"])
        .arg(&partial)
        .stdin(stdin))?;
    for (image, start) in [
        (&esp, esp_start),
        (&root_img, root_start),
        (&data_img, data_start),
    ] {
        write_at(image, &partial, start)?;
    }
    std::fs::rename(&partial, out)
        .with_context(|| format!("renaming {} to {}", partial.display(), out.display()))?;
    Ok(Layout {
        esp_mib: ESP_MIB,
        root_mib,
        root_used_mib,
        data_mib: DATA_MIB,
    })
}

/// Copies `part` into `disk` at `start_mib`, keeping the disk sparse.
pub fn write_at(part: &Path, disk: &Path, start_mib: u64) -> anyhow::Result<()> {
    run(Command::new("dd")
        .arg(format!("if={}", part.display()))
        .arg(format!("of={}", disk.display()))
        .args(["bs=1M", "conv=notrunc,sparse", "status=none"])
        .arg(format!("seek={start_mib}")))
}

/// Where the data partition of `disk` starts and how long it is, in MiB
/// (from its GPT, by the partition's name).
pub fn data_partition(disk: &Path) -> anyhow::Result<(u64, u64)> {
    let text = output(Command::new("sfdisk").arg("--json").arg(disk))
        .with_context(|| format!("sfdisk --json {}", disk.display()))?;
    let table: serde_json::Value = serde_json::from_str(&text).context("parsing sfdisk --json")?;
    let parts = table["partitiontable"]["partitions"]
        .as_array()
        .context("sfdisk --json lists no partitions")?;
    let part = parts
        .iter()
        .find(|p| p["name"].as_str() == Some(DATA_NAME))
        .with_context(|| format!("{} has no partition named {DATA_NAME}", disk.display()))?;
    let start = part["start"].as_u64().context("partition start")?;
    let size = part["size"].as_u64().context("partition size")?;
    if start % 2048 != 0 || size % 2048 != 0 {
        bail!(
            "the data partition of {} is not MiB-aligned",
            disk.display()
        );
    }
    Ok((start / 2048, size / 2048))
}
