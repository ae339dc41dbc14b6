//! The `vantage` command line (bin-only): argument types in [`args`], one
//! file per group of commands, each resolving its settings, doing one job
//! and reporting with context on failure.

pub mod args;
mod blocks;
mod canary;
mod kernel_check;
mod placement;
mod replay;
mod run;
mod status;
mod uplink;

use args::{Command, CommonArgs};
use vantage::{
    config::Config,
    datapath::{self, PinLayout, SensorMaps},
};

/// Runs one command.
pub fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => run::run(args),
        Command::Status(args) => status::show_status(&args),
        Command::Block(command) => blocks::block(command),
        Command::Allow(command) => blocks::allow(command),
        Command::Unload(common) => blocks::unload(&common),
        Command::Keygen { out } => uplink::keygen(&out),
        Command::EnrolmentRequest { key, site, name } => {
            uplink::enrolment_request(&key, &site, name.as_deref())
        }
        Command::Alert(args) => {
            let config = load_config(&args.common)?;
            uplink::alert(&args, &config)
        }
        Command::Log(args) => {
            let config = load_config(&args.common)?;
            uplink::show_log(&args, &config)
        }
        Command::Placement(args) => placement::placement(&args),
        Command::Canary(args) => canary::send(&args),
        Command::Replay(args) => replay::replay(&args),
        Command::KernelCheck { json } => kernel_check::kernel_check(json),
        Command::ConfigExample => {
            print!("{}", vantage::config::EXAMPLE);
            Ok(())
        }
        Command::ConfigCheck { file } => {
            let config = Config::load(&file)?;
            // The files the settings name must read too: a list with a bad
            // line would be refused at start.
            let lists = &config.detect.known_bad.lists;
            if !lists.is_empty() {
                let set = vantage::detect::known_bad::ListSet::load(lists).map_err(|error| {
                    anyhow::anyhow!("{}: detect.known_bad.lists: {error}", file.display())
                })?;
                println!(
                    "# known-bad lists: {} entries in {} files",
                    set.len(),
                    lists.len()
                );
            }
            println!(
                "# {}: ok; every setting as it resolves, defaults included:\n{}",
                file.display(),
                config.to_toml()
            );
            Ok(())
        }
    }
}
/// The configuration file (or the defaults) with the common overrides applied.
pub(crate) fn load_config(common: &CommonArgs) -> anyhow::Result<Config> {
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

pub(crate) fn open_maps(config: &Config) -> anyhow::Result<SensorMaps> {
    Ok(datapath::open_pinned(&PinLayout::new(
        &config.sensor.pin_dir,
    ))?)
}
