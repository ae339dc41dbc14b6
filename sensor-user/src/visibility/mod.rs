//! Whether the sensor sees what it is meant to watch, judged continuously
//! over a sliding window of interval samples against what the site is
//! declared to be (`[site]`). Pure: intervals, the interfaces' state and
//! the self-test's result go in, a [`Sight`] (verdict, findings with
//! evidence, census) comes out; the same code runs in `vantage run`, in
//! `vantage placement` and in accelerated-time tests.
//!
//! The verdict is `ok` only on positive evidence: protected hosts' traffic
//! seen both ways in the window, with no finding other than caveats. In the
//! first minute, with nothing wrong yet, it is `unknown`; after it, a window
//! without positive evidence always carries a finding that says why (see
//! [`rules::fallback`]), so a sensor blind from its first minute never
//! reports `ok`, however long it runs.

pub mod census;
pub mod rules;
#[cfg(test)]
pub mod sim;
#[cfg(test)]
mod tests;
pub mod window;

use std::{
    net::IpAddr,
    time::{Duration, SystemTime},
};

use vantage_protocol::{
    Addr, Declared, DeploymentMode, Finding, Sight, Verdict, FINDINGS_MAX, RESOLVERS_SEEN_MAX,
};

use crate::{
    config::{HostRange, SiteConfig, SiteMode},
    net::Cidr,
    sample::Interval,
};
use census::Census;
use window::{Lookups, Window};

/// How long the sensor watches before a lack of evidence is a finding.
pub const GRACE: Duration = Duration::from_secs(60);
/// Steps a new verdict must hold before it is reported as a change.
pub const HOLD_STEPS: u32 = 3;

/// What the site is declared to be (`[site]` and `sensor.local_nets`).
#[derive(Clone, Debug, PartialEq)]
pub struct Declaration {
    pub mode: SiteMode,
    pub expected: Option<HostRange>,
    pub resolvers: Vec<IpAddr>,
    pub vlans: Vec<u16>,
    pub window: Duration,
    pub census_horizon: Duration,
    pub local_nets: Vec<Cidr>,
    /// The datapath counts a frame seen twice once (`sensor.skip_duplicates`):
    /// a mirror that copies twice no longer distorts the counts.
    pub skip_duplicates: bool,
}

impl Declaration {
    pub fn new(site: &SiteConfig, local_nets: &[Cidr]) -> Declaration {
        Declaration {
            mode: site.mode,
            expected: site.expected_hosts,
            resolvers: site.resolvers.clone(),
            vlans: site.vlans.clone(),
            window: site.window.0,
            census_horizon: site.census_horizon.0,
            local_nets: local_nets.to_vec(),
            skip_duplicates: false,
        }
    }

    /// The same, for a datapath that counts duplicates once (or not).
    pub fn skipping_duplicates(mut self, skip: bool) -> Declaration {
        self.skip_duplicates = skip;
        self
    }

    /// As a heartbeat carries it.
    pub fn declared(&self) -> Declared {
        let range = self.expected.unwrap_or_default();
        Declared {
            mode: match self.mode {
                SiteMode::Undeclared => DeploymentMode::Undeclared,
                SiteMode::Inline => DeploymentMode::Inline,
                SiteMode::Mirror => DeploymentMode::Mirror,
            },
            hosts_min: range.min,
            hosts_max: range.max,
        }
    }
}

/// One attached interface as the agent found it at the end of an interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceSight {
    /// Its link is up (operstate up or unknown).
    pub up: bool,
    /// Our program is the one attached to it.
    pub ours: bool,
    /// It runs in generic mode.
    pub generic: bool,
}

/// The interfaces, measured by the caller each step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Surroundings {
    pub interfaces: Vec<InterfaceSight>,
    /// IP packets this machine's own stack took in during the interval
    /// (the agent's `own_traffic`); the judge discounts them from the
    /// traffic between unprotected addresses, where a gateway's own uplink
    /// shows up.
    pub delivered_here: u64,
}

/// The latest self-test: checks made, and how many the datapath saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelfTestResult {
    pub made: u32,
    pub seen: u32,
}

/// A verdict change that has held for [`HOLD_STEPS`] steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub from: Verdict,
    pub to: Verdict,
    pub sight: Sight,
}

/// The judge's state across steps.
#[derive(Clone, Debug)]
pub struct Judge {
    declaration: Declaration,
    window: Window,
    census: Census,
    started: SystemTime,
    verdict: Verdict,
    since: SystemTime,
    /// The verdict last reported as a change (or the first one).
    reported: Verdict,
    held: u32,
}

impl Judge {
    pub fn new(declaration: Declaration, started: SystemTime) -> Judge {
        Judge {
            window: Window::new(declaration.window),
            declaration,
            census: Census::default(),
            started,
            verdict: Verdict::Unknown,
            since: started,
            reported: Verdict::Unknown,
            held: 0,
        }
    }

    /// Takes one interval ending at `now` and judges the window.
    pub fn step(
        &mut self,
        interval: &Interval,
        surroundings: &Surroundings,
        self_test: Option<SelfTestResult>,
        now: SystemTime,
    ) -> (Sight, Option<Change>) {
        let lookups = Lookups::of(interval, &self.declaration.resolvers);
        self.window
            .push(interval, lookups, surroundings.delivered_here);
        self.census.update(interval, &self.declaration.local_nets);
        self.census.prune(now, self.declaration.census_horizon);
        let (site, lookups) = self.window.totals();
        let settled = now.duration_since(self.started).unwrap_or_default() >= GRACE;
        let covered_secs = self.window.covered().as_secs();
        let census = self.census.count();
        let vlans = self.census.vlans();
        let mut findings = rules::findings(&rules::Evidence {
            site: &site,
            lookups: &lookups,
            settled,
            covered_secs,
            census,
            vlans: &vlans,
            declaration: &self.declaration,
            surroundings,
            self_test,
        });
        let problems = findings.iter().any(|f| !f.code.is_caveat());
        let verdict = if problems {
            Sight::verdict_of(&findings)
        } else if rules::sees_both_ways(&site, census) {
            Verdict::Ok
        } else if settled {
            findings.push(rules::fallback(&site));
            findings.sort_by_key(|f| f.code);
            Sight::verdict_of(&findings)
        } else {
            Verdict::Unknown
        };
        if verdict != self.verdict {
            self.verdict = verdict;
            self.since = now;
            self.held = 0;
        }
        self.held = self.held.saturating_add(1);
        let sight = Sight {
            verdict,
            since: crate::time::unix_seconds(self.since) as u64,
            window_secs: u32::try_from(covered_secs).unwrap_or(u32::MAX),
            packets: site.packets,
            bytes: site.bytes,
            hosts_seen: census,
            findings: findings.into_iter().take(FINDINGS_MAX).collect(),
            declared: self.declaration.declared(),
            resolvers_seen: self
                .window
                .resolvers(RESOLVERS_SEEN_MAX)
                .into_iter()
                .map(Addr::from)
                .collect(),
        };
        let change =
            (verdict != self.reported && verdict != Verdict::Unknown && self.held >= HOLD_STEPS)
                .then(|| {
                    let from = self.reported;
                    self.reported = verdict;
                    Change {
                        from,
                        to: verdict,
                        sight: sight.clone(),
                    }
                });
        (sight, change)
    }
}

/// The findings that are not caveats.
pub fn problems(sight: &Sight) -> impl Iterator<Item = &Finding> {
    sight.findings.iter().filter(|f| !f.code.is_caveat())
}
