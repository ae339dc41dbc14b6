//! `vantage-fleet digests`: the daily digests sensors sent, oldest first,
//! as a table or as `vantage.fleet.digests/1` JSON.

use std::path::Path;

use vantage_fleet::{
    listing::digest_line,
    record::DigestFilter,
    store::{Queries as _, SqliteStore},
    view::DIGESTS_SCHEMA,
};

/// Lists the digests in `db`, of one sensor (id or unique prefix) if
/// given, the last `last` if given.
pub fn run(db: &Path, json: bool, sensor: Option<String>, last: Option<u32>) -> anyhow::Result<()> {
    let store = SqliteStore::open(db)?;
    let sensor = sensor
        .map(|given| super::resolve_sensor(&store, &given))
        .transpose()?;
    let digests = store.digests(&DigestFilter { sensor, last })?;
    if json {
        let doc = serde_json::json!({ "schema": DIGESTS_SCHEMA, "digests": digests });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    for digest in &digests {
        println!("{}", digest_line(digest));
    }
    Ok(())
}
