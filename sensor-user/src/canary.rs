//! Canaries: a harmless, recognisable DNS lookup that proves the path from
//! a protected host's packet to the collector. `vantage canary` (run on a
//! protected host) looks up a canary name ([`vantage_protocol::canary`]);
//! the sensor's pipeline recognises it in its DNS events and raises a
//! canary alert; the collector shows how long the path took.

/// The suffix `vantage canary` uses by default: reserved for examples
/// (RFC 2606), so resolvers forward it and the root answers NXDOMAIN.
pub const DEFAULT_SUFFIX: &str = "example";
