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
use vantage_tests::{
    agent::vantage_bin,
    bench::{
        detect_format::{grouped, met, mib, ms, spread},
        detect_memory::{self, MemoryRun},
        detect_pcap::ScratchDir,
        detect_pipeline::{config_with_list, StepTimes, TickWork},
        detect_replay,
        detect_site::SyntheticSite,
    },
};

/// The goals the brief sets: ms per tick, resident MiB.
const GOAL_TICK_MS: f64 = 50.0;
const GOAL_RSS_MIB: f64 = 32.0;
/// The headline load: the default event rate limit (2,000 per CPU per
/// second) of a 4-CPU sensor.
const HEADLINE_EVENTS: usize = 8_000;
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

const USAGE: &str = "vantage-detect-bench [--quick] [--only detect|replay|latency,...] [--hosts N] [--cpus N] [--events N,N] [--rounds N] [--ticks N] [--fill N] [--replay-rounds N] [--frames N] [--pcaps DIR]";

fn number<T: std::str::FromStr>(value: Option<String>, what: &str) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text = value.with_context(|| format!("{what} needs a value: {USAGE}"))?;
    text.parse().with_context(|| format!("{what} {text}"))
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        parts: vec!["detect".into(), "replay".into(), "latency".into()],
        hosts: 10_000,
        cpus: std::thread::available_parallelism().map_or(2, usize::from),
        events: vec![4_000, HEADLINE_EVENTS, 32_000],
        rounds: 15,
        ticks: 4,
        fill: 300,
        replay_rounds: 5,
        min_frames: 30_000,
        pcaps: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps"),
        memory_child: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                options.events = vec![HEADLINE_EVENTS];
                options.rounds = 5;
                options.ticks = 3;
                options.fill = 120;
                options.replay_rounds = 3;
                options.min_frames = 10_000;
            }
            "--only" => {
                let list: String = number(args.next(), "--only")?;
                options.parts = list.split(',').map(str::to_owned).collect();
                if let Some(bad) = options
                    .parts
                    .iter()
                    .find(|p| !["detect", "replay", "latency"].contains(&p.as_str()))
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

fn memory_run(options: &Options) -> MemoryRun {
    MemoryRun {
        hosts: options.hosts,
        cpus: options.cpus,
        events: headline_events(options),
        fill: options.fill,
        seed: SEED,
    }
}

/// Part one: ms per tick, detection on against off, in the same rounds.
fn detect_part(
    options: &Options,
    scratch: &ScratchDir,
    headline: &mut Vec<String>,
) -> anyhow::Result<()> {
    let config = config_with_list(scratch)?;
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
        "state first filled by {} ticks (1 s each) at {} events per tick: {fill_med:.1} ms per tick (median; highest {fill_high:.1}: the first tick has every host new)",
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
        "alerts/t",
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
    let by_detector: Vec<String> = on
        .new_alerts()
        .iter()
        .map(|(detector, n)| format!("{detector} {n}"))
        .collect();
    println!(
        "new alerts by detector: {} (the incidents: a port scan, a beacon every 30 s, a DNS tunnel, a known-bad peer)",
        if by_detector.is_empty() {
            "none".to_owned()
        } else {
            by_detector.join(", ")
        }
    );
    println!();
    memory_part(options, &config, headline)
}

/// Part one, memory: a child process fills the state, then reads its status.
fn memory_part(
    options: &Options,
    config: &vantage::config::Config,
    headline: &mut Vec<String>,
) -> anyhow::Result<()> {
    let run = memory_run(options);
    let report = detect_memory::spawn(&run)?;
    let figures = detect_memory::print(&report, &run, config);
    headline.push(format!(
        "Resident memory, {} hosts, state filled: VmRSS {:.1} MiB, VmHWM {:.1} MiB, the agent's share {:.1} MiB (goal: under {GOAL_RSS_MIB} MiB) {}",
        grouped(u64::from(options.hosts)),
        mib(figures.rss_kib),
        mib(figures.hwm_kib),
        mib(figures.agent_kib),
        met(mib(figures.agent_kib) < GOAL_RSS_MIB)
    ));
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let options = options()?;
    if options.memory_child {
        let scratch = ScratchDir::create("vantage-detect-bench-child")?;
        let config = config_with_list(&scratch)?;
        let report = detect_memory::child(&memory_run(&options), &config)?;
        println!("{report}");
        return Ok(());
    }
    let scratch = ScratchDir::create("vantage-detect-bench")?;
    let mut headline = Vec::new();
    if options.parts.iter().any(|p| p == "detect") {
        detect_part(&options, &scratch, &mut headline)?;
    }
    if options.parts.iter().any(|p| p == "replay") {
        headline.push(detect_replay::bench(
            &vantage_bin()?,
            &scratch,
            &options.pcaps,
            options.min_frames,
            options.replay_rounds,
        )?);
    }
    if options.parts.iter().any(|p| p == "latency") {
        headline.push(vantage_tests::bench::detect_latency::bench()?);
    }
    for line in headline {
        println!("{line}");
    }
    Ok(())
}
