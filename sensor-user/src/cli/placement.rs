//! `vantage placement`: the installer's check. Watches the pinned counters
//! for a while (60 s by default), judges them with the same rules the
//! running agent uses, adds what only the agent can know (lookups from its
//! events, its self-test), prints the verdict with evidence and fixes, and
//! exits 0 only on `ok`, 1 on findings (or not enough evidence), 2 on error.

use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use vantage::{
    agent::{
        state_file,
        watch::{Watch, Watched},
    },
    datapath::snapshot,
    report::sight::SightReport,
    sample::Sampler,
    time::{Clock as _, SystemClock},
    visibility::{Declaration, Judge, GRACE},
};
use vantage_protocol::{FindingCode, Sight, Verdict};

use super::{args::PlacementArgs, load_config, open_maps};

/// `vantage placement --json`.
#[derive(Serialize)]
struct PlacementReport {
    /// `vantage.placement/1`.
    schema: &'static str,
    /// Seconds watched.
    watched_secs: u64,
    #[serde(flatten)]
    sight: SightReport,
}

/// Runs the check; never returns.
pub(super) fn placement(args: &PlacementArgs) -> ! {
    match watch(args) {
        Ok(verdict) => std::process::exit(if verdict == Verdict::Ok { 0 } else { 1 }),
        Err(error) => {
            eprintln!("vantage placement: {error:#}");
            std::process::exit(2)
        }
    }
}

fn watch(args: &PlacementArgs) -> anyhow::Result<Verdict> {
    let config = load_config(&args.common)?;
    let maps = open_maps(&config).context("the placement check reads the running sensor's maps")?;
    let clock = SystemClock;
    let stale_after = config.status.interval.0 * 3 + Duration::from_secs(2);
    let agent = state_file::read_state(&config.sensor.state_dir, stale_after, &clock);
    // The interfaces to check: the running agent's, else the configured ones.
    let watched: Vec<Watched> = if agent.running {
        agent
            .interfaces
            .iter()
            .map(|i| Watched {
                name: i.name.clone(),
                program_id: Some(i.program_id).filter(|id| *id != 0),
                generic: i.mode == "generic",
            })
            .collect()
    } else {
        config
            .sensor
            .interfaces
            .iter()
            .map(|name| Watched {
                name: name.clone(),
                program_id: None,
                generic: false,
            })
            .collect()
    };
    let mut watch = Watch::new(watched);
    // Run elsewhere than in the sensor's network namespace, every interface
    // would look gone: say so rather than judge links that are not here.
    let missing = watch.missing();
    if !watch.is_empty() && missing.len() == watch.len() {
        anyhow::bail!(
            "none of the sensor's interfaces ({}) exists in this network namespace: run the check where the sensor runs",
            missing.join(", ")
        );
    }
    let local_nets = maps.local_nets()?;
    let start = clock.now();
    // The rules that wait for the first minute (the census, no DNS, VLANs)
    // apply at the end of the watch, however long the installer chose.
    let duration = Duration::from_secs(args.duration.max(1));
    let judged_from = start
        .checked_sub(GRACE.saturating_sub(duration))
        .unwrap_or(start);
    let declaration = Declaration::new(&config.site, &local_nets)
        .skipping_duplicates(config.sensor.skip_duplicates);
    let mut judge = Judge::new(declaration, judged_from);
    let mut sampler = Sampler::starting_from(&snapshot::read(&maps)?, start);
    if !args.json {
        eprintln!(
            "watching for {} s (the census and the DNS rules judge what the watch saw: {} s or more is a fair sample)...",
            duration.as_secs(),
            GRACE.as_secs()
        );
    }
    let mut sight: Option<Sight> = None;
    let mut elapsed = Duration::ZERO;
    while elapsed < duration {
        std::thread::sleep(Duration::from_secs(1));
        elapsed += Duration::from_secs(1);
        let now = clock.now();
        let interval = sampler.next(
            snapshot::read(&maps)?,
            Vec::new(),
            now,
            clock.monotonic_ns(),
        );
        let surroundings = watch.surroundings();
        sight = Some(judge.step(&interval, &surroundings, None, now).0);
    }
    let mut sight = sight.context("nothing was watched")?;
    // What only the running agent knows: lookups seen in its events and its
    // self-test, as the agent says at the end of the watch.
    let agent = state_file::read_state(&config.sensor.state_dir, stale_after, &clock);
    if let Some(agent_sight) = agent.sight.as_ref().filter(|_| agent.running) {
        for finding in &agent_sight.findings {
            let Some(code) = FindingCode::from_name(&finding.code) else {
                continue;
            };
            if matches!(code, FindingCode::DnsBypass | FindingCode::SelfTestFailed)
                && !sight.findings.iter().any(|f| f.code == code)
            {
                let _ = sight.findings.push(vantage_protocol::Finding {
                    code,
                    a: finding.a,
                    b: finding.b,
                });
            }
        }
        sight.findings.sort_by_key(|f| f.code);
        if sight.verdict != Verdict::Unknown {
            sight.verdict = Sight::verdict_of(&sight.findings);
        }
    }
    let mut report = SightReport::of(&sight);
    // The resolvers asked are in the agent's events, not in the counters.
    if let Some(agent_sight) = agent.sight.as_ref().filter(|_| agent.running) {
        report
            .resolvers_seen
            .clone_from(&agent_sight.resolvers_seen);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&PlacementReport {
                schema: "vantage.placement/1",
                watched_secs: elapsed.as_secs(),
                sight: report,
            })?
        );
    } else {
        for line in report.lines() {
            println!("{line}");
        }
        if sight.verdict == Verdict::Unknown {
            println!("  not enough evidence yet: watch longer (--duration)");
        }
    }
    Ok(sight.verdict)
}
