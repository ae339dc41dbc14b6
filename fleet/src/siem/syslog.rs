//! RFC 5424 syslog: facility local0, the alert's severity mapped to syslog
//! severities, and a structured-data element carrying the sensor, site,
//! position in the chain and the addresses. A detection's MSGID is its
//! detector; its element adds the alert id, revision, score and action, and
//! its message is the explanation in words.

use std::fmt::Write as _;

use vantage_protocol::Severity;

use super::rfc3339;
use crate::record::{AlertRecord, DetectionRecord};

/// local0.
const FACILITY: u8 = 16;
/// SD-ID with a private enterprise number, as RFC 5424 §7.2.2 requires for
/// non-IANA elements.
pub const SD_ID: &str = "vantage@32473";

/// Critical → crit (2), high → err (3), medium → warning (4), low → notice
/// (5), info → info (6).
pub fn syslog_severity(severity: Severity) -> u8 {
    match severity {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Info => 6,
    }
}

/// Escapes a PARAM-VALUE: `"`, `\` and `]` get a backslash (RFC 5424 §6.3.3).
pub fn escape_param(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// HOSTNAME, APP-NAME and MSGID must be printable US-ASCII without spaces.
fn header_field(value: &str, max: usize) -> String {
    let cleaned: String = value
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if cleaned.is_empty() {
        "-".to_owned()
    } else {
        cleaned
    }
}

/// `[SD_ID name="value" ...]`, values escaped.
fn structured_data(params: Vec<(&str, String)>) -> String {
    let mut sd = format!("[{SD_ID}");
    for (name, value) in params {
        let _ = write!(sd, " {name}=\"{}\"", escape_param(&value));
    }
    sd.push(']');
    sd
}

pub fn render(record: &AlertRecord, collector_host: &str) -> String {
    let pri = u16::from(FACILITY) * 8 + u16::from(syslog_severity(record.severity));
    let mut params = vec![
        ("sensor", record.sensor.clone()),
        ("name", record.sensor_name.clone()),
        ("site", record.site.clone()),
        ("epoch", record.epoch.to_string()),
        ("seq", record.seq.to_string()),
        ("host", record.host.to_string()),
    ];
    if let Some(peer) = record.peer {
        params.push(("peer", peer.to_string()));
    }
    params.push(("port", record.port.to_string()));
    params.push(("count", record.count.to_string()));
    params.push(("chain", record.chain.name().to_owned()));
    let sd = structured_data(params);
    let target = match record.peer {
        Some(peer) if record.port != 0 => format!(" -> {peer}:{}", record.port),
        Some(peer) => format!(" -> {peer}"),
        None => String::new(),
    };
    format!(
        "<{pri}>1 {} {} vantage-fleet - {} {sd} {} {} {}{target}: {}",
        rfc3339(record.received_at),
        header_field(collector_host, 255),
        header_field(record.kind.name(), 32),
        record.severity.name(),
        record.kind.name(),
        record.host,
        record.detail
    )
}

pub fn render_detection(record: &DetectionRecord, collector_host: &str) -> String {
    let pri = u16::from(FACILITY) * 8 + u16::from(syslog_severity(record.severity));
    let mut params = vec![
        ("sensor", record.sensor.clone()),
        ("name", record.sensor_name.clone()),
        ("site", record.site.clone()),
        ("epoch", record.epoch.to_string()),
        ("seq", record.seq.to_string()),
        ("alert_id", record.alert_id.to_string()),
        ("revision", record.revision.to_string()),
        ("score", record.score.to_string()),
        ("action", record.response.action.name().to_owned()),
        ("host", record.host.to_string()),
    ];
    if let Some(peer) = record.peer {
        params.push(("peer", peer.to_string()));
    }
    params.push(("port", record.port.to_string()));
    if let Some(domain) = &record.domain {
        params.push(("domain", domain.clone()));
    }
    params.push(("chain", record.chain.name().to_owned()));
    format!(
        "<{pri}>1 {} {} vantage-fleet - {} {} {} {} score {}, {}: {}",
        rfc3339(record.received_at),
        header_field(collector_host, 255),
        header_field(record.detector.name(), 32),
        structured_data(params),
        record.severity.name(),
        record.detector.name(),
        record.score,
        record.response_text(),
        record.text()
    )
}
