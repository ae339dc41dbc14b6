//! `vantage-fleet sensors`: the fleet view, as a table or as
//! `vantage.fleet.sensors/1` JSON.

use std::{fmt::Write as _, path::Path};

use vantage_fleet::{
    serve::unix_now,
    store::SqliteStore,
    view::{self, FleetReport},
};

/// Prints the fleet stored in `db` as of now.
pub fn run(db: &Path, json: bool) -> anyhow::Result<()> {
    let store = SqliteStore::open(db)?;
    let report = view::fleet_report(&store, unix_now())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

/// The table: one line per sensor, then what was refused without a known sensor.
fn render(report: &FleetReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:<14} {:<14} {:<10} {:>9} {:<10} {:>6} {:>6} {:>6} {:>8} {:>7} {:>6}",
        "SENSOR",
        "SITE",
        "NAME",
        "STATE",
        "LAST HB",
        "VISIBILITY",
        "CRIT",
        "HIGH",
        "OTHER",
        "MISSING",
        "BROKEN",
        "DUPS"
    );
    for sensor in &report.sensors {
        let crit = sensor.alerts.get("critical").copied().unwrap_or(0);
        let high = sensor.alerts.get("high").copied().unwrap_or(0);
        let other = sensor.alerts.values().sum::<u64>() - crit - high;
        let last = sensor
            .silent_for_secs
            .map_or_else(|| "never".to_owned(), |secs| format!("{secs:.0}s ago"));
        let state = match sensor.liveness {
            view::Liveness::NeverSeen => "never",
            view::Liveness::Reporting => "reporting",
            view::Liveness::Silent => "SILENT",
        };
        let _ = writeln!(
            out,
            "{:<16} {:<14} {:<14} {:<10} {:>9} {:<10} {:>6} {:>6} {:>6} {:>8} {:>7} {:>6}",
            sensor.sensor,
            sensor.site,
            sensor.name,
            state,
            last,
            sensor.visibility,
            crit,
            high,
            other,
            sensor.missing,
            sensor.broken,
            sensor.counters.get("duplicate").copied().unwrap_or(0)
        );
    }
    let refused: Vec<String> = report
        .unattributed
        .iter()
        .map(|(name, count)| format!("{name} {count}"))
        .collect();
    if !refused.is_empty() {
        let _ = writeln!(
            out,
            "refused without a known sensor: {}",
            refused.join(", ")
        );
    }
    out
}
