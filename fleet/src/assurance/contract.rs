//! The contract: what the MSSP recorded about a site when it enrolled the
//! sensor (`enroll --mode --expect-hosts --resolvers`) and may change later
//! (`expect`): how the sensor is deployed, how many protected hosts it must
//! see, which resolvers the clients use. The collector judges the sensor's
//! heartbeats against it (see [`super::check`]), not against what the
//! sensor's own configuration declares.
//!
//! Flag values parse here, and every refusal names its flag.

use std::{fmt, net::IpAddr};

use serde::{Deserialize, Serialize};
use vantage_protocol::DeploymentMode;

/// Expected protected hosts: at least `min`, at most `max` (`N` is `N-N`,
/// as in the sensor's `site.expected_hosts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRange {
    /// Fewest protected hosts the sensor must see sending.
    pub min: u32,
    /// Most protected hosts the site has.
    pub max: u32,
}

impl fmt::Display for HostRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

/// What the MSSP expects of a site. Every term is optional; a term not set
/// is not checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    /// `inline` or `mirror` (never `undeclared`).
    pub mode: Option<DeploymentMode>,
    /// Protected hosts the sensor must see.
    pub hosts: Option<HostRange>,
    /// The resolvers the site's clients use.
    pub resolvers: Vec<IpAddr>,
}

impl Contract {
    /// True when no term is set.
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.hosts.is_none() && self.resolvers.is_empty()
    }
}

impl fmt::Display for Contract {
    /// `mirror, 375-400 hosts, resolvers 10.0.0.53 10.0.0.54`, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut terms = Vec::new();
        if let Some(mode) = self.mode {
            terms.push(mode.name().to_owned());
        }
        if let Some(hosts) = self.hosts {
            terms.push(format!("{hosts} hosts"));
        }
        if !self.resolvers.is_empty() {
            let list: Vec<String> = self.resolvers.iter().map(IpAddr::to_string).collect();
            terms.push(format!("resolvers {}", list.join(" ")));
        }
        if terms.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&terms.join(", "))
        }
    }
}

/// A flag value that is not a valid contract term.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// `--mode` is not `inline`, `mirror` or `none`.
    #[error("--mode: {value:?} is not one of inline, mirror, none")]
    Mode {
        /// The value given.
        value: String,
    },
    /// `--expect-hosts` is not `N`, `A-B` or `none`.
    #[error("--expect-hosts: {value:?} {reason}")]
    Hosts {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An item of `--resolvers` is not an IP address.
    #[error("--resolvers: {value:?} is not an IP address (give IP,IP,... or none)")]
    Resolver {
        /// The item given.
        value: String,
    },
    /// `--resolvers` names one address twice.
    #[error("--resolvers: {value} is listed twice")]
    DuplicateResolver {
        /// The address given twice.
        value: IpAddr,
    },
}

/// The word that clears a term (`--mode none`).
pub const NONE: &str = "none";

/// Parses `--mode`: `inline`, `mirror`, or `none` (`Ok(None)`).
pub fn parse_mode(text: &str) -> Result<Option<DeploymentMode>, ContractError> {
    match text.trim() {
        "inline" => Ok(Some(DeploymentMode::Inline)),
        "mirror" => Ok(Some(DeploymentMode::Mirror)),
        NONE => Ok(None),
        _ => Err(ContractError::Mode {
            value: text.to_owned(),
        }),
    }
}

/// Parses `--expect-hosts`: `N`, `A-B` (A ≤ B, B ≥ 1), or `none`.
pub fn parse_hosts(text: &str) -> Result<Option<HostRange>, ContractError> {
    let trimmed = text.trim();
    if trimmed == NONE {
        return Ok(None);
    }
    let refuse = |reason| ContractError::Hosts {
        value: text.to_owned(),
        reason,
    };
    let number = |part: &str| {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse(
                "is not a number of hosts or a range like 300-400 (or none)",
            ));
        }
        part.parse::<u32>()
            .map_err(|_| refuse("is more hosts than a contract can hold"))
    };
    let range = match trimmed.split_once('-') {
        Some((a, b)) => HostRange {
            min: number(a)?,
            max: number(b)?,
        },
        None => {
            let n = number(trimmed)?;
            HostRange { min: n, max: n }
        }
    };
    if range.min > range.max {
        return Err(refuse("has its lower bound above its upper bound"));
    }
    if range.max == 0 {
        return Err(refuse("expects no host at all; give at least 1"));
    }
    Ok(Some(range))
}

/// Parses `--resolvers`: `IP,IP,...` (each once), or `none` (no resolvers).
pub fn parse_resolvers(text: &str) -> Result<Vec<IpAddr>, ContractError> {
    if text.trim() == NONE {
        return Ok(Vec::new());
    }
    let mut resolvers: Vec<IpAddr> = Vec::new();
    for item in text.split(',') {
        let address: IpAddr = item.trim().parse().map_err(|_| ContractError::Resolver {
            value: item.trim().to_owned(),
        })?;
        if resolvers.contains(&address) {
            return Err(ContractError::DuplicateResolver { value: address });
        }
        resolvers.push(address);
    }
    Ok(resolvers)
}

/// The terms a command line changes; a term not given stays as it was.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContractChange {
    /// `--mode`: `Some(None)` clears it.
    pub mode: Option<Option<DeploymentMode>>,
    /// `--expect-hosts`: `Some(None)` clears it.
    pub hosts: Option<Option<HostRange>>,
    /// `--resolvers`: `Some(vec![])` clears them.
    pub resolvers: Option<Vec<IpAddr>>,
}

impl ContractChange {
    /// Parses the flags given (`None`: flag absent).
    pub fn parse(
        mode: Option<&str>,
        hosts: Option<&str>,
        resolvers: Option<&str>,
    ) -> Result<ContractChange, ContractError> {
        Ok(ContractChange {
            mode: mode.map(parse_mode).transpose()?,
            hosts: hosts.map(parse_hosts).transpose()?,
            resolvers: resolvers.map(parse_resolvers).transpose()?,
        })
    }

    /// True when no flag was given.
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.hosts.is_none() && self.resolvers.is_none()
    }

    /// `contract` with the given terms replaced.
    pub fn apply(&self, contract: &Contract) -> Contract {
        Contract {
            mode: self.mode.unwrap_or(contract.mode),
            hosts: self.hosts.unwrap_or(contract.hosts),
            resolvers: self
                .resolvers
                .clone()
                .unwrap_or_else(|| contract.resolvers.clone()),
        }
    }
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken setup step"
)]
mod tests {
    use super::*;

    fn hosts(min: u32, max: u32) -> Option<HostRange> {
        Some(HostRange { min, max })
    }

    #[test]
    fn host_counts_and_ranges_parse_and_bad_ones_name_the_flag() {
        assert_eq!(parse_hosts("375"), Ok(hosts(375, 375)));
        assert_eq!(parse_hosts(" 300-400 "), Ok(hosts(300, 400)));
        assert_eq!(parse_hosts("0-10"), Ok(hosts(0, 10)));
        assert_eq!(parse_hosts("none"), Ok(None));
        let error = |text: &str| parse_hosts(text).map_err(|e| e.to_string());
        assert_eq!(
            error("400-300"),
            Err("--expect-hosts: \"400-300\" has its lower bound above its upper bound".into())
        );
        assert_eq!(
            error("lots"),
            Err(
                "--expect-hosts: \"lots\" is not a number of hosts or a range like 300-400 (or none)"
                    .into()
            )
        );
        assert_eq!(
            error("0"),
            Err("--expect-hosts: \"0\" expects no host at all; give at least 1".into())
        );
        assert_eq!(
            error("99999999999"),
            Err("--expect-hosts: \"99999999999\" is more hosts than a contract can hold".into())
        );
        for bad in ["-5", "5-", "1-2-3", "+5", "", "3 4"] {
            assert!(
                matches!(parse_hosts(bad), Err(ContractError::Hosts { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn modes_and_resolvers_parse_and_bad_ones_name_the_flag() {
        assert_eq!(parse_mode("inline"), Ok(Some(DeploymentMode::Inline)));
        assert_eq!(parse_mode("mirror"), Ok(Some(DeploymentMode::Mirror)));
        assert_eq!(parse_mode("none"), Ok(None));
        assert_eq!(
            parse_mode("undeclared").map_err(|e| e.to_string()),
            Err("--mode: \"undeclared\" is not one of inline, mirror, none".into())
        );
        let two: Vec<IpAddr> = vec![[10, 0, 0, 53].into(), "2001:db8::53".parse().expect("ip")];
        assert_eq!(parse_resolvers("10.0.0.53, 2001:db8::53"), Ok(two));
        assert_eq!(parse_resolvers("none"), Ok(vec![]));
        assert_eq!(
            parse_resolvers("10.0.0.53,dns.example").map_err(|e| e.to_string()),
            Err(
                "--resolvers: \"dns.example\" is not an IP address (give IP,IP,... or none)".into()
            )
        );
        assert_eq!(
            parse_resolvers("10.0.0.53,").map_err(|e| e.to_string()),
            Err("--resolvers: \"\" is not an IP address (give IP,IP,... or none)".into())
        );
        assert_eq!(
            parse_resolvers("10.0.0.53,10.0.0.53").map_err(|e| e.to_string()),
            Err("--resolvers: 10.0.0.53 is listed twice".into())
        );
    }

    #[test]
    fn a_change_replaces_only_the_terms_given() {
        let before = Contract {
            mode: Some(DeploymentMode::Mirror),
            hosts: hosts(300, 400),
            resolvers: vec![[10, 0, 0, 53].into()],
        };
        assert_eq!(
            before.to_string(),
            "mirror, 300-400 hosts, resolvers 10.0.0.53"
        );
        let none = ContractChange::parse(None, None, None).expect("no flags");
        assert!(none.is_empty());
        assert_eq!(none.apply(&before), before);
        let change = ContractChange::parse(Some("inline"), Some("375"), None).expect("flags");
        let after = change.apply(&before);
        assert_eq!(after.to_string(), "inline, 375 hosts, resolvers 10.0.0.53");
        let cleared = ContractChange::parse(Some("none"), Some("none"), Some("none"))
            .expect("flags")
            .apply(&after);
        assert_eq!(cleared, Contract::default());
        assert!(cleared.is_empty());
        assert_eq!(cleared.to_string(), "none");
        assert_eq!(
            ContractChange::parse(Some("span"), None, None),
            Err(ContractError::Mode {
                value: "span".into()
            })
        );
    }
}
