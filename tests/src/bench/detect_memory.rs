//! The detection benchmark's memory part: a child process (this binary
//! again, `--memory-child`) builds the synthetic site, steps an agent with
//! detection through it until the detectors' state is as full as the
//! traffic makes it, and reports its resident memory at each stage with
//! each detector's tracked keys; the parent prints them. A child of its own
//! so that nothing of the parent's (the timed pipelines, their inputs)
//! counts.

use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use vantage::{config::Config, detect::Detector};

use super::{
    detect_format::{grouped, mib},
    detect_pipeline::{memory, Memory, TickWork},
    detect_site::SyntheticSite,
};

/// What the child does.
#[derive(Clone, Copy, Debug)]
pub struct MemoryRun {
    pub hosts: u32,
    pub cpus: usize,
    /// Events per tick, and ticks before reading the memory.
    pub events: usize,
    pub fill: usize,
    pub seed: u64,
}

/// What the parent prints: resident memory at the end, its highest, and the
/// share of the agent (without the synthetic site's own counters), KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryFigures {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub agent_kib: u64,
}

fn as_json(m: Memory) -> Value {
    json!([m.rss_kib, m.hwm_kib, m.heap_used_kib, m.heap_free_kib])
}

/// The child's work, in this process: the report as JSON.
pub fn child(run: &MemoryRun, config: &Config) -> anyhow::Result<Value> {
    let start = memory()?;
    let mut site = SyntheticSite::new(run.hosts, run.cpus, run.seed);
    let with_site = memory()?;
    let mut agent = TickWork::new(config, true)?;
    for tick in 0..run.fill {
        agent.step(site.tick(run.events));
        // As the agent does once a minute (one tick a second).
        if tick % 60 == 59 {
            vantage::sys::release_free_memory();
        }
    }
    vantage::sys::release_free_memory();
    let filled = memory()?;
    let stats = agent.stats().context("no detection stats")?;
    let mut detectors: Vec<Value> = stats
        .detectors
        .iter()
        .map(|(d, s)| json!([d.name(), s.tracked, s.evicted]))
        .collect();
    detectors.push(json!([
        "passive_dns",
        stats.passive_dns.tracked,
        stats.passive_dns.evicted
    ]));
    Ok(json!({
        "start": as_json(start),
        "site": as_json(with_site),
        "filled": as_json(filled),
        "detectors": detectors,
        "open_alerts": stats.open_alerts,
    }))
}

/// Runs the child (`current_exe --memory-child ...`) and reads its report.
pub fn spawn(run: &MemoryRun) -> anyhow::Result<Value> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .args(["--memory-child", "--hosts", &run.hosts.to_string()])
        .args(["--cpus", &run.cpus.to_string()])
        .args(["--events", &run.events.to_string()])
        .args(["--fill", &run.fill.to_string()])
        .output()
        .context("starting the memory child")?;
    if !out.status.success() {
        bail!(
            "the memory child failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).context("reading the memory child's report")
}

/// The cap of a detector's tracked keys under `config`, and what a key is
/// (`None`: the passive DNS table).
fn cap_of(config: &Config, detector: Option<Detector>) -> (usize, &'static str) {
    let d = &config.detect;
    match detector {
        Some(Detector::PortScan) => (d.port_scan.max_tracked, "(host, peer) pairs"),
        Some(Detector::HostSweep) => (d.host_sweep.max_tracked, "(host, port, transport) keys"),
        Some(Detector::LateralMovement) => (d.lateral_movement.max_tracked, "hosts"),
        Some(Detector::Beacon) => (d.beacon.max_tracked, "(host, peer or domain) keys"),
        Some(Detector::DnsTunnel) => (d.dns_tunnel.max_tracked, "(host, domain) keys"),
        Some(Detector::KnownBad) => (d.known_bad.max_resolved, "(host, address) from answers"),
        Some(Detector::NewDevice) => (d.new_device.max_entries, "inventory entries (each table)"),
        None => (d.passive_dns_addresses as usize, "addresses (passive DNS)"),
    }
}

/// Prints the child's report; the figures for the summary.
pub fn print(report: &Value, run: &MemoryRun, config: &Config) -> MemoryFigures {
    let kib = |key: &str, i: usize| report[key][i].as_u64().unwrap_or(0);
    println!(
        "== Detection: resident memory of a process holding {} hosts' readings, the sampler and the pipeline, after {} ticks at {} events per tick\n",
        grouped(u64::from(run.hosts)),
        run.fill,
        grouped(run.events as u64)
    );
    println!(
        "{:<46} {:>10} {:>10} {:>14} {:>14}",
        "", "VmRSS MiB", "VmHWM MiB", "heap used MiB", "heap free MiB"
    );
    for (what, key) in [
        ("at start (the binary, its libraries)", "start"),
        ("+ the synthetic site's counters (bench only)", "site"),
        ("+ readings, sampler, pipeline, state (filled)", "filled"),
    ] {
        println!(
            "{what:<46} {:>10.1} {:>10.1} {:>14.1} {:>14.1}",
            mib(kib(key, 0)),
            mib(kib(key, 1)),
            mib(kib(key, 2)),
            mib(kib(key, 3))
        );
    }
    let figures = MemoryFigures {
        rss_kib: kib("filled", 0),
        hwm_kib: kib("filled", 1),
        agent_kib: kib("filled", 0).saturating_sub(kib("site", 0).saturating_sub(kib("start", 0))),
    };
    println!(
        "{:<46} {:>10.1}   (VmRSS without the synthetic site's counters)",
        "the agent's share",
        mib(figures.agent_kib)
    );
    println!(
        "heap used = glibc mallinfo2 uordblks + hblkhd (live allocations); heap free = fordblks (freed, kept by the allocator)"
    );
    println!(
        "\n{:<18} {:>9} {:>10} {:>8}  key",
        "detector", "tracked", "evicted", "cap"
    );
    for row in report["detectors"].as_array().into_iter().flatten() {
        let name = row[0].as_str().unwrap_or("?");
        let detector = Detector::ALL.iter().copied().find(|d| d.name() == name);
        let (cap, key) = cap_of(config, detector);
        println!(
            "{name:<18} {:>9} {:>10} {:>8}  {key}",
            grouped(row[1].as_u64().unwrap_or(0)),
            grouped(row[2].as_u64().unwrap_or(0)),
            grouped(cap as u64)
        );
    }
    println!("open alerts: {}\n", report["open_alerts"]);
    figures
}
