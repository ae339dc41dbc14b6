//! `vantage-fleet canaries`: every canary that crossed a sensor's datapath,
//! oldest first, with when it was sent, seen and stored and the latency of
//! the path it proved; as a table or as `vantage.fleet.canaries/1` JSON.

use std::{fmt::Write as _, path::Path};

use vantage_fleet::{
    assurance::canary::human_latency,
    record::AlertFilter,
    siem::rfc3339,
    store::{Queries as _, SqliteStore},
    view::{CanarySeen, CANARIES_SCHEMA},
};
use vantage_protocol::AlertKind;

/// One line of the listing: the sensor and the canary.
#[derive(Debug, serde::Serialize)]
struct Entry {
    sensor: String,
    sensor_name: String,
    site: String,
    #[serde(flatten)]
    canary: CanarySeen,
}

/// Lists the canaries in `db`, of one sensor (id or unique prefix) if
/// given, the last `last` if given.
pub fn run(db: &Path, json: bool, sensor: Option<String>, last: Option<u32>) -> anyhow::Result<()> {
    let store = SqliteStore::open(db)?;
    let sensor = sensor
        .map(|given| super::resolve_sensor(&store, &given))
        .transpose()?;
    let alerts = store.alerts(&AlertFilter {
        sensor,
        kind: Some(AlertKind::Canary),
        ..AlertFilter::default()
    })?;
    let skip = last.map_or(0, |n| alerts.len().saturating_sub(n as usize));
    let entries: Vec<Entry> = alerts
        .iter()
        .skip(skip)
        .filter_map(|alert| {
            Some(Entry {
                sensor: alert.sensor.clone(),
                sensor_name: alert.sensor_name.clone(),
                site: alert.site.clone(),
                canary: CanarySeen::of(alert)?,
            })
        })
        .collect();
    if json {
        let doc = serde_json::json!({ "schema": CANARIES_SCHEMA, "canaries": entries });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", render(&entries));
    }
    Ok(())
}

fn render(entries: &[Entry]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>6} {:<16} {:<28} {:<24} {:<24} {:>9}  NAME",
        "ALERT", "SENSOR", "SITE/NAME", "HOST", "STORED", "LATENCY"
    );
    for entry in entries {
        let timing = &entry.canary.timing;
        let latency = timing
            .latency_secs
            .map_or_else(|| "?".to_owned(), human_latency);
        let _ = writeln!(
            out,
            "{:>6} {:<16} {:<28} {:<24} {:<24} {:>9}  {}",
            entry.canary.alert_id,
            entry.sensor,
            format!("{}/{}", entry.site, entry.sensor_name),
            entry.canary.host,
            rfc3339(timing.stored_at),
            latency,
            timing.name
        );
    }
    out
}
