//! Canary names: the DNS name `vantage canary` looks up on a protected host,
//! `vantage-canary-<unix seconds>-<nonce, hex>.<suffix>`. The sensor raises
//! a `canary` alert when one crosses its datapath (the name as the detail);
//! the collector reads the sent time back from it to show how long the path
//! took. One definition for both ends.

/// The first label of every canary name starts with this.
pub const PREFIX: &str = "vantage-canary-";
/// Hex digits of the nonce, at most.
pub const NONCE_DIGITS: usize = 16;

/// What a canary name says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CanaryName {
    /// Unix seconds when the host sent the lookup.
    pub sent_at: u64,
    /// Tells canaries sent in the same second apart.
    pub nonce: u64,
}

/// The name of a canary sent at `sent_at` (Unix seconds) with `nonce`,
/// under `suffix` (leading and trailing dots ignored).
pub fn name(sent_at: u64, nonce: u64, suffix: &str) -> String {
    format!(
        "{PREFIX}{sent_at}-{nonce:0width$x}.{}",
        suffix.trim_matches('.'),
        width = NONCE_DIGITS
    )
}

/// Parses a name (case-insensitive, any suffix, no allocation): `None`
/// unless its first label is `vantage-canary-<digits>-<1 to 16 hex digits>`.
pub fn parse(qname: &str) -> Option<CanaryName> {
    let first = qname.trim().split('.').next()?;
    if !first.get(..PREFIX.len())?.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let (sent, nonce) = first.get(PREFIX.len()..)?.split_once('-')?;
    if sent.is_empty() || !sent.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if nonce.is_empty()
        || nonce.len() > NONCE_DIGITS
        || !nonce.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    Some(CanaryName {
        sent_at: sent.parse().ok()?,
        nonce: u64::from_str_radix(nonce, 16).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canary_name_round_trips_with_any_suffix_and_case() {
        let made = name(1_795_000_000, 0xabc12, ".invalid.");
        assert_eq!(made, "vantage-canary-1795000000-00000000000abc12.invalid");
        let expected = Some(CanaryName {
            sent_at: 1_795_000_000,
            nonce: 0xabc12,
        });
        assert_eq!(parse(&made), expected);
        assert_eq!(parse(&made.to_uppercase()), expected);
        assert_eq!(
            parse("VANTAGE-CANARY-17-AB.example"),
            Some(CanaryName {
                sent_at: 17,
                nonce: 0xab
            })
        );
    }

    #[test]
    fn other_names_are_not_canaries() {
        for other in [
            "www.example.com",
            "vantage-canary",
            "vantage-canary-.invalid",
            "vantage-canary-12-.invalid",
            "vantage-canary--ab.invalid",
            "vantage-canary-x1-ab.invalid",
            "vantage-canary-12-zz.invalid",
            "vantage-canary-12-a_b.invalid",
            "vantage-canary-12-00000000000000001.invalid",
            "a.vantage-canary-1-ab.invalid",
            "vantage-canary-99999999999999999999999-ab.invalid",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }
}
