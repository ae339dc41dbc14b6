//! The stream between sensor and collector: frames of a 2-byte big-endian
//! length and that many bytes. Sensor to collector, each frame is one
//! envelope; collector to sensor, each frame is one [`Ack`].
//!
//! [`push_frame`] and [`frame_len`] build and check frames by hand (the fuzz
//! targets use them); over a tokio stream, the `codec` module (feature
//! `tokio`) reads and writes the same bytes as typed connections.

use serde::{Deserialize, Serialize};

use crate::{envelope::MAX_ENVELOPE_LEN, error::DecodeError};

/// Longest ack frame body.
pub const MAX_ACK_LEN: usize = 32;

/// Appends `body` as one frame.
pub fn push_frame(out: &mut Vec<u8>, body: &[u8]) -> Result<(), DecodeError> {
    let len = u16::try_from(body.len())
        .ok()
        .filter(|&len| usize::from(len) <= MAX_ENVELOPE_LEN)
        .ok_or(DecodeError::TooLong {
            what: "frame",
            len: body.len(),
            max: MAX_ENVELOPE_LEN,
        })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(())
}

/// Reads a frame header, refusing lengths of zero or above `max`.
pub fn frame_len(header: [u8; 2], max: usize) -> Result<usize, DecodeError> {
    let len = usize::from(u16::from_be_bytes(header));
    if len == 0 {
        return Err(DecodeError::Empty);
    }
    if len > max {
        return Err(DecodeError::TooLong {
            what: "frame",
            len,
            max,
        });
    }
    Ok(len)
}

/// Why the collector refused an envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Not a valid envelope or message.
    Malformed,
    /// No enrolled key for the sensor id.
    UnknownSensor,
    /// The signature does not verify against the enrolled key.
    BadSignature,
    /// A different envelope was already stored at this epoch and sequence.
    Conflict,
    /// The collector could not store it; send again later.
    Unavailable,
}

impl RejectReason {
    pub const ALL: [RejectReason; 5] = [
        RejectReason::Malformed,
        RejectReason::UnknownSensor,
        RejectReason::BadSignature,
        RejectReason::Conflict,
        RejectReason::Unavailable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::UnknownSensor => "unknown_sensor",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::Conflict => "conflict",
            RejectReason::Unavailable => "unavailable",
        }
    }
}

/// What became of one envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AckOutcome {
    /// Stored for the first time.
    Stored,
    /// Already stored earlier (a resend or a replay); nothing changed.
    Duplicate,
    Rejected(RejectReason),
}

/// The collector's answer to one envelope, sent after it is durably stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub epoch: u32,
    pub seq: u64,
    pub outcome: AckOutcome,
}

impl Ack {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Ack, DecodeError> {
        if bytes.len() > MAX_ACK_LEN {
            return Err(DecodeError::TooLong {
                what: "ack",
                len: bytes.len(),
                max: MAX_ACK_LEN,
            });
        }
        let (ack, rest) =
            postcard::take_from_bytes::<Ack>(bytes).map_err(|reason| DecodeError::Malformed {
                what: "ack",
                reason,
            })?;
        if !rest.is_empty() {
            return Err(DecodeError::Trailing {
                what: "ack",
                len: rest.len(),
            });
        }
        Ok(ack)
    }
}
