//! `cargo xtask bench`: the XDP benchmark (`vantage-bench`) and the uplink
//! benchmark (`vantage-uplink-bench`), both in the tests crate.
//!
//! `--only` picks parts: `frames`, `stages` and `live` are the XDP
//! benchmark's, `uplink` is the uplink benchmark; without it, all run.

use anyhow::bail;
use clap::Args;

use crate::cmd::{cargo, require_root, run as run_command};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Passed to vantage-bench (see `cargo xtask bench -- --help`); `--only`
    /// may also name `uplink`.
    #[arg(last = true)]
    args: Vec<String>,
}

const XDP_PARTS: [&str; 3] = ["frames", "stages", "live"];

/// The XDP benchmark's arguments (its own parts under `--only`) and whether
/// the uplink benchmark runs.
fn split(args: &[String]) -> anyhow::Result<(Vec<String>, bool, bool)> {
    let mut xdp_args = Vec::new();
    let (mut xdp, mut uplink) = (true, true);
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg != "--only" {
            xdp_args.push(arg.clone());
            continue;
        }
        let Some(list) = iter.next() else {
            bail!("--only needs a list: frames, stages, live, uplink");
        };
        let parts: Vec<&str> = list.split(',').collect();
        if let Some(bad) = parts
            .iter()
            .find(|p| !XDP_PARTS.contains(p) && **p != "uplink")
        {
            bail!("unknown part {bad}: frames, stages, live, uplink");
        }
        uplink = parts.contains(&"uplink");
        let xdp_parts: Vec<&str> = parts.into_iter().filter(|p| *p != "uplink").collect();
        xdp = !xdp_parts.is_empty();
        if xdp {
            xdp_args.push("--only".to_owned());
            xdp_args.push(xdp_parts.join(","));
        }
    }
    Ok((xdp_args, xdp, uplink))
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let (xdp_args, xdp, uplink) = split(&args.args)?;
    crate::setup::ensure()?;
    require_root("cargo xtask bench")?;
    // The uplink benchmark starts the release `vantage-fleet`; the XDP
    // benchmark's live part the release `vantage`.
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "vantage-fleet",
        "-p",
        "sensor-user",
        "--bins",
    ]))?;
    if xdp {
        run_command(
            cargo()
                .args([
                    "run",
                    "--release",
                    "-p",
                    "vantage-tests",
                    "--bin",
                    "vantage-bench",
                    "--",
                ])
                .args(&xdp_args),
        )?;
    }
    if uplink {
        let quick: Vec<&String> = args.args.iter().filter(|a| *a == "--quick").collect();
        run_command(
            cargo()
                .args([
                    "run",
                    "--release",
                    "-p",
                    "vantage-tests",
                    "--bin",
                    "vantage-uplink-bench",
                    "--",
                ])
                .args(quick),
        )?;
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
            (strings(&["--quick"]), true, true)
        );
        assert_eq!(
            split(&strings(&["--only", "stages,live"]))?,
            (strings(&["--only", "stages,live"]), true, false)
        );
        assert_eq!(
            split(&strings(&["--only", "uplink"]))?,
            (Vec::new(), false, true)
        );
        assert_eq!(
            split(&strings(&["--quick", "--only", "frames,uplink"]))?,
            (strings(&["--quick", "--only", "frames"]), true, true)
        );
        assert!(split(&strings(&["--only", "uplnk"])).is_err());
        Ok(())
    }
}
