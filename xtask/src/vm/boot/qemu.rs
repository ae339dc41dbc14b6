//! QEMU under TCG for the gateway image: UEFI firmware, the disk, two
//! virtio NICs on the taps of the QEMU namespace (LAN first: the guest's
//! eth0), the serial console in a file; and reading that console.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context as _};

use super::{
    guard::Process,
    net::{Bed, LAN_TAP, WAN_TAP},
};
use crate::{arch::Arch, cmd::describe};

/// The UEFI firmware of `arch` (Debian's ovmf and qemu-efi-aarch64).
fn firmware(arch: Arch, run_dir: &Path) -> anyhow::Result<Vec<String>> {
    match arch {
        Arch::X86_64 => {
            let code = "/usr/share/OVMF/OVMF_CODE_4M.fd";
            let vars = run_dir.join("OVMF_VARS.fd");
            std::fs::copy("/usr/share/OVMF/OVMF_VARS_4M.fd", &vars)
                .context("copying OVMF_VARS_4M.fd (package ovmf)")?;
            Ok(vec![
                "-drive".into(),
                format!("if=pflash,format=raw,readonly=on,file={code}"),
                "-drive".into(),
                format!("if=pflash,format=raw,file={}", vars.display()),
            ])
        }
        Arch::Aarch64 => {
            let bios = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd";
            if !Path::new(bios).exists() {
                bail!("{bios} is missing (package qemu-efi-aarch64)");
            }
            Ok(vec!["-bios".into(), bios.into()])
        }
    }
}

/// Starts QEMU in the QEMU namespace with `disk`; the console goes to
/// `console`, QEMU's own messages to `log`.
pub fn start(
    arch: Arch,
    bed: &Bed,
    disk: &Path,
    run_dir: &Path,
    console: &Path,
    log: &Path,
) -> anyhow::Result<Process> {
    let mut qemu = Bed::exec(&bed.qemu, arch.qemu());
    qemu.args(arch.qemu_machine())
        .args(["-accel", "tcg", "-m", "1024", "-smp", "2", "-no-reboot"])
        .args(["-display", "none", "-monitor", "none", "-parallel", "none"])
        .args(firmware(arch, run_dir)?)
        .arg("-drive")
        .arg(format!(
            "file={},format=raw,if=none,id=disk",
            disk.display()
        ))
        .args(["-device", "virtio-blk-pci,drive=disk"])
        .args(["-device", "virtio-rng-pci"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()));
    if arch == Arch::X86_64 {
        qemu.args(["-vga", "none"]);
    }
    for (id, tap, mac, slot) in [
        ("lan", LAN_TAP, "52:54:00:98:01:01", "0x10"),
        ("wan", WAN_TAP, "52:54:00:98:02:01", "0x11"),
    ] {
        qemu.arg("-netdev")
            .arg(format!("tap,id={id},ifname={tap},script=no,downscript=no"))
            .arg("-device")
            .arg(format!("virtio-net-pci,netdev={id},mac={mac},addr={slot}"));
    }
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    qemu.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    eprintln!("+ {}", describe(&qemu));
    let child = qemu
        .spawn()
        .with_context(|| format!("starting {}", arch.qemu()))?;
    Ok(Process::new(arch.qemu(), child))
}

/// The serial console, as written so far.
pub struct Console {
    pub path: PathBuf,
}

impl Console {
    /// The text so far, without terminal escape sequences and CRs.
    pub fn text(&self) -> String {
        let bytes = std::fs::read(&self.path).unwrap_or_default();
        strip_escapes(&String::from_utf8_lossy(&bytes))
    }

    /// The last `lines` lines.
    pub fn tail(&self, lines: usize) -> String {
        let text = self.text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Removes ANSI escape sequences (CSI and two-byte ones) and CRs.
fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A command's output in one line, for error messages.
pub fn short(command: &mut Command) -> String {
    match command.output() {
        Ok(out) => format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_are_removed() {
        assert_eq!(
            super::strip_escapes(
                "[\u{1b}[0;32m  OK  \u{1b}[0m] Started \u{1b}[0;1;39mvantage.service\u{1b}[0m\r"
            ),
            "[  OK  ] Started vantage.service"
        );
    }
}
