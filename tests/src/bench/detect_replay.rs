//! The replay benchmark's captures and commands: the public captures
//! (`../shared/pcaps`) written as many passes ([`super::detect_pcap`]),
//! the release `vantage replay` and `tshark` run on the same file as whole
//! commands, their output thrown away, and how many frames each read.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Context as _};

use super::detect_pcap::{Pcap, ScratchDir};

/// The captures replayed, each with the protected network its README
/// entry declares.
pub const CAPTURES: [(&str, &str); 3] = [
    ("synscan.pcap", "172.16.0.0/12"),
    ("teams.pcap", "192.168.0.0/16"),
    ("test-cc-capture-2.pcap", "147.32.80.0/24"),
];

/// One capture as replayed: once, and as many passes.
#[derive(Clone, Debug)]
pub struct Capture {
    pub name: &'static str,
    pub local_net: &'static str,
    pub passes: u32,
    /// Frames in the file of one pass, and in the file of `passes`.
    pub frames_one: u64,
    pub frames: u64,
    pub one: PathBuf,
    pub many: PathBuf,
}

/// Writes each capture of [`CAPTURES`] found in `pcaps` into `dir` as one
/// pass and as enough passes to hold at least `min_frames` frames.
pub fn prepare(dir: &ScratchDir, pcaps: &Path, min_frames: u64) -> anyhow::Result<Vec<Capture>> {
    let mut out = Vec::new();
    for (name, local_net) in CAPTURES {
        let pcap = Pcap::read(&pcaps.join(name))?;
        let frames_one = pcap.frames() as u64;
        if frames_one == 0 {
            bail!("{name} holds no frame");
        }
        let passes = u32::try_from(min_frames.div_ceil(frames_one).max(1)).unwrap_or(u32::MAX);
        let one = dir.write(&format!("one-{name}"), &pcap.passes(1))?;
        let many = dir.write(&format!("x{passes}-{name}"), &pcap.passes(passes))?;
        out.push(Capture {
            name,
            local_net,
            passes,
            frames_one,
            frames: frames_one * u64::from(passes),
            one,
            many,
        });
    }
    Ok(out)
}

/// `vantage replay FILE --json --local-net NET`, output thrown away.
pub fn replay_command(vantage: &Path, file: &Path, local_net: &str) -> Command {
    let mut command = Command::new(vantage);
    command
        .arg("replay")
        .arg(file)
        .args(["--json", "--local-net", local_net]);
    command
}

/// `tshark -r FILE -T fields -e frame.number`: reads and dissects every
/// frame, prints one number per frame.
pub fn tshark_command(file: &Path) -> Command {
    let mut command = Command::new("tshark");
    command
        .arg("-r")
        .arg(file)
        .args(["-T", "fields", "-e", "frame.number"]);
    command
}

/// Runs `command` with its output to /dev/null; the wall-clock seconds it
/// took, start to exit.
pub fn seconds(mut command: Command) -> anyhow::Result<f64> {
    let what = format!("{command:?}");
    let started = Instant::now();
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("starting {what}"))?;
    let elapsed = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(elapsed)
}

/// Runs `command` and returns its standard output (fails on failure).
fn stdout_of(mut command: Command) -> anyhow::Result<String> {
    let what = format!("{command:?}");
    let out = command
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("starting {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What `vantage replay --json` said it did: frames read, and new alerts
/// (all detectors).
pub fn replay_counts(vantage: &Path, file: &Path, local_net: &str) -> anyhow::Result<(u64, u64)> {
    let text = stdout_of(replay_command(vantage, file, local_net))?;
    let Some(last) = text.lines().last() else {
        bail!("vantage replay printed nothing");
    };
    let summary: serde_json::Value =
        serde_json::from_str(last).context("reading the replay's summary line")?;
    if summary["type"] != "summary" {
        bail!("the replay's last line is not its summary: {last}");
    }
    let frames = summary["frames"]
        .as_u64()
        .context("no frames in the summary")?;
    let alerts = summary["alerts"].as_object().map_or(0, |m| {
        m.values().filter_map(serde_json::Value::as_u64).sum()
    });
    Ok((frames, alerts))
}

/// Frames tshark printed for `file`.
pub fn tshark_frames(file: &Path) -> anyhow::Result<u64> {
    Ok(stdout_of(tshark_command(file))?.lines().count() as u64)
}
