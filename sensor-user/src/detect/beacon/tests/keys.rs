//! Keys and exclusions: NTP, infrastructure, group addresses, ignored
//! domains, domain keys, repeated SYNs, caps, the window, staleness.

use super::*;

#[test]
fn ntp_is_ignored() {
    let mut beacon = Beacon::new(lenient());
    let site = site();
    let mut out = Vec::new();
    for secs in every(64.0, 30) {
        let mut ntp = attempt(secs, peer(7), 123, None);
        if let Seen::Attempt { transport, .. } = &mut ntp.seen {
            *transport = Transport::Udp;
        }
        beacon.observe(&ntp, &site, &mut out);
    }
    beacon.tick(at(1856.0), &site, &mut out);
    assert!(out.is_empty());
    assert_eq!(beacon.stats().tracked, 0);
}

#[test]
fn infrastructure_multicast_and_broadcast_are_ignored() {
    let peers = [
        "10.0.0.53",       // resolver
        "10.0.0.1",        // gateway
        "198.51.100.7",    // collector
        "224.0.0.251",     // mDNS
        "255.255.255.255", // limited broadcast
        "10.0.0.255",      // broadcast of the protected /24
        "ff02::fb",        // IPv6 mDNS
        "127.0.0.1",
    ];
    let mut beacon = Beacon::new(lenient());
    let site = site();
    let mut out = Vec::new();
    for text in peers {
        let Ok(addr) = text.parse::<IpAddr>() else {
            panic!("{text}");
        };
        for secs in every(60.0, 20) {
            beacon.observe(
                &attempt(secs, addr, 443, Some("example.net")),
                &site,
                &mut out,
            );
        }
    }
    beacon.tick(at(1140.0), &site, &mut out);
    assert!(out.is_empty());
    assert_eq!(beacon.stats().tracked, 0);
    // 10.0.0.254 is an ordinary host of the /24.
    run(
        &mut beacon,
        &[0.0],
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254)),
        0.0,
    );
    assert_eq!(beacon.stats().tracked, 1);
}

#[test]
fn ignored_domains_are_ignored_by_both_keys() {
    let mut beacon = Beacon::new(lenient());
    let site = site();
    let mut out = Vec::new();
    for secs in every(60.0, 20) {
        // Normalised: case and final dot; subdomains match too.
        beacon.observe(
            &attempt(secs, peer(7), 443, Some("WindowsUpdate.COM.")),
            &site,
            &mut out,
        );
        beacon.observe(
            &attempt(secs, peer(8), 80, Some("dl.msftconnecttest.com")),
            &site,
            &mut out,
        );
    }
    beacon.tick(at(1140.0), &site, &mut out);
    assert!(out.is_empty());
    assert_eq!(beacon.stats().tracked, 0);
    // A name that merely ends the same way is not ignored.
    beacon.observe(
        &attempt(0.0, peer(9), 443, Some("notwindowsupdate.com")),
        &site,
        &mut out,
    );
    assert_eq!(beacon.stats().tracked, 2);
}

#[test]
fn a_domain_key_aggregates_its_addresses() {
    // One connection a minute, round robin over three addresses of one
    // domain: each address sees one every 3 minutes (6 of them: 100 * 6/16),
    // the domain all 18 (100).
    let mut beacon = Beacon::new(BeaconSettings::default());
    let site = site();
    let mut out = Vec::new();
    for i in 0..18u8 {
        let to = peer(1 + i % 3);
        beacon.observe(
            &attempt(f64::from(i) * 60.0, to, 443, Some("example.net")),
            &site,
            &mut out,
        );
    }
    beacon.tick(at(1020.0), &site, &mut out);
    assert_eq!(out.len(), 4);
    let by_domain: Vec<&Finding> = out.iter().filter(|f| f.domain.is_some()).collect();
    assert_eq!(by_domain.len(), 1);
    let d = by_domain[0];
    assert_eq!(
        (d.peer, d.domain.as_deref(), d.port, d.score),
        (None, Some("example.net"), Some(443), 100)
    );
    assert_eq!(d.explanation.fact(Fact::Connections), Some(18.0));
    assert_eq!(d.explanation.fact(Fact::MeanIntervalSecs), Some(60.0));
    for f in out.iter().filter(|f| f.peer.is_some()) {
        assert_eq!(f.score, 38, "{:?}", f.peer);
        assert_eq!(f.explanation.fact(Fact::MeanIntervalSecs), Some(180.0));
    }
    assert_eq!(beacon.stats().tracked, 4);
}

#[test]
fn a_domain_with_one_address_is_reported_by_peer_only() {
    let mut beacon = Beacon::new(BeaconSettings::default());
    let site = site();
    let mut out = Vec::new();
    for secs in every(60.0, 20) {
        beacon.observe(
            &attempt(secs, peer(7), 443, Some("example.net")),
            &site,
            &mut out,
        );
    }
    beacon.tick(at(1140.0), &site, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].peer, out[0].domain.as_deref()),
        (Some(peer(7)), None)
    );
    assert_eq!(beacon.stats().tracked, 2);
}

#[test]
fn repeated_syns_within_a_second_count_once() {
    // Every beat retransmitted after 0.4 s and again 0.6 s later (each
    // within 1 s of the previous attempt), arriving a little out of order.
    let mut series = Vec::new();
    for beat in every(60.0, 20) {
        series.extend([beat + 0.4, beat, beat + 1.0]);
    }
    let mut beacon = Beacon::new(BeaconSettings::default());
    let out = run(&mut beacon, &series, peer(7), 1141.0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].score, 100);
    assert_eq!(out[0].explanation.fact(Fact::Connections), Some(20.0));
    // Five attempts in two seconds, 0.5 s apart, chain into one connection.
    let mut beacon = Beacon::new(lenient());
    assert!(run(&mut beacon, &every(0.5, 5), peer(8), 2.0).is_empty());
    let out = run(&mut beacon, &[62.0, 122.0, 182.0], peer(8), 182.0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].explanation.fact(Fact::Connections), Some(4.0));
}

#[test]
fn out_of_order_attempts_are_put_in_order() {
    let mut beacon = Beacon::new(BeaconSettings::default());
    let series = [
        0.0, 120.0, 60.0, 180.0, 300.0, 240.0, 360.0, 420.0, 480.0, 540.0,
    ];
    let out = run(&mut beacon, &series, peer(7), 540.0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].explanation.fact(Fact::TimingScore), Some(1.0));
    assert_eq!(out[0].explanation.fact(Fact::MeanIntervalSecs), Some(60.0));
}

#[test]
fn the_least_recently_active_key_is_evicted() {
    let mut beacon = Beacon::new(BeaconSettings {
        max_tracked: 2,
        ..lenient()
    });
    run(&mut beacon, &[0.0], peer(1), 0.0);
    run(&mut beacon, &[1.0], peer(2), 1.0);
    run(&mut beacon, &[2.0], peer(1), 2.0);
    run(&mut beacon, &[3.0], peer(3), 3.0);
    let stats = beacon.stats();
    assert_eq!((stats.tracked, stats.evicted), (2, 1));
    assert!(beacon.tracks(host(), &Target::Peer(peer(1))));
    assert!(!beacon.tracks(host(), &Target::Peer(peer(2))));
    assert!(beacon.tracks(host(), &Target::Peer(peer(3))));
    // A domain key counts against the same cap: peer 4 and its domain
    // push out peers 1 and 3.
    let site = site();
    let mut out = Vec::new();
    beacon.observe(
        &attempt(4.0, peer(4), 443, Some("example.net")),
        &site,
        &mut out,
    );
    assert_eq!((beacon.stats().tracked, beacon.stats().evicted), (2, 3));
    assert!(beacon.tracks(host(), &Target::Domain("example.net".to_owned())));
}

#[test]
fn a_key_keeps_at_most_max_timestamps() {
    let mut beacon = Beacon::new(BeaconSettings {
        max_timestamps: 16,
        full_connections: 16,
        ..BeaconSettings::default()
    });
    let out = run(&mut beacon, &every(60.0, 40), peer(7), 2340.0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].explanation.fact(Fact::Connections), Some(16.0));
    assert_eq!(out[0].score, 100);
}

#[test]
fn connections_leave_the_window() {
    let mut beacon = Beacon::new(BeaconSettings {
        window: HumanDuration(Duration::from_secs(3600)),
        ..BeaconSettings::default()
    });
    assert_eq!(run(&mut beacon, &every(60.0, 20), peer(7), 1140.0).len(), 1);
    // The first 10 starts (0 to 540 s) are older than the hour at 4200 s.
    let mut beacon2 = Beacon::new(BeaconSettings {
        window: HumanDuration(Duration::from_secs(3600)),
        min_score: 1,
        ..BeaconSettings::default()
    });
    run(&mut beacon2, &every(60.0, 20), peer(7), 1140.0);
    let out = run(&mut beacon2, &[1200.0], peer(7), 4200.0);
    assert!(
        out.is_empty(),
        "stale: its last connection was 50 minutes ago"
    );
    assert!(run(&mut beacon, &[], peer(7), 4741.0).is_empty());
    assert_eq!(beacon.stats().tracked, 0);
}

#[test]
fn a_beacon_that_stopped_stops_being_reported() {
    // Reported while the last connection is within 4 median intervals
    // plus a minute: 1140 + 240 + 60.
    let mut beacon = Beacon::new(BeaconSettings::default());
    assert_eq!(run(&mut beacon, &every(60.0, 20), peer(7), 1140.0).len(), 1);
    assert_eq!(run(&mut beacon, &[], peer(7), 1440.0).len(), 1);
    assert!(run(&mut beacon, &[], peer(7), 1440.5).is_empty());
    assert_eq!(beacon.stats().tracked, 1);
}
