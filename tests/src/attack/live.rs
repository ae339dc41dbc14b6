//! A lab site with the real agent on the inline gateway and the real
//! `vantage-fleet serve` on the lab's internet, over TLS through the
//! namespaces: the live detection tests, and the measure of the time from a
//! scan's first packet to its detection stored at the collector (callable
//! from a benchmark).
//!
//! The agent is started here rather than with [`crate::agent::Agent`]
//! because the tests need `vantage run --record FILE`.

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, ExitStatus, Stdio},
    time::{Duration, Instant, SystemTime},
};

use anyhow::{bail, Context as _};
use serde_json::Value;

use super::tools::nmap_scan;
use crate::{
    agent::{vantage_bin, SensorDirs},
    fleet::{Collector, FleetDir, SensorUplink},
    placement::{Placement, Topology},
    site::{Client, COLLECTOR, SITE_NET},
    wait_until,
};

/// A running `vantage run` (optionally with `--record FILE`); killed on drop.
pub struct SensorProcess {
    child: Option<Child>,
    /// Its standard error: the agent's log.
    pub log: PathBuf,
}

impl SensorProcess {
    /// Starts `vantage run` where `topology`'s sensor runs, on its
    /// interfaces, protecting the site's network, with `config` and the
    /// pins and state of `dirs`; waits until its status says running.
    pub fn start(
        topology: &Topology,
        dirs: &SensorDirs,
        config: &Path,
        record: Option<&Path>,
    ) -> anyhow::Result<SensorProcess> {
        std::fs::create_dir_all(&dirs.state_dir)?;
        std::fs::create_dir_all(&dirs.log_dir)?;
        let log = dirs.log_dir.join("agent-live.log");
        let log_file = std::fs::File::create(&log)?;
        let mut command = topology.sensor_ns().net_command(&vantage_bin()?);
        command.arg("run").arg("--config").arg(config);
        for iface in &topology.interfaces {
            command.args(["--iface", iface]);
        }
        command.args(["--local-net", SITE_NET]);
        command
            .arg("--pin-dir")
            .arg(&dirs.pin_dir)
            .arg("--state-dir")
            .arg(&dirs.state_dir);
        if let Some(record) = record {
            command.arg("--record").arg(record);
        }
        command.stdout(Stdio::null()).stderr(log_file);
        let child = command.spawn().context("starting vantage run")?;
        let mut agent = SensorProcess {
            child: Some(child),
            log,
        };
        let started = wait_until(
            "vantage run reports running",
            Duration::from_secs(15),
            || {
                if let Some(child) = agent.child.as_mut() {
                    if let Some(status) = child.try_wait()? {
                        bail!("vantage run exited ({status})");
                    }
                }
                Ok(dirs.status().is_ok_and(|s| s["agent"]["running"] == true))
            },
        );
        if let Err(error) = started {
            bail!("{error:#}: {}", agent.log_text());
        }
        Ok(agent)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait for the agent to exit (it saves its inventory and
    /// leaves the datapath attached).
    pub fn terminate(&mut self) -> anyhow::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("the agent is not running")
        };
        let pid = libc::pid_t::try_from(child.id())?;
        // SAFETY: signalling our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        Ok(child.wait()?)
    }
}

impl Drop for SensorProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The site, the collector, the sensor's identity and the running agent.
/// Fields drop in order: the agent first, the namespaces last.
pub struct LiveSite {
    pub agent: SensorProcess,
    pub collector: Collector,
    pub uplink: SensorUplink,
    pub fleet: FleetDir,
    pub dirs: SensorDirs,
    pub topology: Topology,
}

impl LiveSite {
    /// Builds the `good` placement with `clients` clients (names tagged
    /// `tag`), a collector on the lab's internet, a sensor enrolled for the
    /// site `lab-site` whose configuration is the placement's plus
    /// `sections` (e.g. `[response]`, `[detect.*]`, `[blocks]`), and starts
    /// the agent (recording to `record` if given).
    pub fn start(
        tag: &str,
        clients: usize,
        sections: &str,
        record: Option<&Path>,
    ) -> anyhow::Result<LiveSite> {
        let topology = Topology::build(Placement::Good, tag, clients)?;
        let dirs = SensorDirs::new(tag);
        let fleet = FleetDir::init(tag)?;
        let collector = Collector::start(
            &fleet,
            Some(&topology.site.internet),
            &format!("{COLLECTOR}:7443"),
        )?;
        let uplink = SensorUplink::create(
            &dirs.state_dir.join("uplink"),
            &fleet,
            collector.addr,
            "lab-site",
            &format!(
                "heartbeat_interval = \"5s\"\n{}{sections}",
                topology.config()
            ),
        )?;
        let agent = SensorProcess::start(&topology, &dirs, &uplink.config, record)?;
        Ok(LiveSite {
            agent,
            collector,
            uplink,
            fleet,
            dirs,
            topology,
        })
    }

    /// Client `index` of the site.
    pub fn client(&self, index: usize) -> anyhow::Result<&Client> {
        self.topology
            .clients
            .get(index)
            .with_context(|| format!("the site has no client {index}"))
    }

    /// Every detection stored at the collector (`vantage-fleet alerts
    /// --json`, its `detections` array).
    pub fn detections(&self) -> anyhow::Result<Vec<Value>> {
        detections(&self.fleet)
    }

    /// Waits until the collector holds a detection of `detector` for `host`
    /// that `accept` takes; returns it.
    pub fn wait_for_detection(
        &self,
        detector: &str,
        host: Ipv4Addr,
        within: Duration,
        accept: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let mut found = None;
        let waited = wait_until(
            &format!("a {detector} detection of {host} at the collector"),
            within,
            || {
                found = self
                    .detections()?
                    .into_iter()
                    .find(|d| is_detection(d, detector, host) && accept(d));
                Ok(found.is_some())
            },
        );
        match (waited, found) {
            (Ok(()), Some(found)) => Ok(found),
            (waited, _) => bail!(
                "{:#}; stored: {:?}; agent log: {}",
                waited
                    .err()
                    .unwrap_or_else(|| anyhow::anyhow!("no detection")),
                self.detections().unwrap_or_default(),
                self.agent.log_text()
            ),
        }
    }

    /// The sensor's blocks (`vantage block list --json`).
    pub fn blocks(&self) -> anyhow::Result<Vec<Value>> {
        let text = self.dirs.vantage_ok(&["block", "list", "--json"])?;
        let doc: Value = serde_json::from_str(&text).context("block list --json")?;
        Ok(doc.as_array().cloned().unwrap_or_default())
    }

    /// The active block of host `target`, if any.
    pub fn active_block(&self, target: Ipv4Addr) -> anyhow::Result<Option<Value>> {
        Ok(self
            .blocks()?
            .into_iter()
            .find(|b| b["target"] == target.to_string() && b["active"] == true))
    }
}

/// Every detection stored in `fleet`'s database.
pub fn detections(fleet: &FleetDir) -> anyhow::Result<Vec<Value>> {
    let doc: Value = serde_json::from_str(&fleet.fleet(&["alerts", "--json"])?)
        .context("vantage-fleet alerts --json")?;
    Ok(doc["detections"].as_array().cloned().unwrap_or_default())
}

/// Whether `detection` is of `detector` for `host`.
pub fn is_detection(detection: &Value, detector: &str, host: Ipv4Addr) -> bool {
    detection["detector"] == detector && detection["host"] == host.to_string()
}

/// When the collector stored a detection (its `received_at`).
pub fn received_at(detection: &Value) -> Option<SystemTime> {
    let secs = detection["received_at"].as_f64()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?)
}

/// One scan measured: the scan's first packet and the detection stored.
#[derive(Clone, Debug)]
pub struct ScanLatency {
    pub first_packet: SystemTime,
    pub stored: SystemTime,
    /// The detection as the collector stored it.
    pub detection: Value,
}

impl ScanLatency {
    /// From the first packet to the detection stored at the collector.
    pub fn latency(&self) -> Duration {
        self.stored
            .duration_since(self.first_packet)
            .unwrap_or_default()
    }
}

/// Runs a real `nmap` SYN scan of [`super::SCAN_PORTS`] of `target` from
/// client `scanner` and waits (at most `within`) until the collector stores
/// the port scan detection of that client against `target`. The first
/// packet's time is nmap's packet trace; the stored time the collector's
/// `received_at` (one machine, one clock). Each measure needs a (scanner,
/// target) pair with no open port scan alert: another target, or a new site.
pub fn measure_scan(
    site: &LiveSite,
    scanner: usize,
    target: Ipv4Addr,
    within: Duration,
) -> anyhow::Result<ScanLatency> {
    let client = site.client(scanner)?;
    let asked = Instant::now();
    let run = nmap_scan(client.ns.name(), target, super::SCAN_PORTS)?;
    let first_packet = run
        .first_packet
        .with_context(|| format!("{} printed no packet trace", run.command))?;
    let left = within.saturating_sub(asked.elapsed());
    let detection = site.wait_for_detection("port_scan", client.addr, left, |d| {
        d["peer"] == target.to_string()
    })?;
    let stored = received_at(&detection).context("the detection has no received_at")?;
    Ok(ScanLatency {
        first_packet,
        stored,
        detection,
    })
}
