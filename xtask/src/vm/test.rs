//! `cargo xtask vm test`: the kernel tests inside QEMU on Debian kernels.
//! Builds the tests, the agent and the VM's init as static executables,
//! packs them with the tools they call into an initramfs per kernel, boots
//! each kernel under QEMU and prints one pass/fail line per kernel with its
//! boot and test times.

use std::{path::PathBuf, time::Duration};

use anyhow::{bail, Context as _};

use super::{
    debian,
    initramfs::{self, Initramfs},
    kernel::{self, Kernel},
    qemu, TestArgs,
};
use crate::arch::{build_static, Arch, Profile, StaticBuild};

/// Prefix of the lines the VM's init prints (tests/src/bin/vantage-vm-init.rs).
const TAG: &str = "vantage-vm:";

/// Kernel modules the tests need that Debian's cloud kernels build as modules.
const MODULES: [&str; 2] = ["veth", "bridge"];

/// The test runs inside the VM: the `BPF_PROG_TEST_RUN` verdict tests and a
/// veth traffic test with the real agent attached, counting exactly. (The
/// traffic tests that time blocks in seconds are left out: under TCG a
/// guest runs 10 to 50 times slower and they measure the emulator.)
const RUNS: [(&str, &[&str]); 2] = [
    ("verdicts", &["--test-threads=1"]),
    (
        "traffic",
        &[
            "--test-threads=1",
            "--exact",
            "known_traffic_gives_exact_per_host_counts",
        ],
    ),
];

/// Guest memory: the initramfs unpacked, the agent's maps, the tests.
const MEMORY_MIB: u32 = 2048;

/// A VM that has not powered off by then is killed and fails.
const DEADLINE: Duration = Duration::from_secs(30 * 60);

/// Host packages `vm test` needs for `arch`.
fn host_packages(arch: Arch) -> Vec<&'static str> {
    let mut packages = vec![
        match arch {
            Arch::X86_64 => "qemu-system-x86",
            Arch::Aarch64 => "qemu-system-arm",
        },
        "binutils",
        "xz-utils",
        "zstd",
        "kmod",
    ];
    packages.extend(arch.build_packages());
    packages
}

/// One kernel's outcome.
#[derive(Debug)]
struct Outcome {
    release: String,
    passed: bool,
    boot: Option<Duration>,
    tests: Duration,
    verdict: String,
}

pub fn run_tests(args: &TestArgs) -> anyhow::Result<()> {
    let arch = args.arch;
    crate::cmd::ensure_packages(&host_packages(arch))?;
    debian::ensure_architecture(arch)?;
    let requests: Vec<String> = if args.kernels.is_empty() {
        kernel::DEFAULT_SERIES
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        args.kernels.clone()
    };
    let packages: Vec<String> = requests
        .iter()
        .map(|r| kernel::resolve(r, arch))
        .collect::<anyhow::Result<_>>()?;
    let tests: Vec<&str> = RUNS.iter().map(|(name, _)| *name).collect();
    let build = build_static(arch, Profile::Debug, &["vantage-vm-init"], &tests)?;
    let (shared, runs) = shared_initramfs(&build, arch, &args.test_args)?;

    let mut outcomes = Vec::new();
    for package in &packages {
        let kernel = kernel::fetch(package, arch)?;
        let image = initramfs_for(&kernel, &shared, &runs, arch)?;
        let console = qemu::boot(
            arch,
            args.accel,
            &kernel.vmlinuz,
            &image,
            MEMORY_MIB,
            DEADLINE,
            &format!("{TAG} kernel"),
        )?;
        let log = debian::cache_dir()
            .join("logs")
            .join(format!("{}.log", kernel.release));
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&log, console.lines.join("\n"))?;
        let result = console
            .lines
            .iter()
            .rev()
            .find_map(|l| Some(l.split_once(&format!("{TAG} result: "))?.1))
            .map(str::to_owned);
        let passed = !console.timed_out && result.as_deref().is_some_and(|r| r.starts_with("PASS"));
        let verdict = if console.timed_out {
            format!("killed after {} s", DEADLINE.as_secs())
        } else {
            result.unwrap_or_else(|| "the VM stopped without a result line".to_owned())
        };
        if !passed {
            print_failure(&console.lines, &log);
        }
        outcomes.push(Outcome {
            release: kernel.release.clone(),
            passed,
            boot: console.boot,
            tests: console
                .total
                .saturating_sub(console.boot.unwrap_or_default()),
            verdict,
        });
    }
    eprintln!();
    for outcome in &outcomes {
        eprintln!(
            "vm test: {:<5} {arch} {:<28} boot {:>6} tests {:>7.1} s  {}",
            if outcome.passed { "PASS" } else { "FAIL" },
            outcome.release,
            outcome
                .boot
                .map_or("-".to_owned(), |b| format!("{:.1} s", b.as_secs_f64())),
            outcome.tests.as_secs_f64(),
            outcome.verdict
        );
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    if failed > 0 {
        bail!("vm test: {failed} of {} kernels failed", outcomes.len());
    }
    Ok(())
}

/// What every kernel's initramfs holds: the tools, the init, the agent and
/// the tests, with the plan's `run` lines for them.
fn shared_initramfs(
    build: &StaticBuild,
    arch: Arch,
    test_args: &[String],
) -> anyhow::Result<(Initramfs, String)> {
    let mut tree = Initramfs::new();
    initramfs::add_tools(&mut tree, arch)?;
    let init = build
        .bins
        .iter()
        .find(|(name, _)| name == "vantage-vm-init")
        .map(|(_, path)| path)
        .context("the VM init was not built")?;
    tree.executable("/init", &strip(init, arch)?)?;
    tree.executable("/usr/bin/vantage", &strip(&build.vantage, arch)?)?;
    let mut runs = String::new();
    for (name, extra) in RUNS {
        let (_, binary) = build
            .tests
            .iter()
            .find(|(n, _)| n == name)
            .with_context(|| format!("test {name} was not built"))?;
        let path = format!("/tests/{name}");
        tree.executable(&path, &strip(binary, arch)?)?;
        let args = if test_args.is_empty() {
            extra.join(" ")
        } else {
            format!("--test-threads=1 {}", test_args.join(" "))
        };
        runs.push_str(&format!("run {name} {path} {args}\n"));
    }
    Ok((tree, runs))
}

/// The initramfs for one kernel: the shared part, its modules and the plan
/// (the modules load before the runs).
fn initramfs_for(
    kernel: &Kernel,
    shared: &Initramfs,
    runs: &str,
    arch: Arch,
) -> anyhow::Result<PathBuf> {
    let mut tree = shared.clone();
    let mut plan = format!("# {} on {arch}\n", kernel.package);
    for module in kernel.modules_with_dependencies(&MODULES)? {
        let path = format!("/lib/modules/{}.ko", module.name);
        plan.push_str(&format!("module {path}\n"));
        tree.file(&path, module.bytes, 0o644);
    }
    plan.push_str(runs);
    tree.file("/vm/plan", plan.into_bytes(), 0o644);
    let dir = debian::cache_dir().join("initramfs");
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(format!("{}.cpio", kernel.release));
    tree.write(&out)?;
    eprintln!(
        "vm test: initramfs {} ({:.1} MiB of files)",
        out.display(),
        tree.content_bytes() as f64 / (1024.0 * 1024.0)
    );
    Ok(out)
}

/// A copy of `binary` without debug information (the initramfs lives in RAM).
fn strip(binary: &std::path::Path, arch: Arch) -> anyhow::Result<PathBuf> {
    let dir = debian::cache_dir().join("stripped").join(arch.to_string());
    std::fs::create_dir_all(&dir)?;
    let name = binary.file_name().context("a binary without a name")?;
    let out = dir.join(name);
    crate::arch::strip_debug(binary, &out)?;
    Ok(out)
}

/// Prints the tail of a failed VM's console and where the whole log is.
fn print_failure(lines: &[String], log: &std::path::Path) {
    let tail = lines.len().saturating_sub(80);
    eprintln!(
        "vm test: the last lines of the console ({}):",
        log.display()
    );
    for line in &lines[tail..] {
        eprintln!("  | {line}");
    }
}
