//! `[site]`: what the site is declared to be, against which the sensor
//! judges its own sight (see `visibility`): how it is deployed, how many
//! protected hosts it should see, which resolvers the clients use, the
//! gateway, the VLANs, and how the judgement is made. The protected
//! prefixes themselves are `sensor.local_nets`.

use std::{net::IpAddr, time::Duration};

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::{duration::HumanDuration, Violations};

/// Where the sensor is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SiteMode {
    /// Not declared: the checks that need the mode are skipped.
    Undeclared,
    /// In the traffic's path, attached to the LAN and WAN sides.
    Inline,
    /// On a mirror (SPAN) port: sees copies, cannot block.
    Mirror,
}

/// Expected protected hosts: `N` or `"A-B"`; `None` when not declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostRange {
    pub min: u32,
    pub max: u32,
}

impl HostRange {
    /// Parses `N` or `A-B` (A ≤ B).
    pub fn parse(text: &str) -> Result<HostRange, String> {
        let number = |s: &str| {
            s.trim().parse::<u32>().map_err(|_| {
                format!("{text:?} is not a number of hosts or a range like \"300-400\"")
            })
        };
        let range = match text.split_once('-') {
            Some((a, b)) => HostRange {
                min: number(a)?,
                max: number(b)?,
            },
            None => {
                let n = number(text)?;
                HostRange { min: n, max: n }
            }
        };
        if range.min > range.max {
            return Err(format!("{text:?}: the lower bound is above the upper"));
        }
        if range.max == 0 {
            return Err(format!(
                "{text:?}: a site with no host to protect needs no sensor (leave expected_hosts out to check nothing)"
            ));
        }
        Ok(range)
    }
}

impl Serialize for HostRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.min == self.max {
            serializer.serialize_u32(self.min)
        } else {
            serializer.serialize_str(&format!("{}-{}", self.min, self.max))
        }
    }
}

impl<'de> Deserialize<'de> for HostRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HostRange, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = HostRange;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number of hosts or a range like \"300-400\"")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<HostRange, E> {
                let n = u32::try_from(n)
                    .map_err(|_| E::custom(format!("{n} hosts is out of range")))?;
                HostRange::parse(&n.to_string()).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<HostRange, E> {
                HostRange::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `[site]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteConfig {
    pub mode: SiteMode,
    /// Protected hosts expected to be seen sending: a number or a range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_hosts: Option<HostRange>,
    /// The resolvers the clients are meant to use.
    pub resolvers: Vec<IpAddr>,
    /// The site's gateway (default route of the protected hosts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// VLAN ids the protected traffic is tagged with, if it is.
    pub vlans: Vec<u16>,
    /// The sliding window the verdict is judged over (1m to 1h).
    pub window: HumanDuration,
    /// A protected host counts as present if it sent within this (1m to 7d).
    pub census_horizon: HumanDuration,
    /// How often the sensor checks its own DNS lookup and TCP connection
    /// (0s: never; otherwise 1m to 1d).
    pub self_test_interval: HumanDuration,
}

impl Default for SiteConfig {
    fn default() -> SiteConfig {
        SiteConfig {
            mode: SiteMode::Undeclared,
            expected_hosts: None,
            resolvers: Vec::new(),
            gateway: None,
            vlans: Vec::new(),
            window: HumanDuration(Duration::from_secs(300)),
            census_horizon: HumanDuration(Duration::from_secs(3600)),
            self_test_interval: HumanDuration(Duration::from_secs(300)),
        }
    }
}

impl SiteConfig {
    pub(super) fn check(&self, out: &mut Violations) {
        let within = |d: Duration, low: u64, high: u64| (low..=high).contains(&d.as_secs());
        if !within(self.window.0, 60, 3600) {
            out.fail("site", "window", "must be between 1m and 1h".to_owned());
        }
        if !within(self.census_horizon.0, 60, 7 * 86_400) {
            out.fail(
                "site",
                "census_horizon",
                "must be between 1m and 7d".to_owned(),
            );
        }
        if self.census_horizon.0 < self.window.0 {
            out.fail(
                "site",
                "census_horizon",
                "must be at least site.window".to_owned(),
            );
        }
        let test = self.self_test_interval.0;
        if !test.is_zero() && !within(test, 60, 86_400) {
            out.fail(
                "site",
                "self_test_interval",
                "must be 0s (never) or between 1m and 1d".to_owned(),
            );
        }
        for (i, vlan) in self.vlans.iter().enumerate() {
            if !(1..=4094).contains(vlan) {
                out.fail(
                    "site",
                    "vlans",
                    format!("{vlan} is not a VLAN id (1 to 4094)"),
                );
            } else if self.vlans[..i].contains(vlan) {
                out.fail("site", "vlans", format!("{vlan} is listed twice"));
            }
        }
        for (i, resolver) in self.resolvers.iter().enumerate() {
            if self.resolvers[..i].contains(resolver) {
                out.fail("site", "resolvers", format!("{resolver} is listed twice"));
            }
        }
    }
}
