//! What the collector stores and shows: one row per genuine alert, with where
//! it sits in its sensor's chain, one row per detection (the highest
//! revision of each sensor's alert id), one per daily digest, a heartbeat of
//! any kind as stored (with the detection stage's health when it carried
//! it), a sensor's last heartbeat, and which alerts to
//! list. Plain data shared by storage, the fleet view, the CLI and the SIEM
//! exports.

use std::{collections::BTreeMap, net::IpAddr};

use serde::{Deserialize, Serialize};
use vantage_protocol::{
    message::bounded, render, AlertKind, Detection, DetectionHealth, DetectionHeartbeat, Detector,
    Explanation, Health, Heartbeat, HeartbeatV1, Response, Severity, Visibility,
};

use crate::assurance::sight::SightRecord;

/// How an envelope fits its sensor's chain when it was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainStatus {
    /// Its `prev` is the hash of the stored envelope before it.
    Linked,
    /// First of a boot epoch (sequence 1). Its `prev` names the last envelope
    /// of the sensor's previous epoch; the collector does not check that link.
    EpochStart,
    /// Arrived while the envelope before it was still missing.
    GapBefore,
    /// Arrived after a later envelope of the same epoch (filled a gap).
    Reordered,
    /// Its `prev` contradicts the stored envelope before it: not genuine.
    Broken,
}

impl ChainStatus {
    /// The name stored in the database and shown in JSON (`linked`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ChainStatus::Linked => "linked",
            ChainStatus::EpochStart => "epoch_start",
            ChainStatus::GapBefore => "gap_before",
            ChainStatus::Reordered => "reordered",
            ChainStatus::Broken => "broken",
        }
    }

    /// The status [`ChainStatus::name`] names, if any.
    pub fn from_name(name: &str) -> Option<ChainStatus> {
        [
            ChainStatus::Linked,
            ChainStatus::EpochStart,
            ChainStatus::GapBefore,
            ChainStatus::Reordered,
            ChainStatus::Broken,
        ]
        .into_iter()
        .find(|status| status.name() == name)
    }

    /// True when nothing about the chain casts doubt on the envelope.
    pub fn is_genuine(self) -> bool {
        self != ChainStatus::Broken
    }
}

/// One stored alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Row id in the collector's store; increases with arrival.
    pub id: i64,
    /// Sensor id (16 hex digits).
    pub sensor: String,
    /// Name given at enrolment.
    pub sensor_name: String,
    pub site: String,
    pub epoch: u32,
    pub seq: u64,
    /// Unix seconds when the sensor raised it.
    pub raised_at: u64,
    /// Unix seconds (fractional) when the collector stored it.
    pub received_at: f64,
    /// How bad it is.
    pub severity: Severity,
    /// What it is about.
    pub kind: AlertKind,
    /// The protected host concerned.
    pub host: IpAddr,
    /// The other end, when there is one.
    pub peer: Option<IpAddr>,
    /// Destination port, 0 when none applies.
    pub port: u16,
    /// How many times it was seen (packets, ports, peers: depends on `kind`).
    pub count: u32,
    /// Free text from the sensor (at most 64 characters).
    pub detail: String,
    /// How its envelope fits its sensor's chain.
    pub chain: ChainStatus,
    /// Chain hash of the envelope (32 hex digits).
    pub envelope_hash: String,
}

/// A heartbeat as stored, from any heartbeat kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatRecord {
    /// Unix seconds on the sensor's clock.
    pub at: u64,
    /// Seconds since the agent started.
    pub uptime_secs: u32,
    /// Seconds within which the next heartbeat is due.
    pub interval_secs: u32,
    /// The sensor's health report.
    pub health: Health,
    /// The first revision's visibility (`None` for current heartbeats).
    pub visibility: Option<Visibility>,
    /// What the sensor sees, in the current form.
    pub sight: SightRecord,
    /// The detection stage's health (`None`: the heartbeat carried none,
    /// detection off or a sensor older than the detection heartbeat).
    pub detection: Option<DetectionHealth>,
}

impl From<&Heartbeat> for HeartbeatRecord {
    fn from(beat: &Heartbeat) -> HeartbeatRecord {
        HeartbeatRecord {
            at: beat.at,
            uptime_secs: beat.uptime_secs,
            interval_secs: beat.interval_secs,
            health: beat.health.clone(),
            visibility: None,
            sight: SightRecord::from(beat),
            detection: None,
        }
    }
}

impl From<&DetectionHeartbeat> for HeartbeatRecord {
    fn from(beat: &DetectionHeartbeat) -> HeartbeatRecord {
        HeartbeatRecord {
            detection: Some(beat.detection),
            ..HeartbeatRecord::from(&beat.heartbeat)
        }
    }
}

impl From<&HeartbeatV1> for HeartbeatRecord {
    fn from(beat: &HeartbeatV1) -> HeartbeatRecord {
        HeartbeatRecord {
            at: beat.at,
            uptime_secs: beat.uptime_secs,
            interval_secs: beat.interval_secs,
            health: beat.health.clone(),
            visibility: Some(beat.visibility),
            sight: SightRecord::from(beat),
            detection: None,
        }
    }
}

/// The last heartbeat a sensor sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastHeartbeat {
    /// Unix seconds when the collector stored it.
    pub received_at: f64,
    /// Unix seconds on the sensor's clock.
    pub sent_at: u64,
    /// Seconds since the agent started, as the sensor reported.
    pub uptime_secs: u32,
    /// Seconds within which the sensor promised its next heartbeat.
    pub interval_secs: u32,
    /// The sensor's health report (`None` if the stored one is unreadable).
    pub health: Option<Health>,
    /// What a first-revision sensor saw (`None` for a current heartbeat, or
    /// if the stored one is unreadable).
    pub visibility: Option<Visibility>,
    /// What the sensor sees: verdict, findings, hosts seen, what its
    /// configuration declares (a first-revision heartbeat converted).
    pub sight: Option<SightRecord>,
    /// The detection stage's health: alerts the rate caps suppressed and
    /// raised since the agent started, alerts open, blocks in force,
    /// alert-only (`None`: this heartbeat carried none, detection off or a
    /// sensor older than the detection heartbeat).
    pub detection: Option<DetectionHealth>,
}

/// Which alerts to list.
#[derive(Clone, Debug, Default)]
pub struct AlertFilter {
    /// Only rows with an id above this (for incremental exports).
    pub after_id: i64,
    /// Only this sensor (16 hex digits).
    pub sensor: Option<String>,
    /// Only this severity or worse.
    pub min_severity: Option<Severity>,
    /// Only alerts of this kind.
    pub kind: Option<AlertKind>,
    /// Only detections of this detector.
    pub detector: Option<Detector>,
    /// Include envelopes flagged as breaking the chain (detections are
    /// only ever built from genuine envelopes).
    pub include_broken: bool,
    /// At most this many alerts, and at most this many detections (all
    /// when `None`).
    pub limit: Option<u32>,
}

/// One detection as stored: the highest revision of one open alert of a
/// sensor (its `alert_id`), and how many later revisions updated it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectionRecord {
    /// Row id of the envelope of the revision kept; increases with each
    /// update, so that exports after an id see updates.
    pub id: i64,
    /// Row id of the envelope of the first revision stored.
    pub first_id: i64,
    /// Sensor id (16 hex digits).
    pub sensor: String,
    /// Name given at enrolment.
    pub sensor_name: String,
    pub site: String,
    /// Boot epoch and sequence number of the kept revision's envelope.
    pub epoch: u32,
    pub seq: u64,
    /// The sensor's id of the alert.
    pub alert_id: u32,
    /// The revision kept (the highest received).
    pub revision: u16,
    /// Later revisions that updated the alert after the first one stored.
    pub updates: u32,
    /// Unix seconds of the first revision stored.
    pub raised_at: u64,
    /// Unix seconds of the revision kept.
    pub updated_at: u64,
    /// Unix seconds (fractional) when the collector stored the revision kept.
    pub received_at: f64,
    pub detector: Detector,
    pub severity: Severity,
    /// 0 to 100.
    pub score: u8,
    /// The protected host concerned.
    pub host: IpAddr,
    /// The other end, when there is one.
    pub peer: Option<IpAddr>,
    /// Destination port, 0 when none applies.
    pub port: u16,
    /// The registered domain, when there is one.
    pub domain: Option<String>,
    /// The numbers behind the score (a figure that is not a number is
    /// stored as NULL and read back as NaN).
    pub explanation: Explanation,
    /// What the sensor's rules of engagement did.
    pub response: Response,
    /// How the kept revision's envelope fits its sensor's chain.
    pub chain: ChainStatus,
    /// Chain hash of the kept revision's envelope (32 hex digits).
    pub envelope_hash: String,
}

impl DetectionRecord {
    /// The detection in wire form (for [`render`]).
    pub fn detection(&self) -> Detection {
        Detection {
            at: self.updated_at,
            alert_id: self.alert_id,
            revision: self.revision,
            detector: self.detector,
            severity: self.severity,
            score: self.score,
            host: self.host.into(),
            peer: self.peer.map(Into::into),
            port: self.port,
            domain: bounded(self.domain.as_deref().unwrap_or_default()),
            explanation: self.explanation.clone(),
            response: self.response,
        }
    }

    /// The explanation in one sentence ([`render::explain`]).
    pub fn text(&self) -> String {
        render::explain(&self.detection())
    }

    /// What the rules of engagement did, in words ([`render::response`]).
    pub fn response_text(&self) -> String {
        render::response(&self.response)
    }
}

/// A host and its count in a digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCount {
    pub host: IpAddr,
    pub count: u32,
}

/// One stored daily digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigestRecord {
    /// Row id of its envelope.
    pub id: i64,
    /// Sensor id (16 hex digits).
    pub sensor: String,
    /// Name given at enrolment.
    pub sensor_name: String,
    pub site: String,
    pub epoch: u32,
    pub seq: u64,
    /// The sensor's local day, `YYYY-MM-DD`.
    pub day: String,
    /// Unix seconds when the sensor sent it.
    pub sent_at: u64,
    /// Unix seconds (fractional) when the collector stored it.
    pub received_at: f64,
    /// Detections raised per detector name.
    pub detections: BTreeMap<String, u32>,
    /// Detections per action name.
    pub actions: BTreeMap<String, u32>,
    /// The hosts with the most detections, most first.
    pub top_hosts: Vec<HostCount>,
    /// Alerts the rate caps held back.
    pub suppressed: u32,
    /// How its envelope fits its sensor's chain.
    pub chain: ChainStatus,
}

/// Which digests to list.
#[derive(Clone, Debug, Default)]
pub struct DigestFilter {
    /// Only this sensor (16 hex digits).
    pub sensor: Option<String>,
    /// Only the last this many (all when `None`).
    pub last: Option<u32>,
}
