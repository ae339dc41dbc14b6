//! Sensor identity: an Ed25519 key pair kept in a PKCS#8 file readable only by
//! its owner, the public key's fingerprint, and the short sensor id derived
//! from it that every envelope carries.

use std::{
    fmt,
    fs::{self, OpenOptions},
    io::Write as _,
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::Path,
};

use ring::{
    digest,
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair as _},
};
use serde::{Deserialize, Serialize};

use crate::error::KeyError;

/// Length of a sensor id: the first 8 bytes of the SHA-256 of the public key.
pub const SENSOR_ID_LEN: usize = 8;

/// The short name of a sensor on the wire and in the collector.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SensorId(pub [u8; SENSOR_ID_LEN]);

impl SensorId {
    /// Parses the 16 hex digits that `Display` prints.
    pub fn from_hex(text: &str) -> Option<SensorId> {
        let bytes = hex_decode(text)?;
        Some(SensorId(bytes.try_into().ok()?))
    }
}

impl fmt::Display for SensorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex_encode(&self.0))
    }
}

impl fmt::Debug for SensorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SensorId({self})")
    }
}

/// A raw Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// SHA-256 of the key, as `sha256:` and 64 hex digits.
    pub fn fingerprint(&self) -> String {
        format!(
            "sha256:{}",
            hex_encode(digest::digest(&digest::SHA256, &self.0).as_ref())
        )
    }

    /// The sensor id: the first 8 bytes of the fingerprint's hash.
    pub fn sensor_id(&self) -> SensorId {
        let hash = digest::digest(&digest::SHA256, &self.0);
        let mut id = [0u8; SENSOR_ID_LEN];
        id.copy_from_slice(&hash.as_ref()[..SENSOR_ID_LEN]);
        SensorId(id)
    }

    /// 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    pub fn from_hex(text: &str) -> Result<PublicKey, KeyError> {
        let bad = || KeyError::PublicKeyText {
            input: text.to_owned(),
        };
        let bytes = hex_decode(text.trim()).ok_or_else(bad)?;
        Ok(PublicKey(bytes.try_into().map_err(|_| bad())?))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// A sensor's signing key.
pub struct SensorKey {
    pair: Ed25519KeyPair,
}

impl fmt::Debug for SensorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SensorKey({})", self.public().sensor_id())
    }
}

impl SensorKey {
    /// Creates a new key and writes it to `path` as PKCS#8 with mode 0600.
    /// Refuses to overwrite an existing file.
    pub fn generate(path: &Path) -> Result<SensorKey, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let document =
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Random)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        // The umask cannot widen 0600, but an inherited ACL default could; be explicit.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io)?;
        file.write_all(document.as_ref()).map_err(io)?;
        file.sync_all().map_err(io)?;
        SensorKey::from_pkcs8(document.as_ref(), path)
    }

    /// Reads a key written by [`SensorKey::generate`]. Refuses a file that
    /// group or others may read.
    pub fn load(path: &Path) -> Result<SensorKey, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions {
                path: path.to_owned(),
                mode,
            });
        }
        let document = fs::read(path).map_err(io)?;
        SensorKey::from_pkcs8(&document, path)
    }

    /// Parses a PKCS#8 document; `origin` only names it in errors.
    pub fn from_pkcs8(document: &[u8], origin: &Path) -> Result<SensorKey, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(document).map_err(|_| {
            KeyError::NotEd25519 {
                path: origin.to_owned(),
            }
        })?;
        Ok(SensorKey { pair })
    }

    /// A throwaway key that lives only in memory (tests and benchmarks).
    pub fn ephemeral() -> Result<SensorKey, KeyError> {
        let document =
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Random)?;
        SensorKey::from_pkcs8(document.as_ref(), Path::new("<memory>"))
    }

    pub fn public(&self) -> PublicKey {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey(raw)
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut signature = [0u8; 64];
        signature.copy_from_slice(self.pair.sign(message).as_ref());
        signature
    }
}

/// Lower-case hex.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Hex (either case) to bytes; `None` on odd length or a non-hex digit.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            u8::try_from(high * 16 + low).ok()
        })
        .collect()
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken setup step"
)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejections() {
        assert_eq!(hex_encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(hex_decode("00ABff"), Some(vec![0x00, 0xab, 0xff]));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
    }

    #[test]
    fn sensor_id_is_the_fingerprint_prefix() {
        let key = SensorKey::ephemeral().expect("key");
        let public = key.public();
        let fingerprint = public.fingerprint();
        assert_eq!(fingerprint.len(), "sha256:".len() + 64);
        assert_eq!(
            &fingerprint["sha256:".len().."sha256:".len() + 16],
            public.sensor_id().to_string()
        );
        assert_eq!(
            SensorId::from_hex(&public.sensor_id().to_string()),
            Some(public.sensor_id())
        );
        assert_eq!(PublicKey::from_hex(&public.to_hex()).expect("hex"), public);
        assert!(PublicKey::from_hex("abcd").is_err());
    }
}
