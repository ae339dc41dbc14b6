//! Errors of decoding, verifying and key handling, each saying what was wrong.

use std::path::PathBuf;

/// Why bytes are not a valid envelope, message or frame.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("empty input")]
    Empty,
    #[error("unsupported protocol version {found} (this build speaks {supported})")]
    UnsupportedVersion { found: u8, supported: u8 },
    #[error("{what} is {len} bytes, more than the limit of {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what} is malformed: {reason}")]
    Malformed {
        what: &'static str,
        reason: postcard::Error,
    },
    #[error("{what} has {len} bytes after its end")]
    Trailing { what: &'static str, len: usize },
    #[error("signature is {len} bytes, expected {expected}")]
    SignatureLength { len: usize, expected: usize },
}

/// Why an envelope's signature does not hold.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("envelope names sensor {envelope} but the key belongs to sensor {key}")]
    WrongSensor { envelope: String, key: String },
    #[error("signature does not verify against the sensor's public key")]
    BadSignature,
}

/// Why a key could not be created, read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: mode {mode:o} lets others read the private key; chmod 600 it")]
    Permissions { path: PathBuf, mode: u32 },
    #[error("{path}: not a PKCS#8 Ed25519 private key")]
    NotEd25519 { path: PathBuf },
    #[error("the system random number generator failed")]
    Random,
    #[error("public key must be 64 hex digits (32 bytes): {input:?}")]
    PublicKeyText { input: String },
}
