//! Detection end to end in the real kernel: a real `nmap` SYN scan from a
//! client of the lab site (network namespaces, the real agent inline on the
//! gateway, the real `vantage-fleet serve` on the site's internet over TLS)
//! is detected, stored at the collector, and blocked in the kernel by the
//! policy until the block lapses; a client the policy must never block is
//! detected and never blocked; a trace recorded by `vantage run --record`
//! replays, without root, to the same detection.
//!
//! Blocks last 60 s (the shortest `response.block_ttl` the configuration
//! accepts), so the first test takes a little over a minute. Every
//! namespace, pin and directory is removed on drop, also when a test fails.

use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use vantage::detect::{ratio_score, scan::SATURATE};
use vantage_tests::{
    agent::vantage_bin,
    attack::{
        live::{measure_scan, LiveSite},
        response_section,
        tools::{connects, nmap_scan, ToolRun},
        BLOCK_AT, BLOCK_TTL_SECS, SCAN_PORTS, SWEEP_NET,
    },
    harness::require_root,
    site::{SITE_NET, WEB_SERVER},
    wait_until,
};

type Result = anyhow::Result<()>;

/// How long the collector may take to store a detection after the scan.
const DETECTION_WITHIN: Duration = Duration::from_secs(20);
/// A connection that does not open within this counts as stopped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The ports `SCAN_PORTS` (1-100) scans, of which the web server answers
/// one (80): the rest are refused, the scan's failed ports.
const SCANNED: usize = 100;

/// Checks nmap's own account of the scan: every port tried once, port 80
/// open, the other 99 closed (refused by a reset).
fn assert_scan_ran(run: &ToolRun) {
    assert_eq!(run.sent, SCANNED, "{run:?}");
    assert!(
        run.summary
            .iter()
            .any(|l| l.starts_with("80/tcp") && l.contains("open")),
        "{run:?}"
    );
    assert!(
        run.summary
            .iter()
            .any(|l| l.contains("Not shown: 99 closed tcp ports")),
        "{run:?}"
    );
}

/// The agent's log lines saying it blocked `host` (`blocked HOST for Ns: ...`).
fn block_lines(log: &str, host: Ipv4Addr) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(&format!("blocked {host} for ")))
        .map(str::to_owned)
        .collect()
}

/// The stored port scan detection of the whole scan: the scanner, the web
/// server, the saturated score and what the collector shows of it.
fn assert_port_scan(detection: &Value, scanner: Ipv4Addr) {
    assert_eq!(detection["detector"], "port_scan", "{detection}");
    assert_eq!(detection["host"], scanner.to_string(), "{detection}");
    assert_eq!(detection["peer"], WEB_SERVER.to_string(), "{detection}");
    assert_eq!(detection["score"], 100, "{detection}");
    assert_eq!(detection["severity"], "critical", "{detection}");
    assert_eq!(detection["site"], "lab-site", "{detection}");
    assert_ne!(detection["chain"], "broken", "{detection}");
    // 99 refused ports (80 answered); the threshold is the default 15.
    assert_eq!(detection["explanation"]["threshold"], 15.0, "{detection}");
    assert_eq!(detection["explanation"]["observed"], 99.0, "{detection}");
}

#[test]
fn a_real_port_scan_is_detected_blocked_in_the_kernel_and_the_block_lapses() -> Result {
    require_root();
    let site = LiveSite::start("da", 2, &response_section(BLOCK_AT, &[]), None)?;
    let _traffic = site.topology.traffic();
    let (scanner, bystander) = (site.client(0)?, site.client(1)?);
    let ns = scanner.ns.name();
    assert!(connects(ns, WEB_SERVER, 80, CONNECT_TIMEOUT)?);

    let run = nmap_scan(ns, WEB_SERVER, SCAN_PORTS)?;
    assert_scan_ran(&run);
    let detection = site.wait_for_detection("port_scan", scanner.addr, DETECTION_WITHIN, |d| {
        d["score"] == 100
    })?;
    assert_port_scan(&detection, scanner.addr);

    // The policy's block, in the kernel's block map.
    let mut block = None;
    wait_until(
        "the policy block of the scanner",
        Duration::from_secs(10),
        || {
            block = site.active_block(scanner.addr)?;
            Ok(block.is_some())
        },
    )?;
    let blocked_seen = Instant::now();
    let block = block.unwrap_or_default();
    assert_eq!(block["kind"], "host", "{block}");
    assert_eq!(block["origin"], "policy", "{block}");
    assert!(
        block["expires_in_secs"]
            .as_u64()
            .is_some_and(|s| (1..=BLOCK_TTL_SECS).contains(&s)),
        "{block}"
    );
    assert_eq!(block["why"]["detector"], "port_scan", "{block}");
    assert_eq!(block["why"]["alert_id"], detection["alert_id"], "{block}");
    assert_eq!(site.blocks()?.len(), 1, "{:?}", site.blocks()?);

    // The stored revision is the block itself, or (when the first revision
    // that crossed block_at scored under 100) the update that found the
    // scanner already blocked.
    let response = &detection["response"];
    match response["action"].as_str() {
        Some("block") => {
            assert_eq!(response["reason"], "score_threshold", "{detection}");
            assert_eq!(response["ttl_secs"], BLOCK_TTL_SECS, "{detection}");
        }
        Some("notify") => {
            assert_eq!(response["reason"], "already_blocked", "{detection}");
            assert!(detection["updates"].as_u64() >= Some(1), "{detection}");
        }
        other => anyhow::bail!("unexpected action {other:?}: {detection}"),
    }
    let lines = block_lines(&site.agent.log_text(), scanner.addr);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(&format!("for {BLOCK_TTL_SECS}s: port_scan alert ")),
        "{lines:?}"
    );

    // The scanner's traffic stops; the other client's does not.
    assert!(!connects(ns, WEB_SERVER, 80, CONNECT_TIMEOUT)?);
    assert!(connects(
        bystander.ns.name(),
        WEB_SERVER,
        80,
        CONNECT_TIMEOUT
    )?);
    wait_until(
        "the block counting dropped packets",
        Duration::from_secs(5),
        || {
            Ok(site
                .active_block(scanner.addr)?
                .is_some_and(|b| b["hits"].as_u64() > Some(0)))
        },
    )?;

    // Until the block lapses, by itself, a TTL after it was made.
    wait_until(
        "the scanner's traffic passing again",
        Duration::from_secs(BLOCK_TTL_SECS + 20),
        || connects(ns, WEB_SERVER, 80, CONNECT_TIMEOUT),
    )?;
    let lapsed_after = blocked_seen.elapsed();
    assert!(
        lapsed_after >= Duration::from_secs(BLOCK_TTL_SECS - 10),
        "the block lapsed {lapsed_after:?} after it was seen"
    );
    assert_eq!(site.active_block(scanner.addr)?, None);

    // One detection at the collector, for the scanner; one block.
    let port_scans: Vec<Value> = site
        .detections()?
        .into_iter()
        .filter(|d| d["detector"] == "port_scan")
        .collect();
    assert_eq!(port_scans.len(), 1, "{port_scans:?}");
    assert_eq!(block_lines(&site.agent.log_text(), scanner.addr).len(), 1);
    Ok(())
}

#[test]
fn never_block_and_the_allowlist_are_detected_but_never_blocked() -> Result {
    require_root();
    // Client 0 is in response.never_block, client 1 in blocks.allow.
    let sections = format!(
        "{}\n[blocks]\nallow = [\"10.77.1.11/32\"]\n",
        response_section(BLOCK_AT, &["10.77.1.10"])
    );
    let site = LiveSite::start("db", 2, &sections, None)?;
    for index in [0, 1] {
        let client = site.client(index)?;
        let run = nmap_scan(client.ns.name(), WEB_SERVER, SCAN_PORTS)?;
        assert_scan_ran(&run);
        let detection =
            site.wait_for_detection("port_scan", client.addr, DETECTION_WITHIN, |d| {
                d["score"] == 100
            })?;
        assert_port_scan(&detection, client.addr);
        let response = &detection["response"];
        assert_eq!(response["action"], "refused", "{detection}");
        assert_eq!(response["reason"], "never_block", "{detection}");
        assert_eq!(response["ttl_secs"], 0, "{detection}");
        assert_eq!(
            block_lines(&site.agent.log_text(), client.addr),
            Vec::<String>::new()
        );
        assert!(connects(client.ns.name(), WEB_SERVER, 80, CONNECT_TIMEOUT)?);
    }
    assert_eq!(site.blocks()?, Vec::<Value>::new());
    let stats = site.dirs.status()?;
    let policy = &stats["agent"]["detection"]["policy"];
    assert_eq!(policy["blocks"], 0, "{policy}");
    assert_eq!(policy["active_blocks"], 0, "{policy}");
    // One refusal per revision at or above block_at: at least one per client.
    assert!(
        policy["refused_never_block"].as_u64() >= Some(2),
        "{policy}"
    );
    Ok(())
}

/// A directory everyone may read, removed on drop.
struct OpenDir(PathBuf);

impl OpenDir {
    fn new(tag: &str) -> anyhow::Result<OpenDir> {
        let path =
            std::env::temp_dir().join(format!("vantage-replay-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(OpenDir(path))
    }

    /// Copies `file` in, readable by everyone.
    fn copy(&self, file: &Path, name: &str) -> anyhow::Result<PathBuf> {
        let to = self.0.join(name);
        std::fs::copy(file, &to)?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644))?;
        Ok(to)
    }
}

impl Drop for OpenDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_recorded_trace_replays_unprivileged_to_the_same_detection() -> Result {
    require_root();
    let work = OpenDir::new("dc")?;
    let recorded = work.0.join("recording.trace");
    let mut site = LiveSite::start("dc", 2, &response_section(BLOCK_AT, &[]), Some(&recorded))?;
    let traffic = site.topology.traffic();
    let scanner = site.client(0)?;
    let scanner_addr = scanner.addr;
    assert_scan_ran(&nmap_scan(scanner.ns.name(), WEB_SERVER, SCAN_PORTS)?);
    let live = site.wait_for_detection("port_scan", scanner_addr, DETECTION_WITHIN, |d| {
        d["score"] == 100
    })?;
    assert_port_scan(&live, scanner_addr);
    drop(traffic);
    let status = site.agent.terminate()?;
    assert!(status.success(), "{status}: {}", site.agent.log_text());
    let live_blocks = block_lines(&site.agent.log_text(), scanner_addr).len();
    assert_eq!(live_blocks, 1);

    let trace = work.copy(&recorded, "trace")?;
    let config = work.copy(&site.uplink.config, "vantage.toml")?;
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(vantage_bin()?)
        .args(["replay", "--trace"])
        .arg(&trace)
        .arg("--config")
        .arg(&config)
        .args(["--local-net", SITE_NET, "--json"])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}: {}{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()?;
    let of_type =
        |kind: &str| -> Vec<&Value> { lines.iter().filter(|l| l["type"] == kind).collect() };
    let alerts: Vec<&Value> = of_type("alert")
        .into_iter()
        .filter(|a| a["detector"] == "port_scan")
        .collect();
    assert!(!alerts.is_empty(), "{stdout}");
    for alert in &alerts {
        assert_eq!(alert["host"], scanner_addr.to_string(), "{alert}");
        assert_eq!(alert["peer"], WEB_SERVER.to_string(), "{alert}");
        assert_eq!(alert["id"], alerts[0]["id"], "one alert, revised: {alert}");
    }
    assert_eq!(alerts.iter().filter(|a| a["revision"] == 0).count(), 1);
    let last = alerts.last().copied().unwrap_or(&Value::Null);
    assert_eq!(last["score"], live["score"], "{last}");
    assert_eq!(last["severity"], live["severity"], "{last}");
    assert_eq!(
        last["revision"].as_u64().map(|r| r + 1),
        live["revision"].as_u64(),
        "the wire counts revisions from 1: {last}"
    );
    assert_eq!(
        last["explanation"]["observed"], live["explanation"]["observed"],
        "{last}"
    );

    // The same decisions: one block of the scanner for the TTL, and the
    // stored revision's action.
    let decisions: Vec<&Value> = of_type("decision")
        .into_iter()
        .filter(|d| d["alert_id"] == alerts[0]["id"])
        .collect();
    let blocks: Vec<&&Value> = decisions
        .iter()
        .filter(|d| d["action"] == "block")
        .collect();
    assert_eq!(blocks.len(), live_blocks, "{decisions:?}");
    assert_eq!(blocks[0]["target"], scanner_addr.to_string());
    assert_eq!(blocks[0]["ttl_secs"], BLOCK_TTL_SECS);
    let last_decision = decisions.last().copied().unwrap_or(&Value::Null);
    assert_eq!(
        last_decision["action"], live["response"]["action"],
        "{decisions:?}"
    );

    let summary = of_type("summary");
    assert_eq!(summary.len(), 1, "{stdout}");
    let counted: BTreeMap<String, u64> = serde_json::from_value(summary[0]["alerts"].clone())?;
    assert_eq!(counted.get("port_scan"), Some(&1), "{}", summary[0]);
    let stored_port_scans = site
        .detections()?
        .into_iter()
        .filter(|d| d["detector"] == "port_scan")
        .count();
    assert_eq!(stored_port_scans, 1);
    Ok(())
}

#[test]
fn eight_scans_in_turn_are_eight_detections_at_the_collector() -> Result {
    require_root();
    // No blocking: the same scanner scans eight addresses in turn (each a
    // new alert; the per-host cap is 10 an hour).
    let site = LiveSite::start("dl", 1, "", None)?;
    site.topology
        .site
        .internet
        .ip(&["route", "add", "local", SWEEP_NET, "dev", "lo"])?;
    let mut figures = Vec::new();
    for i in 0..8u8 {
        // The agent samples once a second: a scan started right after the
        // last detection was found would always start at the same phase of
        // that second. Each scan starts 370 ms later in it than the last.
        std::thread::sleep(Duration::from_millis(u64::from(i) * 370 % 1000));
        let target = Ipv4Addr::new(203, 0, 113, 130 + i);
        let measured = measure_scan(&site, 0, target, DETECTION_WITHIN)?;
        // The first stored revision scores the ports seen by then (a scan
        // can straddle two samples): the score is the scan score of its own
        // evidence, and that evidence crosses the threshold.
        let explanation = &measured.detection["explanation"];
        let observed = explanation["observed"].as_f64().unwrap_or_default();
        let threshold = explanation["threshold"].as_f64().unwrap_or_default();
        assert_eq!(threshold, 15.0, "{}", measured.detection);
        assert!(
            (threshold..=100.0).contains(&observed),
            "{}",
            measured.detection
        );
        assert_eq!(
            measured.detection["score"],
            u64::from(ratio_score(observed, threshold, SATURATE)),
            "{}",
            measured.detection
        );
        figures.push(measured.latency());
    }
    // Each scan was stored as its own detection, one per target (the time
    // it took is the benchmark's: `cargo xtask bench -- --only latency`).
    let mut peers: Vec<String> = site
        .detections()?
        .into_iter()
        .filter(|d| d["detector"] == "port_scan")
        .map(|d| d["peer"].as_str().unwrap_or_default().to_owned())
        .collect();
    peers.sort();
    let expected: Vec<String> = (0..8u8).map(|i| format!("203.0.113.{}", 130 + i)).collect();
    assert_eq!(peers, expected, "{} scans measured", figures.len());
    Ok(())
}
