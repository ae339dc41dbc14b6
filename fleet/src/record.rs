//! What the collector stores and shows: one row per genuine alert, with where
//! it sits in its sensor's chain, a heartbeat of either kind as stored, a
//! sensor's last heartbeat, and which alerts to list. Plain data shared by
//! storage, the fleet view, the CLI and the SIEM exports.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use vantage_protocol::{AlertKind, Health, Heartbeat, HeartbeatV1, Severity, Visibility};

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

/// A heartbeat as stored, from either heartbeat kind.
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
    /// Only this kind.
    pub kind: Option<AlertKind>,
    /// Include envelopes flagged as breaking the chain.
    pub include_broken: bool,
    /// At most this many alerts (all when `None`).
    pub limit: Option<u32>,
}
