//! Debian packages for the test VMs: found with `apt-cache`, downloaded with
//! `apt-get download` into a cache under `target/vm/debs`, and unpacked with
//! `dpkg -x` (nothing is installed on the host).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _};

use crate::{
    arch::Arch,
    cmd::{output, run, workspace_root},
};

/// The VM cache: kernel packages, user-space packages, initramfs images.
pub fn cache_dir() -> PathBuf {
    workspace_root().join("target").join("vm")
}

/// Makes apt serve `arch`'s packages (`dpkg --add-architecture`), once.
pub fn ensure_architecture(arch: Arch) -> anyhow::Result<()> {
    let native = output(Command::new("dpkg").arg("--print-architecture")).unwrap_or_default();
    if native.trim() == arch.debian() {
        return Ok(());
    }
    let foreign =
        output(Command::new("dpkg").arg("--print-foreign-architectures")).unwrap_or_default();
    if foreign.lines().any(|l| l.trim() == arch.debian()) {
        return Ok(());
    }
    run(Command::new("dpkg").args(["--add-architecture", arch.debian()]))?;
    run(Command::new("apt-get").args(["update", "-q"]))
}

/// Package names apt knows that match an `apt-cache search --names-only` pattern.
pub fn search(pattern: &str) -> anyhow::Result<Vec<String>> {
    let out = Command::new("apt-cache")
        .args(["search", "--names-only", pattern])
        .output()
        .context("running apt-cache")?;
    if !out.status.success() {
        bail!("apt-cache search {pattern} failed ({})", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// A sort key comparing version strings by their numbers in turn
/// (`6.12.117+deb12` after `6.12.99+deb12`).
pub fn numeric_key(version: &str) -> Vec<u64> {
    version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .filter_map(|part| part.parse().ok())
        .collect()
}

/// Downloads `package` for `arch` (once) and unpacks it; returns the
/// directory holding its files.
pub fn unpacked(package: &str, arch: Arch) -> anyhow::Result<PathBuf> {
    let debs = cache_dir().join("debs").join(arch.debian());
    let root = debs.join(format!("{package}.root"));
    let done = root.join(".unpacked");
    if done.is_file() {
        return Ok(root);
    }
    std::fs::create_dir_all(&debs).with_context(|| format!("creating {}", debs.display()))?;
    let deb = match find_deb(&debs, package)? {
        Some(deb) => deb,
        None => {
            run(Command::new("apt-get")
                .args(["download", "-q", "-o", "APT::Sandbox::User=root"])
                .arg(format!("{package}:{}", arch.debian()))
                .current_dir(&debs))?;
            find_deb(&debs, package)?.with_context(|| {
                format!(
                    "apt-get download {package} left no .deb in {}",
                    debs.display()
                )
            })?
        }
    };
    if root.exists() {
        std::fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
    }
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(&root))?;
    std::fs::write(&done, deb.to_string_lossy().as_bytes())
        .with_context(|| format!("writing {}", done.display()))?;
    Ok(root)
}

/// The downloaded `.deb` of `package` in `dir`, if any (`NAME_VERSION_ARCH.deb`).
fn find_deb(dir: &Path, package: &str) -> anyhow::Result<Option<PathBuf>> {
    let prefix = format!("{package}_");
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::numeric_key;

    #[test]
    fn versions_compare_by_their_numbers() {
        assert!(numeric_key("6.12.117+deb12") > numeric_key("6.12.99+deb12"));
        assert!(numeric_key("6.1.0-57") > numeric_key("6.1.0-9"));
        assert_eq!(numeric_key("6.12.117+deb12"), vec![6, 12, 117, 12]);
    }
}
