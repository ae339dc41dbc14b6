//! [`Queries`] on the SQLite store: the reads behind the fleet view, the
//! alerts listing and SIEM exports (those of detections and digests live in
//! `detections`). Envelopes flagged `broken` never count as a sensor's
//! heartbeats or alerts unless a filter asks for them.

use std::{collections::BTreeMap, net::IpAddr};

use rusqlite::{params, OptionalExtension as _, Row};
use vantage_protocol::{AlertKind, Declared, DeploymentMode, DetectionHealth, Severity, Verdict};

use super::{count_from_column, seq_from_column, ContractColumns, Doing as _, SqliteStore};
use crate::{
    assurance::sight::SightRecord,
    record::{
        AlertFilter, AlertRecord, ChainStatus, DetectionRecord, DigestFilter, DigestRecord,
        LastHeartbeat,
    },
    store::{EnvelopeCounts, Queries, SensorRow, StoreError},
};

/// The columns [`alert_from_row`] reads, in its order.
const ALERT_COLUMNS: &str =
    "e.id, e.sensor, s.name, s.site, e.epoch, e.seq, a.raised_at, e.received_at,
     a.severity, a.kind, a.host, a.peer, a.port, a.count, a.detail, e.chain, e.hash";

/// An alert from a row of [`ALERT_COLUMNS`].
fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<AlertRecord> {
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
        seq: seq_from_column(row.get(5)?),
        raised_at: seq_from_column(row.get(6)?),
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
}

/// The sight columns of a heartbeat row, from index `at` on: revision,
/// sight_verdict, findings, hosts_seen, declared_mode, declared_hosts_min,
/// declared_hosts_max, sight_since, window_secs, sight_packets, sight_bytes,
/// resolvers_seen.
fn sight_from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<SightRecord> {
    let verdict: String = row.get(at + 1)?;
    let findings: String = row.get(at + 2)?;
    let declared_mode: Option<String> = row.get(at + 4)?;
    let declared_min: Option<u32> = row.get(at + 5)?;
    let declared_max: Option<u32> = row.get(at + 6)?;
    let wide = |value: Option<i64>| value.map(seq_from_column);
    Ok(SightRecord {
        revision: row.get(at)?,
        verdict: verdict.parse().unwrap_or(Verdict::Unknown),
        findings: serde_json::from_str(&findings).unwrap_or_default(),
        hosts_seen: row.get(at + 3)?,
        declared: declared_mode.map(|mode| Declared {
            mode: mode.parse().unwrap_or(DeploymentMode::Undeclared),
            hosts_min: declared_min.unwrap_or(0),
            hosts_max: declared_max.unwrap_or(0),
        }),
        since: wide(row.get(at + 7)?),
        window_secs: row.get(at + 8)?,
        packets: wide(row.get(at + 9)?),
        bytes: wide(row.get(at + 10)?),
        resolvers_seen: row
            .get::<_, Option<String>>(at + 11)?
            .map(|text| serde_json::from_str(&text).unwrap_or_default()),
    })
}

/// The detection health columns of a heartbeat row, from index `at` on:
/// detect_suppressed, detect_raised, detect_open_alerts,
/// detect_active_blocks, detect_alert_only. `None` when the heartbeat
/// carried none (its `detect_suppressed` is NULL); a figure out of its
/// range (written by hand) saturates.
fn detection_from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<DetectionHealth>> {
    let Some(suppressed) = row.get::<_, Option<i64>>(at)? else {
        return Ok(None);
    };
    let figure = |value: Option<i64>| value.unwrap_or(0).max(0);
    let wide = |value: Option<i64>| u32::try_from(figure(value)).unwrap_or(u32::MAX);
    let narrow = |value: Option<i64>| u16::try_from(figure(value)).unwrap_or(u16::MAX);
    Ok(Some(DetectionHealth {
        suppressed: wide(Some(suppressed)),
        raised: wide(row.get(at + 1)?),
        open_alerts: narrow(row.get(at + 2)?),
        active_blocks: narrow(row.get(at + 3)?),
        alert_only: row.get::<_, Option<i64>>(at + 4)?.unwrap_or(0) != 0,
    }))
}

/// The severities `filter` lists, as a JSON array for `json_each`: filtered
/// in SQL so that LIMIT counts only them.
pub(super) fn wanted_severities(filter: &AlertFilter) -> String {
    let wanted: Vec<&str> = Severity::ALL
        .iter()
        .copied()
        .filter(|s| filter.min_severity.is_none_or(|min| *s >= min))
        .map(Severity::name)
        .collect();
    serde_json::to_string(&wanted).unwrap_or_default()
}

impl SqliteStore {
    fn count(&self, sql: &str, sensor: &str) -> Result<u64, StoreError> {
        self.conn
            .query_row(sql, params![sensor], |row| row.get::<_, i64>(0))
            .doing("counting envelopes")
            .map(count_from_column)
    }
}

impl Queries for SqliteStore {
    fn sensors(&self) -> Result<Vec<SensorRow>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT sensor, public_key, site, name, enrolled_at, contract_mode, contract_hosts_min,
                        contract_hosts_max, contract_resolvers, contract_changed_at
                 FROM sensors ORDER BY site, name",
            )
            .doing("listing sensors")?;
        let rows = statement
            .query_map([], |row| {
                Ok(SensorRow {
                    sensor: row.get(0)?,
                    public_key: row.get(1)?,
                    site: row.get(2)?,
                    name: row.get(3)?,
                    enrolled_at: row.get(4)?,
                    contract: ContractColumns::read(
                        row.get(5)?,
                        row.get(6)?,
                        row.get(7)?,
                        &row.get::<_, String>(8)?,
                    ),
                    contract_changed_at: row.get(9)?,
                })
            })
            .doing("listing sensors")?;
        rows.collect::<Result<_, _>>().doing("listing sensors")
    }

    fn last_heartbeat(&self, sensor: &str) -> Result<Option<LastHeartbeat>, StoreError> {
        self.conn
            .query_row(
                "SELECT e.received_at, h.sent_at, h.uptime_secs, h.interval_secs, h.health, h.visibility,
                        h.revision, h.sight_verdict, h.findings, h.hosts_seen, h.declared_mode,
                        h.declared_hosts_min, h.declared_hosts_max, h.sight_since, h.window_secs,
                        h.sight_packets, h.sight_bytes, h.resolvers_seen, h.detect_suppressed,
                        h.detect_raised, h.detect_open_alerts, h.detect_active_blocks,
                        h.detect_alert_only
                 FROM heartbeats h JOIN envelopes e ON e.id = h.envelope_id
                 WHERE e.sensor = ?1 AND e.chain != 'broken'
                 ORDER BY e.received_at DESC, e.id DESC LIMIT 1",
                params![sensor],
                |row| {
                    Ok(LastHeartbeat {
                        received_at: row.get(0)?,
                        sent_at: seq_from_column(row.get(1)?),
                        uptime_secs: row.get(2)?,
                        interval_secs: row.get(3)?,
                        health: serde_json::from_str(&row.get::<_, String>(4)?).ok(),
                        visibility: serde_json::from_str(&row.get::<_, String>(5)?)
                            .ok()
                            .flatten(),
                        sight: Some(sight_from_row(row, 6)?),
                        detection: detection_from_row(row, 18)?,
                    })
                },
            )
            .optional()
            .doing("reading the last heartbeat")
    }

    fn alerts_by_severity(&self, sensor: &str) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT severity, COUNT(*) FROM (
                     SELECT a.severity FROM alerts a JOIN envelopes e ON e.id = a.envelope_id
                     WHERE e.sensor = ?1 AND e.chain != 'broken'
                     UNION ALL
                     SELECT d.severity FROM detections d WHERE d.sensor = ?1
                 ) GROUP BY severity",
            )
            .doing("counting alerts")?;
        let rows = statement
            .query_map(params![sensor], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .doing("counting alerts")?;
        let mut by_severity = BTreeMap::new();
        for row in rows {
            let (severity, n) = row.doing("counting alerts")?;
            by_severity.insert(severity, count_from_column(n));
        }
        Ok(by_severity)
    }

    fn envelope_counts(&self, sensor: &str) -> Result<EnvelopeCounts, StoreError> {
        Ok(EnvelopeCounts {
            envelopes: self.count("SELECT COUNT(*) FROM envelopes WHERE sensor = ?1", sensor)?,
            missing: self.count(
                "SELECT COALESCE(SUM(top - n), 0) FROM
                   (SELECT MAX(seq) AS top, COUNT(*) AS n FROM envelopes WHERE sensor = ?1 GROUP BY epoch)",
                sensor,
            )?,
            broken: self.count(
                "SELECT COUNT(*) FROM envelopes WHERE sensor = ?1 AND chain = 'broken'",
                sensor,
            )?,
        })
    }

    fn counters(&self, sensor: &str) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut statement = self
            .conn
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
            counters.insert(name, count_from_column(count));
        }
        Ok(counters)
    }

    fn all_counters(&self) -> Result<BTreeMap<String, BTreeMap<String, u64>>, StoreError> {
        let mut statement = self
            .conn
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
                .insert(name, count_from_column(count));
        }
        Ok(all)
    }

    fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRecord>, StoreError> {
        let mut statement = self
            .conn
            .prepare(&format!(
                "SELECT {ALERT_COLUMNS}
                 FROM alerts a JOIN envelopes e ON e.id = a.envelope_id JOIN sensors s ON s.sensor = e.sensor
                 WHERE e.id > ?1 AND (?2 IS NULL OR e.sensor = ?2) AND (?3 OR e.chain != 'broken')
                   AND a.severity IN (SELECT value FROM json_each(?5)) AND (?6 IS NULL OR a.kind = ?6)
                 ORDER BY e.id LIMIT ?4"
            ))
            .doing("listing alerts")?;
        let limit = filter.limit.map_or(-1, i64::from);
        let wanted = wanted_severities(filter);
        let rows = statement
            .query_map(
                params![
                    filter.after_id,
                    filter.sensor,
                    filter.include_broken,
                    limit,
                    wanted,
                    filter.kind.map(AlertKind::name),
                ],
                alert_from_row,
            )
            .doing("listing alerts")?;
        rows.collect::<Result<_, _>>().doing("listing alerts")
    }

    fn detections(&self, filter: &AlertFilter) -> Result<Vec<DetectionRecord>, StoreError> {
        super::detections::detections(&self.conn, filter)
    }

    fn digests(&self, filter: &DigestFilter) -> Result<Vec<DigestRecord>, StoreError> {
        super::detections::digests(&self.conn, filter)
    }

    fn last_alert(&self, sensor: &str, kind: AlertKind) -> Result<Option<AlertRecord>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {ALERT_COLUMNS}
                     FROM alerts a JOIN envelopes e ON e.id = a.envelope_id JOIN sensors s ON s.sensor = e.sensor
                     WHERE e.sensor = ?1 AND a.kind = ?2 AND e.chain != 'broken'
                     ORDER BY e.id DESC LIMIT 1"
                ),
                params![sensor, kind.name()],
                alert_from_row,
            )
            .optional()
            .doing("reading the last alert of a kind")
    }

    fn verdict_times(&self, sensor: &str) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT state, secs FROM verdict_times WHERE sensor = ?1")
            .doing("reading time in state")?;
        let rows = statement
            .query_map(params![sensor], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .doing("reading time in state")?;
        let mut times = BTreeMap::new();
        for row in rows {
            let (state, secs) = row.doing("reading time in state")?;
            times.insert(state, seq_from_column(secs));
        }
        Ok(times)
    }
}
