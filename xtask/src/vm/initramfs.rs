//! The test VM's initramfs, assembled in Rust as a `newc` cpio archive (the
//! format the kernel unpacks into its root file system): the init program,
//! the tests, the agent, kernel modules, and the few user-space tools the
//! tests call (`ip`, `ping`, `nsenter`, busybox) with their shared libraries,
//! all taken from Debian packages of the guest's architecture.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _};
use cpio::newc::{Builder, ModeFileType};

use super::debian;
use crate::arch::{elf_interpreter, Arch};

/// What goes into the archive, by absolute path inside it.
#[derive(Clone, Debug, Default)]
pub struct Initramfs {
    entries: BTreeMap<String, Entry>,
}

#[derive(Clone, Debug)]
enum Entry {
    Directory,
    File { bytes: Vec<u8>, mode: u32 },
    Symlink(String),
    CharDevice { major: u32, minor: u32 },
}

impl Initramfs {
    /// A tree with the directories and `/dev/console` the kernel and init need
    /// (the kernel opens `/dev/console` for init before devtmpfs is mounted).
    pub fn new() -> Initramfs {
        let mut tree = Initramfs::default();
        for dir in [
            "/proc", "/sys", "/dev", "/tmp", "/run", "/var", "/etc", "/root", "/sbin",
        ] {
            tree.directory(dir);
        }
        tree.entries.insert(
            "/dev/console".into(),
            Entry::CharDevice { major: 5, minor: 1 },
        );
        tree
    }

    fn directory(&mut self, path: &str) {
        let mut at = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            at.push('/');
            at.push_str(part);
            self.entries.entry(at.clone()).or_insert(Entry::Directory);
        }
    }

    fn parent_of(&mut self, path: &str) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            if !parent.is_empty() {
                self.directory(parent);
            }
        }
    }

    /// Adds a file with `bytes` and permission bits `mode`.
    pub fn file(&mut self, path: &str, bytes: Vec<u8>, mode: u32) {
        self.parent_of(path);
        self.entries
            .insert(path.to_owned(), Entry::File { bytes, mode });
    }

    /// Adds the host file `source` as an executable at `path`.
    pub fn executable(&mut self, path: &str, source: &Path) -> anyhow::Result<()> {
        let bytes =
            std::fs::read(source).with_context(|| format!("reading {}", source.display()))?;
        self.file(path, bytes, 0o755);
        Ok(())
    }

    /// Adds a symbolic link at `path` pointing at `target`.
    pub fn symlink(&mut self, path: &str, target: &str) {
        self.parent_of(path);
        self.entries
            .insert(path.to_owned(), Entry::Symlink(target.to_owned()));
    }

    /// Bytes the files take (before the archive's headers).
    pub fn content_bytes(&self) -> usize {
        self.entries
            .values()
            .map(|e| match e {
                Entry::File { bytes, .. } => bytes.len(),
                _ => 0,
            })
            .sum()
    }

    /// Writes the archive to `out` (parents always precede children).
    pub fn write(&self, out: &Path) -> anyhow::Result<()> {
        let file =
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        for (ino, (path, entry)) in (1u32..).zip(&self.entries) {
            let name = path.trim_start_matches('/');
            let header = Builder::new(name).ino(ino).uid(0).gid(0).nlink(1);
            let (header, data): (Builder, &[u8]) = match entry {
                Entry::Directory => (
                    header
                        .mode(0o755)
                        .set_mode_file_type(ModeFileType::Directory)
                        .nlink(2),
                    &[],
                ),
                Entry::File { bytes, mode } => (
                    header.mode(*mode).set_mode_file_type(ModeFileType::Regular),
                    bytes,
                ),
                Entry::Symlink(target) => (
                    header.mode(0o777).set_mode_file_type(ModeFileType::Symlink),
                    target.as_bytes(),
                ),
                Entry::CharDevice { major, minor } => (
                    header
                        .mode(0o600)
                        .set_mode_file_type(ModeFileType::Char)
                        .rdev_major(*major)
                        .rdev_minor(*minor),
                    &[],
                ),
            };
            let size =
                u32::try_from(data.len()).with_context(|| format!("{path} is over 4 GiB"))?;
            let mut entry_writer = header.write(&mut writer, size);
            entry_writer.write_all(data)?;
            entry_writer.finish()?;
        }
        cpio::newc::trailer(&mut writer)?;
        writer.flush()?;
        Ok(())
    }
}

/// Debian packages holding the tools the tests call and their libraries.
pub const TOOL_PACKAGES: [&str; 17] = [
    "busybox-static",
    "iproute2",
    "iputils-ping",
    "util-linux",
    "libc6",
    "libbpf1",
    "libbsd0",
    "libcap2",
    "libelf1",
    "libmd0",
    "libmnl0",
    "libselinux1",
    "libpcre2-8-0",
    "zlib1g",
    "libidn2-0",
    "libunistring2",
    "libzstd1",
];

/// (tool, directory inside the initramfs): taken from the packages above.
const TOOLS: [(&str, &str); 3] = [
    ("ip", "/usr/sbin"),
    ("ping", "/usr/bin"),
    ("nsenter", "/usr/bin"),
];

/// Busybox applets linked into `/bin` (shell and small helpers the tests use).
const APPLETS: [&str; 9] = [
    "sh", "sysctl", "cat", "ls", "sleep", "dmesg", "ps", "kill", "mount",
];

/// Adds `ip`, `ping`, `nsenter` (dynamic, with their libraries and loader)
/// and busybox with its applets, all of `arch`.
pub fn add_tools(tree: &mut Initramfs, arch: Arch) -> anyhow::Result<()> {
    let roots: Vec<PathBuf> = TOOL_PACKAGES
        .iter()
        .map(|p| debian::unpacked(p, arch))
        .collect::<anyhow::Result<_>>()?;
    let busybox = find_in(&roots, &["bin/busybox", "usr/bin/busybox"])
        .context("busybox-static has no busybox")?;
    tree.executable("/bin/busybox", &busybox)?;
    for applet in APPLETS {
        tree.symlink(&format!("/bin/{applet}"), "busybox");
    }

    let lib_dirs: Vec<PathBuf> = roots
        .iter()
        .flat_map(|r| {
            ["lib", "usr/lib"]
                .into_iter()
                .flat_map(move |base| [r.join(base).join(arch.multiarch()), r.join(base)])
        })
        .collect();
    let mut needed: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<PathBuf> = Vec::new();
    let mut interpreter = None;
    for (tool, dir) in TOOLS {
        let candidates = [
            format!("bin/{tool}"),
            format!("sbin/{tool}"),
            format!("usr/bin/{tool}"),
            format!("usr/sbin/{tool}"),
        ];
        let names: Vec<&str> = candidates.iter().map(String::as_str).collect();
        let path = find_in(&roots, &names).with_context(|| format!("no package holds {tool}"))?;
        tree.executable(&format!("{dir}/{tool}"), &path)?;
        interpreter = interpreter.or(elf_interpreter(&path)?);
        queue.push(path);
    }
    while let Some(binary) = queue.pop() {
        for library in needed_libraries(&binary)? {
            if !needed.insert(library.clone()) {
                continue;
            }
            let found = lib_dirs
                .iter()
                .map(|d| d.join(&library))
                .find(|p| p.exists())
                .with_context(|| {
                    format!(
                        "{} needs {library}, which none of the VM's packages holds (add its package to TOOL_PACKAGES)",
                        binary.display()
                    )
                })?;
            let real = std::fs::canonicalize(&found)
                .with_context(|| format!("resolving {}", found.display()))?;
            tree.executable(&format!("/lib/{}/{library}", arch.multiarch()), &real)?;
            queue.push(real);
        }
    }
    let interpreter = interpreter.context("the tools name no program interpreter")?;
    let loader_name = Path::new(&interpreter)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let loader = lib_dirs
        .iter()
        .map(|d| d.join(&loader_name))
        .find(|p| p.exists())
        .with_context(|| format!("libc6 holds no {loader_name}"))?;
    let loader = std::fs::canonicalize(&loader)?;
    tree.executable(&interpreter, &loader)?;
    Ok(())
}

/// The first of `relative` paths that exists under one of `roots`.
fn find_in(roots: &[PathBuf], relative: &[&str]) -> Option<PathBuf> {
    roots
        .iter()
        .flat_map(|root| relative.iter().map(move |r| root.join(r)))
        .find(|p| p.is_file())
}

/// The `DT_NEEDED` libraries of an ELF file, as `readelf -d` lists them.
fn needed_libraries(path: &Path) -> anyhow::Result<Vec<String>> {
    let out = Command::new("readelf")
        .args(["-d", "-W"])
        .arg(path)
        .output()
        .context("running readelf (binutils)")?;
    if !out.status.success() {
        bail!("readelf -d {} failed ({})", path.display(), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.split_once(']')?.0.to_owned()))
        .collect())
}
