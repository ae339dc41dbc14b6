//! `vantage-fleet sensors`: the fleet view, as a table or as
//! `vantage.fleet.sensors/1` JSON. Under each sensor's line, indented, what
//! visibility assurance found: its verdict and time in each verdict, its
//! findings, what its configuration declares, the contract check, where it
//! contradicts its enrolment, and its last canary; then, when its last
//! heartbeat carried it, the detection stage's health (alerts the rate caps
//! suppressed, alerts raised and open, blocks, alert-only).

use std::{fmt::Write as _, path::Path};

use vantage_fleet::{
    assurance::{canary::human_latency, check::CheckStatus, contract::HostRange, dwell},
    serve::unix_now,
    siem::rfc3339,
    store::SqliteStore,
    view::{self, FleetReport, SensorSummary},
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
            sensor.verdict,
            crit,
            high,
            other,
            sensor.missing,
            sensor.broken,
            sensor.counters.get("duplicate").copied().unwrap_or(0)
        );
        details(&mut out, sensor);
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

/// The indented lines under a sensor: verdict and time in state, findings,
/// declaration, contract check, contradictions, last canary, detection
/// health.
fn details(out: &mut String, sensor: &SensorSummary) {
    let sight = sensor
        .last_heartbeat
        .as_ref()
        .and_then(|beat| beat.sight.as_ref());
    if let Some(sight) = sight {
        let since = sight
            .since
            .map(|at| format!(" since {}", rfc3339(at as f64)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  verdict    {}{since}, {} protected hosts seen",
            sight.verdict.name(),
            sight.hosts_seen
        );
    }
    let times = dwell::summary(&sensor.time_in_verdict);
    if !times.is_empty() {
        let _ = writeln!(out, "  in state   {times}");
    }
    for finding in &sensor.findings {
        let caveat = if finding.caveat { " (caveat)" } else { "" };
        let _ = writeln!(
            out,
            "  finding    {}: {}{caveat}",
            finding.code.name(),
            finding.text
        );
    }
    if let Some(declared) = sight.and_then(|s| s.declared) {
        let hosts = if (declared.hosts_min, declared.hosts_max) == (0, 0) {
            "no host count".to_owned()
        } else {
            let range = HostRange {
                min: declared.hosts_min,
                max: declared.hosts_max,
            };
            format!("{range} hosts")
        };
        let _ = writeln!(out, "  declares   {}, {hosts}", declared.mode.name());
    }
    let check = &sensor.contract_check;
    if check.status != CheckStatus::NoContract {
        let failures: Vec<&str> = check.failures.iter().map(|f| f.text.as_str()).collect();
        let outcome = if failures.is_empty() {
            check.status.name().to_uppercase()
        } else {
            format!("FAIL: {}", failures.join("; "))
        };
        let _ = writeln!(out, "  contract   {}: {outcome}", sensor.contract);
        for skipped in &check.unchecked {
            let _ = writeln!(out, "  unchecked  {}: {}", skipped.term.name(), skipped.why);
        }
    }
    if sensor.contradicts_enrolment {
        let texts: Vec<&str> = sensor
            .contradictions
            .iter()
            .map(|c| c.text.as_str())
            .collect();
        let _ = writeln!(out, "  CONTRADICTS ENROLMENT: {}", texts.join("; "));
    }
    if let Some(canary) = &sensor.last_canary {
        let timing = &canary.timing;
        let latency = timing.latency_secs.map_or_else(
            || "latency unknown".to_owned(),
            |s| format!("latency {}", human_latency(s)),
        );
        let _ = writeln!(
            out,
            "  canary     {latency}, from {} at {} ({})",
            canary.host,
            rfc3339(timing.stored_at),
            timing.name
        );
    }
    let detection = sensor
        .last_heartbeat
        .as_ref()
        .and_then(|beat| beat.detection.as_ref());
    if let Some(detection) = detection {
        let _ = writeln!(out, "  detection  {detection}");
    }
}
