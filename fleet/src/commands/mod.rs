//! The commands of `vantage-fleet`, one module each, every one a thin layer
//! over the library: parse what the command line gave, call the library,
//! print.

mod alerts;
mod canaries;
mod digests;
mod enroll;
mod expect;
mod export;
mod init;
mod pin;
mod sensors;
mod serve;

use anyhow::Context as _;
use vantage_fleet::{
    assurance::contract::ContractChange,
    cli::{Cli, Command, ContractFlags},
    store::{Queries as _, SqliteStore},
};
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
            contract,
        } => enroll::run(&db, request, public_key, site, name, &contract),
        Command::Expect { sensor, contract } => expect::run(&db, &sensor, &contract),
        Command::Sensors { json } => sensors::run(&db, json),
        Command::Canaries { json, sensor, last } => canaries::run(&db, json, sensor, last),
        Command::Digests { json, sensor, last } => digests::run(&db, json, sensor, last),
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
            kind,
            after_id,
            include_broken,
            limit,
        } => alerts::run(
            &db,
            json,
            alerts::Filter {
                sensor,
                min_severity,
                kind,
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

/// `--mode`, `--expect-hosts`, `--resolvers`, parsed (each refusal names
/// its flag).
fn parse_contract(flags: &ContractFlags) -> anyhow::Result<ContractChange> {
    Ok(ContractChange::parse(
        flags.mode.as_deref(),
        flags.expect_hosts.as_deref(),
        flags.resolvers.as_deref(),
    )?)
}

/// `--sensor` (or `SENSOR`): the full id of the enrolled sensor it names.
fn resolve_sensor(store: &SqliteStore, given: &str) -> anyhow::Result<String> {
    Ok(store.resolve_sensor(given)?)
}
