//! `vantage block`, `vantage allow` and `vantage unload`: the operator's
//! hands on the pinned policy maps.

use std::{path::Path, time::Duration};

use anyhow::bail;
use vantage::{
    agent::{
        detection::{read_policy_notes, PolicyBlockNote},
        offloads, state_file,
    },
    config::duration::{format_duration, parse_duration},
    datapath::{self, BlockRecord, PinLayout},
    net::{BlockOrigin, BlockTarget, Cidr},
    time::{Clock as _, SystemClock},
};

use super::{
    args::{AllowCommand, BlockCommand, CommonArgs},
    load_config, open_maps,
};

pub(super) fn block(command: BlockCommand) -> anyhow::Result<()> {
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
            maps.block_add(
                &target,
                ttl,
                BlockOrigin::Operator,
                SystemClock.monotonic_ns(),
            )?;
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
            let now = SystemClock.monotonic_ns();
            let mut records = open_maps(&config)?.blocks()?;
            records.sort_by_key(|r| r.entry.expires_at_ns);
            let notes = read_policy_notes(&config.sensor.state_dir);
            let why = |record: &BlockRecord| -> Option<&PolicyBlockNote> {
                match record.target {
                    BlockTarget::Host(ip) if record.entry.origin == BlockOrigin::Policy as u32 => {
                        notes.iter().rev().find(|n| n.target == ip)
                    }
                    _ => None,
                }
            };
            if json {
                let rows: Vec<serde_json::Value> = records
                    .iter()
                    .map(|r| {
                        let mut row = block_json(r, now);
                        if let Some(note) = why(r) {
                            row["why"] = serde_json::json!({
                                "detector": note.detector,
                                "alert_id": note.alert_id,
                                "score": note.score,
                                "reason": note.reason,
                            });
                        }
                        row
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            if records.is_empty() {
                println!("no blocks");
                return Ok(());
            }
            println!(
                "{:<48} {:<7} {:<9} {:>12} {:>10}  why",
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
                let reason = why(record).map_or(String::new(), |note| {
                    format!(
                        "  {} alert {} score {}: {}",
                        note.detector, note.alert_id, note.score, note.reason
                    )
                });
                println!(
                    "{:<48} {:<7} {:<9} {:>12} {:>10}{reason}",
                    record.target.to_string(),
                    record.target.kind(),
                    BlockOrigin::name_of(record.entry.origin),
                    expires,
                    record.entry.hits
                );
            }
            Ok(())
        }
    }
}

/// One block in `vantage block list --json`.
fn block_json(record: &BlockRecord, now: u64) -> serde_json::Value {
    let remaining = record.entry.expires_at_ns.saturating_sub(now);
    serde_json::json!({
        "target": record.target.to_string(),
        "kind": record.target.kind(),
        "origin": BlockOrigin::name_of(record.entry.origin),
        "expires_in_secs": remaining.div_ceil(1_000_000_000),
        "active": remaining > 0,
        "hits": record.entry.hits,
    })
}

pub(super) fn allow(command: AllowCommand) -> anyhow::Result<()> {
    match command {
        AllowCommand::Add { net, common } => {
            let config = load_config(&common)?;
            let net: Cidr = net.parse()?;
            open_maps(&config)?.allow_add(&net, SystemClock.monotonic_ns())?;
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

pub(super) fn unload(common: &CommonArgs) -> anyhow::Result<()> {
    let config = load_config(common)?;
    let pins = PinLayout::new(&config.sensor.pin_dir);
    let state_dir = &config.sensor.state_dir;
    if state_file::agent_running(state_dir) {
        bail!(
            "an agent is running with the state directory {}: stop it first (SIGTERM; the datapath stays attached), then unload",
            state_dir.display()
        );
    }
    // Offloads first: they are recorded in the state directory, not under
    // the pins, so a second `unload --state-dir` can still restore them.
    let restored = offloads::restore(state_dir);
    for (iface, result) in &restored {
        match result {
            Ok(merging) => println!(
                "{iface}: GRO {} and LRO {} again, as before the agent",
                if merging.gro { "on" } else { "off" },
                if merging.lro { "on" } else { "off" }
            ),
            Err(error) => eprintln!("{iface}: could not restore GRO/LRO: {error}"),
        }
    }
    if !Path::new(pins.root()).exists() {
        if restored.is_empty() {
            bail!(
                "nothing pinned at {} and no offloads recorded in {}",
                pins.root().display(),
                state_dir.display()
            );
        }
        return Ok(());
    }
    let removed = datapath::unload(&pins)?;
    println!(
        "removed {} pin(s) under {}; the XDP program is detached",
        removed.len(),
        pins.root().display()
    );
    if restored.is_empty() {
        println!(
            "no offloads recorded in {}: if the agent ran in generic mode with another state directory, run `vantage unload --state-dir DIR` to turn GRO back on",
            state_dir.display()
        );
    }
    Ok(())
}
