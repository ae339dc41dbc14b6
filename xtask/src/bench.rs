//! `cargo xtask bench`: the XDP benchmark (`vantage-bench`), the uplink
//! benchmark (`vantage-uplink-bench`) and the detection benchmark
//! (`vantage-detect-bench`), all in the tests crate.
//!
//! `--only` picks parts: `frames`, `stages` and `live` are the XDP
//! benchmark's, `uplink` is the uplink benchmark, `detect` (the agent's
//! CPU per tick and memory with detection, 10k hosts) and `replay`
//! (`vantage replay` against tshark) the detection benchmark's; without it,
//! all run. `--quick` goes to every benchmark that runs; other arguments to
//! the XDP benchmark.

use anyhow::bail;
use clap::Args;

use crate::cmd::{cargo, require_root, run as run_command};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Passed to vantage-bench (see `cargo xtask bench -- --help`); `--only`
    /// may also name `uplink`, `detect` and `replay`.
    #[arg(last = true)]
    args: Vec<String>,
}

const XDP_PARTS: [&str; 3] = ["frames", "stages", "live"];
const DETECT_PARTS: [&str; 3] = ["detect", "replay", "latency"];
const ALL_PARTS: &str = "frames, stages, live, uplink, detect, replay, latency";

/// Which benchmarks run, each with its arguments (`None`: it does not run).
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    xdp: Option<Vec<String>>,
    uplink: Option<Vec<String>>,
    detect: Option<Vec<String>>,
}

/// Splits the arguments among the benchmarks: `--only` picks who runs and
/// each gets its own parts; `--quick` goes to all; the rest to the XDP one.
fn split(args: &[String]) -> anyhow::Result<Plan> {
    let mut xdp_args = Vec::new();
    let mut only: Option<Vec<String>> = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg != "--only" {
            xdp_args.push(arg.clone());
            continue;
        }
        let Some(list) = iter.next() else {
            bail!("--only needs a list: {ALL_PARTS}");
        };
        let parts: Vec<String> = list.split(',').map(str::to_owned).collect();
        if let Some(bad) = parts.iter().find(|p| {
            !XDP_PARTS.contains(&p.as_str())
                && !DETECT_PARTS.contains(&p.as_str())
                && *p != "uplink"
        }) {
            bail!("unknown part {bad}: {ALL_PARTS}");
        }
        only = Some(parts);
    }
    let quick: Vec<String> = args.iter().filter(|a| *a == "--quick").cloned().collect();
    let Some(parts) = only else {
        return Ok(Plan {
            xdp: Some(xdp_args),
            uplink: Some(quick.clone()),
            detect: Some(quick),
        });
    };
    let picked = |names: &[&str]| -> Vec<&str> {
        parts
            .iter()
            .map(String::as_str)
            .filter(|p| names.contains(p))
            .collect()
    };
    let with_only = |mut base: Vec<String>, picked: Vec<&str>| {
        base.push("--only".to_owned());
        base.push(picked.join(","));
        base
    };
    let xdp_parts = picked(&XDP_PARTS);
    let detect_parts = picked(&DETECT_PARTS);
    Ok(Plan {
        xdp: (!xdp_parts.is_empty()).then(|| with_only(xdp_args, xdp_parts)),
        uplink: parts.iter().any(|p| p == "uplink").then(|| quick.clone()),
        detect: (!detect_parts.is_empty()).then(|| with_only(quick, detect_parts)),
    })
}

/// `cargo run --release -p vantage-tests --bin BIN -- ARGS`.
fn run_bench(bin: &str, args: &[String]) -> anyhow::Result<()> {
    run_command(
        cargo()
            .args([
                "run",
                "--release",
                "-p",
                "vantage-tests",
                "--bin",
                bin,
                "--",
            ])
            .args(args),
    )
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let plan = split(&args.args)?;
    crate::setup::ensure()?;
    require_root("cargo xtask bench")?;
    // The uplink benchmark starts the release `vantage-fleet`; the XDP
    // benchmark's live part and the replay part the release `vantage`.
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "vantage-fleet",
        "-p",
        "sensor-user",
        "--bins",
    ]))?;
    if let Some(xdp_args) = &plan.xdp {
        run_bench("vantage-bench", xdp_args)?;
    }
    if let Some(uplink_args) = &plan.uplink {
        run_bench("vantage-uplink-bench", uplink_args)?;
    }
    if let Some(detect_args) = &plan.detect {
        run_bench("vantage-detect-bench", detect_args)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn only_picks_the_benchmarks_that_run() -> anyhow::Result<()> {
        assert_eq!(
            split(&strings(&["--quick"]))?,
            Plan {
                xdp: Some(strings(&["--quick"])),
                uplink: Some(strings(&["--quick"])),
                detect: Some(strings(&["--quick"])),
            }
        );
        assert_eq!(
            split(&strings(&["--only", "stages,live"]))?,
            Plan {
                xdp: Some(strings(&["--only", "stages,live"])),
                uplink: None,
                detect: None,
            }
        );
        assert_eq!(
            split(&strings(&["--only", "uplink"]))?,
            Plan {
                xdp: None,
                uplink: Some(Vec::new()),
                detect: None,
            }
        );
        assert_eq!(
            split(&strings(&["--quick", "--only", "frames,uplink"]))?,
            Plan {
                xdp: Some(strings(&["--quick", "--only", "frames"])),
                uplink: Some(strings(&["--quick"])),
                detect: None,
            }
        );
        assert!(split(&strings(&["--only", "uplnk"])).is_err());
        assert!(split(&strings(&["--only"])).is_err());
        Ok(())
    }

    #[test]
    fn detect_and_replay_go_to_the_detection_benchmark() -> anyhow::Result<()> {
        assert_eq!(
            split(&strings(&["--only", "detect,replay"]))?,
            Plan {
                xdp: None,
                uplink: None,
                detect: Some(strings(&["--only", "detect,replay"])),
            }
        );
        assert_eq!(
            split(&strings(&[
                "--rounds",
                "5",
                "--only",
                "replay,frames",
                "--quick"
            ]))?,
            Plan {
                xdp: Some(strings(&["--rounds", "5", "--quick", "--only", "frames"])),
                uplink: None,
                detect: Some(strings(&["--quick", "--only", "replay"])),
            }
        );
        assert_eq!(
            split(&[])?,
            Plan {
                xdp: Some(Vec::new()),
                uplink: Some(Vec::new()),
                detect: Some(Vec::new()),
            }
        );
        Ok(())
    }
}
