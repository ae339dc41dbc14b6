//! The fleet view: per sensor, its last heartbeat, visibility verdict, alert
//! counts, missing and broken envelopes and whether it has gone silent; and
//! the counters of everything refused. Built from any store's [`Queries`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vantage_protocol::Severity;

pub use crate::record::{AlertFilter, LastHeartbeat};
use crate::{
    assurance::sight::v1_of_verdict,
    store::{Queries, StoreError},
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
    /// Its last heartbeat is recent enough.
    Reporting,
    /// No heartbeat for more than three intervals.
    Silent,
}

/// One line of `vantage-fleet sensors`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SensorSummary {
    /// Sensor id (16 hex digits).
    pub sensor: String,
    /// Name given at enrolment.
    pub name: String,
    /// Customer site.
    pub site: String,
    /// `sha256:` and 64 hex digits of its key ("" if the stored key is unreadable).
    pub fingerprint: String,
    /// Unix seconds of its enrolment.
    pub enrolled_at: f64,
    /// Whether it is reporting.
    pub liveness: Liveness,
    /// Seconds since the last heartbeat was stored.
    pub silent_for_secs: Option<f64>,
    /// The last heartbeat's verdict in the first revision's words (`sees`,
    /// `partial`, `blind`, `unknown`; a current verdict mapped back: `ok`
    /// -> `sees`, `degraded` -> `partial`); "unknown" until a heartbeat
    /// says otherwise.
    pub visibility: String,
    /// Its last heartbeat, if any.
    pub last_heartbeat: Option<LastHeartbeat>,
    /// Stored alerts by severity name.
    pub alerts: BTreeMap<String, u64>,
    /// Envelopes stored.
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
    /// [`SENSORS_SCHEMA`].
    pub schema: String,
    /// Unix seconds the report describes.
    pub generated_at: f64,
    /// Every enrolled sensor, by site then name.
    pub sensors: Vec<SensorSummary>,
    /// Refusals that name no enrolled sensor (malformed input, unknown keys).
    pub unattributed: BTreeMap<String, u64>,
}

/// Whether a sensor whose last heartbeat is `heartbeat` is reporting at
/// `now` (unix seconds), and for how many seconds it has been quiet.
pub fn liveness(heartbeat: Option<&LastHeartbeat>, now: f64) -> (Liveness, Option<f64>) {
    let Some(beat) = heartbeat else {
        return (Liveness::NeverSeen, None);
    };
    let quiet = (now - beat.received_at).max(0.0);
    let limit = SILENT_AFTER_MISSED * f64::from(beat.interval_secs.max(1));
    let liveness = if quiet > limit {
        Liveness::Silent
    } else {
        Liveness::Reporting
    };
    (liveness, Some(quiet))
}

/// The fleet as of `now` (unix seconds).
pub fn fleet_report<Q: Queries + ?Sized>(store: &Q, now: f64) -> Result<FleetReport, StoreError> {
    let enrolled = store.sensors()?;
    let mut sensors = Vec::with_capacity(enrolled.len());
    for row in enrolled {
        let heartbeat = store.last_heartbeat(&row.sensor)?;
        let (liveness, silent_for_secs) = liveness(heartbeat.as_ref(), now);
        let visibility = heartbeat
            .as_ref()
            .and_then(|beat| beat.sight.as_ref())
            .map_or("unknown", |s| v1_of_verdict(s.verdict).name())
            .to_owned();
        let mut alerts: BTreeMap<String, u64> = Severity::ALL
            .iter()
            .map(|severity| (severity.name().to_owned(), 0))
            .collect();
        alerts.extend(store.alerts_by_severity(&row.sensor)?);
        let counts = store.envelope_counts(&row.sensor)?;
        let fingerprint = vantage_protocol::PublicKey::from_hex(&row.public_key)
            .map(|key| key.fingerprint())
            .unwrap_or_default();
        sensors.push(SensorSummary {
            counters: store.counters(&row.sensor)?,
            sensor: row.sensor,
            name: row.name,
            site: row.site,
            fingerprint,
            enrolled_at: row.enrolled_at,
            liveness,
            silent_for_secs,
            visibility,
            last_heartbeat: heartbeat,
            alerts,
            envelopes: counts.envelopes,
            missing: counts.missing,
            broken: counts.broken,
        });
    }
    Ok(FleetReport {
        schema: SENSORS_SCHEMA.to_owned(),
        generated_at: now,
        sensors,
        unattributed: store.counters("")?,
    })
}
