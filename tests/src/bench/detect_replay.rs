//! The replay benchmark's captures and commands: the public captures
//! (`../shared/pcaps`) written as many passes ([`super::detect_pcap`]),
//! the release `vantage replay` and `tshark` run on the same file as whole
//! commands, their output thrown away, timed in interleaved rounds
//! ([`bench`]), and how many frames each read.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Context as _};

use super::{
    detect_format::{grouped, spread},
    detect_pcap::{Pcap, ScratchDir},
};

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

/// What `vantage replay --json` said it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayCounts {
    pub frames: u64,
    /// Intervals (ticks of the capture's clock) handed to the pipeline.
    pub intervals: u64,
    /// New alerts, all detectors.
    pub alerts: u64,
}

/// Runs `vantage replay --json` once and reads its summary.
pub fn replay_counts(vantage: &Path, file: &Path, local_net: &str) -> anyhow::Result<ReplayCounts> {
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
    let intervals = summary["intervals"].as_u64().unwrap_or(0);
    let alerts = summary["alerts"].as_object().map_or(0, |m| {
        m.values().filter_map(serde_json::Value::as_u64).sum()
    });
    Ok(ReplayCounts {
        frames,
        intervals,
        alerts,
    })
}

/// Frames tshark printed for `file`.
pub fn tshark_frames(file: &Path) -> anyhow::Result<u64> {
    Ok(stdout_of(tshark_command(file))?.lines().count() as u64)
}

/// Times `vantage replay` against tshark on every capture of [`CAPTURES`]
/// (one pass, and enough passes for `min_frames` frames), `rounds`
/// interleaved rounds; prints the table, returns the summary line.
pub fn bench(
    vantage: &Path,
    scratch: &ScratchDir,
    pcaps: &Path,
    min_frames: u64,
    rounds: usize,
) -> anyhow::Result<String> {
    let captures = prepare(scratch, pcaps, min_frames)?;
    println!(
        "== Replay: `{} replay FILE --json --local-net NET` against `tshark -r FILE -T fields -e frame.number`, output to /dev/null",
        vantage.display()
    );
    println!(
        "whole commands, {rounds} interleaved rounds (replay, tshark, then both on one pass), medians; fps = frames / seconds; us/frame = (many passes - one pass) / the extra frames\n"
    );
    let mut ticks = Vec::new();
    for capture in &captures {
        let counts = replay_counts(vantage, &capture.many, capture.local_net)?;
        let tshark = tshark_frames(&capture.many)?;
        if counts.frames != capture.frames || tshark != capture.frames {
            bail!(
                "{}: {} frames written, replay read {}, tshark {tshark}",
                capture.name,
                capture.frames,
                counts.frames
            );
        }
        println!(
            "{}: {} passes, {} frames, {} intervals (1 s ticks of the capture's clock), {} new alerts",
            capture.name,
            capture.passes,
            grouped(counts.frames),
            grouped(counts.intervals),
            counts.alerts
        );
        ticks.push(counts.intervals);
    }
    let mut samples = vec![[Vec::new(), Vec::new(), Vec::new(), Vec::new()]; captures.len()];
    for _ in 0..rounds {
        for (capture, s) in captures.iter().zip(samples.iter_mut()) {
            s[0].push(seconds(replay_command(
                vantage,
                &capture.many,
                capture.local_net,
            ))?);
            s[1].push(seconds(tshark_command(&capture.many))?);
            s[2].push(seconds(replay_command(
                vantage,
                &capture.one,
                capture.local_net,
            ))?);
            s[3].push(seconds(tshark_command(&capture.one))?);
        }
    }
    println!(
        "\n{:<24} {:>8} {:>7} {:>9} {:>9} {:>10} {:>10} {:>9} {:>15} {:>10} {:>10} {:>10} {:>10}",
        "capture",
        "frames",
        "ticks",
        "replay s",
        "tshark s",
        "replay fps",
        "tshark fps",
        "r/tshark",
        "replay fps range",
        "1 pass r s",
        "1 pass t s",
        "r us/frame",
        "t us/frame"
    );
    let (mut all_frames, mut all_replay, mut all_tshark) = (0u64, 0.0, 0.0);
    for ((capture, s), intervals) in captures.iter().zip(samples).zip(ticks) {
        let [replay, tshark, replay_one, tshark_one] = s.map(spread);
        let frames = capture.frames as f64;
        let extra = (capture.frames - capture.frames_one).max(1) as f64;
        all_frames += capture.frames;
        all_replay += replay.0;
        all_tshark += tshark.0;
        let range = format!(
            "{}-{}",
            grouped((frames / replay.2) as u64),
            grouped((frames / replay.1) as u64)
        );
        println!(
            "{:<24} {:>8} {:>7} {:>9.3} {:>9.3} {:>10} {:>10} {:>8.2}x {range:>15} {:>10.3} {:>10.3} {:>10.1} {:>10.1}",
            capture.name,
            grouped(capture.frames),
            grouped(intervals),
            replay.0,
            tshark.0,
            grouped((frames / replay.0) as u64),
            grouped((frames / tshark.0) as u64),
            tshark.0 / replay.0,
            replay_one.0,
            tshark_one.0,
            (replay.0 - replay_one.0) / extra * 1e6,
            (tshark.0 - tshark_one.0) / extra * 1e6,
        );
    }
    let ratio = all_tshark / all_replay;
    let (replay_fps, tshark_fps) = (
        all_frames as f64 / all_replay,
        all_frames as f64 / all_tshark,
    );
    println!(
        "{:<24} {:>8} {:>7} {:>9.3} {:>9.3} {:>10} {:>10} {:>8.2}x\n",
        "all three",
        grouped(all_frames),
        "",
        all_replay,
        all_tshark,
        grouped(replay_fps as u64),
        grouped(tshark_fps as u64),
        ratio
    );
    Ok(format!(
        "Replay, three public captures ({} frames): {} frames/s, tshark {} frames/s: replay fps / tshark fps = {ratio:.2}",
        grouped(all_frames),
        grouped(replay_fps as u64),
        grouped(tshark_fps as u64),
    ))
}
