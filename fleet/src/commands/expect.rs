//! `vantage-fleet expect SENSOR [--mode ..] [--expect-hosts ..] [--resolvers ..]`:
//! shows a sensor's contract, or changes the terms given and shows the
//! result.

use std::path::Path;

use anyhow::Context as _;
use vantage_fleet::{
    cli::ContractFlags,
    serve::unix_now,
    store::{Queries as _, SqliteStore},
};

/// Changes the contract of the sensor `given` names (id or unique prefix)
/// in `db` by `flags`; without flags, prints it.
pub fn run(db: &Path, given: &str, flags: &ContractFlags) -> anyhow::Result<()> {
    let change = super::parse_contract(flags)?;
    let mut store = SqliteStore::open(db)?;
    let sensor = super::resolve_sensor(&store, given)?;
    let row = store
        .sensors()?
        .into_iter()
        .find(|row| row.sensor == sensor)
        .with_context(|| format!("sensor {sensor} vanished while reading it"))?;
    if change.is_empty() {
        println!(
            "sensor {sensor} ({}, site {}) contract: {}",
            row.name, row.site, row.contract
        );
        return Ok(());
    }
    let contract = change.apply(&row.contract);
    store.set_contract(&sensor, &contract, unix_now())?;
    println!(
        "sensor {sensor} ({}, site {}) contract: {} (was: {})",
        row.name, row.site, contract, row.contract
    );
    Ok(())
}
