//! Horizontal sweep tests.

use std::net::IpAddr;

use super::{
    testkit::{answer, attempt, run, t, v4},
    HostSweep, HostSweepSettings, MAX_PEERS_PER_SWEEP,
};
use crate::{
    config::duration::HumanDuration,
    detect::{Detect, Detector, DetectorStats, Fact, Observation, Outcome, Transport},
    net::Cidr,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn host() -> IpAddr {
    v4(10, 0, 0, 7)
}

/// The `i`-th peer outside the site (198.18.0.0/15), from 1.
fn outside(i: u16) -> IpAddr {
    v4(198, 18, (i >> 8) as u8, (i & 0xff) as u8)
}

/// The `i`-th protected peer (10.1.0.0/16), from 1.
fn inside(i: u16) -> IpAddr {
    v4(10, 1, (i >> 8) as u8, (i & 0xff) as u8)
}

/// Attempts from `host()` on `port` to `peers`, 100 ms apart from `start` s.
fn sweep(
    start: u64,
    port: u16,
    transport: Transport,
    peers: impl IntoIterator<Item = IpAddr>,
) -> Vec<Observation> {
    peers
        .into_iter()
        .enumerate()
        .map(|(i, peer)| {
            attempt(
                t(start) + std::time::Duration::from_millis(i as u64 * 100),
                host(),
                peer,
                port,
                transport,
            )
        })
        .collect()
}

#[test]
fn twenty_four_peers_are_nothing_twenty_five_score_fifty() {
    let mut detector = HostSweep::new(HostSweepSettings::default());
    assert!(run(
        &mut detector,
        &sweep(0, 22, Transport::Tcp, (1..=24).map(outside)),
        t(10)
    )
    .is_empty());
    let found = run(
        &mut detector,
        &sweep(10, 22, Transport::Tcp, [outside(25)]),
        t(11),
    );
    assert_eq!(found.len(), 1);
    let finding = &found[0];
    assert_eq!(finding.detector, Detector::HostSweep);
    assert_eq!(
        (finding.host, finding.peer, finding.port),
        (host(), None, Some(22))
    );
    assert_eq!(finding.score, 50);
    let why = &finding.explanation;
    assert_eq!(
        (why.observed, why.threshold, why.window_secs, why.confidence),
        (25.0, 25.0, 300, 100)
    );
    assert_eq!(why.fact(Fact::DistinctPeers), Some(25.0));
    assert_eq!(why.fact(Fact::Attempts), Some(25.0));
    assert_eq!(why.fact(Fact::Unanswered), Some(25.0));
}

#[test]
fn protected_peers_have_the_internal_threshold() {
    let mut detector = HostSweep::new(HostSweepSettings::default());
    assert!(run(
        &mut detector,
        &sweep(0, 80, Transport::Tcp, (1..=49).map(inside)),
        t(10)
    )
    .is_empty());
    let found = run(
        &mut detector,
        &sweep(10, 80, Transport::Tcp, [inside(50)]),
        t(11),
    );
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].score, found[0].explanation.threshold), (50, 50.0));
}

#[test]
fn a_mixed_sweep_adds_the_shares() {
    // 12/25 + 20/50 = 0.88: nothing. 15/25 + 20/50 = 1: the threshold the
    // mix implies is 35 x 25 x 50 / (15 x 50 + 20 x 25) = 35.
    let mut detector = HostSweep::new(HostSweepSettings::default());
    let mut observations = sweep(0, 80, Transport::Tcp, (1..=12).map(outside));
    observations.extend(sweep(5, 80, Transport::Tcp, (1..=20).map(inside)));
    assert!(run(&mut detector, &observations, t(10)).is_empty());
    let found = run(
        &mut detector,
        &sweep(10, 80, Transport::Tcp, (13..=15).map(outside)),
        t(11),
    );
    assert_eq!(found.len(), 1);
    let why = &found[0].explanation;
    assert_eq!(
        (found[0].score, why.observed, why.threshold),
        (50, 35.0, 35.0)
    );
}

#[test]
fn answered_peers_are_not_counted() {
    // 30 peers, 5 answer: 25 failed; 25 of 30 attempts unanswered = 83%.
    let mut observations = sweep(0, 445, Transport::Tcp, (1..=30).map(outside));
    observations.extend((1..=5).map(|i| answer(t(4), host(), outside(i), 445, Outcome::Answered)));
    let mut detector = HostSweep::new(HostSweepSettings::default());
    let found = run(&mut detector, &observations, t(5));
    assert_eq!(found.len(), 1);
    let why = &found[0].explanation;
    assert_eq!(
        (found[0].score, why.observed, why.confidence),
        (50, 25.0, 83)
    );
    assert_eq!(why.fact(Fact::DistinctPeers), Some(30.0));
    assert_eq!(why.fact(Fact::Answered), Some(5.0));
    // One more answer: 24 failed, nothing.
    let more = [answer(t(6), host(), outside(6), 445, Outcome::Answered)];
    assert!(run(&mut detector, &more, t(7)).is_empty());
}

#[test]
fn an_icmp_echo_sweep_is_reported_without_a_port() {
    let mut observations = sweep(0, 0, Transport::IcmpEcho, (1..=30).map(outside));
    observations.extend((1..=5).map(|i| answer(t(4), host(), outside(i), 0, Outcome::Answered)));
    let mut detector = HostSweep::new(HostSweepSettings::default());
    let found = run(&mut detector, &observations, t(5));
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].port, found[0].peer, found[0].score),
        (None, None, 50)
    );
    assert_eq!(found[0].explanation.observed, 25.0);
}

#[test]
fn multicast_broadcast_unspecified_and_infrastructure_peers_are_ignored() {
    let ignored = [
        v4(255, 255, 255, 255),
        v4(224, 0, 0, 251),
        v4(239, 255, 255, 250),
        v4(0, 0, 0, 0),
        v4(198, 51, 100, 7), // collector
        v4(10, 0, 0, 255),   // broadcast of the protected /24
        v4(10, 0, 0, 53),    // resolver
        v4(10, 0, 0, 1),     // gateway
    ];
    let mut observations = sweep(0, 161, Transport::Udp, (1..=24).map(outside));
    observations.extend(sweep(5, 161, Transport::Udp, ignored));
    let mut detector = HostSweep::new(HostSweepSettings::default());
    // Counted, the three protected ones would add 3/50 to 24/25: above.
    assert!(run(&mut detector, &observations, t(10)).is_empty());
    let found = run(
        &mut detector,
        &sweep(10, 161, Transport::Udp, [outside(25)]),
        t(11),
    );
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].port, found[0].explanation.observed),
        (Some(161), 25.0)
    );
    assert_eq!(found[0].explanation.fact(Fact::DistinctPeers), Some(25.0));
}

#[test]
fn attempts_spread_over_more_than_the_window_do_not_add_up() {
    let mut spread = sweep(0, 23, Transport::Tcp, (1..=20).map(outside));
    spread.extend(sweep(301, 23, Transport::Tcp, (21..=40).map(outside)));
    let mut detector = HostSweep::new(HostSweepSettings::default());
    assert!(run(&mut detector, &spread, t(303)).is_empty());

    let mut close = sweep(0, 23, Transport::Tcp, (1..=20).map(outside));
    close.extend(sweep(290, 23, Transport::Tcp, (21..=40).map(outside)));
    let mut detector = HostSweep::new(HostSweepSettings::default());
    // 40 peers: 50 + 50 x 15 / 75 = 60.
    let found = run(&mut detector, &close, t(295));
    assert_eq!(found.iter().map(|f| f.score).collect::<Vec<_>>(), [60]);
    assert!(run(&mut detector, &[], t(600)).is_empty());
    assert_eq!(
        detector.stats(),
        DetectorStats {
            tracked: 0,
            evicted: 0
        }
    );
}

#[test]
fn quic_is_ignored_by_default_other_udp_ports_are_not() {
    let mut detector = HostSweep::new(HostSweepSettings::default());
    assert!(run(
        &mut detector,
        &sweep(0, 443, Transport::Udp, (1..=60).map(outside)),
        t(10)
    )
    .is_empty());
    assert_eq!(detector.stats().tracked, 0);
    let found = run(
        &mut detector,
        &sweep(10, 123, Transport::Udp, (1..=25).map(outside)),
        t(20),
    );
    assert_eq!(
        found.iter().map(|f| f.port).collect::<Vec<_>>(),
        [Some(123)]
    );
    let settings = HostSweepSettings {
        ignore_udp_ports: Vec::new(),
        ..HostSweepSettings::default()
    };
    let mut detector = HostSweep::new(settings);
    let found = run(
        &mut detector,
        &sweep(0, 443, Transport::Udp, (1..=25).map(outside)),
        t(10),
    );
    assert_eq!(found.len(), 1);
}

#[test]
fn tcp_and_udp_on_one_port_are_separate_sweeps() {
    let mut observations = sweep(0, 53, Transport::Udp, (1..=25).map(outside));
    observations.extend(sweep(0, 53, Transport::Tcp, (1..=25).map(outside)));
    let mut detector = HostSweep::new(HostSweepSettings::default());
    let found = run(&mut detector, &observations, t(10));
    assert_eq!(
        found.iter().map(|f| (f.port, f.score)).collect::<Vec<_>>(),
        [(Some(53), 50), (Some(53), 50)]
    );
    assert_eq!(detector.stats().tracked, 2);
}

#[test]
fn exempt_hosts_are_not_tracked() -> TestResult {
    let settings = HostSweepSettings {
        exempt: vec!["10.0.0.7".parse::<Cidr>()?],
        ..HostSweepSettings::default()
    };
    let mut detector = HostSweep::new(settings);
    assert!(run(
        &mut detector,
        &sweep(0, 0, Transport::IcmpEcho, (1..=200).map(outside)),
        t(30)
    )
    .is_empty());
    assert_eq!(detector.stats().tracked, 0);
    Ok(())
}

#[test]
fn the_least_recently_active_sweep_is_evicted_and_peers_are_capped() {
    let settings = HostSweepSettings {
        max_tracked: 1,
        ..HostSweepSettings::default()
    };
    let mut detector = HostSweep::new(settings);
    let mut observations = sweep(0, 22, Transport::Tcp, (1..=30).map(outside));
    observations.extend(sweep(10, 23, Transport::Tcp, (1..=300).map(outside)));
    let found = run(&mut detector, &observations, t(50));
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].port, found[0].score), (Some(23), 100));
    let why = &found[0].explanation;
    assert_eq!(why.observed, MAX_PEERS_PER_SWEEP as f64);
    assert_eq!(why.fact(Fact::DistinctPeers), Some(256.0));
    assert_eq!(
        detector.stats(),
        DetectorStats {
            tracked: 1,
            evicted: 1
        }
    );
}

#[test]
fn settings_default_check_and_parse() -> TestResult {
    let defaults = HostSweepSettings::default();
    assert!(defaults.check().is_empty());
    assert_eq!(
        (
            defaults.peers,
            defaults.internal_peers,
            defaults.max_tracked
        ),
        (25, 50, 4096)
    );
    assert_eq!(defaults.ignore_udp_ports, [443]);
    let bad = HostSweepSettings {
        window: HumanDuration(std::time::Duration::from_secs(7200)),
        peers: 0,
        internal_peers: 1000,
        ..HostSweepSettings::default()
    };
    let keys: Vec<&str> = bad.check().into_iter().map(|(key, _)| key).collect();
    assert_eq!(keys, ["window", "peers", "internal_peers"]);
    let parsed: HostSweepSettings = toml::from_str("internal_peers = 80\nignore_udp_ports = []\n")?;
    assert_eq!((parsed.peers, parsed.internal_peers), (25, 80));
    assert!(parsed.ignore_udp_ports.is_empty());
    assert!(toml::from_str::<HostSweepSettings>("hosts = 3\n").is_err());
    Ok(())
}

#[test]
fn a_site_resolver_recursing_is_not_a_sweep() {
    let resolver = v4(10, 0, 0, 53);
    let from_resolver = |port, peers: std::ops::RangeInclusive<u16>| -> Vec<Observation> {
        peers
            .map(|i| attempt(t(1), resolver, outside(i), port, Transport::Udp))
            .collect()
    };
    let mut detector = HostSweep::new(HostSweepSettings::default());
    assert!(run(&mut detector, &from_resolver(53, 1..=100), t(10)).is_empty());
    assert_eq!(detector.stats().tracked, 0);
    let found = run(&mut detector, &from_resolver(123, 1..=25), t(10));
    assert_eq!(
        found.iter().map(|f| (f.host, f.port)).collect::<Vec<_>>(),
        [(resolver, Some(123))]
    );
    // Any other host's DNS to 25 servers is a sweep.
    let found = run(
        &mut detector,
        &sweep(0, 53, Transport::Udp, (1..=25).map(outside)),
        t(10),
    );
    assert_eq!(
        found.iter().map(|f| f.port).collect::<Vec<_>>(),
        [Some(53), Some(123)]
    );
}
