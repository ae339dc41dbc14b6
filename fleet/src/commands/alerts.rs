//! `vantage-fleet alerts`: stored alerts, oldest first, as a table or as
//! `vantage.fleet.alerts/1` JSON. A canary alert carries its timing: the
//! table ends its line with the latency, the JSON has a `canary` object
//! (`null` for other kinds).

use std::path::Path;

use vantage_fleet::{
    assurance::canary::{self, human_latency},
    record::{AlertFilter, AlertRecord},
    store::{Queries as _, SqliteStore},
    view::{AlertEntry, ALERTS_SCHEMA},
};

/// The filter options as the command line gave them.
#[derive(Debug)]
pub struct Filter {
    /// `--sensor`: only this sensor (id or unique prefix).
    pub sensor: Option<String>,
    /// `--min-severity`, not yet parsed.
    pub min_severity: Option<String>,
    /// `--kind`, not yet parsed.
    pub kind: Option<String>,
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
    let kind = super::parse_kind(filter.kind.as_deref())?;
    let store = SqliteStore::open(db)?;
    let sensor = filter
        .sensor
        .map(|given| super::resolve_sensor(&store, &given))
        .transpose()?;
    let filter = AlertFilter {
        after_id: filter.after_id,
        sensor,
        min_severity,
        kind,
        include_broken: filter.include_broken,
        limit: filter.limit,
    };
    let alerts = store.alerts(&filter)?;
    if json {
        let entries: Vec<AlertEntry> = alerts.into_iter().map(AlertEntry::from).collect();
        let doc = serde_json::json!({ "schema": ALERTS_SCHEMA, "alerts": entries });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    for alert in &alerts {
        println!("{}", line(alert));
    }
    Ok(())
}

/// One alert as a table line; a canary's ends with its latency.
fn line(alert: &AlertRecord) -> String {
    let peer = alert
        .peer
        .map(|p| format!(" -> {p}:{}", alert.port))
        .unwrap_or_default();
    let latency = match canary::timing(alert) {
        Some(timing) => match timing.latency_secs {
            Some(secs) => format!(" latency {}", human_latency(secs)),
            None => " latency unknown (not a canary name)".to_owned(),
        },
        None => String::new(),
    };
    format!(
        "{:>6} {} {}/{:<12} {:>3}/{:<6} {:<8} {:<12} {}{} x{} {} [{}]{latency}",
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
    )
}
