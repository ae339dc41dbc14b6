//! Debian kernels for the test VMs: which package a requested version means,
//! its `vmlinuz`, and the modules (with their dependencies) the tests load.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _};

use super::debian;
use crate::{arch::Arch, cmd::output};

/// The kernel series `vm test` boots when none is named: the 6.12 Debian 12
/// serves as an update, the oldest the program loads on. Debian 12's own
/// 6.1 (`--kernel 6.1`) has every feature but its verifier stops at its
/// instruction limit (README "Kernels and VMs").
pub const DEFAULT_SERIES: [&str; 1] = ["6.12"];

/// An unpacked Debian kernel package.
#[derive(Debug)]
pub struct Kernel {
    /// The package (e.g. `linux-image-6.1.0-57-cloud-amd64`).
    pub package: String,
    /// Its release (`uname -r` in the guest, e.g. `6.1.0-57-cloud-amd64`).
    pub release: String,
    /// The compressed kernel image QEMU boots.
    pub vmlinuz: PathBuf,
    /// `lib/modules/RELEASE` of the package.
    pub modules: PathBuf,
}

/// The cloud kernel package a request names for `arch`: an exact version
/// (`6.12.117+deb12`, `6.1.0-57`) or the newest of a series (`6.1`, `6.12`).
///
/// # Errors
/// apt serves no such kernel (the message lists what it serves).
pub fn resolve(request: &str, arch: Arch) -> anyhow::Result<String> {
    let suffix = format!("-cloud-{}", arch.debian());
    let names = debian::search(&format!("^linux-image-.*{suffix}$"))?;
    let versions: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_prefix("linux-image-")?.strip_suffix(&suffix))
        // Meta packages (`linux-image-6.12-cloud-amd64`) hold no kernel.
        .filter(|v| debian::numeric_key(v).len() >= 3)
        .collect();
    let chosen = versions
        .iter()
        .filter(|v| {
            **v == request
                || v.starts_with(&format!("{request}."))
                || v.starts_with(&format!("{request}-"))
        })
        .max_by_key(|v| debian::numeric_key(v));
    match chosen {
        Some(version) => Ok(format!("linux-image-{version}{suffix}")),
        None => {
            let mut served: Vec<&str> = versions;
            served.sort_by_key(|v| debian::numeric_key(v));
            bail!(
                "apt serves no {} cloud kernel matching {request:?}; it serves: {}",
                arch.debian(),
                served.join(", ")
            )
        }
    }
}

/// Downloads and unpacks a kernel package.
pub fn fetch(package: &str, arch: Arch) -> anyhow::Result<Kernel> {
    let root = debian::unpacked(package, arch)?;
    let boot = root.join("boot");
    let vmlinuz = std::fs::read_dir(&boot)
        .with_context(|| format!("{package} has no /boot"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .with_context(|| format!("{package} has no /boot/vmlinuz-*"))?;
    let release = vmlinuz
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_start_matches("vmlinuz-")
                .to_owned()
        })
        .unwrap_or_default();
    let modules = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|dir| root.join(dir).join(&release))
        .find(|dir| dir.is_dir())
        .with_context(|| format!("{package} has no modules for {release}"))?;
    Ok(Kernel {
        package: package.to_owned(),
        release,
        vmlinuz,
        modules,
    })
}

/// A kernel module file ready for `finit_module`.
#[derive(Debug)]
pub struct Module {
    /// Its name (`veth`).
    pub name: String,
    /// Uncompressed contents.
    pub bytes: Vec<u8>,
}

impl Kernel {
    /// The modules named, preceded by what each depends on, uncompressed, in
    /// load order. A module built into the kernel is simply absent.
    pub fn modules_with_dependencies(&self, names: &[&str]) -> anyhow::Result<Vec<Module>> {
        let files = module_files(&self.modules)?;
        let mut ordered = Vec::new();
        let mut seen = BTreeSet::new();
        for name in names {
            self.add_module(name, &files, &mut seen, &mut ordered)?;
        }
        Ok(ordered)
    }

    fn add_module(
        &self,
        name: &str,
        files: &[PathBuf],
        seen: &mut BTreeSet<String>,
        ordered: &mut Vec<Module>,
    ) -> anyhow::Result<()> {
        let wanted = name.replace('-', "_");
        if !seen.insert(wanted.clone()) {
            return Ok(());
        }
        let Some(file) = files.iter().find(|f| module_name(f) == wanted) else {
            if self.builtin(&wanted)? {
                return Ok(());
            }
            bail!("{}: no module {name} and it is not built in", self.package);
        };
        let depends = output(Command::new("modinfo").args(["-F", "depends"]).arg(file))
            .with_context(|| format!("modinfo {} failed", file.display()))?;
        for dependency in depends.trim().split(',').filter(|d| !d.is_empty()) {
            self.add_module(dependency, files, seen, ordered)?;
        }
        ordered.push(Module {
            name: wanted,
            bytes: decompress(file)?,
        });
        Ok(())
    }

    /// True when `modules.builtin` lists the module.
    fn builtin(&self, name: &str) -> anyhow::Result<bool> {
        let list =
            std::fs::read_to_string(self.modules.join("modules.builtin")).unwrap_or_default();
        Ok(list.lines().any(|l| module_name(Path::new(l)) == name))
    }
}

/// Every `.ko*` file under `dir`.
fn module_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains(".ko") {
                found.push(path);
            }
        }
    }
    Ok(found)
}

/// `veth` for `.../veth.ko.xz`, with `-` as `_` as the kernel names them.
fn module_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.split(".ko")
        .next()
        .unwrap_or_default()
        .replace('-', "_")
}

/// The module's bytes, decompressed when it is `.ko.xz` or `.ko.zst`.
fn decompress(path: &Path) -> anyhow::Result<Vec<u8>> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        Some("xz")
    } else if name.ends_with(".zst") {
        Some("zstd")
    } else {
        None
    };
    let Some(tool) = tool else {
        return std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    };
    let out = Command::new(tool)
        .args(["-d", "-c"])
        .arg(path)
        .output()
        .with_context(|| format!("running {tool}"))?;
    if !out.status.success() {
        bail!("{tool} -d {} failed ({})", path.display(), out.status);
    }
    Ok(out.stdout)
}
