//! `vantage-fleet alerts`: stored alerts and detections, oldest first (a
//! detection at the row of its latest revision), as a table or as
//! `vantage.fleet.alerts/1` JSON (`alerts` and `detections`). A canary
//! alert carries its timing: the table ends its line with the latency, the
//! JSON has a `canary` object (`null` for other kinds). A detection shows
//! its detector, score, what the sensor did and its explanation in words.

use std::path::Path;

use vantage_fleet::{
    listing,
    record::AlertFilter,
    store::{Queries as _, SqliteStore},
    view::{AlertEntry, DetectionEntry, ALERTS_SCHEMA},
};
use vantage_protocol::{AlertKind, Detector};

/// The filter options as the command line gave them.
#[derive(Debug)]
pub struct Filter {
    /// `--sensor`: only this sensor (id or unique prefix).
    pub sensor: Option<String>,
    /// `--min-severity`, not yet parsed.
    pub min_severity: Option<String>,
    /// `--kind`, not yet parsed: an alert kind or a detector.
    pub kind: Option<String>,
    /// `--after-id`: only rows above this id.
    pub after_id: i64,
    /// `--include-broken`: also envelopes that break their chain.
    pub include_broken: bool,
    /// `--limit`: at most this many.
    pub limit: Option<u32>,
}

/// `--kind`: the alert kind and the detector it names (`port_scan` and
/// `host_sweep` are both); an error naming every choice if neither.
fn parse_kind(name: &str) -> anyhow::Result<(Option<AlertKind>, Option<Detector>)> {
    let kind = AlertKind::from_name(name);
    let detector = name.parse::<Detector>().ok();
    if kind.is_none() && detector.is_none() {
        let kinds: Vec<&str> = AlertKind::ALL.iter().map(|k| k.name()).collect();
        let detectors: Vec<&str> = Detector::ALL.iter().map(|d| d.name()).collect();
        anyhow::bail!(
            "--kind: {name:?} is not one of {} (alert kinds) or {} (detectors)",
            kinds.join(", "),
            detectors.join(", ")
        );
    }
    Ok((kind, detector))
}

/// Lists the alerts and detections in `db` that `filter` selects.
pub fn run(db: &Path, json: bool, filter: Filter) -> anyhow::Result<()> {
    let min_severity = super::parse_severity(filter.min_severity.as_deref())?;
    let (kind, detector) = match filter.kind.as_deref() {
        Some(name) => parse_kind(name)?,
        None => (None, None),
    };
    let store = SqliteStore::open(db)?;
    let sensor = filter
        .sensor
        .map(|given| super::resolve_sensor(&store, &given))
        .transpose()?;
    let filter_given = filter.kind.is_some();
    let filter = AlertFilter {
        after_id: filter.after_id,
        sensor,
        min_severity,
        kind,
        detector,
        include_broken: filter.include_broken,
        limit: filter.limit,
    };
    let alerts = if filter_given && kind.is_none() {
        Vec::new()
    } else {
        store.alerts(&filter)?
    };
    let detections = if filter_given && detector.is_none() {
        Vec::new()
    } else {
        store.detections(&filter)?
    };
    if json {
        let alerts: Vec<AlertEntry> = alerts.into_iter().map(AlertEntry::from).collect();
        let detections: Vec<DetectionEntry> =
            detections.into_iter().map(DetectionEntry::from).collect();
        let doc = serde_json::json!({
            "schema": ALERTS_SCHEMA,
            "alerts": alerts,
            "detections": detections,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    for listed in listing::merge(alerts, detections, filter.limit) {
        println!("{}", listed.line());
    }
    Ok(())
}
