//! The payloads a sensor signs: alerts, heartbeats (health and what the sensor
//! can see, and with detection on how its detection stage is doing),
//! enrolment requests, detections and daily digests. Strings are
//! `heapless` with fixed capacities, so a decoder never holds more than the
//! limits below.

use std::net::IpAddr;

use heapless::String as BoundedString;
use serde::{Deserialize, Serialize};

use crate::{
    detected::Detection, detection_health::DetectionHealth, digest::Digest, error::DecodeError,
    sight::Sight,
};

/// Longest free-text detail an alert carries.
pub const DETAIL_MAX: usize = 64;
/// Longest site or host name.
pub const NAME_MAX: usize = 32;
/// Longest agent version string.
pub const VERSION_MAX: usize = 16;

/// How bad an alert is. The order is the spool's eviction order: lower goes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: &'static [Severity] = <Severity as strum::VariantArray>::VARIANTS;

    /// The stable snake_case name used on every interface.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The value with this name, if any.
    pub fn from_name(name: &str) -> Option<Severity> {
        name.parse().ok()
    }
}

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum AlertKind {
    /// Raised on purpose to prove the path from sensor to SOC works.
    Test,
    PortScan,
    HostSweep,
    NewPeer,
    DnsAnomaly,
    VolumeSpike,
    BlockHit,
    /// The sensor's verdict on what it can see changed.
    Visibility,
    /// A canary (`vantage canary`) crossed the datapath: the path from a
    /// protected host's packet to the collector works.
    Canary,
    /// The rules of engagement switched to alert-only (a cap on blocks was
    /// reached) or resumed blocking.
    Response,
}

impl AlertKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [AlertKind] = <AlertKind as strum::VariantArray>::VARIANTS;

    /// The stable snake_case name used on every interface.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The value with this name, if any.
    pub fn from_name(name: &str) -> Option<AlertKind> {
        name.parse().ok()
    }
}

/// An IP address in its shortest wire form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Addr {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl From<IpAddr> for Addr {
    fn from(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(v4) => Addr::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Addr::V4(v4.octets()),
                None => Addr::V6(v6.octets()),
            },
        }
    }
}

impl From<Addr> for IpAddr {
    fn from(addr: Addr) -> IpAddr {
        match addr {
            Addr::V4(octets) => IpAddr::from(octets),
            Addr::V6(octets) => IpAddr::from(octets),
        }
    }
}

/// Something the sensor wants a person at the SOC to look at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Unix seconds when the sensor raised it.
    pub at: u64,
    pub severity: Severity,
    pub kind: AlertKind,
    /// The protected host concerned.
    pub host: Addr,
    /// The other end, when there is one.
    pub peer: Option<Addr>,
    /// Destination port, 0 when none applies.
    pub port: u16,
    /// How many times it was seen (packets, ports, peers: depends on `kind`).
    pub count: u32,
    pub detail: BoundedString<DETAIL_MAX>,
}

/// Whether the XDP program is attached, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatapathState {
    Detached,
    Driver,
    Generic,
}

/// How the agent and its uplink are doing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub agent_version: BoundedString<VERSION_MAX>,
    pub datapath: DatapathState,
    /// Interfaces the program is attached to.
    pub interfaces: u8,
    /// Messages in the spool not yet acknowledged.
    pub spool_pending: u32,
    /// Messages the spool evicted to stay in bounds, since it was created.
    pub spool_evicted: u32,
    /// Torn records cut off the spool's tail at recovery, since it was created.
    pub spool_torn: u32,
    /// Messages the collector refused for good (a conflict or a malformed
    /// envelope) and the spool dropped, since it was created.
    pub spool_rejected: u32,
    /// Events the kernel could not deliver (ring full or rate limit).
    pub events_lost: u64,
    /// Malformed frames counted and passed.
    pub malformed: u64,
    /// Transient faults the agent survived since it started (a state file it
    /// could not write, a spool write that failed, ...), each logged and retried.
    pub faults: u32,
    /// Bit set of the fault kinds failing right now: 1 state file, 2 spool,
    /// 4 events, 8 snapshot of the maps, 16 block sweep, 32 outbox,
    /// 64 a policy block, 128 the detectors' files (inventory, lists, trace).
    pub failing: u8,
}

/// The sensor's own judgement of whether it sees the traffic it should.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum VisibilityVerdict {
    /// Not enough traffic yet to judge.
    Unknown,
    /// Both directions of protected hosts' traffic are seen.
    Sees,
    /// Only part of the expected traffic is seen (one direction, one segment).
    Partial,
    /// Nothing of the protected networks is seen.
    Blind,
}

impl VisibilityVerdict {
    /// The stable snake_case name used on every interface.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// What a sensor of the first protocol revision saw since it started
/// (carried by [`HeartbeatV1`]; newer sensors send a [`crate::Sight`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visibility {
    pub verdict: VisibilityVerdict,
    pub packets: u64,
    pub bytes: u64,
    /// Protected hosts in the host table.
    pub hosts: u32,
    pub outbound_packets: u64,
    pub inbound_packets: u64,
}

/// "I am alive": sent every heartbeat interval, with the sensor's judgement
/// of what it can see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Unix seconds.
    pub at: u64,
    pub uptime_secs: u32,
    /// The interval the collector should expect the next one within.
    pub interval_secs: u32,
    pub health: Health,
    pub sight: Sight,
}

/// The heartbeat of the first protocol revision, still accepted from
/// envelopes spooled before an upgrade.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatV1 {
    /// Unix seconds.
    pub at: u64,
    pub uptime_secs: u32,
    /// The interval the collector should expect the next one within.
    pub interval_secs: u32,
    pub health: Health,
    pub visibility: Visibility,
}

/// The heartbeat of a sensor whose detection is on: the [`Heartbeat`] as
/// it is (the collector counts it as one for sight, health and silence)
/// and the detection stage's health. A sensor with detection off sends a
/// plain [`Message::Heartbeat`], which collectors older than this variant
/// also accept (they refuse this one as malformed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionHeartbeat {
    pub heartbeat: Heartbeat,
    pub detection: DetectionHealth,
}

/// A request to be enrolled for a site, signed with the key it names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    pub public_key: [u8; 32],
    pub site: BoundedString<NAME_MAX>,
    pub hostname: BoundedString<NAME_MAX>,
    pub agent_version: BoundedString<VERSION_MAX>,
}

/// Everything a sensor signs. The order is the wire's (postcard encodes the
/// variant's index): variants are only ever added at the end. Not `Eq`: a
/// detection's explanation carries `f32` figures.
///
/// The heartbeats' bounded findings make them the largest variants (a few
/// hundred bytes); a few messages a second are built, never stored in bulk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Message {
    Alert(Alert),
    HeartbeatV1(HeartbeatV1),
    Enrolment(Enrolment),
    Heartbeat(Heartbeat),
    /// A detector's open alert, first sent or updated (see [`Detection`]).
    Detection(Detection),
    /// One local day of detections in counts.
    Digest(Digest),
    /// A heartbeat with the detection stage's health (detection on).
    DetectionHeartbeat(DetectionHeartbeat),
}

impl Message {
    /// Encodes to postcard.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain data with bounded strings into a Vec cannot fail.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes postcard, refusing trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let (message, rest) = postcard::take_from_bytes::<Message>(bytes).map_err(|reason| {
            DecodeError::Malformed {
                what: "message",
                reason,
            }
        })?;
        if !rest.is_empty() {
            return Err(DecodeError::Trailing {
                what: "message",
                len: rest.len(),
            });
        }
        Ok(message)
    }

    /// The current-form heartbeat this message carries: a
    /// [`Message::Heartbeat`]'s, or a [`Message::DetectionHeartbeat`]'s
    /// (`None` for a first-revision heartbeat and every other message).
    pub fn heartbeat(&self) -> Option<&Heartbeat> {
        match self {
            Message::Heartbeat(beat) => Some(beat),
            Message::DetectionHeartbeat(beat) => Some(&beat.heartbeat),
            _ => None,
        }
    }

    /// The detection stage's health, when the message carries it.
    pub fn detection_health(&self) -> Option<&DetectionHealth> {
        match self {
            Message::DetectionHeartbeat(beat) => Some(&beat.detection),
            _ => None,
        }
    }

    /// A short name for logs and tables.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Message::Alert(_) => "alert",
            Message::Heartbeat(_) | Message::HeartbeatV1(_) | Message::DetectionHeartbeat(_) => {
                "heartbeat"
            }
            Message::Enrolment(_) => "enrolment",
            Message::Detection(_) => "detection",
            Message::Digest(_) => "digest",
        }
    }
}

/// Truncates `text` at a character boundary to fit a bounded string.
pub fn bounded<const N: usize>(text: &str) -> BoundedString<N> {
    let mut out = BoundedString::new();
    for c in text.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}
