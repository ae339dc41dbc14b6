//! `[blocks]`: block lifetimes and the allowlist applied at start.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    duration::{format_duration, HumanDuration},
    Violations,
};
use crate::net::Cidr;

/// `[blocks]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlocksConfig {
    /// TTL of `vantage block add` without `--ttl`.
    pub default_ttl: HumanDuration,
    /// Longest TTL accepted.
    pub max_ttl: HumanDuration,
    /// Prefixes never dropped.
    pub allow: Vec<Cidr>,
}

impl Default for BlocksConfig {
    fn default() -> BlocksConfig {
        BlocksConfig {
            default_ttl: HumanDuration(Duration::from_secs(3600)),
            max_ttl: HumanDuration(Duration::from_secs(7 * 86_400)),
            allow: Vec::new(),
        }
    }
}

impl BlocksConfig {
    pub(super) fn check(&self, out: &mut Violations) {
        if self.default_ttl.0 > self.max_ttl.0 {
            out.fail(
                "blocks",
                "default_ttl",
                format!(
                    "{} is longer than max_ttl ({})",
                    format_duration(self.default_ttl.0),
                    format_duration(self.max_ttl.0)
                ),
            );
        }
    }
}
