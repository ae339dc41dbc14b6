//! xdp-filter (from xdp-tools), the benchmark's outside reference: a
//! production XDP filter that parses every frame to its ports and looks its
//! addresses and ports up in hash maps. Loaded with the allow policy and all
//! features on one end of a veth pair in a namespace of its own, then pinned
//! and measured like any other program.

use std::process::Command;

use anyhow::{bail, Context as _};
use aya::programs::Xdp;

use super::PinDir;
use crate::netns::{unique, Namespace};

/// xdp-filter loaded on a veth; unloaded (and its namespace removed) on drop.
pub struct XdpFilter {
    /// The filter program itself (not libxdp's dispatcher in front of it).
    pub program: Xdp,
    _loaded: Loaded,
}

/// The attachment, undone on drop (also when loading fails half way).
struct Loaded {
    ns: Namespace,
    iface: String,
}

impl XdpFilter {
    pub fn load(pins: &PinDir) -> anyhow::Result<XdpFilter> {
        let ns = Namespace::create("xf")?;
        let (a, b) = (unique("v", "xfa"), unique("v", "xfb"));
        ns.ip(&["link", "add", &a, "type", "veth", "peer", "name", &b])?;
        ns.ip(&["link", "set", &a, "up"])?;
        let loaded = Loaded { ns, iface: a };
        let load = enter(&loaded.ns)
            .args(["xdp-filter", "load", "--mode", "skb", &loaded.iface])
            .output()
            .context("running xdp-filter (xdp-tools)")?;
        if !load.status.success() {
            bail!(
                "xdp-filter load: {}",
                String::from_utf8_lossy(&load.stderr).trim()
            );
        }
        let program = pins.pin_id(filter_program_id()?, "xdp-filter")?;
        Ok(XdpFilter {
            program,
            _loaded: loaded,
        })
    }
}

fn enter(ns: &Namespace) -> Command {
    let mut command = Command::new("nsenter");
    command.arg(format!("--net=/run/netns/{}", ns.name()));
    command
}

/// The newest loaded program whose name starts `xdpfilt_` (xdp-filter's
/// programs are named after their policy and features).
fn filter_program_id() -> anyhow::Result<u32> {
    let listing = Command::new("bpftool")
        .args(["prog", "show"])
        .output()
        .context("running bpftool")?;
    String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|line| line.contains("name xdpfilt_"))
        .filter_map(|line| line.split(':').next()?.trim().parse::<u32>().ok())
        .max()
        .context("xdp-filter's program is not among the loaded programs")
}

impl Drop for Loaded {
    fn drop(&mut self) {
        let _ = enter(&self.ns)
            .args(["xdp-filter", "unload", &self.iface])
            .output();
        // libxdp leaves its bpffs directory behind; remove it only if empty.
        let _ = std::fs::remove_dir("/sys/fs/bpf/xdp");
    }
}
