//! The test bed's network: three namespaces named after this process.
//! `vb{pid}q` holds QEMU's two taps, each bridged to a veth whose peer is
//! `eth0` of `vb{pid}lan` (a client) or of `vb{pid}wan` (a server and the
//! collector). The VM routes between its LAN and WAN sides. Everything is
//! inside these namespaces; dropping [`Bed`] deletes them, and with them
//! every link made here.

use std::process::Command;

use anyhow::bail;

use crate::cmd::{output, run};

/// The LAN side: the VM's address and the client's.
pub const LAN_PREFIX: &str = "10.98.1.0/24";
pub const LAN_GATEWAY: &str = "10.98.1.1";
pub const LAN_CLIENT: &str = "10.98.1.10";
/// The WAN side: the VM's address and the server's (which runs the collector).
pub const WAN_PREFIX: &str = "10.98.2.0/24";
pub const WAN_GATEWAY: &str = "10.98.2.1";
pub const WAN_SERVER: &str = "10.98.2.100";
/// QEMU's tap devices in the QEMU namespace.
pub const LAN_TAP: &str = "tlan";
pub const WAN_TAP: &str = "twan";

/// The namespaces of one run; deleted on drop.
pub struct Bed {
    pub qemu: String,
    pub lan: String,
    pub wan: String,
    made: Vec<String>,
}

fn existing_namespaces() -> Vec<String> {
    output(Command::new("ip").args(["netns", "list"]))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// `ip -n NS ARGS...`
fn ip(ns: &str, args: &[&str]) -> anyhow::Result<()> {
    run(Command::new("ip").args(["-n", ns]).args(args))
}

impl Bed {
    /// Makes the namespaces and links, refusing names that exist already.
    pub fn create() -> anyhow::Result<Bed> {
        let pid = std::process::id();
        let names = [
            format!("vb{pid}q"),
            format!("vb{pid}lan"),
            format!("vb{pid}wan"),
        ];
        let existing = existing_namespaces();
        if let Some(taken) = names.iter().find(|n| existing.contains(n)) {
            bail!("network namespace {taken} exists already; not touching it");
        }
        let [qemu, lan, wan] = names;
        let mut bed = Bed {
            qemu,
            lan,
            wan,
            made: Vec::new(),
        };
        for ns in [bed.qemu.clone(), bed.lan.clone(), bed.wan.clone()] {
            run(Command::new("ip").args(["netns", "add", &ns]))?;
            bed.made.push(ns.clone());
            ip(&ns, &["link", "set", "lo", "up"])?;
        }
        bed.side(
            &bed.lan.clone(),
            LAN_TAP,
            "blan",
            "vlan",
            LAN_CLIENT,
            LAN_GATEWAY,
            WAN_PREFIX,
        )?;
        bed.side(
            &bed.wan.clone(),
            WAN_TAP,
            "bwan",
            "vwan",
            WAN_SERVER,
            WAN_GATEWAY,
            LAN_PREFIX,
        )?;
        Ok(bed)
    }

    /// One side: a tap and a veth on a bridge in the QEMU namespace; the
    /// veth's peer is `eth0` of `ns` with `address`/24 and a route to the
    /// other side's prefix through the VM.
    #[allow(clippy::too_many_arguments)]
    fn side(
        &self,
        ns: &str,
        tap: &str,
        bridge: &str,
        veth: &str,
        address: &str,
        gateway: &str,
        other: &str,
    ) -> anyhow::Result<()> {
        let q = self.qemu.as_str();
        ip(q, &["tuntap", "add", "dev", tap, "mode", "tap"])?;
        ip(q, &["link", "add", bridge, "type", "bridge"])?;
        ip(
            q,
            &[
                "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ],
        )?;
        for link in [tap, veth] {
            ip(q, &["link", "set", link, "master", bridge])?;
            ip(q, &["link", "set", link, "up"])?;
        }
        ip(q, &["link", "set", bridge, "up"])?;
        ip(
            ns,
            &["addr", "add", &format!("{address}/24"), "dev", "eth0"],
        )?;
        ip(ns, &["link", "set", "eth0", "up"])?;
        ip(ns, &["route", "add", other, "via", gateway])?;
        Ok(())
    }

    /// A command run inside namespace `ns`.
    pub fn exec(ns: &str, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns, program]);
        command
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        for ns in self.made.iter().rev() {
            let deleted = Command::new("ip")
                .args(["netns", "delete", ns])
                .status()
                .is_ok_and(|s| s.success());
            if !deleted {
                eprintln!("warning: could not delete network namespace {ns}: ip netns delete {ns}");
            }
        }
        if !self.made.is_empty() {
            eprintln!("removed network namespaces {}", self.made.join(", "));
        }
    }
}
