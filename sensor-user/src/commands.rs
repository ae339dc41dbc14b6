//! The operator commands behind the CLI; each resolves its settings, does
//! one job against the datapath, and reports with context on failure.

use std::{io::Write as _, path::Path, time::Duration};

use anyhow::{bail, Context as _};
use sensor_common::policy::{BLOCK_ORIGIN_OPERATOR, BLOCK_ORIGIN_POLICY};
use tokio_util::sync::CancellationToken;
use vantage::{
    agent::{self, AgentOptions},
    agent_state,
    cli::{AllowCommand, AttachModeArg, BlockCommand, Command, CommonArgs, RunArgs, StatusArgs},
    clock,
    config::{AttachMode, Config},
    datapath::{self, AttachRequest, BlockRecord, PinLayout, SensorMaps},
    status,
    target::{format_duration, parse_duration, BlockTarget, Cidr},
};

pub fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => run(args),
        Command::Status(args) => show_status(&args),
        Command::Block(command) => block(command),
        Command::Allow(command) => allow(command),
        Command::Unload(common) => unload(&common),
        Command::Keygen { out } => crate::uplink_commands::keygen(&out),
        Command::EnrolmentRequest { key, site, name } => {
            crate::uplink_commands::enrolment_request(&key, &site, name.as_deref())
        }
        Command::Alert(args) => {
            let config = load_config(&args.common)?;
            crate::uplink_commands::alert(&args, &config)
        }
        Command::Log(args) => {
            let config = load_config(&args.common)?;
            crate::uplink_commands::show_log(&args, &config)
        }
        Command::ConfigExample => {
            print!("{}", vantage::config::EXAMPLE);
            Ok(())
        }
        Command::ConfigCheck { file } => {
            let config = Config::load(&file)?;
            println!("{file}: ok\n{config:#?}", file = file.display());
            Ok(())
        }
    }
}

/// The configuration file (or the defaults) with the common overrides applied.
fn load_config(common: &CommonArgs) -> anyhow::Result<Config> {
    let mut config = match &common.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(dir) = &common.pin_dir {
        config.sensor.pin_dir = dir.clone();
    }
    if let Some(dir) = &common.state_dir {
        config.sensor.state_dir = dir.clone();
    }
    Ok(config)
}

fn open_maps(config: &Config) -> anyhow::Result<SensorMaps> {
    Ok(datapath::open_pinned(&PinLayout::new(
        &config.sensor.pin_dir,
    ))?)
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut config = load_config(&args.common)?;
    if !args.interfaces.is_empty() {
        config.sensor.interfaces = args.interfaces.clone();
    }
    if !args.local_nets.is_empty() {
        config.sensor.local_nets = args
            .local_nets
            .iter()
            .map(|s| {
                s.parse::<Cidr>()
                    .with_context(|| format!("--local-net {s}"))
            })
            .collect::<anyhow::Result<_>>()?;
    }
    if let Some(mode) = args.attach_mode {
        config.sensor.attach_mode = match mode {
            AttachModeArg::Auto => AttachMode::Auto,
            AttachModeArg::Driver => AttachMode::Driver,
            AttachModeArg::Generic => AttachMode::Generic,
        };
    }
    if let Some(capacity) = args.host_capacity {
        config.sensor.host_capacity = capacity;
    }
    config.validate()?;
    let options = AgentOptions {
        interfaces: config.sensor.interfaces.clone(),
        local_nets: config.sensor.local_nets.clone(),
        allow: config.blocks.allow.clone(),
        attach: match config.sensor.attach_mode {
            AttachMode::Auto => AttachRequest::Auto,
            AttachMode::Driver => AttachRequest::Driver,
            AttachMode::Generic => AttachRequest::Generic,
        },
        pins: PinLayout::new(&config.sensor.pin_dir),
        state_dir: config.sensor.state_dir.clone(),
        host_capacity: config.sensor.host_capacity,
        events_enabled: config.events.enabled,
        event_rate_per_cpu: config.events.rate_per_cpu,
        event_burst: config.events.burst,
        status_interval: config.status.interval.0,
        uplink: crate::uplink_commands::agent_uplink(&config)?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            on_signal.cancel();
        });
        agent::run(options, shutdown).await
    })?;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        log::error!("cannot install signal handlers; stop the agent with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => log::info!("SIGTERM received"),
        _ = int.recv() => log::info!("SIGINT received"),
    }
}

/// Builds the full status report from the pinned maps and the agent's state file.
pub fn build_report(config: &Config) -> anyhow::Result<status::StatusReport> {
    let maps = open_maps(config)?;
    let to_unix = |ns: u64| {
        clock::to_system_time(ns)
            .map(clock::unix_seconds)
            .unwrap_or(0.0)
    };
    let mut hosts: Vec<status::HostStatus> = maps
        .hosts()?
        .iter()
        .map(|r| status::merge_host(r, &to_unix))
        .collect();
    hosts.sort_by_key(|h| h.addr);
    let site_cpus = maps.site_per_cpu()?;
    let now = clock::monotonic_ns();
    let mut blocks = status::BlockCounts::default();
    for record in maps.blocks()? {
        match record.target {
            BlockTarget::Host(_) => blocks.hosts += 1,
            BlockTarget::Prefix(_) => blocks.prefixes += 1,
            BlockTarget::Flow(_) => blocks.flows += 1,
        }
        if record.entry.expires_at_ns > now {
            blocks.active += 1;
        }
    }
    let stale_after = config.status.interval.0 * 3 + Duration::from_secs(2);
    Ok(status::StatusReport {
        schema: status::STATUS_SCHEMA.to_owned(),
        generated_at: clock::unix_seconds(std::time::SystemTime::now()),
        agent: agent_state::read_state(&config.sensor.state_dir, stale_after),
        local_nets: maps.local_nets()?.iter().map(ToString::to_string).collect(),
        host_table: status::host_table(maps.host_capacity()?, hosts.len() as u64, &site_cpus),
        site: status::merge_site(&site_cpus),
        blocks,
        hosts,
    })
}

fn show_status(args: &StatusArgs) -> anyhow::Result<()> {
    let config = load_config(&args.common)?;
    loop {
        let report = build_report(&config)?;
        let text = if args.json {
            serde_json::to_string_pretty(&report)? + "\n"
        } else {
            status::render_table(&report)
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

fn block(command: BlockCommand) -> anyhow::Result<()> {
    match command {
        BlockCommand::Add {
            target,
            ttl,
            common,
        } => {
            let config = load_config(&common)?;
            let target: BlockTarget = target.parse()?;
            let ttl = match ttl {
                Some(text) => parse_duration(&text)?,
                None => config.blocks.default_ttl.0,
            };
            let max_ttl = config.blocks.max_ttl.0;
            if ttl > max_ttl {
                bail!(
                    "--ttl {} is longer than blocks.max_ttl ({})",
                    format_duration(ttl),
                    format_duration(max_ttl)
                );
            }
            let mut maps = open_maps(&config)?;
            maps.block_add(&target, ttl, BLOCK_ORIGIN_OPERATOR, clock::monotonic_ns())?;
            println!("blocked {target} for {}", format_duration(ttl));
            Ok(())
        }
        BlockCommand::Del { target, common } => {
            let config = load_config(&common)?;
            let target: BlockTarget = target.parse()?;
            if open_maps(&config)?.block_del(&target)? {
                println!("unblocked {target}");
                Ok(())
            } else {
                bail!("no block on {target}")
            }
        }
        BlockCommand::List { json, common } => {
            let config = load_config(&common)?;
            let now = clock::monotonic_ns();
            let mut records = open_maps(&config)?.blocks()?;
            records.sort_by_key(|r| r.entry.expires_at_ns);
            if json {
                let rows: Vec<serde_json::Value> =
                    records.iter().map(|r| block_json(r, now)).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            if records.is_empty() {
                println!("no blocks");
                return Ok(());
            }
            println!(
                "{:<48} {:<7} {:<9} {:>12} {:>10}",
                "target", "kind", "origin", "expires in", "hits"
            );
            for record in &records {
                let remaining =
                    Duration::from_nanos(record.entry.expires_at_ns.saturating_sub(now));
                let expires = if remaining.is_zero() {
                    "expired".to_owned()
                } else {
                    format_duration(Duration::from_secs(remaining.as_secs().max(1)))
                };
                println!(
                    "{:<48} {:<7} {:<9} {:>12} {:>10}",
                    record.target.to_string(),
                    block_kind(&record.target),
                    block_origin(record.entry.origin),
                    expires,
                    record.entry.hits
                );
            }
            Ok(())
        }
    }
}

fn block_kind(target: &BlockTarget) -> &'static str {
    match target {
        BlockTarget::Host(_) => "host",
        BlockTarget::Prefix(_) => "prefix",
        BlockTarget::Flow(_) => "flow",
    }
}

fn block_origin(origin: u32) -> &'static str {
    match origin {
        BLOCK_ORIGIN_OPERATOR => "operator",
        BLOCK_ORIGIN_POLICY => "policy",
        _ => "unknown",
    }
}

/// One block in `vantage block list --json`.
fn block_json(record: &BlockRecord, now: u64) -> serde_json::Value {
    let remaining = record.entry.expires_at_ns.saturating_sub(now);
    serde_json::json!({
        "target": record.target.to_string(),
        "kind": block_kind(&record.target),
        "origin": block_origin(record.entry.origin),
        "expires_in_secs": remaining.div_ceil(1_000_000_000),
        "active": remaining > 0,
        "hits": record.entry.hits,
    })
}

fn allow(command: AllowCommand) -> anyhow::Result<()> {
    match command {
        AllowCommand::Add { net, common } => {
            let config = load_config(&common)?;
            let net: Cidr = net.parse()?;
            open_maps(&config)?.allow_add(&net, clock::monotonic_ns())?;
            println!("allowlisted {net}");
            Ok(())
        }
        AllowCommand::Del { net, common } => {
            let config = load_config(&common)?;
            let net: Cidr = net.parse()?;
            if open_maps(&config)?.allow_del(&net)? {
                println!("removed {net} from the allowlist");
                Ok(())
            } else {
                bail!("{net} is not on the allowlist")
            }
        }
        AllowCommand::List { json, common } => {
            let config = load_config(&common)?;
            let list = open_maps(&config)?.allow_list()?;
            if json {
                let rows: Vec<serde_json::Value> = list
                    .iter()
                    .map(|(net, entry)| serde_json::json!({ "net": net.to_string(), "hits": entry.hits }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if list.is_empty() {
                println!("allowlist is empty");
            } else {
                for (net, entry) in list {
                    println!("{:<44} {:>10} hits", net.to_string(), entry.hits);
                }
            }
            Ok(())
        }
    }
}

fn unload(common: &CommonArgs) -> anyhow::Result<()> {
    let config = load_config(common)?;
    let pins = PinLayout::new(&config.sensor.pin_dir);
    if !Path::new(pins.root()).exists() {
        bail!("nothing pinned at {}", pins.root().display());
    }
    let removed = datapath::unload(&pins)?;
    println!(
        "removed {} pin(s) under {}; the XDP program is detached",
        removed.len(),
        pins.root().display()
    );
    Ok(())
}
