//! Faults the agent survives: its state directory's filesystem fills up
//! while it runs (a small tmpfs, filled to the last byte). The XDP program
//! keeps counting, the agent keeps running and sending heartbeats that carry
//! the fault, `vantage status` says the state file is stale, and once space
//! returns the state file is fresh again and tells what happened.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{bail, Context as _};
use serde_json::Value;
use vantage_tests::{
    agent::{Agent, SensorDirs},
    fleet::{Collector, FleetDir, SensorUplink},
    harness::require_root,
    services::ping,
    site::{Site, COLLECTOR, SITE_NET, WEB_SERVER},
    wait_until,
};

type Result = anyhow::Result<()>;

/// A tmpfs of a fixed size mounted for one test, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> anyhow::Result<Tmpfs> {
        if path.exists() {
            bail!(
                "{} exists already; refusing to mount over it",
                path.display()
            );
        }
        std::fs::create_dir_all(path)?;
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .context("running mount")?;
        if !status.success() {
            let _ = std::fs::remove_dir(path);
            bail!("mount -t tmpfs at {} failed ({status})", path.display());
        }
        Ok(Tmpfs {
            path: path.to_path_buf(),
        })
    }

    /// Writes a file until the filesystem is full; returns it.
    fn fill(&self) -> anyhow::Result<PathBuf> {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler)?;
        let block = vec![0u8; 4096];
        loop {
            match file.write_all(&block) {
                Ok(()) => {}
                Err(error) if error.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(error) => return Err(error.into()),
            }
        }
        // Also take whatever a small write could still use.
        while file.write_all(&[0u8; 64]).is_ok() {}
        Ok(filler)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
    }
}

fn health(fleet: &FleetDir) -> anyhow::Result<Value> {
    let sensors = fleet.sensors()?;
    Ok(sensors["sensors"][0]["last_heartbeat"]["health"].clone())
}

fn icmp_out(status: &Value, addr: &str) -> u64 {
    status["hosts"]
        .as_array()
        .and_then(|hosts| hosts.iter().find(|h| h["addr"] == addr))
        .and_then(|h| h["icmp_out"].as_u64())
        .unwrap_or(0)
}

#[test]
fn a_full_state_directory_is_survived_reported_and_recovered_from() -> Result {
    require_root();
    let site = Site::build("fs", 1)?;
    let mut dirs = SensorDirs::new("fs");
    let fleet = FleetDir::init("fs")?;
    let collector = Collector::start(&fleet, Some(&site.internet), &format!("{COLLECTOR}:7443"))?;
    let uplink = SensorUplink::create(
        &dirs.log_dir.join("identity"),
        &fleet,
        collector.addr,
        "acme-dental",
        "heartbeat_interval = \"1s\"",
    )?;
    let state = Tmpfs::mount(
        &std::env::temp_dir().join(format!("vantage-test-{}-fs-state", std::process::id())),
        "64k",
    )?;
    dirs.state_dir = state.path.clone();
    let agent = Agent::start_with_config(
        &site.gateway,
        &[&site.gateway_lan, &site.gateway_wan],
        &[SITE_NET],
        &dirs,
        Some(&uplink.config),
    )?;
    let client = &site.clients[0];
    let me = client.addr.to_string();
    wait_until("a first heartbeat", Duration::from_secs(15), || {
        Ok(health(&fleet)?["faults"] == 0)
    })?;

    let filler = state.fill()?;
    let before = icmp_out(&dirs.status()?, &me);
    assert_eq!(ping(&client.ns, WEB_SERVER, 3)?, 3);

    // Heartbeats keep coming and carry the fault: bit 1 is the state file.
    wait_until(
        "a heartbeat reporting the state-file fault",
        Duration::from_secs(15),
        || {
            let health = health(&fleet)?;
            Ok(health["failing"].as_u64() == Some(1) && health["faults"].as_u64() >= Some(1))
        },
    )?;
    let envelopes_during = fleet.sensors()?["sensors"][0]["envelopes"]
        .as_u64()
        .unwrap_or(0);
    wait_until(
        "more heartbeats during the fault",
        Duration::from_secs(10),
        || {
            Ok(fleet.sensors()?["sensors"][0]["envelopes"]
                .as_u64()
                .unwrap_or(0)
                >= envelopes_during + 3)
        },
    )?;
    // `vantage status` still reads the kernel's counters, and says the agent
    // is alive but its state file stale.
    wait_until(
        "status to call the state file stale",
        Duration::from_secs(15),
        || {
            let status = dirs.status()?;
            Ok(status["agent"]["running"] == true && status["agent"]["stale"] == true)
        },
    )?;
    assert_eq!(
        icmp_out(&dirs.status()?, &me),
        before + 3,
        "{}",
        agent.log_text()
    );

    // Space returns: the next tick writes the state file, with the story.
    std::fs::remove_file(&filler)?;
    wait_until(
        "a fresh state file after recovery",
        Duration::from_secs(10),
        || {
            let status = dirs.status()?;
            Ok(status["agent"]["stale"] == false
                && status["agent"]["faults"]["state_file"]["failing"] == false)
        },
    )?;
    let status = dirs.status()?;
    let fault = &status["agent"]["faults"]["state_file"];
    assert!(fault["count"].as_u64() >= Some(3), "{fault}");
    assert!(
        fault["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("No space left on device")),
        "{fault}"
    );
    wait_until(
        "a heartbeat with nothing failing",
        Duration::from_secs(10),
        || {
            let health = health(&fleet)?;
            Ok(health["failing"] == 0 && health["faults"].as_u64() >= Some(3))
        },
    )?;
    let log = agent.log_text();
    assert!(
        log.contains("state_file: ") && log.contains("recovered after"),
        "{log}"
    );
    drop(agent);
    drop(state);
    Ok(())
}
