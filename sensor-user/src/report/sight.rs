//! What the sensor can see, for people: the verdict, the census and each
//! finding with its evidence in words and the fix, as `vantage status`,
//! `vantage placement` and the state file show them.

use serde::{Deserialize, Serialize};
use vantage_protocol::{DeploymentMode, Sight};

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingReport {
    /// Stable reason code (`no_dns`, `one_sided`, ...).
    pub code: String,
    /// The evidence in words.
    pub evidence: String,
    /// What to do about it.
    pub fix: String,
    /// A caveat leaves the verdict as it is.
    pub caveat: bool,
    /// The evidence figures (see the README for each code).
    pub a: u64,
    pub b: u64,
}

/// The verdict and what it rests on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SightReport {
    /// `unknown`, `ok`, `degraded` or `blind`.
    pub verdict: String,
    /// Unix seconds since which the verdict has held.
    pub since: u64,
    /// Seconds of traffic the window covers.
    pub window_secs: u32,
    /// Frames and bytes in the window.
    pub packets: u64,
    pub bytes: u64,
    /// Protected hosts seen sending within the census horizon.
    pub hosts_seen: u32,
    /// The declared number of hosts (`375`, `300-400`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_expected: Option<String>,
    /// The declared deployment mode.
    pub mode: String,
    pub findings: Vec<FindingReport>,
    /// Where the protected hosts' DNS queries went in the window, most
    /// used first.
    pub resolvers_seen: Vec<String>,
}

impl SightReport {
    pub fn of(sight: &Sight) -> SightReport {
        let declared = sight.declared;
        SightReport {
            verdict: sight.verdict.name().to_owned(),
            since: sight.since,
            window_secs: sight.window_secs,
            packets: sight.packets,
            bytes: sight.bytes,
            hosts_seen: sight.hosts_seen,
            hosts_expected: match (declared.hosts_min, declared.hosts_max) {
                (0, 0) => None,
                (min, max) if min == max => Some(min.to_string()),
                (min, max) => Some(format!("{min}-{max}")),
            },
            mode: match declared.mode {
                DeploymentMode::Undeclared => "undeclared",
                DeploymentMode::Inline => "inline",
                DeploymentMode::Mirror => "mirror",
            }
            .to_owned(),
            findings: sight
                .findings
                .iter()
                .map(|f| FindingReport {
                    code: f.code.name().to_owned(),
                    evidence: f.describe(),
                    fix: f.code.hint().to_owned(),
                    caveat: f.code.is_caveat(),
                    a: f.a,
                    b: f.b,
                })
                .collect(),
            resolvers_seen: sight
                .resolvers_seen
                .iter()
                .map(|addr| std::net::IpAddr::from(*addr).to_string())
                .collect(),
        }
    }

    /// The report as lines for a terminal: the verdict, then each finding
    /// with its evidence and fix.
    pub fn lines(&self) -> Vec<String> {
        let expected = self
            .hosts_expected
            .as_ref()
            .map_or(String::new(), |e| format!(" of {e} expected"));
        let mut lines = vec![format!(
            "sight: {} (since {}), {} hosts seen sending{expected}, {} frames in the last {} s, mode {}",
            self.verdict.to_uppercase(),
            crate::time::format_unix(self.since),
            self.hosts_seen,
            self.packets,
            self.window_secs,
            self.mode
        )];
        for f in &self.findings {
            lines.push(format!(
                "  {} {}: {}",
                if f.caveat { "note" } else { "FINDING" },
                f.code,
                f.evidence
            ));
            lines.push(format!("      fix: {}", f.fix));
        }
        lines
    }
}
