//! Canaries: a harmless, recognisable DNS lookup that proves the path from
//! a protected host's packet to the collector. `vantage canary` (run on a
//! protected host) looks up `vantage-canary-<unix seconds>-<nonce>.<suffix>`;
//! the sensor's pipeline recognises the name in its DNS events and raises a
//! canary alert; the collector shows how long the path took.

use std::time::SystemTime;

/// The first label's prefix.
pub const PREFIX: &str = "vantage-canary-";
/// The suffix `vantage canary` uses by default: reserved for examples
/// (RFC 2606), so resolvers forward it and the root answers NXDOMAIN.
pub const DEFAULT_SUFFIX: &str = "example";

/// A canary seen in a DNS query name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canary {
    /// When `vantage canary` sent it, Unix seconds.
    pub sent_at: u64,
    pub nonce: String,
    /// The whole name, as seen.
    pub name: String,
}

/// The name for a canary sent at `now` with `nonce` (hex) under `suffix`.
pub fn name(now: SystemTime, nonce: u64, suffix: &str) -> String {
    let sent = crate::time::unix_seconds(now) as u64;
    format!("{PREFIX}{sent}-{nonce:016x}.{}", suffix.trim_matches('.'))
}

/// The canary a query name carries, if it is one (case-insensitive).
pub fn parse(qname: &str) -> Option<Canary> {
    let first = qname.split('.').next()?.to_ascii_lowercase();
    let rest = first.strip_prefix(PREFIX)?;
    let (sent, nonce) = rest.split_once('-')?;
    let sent_at = sent.parse::<u64>().ok()?;
    if nonce.is_empty() || nonce.len() > 16 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(Canary {
        sent_at,
        nonce: nonce.to_owned(),
        name: qname.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn a_canary_name_round_trips_and_others_are_not_canaries() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let made = name(at, 0xabc, "example.");
        assert_eq!(made, "vantage-canary-1795000000-0000000000000abc.example");
        let seen = parse(&made.to_uppercase());
        assert_eq!(
            seen.map(|c| (c.sent_at, c.nonce)),
            Some((1_795_000_000, "0000000000000abc".to_owned()))
        );
        for other in [
            "www.example.com",
            "vantage-canary-.example",
            "vantage-canary-12-.example",
            "vantage-canary-x-ab.example",
            "vantage-canary-12-zz.example",
            "a.vantage-canary-1-ab.example",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }
}
