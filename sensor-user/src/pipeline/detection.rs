//! The detection stage of the pipeline: observations go through every
//! detector; findings become alerts (`detect::alerts`, one open alert per
//! key, rate caps); each alert raised or raised again gets a decision from
//! the rules of engagement (`respond::Policy`), which the daily digest
//! counts. Pure: the time comes in, decisions go out; the agent applies the
//! blocks and sends the messages, a replay prints them.

use std::{
    net::IpAddr,
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};

use super::talkers::Talkers;
use crate::{
    config::{DetectConfig, ResponseConfig, TimeZoneError},
    detect::{
        alerts::{AlertBook, AlertCounts, Raised},
        beacon::Beacon,
        dns_tunnel::DnsTunnel,
        known_bad::{KnownBad, ListProblem, ListSet},
        lateral::LateralMovement,
        new_device::{Inventory, NewDevice},
        pdns::PassiveDns,
        scan::{HostSweep, PortScan},
        Detect, Detector, DetectorStats, Finding, Observation, Seen, Site,
    },
    net::Cidr,
    respond::{
        Action, Decision, DecisionInput, DigestBook, DigestReport, Policy, PolicyContext,
        PolicyStats, Switch,
    },
};

/// Names remembered per peer address in the passive DNS table.
const PDNS_NAMES_PER_ADDR: usize = 4;
/// Peers whose talkers are remembered, and hosts remembered per peer (a
/// blast radius beyond 32 other hosts reads as "32 or more").
const TALKERS_PEERS: usize = 8_192;
const TALKERS_HOSTS: usize = 32;
/// How long a contact counts towards a peer's blast radius.
const TALKERS_MEMORY: Duration = Duration::from_secs(3600);

/// Everything the stage starts from.
#[derive(Clone, Debug)]
pub struct DetectionOptions {
    pub detect: DetectConfig,
    pub response: ResponseConfig,
    pub site: Site,
    /// Never blocked besides `response.never_block` and the site's own
    /// resolvers, gateway and collector (the stage adds those from
    /// `site`): `blocks.allow`.
    pub never_block: Vec<Cidr>,
    /// False in mirror mode: blocks are refused as a capability.
    pub can_block: bool,
    /// The first alert id (differs across restarts).
    pub first_alert_id: u32,
    pub lists: ListSet,
    pub inventory: Inventory,
}

/// One alert raised (or raised again) and what the policy made of it.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectionOutput {
    pub raised: Raised,
    pub decision: Decision,
    /// Other protected hosts talking to the block target's peer.
    pub blast_radius: u32,
}

/// What one step gives.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageOutputs {
    pub detections: Vec<DetectionOutput>,
    /// The daily digest, when due.
    pub digest: Option<DigestReport>,
    /// The policy switched to alert-only, or resumed.
    pub switched: Option<Switch>,
}

/// The stage's bookkeeping, for `vantage status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DetectionStats {
    pub observations: u64,
    pub findings: u64,
    pub alerts: AlertCounts,
    pub open_alerts: usize,
    pub policy: PolicyStats,
    pub alert_only: bool,
    /// Per detector: keys tracked and evicted.
    pub detectors: Vec<(Detector, DetectorStats)>,
    pub passive_dns: DetectorStats,
}

/// The detectors, the alert book, the policy and the digest; see the
/// module documentation.
pub struct DetectionStage {
    site: Site,
    generic: Vec<Box<dyn Detect + Send>>,
    known_bad: KnownBad,
    new_device: NewDevice,
    pdns: PassiveDns,
    book: AlertBook,
    policy: Policy,
    digest: DigestBook,
    talkers: Talkers,
    observations: u64,
    findings: u64,
}

impl DetectionStage {
    /// Builds every detector from its settings; fails only on a time zone
    /// the system does not know.
    pub fn new(
        options: DetectionOptions,
        now: SystemTime,
    ) -> Result<DetectionStage, TimeZoneError> {
        let detect = &options.detect;
        let generic: Vec<Box<dyn Detect + Send>> = vec![
            Box::new(PortScan::new(detect.port_scan.clone())),
            Box::new(HostSweep::new(detect.host_sweep.clone())),
            Box::new(LateralMovement::new(detect.lateral_movement.clone())),
            Box::new(Beacon::new(detect.beacon.clone())),
            Box::new(DnsTunnel::new(detect.dns_tunnel.clone())),
        ];
        let site = &options.site;
        let mut never_block: Vec<Cidr> = site
            .resolvers
            .iter()
            .chain(&site.gateway)
            .chain(&site.collector)
            .map(|addr| Cidr::host(*addr))
            .collect();
        never_block.extend(options.never_block.iter().copied());
        let policy = Policy::new(
            &options.response,
            PolicyContext {
                never_block,
                can_block: options.can_block,
            },
        )?;
        let digest = DigestBook::new(&options.response, now)?;
        Ok(DetectionStage {
            site: options.site,
            generic,
            known_bad: KnownBad::new(detect.known_bad.clone(), options.lists),
            new_device: NewDevice::new(detect.new_device.clone(), options.inventory),
            pdns: PassiveDns::new(detect.passive_dns_addresses as usize, PDNS_NAMES_PER_ADDR),
            book: AlertBook::new(detect.alerts.clone(), options.first_alert_id),
            policy,
            digest,
            talkers: Talkers::new(TALKERS_PEERS, TALKERS_HOSTS, TALKERS_MEMORY),
            observations: 0,
            findings: 0,
        })
    }

    /// The site as the detectors see it.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// The passive DNS table (answers recorded by [`DetectionStage::step`]).
    pub fn passive_dns(&self) -> &PassiveDns {
        &self.pdns
    }

    /// Replaces the known-bad lists (after a reload).
    pub fn replace_lists(&mut self, lists: ListSet) {
        self.known_bad.replace_lists(lists);
    }

    /// List entries that name the site's own infrastructure.
    pub fn list_problems(&self) -> Vec<ListProblem> {
        self.known_bad.list_problems(&self.site)
    }

    /// The name of a known-bad list by index.
    pub fn list_name(&self, index: usize) -> Option<&str> {
        self.known_bad.list_name(index)
    }

    /// The id the next new alert gets.
    pub fn next_alert_id(&self) -> u32 {
        self.book.next_id()
    }

    /// The time zone of the rules of engagement and the digest.
    pub fn time_zone(&self) -> &jiff::tz::TimeZone {
        self.policy.time_zone()
    }

    /// The device inventory, to save.
    pub fn inventory(&self) -> &Inventory {
        self.new_device.inventory()
    }

    /// Takes one interval's observations (oldest first), ending at `now`.
    /// `blocked` says whether an address is blocked in the kernel already
    /// (by an operator or an earlier decision).
    pub fn step(
        &mut self,
        observations: &[Observation],
        now: SystemTime,
        blocked: &dyn Fn(IpAddr) -> bool,
    ) -> StageOutputs {
        let mut findings = Vec::new();
        for observation in observations {
            self.observations += 1;
            match &observation.seen {
                Seen::Attempt { host, peer, .. } => self.talkers.saw(*host, *peer, observation.at),
                Seen::DnsAnswer { name, addrs, .. } => {
                    self.pdns.record_addrs(name, addrs, observation.at)
                }
                _ => {}
            }
            for detector in &mut self.generic {
                detector.observe(observation, &self.site, &mut findings);
            }
            self.known_bad
                .observe(observation, &self.site, &mut findings);
            self.new_device
                .observe(observation, &self.site, &mut findings);
        }
        for detector in &mut self.generic {
            detector.tick(now, &self.site, &mut findings);
        }
        self.known_bad.tick(now, &self.site, &mut findings);
        self.new_device.tick(now, &self.site, &mut findings);
        self.findings += findings.len() as u64;

        let mut outputs = StageOutputs::default();
        for finding in findings {
            if let Some(raised) = self.book.offer(finding, now) {
                let output = self.decide(raised, now, blocked);
                if output.decision.switched.is_some() {
                    outputs.switched = output.decision.switched;
                }
                outputs.detections.push(output);
            }
        }
        self.book.close_quiet(now);
        self.talkers.expire(now);
        if let Some(switch) = self.policy.poll(now) {
            outputs.switched = Some(switch);
        }
        outputs.digest = self.digest.due(now);
        outputs
    }

    fn decide(
        &mut self,
        raised: Raised,
        now: SystemTime,
        blocked: &dyn Fn(IpAddr) -> bool,
    ) -> DetectionOutput {
        let finding: &Finding = &raised.finding;
        // A block on the peer (beacons, known-bad peers) cuts every other
        // protected host that talks to it; a quarantined host cuts only itself.
        let blocks_peer = matches!(finding.detector, Detector::Beacon | Detector::KnownBad);
        let blast_radius = match finding.peer {
            Some(peer) if blocks_peer => self.talkers.others(peer, finding.host, now),
            _ => 0,
        };
        let input = DecisionInput {
            detector: finding.detector,
            host: finding.host,
            peer: finding.peer,
            domain: finding.domain.clone(),
            score: finding.score,
            blast_radius,
            already_blocked: blocked(finding.host) || finding.peer.is_some_and(blocked),
        };
        let decision = self.policy.decide(&input, now);
        self.digest.record_decision(&input, &decision);
        DetectionOutput {
            raised,
            decision,
            blast_radius,
        }
    }

    /// Counters for `vantage status` and the heartbeat.
    pub fn stats(&self) -> DetectionStats {
        let mut detectors: Vec<(Detector, DetectorStats)> = self
            .generic
            .iter()
            .map(|d| (d.detector(), d.stats()))
            .collect();
        detectors.push((self.known_bad.detector(), self.known_bad.stats()));
        detectors.push((self.new_device.detector(), self.new_device.stats()));
        DetectionStats {
            observations: self.observations,
            findings: self.findings,
            alerts: self.book.counts().clone(),
            open_alerts: self.book.open_count(),
            policy: self.policy.stats(),
            alert_only: self.policy.is_alert_only(),
            detectors,
            passive_dns: self.pdns.stats(),
        }
    }
}

/// The address a decision blocks (or would block), if any.
pub fn block_target(action: &Action) -> Option<(IpAddr, Duration)> {
    match action {
        Action::Block { target, ttl } => Some((*target, *ttl)),
        _ => None,
    }
}
