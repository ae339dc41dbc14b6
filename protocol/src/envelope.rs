//! Envelopes: the signed, numbered and chained unit a sensor sends.
//!
//! Wire form: the postcard encoding of
//! `version, sensor id, epoch, sequence, previous hash, payload`, followed by
//! the 64-byte Ed25519 signature of `DOMAIN || those bytes`. The chain hash of
//! an envelope is the first 16 bytes of the SHA-256 of its whole wire form;
//! the next envelope of the sensor carries it as `prev`.

use ring::{
    digest,
    signature::{UnparsedPublicKey, ED25519},
};
use serde::{Deserialize, Serialize};

use crate::{
    error::{DecodeError, VerifyError},
    keys::{PublicKey, SensorId, SensorKey},
    message::Message,
    PROTOCOL_VERSION,
};

/// Bytes of the chain hash carried in each envelope.
pub const CHAIN_HASH_LEN: usize = 16;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Longest payload an envelope may carry.
pub const MAX_PAYLOAD_LEN: usize = 512;
/// Longest envelope on the wire: header (at most 1 + 8 + 5 + 10 + 16 + 2
/// bytes), payload and signature.
pub const MAX_ENVELOPE_LEN: usize = 42 + MAX_PAYLOAD_LEN + SIGNATURE_LEN;

/// Prefix of every signed byte string, so a signature over an envelope can
/// never be taken for a signature over anything else.
const DOMAIN: &[u8] = b"vantage/envelope/v1\0";

pub type ChainHash = [u8; CHAIN_HASH_LEN];

#[derive(Serialize, Deserialize)]
struct Body<'a> {
    version: u8,
    sensor: SensorId,
    epoch: u32,
    seq: u64,
    prev: ChainHash,
    #[serde(borrow)]
    payload: &'a [u8],
}

/// The chain hash of an envelope's wire bytes.
pub fn chain_hash(wire: &[u8]) -> ChainHash {
    let digest = digest::digest(&digest::SHA256, wire);
    let mut hash = [0u8; CHAIN_HASH_LEN];
    hash.copy_from_slice(&digest.as_ref()[..CHAIN_HASH_LEN]);
    hash
}

fn signed_bytes(body: &[u8]) -> Vec<u8> {
    let mut signed = Vec::with_capacity(DOMAIN.len() + body.len());
    signed.extend_from_slice(DOMAIN);
    signed.extend_from_slice(body);
    signed
}

/// A decoded envelope; its signature is not checked until [`Envelope::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub sensor: SensorId,
    pub epoch: u32,
    pub seq: u64,
    pub prev: ChainHash,
    pub payload: Vec<u8>,
    pub signature: [u8; SIGNATURE_LEN],
    wire: Vec<u8>,
}

impl Envelope {
    /// Decodes wire bytes, checking the version, every length and that
    /// nothing follows the signature.
    pub fn decode(wire: &[u8]) -> Result<Envelope, DecodeError> {
        let Some(&version) = wire.first() else {
            return Err(DecodeError::Empty);
        };
        if wire.len() > MAX_ENVELOPE_LEN {
            return Err(DecodeError::TooLong {
                what: "envelope",
                len: wire.len(),
                max: MAX_ENVELOPE_LEN,
            });
        }
        if version != PROTOCOL_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                found: version,
                supported: PROTOCOL_VERSION,
            });
        }
        let (body, rest) = postcard::take_from_bytes::<Body<'_>>(wire).map_err(|reason| {
            DecodeError::Malformed {
                what: "envelope header",
                reason,
            }
        })?;
        if body.payload.len() > MAX_PAYLOAD_LEN {
            return Err(DecodeError::TooLong {
                what: "payload",
                len: body.payload.len(),
                max: MAX_PAYLOAD_LEN,
            });
        }
        let signature: [u8; SIGNATURE_LEN] =
            rest.try_into().map_err(|_| DecodeError::SignatureLength {
                len: rest.len(),
                expected: SIGNATURE_LEN,
            })?;
        Ok(Envelope {
            sensor: body.sensor,
            epoch: body.epoch,
            seq: body.seq,
            prev: body.prev,
            payload: body.payload.to_vec(),
            signature,
            wire: wire.to_vec(),
        })
    }

    /// The exact bytes this envelope was decoded from.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    /// This envelope's chain hash (what the next one carries as `prev`).
    pub fn hash(&self) -> ChainHash {
        chain_hash(&self.wire)
    }

    /// Checks that `key` is the sensor's key and that it signed these bytes.
    pub fn verify(&self, key: &PublicKey) -> Result<(), VerifyError> {
        if key.sensor_id() != self.sensor {
            return Err(VerifyError::WrongSensor {
                envelope: self.sensor.to_string(),
                key: key.sensor_id().to_string(),
            });
        }
        let body = &self.wire[..self.wire.len() - SIGNATURE_LEN];
        UnparsedPublicKey::new(&ED25519, &key.0)
            .verify(&signed_bytes(body), &self.signature)
            .map_err(|_| VerifyError::BadSignature)
    }

    /// Decodes the payload.
    pub fn message(&self) -> Result<Message, DecodeError> {
        Message::decode(&self.payload)
    }
}

/// A freshly signed envelope, ready to spool and send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub epoch: u32,
    pub seq: u64,
    pub hash: ChainHash,
    pub bytes: Vec<u8>,
}

/// Signs messages into a numbered chain for one boot epoch.
#[derive(Debug)]
pub struct Sealer {
    key: SensorKey,
    sensor: SensorId,
    epoch: u32,
    next_seq: u64,
    prev: ChainHash,
}

impl Sealer {
    /// Starts (or resumes) the chain of `epoch` at `next_seq`, linked to `prev`.
    pub fn new(key: SensorKey, epoch: u32, next_seq: u64, prev: ChainHash) -> Sealer {
        let sensor = key.public().sensor_id();
        Sealer {
            key,
            sensor,
            epoch,
            next_seq,
            prev,
        }
    }

    pub fn sensor(&self) -> SensorId {
        self.sensor
    }

    pub fn public(&self) -> PublicKey {
        self.key.public()
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn prev(&self) -> ChainHash {
        self.prev
    }

    /// Signs `message` as the next envelope of the chain.
    pub fn seal(&mut self, message: &Message) -> Sealed {
        let payload = message.encode();
        let sealed = self.seal_payload(&payload);
        self.next_seq += 1;
        self.prev = sealed.hash;
        sealed
    }

    /// Signs raw payload bytes at the current position without advancing the
    /// chain. Tests use it to build tampered, replayed and reordered input.
    pub fn seal_payload(&self, payload: &[u8]) -> Sealed {
        self.seal_at(self.epoch, self.next_seq, self.prev, payload)
    }

    /// Signs arbitrary header values; for tests that need a specific position.
    pub fn seal_at(&self, epoch: u32, seq: u64, prev: ChainHash, payload: &[u8]) -> Sealed {
        let body = Body {
            version: PROTOCOL_VERSION,
            sensor: self.sensor,
            epoch,
            seq,
            prev,
            payload,
        };
        let mut bytes = postcard::to_allocvec(&body).unwrap_or_default();
        let signature = self.key.sign(&signed_bytes(&bytes));
        bytes.extend_from_slice(&signature);
        Sealed {
            epoch,
            seq,
            hash: chain_hash(&bytes),
            bytes,
        }
    }
}
