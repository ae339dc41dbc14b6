//! `vantage placement`: the installer's check. Watches the pinned counters
//! for a while (60 s by default), judges them with the same rules the
//! running agent uses, adds what only the agent can know (lookups from its
//! events, its self-test), prints the verdict with evidence and fixes, and
//! exits 0 only on `ok`, 1 on findings (or not enough evidence), 2 on error.

use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use vantage::{
    agent::{own_traffic::OwnTraffic, state_file},
    datapath::{self, snapshot},
    report::sight::SightReport,
    sample::Sampler,
    time::{Clock as _, SystemClock},
    visibility::{Declaration, InterfaceSight, Judge, Surroundings, GRACE},
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
    let interfaces: Vec<(String, Option<u32>)> = if agent.running {
        agent
            .interfaces
            .iter()
            .map(|i| (i.name.clone(), Some(i.program_id).filter(|id| *id != 0)))
            .collect()
    } else {
        config
            .sensor
            .interfaces
            .iter()
            .map(|i| (i.clone(), None))
            .collect()
    };
    // Run elsewhere than in the sensor's network namespace, every interface
    // would look gone: say so rather than judge links that are not here.
    let missing: Vec<&str> = interfaces
        .iter()
        .filter(|(name, _)| {
            matches!(
                datapath::link_report(name),
                Err(datapath::DatapathError::NoSuchInterface(_))
            )
        })
        .map(|(name, _)| name.as_str())
        .collect();
    if !interfaces.is_empty() && missing.len() == interfaces.len() {
        anyhow::bail!(
            "none of the sensor's interfaces ({}) exists in this network namespace: run the check where the sensor runs",
            missing.join(", ")
        );
    }
    let generic: Vec<bool> = interfaces
        .iter()
        .map(|(name, _)| {
            agent
                .interfaces
                .iter()
                .any(|i| &i.name == name && i.mode == "generic")
        })
        .collect();
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
    let mut own_traffic = OwnTraffic::default();
    own_traffic.delta();
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
        let surroundings = Surroundings {
            delivered_here: own_traffic.delta(),
            interfaces: interfaces
                .iter()
                .zip(&generic)
                .map(|((name, program), generic)| {
                    let report = datapath::link_report(name).ok();
                    let attached = report.and_then(|r| r.prog_id);
                    InterfaceSight {
                        name: name.clone(),
                        up: report.is_some_and(|r| r.running),
                        ours: match (attached, program) {
                            (Some(id), Some(ours)) => id == *ours,
                            (Some(id), None) => datapath::is_sensor_program(id),
                            (None, _) => false,
                        },
                        generic: *generic,
                    }
                })
                .collect(),
        };
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
