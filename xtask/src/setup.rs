//! `cargo xtask setup`: checks every build and test requirement and, as root,
//! installs what is missing; otherwise says exactly what to install.

use std::process::Command;

use anyhow::bail;

use crate::cmd::{self, is_root, output, run, succeeds};

/// Debian packages the build and the tests use.
const PACKAGES: [(&str, &str); 14] = [
    ("llvm-22-dev", "LLVM 22 libraries, to build bpf-linker"),
    ("libpolly-22-dev", "Polly, linked by bpf-linker's LLVM"),
    ("iproute2", "ip: namespaces and veth pairs"),
    (
        "nftables",
        "nft: the NAT gateway of the outside-firewall placement",
    ),
    ("iputils-ping", "ping in the traffic tests and the lab"),
    ("bpftool", "inspecting programs and maps"),
    ("xdp-tools", "xdp-filter, the benchmark's outside reference"),
    ("util-linux", "nsenter: running the agent in a namespace"),
    ("procps", "process tools used by the tests"),
    ("tcpreplay", "replays the public captures"),
    ("tshark", "endpoint statistics of the captures"),
    ("ethtool", "turns GRO off on the capture test's veth"),
    (
        "nmap",
        "real port scans and host sweeps: the live detection tests and `lab --attack`",
    ),
    (
        "hping3",
        "the TCP SYN sweep of port 445 of `lab --attack sweep`",
    ),
];

const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_BIN: &str = "/usr/lib/llvm-22/bin";

fn has_rust_src() -> bool {
    output(Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        "nightly",
        "--installed",
    ]))
    .is_some_and(|list| list.lines().any(|l| l.starts_with("rust-src")))
}

fn has_nightly() -> bool {
    output(Command::new("rustup").args(["toolchain", "list"]))
        .is_some_and(|list| list.lines().any(|l| l.starts_with("nightly")))
}

fn has_bpf_linker() -> bool {
    succeeds(Command::new("bpf-linker").arg("--version"))
}

fn bpffs_mounted() -> bool {
    std::fs::read_to_string("/proc/mounts").is_ok_and(|mounts| {
        mounts.lines().any(|l| {
            l.split_whitespace().nth(1) == Some("/sys/fs/bpf")
                && l.split_whitespace().nth(2) == Some("bpf")
        })
    })
}

fn report(what: &str, state: &str) {
    eprintln!("setup: {what:<34} {state}");
}

/// Makes sure everything is in place; installs as root, explains otherwise.
pub fn ensure() -> anyhow::Result<()> {
    let root = is_root();
    let mut missing: Vec<String> = Vec::new();

    let absent: Vec<&str> = PACKAGES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !cmd::package_installed(name))
        .collect();
    if absent.is_empty() {
        report("debian packages", "ok");
    } else if root {
        cmd::ensure_packages(&absent)?;
        report(
            "debian packages",
            &format!("installed {}", absent.join(" ")),
        );
    } else {
        for name in &absent {
            let why = PACKAGES
                .iter()
                .find(|(n, _)| n == name)
                .map_or("", |(_, why)| *why);
            missing.push(format!("package {name} ({why}): apt-get install {name}"));
        }
    }

    if has_nightly() && has_rust_src() {
        report("nightly toolchain with rust-src", "ok");
    } else if root || std::env::var_os("RUSTUP_HOME").is_some() || has_nightly() {
        if has_nightly() {
            run(Command::new("rustup").args([
                "component",
                "add",
                "rust-src",
                "--toolchain",
                "nightly",
            ]))?;
        } else {
            run(Command::new("rustup").args([
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal",
                "--component",
                "rust-src",
            ]))?;
        }
        report("nightly toolchain with rust-src", "installed");
    } else {
        missing.push(
            "nightly with rust-src: rustup toolchain install nightly --component rust-src"
                .to_owned(),
        );
    }

    if has_bpf_linker() {
        report("bpf-linker", "ok");
    } else if root {
        let path = format!("{LLVM_BIN}:{}", std::env::var("PATH").unwrap_or_default());
        run(cmd::cargo()
            .args([
                "install",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
                "--no-default-features",
                "--features",
                "llvm-22",
            ])
            .env("PATH", path))?;
        report("bpf-linker", "installed");
    } else {
        missing.push(format!(
            "bpf-linker: PATH={LLVM_BIN}:$PATH cargo install bpf-linker --version {BPF_LINKER_VERSION} --no-default-features --features llvm-22"
        ));
    }

    if bpffs_mounted() {
        report("bpffs at /sys/fs/bpf", "ok");
    } else if root {
        run(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))?;
        report("bpffs at /sys/fs/bpf", "mounted");
    } else {
        missing.push("bpffs: mount -t bpf bpf /sys/fs/bpf".to_owned());
    }

    if !missing.is_empty() {
        for item in &missing {
            eprintln!("setup: MISSING {item}");
        }
        bail!(
            "{} requirement(s) missing; run `cargo xtask setup` as root to install them",
            missing.len()
        );
    }
    Ok(())
}
