//! The program as a running agent has it: `vantage run` (default settings:
//! events on, the default host table) attached to a veth in a namespace of
//! its own, its program pinned from the agent's link and measured while the
//! agent drains events and reads the maps as it always does.

use std::process::Command;

use anyhow::Context as _;
use aya::programs::Xdp;

use super::PinDir;
use crate::{
    agent::{Agent, SensorDirs},
    netns::{unique, Namespace},
};

/// A running agent and its program. Dropping it stops the agent (SIGTERM),
/// removes its pins and the namespace.
pub struct LiveAgent {
    pub program: Xdp,
    agent: Agent,
    _dirs: SensorDirs,
    _ns: Namespace,
}

impl LiveAgent {
    /// Starts `vantage run` on a veth whose protected prefix is `local_net`.
    pub fn start(pins: &PinDir, local_net: &str) -> anyhow::Result<LiveAgent> {
        let ns = Namespace::create("lv")?;
        let (a, b) = (unique("v", "lva"), unique("v", "lvb"));
        ns.ip(&["link", "add", &a, "type", "veth", "peer", "name", &b])?;
        ns.ip(&["link", "set", &a, "up"])?;
        ns.ip(&["link", "set", &b, "up"])?;
        let dirs = SensorDirs::new("bench");
        let agent = Agent::start(&ns, &[&a], &[local_net], &dirs)?;
        let link = dirs.pin_dir.join("links").join(format!("xdp-{a}"));
        let id = linked_program_id(&link)?;
        let program = pins.pin_id(id, "live-agent")?;
        Ok(LiveAgent {
            program,
            agent,
            _dirs: dirs,
            _ns: ns,
        })
    }

    /// The agent's own log so far.
    pub fn log_text(&self) -> String {
        self.agent.log_text()
    }
}

/// The id of the program behind the pinned XDP link at `link`.
fn linked_program_id(link: &std::path::Path) -> anyhow::Result<u32> {
    let out = Command::new("bpftool")
        .args(["-j", "link", "show", "pinned"])
        .arg(link)
        .output()
        .context("running bpftool")?;
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "bpftool link show pinned {}: {}",
            link.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    info["prog_id"]
        .as_u64()
        .and_then(|id| u32::try_from(id).ok())
        .with_context(|| format!("no prog_id for the link {}: {info}", link.display()))
}

impl Drop for LiveAgent {
    fn drop(&mut self) {
        let _ = self.agent.terminate();
    }
}
