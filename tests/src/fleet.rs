//! The real `vantage-fleet` collector for tests and the lab: a private
//! directory with its TLS identity and database, a `serve` process (in a
//! namespace or on loopback), and the fleet CLI against its database. Also
//! the sensor's side: a key, and a config file whose `[uplink]` points at it.

use std::{
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use serde_json::Value;

use crate::{agent::vantage_bin, netns::Namespace};

/// Where `vantage-fleet` is: `$VANTAGE_FLEET_BIN`, else beside `vantage`.
pub fn fleet_bin() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("VANTAGE_FLEET_BIN") {
        return Ok(PathBuf::from(path));
    }
    let candidate = vantage_bin()?.with_file_name("vantage-fleet");
    if candidate.is_file() {
        return Ok(candidate);
    }
    bail!("cannot find vantage-fleet: build it (`cargo build -p vantage-fleet`) or set VANTAGE_FLEET_BIN")
}

/// A collector's directory: key, certificate, database. Removed on drop.
pub struct FleetDir {
    pub dir: PathBuf,
    pub pin: String,
}

impl FleetDir {
    /// `vantage-fleet init` into a directory private to this process and `tag`.
    pub fn init(tag: &str) -> anyhow::Result<FleetDir> {
        let dir =
            std::env::temp_dir().join(format!("vantage-fleet-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(fleet_bin()?)
            .args([
                "--dir",
                &dir.display().to_string(),
                "init",
                "--name",
                "vantage-fleet",
            ])
            .output()?;
        if !out.status.success() {
            bail!(
                "vantage-fleet init: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let pin = text
            .lines()
            .find_map(|line| line.strip_prefix("pin "))
            .context("vantage-fleet init printed no pin")?
            .to_owned();
        Ok(FleetDir { dir, pin })
    }

    /// Runs a fleet command; fails on a non-zero exit.
    pub fn fleet(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(fleet_bin()?)
            .arg("--dir")
            .arg(&self.dir)
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!(
                "vantage-fleet {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn sensors(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.fleet(&["sensors", "--json"])?).context("sensors --json")
    }

    /// Every stored alert, the broken ones too.
    pub fn alerts(&self) -> anyhow::Result<Vec<Value>> {
        let doc: Value =
            serde_json::from_str(&self.fleet(&["alerts", "--json", "--include-broken"])?)?;
        Ok(doc["alerts"].as_array().cloned().unwrap_or_default())
    }

    /// Polls until `alerts()` holds at least `n` alerts.
    pub fn wait_for_alerts(&self, n: usize, within: Duration) -> anyhow::Result<Vec<Value>> {
        let deadline = Instant::now() + within;
        loop {
            let alerts = self.alerts()?;
            if alerts.len() >= n {
                return Ok(alerts);
            }
            if Instant::now() > deadline {
                bail!(
                    "only {} of {n} alerts arrived within {within:?}",
                    alerts.len()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for FleetDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `vantage-fleet serve`.
pub struct Collector {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Collector {
    /// Starts `serve` on `listen` (in `ns`'s network if given) and waits
    /// until it prints the address it listens on.
    pub fn start(
        fleet: &FleetDir,
        ns: Option<&Namespace>,
        listen: &str,
    ) -> anyhow::Result<Collector> {
        let log = fleet.dir.join(format!("serve-{}.log", std::process::id()));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let bin = fleet_bin()?;
        let mut command = match ns {
            Some(ns) => ns.net_command(&bin),
            None => Command::new(&bin),
        };
        command
            .arg("--dir")
            .arg(&fleet.dir)
            .args(["serve", "--listen", listen])
            .stdout(Stdio::piped())
            .stderr(log_file);
        let mut child = command.spawn().context("starting vantage-fleet serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(15))
            .context("vantage-fleet serve did not start within 15 s")?;
        let addr = line
            .split_whitespace()
            .nth(3)
            .and_then(|a| a.parse().ok())
            .with_context(|| {
                format!(
                    "unexpected first line {line:?}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })?;
        Ok(Collector {
            child: Some(child),
            addr,
            log,
        })
    }

    /// SIGSTOP: the process freezes with its sockets open, as a hung collector.
    pub fn pause(&self) -> anyhow::Result<()> {
        self.signal(libc::SIGSTOP)
    }

    /// SIGCONT after [`Collector::pause`].
    pub fn resume(&self) -> anyhow::Result<()> {
        self.signal(libc::SIGCONT)
    }

    fn signal(&self, signal: libc::c_int) -> anyhow::Result<()> {
        let child = self.child.as_ref().context("collector not running")?;
        // SAFETY: signalling our own child.
        if unsafe { libc::kill(child.id() as libc::pid_t, signal) } != 0 {
            bail!("kill({signal}): {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            // A paused collector must run again to act on SIGTERM.
            self.signal(libc::SIGCONT)?;
            self.signal(libc::SIGTERM)?;
        }
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    child.kill()?;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A sensor identity and an uplink config pointing at a collector.
pub struct SensorUplink {
    pub key: PathBuf,
    pub spool_dir: PathBuf,
    pub config: PathBuf,
    pub public_key: String,
    pub sensor_id: String,
}

impl SensorUplink {
    /// Makes a key in `dir`, enrolls it at `fleet` for `site`, and writes a
    /// config with `[uplink]` towards `collector`; `extra` is appended to the
    /// `[uplink]` section.
    pub fn create(
        dir: &Path,
        fleet: &FleetDir,
        collector: SocketAddr,
        site: &str,
        extra: &str,
    ) -> anyhow::Result<SensorUplink> {
        std::fs::create_dir_all(dir)?;
        let key = dir.join("sensor.key");
        let out = Command::new(vantage_bin()?)
            .args(["keygen", "--out", &key.display().to_string()])
            .output()?;
        if !out.status.success() {
            bail!("vantage keygen: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .map(|rest| rest.trim().to_owned())
                .with_context(|| format!("keygen printed no {name}: {text}"))
        };
        let public_key = field("public key")?;
        let sensor_id = field("sensor id")?;
        fleet.fleet(&[
            "enroll",
            "--public-key",
            &public_key,
            "--site",
            site,
            "--name",
            "gw",
        ])?;
        let spool_dir = dir.join("spool");
        let config = dir.join("vantage.toml");
        std::fs::write(
            &config,
            format!(
                "[uplink]\ncollector = \"{collector}\"\nserver_name = \"vantage-fleet\"\npin = \"{}\"\nkey = \"{}\"\nspool_dir = \"{}\"\n{extra}\n",
                fleet.pin,
                key.display(),
                spool_dir.display()
            ),
        )?;
        Ok(SensorUplink {
            key,
            spool_dir,
            config,
            public_key,
            sensor_id,
        })
    }

    /// The uplink log, parsed.
    pub fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.spool_dir.join("uplink.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// (epoch, seq) of every alert the sensor committed, per its log.
    pub fn committed_alerts(&self) -> Vec<(u64, u64)> {
        self.log()
            .iter()
            .filter(|e| e["event"] == "committed" && e["kind"] == "alert")
            .filter_map(|e| Some((e["epoch"].as_u64()?, e["seq"].as_u64()?)))
            .collect()
    }
}
