//! The uplink end to end over real TLS: the real agent on an inline gateway in
//! network namespaces, the real `vantage-fleet serve` out on the site's
//! "internet", a real SQLite file. Every alert the sensor committed must be
//! in the collector's store exactly once, through a collector outage, a
//! `kill -9` of the agent mid-send and a torn spool tail; a full spool evicts
//! exactly what the README says.

use std::{collections::BTreeSet, io::Write as _, time::Duration};

use serde_json::Value;
use vantage_tests::{
    agent::{Agent, SensorDirs},
    fleet::{Collector, FleetDir, SensorUplink},
    harness::require_root,
    site::{Site, COLLECTOR, SITE_NET},
    wait_until,
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
        let collector =
            Collector::start(&fleet, Some(&site.internet), &format!("{COLLECTOR}:7443"))?;
        let uplink = SensorUplink::create(
            &dirs.state_dir,
            &fleet,
            collector.addr,
            "acme-dental",
            extra_uplink,
        )?;
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
    assert_eq!(
        distinct.len(),
        stored_positions.len(),
        "an alert was stored twice"
    );
    let committed: BTreeSet<_> = committed.iter().copied().collect();
    assert_eq!(
        distinct, committed,
        "stored alerts differ from committed ones"
    );
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

#[test]
fn alerts_and_heartbeats_reach_the_fleet_view() -> Result {
    let rig = Rig::build("ua", "heartbeat_interval = \"1s\"")?;
    let agent = rig.start_agent()?;
    for i in 0..5 {
        let out = rig.raise(
            if i == 4 { "critical" } else { "high" },
            &format!("alert {i}"),
            10,
        )?;
        assert!(out.contains("committed"), "{out}");
    }
    let alerts = rig.fleet.wait_for_alerts(5, Duration::from_secs(20))?;
    assert_exactly_once(&rig.uplink.committed_alerts(), &alerts);
    let details: Vec<&str> = alerts.iter().filter_map(|a| a["detail"].as_str()).collect();
    assert_eq!(
        details,
        ["alert 0", "alert 1", "alert 2", "alert 3", "alert 4"]
    );
    assert_eq!(alerts[4]["severity"], "critical");
    // The severity filter applies before the limit: the one critical alert,
    // although four high ones were stored before it.
    let critical: Value = serde_json::from_str(&rig.fleet.fleet(&[
        "alerts",
        "--json",
        "--min-severity",
        "critical",
        "--limit",
        "1",
    ])?)?;
    let critical = critical["alerts"].as_array().cloned().unwrap_or_default();
    assert_eq!(critical.len(), 1);
    assert_eq!(critical[0]["detail"], "alert 4");
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
    let text = rig.dirs.vantage_ok(&[
        "log",
        "--config",
        &rig.uplink.config.display().to_string(),
        "--event",
        "acked",
    ])?;
    assert!(text.lines().count() >= 7, "{text}");
    // Three missed heartbeats (1 s apart) and the sensor is silent.
    let mut agent = agent;
    agent.kill9()?;
    wait_until(
        "the sensor to count as silent",
        Duration::from_secs(10),
        || {
            let report = rig.fleet.sensors()?;
            Ok(sensor(&report, &rig.uplink.sensor_id)["liveness"] == "silent")
        },
    )?;
    let report = rig.fleet.sensors()?;
    let quiet = sensor(&report, &rig.uplink.sensor_id)["silent_for_secs"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        quiet > 3.0,
        "silent after {quiet} s, before three intervals"
    );
    Ok(())
}

#[test]
fn a_collector_outage_loses_nothing() -> Result {
    let mut rig = Rig::build("uo", "retry_min = \"1s\"\nretry_max = \"2s\"")?;
    let _agent = rig.start_agent()?;
    for i in 0..10 {
        rig.raise("medium", &format!("before {i}"), 10)?;
    }
    rig.fleet.wait_for_alerts(10, Duration::from_secs(20))?;
    rig.collector.stop()?;
    for i in 0..15 {
        let out = rig.raise("medium", &format!("during {i}"), 10)?;
        assert!(out.contains("committed"), "{out}");
    }
    // Nothing new can have arrived while the collector was down.
    assert_eq!(rig.fleet.alerts()?.len(), 10);
    std::thread::sleep(Duration::from_secs(3));
    rig.collector = Collector::start(
        &rig.fleet,
        Some(&rig.site.internet),
        &format!("{COLLECTOR}:7443"),
    )?;
    let alerts = rig.fleet.wait_for_alerts(25, Duration::from_secs(30))?;
    // Give resends a moment to show up as duplicates rather than new rows.
    std::thread::sleep(Duration::from_secs(2));
    let alerts_after = rig.fleet.alerts()?;
    assert_eq!(alerts_after.len(), alerts.len());
    assert_eq!(alerts.len(), 25);
    assert_exactly_once(&rig.uplink.committed_alerts(), &alerts);
    let report = rig.fleet.sensors()?;
    let me = sensor(&report, &rig.uplink.sensor_id);
    assert_eq!(me["missing"], 0, "{me}");
    let log = rig.uplink.log();
    assert!(
        log.iter().any(|e| e["event"] == "disconnected"),
        "the outage is in the sensor's log"
    );
    Ok(())
}

#[test]
fn kill_9_mid_send_and_a_torn_spool_tail_lose_nothing_committed() -> Result {
    let rig = Rig::build("uk", "")?;
    let mut agent = rig.start_agent()?;
    for i in 0..3 {
        rig.raise("low", &format!("early {i}"), 10)?;
    }
    rig.fleet.wait_for_alerts(3, Duration::from_secs(20))?;
    // Freeze the collector: the agent goes on committing and sending, but no
    // ack comes back. Then kill the agent with everything in flight.
    rig.collector.pause()?;
    for i in 0..50 {
        rig.raise("low", &format!("in flight {i}"), 0)?;
    }
    wait_until("all 53 alerts sent", Duration::from_secs(20), || {
        let log = rig.uplink.log();
        let sent: BTreeSet<(u64, u64)> = log
            .iter()
            .filter(|e| e["event"] == "sent")
            .filter_map(|e| Some((e["epoch"].as_u64()?, e["seq"].as_u64()?)))
            .collect();
        let alerts = rig.uplink.committed_alerts();
        Ok(alerts.len() == 53 && alerts.iter().all(|p| sent.contains(p)))
    })?;
    agent.kill9()?;
    let acked_at_kill = rig
        .uplink
        .log()
        .iter()
        .filter(|e| e["event"] == "acked")
        .count();
    // A power cut mid-append: a record header promising 100 bytes, 30 written.
    let spool_file = rig.uplink.spool_dir.join("spool");
    let mut torn = std::fs::OpenOptions::new().append(true).open(&spool_file)?;
    torn.write_all(&100u32.to_le_bytes())?;
    torn.write_all(&0xdead_beefu32.to_le_bytes())?;
    torn.write_all(&[0x5a; 30])?;
    drop(torn);
    rig.collector.resume()?;
    // More alerts queue up while no agent runs.
    for i in 0..10 {
        rig.raise("low", &format!("queued {i}"), 0)?;
    }

    let _agent = rig.start_agent()?;
    wait_until("the outbox to drain", Duration::from_secs(20), || {
        let outbox = rig.uplink.spool_dir.join("outbox");
        Ok(std::fs::read_dir(outbox)?.count() == 0)
    })?;
    let committed = rig.uplink.committed_alerts();
    // One request may be committed twice if the kill fell between committing
    // it and deleting its outbox file; each commit is its own envelope.
    assert_eq!(committed.len(), 63);
    // The kill did interrupt the work: 50 alerts were sent but not acknowledged.
    assert!(acked_at_kill <= 4, "{acked_at_kill} acked before the kill");
    rig.fleet
        .wait_for_alerts(committed.len(), Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_secs(1));
    let alerts = rig.fleet.alerts()?;
    assert_exactly_once(&committed, &alerts);
    let epochs: BTreeSet<u64> = committed.iter().map(|&(epoch, _)| epoch).collect();
    assert_eq!(epochs.len(), 2, "the restart began a second boot epoch");

    // The torn tail was cut back to the last whole record, counted and logged.
    let log = rig.uplink.log();
    let torn_entries: Vec<&Value> = log.iter().filter(|e| e["event"] == "torn").collect();
    assert_eq!(torn_entries.len(), 1, "{torn_entries:?}");
    assert_eq!(torn_entries[0]["bytes"], 38);
    // The frozen collector stored what was already on the wire; the restarted
    // agent sent it again, and the collector answered "duplicate".
    let report = rig.fleet.sensors()?;
    let duplicates = sensor(&report, &rig.uplink.sensor_id)["counters"]["duplicate"]
        .as_u64()
        .unwrap_or(0);
    assert!(duplicates >= 1, "{report}");
    wait_until(
        "a heartbeat reporting the torn record",
        Duration::from_secs(10),
        || {
            let report = rig.fleet.sensors()?;
            Ok(
                sensor(&report, &rig.uplink.sensor_id)["last_heartbeat"]["health"]["spool_torn"]
                    == 1,
            )
        },
    )?;
    Ok(())
}

#[test]
fn a_full_spool_evicts_the_oldest_lowest_severity_first() -> Result {
    // Room for roughly 130 envelopes; one heartbeat at start, then none.
    let mut rig = Rig::build(
        "ue",
        "spool_max_bytes = 16384\nheartbeat_interval = \"1h\"\nretry_min = \"1s\"\nretry_max = \"1s\"",
    )?;
    rig.collector.stop()?;
    let _agent = rig.start_agent()?;
    let mut raised = Vec::new();
    for i in 0..20 {
        raised.push(("critical", format!("c{i}")));
    }
    for i in 0..150 {
        raised.push(("info", format!("i{i}")));
    }
    for i in 0..20 {
        raised.push(("high", format!("h{i}")));
    }
    for (severity, detail) in &raised {
        rig.raise(severity, detail, 0)?;
    }
    wait_until("the outbox to drain", Duration::from_secs(30), || {
        let outbox = rig.uplink.spool_dir.join("outbox");
        Ok(std::fs::read_dir(outbox)?.count() == 0)
    })?;
    let log = rig.uplink.log();
    let committed: Vec<(u64, u64)> = rig.uplink.committed_alerts();
    assert_eq!(committed.len(), 190);
    let evicted: Vec<(u64, u64, String)> = log
        .iter()
        .filter(|e| e["event"] == "evicted")
        .filter_map(|e| {
            Some((
                e["epoch"].as_u64()?,
                e["seq"].as_u64()?,
                e["severity"].as_str()?.to_owned(),
            ))
        })
        .collect();
    assert!(!evicted.is_empty(), "190 alerts cannot fit in 16 KiB");
    assert!(log.iter().all(|e| e["event"] != "refused"));
    // Only info alerts were evicted, and exactly the oldest ones.
    assert!(
        evicted.iter().all(|(_, _, rank)| rank == "info"),
        "{evicted:?}"
    );
    // Alerts are committed in raise order: criticals, then infos, then highs.
    let info_positions: Vec<(u64, u64)> = committed[20..170].to_vec();
    let evicted_positions: Vec<(u64, u64)> = evicted.iter().map(|(e, s, _)| (*e, *s)).collect();
    assert_eq!(evicted_positions, info_positions[..evicted.len()].to_vec());

    rig.collector = Collector::start(
        &rig.fleet,
        Some(&rig.site.internet),
        &format!("{COLLECTOR}:7443"),
    )?;
    let expected = 190 - evicted.len();
    let alerts = rig
        .fleet
        .wait_for_alerts(expected, Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(rig.fleet.alerts()?.len(), expected);
    let survivors: Vec<(u64, u64)> = committed
        .iter()
        .copied()
        .filter(|p| !evicted_positions.contains(p))
        .collect();
    assert_exactly_once(&survivors, &alerts);
    let by_severity = |s: &str| alerts.iter().filter(|a| a["severity"] == s).count();
    assert_eq!(by_severity("critical"), 20);
    assert_eq!(by_severity("high"), 20);
    assert_eq!(by_severity("info"), 150 - evicted.len());
    // The collector sees the evicted sequence numbers as missing.
    let report = rig.fleet.sensors()?;
    assert_eq!(
        sensor(&report, &rig.uplink.sensor_id)["missing"],
        evicted.len() as u64
    );
    Ok(())
}
