//! The MSSP's side of the test: the real collector (`vantage-fleet`, a host
//! build) serving in the WAN namespace, enrolment of the request the VM
//! printed, and what the collector knows of the sensor.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context as _};

use super::{guard::Process, net::Bed};
use crate::cmd::{cargo, describe, output, run, workspace_root};

/// The collector's port on the WAN server.
pub const PORT: u16 = 7443;
/// The name its certificate is made for.
pub const SERVER_NAME: &str = "vantage-fleet";

/// A collector with its directory (key, certificate, database).
pub struct Fleet {
    binary: PathBuf,
    dir: PathBuf,
    pub pin: String,
    _serve: Process,
}

/// Builds `vantage-fleet` for the host.
pub fn build() -> anyhow::Result<PathBuf> {
    run(cargo().args(["build", "-p", "vantage-fleet", "--bin", "vantage-fleet"]))?;
    Ok(workspace_root().join("target/debug/vantage-fleet"))
}

impl Fleet {
    /// `init` in `dir`, then `serve` on the WAN server's address.
    pub fn start(binary: &Path, dir: &Path, wan_ns: &str, log: &Path) -> anyhow::Result<Fleet> {
        let mut init = Command::new(binary);
        init.arg("--dir")
            .arg(dir)
            .args(["init", "--name", SERVER_NAME]);
        run(init.stdout(Stdio::null()))?;
        let pin = output(Command::new(binary).arg("--dir").arg(dir).arg("pin"))
            .context("vantage-fleet pin")?
            .trim()
            .to_owned();
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut serve = Bed::exec(wan_ns, &binary.to_string_lossy());
        serve
            .arg("--dir")
            .arg(dir)
            .args([
                "serve",
                "--listen",
                &format!("{}:{PORT}", super::net::WAN_SERVER),
            ])
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        eprintln!("+ {}", describe(&serve));
        let child = serve.spawn().context("starting vantage-fleet serve")?;
        Ok(Fleet {
            binary: binary.to_path_buf(),
            dir: dir.to_path_buf(),
            pin,
            _serve: Process::new("vantage-fleet serve", child),
        })
    }

    /// Enrols the sensor whose request (hex) the VM printed.
    pub fn enroll(&self, request: &str) -> anyhow::Result<String> {
        let out = Command::new(&self.binary)
            .arg("--dir")
            .arg(&self.dir)
            .args(["enroll", "--request", request, "--mode", "inline"])
            .output()
            .context("running vantage-fleet enroll")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "vantage-fleet enroll failed: {}{}",
                text,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(text)
    }

    /// The collector's view of `sensor` (`sensors --json`), if enrolled.
    pub fn sensor(&self, sensor: &str) -> anyhow::Result<Option<serde_json::Value>> {
        let text = output(
            Command::new(&self.binary)
                .arg("--dir")
                .arg(&self.dir)
                .args(["sensors", "--json"]),
        )
        .context("vantage-fleet sensors --json failed")?;
        let report: serde_json::Value =
            serde_json::from_str(&text).context("parsing vantage-fleet sensors --json")?;
        Ok(report["sensors"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["sensor"].as_str() == Some(sensor)))
            .cloned())
    }
}
