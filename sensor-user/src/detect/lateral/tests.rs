//! Lateral movement tests.

use std::net::IpAddr;

use super::{LateralMovement, LateralMovementSettings, MAX_PEERS_PER_HOST};
use crate::{
    config::duration::HumanDuration,
    detect::{
        scan::testkit::{answer, attempt, run, t, v4},
        Detect, Detector, DetectorStats, Fact, Observation, Outcome, Transport,
    },
    net::Cidr,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn workstation() -> IpAddr {
    v4(10, 0, 0, 7)
}

/// The `i`-th protected server (10.1.0.0/16), from 1.
fn server(i: u16) -> IpAddr {
    v4(10, 1, (i >> 8) as u8, (i & 0xff) as u8)
}

fn syn(secs: u64, peer: IpAddr, port: u16) -> Observation {
    attempt(t(secs), workstation(), peer, port, Transport::Tcp)
}

#[test]
fn one_pair_alone_is_not_lateral_movement() {
    // A PsExec from a workstation to its domain controller: SMB, RPC and
    // a dozen connections, all answered. Then an RDP session to one more.
    let controller = server(10);
    let mut observations = Vec::new();
    for i in 0..12 {
        let port = if i < 6 { 445 } else { 135 };
        observations.push(syn(i, controller, port));
        observations.push(answer(
            t(i),
            workstation(),
            controller,
            port,
            Outcome::Answered,
        ));
    }
    let mut detector = LateralMovement::new(LateralMovementSettings::default());
    assert!(run(&mut detector, &observations, t(20)).is_empty());
    assert!(run(&mut detector, &[syn(30, server(11), 3389)], t(31)).is_empty());
    assert_eq!(detector.stats().tracked, 1);
}

#[test]
fn three_admin_peers_are_lateral_movement() {
    let observations = [
        syn(0, server(1), 445),
        answer(t(0), workstation(), server(1), 445, Outcome::Answered),
        syn(60, server(2), 445),
        answer(t(60), workstation(), server(2), 445, Outcome::Refused),
        syn(120, server(3), 445),
    ];
    let mut detector = LateralMovement::new(LateralMovementSettings::default());
    let found = run(&mut detector, &observations, t(130));
    assert_eq!(found.len(), 1);
    let finding = &found[0];
    assert_eq!(finding.detector, Detector::LateralMovement);
    assert_eq!(
        (finding.host, finding.peer, finding.port),
        (workstation(), None, Some(445))
    );
    assert_eq!(finding.score, 50);
    let why = &finding.explanation;
    assert_eq!(
        (why.observed, why.threshold, why.window_secs),
        (3.0, 3.0, 600)
    );
    // One of three peers answered: 50 + 50 / 3.
    assert_eq!(why.confidence, 66);
    assert_eq!(why.fact(Fact::DistinctHosts), Some(3.0));
    assert_eq!(why.fact(Fact::DistinctPorts), Some(1.0));
    assert_eq!(why.fact(Fact::Attempts), Some(3.0));
    assert_eq!(why.fact(Fact::Answered), Some(1.0));
    assert_eq!(why.fact(Fact::Refused), Some(1.0));
    assert_eq!(why.fact(Fact::Unanswered), Some(1.0));
}

#[test]
fn several_ports_give_no_port_and_the_score_saturates() {
    // 12 peers (4 x 3) on SSH, RDP and WinRM: 100, no single port.
    let ports = [22, 3389, 5985];
    let observations: Vec<Observation> = (1..=12)
        .map(|i| syn(u64::from(i), server(i), ports[usize::from(i % 3)]))
        .collect();
    let mut detector = LateralMovement::new(LateralMovementSettings::default());
    let found = run(&mut detector, &observations, t(20));
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].port, found[0].score), (None, 100));
    assert_eq!(found[0].explanation.fact(Fact::DistinctPorts), Some(3.0));
    // 5 peers: 50 + 50 x 2 / 9 = 61.
    let mut detector = LateralMovement::new(LateralMovementSettings::default());
    let found = run(&mut detector, &observations[..5], t(20));
    assert_eq!(found.iter().map(|f| f.score).collect::<Vec<_>>(), [61]);
}

#[test]
fn unprotected_infrastructure_and_other_ports_are_not_counted() {
    let observations = [
        syn(0, server(1), 445),
        syn(1, server(2), 445),
        syn(2, v4(203, 0, 113, 5), 22), // not protected
        syn(3, v4(10, 0, 0, 53), 445),  // resolver (a domain controller)
        syn(4, v4(10, 0, 0, 1), 22),    // gateway
        syn(5, server(3), 443),         // not an admin port
        syn(6, workstation(), 3389),    // itself
        syn(7, v4(10, 0, 0, 255), 445), // broadcast
        attempt(t(8), workstation(), server(4), 445, Transport::IcmpEcho),
    ];
    let mut detector = LateralMovement::new(LateralMovementSettings::default());
    assert!(run(&mut detector, &observations, t(10)).is_empty());
    let found = run(
        &mut detector,
        &[attempt(
            t(11),
            workstation(),
            server(5),
            445,
            Transport::Udp,
        )],
        t(12),
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].explanation.observed, 3.0);
}

#[test]
fn peers_more_than_the_window_apart_do_not_add_up() {
    let spread = [
        syn(0, server(1), 22),
        syn(300, server(2), 22),
        syn(601, server(3), 22),
    ];
    let mut detector = LateralMovement::new(LateralMovementSettings::default());
    assert!(run(&mut detector, &spread, t(601)).is_empty());
    let close = [
        syn(0, server(1), 22),
        syn(300, server(2), 22),
        syn(600, server(3), 22),
    ];
    let mut detector = LateralMovement::new(LateralMovementSettings::default());
    assert_eq!(run(&mut detector, &close, t(600)).len(), 1);
    // Reported again while above, then forgotten.
    assert_eq!(run(&mut detector, &[], t(600)).len(), 1);
    assert!(run(&mut detector, &[], t(601)).is_empty());
    assert!(run(&mut detector, &[], t(1201)).is_empty());
    assert_eq!(
        detector.stats(),
        DetectorStats {
            tracked: 0,
            evicted: 0
        }
    );
}

#[test]
fn exempt_hosts_and_peers() -> TestResult {
    let sweep: Vec<Observation> = (1..=5)
        .map(|i| syn(u64::from(i), server(i), 5985))
        .collect();
    let settings = LateralMovementSettings {
        exempt: vec!["10.0.0.0/29".parse::<Cidr>()?],
        ..LateralMovementSettings::default()
    };
    let mut detector = LateralMovement::new(settings);
    assert!(run(&mut detector, &sweep, t(10)).is_empty());
    assert_eq!(detector.stats().tracked, 0);
    // Servers 1 to 3 are file servers every workstation maps: 2 counted.
    let settings = LateralMovementSettings {
        exempt_peers: vec!["10.1.0.0/30".parse::<Cidr>()?],
        ..LateralMovementSettings::default()
    };
    let mut detector = LateralMovement::new(settings);
    assert!(run(&mut detector, &sweep, t(10)).is_empty());
    assert!(!run(&mut detector, &[syn(11, server(6), 5985)], t(12)).is_empty());
    Ok(())
}

#[test]
fn hosts_are_evicted_least_recent_first_and_peers_capped() {
    let settings = LateralMovementSettings {
        max_tracked: 2,
        ..LateralMovementSettings::default()
    };
    let mut detector = LateralMovement::new(settings);
    let (a, b, c) = (v4(10, 0, 0, 21), v4(10, 0, 0, 22), v4(10, 0, 0, 23));
    let mut observations = Vec::new();
    for host in [a, b] {
        observations
            .extend((1..=3).map(|i| attempt(t(u64::from(i)), host, server(i), 22, Transport::Tcp)));
    }
    observations.push(answer(t(5), a, server(1), 22, Outcome::Answered)); // a active again
    observations.extend((1..=100).map(|i| attempt(t(6), c, server(i), 22, Transport::Tcp)));
    let found = run(&mut detector, &observations, t(10));
    let hosts: Vec<IpAddr> = found.iter().map(|f| f.host).collect();
    assert_eq!(hosts, [a, c]);
    assert_eq!(found[1].explanation.observed, MAX_PEERS_PER_HOST as f64);
    assert_eq!(
        detector.stats(),
        DetectorStats {
            tracked: 2,
            evicted: 1
        }
    );
}

#[test]
fn settings_default_check_and_parse() -> TestResult {
    let defaults = LateralMovementSettings::default();
    assert!(defaults.check().is_empty());
    assert_eq!(defaults.ports, [22, 135, 139, 445, 3389, 5985, 5986]);
    assert_eq!((defaults.peers, defaults.max_tracked), (3, 4096));
    assert_eq!(
        defaults.window,
        HumanDuration(std::time::Duration::from_secs(600))
    );
    let bad = LateralMovementSettings {
        window: HumanDuration(std::time::Duration::from_secs(10)),
        peers: 1,
        ports: vec![22, 0, 22],
        max_tracked: 0,
        ..LateralMovementSettings::default()
    };
    let keys: Vec<&str> = bad.check().into_iter().map(|(key, _)| key).collect();
    assert_eq!(keys, ["window", "peers", "ports", "ports", "max_tracked"]);
    let too_many = LateralMovementSettings {
        ports: (1..=17).collect(),
        ..LateralMovementSettings::default()
    };
    assert_eq!(too_many.check().len(), 1);
    let parsed: LateralMovementSettings =
        toml::from_str("window = \"30m\"\nports = [22, 3389]\nexempt = [\"10.0.5.0/24\"]\n")?;
    assert_eq!(
        parsed.window,
        HumanDuration(std::time::Duration::from_secs(1800))
    );
    assert_eq!(
        (parsed.peers, parsed.ports.len(), parsed.exempt.len()),
        (3, 2, 1)
    );
    assert!(toml::from_str::<LateralMovementSettings>("threshold = 3\n").is_err());
    Ok(())
}
