//! `vantage replay`: a capture or a trace through the pipeline, printing
//! alerts, decisions and a summary (text, or JSON lines with `--json`).

use std::io::Write as _;

use anyhow::Context as _;
use vantage::{
    config::{duration::parse_duration, Config},
    net::Cidr,
    replay::{
        output::{alert_json, decision_json, text_line, Summary},
        session::{load_inventory, replay_capture_file, replay_trace_file, Happening},
    },
};

use super::args::ReplayArgs;

pub fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if !args.local_nets.is_empty() {
        config.sensor.local_nets = args
            .local_nets
            .iter()
            .map(|text| {
                text.parse::<Cidr>()
                    .with_context(|| format!("--local-net {text}"))
            })
            .collect::<anyhow::Result<_>>()?;
    }
    let tick = parse_duration(&args.tick).context("--tick")?;
    let inventory = args.inventory.as_deref().map(load_inventory).transpose()?;
    let json = args.json;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let summary = {
        let mut print = |happening: Happening| -> Result<(), String> {
            let text = match (&happening, json) {
                (Happening::Detection(output), true) => {
                    let mut text = alert_json(&output.raised);
                    if let Some(decision) = decision_json(output) {
                        text.push('\n');
                        text.push_str(&decision);
                    }
                    text
                }
                (Happening::Detection(output), false) => text_line(output),
                (Happening::Digest(report), true) => serde_json::json!({
                    "type": "digest",
                    "from": vantage::time::unix_seconds(report.from),
                    "to": vantage::time::unix_seconds(report.to),
                    "total": report.total,
                    "by_detector": report.by_detector.iter().map(|(d, n)| (d.name(), n)).collect::<std::collections::BTreeMap<_, _>>(),
                    "by_action": report.by_action.iter().map(|(a, n)| (a.name(), n)).collect::<std::collections::BTreeMap<_, _>>(),
                    "top_hosts": report.top_hosts,
                    "hosts_unranked": report.hosts_unranked,
                })
                .to_string(),
                (Happening::Digest(report), false) => format!(
                    "digest: {} decisions, top hosts {:?}",
                    report.total,
                    report
                        .top_hosts
                        .iter()
                        .map(|h| (h.host, h.alerts))
                        .collect::<Vec<_>>()
                ),
            };
            writeln!(out, "{text}").map_err(|error| format!("writing the output: {error}"))
        };
        match (&args.capture, &args.trace) {
            (_, Some(trace)) => replay_trace_file(trace, &config, inventory, &mut print)?,
            (Some(capture), None) => {
                if !vantage::sys::is_root() {
                    anyhow::bail!("replaying a capture loads the XDP program to run every frame through it (BPF_PROG_TEST_RUN): run it as root; a trace (--trace) needs no root");
                }
                replay_capture_file(capture, &config, inventory, tick, &mut print)?
            }
            (None, None) => anyhow::bail!("give a capture file or --trace FILE"),
        }
    };
    if json {
        writeln!(out, "{}", summary.json())?;
    } else {
        writeln!(out, "{}", summary_text(&summary))?;
    }
    Ok(())
}

fn summary_text(summary: &Summary) -> String {
    let stats = &summary.stats;
    let mut text = format!(
        "replayed {} frames ({} bytes) over {:.1} s in {} intervals; passed {}, dropped {}",
        stats.frames, stats.bytes, summary.span_secs, stats.intervals, stats.passed, stats.dropped
    );
    if stats.skipped_too_large > 0 {
        text.push_str(&format!(
            "; {} frames larger than one test run takes were counted but not run",
            stats.skipped_too_large
        ));
    }
    if stats.skipped_other_link > 0 {
        text.push_str(&format!(
            "; {} frames of other link types ({}) counted but not run",
            stats.skipped_other_link,
            stats.other_links.join(", ")
        ));
    }
    if stats.snapped > 0 {
        text.push_str(&format!(
            "; {} frames cut by the capture's snap length",
            stats.snapped
        ));
    }
    if stats.clock_steps_back > 0 {
        text.push_str(&format!(
            "; the capture's clock stepped back {} times (held)",
            stats.clock_steps_back
        ));
    }
    if summary.malformed_frames > 0 {
        text.push_str(&format!(
            "; {} malformed frames counted and passed",
            summary.malformed_frames
        ));
    }
    let alerts: Vec<String> = summary
        .alerts
        .iter()
        .map(|(detector, n)| format!("{detector} {n}"))
        .collect();
    text.push_str(&format!(
        "\nalerts: {}; suppressed by rate caps: {}",
        if alerts.is_empty() {
            "none".to_owned()
        } else {
            alerts.join(", ")
        },
        summary.suppressed
    ));
    if summary.hosts_seen == 0 && stats.frames > 0 {
        text.push_str(
            "\nno protected host was seen: check --local-net (or sensor.local_nets) against the capture's addresses",
        );
    }
    text.push_str("\n(a replay takes decisions but enforces none: nothing was blocked)");
    if let Some(error) = &stats.stopped_by {
        text.push_str(&format!(
            "\nthe capture ends with an unreadable frame: {error}"
        ));
    }
    text
}
