//! What `alerts`, `digests` and `export` list: plain alerts and detections
//! merged in row id order ([`Listed`]), and the table lines people read
//! (one per alert, detection or digest).

use std::fmt::Write as _;

use crate::{
    assurance::canary::{self, human_latency},
    record::{AlertRecord, DetectionRecord, DigestRecord},
    siem::rfc3339,
};

/// One entry of a listing: a plain alert or a detection.
#[derive(Clone, Debug, PartialEq)]
pub enum Listed {
    Alert(AlertRecord),
    Detection(DetectionRecord),
}

impl Listed {
    /// Row id of the envelope it was listed by (a detection's kept
    /// revision).
    pub fn id(&self) -> i64 {
        match self {
            Listed::Alert(alert) => alert.id,
            Listed::Detection(detection) => detection.id,
        }
    }

    /// Its table line.
    pub fn line(&self) -> String {
        match self {
            Listed::Alert(alert) => alert_line(alert),
            Listed::Detection(detection) => detection_line(detection),
        }
    }
}

/// Alerts and detections (each in row id order) merged in row id order,
/// cut to the first `limit` when given.
pub fn merge(
    alerts: Vec<AlertRecord>,
    detections: Vec<DetectionRecord>,
    limit: Option<u32>,
) -> Vec<Listed> {
    let mut listed: Vec<Listed> = alerts
        .into_iter()
        .map(Listed::Alert)
        .chain(detections.into_iter().map(Listed::Detection))
        .collect();
    listed.sort_by_key(Listed::id);
    if let Some(limit) = limit {
        listed.truncate(limit as usize);
    }
    listed
}

/// One alert as a table line; a canary's ends with its latency.
pub fn alert_line(alert: &AlertRecord) -> String {
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
        rfc3339(alert.received_at),
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

/// One detection as a table line: where its kept revision came from, its
/// detector, score and what the sensor did, the sensor's alert id and
/// revision, and the explanation in words.
pub fn detection_line(detection: &DetectionRecord) -> String {
    let updates = match detection.updates {
        0 => String::new(),
        1 => ", 1 update".to_owned(),
        n => format!(", {n} updates"),
    };
    format!(
        "{:>6} {} {}/{:<12} {:>3}/{:<6} {:<8} {:<12} score {}, {} (alert {} rev {}{updates}): {} [{}]",
        detection.id,
        rfc3339(detection.received_at),
        detection.site,
        detection.sensor_name,
        detection.epoch,
        detection.seq,
        detection.severity.name(),
        detection.detector.name(),
        detection.score,
        detection.response_text(),
        detection.alert_id,
        detection.revision,
        detection.text(),
        detection.chain.name()
    )
}

/// One digest as a table line: the day, then counts by detector and by
/// action, the top hosts and what the rate caps held back.
pub fn digest_line(digest: &DigestRecord) -> String {
    let counts = |counts: &std::collections::BTreeMap<String, u32>| {
        if counts.is_empty() {
            return "none".to_owned();
        }
        let named: Vec<String> = counts
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        named.join(", ")
    };
    let mut hosts = String::new();
    for (i, top) in digest.top_hosts.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(hosts, "{sep}{} {}", top.host, top.count);
    }
    if hosts.is_empty() {
        hosts.push_str("none");
    }
    format!(
        "{:>6} {} {}/{:<12} {:>3}/{:<6} detections {}; actions {}; top hosts {hosts}; suppressed {} [{}]",
        digest.id,
        digest.day,
        digest.site,
        digest.sensor_name,
        digest.epoch,
        digest.seq,
        counts(&digest.detections),
        counts(&digest.actions),
        digest.suppressed,
        digest.chain.name()
    )
}

#[cfg(test)]
mod tests;
