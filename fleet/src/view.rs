//! The fleet view: per sensor, its last heartbeat, visibility verdict, alert
//! counts, missing and broken envelopes and whether it has gone silent; the
//! stored alerts; and the counters of everything refused.

use std::{collections::BTreeMap, net::IpAddr};

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use vantage_protocol::{AlertKind, Health, Severity, Visibility};

use crate::{
    record::{AlertRecord, ChainStatus},
    store::{self, Doing as _, StoreError},
};

/// A sensor counts as silent after this many heartbeat intervals without one.
pub const SILENT_AFTER_MISSED: f64 = 3.0;

/// Schema name of `sensors --json`.
pub const SENSORS_SCHEMA: &str = "vantage.fleet.sensors/1";
/// Schema name of `alerts --json`.
pub const ALERTS_SCHEMA: &str = "vantage.fleet.alerts/1";

/// Whether a sensor is reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Liveness {
    /// Enrolled, never heard from.
    NeverSeen,
    Reporting,
    /// No heartbeat for more than three intervals.
    Silent,
}

/// The last heartbeat a sensor sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastHeartbeat {
    /// Unix seconds when the collector stored it.
    pub received_at: f64,
    /// Unix seconds on the sensor's clock.
    pub sent_at: u64,
    pub uptime_secs: u32,
    pub interval_secs: u32,
    pub health: Option<Health>,
    pub visibility: Option<Visibility>,
}

/// One line of `vantage-fleet sensors`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SensorSummary {
    pub sensor: String,
    pub name: String,
    pub site: String,
    pub fingerprint: String,
    pub enrolled_at: f64,
    pub liveness: Liveness,
    /// Seconds since the last heartbeat was stored.
    pub silent_for_secs: Option<f64>,
    /// "unknown" until a heartbeat says otherwise.
    pub visibility: String,
    pub last_heartbeat: Option<LastHeartbeat>,
    /// Stored alerts by severity name.
    pub alerts: BTreeMap<String, u64>,
    pub envelopes: u64,
    /// Sequence numbers below an epoch's highest that never arrived.
    pub missing: u64,
    /// Envelopes flagged as breaking the chain.
    pub broken: u64,
    /// Everything counted for this sensor: duplicates, rejects, gaps.
    pub counters: BTreeMap<String, u64>,
}

/// `vantage-fleet sensors --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetReport {
    pub schema: String,
    pub generated_at: f64,
    pub sensors: Vec<SensorSummary>,
    /// Refusals that name no enrolled sensor (malformed input, unknown keys).
    pub unattributed: BTreeMap<String, u64>,
}

/// Counters by name for one sensor ("" for unattributed).
fn counters_for(conn: &Connection, sensor: &str) -> Result<BTreeMap<String, u64>, StoreError> {
    let mut statement = conn
        .prepare("SELECT name, count FROM counters WHERE sensor = ?1 ORDER BY name")
        .doing("reading counters")?;
    let rows = statement
        .query_map(params![sensor], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .doing("reading counters")?;
    let mut counters = BTreeMap::new();
    for row in rows {
        let (name, count) = row.doing("reading counters")?;
        counters.insert(name, u64::try_from(count).unwrap_or(0));
    }
    Ok(counters)
}

/// Every counter, by sensor id ("" for unattributed) then name.
pub fn all_counters(
    conn: &Connection,
) -> Result<BTreeMap<String, BTreeMap<String, u64>>, StoreError> {
    let mut statement = conn
        .prepare("SELECT sensor, name, count FROM counters")
        .doing("reading counters")?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .doing("reading counters")?;
    let mut all: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for row in rows {
        let (sensor, name, count) = row.doing("reading counters")?;
        all.entry(sensor)
            .or_default()
            .insert(name, u64::try_from(count).unwrap_or(0));
    }
    Ok(all)
}

fn last_heartbeat(conn: &Connection, sensor: &str) -> Result<Option<LastHeartbeat>, StoreError> {
    use rusqlite::OptionalExtension as _;
    conn.query_row(
        "SELECT e.received_at, h.sent_at, h.uptime_secs, h.interval_secs, h.health, h.visibility
         FROM heartbeats h JOIN envelopes e ON e.id = h.envelope_id
         WHERE e.sensor = ?1 AND e.chain != 'broken'
         ORDER BY e.received_at DESC, e.id DESC LIMIT 1",
        params![sensor],
        |row| {
            Ok(LastHeartbeat {
                received_at: row.get(0)?,
                sent_at: store::seq_from_column(row.get(1)?),
                uptime_secs: row.get(2)?,
                interval_secs: row.get(3)?,
                health: serde_json::from_str(&row.get::<_, String>(4)?).ok(),
                visibility: serde_json::from_str(&row.get::<_, String>(5)?).ok(),
            })
        },
    )
    .optional()
    .doing("reading the last heartbeat")
}

fn count(conn: &Connection, sql: &str, sensor: &str) -> Result<u64, StoreError> {
    conn.query_row(sql, params![sensor], |row| row.get::<_, i64>(0))
        .doing("counting envelopes")
        .map(|n| u64::try_from(n).unwrap_or(0))
}

/// The fleet as of `now` (unix seconds).
pub fn fleet_report(conn: &Connection, now: f64) -> Result<FleetReport, StoreError> {
    let mut statement = conn
        .prepare(
            "SELECT sensor, public_key, site, name, enrolled_at FROM sensors ORDER BY site, name",
        )
        .doing("listing sensors")?;
    let enrolled: Vec<(String, String, String, String, f64)> = statement
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .doing("listing sensors")?
        .collect::<Result<_, _>>()
        .doing("listing sensors")?;
    let mut sensors = Vec::with_capacity(enrolled.len());
    for (sensor, public_key, site, name, enrolled_at) in enrolled {
        let heartbeat = last_heartbeat(conn, &sensor)?;
        let (liveness, silent_for_secs) = match &heartbeat {
            None => (Liveness::NeverSeen, None),
            Some(beat) => {
                let quiet = (now - beat.received_at).max(0.0);
                let limit = SILENT_AFTER_MISSED * f64::from(beat.interval_secs.max(1));
                let liveness = if quiet > limit {
                    Liveness::Silent
                } else {
                    Liveness::Reporting
                };
                (liveness, Some(quiet))
            }
        };
        let visibility = heartbeat
            .as_ref()
            .and_then(|beat| beat.visibility)
            .map_or("unknown", |v| v.verdict.name())
            .to_owned();
        let mut alerts = BTreeMap::new();
        for severity in Severity::ALL {
            alerts.insert(severity.name().to_owned(), 0);
        }
        let mut by_severity = conn
            .prepare(
                "SELECT a.severity, COUNT(*) FROM alerts a JOIN envelopes e ON e.id = a.envelope_id
                 WHERE e.sensor = ?1 AND e.chain != 'broken' GROUP BY a.severity",
            )
            .doing("counting alerts")?;
        let rows = by_severity
            .query_map(params![sensor], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .doing("counting alerts")?;
        for row in rows {
            let (severity, n) = row.doing("counting alerts")?;
            alerts.insert(severity, u64::try_from(n).unwrap_or(0));
        }
        let envelopes = count(
            conn,
            "SELECT COUNT(*) FROM envelopes WHERE sensor = ?1",
            &sensor,
        )?;
        let missing = count(
            conn,
            "SELECT COALESCE(SUM(top - n), 0) FROM
               (SELECT MAX(seq) AS top, COUNT(*) AS n FROM envelopes WHERE sensor = ?1 GROUP BY epoch)",
            &sensor,
        )?;
        let broken = count(
            conn,
            "SELECT COUNT(*) FROM envelopes WHERE sensor = ?1 AND chain = 'broken'",
            &sensor,
        )?;
        let fingerprint = vantage_protocol::PublicKey::from_hex(&public_key)
            .map(|key| key.fingerprint())
            .unwrap_or_default();
        sensors.push(SensorSummary {
            counters: counters_for(conn, &sensor)?,
            sensor,
            name,
            site,
            fingerprint,
            enrolled_at,
            liveness,
            silent_for_secs,
            visibility,
            last_heartbeat: heartbeat,
            alerts,
            envelopes,
            missing,
            broken,
        });
    }
    Ok(FleetReport {
        schema: SENSORS_SCHEMA.to_owned(),
        generated_at: now,
        sensors,
        unattributed: counters_for(conn, "")?,
    })
}

/// Which alerts to list.
#[derive(Clone, Debug, Default)]
pub struct AlertFilter {
    /// Only rows with an id above this (for incremental exports).
    pub after_id: i64,
    pub sensor: Option<String>,
    pub min_severity: Option<Severity>,
    /// Include envelopes flagged as breaking the chain.
    pub include_broken: bool,
    pub limit: Option<u32>,
}

/// Stored alerts in arrival order.
pub fn alerts(conn: &Connection, filter: &AlertFilter) -> Result<Vec<AlertRecord>, StoreError> {
    let mut statement = conn
        .prepare(
            "SELECT e.id, e.sensor, s.name, s.site, e.epoch, e.seq, a.raised_at, e.received_at,
                    a.severity, a.kind, a.host, a.peer, a.port, a.count, a.detail, e.chain, e.hash
             FROM alerts a JOIN envelopes e ON e.id = a.envelope_id JOIN sensors s ON s.sensor = e.sensor
             WHERE e.id > ?1 AND (?2 IS NULL OR e.sensor = ?2) AND (?3 OR e.chain != 'broken')
               AND a.severity IN (SELECT value FROM json_each(?5))
             ORDER BY e.id LIMIT ?4",
        )
        .doing("listing alerts")?;
    let limit = filter.limit.map_or(-1, i64::from);
    // The severities to list, filtered in SQL so that LIMIT counts only them.
    let wanted: Vec<&str> = Severity::ALL
        .iter()
        .copied()
        .filter(|s| filter.min_severity.is_none_or(|min| *s >= min))
        .map(Severity::name)
        .collect();
    let wanted = serde_json::to_string(&wanted).unwrap_or_default();
    let rows = statement
        .query_map(
            params![
                filter.after_id,
                filter.sensor,
                filter.include_broken,
                limit,
                wanted
            ],
            |row| {
                let severity: String = row.get(8)?;
                let kind: String = row.get(9)?;
                let host: String = row.get(10)?;
                let peer: Option<String> = row.get(11)?;
                let chain: String = row.get(15)?;
                let hash: Vec<u8> = row.get(16)?;
                Ok(AlertRecord {
                    id: row.get(0)?,
                    sensor: row.get(1)?,
                    sensor_name: row.get(2)?,
                    site: row.get(3)?,
                    epoch: row.get(4)?,
                    seq: store::seq_from_column(row.get(5)?),
                    raised_at: store::seq_from_column(row.get(6)?),
                    received_at: row.get(7)?,
                    severity: Severity::from_name(&severity).unwrap_or(Severity::Info),
                    kind: AlertKind::from_name(&kind).unwrap_or(AlertKind::Test),
                    host: host.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
                    peer: peer.and_then(|peer| peer.parse().ok()),
                    port: row.get(12)?,
                    count: row.get(13)?,
                    detail: row.get(14)?,
                    chain: ChainStatus::from_name(&chain).unwrap_or(ChainStatus::Broken),
                    envelope_hash: vantage_protocol::keys::hex_encode(&hash),
                })
            },
        )
        .doing("listing alerts")?;
    rows.collect::<Result<_, _>>().doing("listing alerts")
}
