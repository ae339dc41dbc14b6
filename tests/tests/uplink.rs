//! The uplink end to end over real TLS: the real agent on an inline gateway in
//! network namespaces, the real `vantage-fleet serve` out on the site's
//! "internet", a real SQLite file. Every alert the sensor committed must be
//! in the collector's store exactly once, through a collector outage, a
//! `kill -9` of the agent mid-send and a torn spool tail; a full spool evicts
//! exactly what the README says.

use std::{
    collections::BTreeSet,
    io::Write as _,
    time::{Duration, Instant},
};

use serde_json::Value;
use vantage_tests::{
    agent::{Agent, SensorDirs},
    fleet::{Collector, FleetDir, SensorUplink},
    harness::require_root,
    site::{Site, COLLECTOR, SITE_NET},
};

type Result = anyhow::Result<()>;

struct Rig {
    site: Site,
    dirs: SensorDirs,
    fleet: FleetDir,
    collector: Collector,
    uplink: SensorUplink,
}

impl Rig {
    fn build(tag: &str, extra_uplink: &str) -> anyhow::Result<Rig> {
        require_root();
        let site = Site::build(tag, 1)?;
        let dirs = SensorDirs::new(tag);
        let fleet = FleetDir::init(tag)?;
        let collector = Collector::start(&fleet, Some(&site.internet), &format!("{COLLECTOR}:7443"))?;
        let uplink = SensorUplink::create(&dirs.state_dir, &fleet, collector.addr, "acme-dental", extra_uplink)?;
        Ok(Rig {
            site,
            dirs,
            fleet,
            collector,
            uplink,
        })
    }

    fn start_agent(&self) -> anyhow::Result<Agent> {
        Agent::start_with_config(
            &self.site.gateway,
            &[&self.site.gateway_lan, &self.site.gateway_wan],
            &[SITE_NET],
            &self.dirs,
            Some(&self.uplink.config),
        )
    }

    /// `vantage alert` through the outbox; `wait` 0 returns at once.
    fn raise(&self, severity: &str, detail: &str, wait: u64) -> anyhow::Result<String> {
        let config = self.uplink.config.display().to_string();
        self.dirs.vantage_ok(&[
            "alert",
            "--config",
            &config,
            "--severity",
            severity,
            "--kind",
            "test",
            "--host",
            "10.77.1.10",
            "--detail",
            detail,
            "--wait",
            &wait.to_string(),
        ])
    }
}

fn positions(alerts: &[Value]) -> Vec<(u64, u64)> {
    alerts
        .iter()
        .filter_map(|a| Some((a["epoch"].as_u64()?, a["seq"].as_u64()?)))
        .collect()
}

/// Asserts the store holds each committed alert exactly once and nothing else.
fn assert_exactly_once(committed: &[(u64, u64)], stored: &[Value]) {
    let stored_positions = positions(stored);
    let distinct: BTreeSet<_> = stored_positions.iter().copied().collect();
    assert_eq!(distinct.len(), stored_positions.len(), "an alert was stored twice");
    let committed: BTreeSet<_> = committed.iter().copied().collect();
    assert_eq!(distinct, committed, "stored alerts differ from committed ones");
    for alert in stored {
        assert_ne!(alert["chain"], "broken", "{alert}");
    }
}

fn sensor<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["sensors"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["sensor"] == id))
        .unwrap_or(&Value::Null)
}

fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> anyhow::Result<bool>) -> Result {
    let deadline = Instant::now() + within;
    while !check()? {
        if Instant::now() > deadline {
            anyhow::bail!("{what} did not happen within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

#[test]
fn alerts_and_heartbeats_reach_the_fleet_view() -> Result {
    let rig = Rig::build("ua", "heartbeat_interval = \"1s\"")?;
    let agent = rig.start_agent()?;
    for i in 0..5 {
        let out = rig.raise(if i == 4 { "critical" } else { "high" }, &format!("alert {i}"), 10)?;
        assert!(out.contains("committed"), "{out}");
    }
    let alerts = rig.fleet.wait_for_alerts(5, Duration::from_secs(20))?;
    assert_exactly_once(&rig.uplink.committed_alerts(), &alerts);
    let details: Vec<&str> = alerts.iter().filter_map(|a| a["detail"].as_str()).collect();
    assert_eq!(details, ["alert 0", "alert 1", "alert 2", "alert 3", "alert 4"]);
    assert_eq!(alerts[4]["severity"], "critical");
    assert_eq!(alerts[0]["site"], "acme-dental");
    assert_eq!(alerts[0]["host"], "10.77.1.10");
    // Heartbeats every second: the sensor reports, with its health.
    wait_until("two heartbeats", Duration::from_secs(10), || {
        let report = rig.fleet.sensors()?;
        let me = sensor(&report, &rig.uplink.sensor_id);
        Ok(me["liveness"] == "reporting" && me["envelopes"].as_u64().unwrap_or(0) >= 7)
    })?;
    let report = rig.fleet.sensors()?;
    let me = sensor(&report, &rig.uplink.sensor_id);
    assert_eq!(me["alerts"]["high"], 4, "{me}");
    assert_eq!(me["alerts"]["critical"], 1, "{me}");
    assert_eq!(me["missing"], 0, "{me}");
    assert_eq!(me["broken"], 0, "{me}");
    let health = &me["last_heartbeat"]["health"];
    assert_eq!(health["interfaces"], 2, "{me}");
    assert_eq!(health["spool_torn"], 0, "{me}");
    // Every committed envelope was acknowledged, per the sensor's own log.
    let log = rig.uplink.log();
    let count = |event: &str| log.iter().filter(|e| e["event"] == event).count();
    assert!(count("committed") >= 7);
    wait_until("all acks logged", Duration::from_secs(5), || {
        let log = rig.uplink.log();
        let committed = log.iter().filter(|e| e["event"] == "committed").count();
        let acked = log.iter().filter(|e| e["event"] == "acked").count();
        Ok(acked >= committed)
    })?;
    // The human-readable log names the alerts.
    let text = rig.dirs.vantage_ok(&["log", "--config", &rig.uplink.config.display().to_string(), "--event", "acked"])?;
    assert!(text.lines().count() >= 7, "{text}");
    drop(agent);
    Ok(())
}
