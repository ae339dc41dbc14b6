//! `cargo xtask bench -- --only detect,replay`: what detection costs the
//! agent, and how fast `vantage replay` reads a capture.
//!
//! `detect`: the agent's work per tick minus the syscalls (`Sampler::next`
//! on a reading of 10,000 hosts, then `Pipeline::step` with the detection
//! stage `vantage replay` builds) on a synthetic site
//! (`bench::detect_site`), its detector state filled first by minutes of
//! the same traffic; measured in interleaved rounds against the same tick
//! with detection off (`detection: None`) on the same input, medians of ms
//! per tick against the goal of 50 ms. Then the resident memory of a child
//! process holding that state (`VmRSS`, `VmHWM`), against the goal of 32
//! MiB, with each detector's tracked keys.
//!
//! `replay`: the release `vantage replay --json` on the public captures
//! (`../shared/pcaps`, each written as many passes) against `tshark -r FILE
//! -T fields -e frame.number` on the same file, whole commands timed in
//! interleaved rounds, medians, frames per second and their ratio.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use vantage::{config::Config, detect::Detector};
use vantage_tests::{
    agent::vantage_bin,
    bench::{
        detect_pcap::ScratchDir,
        detect_pipeline::{bench_config, memory, Memory, StepTimes, TickWork},
        detect_replay::{
            prepare, replay_command, replay_counts, seconds, tshark_command, tshark_frames,
        },
        detect_site::{known_bad_list, SyntheticSite},
        median,
    },
};

/// The goals the brief sets: ms per tick, resident MiB.
const GOAL_TICK_MS: f64 = 50.0;
const GOAL_RSS_MIB: f64 = 32.0;
/// The headline load: the default event rate limit (2,000 per CPU per
/// second) of a 4-CPU sensor.
const HEADLINE_EVENTS: usize = 8_000;
/// The known-bad list's size: addresses and domains (a usual feed's).
const LIST_ENTRIES: u32 = 5_000;
/// Ticks at each new load before its rounds.
const WARM_UP_TICKS: usize = 5;
const SEED: u64 = 0x7a47_a6e5;

struct Options {
    parts: Vec<String>,
    hosts: u32,
    cpus: usize,
    events: Vec<usize>,
    rounds: usize,
    ticks: usize,
    fill: usize,
    replay_rounds: usize,
    min_frames: u64,
    pcaps: PathBuf,
    memory_child: bool,
}

const USAGE: &str = "vantage-detect-bench [--quick] [--only detect|replay,...] [--hosts N] [--cpus N] [--events N,N] [--rounds N] [--ticks N] [--fill N] [--replay-rounds N] [--frames N] [--pcaps DIR]";

fn number<T: std::str::FromStr>(value: Option<String>, what: &str) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text = value.with_context(|| format!("{what} needs a value: {USAGE}"))?;
    text.parse().with_context(|| format!("{what} {text}"))
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        parts: vec!["detect".into(), "replay".into()],
        hosts: 10_000,
        cpus: std::thread::available_parallelism().map_or(2, usize::from),
        events: vec![4_000, HEADLINE_EVENTS, 32_000],
        rounds: 21,
        ticks: 5,
        fill: 600,
        replay_rounds: 7,
        min_frames: 50_000,
        pcaps: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps"),
        memory_child: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                options.events = vec![HEADLINE_EVENTS];
                options.rounds = 7;
                options.ticks = 3;
                options.fill = 300;
                options.replay_rounds = 3;
                options.min_frames = 15_000;
            }
            "--only" => {
                let list: String = number(args.next(), "--only")?;
                options.parts = list.split(',').map(str::to_owned).collect();
                if let Some(bad) = options
                    .parts
                    .iter()
                    .find(|p| !["detect", "replay"].contains(&p.as_str()))
                {
                    bail!("unknown part {bad}: {USAGE}");
                }
            }
            "--hosts" => options.hosts = number(args.next(), "--hosts")?,
            "--cpus" => options.cpus = number(args.next(), "--cpus")?,
            "--events" => {
                let list: String = number(args.next(), "--events")?;
                options.events = list
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .with_context(|| format!("--events {list}"))?;
            }
            "--rounds" => options.rounds = number(args.next(), "--rounds")?,
            "--ticks" => options.ticks = number(args.next(), "--ticks")?,
            "--fill" => options.fill = number(args.next(), "--fill")?,
            "--replay-rounds" => options.replay_rounds = number(args.next(), "--replay-rounds")?,
            "--frames" => options.min_frames = number(args.next(), "--frames")?,
            "--pcaps" => options.pcaps = number(args.next(), "--pcaps")?,
            "--memory-child" => options.memory_child = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}: {USAGE}"),
        }
    }
    if options.rounds == 0 || options.ticks == 0 || options.replay_rounds == 0 {
        bail!("--rounds, --ticks and --replay-rounds must be at least 1");
    }
    if options.events.is_empty() || options.events.contains(&0) {
        bail!("--events needs loads of at least 1 event per tick");
    }
    Ok(options)
}

/// The load the fill, the memory and the headline use.
fn headline_events(options: &Options) -> usize {
    if options.events.contains(&HEADLINE_EVENTS) {
        HEADLINE_EVENTS
    } else {
        options.events[0]
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT MET"
    }
}

/// Thousands separated by commas.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The config with the benchmark's known-bad list written into `scratch`.
fn config(scratch: &ScratchDir) -> anyhow::Result<Config> {
    let list = scratch.write(
        "known-bad.txt",
        known_bad_list(LIST_ENTRIES, LIST_ENTRIES).as_bytes(),
    )?;
    Ok(bench_config(vec![list]))
}

/// Median, lowest and highest of `values`.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    let med = median(&mut values);
    let low = values.first().copied().unwrap_or(f64::NAN);
    let high = values.last().copied().unwrap_or(f64::NAN);
    (med, low, high)
}

/// The caps of each detector's tracked keys under `config`, and what a key is.
fn cap_of(config: &Config, detector: Option<Detector>) -> (usize, &'static str) {
    let d = &config.detect;
    match detector {
        Some(Detector::PortScan) => (d.port_scan.max_tracked, "(host, peer) pairs"),
        Some(Detector::HostSweep) => (d.host_sweep.max_tracked, "(host, port, transport) keys"),
        Some(Detector::LateralMovement) => (d.lateral_movement.max_tracked, "hosts"),
        Some(Detector::Beacon) => (d.beacon.max_tracked, "(host, peer or domain) keys"),
        Some(Detector::DnsTunnel) => (d.dns_tunnel.max_tracked, "(host, domain) keys"),
        Some(Detector::KnownBad) => (d.known_bad.max_resolved, "(host, address) from answers"),
        Some(Detector::NewDevice) => (d.new_device.max_entries, "inventory entries"),
        None => (d.passive_dns_addresses as usize, "addresses (passive DNS)"),
    }
}

/// Part one: ms per tick, detection on against off, in the same rounds.
fn detect_part(
    options: &Options,
    scratch: &ScratchDir,
    headline: &mut Vec<String>,
) -> anyhow::Result<()> {
    let config = config(scratch)?;
    let load = headline_events(options);
    println!(
        "== Detection: the agent's work per tick minus the syscalls (Sampler::next, Pipeline::step, stats), {} hosts x {} CPU copies\n",
        grouped(u64::from(options.hosts)),
        options.cpus
    );
    let mut on = TickWork::new(&config, true)?;
    let mut off = TickWork::new(&config, false)?;
    let mut site = SyntheticSite::new(options.hosts, options.cpus, SEED);
    let mut fill = Vec::with_capacity(options.fill);
    for _ in 0..options.fill {
        let tick = site.tick(load);
        let copy = tick.clone();
        let times = on.step(tick);
        off.step(copy);
        fill.push(ms(times.sampler + times.pipeline));
    }
    let (fill_med, _, fill_high) = spread(fill);
    println!(
        "state first filled by {} ticks (1 s each) at {} events per tick: {fill_med:.1} ms per tick (median; highest {fill_high:.1}, the first: every host new)",
        options.fill,
        grouped(load as u64),
    );
    println!(
        "then per load: {WARM_UP_TICKS} ticks of warm-up, {} interleaved rounds of {} ticks each (detection on, then off, on copies of the same ticks); medians of the rounds' ms per tick",
        options.rounds, options.ticks
    );
    println!("off = the same pipeline with `detection: None` (the reference); range = detection on, lowest-highest round\n");
    println!(
        "{:>11} {:>9} {:>10} {:>10} {:>9} {:>9} {:>13} {:>7} {:>8} {:>7}",
        "events/tick",
        "sampler",
        "step off",
        "step on",
        "tick off",
        "tick on",
        "range",
        "on/off",
        "alerts",
        "goal"
    );
    for &events in &options.events {
        for _ in 0..WARM_UP_TICKS {
            let tick = site.tick(events);
            let copy = tick.clone();
            on.step(tick);
            off.step(copy);
        }
        let mut rows: [Vec<f64>; 5] = Default::default();
        let mut detections = 0usize;
        let mut drained = 0usize;
        for _ in 0..options.rounds {
            let ticks: Vec<_> = (0..options.ticks).map(|_| site.tick(events)).collect();
            drained += ticks.iter().map(|t| t.events.len()).sum::<usize>();
            let copies = ticks.clone();
            let mut sum_on = StepTimes::default();
            for tick in ticks {
                let t = on.step(tick);
                sum_on.sampler += t.sampler;
                sum_on.pipeline += t.pipeline;
                detections += t.detections;
            }
            let mut sum_off = StepTimes::default();
            for tick in copies {
                let t = off.step(tick);
                sum_off.sampler += t.sampler;
                sum_off.pipeline += t.pipeline;
            }
            let per = options.ticks as f64;
            rows[0].push(ms(sum_on.sampler) / per);
            rows[1].push(ms(sum_off.pipeline) / per);
            rows[2].push(ms(sum_on.pipeline) / per);
            rows[3].push(ms(sum_off.sampler + sum_off.pipeline) / per);
            rows[4].push(ms(sum_on.sampler + sum_on.pipeline) / per);
        }
        let [sampler, step_off, step_on, tick_off, tick_on] = rows.map(spread);
        let ticks = (options.rounds * options.ticks) as f64;
        println!(
            "{:>11} {:>9.2} {:>10.2} {:>10.2} {:>9.2} {:>9.2} {:>13} {:>6.1}x {:>8.1} {:>7}",
            grouped((drained as f64 / ticks).round() as u64),
            sampler.0,
            step_off.0,
            step_on.0,
            tick_off.0,
            tick_on.0,
            format!("{:.2}-{:.2}", tick_on.1, tick_on.2),
            tick_on.0 / tick_off.0,
            detections as f64 / ticks,
            met(tick_on.0 < GOAL_TICK_MS),
        );
        if events == load {
            headline.push(format!(
                "Detection tick, {} hosts, {} events: {:.2} ms (detection off {:.2} ms, {:.1}x) (goal: under {GOAL_TICK_MS} ms) {}",
                grouped(u64::from(options.hosts)),
                grouped(events as u64),
                tick_on.0,
                tick_off.0,
                tick_on.0 / tick_off.0,
                met(tick_on.0 < GOAL_TICK_MS)
            ));
        }
    }
    let (parsed, truncated, malformed) = on.answers();
    println!(
        "\nDNS answers parsed {}, cut {truncated}, malformed {malformed} (real response messages, parsed with hickory-proto)",
        grouped(parsed)
    );
    if let Some(stats) = on.stats() {
        println!(
            "after the rounds: {} observations, {} findings, {} alerts raised, {} suppressed, {} open",
            grouped(stats.observations),
            grouped(stats.findings),
            grouped(stats.alerts.raised),
            grouped(stats.alerts.suppressed_total()),
            stats.open_alerts
        );
    }
    println!();
    memory_part(options, &config, headline)
}

/// The memory child: the agent's state after the fill, as one JSON line.
fn memory_child(options: &Options) -> anyhow::Result<()> {
    let start = memory()?;
    let scratch = ScratchDir::create("vantage-detect-bench-child")?;
    let config = config(&scratch)?;
    let load = headline_events(options);
    let mut site = SyntheticSite::new(options.hosts, options.cpus, SEED);
    let first = site.tick(load);
    let with_site = memory()?;
    let mut on = TickWork::new(&config, true)?;
    on.step(first);
    for _ in 1..options.fill {
        on.step(site.tick(load));
    }
    let filled = memory()?;
    let stats = on.stats().context("no detection stats")?;
    let mut detectors: Vec<serde_json::Value> = stats
        .detectors
        .iter()
        .map(|(d, s)| serde_json::json!([d.name(), s.tracked, s.evicted]))
        .collect();
    detectors.push(serde_json::json!([
        "passive_dns",
        stats.passive_dns.tracked,
        stats.passive_dns.evicted
    ]));
    let json = |m: Memory| serde_json::json!([m.rss_kib, m.hwm_kib]);
    println!(
        "{}",
        serde_json::json!({
            "start": json(start),
            "site": json(with_site),
            "filled": json(filled),
            "detectors": detectors,
            "open_alerts": stats.open_alerts,
        })
    );
    Ok(())
}

/// Part one, memory: a child process fills the state, then reads its status.
fn memory_part(
    options: &Options,
    config: &Config,
    headline: &mut Vec<String>,
) -> anyhow::Result<()> {
    let load = headline_events(options);
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .args(["--memory-child", "--hosts", &options.hosts.to_string()])
        .args(["--cpus", &options.cpus.to_string()])
        .args([
            "--events",
            &load.to_string(),
            "--fill",
            &options.fill.to_string(),
        ])
        .output()
        .context("starting the memory child")?;
    if !out.status.success() {
        bail!(
            "the memory child failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("reading the memory child's report")?;
    let kib = |key: &str, i: usize| report[key][i].as_u64().unwrap_or(0);
    println!(
        "== Detection: resident memory of a process holding {} hosts' readings, the sampler and the pipeline, after {} ticks at {} events per tick\n",
        grouped(u64::from(options.hosts)),
        options.fill,
        grouped(load as u64)
    );
    println!("{:<44} {:>10} {:>10}", "", "VmRSS MiB", "VmHWM MiB");
    for (what, key) in [
        ("at start (the binary, its libraries)", "start"),
        ("+ the synthetic site (bench only) and a tick", "site"),
        ("+ sampler, pipeline, detector state (filled)", "filled"),
    ] {
        println!(
            "{what:<44} {:>10.1} {:>10.1}",
            mib(kib(key, 0)),
            mib(kib(key, 1))
        );
    }
    let (rss, hwm) = (kib("filled", 0), kib("filled", 1));
    let own = kib("filled", 0).saturating_sub(kib("site", 0)) + kib("start", 0);
    println!(
        "{:<44} {:>10.1}   (the agent's share: the site's memory left out)",
        "agent-like total",
        mib(own)
    );
    println!(
        "\n{:<18} {:>9} {:>10} {:>8}  key",
        "detector", "tracked", "evicted", "cap"
    );
    if let Some(detectors) = report["detectors"].as_array() {
        for row in detectors {
            let name = row[0].as_str().unwrap_or("?");
            let detector = Detector::ALL.iter().copied().find(|d| d.name() == name);
            let (cap, key) = cap_of(config, detector);
            println!(
                "{name:<18} {:>9} {:>10} {:>8}  {key}",
                grouped(row[1].as_u64().unwrap_or(0)),
                grouped(row[2].as_u64().unwrap_or(0)),
                grouped(cap as u64)
            );
        }
    }
    println!("open alerts: {}\n", report["open_alerts"]);
    headline.push(format!(
        "Resident memory, {} hosts, state filled: VmRSS {:.1} MiB, VmHWM {:.1} MiB, without the synthetic site {:.1} MiB (goal: under {GOAL_RSS_MIB} MiB) {}",
        grouped(u64::from(options.hosts)),
        mib(rss),
        mib(hwm),
        mib(own),
        met(mib(hwm) < GOAL_RSS_MIB)
    ));
    Ok(())
}

/// Part two: `vantage replay` against tshark on the same files.
fn replay_part(
    options: &Options,
    scratch: &ScratchDir,
    headline: &mut Vec<String>,
) -> anyhow::Result<()> {
    let vantage = vantage_bin()?;
    let captures = prepare(scratch, &options.pcaps, options.min_frames)?;
    println!(
        "== Replay: `{} replay FILE --json --local-net NET` against `tshark -r FILE -T fields -e frame.number`, output to /dev/null",
        vantage.display()
    );
    println!(
        "whole commands, {} interleaved rounds (replay, tshark, then both on one pass), medians; fps = frames / seconds; per frame = (many passes - one pass) / extra frames\n",
        options.replay_rounds
    );
    for capture in &captures {
        let (frames, alerts) = replay_counts(&vantage, &capture.many, capture.local_net)?;
        let tshark = tshark_frames(&capture.many)?;
        if frames != capture.frames || tshark != capture.frames {
            bail!(
                "{}: {} frames written, replay read {frames}, tshark {tshark}",
                capture.name,
                capture.frames
            );
        }
        println!(
            "{}: {} passes, {} frames, {} new alerts in the replay",
            capture.name,
            capture.passes,
            grouped(frames),
            alerts
        );
    }
    let mut samples = vec![[Vec::new(), Vec::new(), Vec::new(), Vec::new()]; captures.len()];
    for _ in 0..options.replay_rounds {
        for (capture, s) in captures.iter().zip(samples.iter_mut()) {
            s[0].push(seconds(replay_command(
                &vantage,
                &capture.many,
                capture.local_net,
            ))?);
            s[1].push(seconds(tshark_command(&capture.many))?);
            s[2].push(seconds(replay_command(
                &vantage,
                &capture.one,
                capture.local_net,
            ))?);
            s[3].push(seconds(tshark_command(&capture.one))?);
        }
    }
    println!(
        "\n{:<24} {:>8} {:>9} {:>9} {:>11} {:>11} {:>9} {:>15} {:>10} {:>10} {:>10} {:>10}",
        "capture",
        "frames",
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
    for (capture, s) in captures.iter().zip(samples) {
        let [replay, tshark, replay_one, tshark_one] = s.map(spread);
        let frames = capture.frames as f64;
        let extra = (capture.frames - capture.frames_one).max(1) as f64;
        all_frames += capture.frames;
        all_replay += replay.0;
        all_tshark += tshark.0;
        println!(
            "{:<24} {:>8} {:>9.3} {:>9.3} {:>11} {:>11} {:>8.2}x {:>15} {:>10.3} {:>10.3} {:>10.2} {:>10.2}",
            capture.name,
            grouped(capture.frames),
            replay.0,
            tshark.0,
            grouped((frames / replay.0) as u64),
            grouped((frames / tshark.0) as u64),
            tshark.0 / replay.0,
            format!("{}-{}", grouped((frames / replay.2) as u64), grouped((frames / replay.1) as u64)),
            replay_one.0,
            tshark_one.0,
            (replay.0 - replay_one.0) / extra * 1e6,
            (tshark.0 - tshark_one.0) / extra * 1e6,
        );
    }
    let ratio = all_tshark / all_replay;
    println!(
        "{:<24} {:>8} {:>9.3} {:>9.3} {:>11} {:>11} {:>8.2}x\n",
        "all three",
        grouped(all_frames),
        all_replay,
        all_tshark,
        grouped((all_frames as f64 / all_replay) as u64),
        grouped((all_frames as f64 / all_tshark) as u64),
        ratio
    );
    headline.push(format!(
        "Replay, three public captures ({} frames): {} frames/s, tshark {} frames/s: replay fps / tshark fps = {ratio:.2}",
        grouped(all_frames),
        grouped((all_frames as f64 / all_replay) as u64),
        grouped((all_frames as f64 / all_tshark) as u64),
    ));
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let options = options()?;
    if options.memory_child {
        return memory_child(&options);
    }
    let scratch = ScratchDir::create("vantage-detect-bench")?;
    let mut headline = Vec::new();
    if options.parts.iter().any(|p| p == "detect") {
        detect_part(&options, &scratch, &mut headline)?;
    }
    if options.parts.iter().any(|p| p == "replay") {
        replay_part(&options, &scratch, &mut headline)?;
    }
    for line in headline {
        println!("{line}");
    }
    Ok(())
}
