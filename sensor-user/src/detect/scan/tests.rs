//! Vertical scan tests, and the shared bookkeeping's.

use std::net::{IpAddr, Ipv6Addr};

use super::{
    testkit::{answer, attempt, run, site, t, t_ms, v4},
    track::{ignored_peer, Lru},
    PortScan, PortScanSettings, MAX_PORTS_PER_PAIR,
};
use crate::{
    config::duration::HumanDuration,
    detect::{Detect, Detector, DetectorStats, Fact, Observation, Outcome, Transport},
    net::Cidr,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const HOST: [u8; 4] = [10, 0, 0, 7];
const PEER: [u8; 4] = [203, 0, 113, 9];

fn host() -> IpAddr {
    IpAddr::from(HOST)
}

fn peer() -> IpAddr {
    IpAddr::from(PEER)
}

/// SYNs from `host` to `peer` on `ports`, one a second from `start`.
fn syns(
    start: u64,
    host: IpAddr,
    peer: IpAddr,
    ports: impl IntoIterator<Item = u16>,
) -> Vec<Observation> {
    ports
        .into_iter()
        .enumerate()
        .map(|(i, port)| attempt(t(start + i as u64), host, peer, port, Transport::Tcp))
        .collect()
}

#[test]
fn fourteen_ports_are_nothing_fifteen_score_fifty() {
    let mut scan = PortScan::new(PortScanSettings::default());
    assert!(run(&mut scan, &syns(0, host(), peer(), 1..=14), t(20)).is_empty());
    let found = run(&mut scan, &syns(20, host(), peer(), [15]), t(21));
    assert_eq!(found.len(), 1);
    let finding = &found[0];
    assert_eq!(finding.detector, Detector::PortScan);
    assert_eq!(
        (finding.host, finding.peer, finding.port),
        (host(), Some(peer()), None)
    );
    assert_eq!(finding.score, 50);
    assert_eq!(finding.at, t(21));
    let why = &finding.explanation;
    assert_eq!(
        (why.observed, why.threshold, why.window_secs),
        (15.0, 15.0, 300)
    );
    assert_eq!(why.confidence, 100);
    assert_eq!(why.fact(Fact::Attempts), Some(15.0));
    assert_eq!(why.fact(Fact::Answered), Some(0.0));
    assert_eq!(why.fact(Fact::Refused), Some(0.0));
    assert_eq!(why.fact(Fact::Unanswered), Some(15.0));
    assert_eq!(why.fact(Fact::DistinctPorts), Some(15.0));
}

#[test]
fn score_rises_to_full_at_four_times_the_threshold() {
    // 37 ports: 50 + 50 * 22 / 45 = 74.4; 60 ports: 100.
    let mut scan = PortScan::new(PortScanSettings::default());
    let found = run(&mut scan, &syns(0, host(), peer(), 1..=37), t(40));
    assert_eq!(found.iter().map(|f| f.score).collect::<Vec<_>>(), [74]);
    let found = run(&mut scan, &syns(40, host(), peer(), 38..=60), t(70));
    assert_eq!(found.iter().map(|f| f.score).collect::<Vec<_>>(), [100]);
}

#[test]
fn attempts_spread_over_more_than_the_window_do_not_add_up() {
    // 8 ports at 0 s, 8 more at 300 s: 16 within the 5-minute window at
    // 300 s (50 + 50 * 1 / 45 = 51), only 8 at 301 s.
    let mut observations: Vec<Observation> = (1..=8)
        .map(|port| attempt(t(0), host(), peer(), port, Transport::Tcp))
        .collect();
    observations.extend((9..=16).map(|port| attempt(t(300), host(), peer(), port, Transport::Tcp)));
    let mut scan = PortScan::new(PortScanSettings::default());
    let found = run(&mut scan, &observations, t(300));
    assert_eq!(found.iter().map(|f| f.score).collect::<Vec<_>>(), [51]);
    assert!(run(&mut scan, &[], t(301)).is_empty());

    let mut late: Vec<Observation> = (1..=8)
        .map(|port| attempt(t(0), host(), peer(), port, Transport::Tcp))
        .collect();
    late.extend((9..=16).map(|port| attempt(t(301), host(), peer(), port, Transport::Tcp)));
    let mut scan = PortScan::new(PortScanSettings::default());
    assert!(run(&mut scan, &late, t(301)).is_empty());
    assert_eq!(scan.stats().tracked, 1);
    assert!(run(&mut scan, &[], t(602)).is_empty());
    assert_eq!(
        scan.stats(),
        DetectorStats {
            tracked: 0,
            evicted: 0
        }
    );
}

#[test]
fn answered_ports_are_not_counted_refused_ones_are() {
    // 20 ports, 6 answered: 14 failed, nothing. One more refused: 15.
    let mut observations = syns(0, host(), peer(), 1..=20);
    observations.extend((1..=6).map(|port| answer(t(25), host(), peer(), port, Outcome::Answered)));
    let mut scan = PortScan::new(PortScanSettings::default());
    assert!(run(&mut scan, &observations, t(30)).is_empty());
    let refused = [
        attempt(t(31), host(), peer(), 21, Transport::Tcp),
        answer(t(31), host(), peer(), 21, Outcome::Refused),
    ];
    let found = run(&mut scan, &refused, t(32));
    assert_eq!(found.len(), 1);
    let why = &found[0].explanation;
    assert_eq!((found[0].score, why.observed), (50, 15.0));
    assert_eq!(why.fact(Fact::Attempts), Some(21.0));
    assert_eq!(why.fact(Fact::Answered), Some(6.0));
    assert_eq!(why.fact(Fact::Refused), Some(1.0));
    assert_eq!(why.fact(Fact::Unanswered), Some(14.0));
    assert_eq!(why.fact(Fact::DistinctPorts), Some(21.0));
    // 15 of 21 attempts not answered: 71%.
    assert_eq!(why.confidence, 71);
}

#[test]
fn all_refused_is_a_scan_and_a_retransmitted_syn_ack_counts_once() {
    let mut observations = syns(0, host(), peer(), 1..=15);
    observations.extend((1..=15).map(|port| answer(t(16), host(), peer(), port, Outcome::Refused)));
    // Port 16 answered twice (a retransmitted SYN-ACK) for one attempt.
    observations.push(attempt(t(16), host(), peer(), 16, Transport::Tcp));
    observations.push(answer(t(16), host(), peer(), 16, Outcome::Answered));
    observations.push(answer(t(17), host(), peer(), 16, Outcome::Answered));
    let mut scan = PortScan::new(PortScanSettings::default());
    let found = run(&mut scan, &observations, t(20));
    assert_eq!(found.len(), 1);
    let why = &found[0].explanation;
    assert_eq!(why.fact(Fact::Refused), Some(15.0));
    assert_eq!(why.fact(Fact::Answered), Some(1.0));
    assert_eq!(why.fact(Fact::Unanswered), Some(0.0));
    assert_eq!(why.confidence, 93); // 15 of 16
}

#[test]
fn a_protected_peer_has_the_internal_threshold() {
    let inside = v4(10, 1, 4, 20);
    let mut scan = PortScan::new(PortScanSettings::default());
    assert!(run(&mut scan, &syns(0, host(), inside, 1..=29), t(30)).is_empty());
    let found = run(&mut scan, &syns(30, host(), inside, [30]), t(31));
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].score, found[0].explanation.threshold), (50, 30.0));
    assert_eq!(found[0].peer, Some(inside));
}

#[test]
fn exempt_scanners_are_not_tracked() -> TestResult {
    let settings = PortScanSettings {
        exempt: vec!["10.0.0.0/28".parse::<Cidr>()?],
        ..PortScanSettings::default()
    };
    let mut scan = PortScan::new(settings);
    let scanner = v4(10, 0, 0, 5);
    assert!(run(&mut scan, &syns(0, scanner, peer(), 1..=100), t(100)).is_empty());
    assert_eq!(scan.stats().tracked, 0);
    let other = v4(10, 0, 0, 17);
    assert_eq!(
        run(&mut scan, &syns(0, other, peer(), 1..=15), t(100)).len(),
        1
    );
    Ok(())
}

#[test]
fn the_least_recently_active_pair_is_evicted() {
    let settings = PortScanSettings {
        max_tracked: 2,
        ..PortScanSettings::default()
    };
    let mut scan = PortScan::new(settings);
    let (a, b, c) = (v4(203, 0, 113, 1), v4(203, 0, 113, 2), v4(203, 0, 113, 3));
    let mut observations = syns(0, host(), a, 1..=15);
    observations.extend(syns(20, host(), b, 1..=15));
    observations.push(answer(t(40), host(), a, 15, Outcome::Refused)); // a active again
    observations.extend(syns(41, host(), c, 1..=15));
    let found = run(&mut scan, &observations, t(60));
    let peers: Vec<_> = found.iter().map(|f| f.peer).collect();
    assert_eq!(peers, [Some(a), Some(c)]);
    assert_eq!(
        scan.stats(),
        DetectorStats {
            tracked: 2,
            evicted: 1
        }
    );
}

#[test]
fn ports_per_pair_are_capped() {
    let mut scan = PortScan::new(PortScanSettings::default());
    let observations: Vec<Observation> = (1..=300)
        .map(|port| {
            attempt(
                t_ms(u64::from(port) * 10),
                host(),
                peer(),
                port,
                Transport::Tcp,
            )
        })
        .collect();
    let found = run(&mut scan, &observations, t(5));
    assert_eq!(found.len(), 1);
    let why = &found[0].explanation;
    assert_eq!(why.observed, MAX_PORTS_PER_PAIR as f64);
    assert_eq!(why.fact(Fact::DistinctPorts), Some(256.0));
    assert_eq!(why.fact(Fact::Attempts), Some(256.0));
    assert_eq!(found[0].score, 100);
}

#[test]
fn udp_counts_icmp_echo_does_not() {
    let mut scan = PortScan::new(PortScanSettings::default());
    let udp: Vec<Observation> = (1..=15)
        .map(|port| attempt(t(1), host(), peer(), port, Transport::Udp))
        .collect();
    assert_eq!(run(&mut scan, &udp, t(2)).len(), 1);
    let mut scan = PortScan::new(PortScanSettings::default());
    let echo: Vec<Observation> = (1..=15)
        .map(|port| attempt(t(1), host(), peer(), port, Transport::IcmpEcho))
        .collect();
    assert!(run(&mut scan, &echo, t(2)).is_empty());
    assert_eq!(scan.stats().tracked, 0);
}

#[test]
fn broadcast_peers_and_stray_answers_are_not_tracked() {
    let mut scan = PortScan::new(PortScanSettings::default());
    let mut observations = syns(0, host(), v4(255, 255, 255, 255), 1..=40);
    observations.extend(syns(0, host(), v4(10, 0, 0, 255), 1..=40));
    observations.extend(syns(0, host(), v4(224, 0, 0, 251), 1..=40));
    observations.push(answer(t(1), host(), peer(), 80, Outcome::Answered));
    assert!(run(&mut scan, &observations, t(50)).is_empty());
    assert_eq!(scan.stats().tracked, 0);
}

#[test]
fn reported_on_every_tick_while_above_with_the_current_score() {
    let mut scan = PortScan::new(PortScanSettings::default());
    let first = run(&mut scan, &syns(0, host(), peer(), 1..=15), t(15));
    let second = run(&mut scan, &[], t(25));
    let third = run(&mut scan, &syns(25, host(), peer(), 16..=37), t(50));
    let scores: Vec<Vec<u8>> = [first, second, third]
        .iter()
        .map(|found| found.iter().map(|f| f.score).collect())
        .collect();
    assert_eq!(scores, [vec![50], vec![50], vec![74]]);
}

/// The nmap SYN scan the pipeline will replay: 172.16.0.8 sends 1,994
/// SYNs to 1,000 ports of 64.13.134.52 in 23 s, 17 ports answer. Modelled
/// as a first pass over the ports in a scrambled order, then retries of
/// the silent ones, evenly spread; ticks every second.
#[test]
fn the_nmap_capture_scores_seventy_within_the_first_second() {
    let (scanner, target) = (v4(172, 16, 0, 8), v4(64, 13, 134, 52));
    let open = [
        21, 22, 25, 53, 80, 110, 111, 113, 135, 139, 143, 199, 443, 445, 587, 993, 995,
    ];
    let first: Vec<u16> = (0..1000u32).map(|i| (i * 7919 % 1000 + 1) as u16).collect();
    let retries = first.iter().copied().filter(|port| !open.contains(port));
    let mut order: Vec<u16> = first.iter().copied().chain(retries).collect();
    order.extend(order[1000..1011].to_vec());
    assert_eq!(order.len(), 1994);

    let mut scan = PortScan::new(PortScanSettings::default());
    let site = site();
    let mut out = Vec::new();
    let mut scores = Vec::new();
    let mut next_tick = 1000;
    for (k, port) in order.iter().enumerate() {
        let at = k as u64 * 23_000 / 1994;
        while at >= next_tick {
            let before = out.len();
            scan.tick(t_ms(next_tick), &site, &mut out);
            scores.push(out[before..].iter().map(|f| f.score).max().unwrap_or(0));
            next_tick += 1000;
        }
        scan.observe(
            &attempt(t_ms(at), scanner, target, *port, Transport::Tcp),
            &site,
            &mut out,
        );
        if open.contains(port) {
            scan.observe(
                &answer(t_ms(at + 30), scanner, target, *port, Outcome::Answered),
                &site,
                &mut out,
            );
        }
    }
    let before = out.len();
    scan.tick(t(23), &site, &mut out);
    scores.push(out[before..].iter().map(|f| f.score).max().unwrap_or(0));
    assert!(out
        .iter()
        .all(|f| f.host == scanner && f.peer == Some(target)));
    assert_eq!(scores.len(), 23);
    assert!(scores.iter().all(|score| *score >= 70), "{scores:?}");
    let last = out.last().map(|f| f.explanation.confidence).unwrap_or(0);
    assert!(last >= 95, "confidence {last}");
}

#[test]
fn ignored_peers_are_group_broadcast_and_unspecified_addresses() {
    let site = site();
    for addr in [
        v4(255, 255, 255, 255),
        v4(224, 0, 0, 251),
        v4(239, 255, 255, 250),
        v4(0, 0, 0, 0),
        v4(127, 0, 0, 1),
        v4(10, 0, 0, 255),   // broadcast of the protected /24
        v4(10, 1, 255, 255), // last address of the protected /16
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)),
    ] {
        assert!(ignored_peer(&site, addr), "{addr}");
    }
    for addr in [v4(10, 1, 0, 255), v4(203, 0, 113, 255), v4(10, 0, 0, 254)] {
        assert!(!ignored_peer(&site, addr), "{addr}");
    }
}

#[test]
fn lru_evicts_the_least_recently_active_key() {
    let mut lru: Lru<u8, u32> = Lru::new(2);
    assert!(lru.entry(1, || 10).is_some());
    assert!(lru.entry(2, || 20).is_some());
    assert!(lru.touch(&1).is_some());
    assert!(lru.entry(3, || 30).is_some());
    let mut keys: Vec<u8> = lru.iter().map(|(k, _)| *k).collect();
    keys.sort_unstable();
    assert_eq!((keys, lru.evicted()), (vec![1, 3], 1));
    // Removing a key frees its place: no eviction for the next one.
    lru.retain(|key, _| *key != 1);
    assert!(lru.entry(4, || 40).is_some());
    assert_eq!((lru.len(), lru.evicted()), (2, 1));
    // The oldest now is 3.
    assert!(lru.entry(5, || 50).is_some());
    let mut keys: Vec<u8> = lru.iter().map(|(k, _)| *k).collect();
    keys.sort_unstable();
    assert_eq!((keys, lru.evicted()), (vec![4, 5], 2));
    let mut none: Lru<u8, u32> = Lru::new(0);
    assert!(none.entry(1, || 10).is_none());
    assert_eq!(none.len(), 0);
}

#[test]
fn settings_default_check_and_parse() -> TestResult {
    let defaults = PortScanSettings::default();
    assert!(defaults.check().is_empty());
    assert_eq!(
        (
            defaults.ports,
            defaults.internal_ports,
            defaults.max_tracked
        ),
        (15, 30, 4096)
    );
    assert_eq!(
        defaults.window,
        HumanDuration(std::time::Duration::from_secs(300))
    );
    let bad = PortScanSettings {
        window: HumanDuration(std::time::Duration::from_secs(30)),
        ports: 1,
        internal_ports: 257,
        max_tracked: 0,
        ..PortScanSettings::default()
    };
    let keys: Vec<&str> = bad.check().into_iter().map(|(key, _)| key).collect();
    assert_eq!(keys, ["window", "ports", "internal_ports", "max_tracked"]);
    let parsed: PortScanSettings =
        toml::from_str("window = \"2m\"\nports = 20\nexempt = [\"10.0.0.5\", \"10.0.9.0/28\"]\n")?;
    assert_eq!(
        parsed.window,
        HumanDuration(std::time::Duration::from_secs(120))
    );
    assert_eq!((parsed.ports, parsed.internal_ports), (20, 30));
    assert_eq!(parsed.exempt.len(), 2);
    assert!(toml::from_str::<PortScanSettings>("threshold = 3\n").is_err());
    assert!(toml::from_str::<PortScanSettings>("exempt = [\"10.0.0.5/24\"]\n").is_err());
    Ok(())
}
