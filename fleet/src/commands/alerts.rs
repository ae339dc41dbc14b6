//! `vantage-fleet alerts`: stored alerts, oldest first, as a table or as
//! `vantage.fleet.alerts/1` JSON.

use std::path::Path;

use vantage_fleet::{
    record::AlertFilter,
    store::{Queries as _, SqliteStore},
    view::ALERTS_SCHEMA,
};

/// The filter options as the command line gave them.
#[derive(Debug)]
pub struct Filter {
    /// `--sensor`: only this sensor id.
    pub sensor: Option<String>,
    /// `--min-severity`, not yet parsed.
    pub min_severity: Option<String>,
    /// `--after-id`: only rows above this id.
    pub after_id: i64,
    /// `--include-broken`: also envelopes that break their chain.
    pub include_broken: bool,
    /// `--limit`: at most this many.
    pub limit: Option<u32>,
}

/// Lists the alerts in `db` that `filter` selects.
pub fn run(db: &Path, json: bool, filter: Filter) -> anyhow::Result<()> {
    let min_severity = super::parse_severity(filter.min_severity.as_deref())?;
    let store = SqliteStore::open(db)?;
    let filter = AlertFilter {
        after_id: filter.after_id,
        sensor: filter.sensor,
        min_severity,
        kind: None,
        include_broken: filter.include_broken,
        limit: filter.limit,
    };
    let alerts = store.alerts(&filter)?;
    if json {
        let doc = serde_json::json!({ "schema": ALERTS_SCHEMA, "alerts": alerts });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    for alert in &alerts {
        let peer = alert
            .peer
            .map(|p| format!(" -> {p}:{}", alert.port))
            .unwrap_or_default();
        println!(
            "{:>6} {} {}/{:<12} {:>3}/{:<6} {:<8} {:<12} {}{} x{} {} [{}]",
            alert.id,
            vantage_fleet::siem::rfc3339(alert.received_at),
            alert.site,
            alert.sensor_name,
            alert.epoch,
            alert.seq,
            alert.severity.name(),
            alert.kind.name(),
            alert.host,
            peer,
            alert.count,
            alert.detail,
            alert.chain.name()
        );
    }
    Ok(())
}
