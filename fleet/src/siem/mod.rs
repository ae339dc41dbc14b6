//! Exports of stored alerts and detections to SIEMs: JSON lines, OCSF
//! Detection Findings and RFC 5424 syslog, written to stdout or sent over
//! UDP or TCP. A detection is exported again each time a higher revision
//! updates it (OCSF activity `Update`, the same `finding_info.uid`).

pub mod jsonl;
pub mod ocsf;
pub mod syslog;
pub mod transport;

use std::str::FromStr;

use serde_json::{Map, Value};
use vantage_protocol::Explanation;

use crate::{
    listing::Listed,
    record::{AlertRecord, DetectionRecord},
};

/// One of the export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// One `vantage.alert/1` (or `vantage.detection/1`) JSON object per line.
    JsonLines,
    /// OCSF 1.1 Detection Finding (class 2004), one per line.
    Ocsf,
    /// RFC 5424 syslog messages.
    Syslog,
}

impl FromStr for ExportFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<ExportFormat, String> {
        match text {
            "jsonl" => Ok(ExportFormat::JsonLines),
            "ocsf" => Ok(ExportFormat::Ocsf),
            "syslog" => Ok(ExportFormat::Syslog),
            other => Err(format!("{other:?} is not one of jsonl, ocsf, syslog")),
        }
    }
}

/// Renders one alert as one line (no newline). `collector_host` is the
/// HOSTNAME of syslog messages.
pub fn render(format: ExportFormat, record: &AlertRecord, collector_host: &str) -> String {
    match format {
        ExportFormat::JsonLines => jsonl::render(record),
        ExportFormat::Ocsf => ocsf::render(record),
        ExportFormat::Syslog => syslog::render(record, collector_host),
    }
}

/// Renders one detection as one line (no newline).
pub fn render_detection(
    format: ExportFormat,
    record: &DetectionRecord,
    collector_host: &str,
) -> String {
    match format {
        ExportFormat::JsonLines => jsonl::render_detection(record),
        ExportFormat::Ocsf => ocsf::render_detection(record),
        ExportFormat::Syslog => syslog::render_detection(record, collector_host),
    }
}

/// Renders an alert or a detection as one line.
pub fn render_listed(format: ExportFormat, listed: &Listed, collector_host: &str) -> String {
    match listed {
        Listed::Alert(record) => render(format, record, collector_host),
        Listed::Detection(record) => render_detection(format, record, collector_host),
    }
}

/// A figure for JSON: the shortest decimal that reads back as the same
/// `f32` (0.92, not 0.9200000166893005); `null` when not finite.
pub fn figure(value: f32) -> Value {
    if !value.is_finite() {
        return Value::Null;
    }
    value
        .to_string()
        .parse::<f64>()
        .map_or(Value::Null, Value::from)
}

/// An explanation's facts as a JSON object by name.
pub fn facts(explanation: &Explanation) -> Value {
    let facts: Map<String, Value> = explanation
        .facts
        .iter()
        .map(|(fact, value)| (fact.name().to_owned(), figure(*value)))
        .collect();
    Value::Object(facts)
}

/// RFC 3339 UTC with milliseconds, from unix seconds.
pub fn rfc3339(unix: f64) -> String {
    let millis_total = (unix * 1000.0).round().max(0.0) as u64;
    let (secs_total, millis) = (millis_total / 1000, millis_total % 1000);
    let days = secs_total / 86_400;
    let secs = secs_total % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a year.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
