//! The real `vantage` binary, run as the agent inside a namespace and as the
//! CLI against its pins, for the traffic tests and the lab.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};

use crate::netns::Namespace;

/// Where the `vantage` binary is: `$VANTAGE_BIN`, else next to the test binary's directory.
pub fn vantage_bin() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("VANTAGE_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    for dir in exe.ancestors().skip(1).take(3) {
        let candidate = dir.join("vantage");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("cannot find the vantage binary: build it (`cargo build -p sensor-user`) or set VANTAGE_BIN")
}

/// The entry of host `addr` in a `vantage status --json` report.
pub fn status_host<'a>(status: &'a serde_json::Value, addr: &str) -> Option<&'a serde_json::Value> {
    status["hosts"]
        .as_array()?
        .iter()
        .find(|h| h["addr"] == addr)
}

/// One counter of host `addr` in a status report; 0 when the host is absent.
pub fn status_counter(status: &serde_json::Value, addr: &str, field: &str) -> u64 {
    status_host(status, addr)
        .and_then(|h| h[field].as_u64())
        .unwrap_or(0)
}

/// A pin directory and state directory private to one test; removing the
/// pins on drop detaches the program.
pub struct SensorDirs {
    pub pin_dir: PathBuf,
    pub state_dir: PathBuf,
    /// Where the agent's own log (its stderr) goes: the state directory,
    /// unless a test needs that directory to fail.
    pub log_dir: PathBuf,
}

impl SensorDirs {
    pub fn new(tag: &str) -> SensorDirs {
        let name = format!("vantage-test-{}-{tag}", std::process::id());
        let state_dir = std::env::temp_dir().join(&name);
        SensorDirs {
            pin_dir: Path::new("/sys/fs/bpf").join(&name),
            log_dir: state_dir.clone(),
            state_dir,
        }
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--pin-dir".into(),
            self.pin_dir.display().to_string(),
            "--state-dir".into(),
            self.state_dir.display().to_string(),
        ]
    }

    /// Runs a `vantage` CLI command against these dirs.
    pub fn vantage(&self, args: &[&str]) -> anyhow::Result<Output> {
        let out = Command::new(vantage_bin()?)
            .args(args)
            .args(self.args())
            .output()?;
        Ok(out)
    }

    /// Like [`SensorDirs::vantage`] but fails on a non-zero exit.
    pub fn vantage_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.vantage(args)?;
        if !out.status.success() {
            bail!(
                "vantage {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `vantage status --json`.
    pub fn status(&self) -> anyhow::Result<serde_json::Value> {
        let text = self.vantage_ok(&["status", "--json"])?;
        serde_json::from_str(&text).context("parsing vantage status --json")
    }

    /// `vantage status --json` once the agent's own part (events, interfaces)
    /// has been refreshed after this call; kernel counters are always live.
    pub fn fresh_status(&self) -> anyhow::Result<serde_json::Value> {
        let asked = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs_f64();
        let within = crate::scaled(Duration::from_secs(5));
        let deadline = Instant::now() + within;
        loop {
            let status = self.status()?;
            if status["agent"]["updated_at"]
                .as_f64()
                .is_some_and(|t| t >= asked)
            {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "the agent did not refresh its state within {within:?}: {}",
                    status["agent"]
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SensorDirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.pin_dir);
        let _ = std::fs::remove_dir_all(&self.state_dir);
        let _ = std::fs::remove_dir_all(&self.log_dir);
    }
}

/// A running `vantage run`.
pub struct Agent {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Agent {
    /// Starts the agent in `ns`'s network and waits until it reports running.
    pub fn start(
        ns: &Namespace,
        interfaces: &[&str],
        local_nets: &[&str],
        dirs: &SensorDirs,
    ) -> anyhow::Result<Agent> {
        Agent::start_with_config(ns, interfaces, local_nets, dirs, None)
    }

    /// Like [`Agent::start`], reading `config` as well.
    pub fn start_with_config(
        ns: &Namespace,
        interfaces: &[&str],
        local_nets: &[&str],
        dirs: &SensorDirs,
        config: Option<&Path>,
    ) -> anyhow::Result<Agent> {
        std::fs::create_dir_all(&dirs.state_dir)?;
        std::fs::create_dir_all(&dirs.log_dir)?;
        let log = dirs.log_dir.join(format!(
            "agent-{}.log",
            Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id())
        ));
        let log_file = std::fs::File::create(&log)?;
        let mut command = ns.net_command(&vantage_bin()?);
        command.arg("run");
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        for iface in interfaces {
            command.args(["--iface", iface]);
        }
        for net in local_nets {
            command.args(["--local-net", net]);
        }
        command
            .args(dirs.args())
            .stdout(Stdio::null())
            .stderr(log_file);
        let child = command.spawn().context("starting vantage run")?;
        let mut agent = Agent {
            child: Some(child),
            log,
        };
        let within = crate::scaled(Duration::from_secs(15));
        let deadline = Instant::now() + within;
        loop {
            if let Some(child) = agent.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("vantage run exited ({status}): {}", agent.log_text());
                }
            }
            if dirs.status().is_ok_and(|s| s["agent"]["running"] == true) {
                return Ok(agent);
            }
            if Instant::now() > deadline {
                bail!(
                    "vantage run did not report running within {within:?}: {}",
                    agent.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`: no chance to clean anything up.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("agent already stopped")
        };
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        Ok(child.wait()?)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.kill9();
    }
}
