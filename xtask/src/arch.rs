//! Target architectures of the gateway images and the test VMs: Rust target
//! triples, the cross tools each needs, QEMU's machine and console, and the
//! static builds of the agent and the kernel tests for them.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _};

use crate::cmd::{cargo, run};

/// A gateway CPU architecture (the XDP object is little-endian BPF on both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// 64-bit x86 (PC-class gateways).
    #[value(name = "x86_64")]
    X86_64,
    /// 64-bit ARM (ARMv8 gateways and boards).
    #[value(name = "aarch64")]
    Aarch64,
}

impl Arch {
    /// The Rust target of the static (musl) builds.
    pub fn musl_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-musl",
            Arch::Aarch64 => "aarch64-unknown-linux-musl",
        }
    }

    /// Debian's name of the architecture (`dpkg --print-architecture`).
    pub fn debian(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// Debian's multiarch directory name (`/lib/<this>`).
    pub fn multiarch(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-linux-gnu",
            Arch::Aarch64 => "aarch64-linux-gnu",
        }
    }

    /// The QEMU system emulator.
    pub fn qemu(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Aarch64 => "qemu-system-aarch64",
        }
    }

    /// Machine and CPU arguments for QEMU under TCG.
    pub fn qemu_machine(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => &["-machine", "q35", "-cpu", "max"],
            Arch::Aarch64 => &["-machine", "virt", "-cpu", "max"],
        }
    }

    /// The serial console's device name in the guest.
    pub fn console(self) -> &'static str {
        match self {
            Arch::X86_64 => "ttyS0",
            Arch::Aarch64 => "ttyAMA0",
        }
    }

    /// The `name` of this machine's architecture as `uname -m` prints it.
    pub fn host() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else {
            Arch::X86_64
        }
    }

    /// Cross C compiler and linker for crates with C parts (ring), or none
    /// for the host's own architecture.
    fn cross_gcc(self) -> Option<&'static str> {
        (self != Arch::host()).then_some(match self {
            Arch::X86_64 => "x86_64-linux-gnu-gcc",
            Arch::Aarch64 => "aarch64-linux-gnu-gcc",
        })
    }

    /// Debian packages the static build for this architecture needs.
    pub fn build_packages(self) -> Vec<&'static str> {
        let mut packages = vec!["musl-tools"];
        if self.cross_gcc().is_some() {
            packages.push(match self {
                Arch::X86_64 => "gcc-x86-64-linux-gnu",
                Arch::Aarch64 => "gcc-aarch64-linux-gnu",
            });
        }
        packages
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        })
    }
}

/// Static binaries built for one architecture.
#[derive(Debug)]
pub struct StaticBuild {
    /// `vantage`, the agent.
    pub vantage: PathBuf,
    /// Test executables by their test target name (e.g. `verdicts`).
    pub tests: Vec<(String, PathBuf)>,
    /// Other binaries by name (e.g. `vantage-vm-init`).
    pub bins: Vec<(String, PathBuf)>,
}

/// Adds the rustup target unless it is there already.
fn ensure_target(target: &str) -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == target)
    {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", target]))
}

/// A cargo command set up to build for `arch`'s musl target: the cross C
/// compiler for ring and the linker when the target is foreign.
fn cargo_for(arch: Arch, subcommand: &str) -> Command {
    let mut command = cargo();
    command.arg(subcommand);
    let target = arch.musl_target();
    let upper = target.to_uppercase().replace('-', "_");
    let lower = target.replace('-', "_");
    match arch.cross_gcc() {
        Some(gcc) => {
            command.env(format!("CARGO_TARGET_{upper}_LINKER"), gcc);
            command.env(format!("CC_{lower}"), gcc);
            command.env(format!("AR_{lower}"), gcc.replace("-gcc", "-ar"));
        }
        None => {
            command.env(format!("CC_{lower}"), "musl-gcc");
        }
    }
    command.arg("--target").arg(target);
    command
}

/// Cargo profile of a static build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Shares its dependencies with the test executables (the VM tests).
    Debug,
    /// Optimised and smaller: what goes into a gateway image.
    Release,
}

/// Builds `vantage`, the named bins of the tests crate and the named test
/// targets of `vantage-tests` (the tests always in the debug profile) as
/// static executables for `arch`.
///
/// # Errors
/// A failed build, a missing artifact, or an artifact that is not static.
pub fn build_static(
    arch: Arch,
    profile: Profile,
    bins: &[&str],
    tests: &[&str],
) -> anyhow::Result<StaticBuild> {
    ensure_target(arch.musl_target())?;
    let mut build = cargo_for(arch, "build");
    build.arg("--message-format=json-render-diagnostics");
    if profile == Profile::Release {
        build.arg("--release");
    }
    build.args(["-p", "sensor-user", "--bin", "vantage"]);
    if !bins.is_empty() {
        build.args(["-p", "vantage-tests"]);
        for bin in bins {
            build.args(["--bin", bin]);
        }
    }
    let built = artifacts(&mut build)?;
    let test_built = if tests.is_empty() {
        Vec::new()
    } else {
        let mut test_build = cargo_for(arch, "test");
        test_build.args([
            "--no-run",
            "--message-format=json-render-diagnostics",
            "-p",
            "vantage-tests",
        ]);
        for test in tests {
            test_build.args(["--test", test]);
        }
        artifacts(&mut test_build)?
    };

    let find = |list: &[(String, String, PathBuf)], kind: &str, name: &str| {
        list.iter()
            .find(|(k, n, _)| k == kind && n == name)
            .map(|(_, _, path)| path.clone())
            .with_context(|| {
                format!(
                    "cargo built no {kind} named {name} for {}",
                    arch.musl_target()
                )
            })
    };
    let result = StaticBuild {
        vantage: find(&built, "bin", "vantage")?,
        tests: tests
            .iter()
            .map(|t| Ok(((*t).to_owned(), find(&test_built, "test", t)?)))
            .collect::<anyhow::Result<_>>()?,
        bins: bins
            .iter()
            .map(|b| Ok(((*b).to_owned(), find(&built, "bin", b)?)))
            .collect::<anyhow::Result<_>>()?,
    };
    let all = std::iter::once(&result.vantage)
        .chain(result.tests.iter().map(|(_, p)| p))
        .chain(result.bins.iter().map(|(_, p)| p));
    for path in all {
        if elf_interpreter(path)?.is_some() {
            bail!(
                "{} is dynamically linked; the VM and the image need static executables",
                path.display()
            );
        }
    }
    Ok(result)
}

/// Runs a cargo command with `--message-format=json…` and returns the
/// executables it produced as (kind, target name, path).
fn artifacts(command: &mut Command) -> anyhow::Result<Vec<(String, String, PathBuf)>> {
    eprintln!("+ {}", crate::cmd::describe(command));
    let out = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("starting cargo")?;
    if !out.status.success() {
        bail!("{} failed ({})", crate::cmd::describe(command), out.status);
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(executable) = message["executable"].as_str() else {
            continue;
        };
        let kind = message["target"]["kind"][0].as_str().unwrap_or_default();
        let name = message["target"]["name"].as_str().unwrap_or_default();
        found.push((kind.to_owned(), name.to_owned(), PathBuf::from(executable)));
    }
    Ok(found)
}

/// The program interpreter an ELF64 little-endian executable asks for
/// (`PT_INTERP`), or `None` for a static executable.
///
/// # Errors
/// The file cannot be read or is not ELF64 little-endian.
pub fn elf_interpreter(path: &Path) -> anyhow::Result<Option<String>> {
    const PT_INTERP: u32 = 3;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let field = |at: usize, len: usize| -> anyhow::Result<u64> {
        let slice = bytes
            .get(at..at + len)
            .with_context(|| format!("{} is cut short", path.display()))?;
        Ok(slice
            .iter()
            .rev()
            .fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
    };
    if bytes.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        bail!("{} is not an ELF64 little-endian file", path.display());
    }
    let phoff = usize::try_from(field(0x20, 8)?)?;
    let phentsize = usize::try_from(field(0x36, 2)?)?;
    let phnum = usize::try_from(field(0x38, 2)?)?;
    for index in 0..phnum {
        let header = phoff + index * phentsize;
        if field(header, 4)? == u64::from(PT_INTERP) {
            let offset = usize::try_from(field(header + 8, 8)?)?;
            let size = usize::try_from(field(header + 32, 8)?)?;
            let text = bytes
                .get(offset..offset + size)
                .with_context(|| format!("{} has a cut interpreter", path.display()))?;
            return Ok(Some(
                String::from_utf8_lossy(text)
                    .trim_end_matches('\0')
                    .to_owned(),
            ));
        }
    }
    Ok(None)
}

/// Writes `input` without its debug information to `output` (which may be
/// `input` itself), with LLVM's `llvm-strip`: it reads both architectures'
/// executables (LLVM 22 comes with the build toolchain, `cargo xtask setup`).
pub fn strip_debug(input: &Path, output: &Path) -> anyhow::Result<()> {
    let llvm = Path::new("/usr/lib/llvm-22/bin/llvm-strip");
    let strip = if llvm.exists() {
        llvm
    } else {
        Path::new("llvm-strip")
    };
    run(Command::new(strip)
        .arg("--strip-debug")
        .arg(input)
        .arg("-o")
        .arg(output))
}
