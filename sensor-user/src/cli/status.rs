//! `vantage status`: the pinned maps and the agent's state file, as a table
//! or as JSON.

use std::{io::Write as _, time::Duration};

use vantage::{
    agent::state_file,
    config::Config,
    datapath,
    net::BlockTarget,
    report::{
        status::{self, BlockCounts, ParsingStatus, ReportContext},
        table,
    },
    sample::Sampler,
    time::{unix_seconds, Clock as _, SystemClock},
    visibility::census::is_host_address,
};

use super::{args::StatusArgs, load_config, open_maps};

/// Builds the full status report from the pinned maps and the agent's state file.
fn build_report(config: &Config) -> anyhow::Result<status::StatusReport> {
    let clock = SystemClock;
    let maps = open_maps(config)?;
    let reading = datapath::snapshot::read(&maps)?;
    let mut interval = Sampler::new().next(reading, Vec::new(), clock.now(), clock.monotonic_ns());
    // Network, broadcast and multicast addresses are never hosts.
    let local_nets = maps.local_nets()?;
    interval
        .hosts
        .retain(|host| is_host_address(host.addr, &local_nets));
    let now_ns = clock.monotonic_ns();
    let mut blocks = BlockCounts::default();
    for record in maps.blocks()? {
        match record.target {
            BlockTarget::Host(_) => blocks.hosts += 1,
            BlockTarget::Prefix(_) => blocks.prefixes += 1,
            BlockTarget::Flow(_) => blocks.flows += 1,
        }
        if record.entry.expires_at_ns > now_ns {
            blocks.active += 1;
        }
    }
    let stale_after = config.status.interval.0 * 3 + Duration::from_secs(2);
    let context = ReportContext {
        generated_at: unix_seconds(clock.now()),
        agent: state_file::read_state(&config.sensor.state_dir, stale_after, &clock),
        local_nets: local_nets.iter().map(ToString::to_string).collect(),
        parsing: {
            let (open, skip_duplicates) = maps.parsing()?;
            ParsingStatus {
                decapsulate: open
                    .into_iter()
                    .map(|k| <&str>::from(k).to_owned())
                    .collect(),
                skip_duplicates,
            }
        },
        blocks,
    };
    Ok(status::build(&interval, context, &|ns| {
        interval.unix_of(ns)
    }))
}

pub(super) fn show_status(args: &StatusArgs) -> anyhow::Result<()> {
    let config = load_config(&args.common)?;
    loop {
        let report = build_report(&config)?;
        let text = if args.json {
            serde_json::to_string_pretty(&report)? + "\n"
        } else {
            table::render_table(&report)
        };
        let mut out = std::io::stdout().lock();
        if args.watch.is_some() && !args.json {
            // Clear the screen and home the cursor.
            write!(out, "\x1b[2J\x1b[H")?;
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
        match args.watch {
            Some(seconds) => std::thread::sleep(Duration::from_secs(seconds.max(1))),
            None => return Ok(()),
        }
    }
}
