//! The fleet view: per sensor, its last heartbeat, verdict and findings,
//! its contract and the collector's check against it, where its reports
//! contradict its enrolment, its time in each verdict, its last canary,
//! alert counts, missing and broken envelopes and whether it has gone
//! silent; and the counters of everything refused. Built from any store's
//! [`Queries`].

use std::{collections::BTreeMap, net::IpAddr};

use serde::{Deserialize, Serialize};
use vantage_protocol::{AlertKind, Finding, FindingCode, Severity};

pub use crate::record::{AlertFilter, LastHeartbeat};
use crate::{
    assurance::{
        canary::{self, CanaryTiming},
        check::{self, ContractCheck, Contradiction},
        contract::Contract,
        sight::v1_of_verdict,
    },
    record::{AlertRecord, DetectionRecord},
    store::{Queries, StoreError},
};

/// A sensor counts as silent after this many heartbeat intervals without one.
pub const SILENT_AFTER_MISSED: f64 = 3.0;

/// Schema name of `sensors --json`.
pub const SENSORS_SCHEMA: &str = "vantage.fleet.sensors/1";
/// Schema name of `alerts --json`.
pub const ALERTS_SCHEMA: &str = "vantage.fleet.alerts/1";
/// Schema name of `canaries --json`.
pub const CANARIES_SCHEMA: &str = "vantage.fleet.canaries/1";
/// Schema name of `digests --json`.
pub const DIGESTS_SCHEMA: &str = "vantage.fleet.digests/1";

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
    /// says otherwise. See `verdict` for the current words.
    pub visibility: String,
    /// Its last heartbeat, if any.
    pub last_heartbeat: Option<LastHeartbeat>,
    /// Stored alerts and detections by severity name.
    pub alerts: BTreeMap<String, u64>,
    /// Envelopes stored.
    pub envelopes: u64,
    /// Sequence numbers below an epoch's highest that never arrived.
    pub missing: u64,
    /// Envelopes flagged as breaking the chain.
    pub broken: u64,
    /// Everything counted for this sensor: duplicates, rejects, gaps.
    pub counters: BTreeMap<String, u64>,
    /// The last heartbeat's verdict: `ok`, `degraded`, `blind`, or
    /// `unknown` (also before any heartbeat).
    pub verdict: String,
    /// The findings behind it, with their evidence in words.
    pub findings: Vec<FindingView>,
    /// Protected hosts the last heartbeat saw sending.
    pub hosts_seen: Option<u32>,
    /// What the MSSP expects of the site.
    pub contract: Contract,
    /// Unix seconds when the contract was last set (`None`: never).
    pub contract_changed_at: Option<f64>,
    /// The collector's check of the last heartbeat against the contract.
    pub contract_check: ContractCheck,
    /// True when the sensor's reports contradict its enrolment.
    pub contradicts_enrolment: bool,
    /// How they contradict it.
    pub contradictions: Vec<Contradiction>,
    /// Seconds spent in each verdict (and `silent`), between heartbeats.
    pub time_in_verdict: BTreeMap<String, u64>,
    /// The last canary that crossed the sensor's datapath.
    pub last_canary: Option<CanarySeen>,
}

/// A finding with its evidence in words and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingView {
    /// Stable reason code.
    pub code: FindingCode,
    /// First evidence figure.
    pub a: u64,
    /// Second evidence figure.
    pub b: u64,
    /// The evidence in words ([`Finding::describe`]).
    pub text: String,
    /// What to do about it ([`FindingCode::hint`]).
    pub hint: String,
    /// A caveat leaves the verdict as it is.
    pub caveat: bool,
}

impl From<&Finding> for FindingView {
    fn from(finding: &Finding) -> FindingView {
        FindingView {
            code: finding.code,
            a: finding.a,
            b: finding.b,
            text: finding.describe(),
            hint: finding.code.hint().to_owned(),
            caveat: finding.code.is_caveat(),
        }
    }
}

/// A canary alert and the path it took.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CanarySeen {
    /// Row id of the alert.
    pub alert_id: i64,
    /// The protected host that sent the lookup.
    pub host: IpAddr,
    /// When it was sent, seen and stored, and the latencies.
    #[serde(flatten)]
    pub timing: CanaryTiming,
}

impl CanarySeen {
    /// The canary `alert` carries, if it is a canary alert.
    pub fn of(alert: &AlertRecord) -> Option<CanarySeen> {
        Some(CanarySeen {
            alert_id: alert.id,
            host: alert.host,
            timing: canary::timing(alert)?,
        })
    }
}

/// One alert of `alerts --json`: the stored alert, and for a canary its
/// timing (`null` for other kinds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertEntry {
    /// The stored alert.
    #[serde(flatten)]
    pub alert: AlertRecord,
    /// A canary's path, for `canary` alerts.
    pub canary: Option<CanaryTiming>,
}

impl From<AlertRecord> for AlertEntry {
    fn from(alert: AlertRecord) -> AlertEntry {
        let canary = canary::timing(&alert);
        AlertEntry { alert, canary }
    }
}

/// One detection of `alerts --json`: the stored detection, with its
/// explanation and response in words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectionEntry {
    /// The stored detection.
    #[serde(flatten)]
    pub detection: DetectionRecord,
    /// The explanation in one sentence.
    pub text: String,
    /// What the sensor's rules of engagement did, in words.
    pub response_text: String,
}

impl From<DetectionRecord> for DetectionEntry {
    fn from(detection: DetectionRecord) -> DetectionEntry {
        DetectionEntry {
            text: detection.text(),
            response_text: detection.response_text(),
            detection,
        }
    }
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
        let sight = heartbeat.as_ref().and_then(|beat| beat.sight.clone());
        let visibility = sight
            .as_ref()
            .map_or("unknown", |s| v1_of_verdict(s.verdict).name())
            .to_owned();
        let verdict = sight
            .as_ref()
            .map_or("unknown", |s| s.verdict.name())
            .to_owned();
        let report = sight.as_ref().map(|sight| check::Report {
            sight,
            interfaces: heartbeat
                .as_ref()
                .and_then(|beat| beat.health.as_ref())
                .map(|health| health.interfaces),
        });
        let contract_check = check::check(&row.contract, report);
        let contradictions = check::contradictions(&row.contract, sight.as_ref(), &contract_check);
        let mut alerts: BTreeMap<String, u64> = Severity::ALL
            .iter()
            .map(|severity| (severity.name().to_owned(), 0))
            .collect();
        alerts.extend(store.alerts_by_severity(&row.sensor)?);
        let counts = store.envelope_counts(&row.sensor)?;
        let fingerprint = vantage_protocol::PublicKey::from_hex(&row.public_key)
            .map(|key| key.fingerprint())
            .unwrap_or_default();
        let last_canary = store
            .last_alert(&row.sensor, AlertKind::Canary)?
            .as_ref()
            .and_then(CanarySeen::of);
        sensors.push(SensorSummary {
            counters: store.counters(&row.sensor)?,
            time_in_verdict: store.verdict_times(&row.sensor)?,
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
            verdict,
            findings: sight
                .as_ref()
                .map(|s| s.findings.iter().map(FindingView::from).collect())
                .unwrap_or_default(),
            hosts_seen: sight.as_ref().map(|s| s.hosts_seen),
            contract_changed_at: row.contract_changed_at,
            contract_check,
            contradicts_enrolment: !contradictions.is_empty(),
            contradictions,
            contract: row.contract,
            last_canary,
            sensor: row.sensor,
            name: row.name,
            site: row.site,
        });
    }
    Ok(FleetReport {
        schema: SENSORS_SCHEMA.to_owned(),
        generated_at: now,
        sensors,
        unattributed: store.counters("")?,
    })
}
