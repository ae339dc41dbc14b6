//! The commands of `vantage-fleet`, one module each, every one a thin layer
//! over the library: parse what the command line gave, call the library,
//! print.

mod alerts;
mod enroll;
mod export;
mod init;
mod pin;
mod sensors;
mod serve;

use anyhow::Context as _;
use vantage_fleet::cli::{Cli, Command};
use vantage_protocol::Severity;

/// Runs the command `cli` names.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let db = cli.db_path();
    match cli.command {
        Command::Init { name } => init::run(&cli.dir, &name),
        Command::Pin => pin::run(&cli.dir),
        Command::Serve { listen } => serve::run(&cli.dir, &db, listen),
        Command::Enroll {
            request,
            public_key,
            site,
            name,
        } => enroll::run(&db, request, public_key, site, name),
        Command::Sensors { json } => sensors::run(&db, json),
        Command::Export {
            format,
            to,
            after_id,
            min_severity,
            follow,
        } => export::run(
            &db,
            &format,
            to.as_deref(),
            after_id,
            min_severity.as_deref(),
            follow,
        ),
        Command::Alerts {
            json,
            sensor,
            min_severity,
            after_id,
            include_broken,
            limit,
        } => alerts::run(
            &db,
            json,
            alerts::Filter {
                sensor,
                min_severity,
                after_id,
                include_broken,
                limit,
            },
        ),
    }
}

/// `--min-severity`: one of info, low, medium, high, critical.
fn parse_severity(name: Option<&str>) -> anyhow::Result<Option<Severity>> {
    name.map(|name| {
        Severity::from_name(name).with_context(|| {
            format!("--min-severity: {name:?} is not one of info, low, medium, high, critical")
        })
    })
    .transpose()
}
