//! Detections and digests in SQLite: the upsert that keeps the highest
//! revision of each (sensor, alert id) and counts updates, the digest
//! insert, and the reads behind `alerts`, `digests` and the exports. Called
//! by [`SqliteLedger`](super::SqliteLedger) and the [`Queries`] of
//! [`SqliteStore`](super::SqliteStore), on their transaction or connection.
//!
//! [`Queries`]: crate::store::Queries

use std::{collections::BTreeMap, net::IpAddr};

use rusqlite::{params, Connection, OptionalExtension as _, Row};
use vantage_protocol::{
    Action, ActionReason, Addr, Detection, Detector, Digest, Explanation, Fact, Response, SensorId,
    Severity,
};

use super::{seq_from_column, seq_param, Doing as _};
use crate::{
    record::{AlertFilter, ChainStatus, DetectionRecord, DigestFilter, DigestRecord, HostCount},
    store::{Applied, StoreError},
};

/// A figure as its column holds it: NULL for what is not finite (SQLite
/// would turn a NaN into NULL anyway).
fn figure_param(value: f32) -> Option<f64> {
    value.is_finite().then_some(f64::from(value))
}

/// The inverse of [`figure_param`]: NULL reads as NaN.
fn figure_from_column(value: Option<f64>) -> f32 {
    value.map_or(f32::NAN, |v| v as f32)
}

/// Facts as JSON: `[["unanswered", 295.0], ...]`, `null` for a figure that
/// is not finite.
fn facts_param(explanation: &Explanation) -> String {
    let facts: Vec<(Fact, Option<f64>)> = explanation
        .facts
        .iter()
        .map(|(fact, value)| (*fact, figure_param(*value)))
        .collect();
    serde_json::to_string(&facts).unwrap_or_else(|_| "[]".to_owned())
}

/// An explanation from its columns; fact names this build does not know
/// are left out.
fn explanation_from_columns(
    observed: Option<f64>,
    threshold: Option<f64>,
    window_secs: u32,
    confidence: u8,
    facts: &str,
) -> Explanation {
    let facts: Vec<(String, Option<f64>)> = serde_json::from_str(facts).unwrap_or_default();
    let mut explanation = Explanation {
        observed: figure_from_column(observed),
        threshold: figure_from_column(threshold),
        window_secs,
        confidence,
        ..Explanation::default()
    };
    for (name, value) in facts {
        if let Ok(fact) = name.parse::<Fact>() {
            explanation = explanation.with(fact, f64::from(figure_from_column(value)));
        }
    }
    explanation
}

fn addr_text(addr: Addr) -> String {
    IpAddr::from(addr).to_string()
}

/// Applies `detection` (in the envelope `envelope_id`) to the alert
/// (`sensor`, `detection.alert_id`) in one statement: inserted if new,
/// replacing the row only for a higher revision. `RETURNING updates` tells
/// which: no row (stale), 0 (new) or the new update count.
pub(super) fn apply(
    conn: &Connection,
    envelope_id: i64,
    sensor: SensorId,
    detection: &Detection,
) -> Result<Applied, StoreError> {
    let e = &detection.explanation;
    let r = &detection.response;
    let updates: Option<i64> = conn
        .query_row(
            "INSERT INTO detections (sensor, alert_id, envelope_id, first_envelope_id, revision, updates,
                 raised_at, updated_at, detector, severity, score, host, peer, port, domain,
                 observed, threshold, window_secs, confidence, facts, action, ttl_secs, reason, blast_radius)
             VALUES (?1, ?2, ?3, ?3, ?4, 0, ?5, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                 ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)
             ON CONFLICT (sensor, alert_id) DO UPDATE SET
                 envelope_id = excluded.envelope_id, revision = excluded.revision,
                 updates = updates + 1, updated_at = excluded.updated_at,
                 detector = excluded.detector, severity = excluded.severity, score = excluded.score,
                 host = excluded.host, peer = excluded.peer, port = excluded.port,
                 domain = excluded.domain, observed = excluded.observed,
                 threshold = excluded.threshold, window_secs = excluded.window_secs,
                 confidence = excluded.confidence, facts = excluded.facts, action = excluded.action,
                 ttl_secs = excluded.ttl_secs, reason = excluded.reason,
                 blast_radius = excluded.blast_radius
             WHERE excluded.revision > detections.revision
             RETURNING updates",
            params![
                sensor.to_string(),
                detection.alert_id,
                envelope_id,
                detection.revision,
                seq_param(detection.at),
                detection.detector.name(),
                detection.severity.name(),
                detection.score,
                addr_text(detection.host),
                detection.peer.map(addr_text),
                detection.port,
                detection.domain(),
                figure_param(e.observed),
                figure_param(e.threshold),
                e.window_secs,
                e.confidence,
                facts_param(e),
                r.action.name(),
                r.ttl_secs,
                r.reason.name(),
                r.blast_radius,
            ],
            |row| row.get(0),
        )
        .optional()
        .doing("storing a detection")?;
    Ok(match updates {
        None => Applied::Stale,
        Some(0) => Applied::New,
        Some(_) => Applied::Updated,
    })
}

/// Stores a digest.
pub(super) fn insert_digest(
    conn: &Connection,
    envelope_id: i64,
    digest: &Digest,
) -> Result<(), StoreError> {
    let mut detections: BTreeMap<&str, u32> = BTreeMap::new();
    for (detector, n) in &digest.detections {
        let count = detections.entry(detector.name()).or_default();
        *count = count.saturating_add(*n);
    }
    let mut actions: BTreeMap<&str, u32> = BTreeMap::new();
    for (action, n) in &digest.actions {
        let count = actions.entry(action.name()).or_default();
        *count = count.saturating_add(*n);
    }
    let top_hosts: Vec<(String, u32)> = digest
        .top_hosts
        .iter()
        .map(|(host, n)| (addr_text(*host), *n))
        .collect();
    let json = |value: serde_json::Result<String>| value.unwrap_or_else(|_| "{}".to_owned());
    conn.execute(
        "INSERT INTO digests (envelope_id, sent_at, day, detections, actions, top_hosts, suppressed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            envelope_id,
            seq_param(digest.at),
            digest.day.to_string(),
            json(serde_json::to_string(&detections)),
            json(serde_json::to_string(&actions)),
            serde_json::to_string(&top_hosts).unwrap_or_else(|_| "[]".to_owned()),
            digest.suppressed,
        ],
    )
    .doing("storing a digest")
    .map(|_| ())
}

/// The columns [`detection_from_row`] reads, in its order.
const DETECTION_COLUMNS: &str =
    "d.envelope_id, d.first_envelope_id, d.sensor, s.name, s.site, e.epoch, e.seq, d.alert_id,
     d.revision, d.updates, d.raised_at, d.updated_at, e.received_at, d.detector, d.severity,
     d.score, d.host, d.peer, d.port, d.domain, d.observed, d.threshold, d.window_secs,
     d.confidence, d.facts, d.action, d.ttl_secs, d.reason, d.blast_radius, e.chain, e.hash";

/// A detection from a row of [`DETECTION_COLUMNS`]. Names this build does
/// not know read as the first of their kind, as for alerts.
fn detection_from_row(row: &Row<'_>) -> rusqlite::Result<DetectionRecord> {
    let text = |index: usize| row.get::<_, String>(index);
    let host = text(16)?;
    let peer: Option<String> = row.get(17)?;
    let hash: Vec<u8> = row.get(30)?;
    Ok(DetectionRecord {
        id: row.get(0)?,
        first_id: row.get(1)?,
        sensor: row.get(2)?,
        sensor_name: row.get(3)?,
        site: row.get(4)?,
        epoch: row.get(5)?,
        seq: seq_from_column(row.get(6)?),
        alert_id: row.get(7)?,
        revision: row.get(8)?,
        updates: row.get(9)?,
        raised_at: seq_from_column(row.get(10)?),
        updated_at: seq_from_column(row.get(11)?),
        received_at: row.get(12)?,
        detector: text(13)?.parse().unwrap_or(Detector::PortScan),
        severity: Severity::from_name(&text(14)?).unwrap_or(Severity::Info),
        score: row.get(15)?,
        host: host.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
        peer: peer.and_then(|peer| peer.parse().ok()),
        port: row.get(18)?,
        domain: row.get(19)?,
        explanation: explanation_from_columns(
            row.get(20)?,
            row.get(21)?,
            row.get(22)?,
            row.get(23)?,
            &text(24)?,
        ),
        response: Response {
            action: Action::from_name(&text(25)?).unwrap_or(Action::None),
            ttl_secs: row.get(26)?,
            reason: ActionReason::from_name(&text(27)?).unwrap_or(ActionReason::ScoreThreshold),
            blast_radius: row.get(28)?,
        },
        chain: ChainStatus::from_name(&text(29)?).unwrap_or(ChainStatus::Broken),
        envelope_hash: vantage_protocol::keys::hex_encode(&hash),
    })
}

/// Detections matching `filter`, by their kept revision's row id.
pub(super) fn detections(
    conn: &Connection,
    filter: &AlertFilter,
) -> Result<Vec<DetectionRecord>, StoreError> {
    let mut statement = conn
        .prepare(&format!(
            "SELECT {DETECTION_COLUMNS}
             FROM detections d JOIN envelopes e ON e.id = d.envelope_id JOIN sensors s ON s.sensor = d.sensor
             WHERE d.envelope_id > ?1 AND (?2 IS NULL OR d.sensor = ?2) AND (?3 OR e.chain != 'broken')
               AND d.severity IN (SELECT value FROM json_each(?5)) AND (?6 IS NULL OR d.detector = ?6)
             ORDER BY d.envelope_id LIMIT ?4"
        ))
        .doing("listing detections")?;
    let rows = statement
        .query_map(
            params![
                filter.after_id,
                filter.sensor,
                filter.include_broken,
                filter.limit.map_or(-1, i64::from),
                super::queries::wanted_severities(filter),
                filter.detector.map(Detector::name),
            ],
            detection_from_row,
        )
        .doing("listing detections")?;
    rows.collect::<Result<_, _>>().doing("listing detections")
}

/// A digest from a row: id, sensor, name, site, epoch, seq, sent_at,
/// received_at, day, detections, actions, top_hosts, suppressed, chain.
fn digest_from_row(row: &Row<'_>) -> rusqlite::Result<DigestRecord> {
    let top_hosts: Vec<(String, u32)> =
        serde_json::from_str(&row.get::<_, String>(11)?).unwrap_or_default();
    Ok(DigestRecord {
        id: row.get(0)?,
        sensor: row.get(1)?,
        sensor_name: row.get(2)?,
        site: row.get(3)?,
        epoch: row.get(4)?,
        seq: seq_from_column(row.get(5)?),
        sent_at: seq_from_column(row.get(6)?),
        received_at: row.get(7)?,
        day: row.get(8)?,
        detections: serde_json::from_str(&row.get::<_, String>(9)?).unwrap_or_default(),
        actions: serde_json::from_str(&row.get::<_, String>(10)?).unwrap_or_default(),
        top_hosts: top_hosts
            .into_iter()
            .filter_map(|(host, count)| {
                Some(HostCount {
                    host: host.parse().ok()?,
                    count,
                })
            })
            .collect(),
        suppressed: row.get(12)?,
        chain: ChainStatus::from_name(&row.get::<_, String>(13)?).unwrap_or(ChainStatus::Broken),
    })
}

/// Digests matching `filter`, oldest first.
pub(super) fn digests(
    conn: &Connection,
    filter: &DigestFilter,
) -> Result<Vec<DigestRecord>, StoreError> {
    let mut statement = conn
        .prepare(
            "SELECT e.id, e.sensor, s.name, s.site, e.epoch, e.seq, g.sent_at, e.received_at, g.day,
                    g.detections, g.actions, g.top_hosts, g.suppressed, e.chain
             FROM digests g JOIN envelopes e ON e.id = g.envelope_id JOIN sensors s ON s.sensor = e.sensor
             WHERE (?1 IS NULL OR e.sensor = ?1) AND e.chain != 'broken'
             ORDER BY e.id DESC LIMIT ?2",
        )
        .doing("listing digests")?;
    let rows = statement
        .query_map(
            params![filter.sensor, filter.last.map_or(-1, i64::from)],
            digest_from_row,
        )
        .doing("listing digests")?;
    let mut newest_first: Vec<DigestRecord> =
        rows.collect::<Result<_, _>>().doing("listing digests")?;
    newest_first.reverse();
    Ok(newest_first)
}
