//! The collector's own judgement of a sensor against its contract, from
//! what the sensor's last heartbeat reports, and the ways those reports
//! contradict the enrolment.
//!
//! The contract check asks whether the site is watched as contracted:
//!
//! - hosts: the protected hosts the sensor saw sending against the
//!   contracted range (`seen 5 of 375 contracted hosts`); not judged while
//!   the sensor's first window runs (verdict `unknown`);
//! - mode: the mode the sensor's configuration declares against the
//!   contracted one, and for an inline contract, whether the sensor is
//!   attached to at least two interfaces (XDP sees only ingress, so a
//!   gateway attaches its LAN and WAN sides);
//! - resolvers: where the protected hosts' DNS queries went in the sensor's
//!   window (its heartbeat names the resolvers asked) against the
//!   contracted ones: a lookup to any other is a failure; not judged when
//!   no lookup was seen or the heartbeat is of the first revision.
//!
//! A contradiction is a report that does not fit the enrolment: the
//! sensor's configuration declares another mode or host range than the
//! contract (so its own verdict is judged against other expectations), or
//! it says `ok` while the contract check fails.

use serde::{Deserialize, Serialize};
use vantage_protocol::{DeploymentMode, Verdict};

use super::{contract::Contract, sight::SightRecord};

/// The outcome of a contract check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// No contract term is set.
    NoContract,
    /// Nothing could be judged yet (no heartbeat, or no term judgeable).
    Unchecked,
    /// Every term judged holds.
    Pass,
    /// At least one term fails.
    Fail,
}

impl CheckStatus {
    /// The snake_case name shown.
    pub fn name(self) -> &'static str {
        match self {
            CheckStatus::NoContract => "no_contract",
            CheckStatus::Unchecked => "unchecked",
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "fail",
        }
    }
}

/// Why a term fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// Fewer protected hosts seen than the contract's lower bound.
    FewerHostsThanContracted,
    /// More protected hosts seen than the contract's upper bound.
    MoreHostsThanContracted,
    /// The sensor runs in another mode than contracted.
    ModeMismatch,
    /// Clients resolve with other resolvers than the contracted ones.
    ResolversElsewhere,
    /// The sensor reports itself blind: whatever it counts, it does not
    /// watch the site (an unmirrored port sees every host's broadcasts).
    Blind,
}

/// A term that fails, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What fails.
    pub code: FailureCode,
    /// The evidence, e.g. `seen 5 of 375 contracted hosts`.
    pub text: String,
}

/// A contract term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Term {
    /// `--mode`.
    Mode,
    /// `--expect-hosts`.
    Hosts,
    /// `--resolvers`.
    Resolvers,
}

impl Term {
    /// The snake_case name shown.
    pub fn name(self) -> &'static str {
        match self {
            Term::Mode => "mode",
            Term::Hosts => "hosts",
            Term::Resolvers => "resolvers",
        }
    }
}

/// A term that could not be judged, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unchecked {
    /// The term.
    pub term: Term,
    /// Why it was not judged.
    pub why: String,
}

/// The collector's check of a sensor against its contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractCheck {
    /// Overall outcome.
    pub status: CheckStatus,
    /// Terms that fail.
    pub failures: Vec<Failure>,
    /// Terms set but not judged.
    pub unchecked: Vec<Unchecked>,
}

/// How a report contradicts the enrolment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContradictionCode {
    /// The sensor's configuration declares another mode than the contract.
    DeclaredMode,
    /// The sensor's configuration declares another host range.
    DeclaredHosts,
    /// The sensor says `ok` while the contract check fails.
    OkAgainstContract,
}

/// One contradiction, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contradiction {
    /// What contradicts.
    pub code: ContradictionCode,
    /// In words, e.g. `declares 5-10 hosts, the contract 375-400`.
    pub text: String,
}

/// What the last heartbeat reports, as the check needs it.
#[derive(Clone, Copy, Debug)]
pub struct Report<'a> {
    /// Its sight.
    pub sight: &'a SightRecord,
    /// Interfaces the program is attached to (`None`: unreadable health).
    pub interfaces: Option<u8>,
}

/// Checks `report` (`None`: no heartbeat yet) against `contract`.
pub fn check(contract: &Contract, report: Option<Report<'_>>) -> ContractCheck {
    let mut failures = Vec::new();
    let mut unchecked = Vec::new();
    let mut judged = false;
    let mut skip = |term, why: &str| {
        unchecked.push(Unchecked {
            term,
            why: why.to_owned(),
        });
    };
    if contract.is_empty() {
        return ContractCheck {
            status: CheckStatus::NoContract,
            failures,
            unchecked,
        };
    }
    let no_heartbeat = "no heartbeat yet";
    if let Some(r) = report.filter(|r| r.sight.verdict == Verdict::Blind) {
        judged = true;
        let why: Vec<&str> = r
            .sight
            .findings
            .iter()
            .filter(|f| f.code.blinds())
            .map(|f| f.code.name())
            .collect();
        failures.push(Failure {
            code: FailureCode::Blind,
            text: if why.is_empty() {
                "the sensor reports itself blind".to_owned()
            } else {
                format!("the sensor reports itself blind ({})", why.join(", "))
            },
        });
    }
    if let Some(range) = contract.hosts {
        match report {
            None => skip(Term::Hosts, no_heartbeat),
            Some(r) if r.sight.verdict == Verdict::Unknown => skip(
                Term::Hosts,
                "the sensor's first window is not over (verdict unknown)",
            ),
            Some(r) => {
                judged = true;
                let seen = r.sight.hosts_seen;
                if seen < range.min {
                    failures.push(Failure {
                        code: FailureCode::FewerHostsThanContracted,
                        text: format!("seen {seen} of {} contracted hosts", range.min),
                    });
                } else if seen > range.max {
                    failures.push(Failure {
                        code: FailureCode::MoreHostsThanContracted,
                        text: format!("seen {seen} hosts, more than the {} contracted", range.max),
                    });
                }
            }
        }
    }
    if let Some(mode) = contract.mode {
        match report {
            None => skip(Term::Mode, no_heartbeat),
            Some(r) => {
                let declared = r.sight.declared.map(|d| d.mode);
                let mut mode_judged = false;
                if let Some(d) = declared.filter(|d| *d != DeploymentMode::Undeclared) {
                    mode_judged = true;
                    if d != mode {
                        failures.push(Failure {
                            code: FailureCode::ModeMismatch,
                            text: format!(
                                "the sensor runs as {}, the contract says {}",
                                d.name(),
                                mode.name()
                            ),
                        });
                    }
                }
                if mode == DeploymentMode::Inline {
                    if let Some(n) = r.interfaces {
                        mode_judged = true;
                        if n < 2 {
                            failures.push(Failure {
                                code: FailureCode::ModeMismatch,
                                text: format!(
                                    "inline contracted, but attached to {n} interface{} (a gateway attaches its LAN and WAN sides)",
                                    if n == 1 { "" } else { "s" }
                                ),
                            });
                        }
                    }
                }
                if mode_judged {
                    judged = true;
                } else if declared.is_none() {
                    skip(
                        Term::Mode,
                        "a first-revision heartbeat does not say how the sensor runs",
                    );
                } else {
                    skip(Term::Mode, "the sensor's configuration declares no mode");
                }
            }
        }
    }
    if !contract.resolvers.is_empty() {
        match report.map(|r| &r.sight.resolvers_seen) {
            None => skip(Term::Resolvers, no_heartbeat),
            Some(None) => skip(
                Term::Resolvers,
                "a first-revision heartbeat does not name the resolvers asked",
            ),
            Some(Some(seen)) if seen.is_empty() => {
                skip(Term::Resolvers, "no DNS lookup seen in the sensor's window");
            }
            Some(Some(seen)) => {
                judged = true;
                let elsewhere: Vec<String> = seen
                    .iter()
                    .filter(|addr| !contract.resolvers.contains(addr))
                    .map(ToString::to_string)
                    .collect();
                if !elsewhere.is_empty() {
                    let contracted: Vec<String> =
                        contract.resolvers.iter().map(ToString::to_string).collect();
                    failures.push(Failure {
                        code: FailureCode::ResolversElsewhere,
                        text: format!(
                            "lookups go to {}, not only to the contracted {}",
                            elsewhere.join(", "),
                            contracted.join(", ")
                        ),
                    });
                }
            }
        }
    }
    let status = if !failures.is_empty() {
        CheckStatus::Fail
    } else if judged {
        CheckStatus::Pass
    } else {
        CheckStatus::Unchecked
    };
    ContractCheck {
        status,
        failures,
        unchecked,
    }
}

/// Where the sensor's last report (`sight`) contradicts its enrolment
/// (`contract`), given the outcome of [`check`].
pub fn contradictions(
    contract: &Contract,
    sight: Option<&SightRecord>,
    check: &ContractCheck,
) -> Vec<Contradiction> {
    let mut found = Vec::new();
    let Some(sight) = sight else {
        return found;
    };
    if let (Some(mode), Some(declared)) = (contract.mode, sight.declared) {
        if declared.mode != mode {
            let text = match declared.mode {
                DeploymentMode::Undeclared => {
                    format!("declares no mode, the contract {}", mode.name())
                }
                other => format!("declares {}, the contract {}", other.name(), mode.name()),
            };
            found.push(Contradiction {
                code: ContradictionCode::DeclaredMode,
                text,
            });
        }
    }
    if let (Some(range), Some(declared)) = (contract.hosts, sight.declared) {
        if (declared.hosts_min, declared.hosts_max) != (range.min, range.max) {
            let text = if (declared.hosts_min, declared.hosts_max) == (0, 0) {
                format!("declares no host count, the contract {range}")
            } else {
                let theirs = super::contract::HostRange {
                    min: declared.hosts_min,
                    max: declared.hosts_max,
                };
                format!("declares {theirs} hosts, the contract {range}")
            };
            found.push(Contradiction {
                code: ContradictionCode::DeclaredHosts,
                text,
            });
        }
    }
    if sight.verdict == Verdict::Ok && check.status == CheckStatus::Fail {
        found.push(Contradiction {
            code: ContradictionCode::OkAgainstContract,
            text: "says ok while the contract check fails".to_owned(),
        });
    }
    found
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
