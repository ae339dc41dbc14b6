//! The detection stage inside the pipeline, in accelerated time, from
//! kernel-shaped events to decisions: a port scan becomes one alert raised
//! again as it grows, blocked under a block policy, refused for a
//! never-block host and in mirror mode; DNS answers name peers; mDNS is not
//! DNS; a digest falls due once a day.

use std::{
    net::IpAddr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use sensor_common::EventKind;

use super::{
    detection::{DetectionOptions, DetectionOutput},
    *,
};
use crate::{
    config::{Config, SiteConfig, SiteMode},
    detect::{known_bad::ListSet, new_device::Inventory, Detector, Site},
    net::Cidr,
    respond::{Action, ActionKind, Refusal},
    sample::{Event, Interval, SiteSample},
    visibility::{Declaration, Surroundings},
};

const START_SECS: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z, a Thursday

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(START_SECS + secs)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn cidr(text: &str) -> Cidr {
    text.parse().unwrap_or(Cidr::host(ip("0.0.0.0")))
}

fn syn(src: &str, dst: &str, dst_port: u16) -> Event {
    Event {
        kind: EventKind::TcpSyn,
        timestamp_ns: 0,
        src: ip(src),
        dst: ip(dst),
        src_port: 40000,
        dst_port,
        protocol: 6,
        ifindex: 2,
        qname: None,
        qname_truncated: false,
        qtype: 0,
        message_len: 0,
        answer: None,
        answer_truncated: false,
        dropped: false,
    }
}

/// An interval ending at `end` whose events all happened at `end`
/// (monotonic time is Unix time here, as in replays).
fn interval(end: SystemTime, events: Vec<Event>) -> Interval {
    let end_ns = end
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    Interval {
        start: end - Duration::from_secs(1),
        end,
        hosts: Vec::new(),
        site: SiteSample::default(),
        events: events
            .into_iter()
            .map(|mut e| {
                e.timestamp_ns = end_ns;
                e
            })
            .collect(),
        host_capacity: 1024,
        end_monotonic_ns: end_ns,
    }
}

fn new_pipeline(config: &Config, mode: SiteMode, never_block: &[&str]) -> Pipeline {
    let site = Site {
        protected: vec![cidr("10.0.0.0/8")],
        resolvers: vec![ip("10.0.0.53")],
        collector: Vec::new(),
        gateway: vec![ip("10.0.0.1")],
    };
    let mut response = config.response.clone();
    response.timezone = Some("UTC".to_owned());
    let stage = DetectionStage::new(
        DetectionOptions {
            detect: config.detect.clone(),
            response,
            site,
            never_block: never_block.iter().map(|s| cidr(s)).collect(),
            can_block: mode != SiteMode::Mirror,
            first_alert_id: 500,
            lists: ListSet::empty(),
            inventory: Inventory::new(at(0)),
        },
        at(0),
    );
    let stage = match stage {
        Ok(stage) => Some(stage),
        Err(error) => panic!("UTC must be known: {error}"),
    };
    Pipeline::new(
        PipelineOptions {
            heartbeat_interval: None,
            declaration: Declaration::new(&SiteConfig::default(), &[cidr("10.0.0.0/8")]),
            detection: stage,
        },
        at(0),
    )
}

/// 10.0.0.8 tries 10 new ports of 192.0.2.9 every second for `seconds`;
/// returns every detection output in order.
fn scan(pipeline: &mut Pipeline, scanner: &str, seconds: u16) -> Vec<DetectionOutput> {
    let mut outputs = Vec::new();
    for second in 0..seconds {
        let events = (0..10)
            .map(|i| syn(scanner, "192.0.2.9", 1000 + second * 10 + i))
            .collect();
        let now = at(u64::from(second) + 1);
        let out = pipeline.step(&interval(now, events), &Surroundings::default(), None, now);
        outputs.extend(out.detection.detections);
    }
    outputs
}

#[test]
fn a_scan_is_one_alert_raised_again_and_notified_by_default() {
    let mut pipeline = new_pipeline(&Config::default(), SiteMode::Inline, &[]);
    let outputs = scan(&mut pipeline, "10.0.0.8", 10);
    // 10 ports after 1 s (below 15), 20 after 2 s: score 50 at 15 ports, here
    // ratio_score(20, 15, 4) = 50 + 50 * 5/45 = 55 -> digest.
    let first = &outputs[0];
    assert_eq!(first.raised.finding.detector, Detector::PortScan);
    assert_eq!(first.raised.finding.host, ip("10.0.0.8"));
    assert_eq!(first.raised.finding.peer, Some(ip("192.0.2.9")));
    assert_eq!(first.raised.finding.score, 55);
    assert_eq!((first.raised.id, first.raised.revision), (500, 0));
    assert_eq!(first.decision.action, Action::Digest);
    // It only ever updates the same alert, up to 100 (60 ports) and notify.
    assert!(outputs.iter().all(|o| o.raised.id == 500));
    let last = outputs
        .last()
        .map(|o| (o.raised.finding.score, o.decision.action.kind()));
    assert_eq!(last, Some((100, ActionKind::Notify)));
    // Revisions count up by one.
    let revisions: Vec<u16> = outputs.iter().map(|o| o.raised.revision).collect();
    assert!(
        revisions.windows(2).all(|w| w[1] == w[0] + 1),
        "{revisions:?}"
    );
}

#[test]
fn under_a_block_policy_the_scanner_is_blocked_once() {
    let mut config = Config::default();
    config.response.block_at = 70;
    let mut pipeline = new_pipeline(&config, SiteMode::Inline, &[]);
    let outputs = scan(&mut pipeline, "10.0.0.8", 10);
    let blocks: Vec<&Action> = outputs
        .iter()
        .map(|o| &o.decision.action)
        .filter(|a| matches!(a, Action::Block { .. }))
        .collect();
    assert_eq!(
        blocks,
        vec![&Action::Block {
            target: ip("10.0.0.8"),
            ttl: Duration::from_secs(3600)
        }]
    );
    let stats = pipeline.detection().map(|d| d.stats());
    assert_eq!(
        stats.map(|s| (s.policy.blocks, s.policy.active_blocks)),
        Some((1, 1))
    );
}

#[test]
fn a_never_block_host_and_mirror_mode_are_refused_however_high_the_score() {
    let mut config = Config::default();
    config.response.block_at = 70;
    let mut pipeline = new_pipeline(&config, SiteMode::Inline, &["10.0.0.8/32"]);
    let outputs = scan(&mut pipeline, "10.0.0.8", 10);
    assert!(outputs.iter().any(|o| o.raised.finding.score == 100));
    assert!(outputs
        .iter()
        .all(|o| !matches!(o.decision.action, Action::Block { .. })));
    assert!(outputs.iter().any(|o| o.decision.action
        == Action::Refused {
            target: ip("10.0.0.8"),
            reason: Refusal::NeverBlock
        }));

    let mut mirror = new_pipeline(&config, SiteMode::Mirror, &[]);
    let outputs = scan(&mut mirror, "10.0.0.8", 10);
    assert!(outputs.iter().any(|o| o.decision.action
        == Action::Refused {
            target: ip("10.0.0.8"),
            reason: Refusal::MirrorMode
        }));
    assert!(outputs
        .iter()
        .all(|o| !matches!(o.decision.action, Action::Block { .. })));
}

#[test]
fn a_host_already_blocked_in_the_kernel_is_not_blocked_again() {
    let mut config = Config::default();
    config.response.block_at = 70;
    let mut pipeline = new_pipeline(&config, SiteMode::Inline, &[]);
    pipeline.note_blocked([ip("10.0.0.8")]);
    let outputs = scan(&mut pipeline, "10.0.0.8", 10);
    assert!(outputs
        .iter()
        .all(|o| !matches!(o.decision.action, Action::Block { .. })));
    assert!(outputs
        .iter()
        .any(|o| o.decision.reason.ends_with("already_blocked")));
}

/// A DNS response naming 192.0.2.9 makes later attempts to it carry the
/// registered domain; an mDNS "query" raises nothing.
#[test]
fn answers_name_peers_and_mdns_is_not_dns() {
    let mut pipeline = new_pipeline(&Config::default(), SiteMode::Inline, &[]);
    // Header (id 1, QR=1 RD RA, 1 question, 1 answer), www.example.co.uk A IN,
    // answer: pointer to the name, A IN, TTL 300, 192.0.2.9.
    let mut message = vec![0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    for label in ["www", "example", "co", "uk"] {
        message.push(label.len() as u8);
        message.extend_from_slice(label.as_bytes());
    }
    message.extend_from_slice(&[0, 0, 1, 0, 1]);
    message.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 9]);
    let mut answer = syn("10.0.0.53", "10.0.0.8", 40000);
    answer.kind = EventKind::DnsAnswer;
    answer.src_port = 53;
    answer.protocol = 17;
    answer.message_len = message.len() as u16;
    answer.answer = Some(message);
    let mut mdns = syn("10.0.0.8", "224.0.0.251", 5353);
    mdns.kind = EventKind::DnsQuery;
    mdns.qname = Some("printer.local".to_owned());
    let now = at(1);
    pipeline.step(
        &interval(now, vec![answer, mdns]),
        &Surroundings::default(),
        None,
        now,
    );
    assert_eq!(
        pipeline.answer_counts(),
        observe::AnswerCounts {
            parsed: 1,
            truncated: 0,
            malformed: 0
        }
    );
    let domain = pipeline
        .detection()
        .and_then(|d| d.passive_dns().domain_of(ip("192.0.2.9")));
    assert_eq!(domain.as_deref(), Some("example.co.uk"));
    // The mDNS question was not an observation; the answer was.
    assert_eq!(
        pipeline.detection().map(|d| d.stats().observations),
        Some(1)
    );
}

#[test]
fn the_digest_falls_due_once_at_its_local_time() {
    let mut pipeline = new_pipeline(&Config::default(), SiteMode::Inline, &[]);
    let mut digests = Vec::new();
    // Two days of one-minute ticks from midnight UTC; the digest is at 07:00.
    for minute in 1..=(2 * 24 * 60) {
        let now = at(minute * 60);
        let out = pipeline.step(
            &interval(now, Vec::new()),
            &Surroundings::default(),
            None,
            now,
        );
        if out.detection.digest.is_some() {
            digests.push(minute);
        }
    }
    assert_eq!(digests, vec![7 * 60, 31 * 60]);
}

/// SYNs a block dropped reached nobody: they feed no detector. A scan's
/// block quarantines the scanner alone: no blast radius, even when other
/// hosts talk to the scanned peer.
#[test]
fn dropped_attempts_feed_nothing_and_a_quarantine_has_no_blast_radius() {
    let mut pipeline = new_pipeline(&Config::default(), SiteMode::Inline, &[]);
    for second in 0..10u16 {
        let events = (0..10)
            .map(|i| {
                let mut event = syn("10.0.0.8", "192.0.2.9", 1000 + second * 10 + i);
                event.dropped = true;
                event
            })
            .collect();
        let now = at(u64::from(second) + 1);
        let out = pipeline.step(&interval(now, events), &Surroundings::default(), None, now);
        assert!(out.detection.detections.is_empty());
    }
    assert_eq!(
        pipeline.detection().map(|d| d.stats().observations),
        Some(0)
    );

    let mut pipeline = new_pipeline(&Config::default(), SiteMode::Inline, &[]);
    let now = at(1);
    let others = vec![
        syn("10.0.0.20", "192.0.2.9", 443),
        syn("10.0.0.21", "192.0.2.9", 443),
    ];
    pipeline.step(&interval(now, others), &Surroundings::default(), None, now);
    let outputs = scan(&mut pipeline, "10.0.0.8", 5);
    assert!(!outputs.is_empty());
    assert!(outputs.iter().all(|o| o.blast_radius == 0));
}
