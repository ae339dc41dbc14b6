//! The Vantage wire protocol, shared by the sensor and the `vantage-fleet`
//! collector.
//!
//! A sensor sends [`Envelope`]s. Each one names the sensor, its boot epoch and
//! a sequence number, carries the hash of the envelope before it, a
//! postcard-encoded [`Message`] and an Ed25519 signature over all of that.
//! Every field is bounded, so decoding never allocates more than
//! [`MAX_ENVELOPE_LEN`] bytes, and every decode error says what was wrong.
//! The collector answers each envelope with an [`Ack`] over the same
//! length-prefixed [`frame`] stream. With the `tokio` feature, the `codec`
//! module offers that stream as typed connections (`CollectorSide`,
//! `SensorSide`) over any tokio byte stream.

pub mod canary;
#[cfg(feature = "tokio")]
pub mod codec;
pub mod detected;
pub mod detection;
pub mod detection_health;
pub mod digest;
pub mod envelope;
pub mod error;
pub mod frame;
pub mod keys;
pub mod message;
pub mod pin;
pub mod render;
pub mod response;
pub mod sight;

pub use detected::{Detection, Explanation, DOMAIN_MAX, FACTS_MAX};
pub use detection::{Detector, Fact};
pub use detection_health::{DetectionHealth, DETECTION_HEALTH_MAX_LEN};
pub use digest::{Day, Digest, DIGEST_ACTIONS_MAX, DIGEST_DETECTORS_MAX, TOP_HOSTS_MAX};
pub use envelope::{
    chain_hash, ChainHash, Envelope, Sealed, Sealer, CHAIN_HASH_LEN, MAX_ENVELOPE_LEN,
    MAX_PAYLOAD_LEN, SIGNATURE_LEN,
};
pub use error::{DecodeError, KeyError, VerifyError};
pub use frame::{Ack, AckOutcome, RejectReason};
pub use keys::{PublicKey, SensorId, SensorKey};
pub use message::{
    Addr, Alert, AlertKind, DatapathState, DetectionHeartbeat, Enrolment, Health, Heartbeat,
    HeartbeatV1, Message, Severity, Visibility, VisibilityVerdict,
};
pub use pin::KeyPin;
pub use response::{Action, ActionReason, Response};
pub use sight::{
    Declared, DeploymentMode, Finding, FindingCode, Sight, Verdict, FINDINGS_MAX,
    RESOLVERS_SEEN_MAX,
};

/// Version byte that opens every envelope. Bumped on any incompatible change.
pub const PROTOCOL_VERSION: u8 = 1;
