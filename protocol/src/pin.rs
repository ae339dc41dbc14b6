//! Pinning the collector: a sensor trusts exactly one collector key, named by
//! the SHA-256 of the certificate's SubjectPublicKeyInfo (`sha256:` and 64 hex
//! digits). Re-issuing the certificate with the same key keeps the pin valid.
//!
//! Holds a minimal DER walker that finds the SubjectPublicKeyInfo in an X.509
//! certificate; anything unexpected is `None`, never a panic.

use std::fmt;

use ring::digest;

use crate::keys::{hex_decode, hex_encode};

/// The SHA-256 of a SubjectPublicKeyInfo.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyPin(pub [u8; 32]);

impl KeyPin {
    /// The pin of the key in a DER certificate.
    pub fn of_certificate(der: &[u8]) -> Option<KeyPin> {
        spki_of_certificate(der).map(KeyPin::of_spki)
    }

    /// The pin of a DER SubjectPublicKeyInfo.
    pub fn of_spki(spki: &[u8]) -> KeyPin {
        let mut pin = [0u8; 32];
        pin.copy_from_slice(digest::digest(&digest::SHA256, spki).as_ref());
        KeyPin(pin)
    }

    /// Parses `sha256:` followed by 64 hex digits.
    pub fn parse(text: &str) -> Option<KeyPin> {
        let hex = text.trim().strip_prefix("sha256:")?;
        Some(KeyPin(hex_decode(hex)?.try_into().ok()?))
    }
}

impl fmt::Display for KeyPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex_encode(&self.0))
    }
}

impl fmt::Debug for KeyPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPin({self})")
    }
}

/// One DER element: its tag, its contents, the whole element, what follows.
struct Element<'a> {
    tag: u8,
    contents: &'a [u8],
    whole: &'a [u8],
    rest: &'a [u8],
}

fn element(input: &[u8]) -> Option<Element<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    let (&first, after_len) = after_tag.split_first()?;
    let (len, header_len, body) = if first < 0x80 {
        (usize::from(first), 2, after_len)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || after_len.len() < count {
            return None;
        }
        let len = after_len[..count]
            .iter()
            .fold(0usize, |len, &byte| (len << 8) | usize::from(byte));
        (len, 2 + count, &after_len[count..])
    };
    if body.len() < len {
        return None;
    }
    Some(Element {
        tag,
        contents: &body[..len],
        whole: &input[..header_len + len],
        rest: &body[len..],
    })
}

const SEQUENCE: u8 = 0x30;
const EXPLICIT_VERSION: u8 = 0xa0;

/// The DER SubjectPublicKeyInfo of an X.509 certificate.
pub fn spki_of_certificate(der: &[u8]) -> Option<&[u8]> {
    let certificate = element(der).filter(|e| e.tag == SEQUENCE)?;
    let tbs = element(certificate.contents).filter(|e| e.tag == SEQUENCE)?;
    let mut field = element(tbs.contents)?;
    if field.tag == EXPLICIT_VERSION {
        field = element(field.rest)?;
    }
    // serial, signature algorithm, issuer, validity, subject, then the key.
    for _ in 0..5 {
        field = element(field.rest)?;
    }
    (field.tag == SEQUENCE).then_some(field.whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_and_print() {
        let pin = KeyPin([0xab; 32]);
        assert_eq!(KeyPin::parse(&pin.to_string()), Some(pin));
        assert_eq!(KeyPin::parse("sha256:abcd"), None);
        assert_eq!(KeyPin::parse(&"ab".repeat(32)), None);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(spki_of_certificate(&[]), None);
        assert_eq!(spki_of_certificate(&[0x30, 0x82, 0xff]), None);
        assert_eq!(spki_of_certificate(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
        assert_eq!(spki_of_certificate(&[0x30, 0x85, 0, 0, 0, 0, 1]), None);
    }
}
