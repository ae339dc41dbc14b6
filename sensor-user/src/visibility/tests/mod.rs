//! The judge in accelerated time, one situation per finding.

mod noise;

use std::time::Duration;

use sensor_common::{EventKind, TrafficClass as C};
use vantage_protocol::{FindingCode as F, Sight, Verdict};

use super::{
    sim::{ip, SimSite},
    Declaration, InterfaceSight, Judge, SelfTestResult, Surroundings,
};
use crate::{
    config::{HostRange, SiteConfig, SiteMode},
    net::Cidr,
    sample::Event,
    time::Clock as _,
};

fn nets() -> Vec<Cidr> {
    ["10.0.0.0/8"]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}

fn judge_for(site: &SimSite, config: SiteConfig) -> Judge {
    Judge::new(Declaration::new(&config, &nets()), site.clock.now())
}

fn one_interface(up: bool, ours: bool, generic: bool) -> Surroundings {
    Surroundings {
        interfaces: vec![InterfaceSight { up, ours, generic }],
        delivered_here: 0,
    }
}

/// Runs `seconds` one-second steps; `traffic` grows the counters each
/// second; returns every step's sight.
fn run(
    site: &mut SimSite,
    judge: &mut Judge,
    seconds: u64,
    surroundings: &Surroundings,
    mut traffic: impl FnMut(&mut SimSite, u64) -> Vec<Event>,
) -> Vec<Sight> {
    let mut sights = Vec::new();
    for second in 0..seconds {
        let events = traffic(site, second);
        let now = site.clock.now();
        let interval = site.tick(events, Duration::from_secs(1));
        sights.push(judge.step(&interval, surroundings, None, now).0);
    }
    sights
}

fn codes(sight: &Sight) -> Vec<F> {
    sight.findings.iter().map(|f| f.code).collect()
}

/// A normal office: clients talk out and hear back, with DNS.
fn healthy(site: &mut SimSite, _second: u64) -> Vec<Event> {
    site.packets(C::LocalToRemote, 20, 200);
    site.packets(C::RemoteToLocal, 20, 600);
    site.site.tcp_syn += 1;
    site.site.tcp_synack += 1;
    site.site.dns_queries += 1;
    site.site.dns_answers += 1;
    site.host_sends("10.0.0.5", 10);
    site.host_sends("10.0.0.6", 10);
    Vec::new()
}

#[test]
fn a_sensor_blind_from_its_first_minute_never_reports_ok() {
    let mut site = SimSite::new();
    let mut judge = judge_for(&site, SiteConfig::default());
    let up = one_interface(true, true, false);
    // A full day of silence, then a day of other people's traffic.
    let sights = run(&mut site, &mut judge, 86_400, &up, |_, _| Vec::new());
    assert!(sights.iter().all(|s| s.verdict != Verdict::Ok));
    assert!(sights[..60].iter().all(|s| s.verdict == Verdict::Unknown));
    let last = &sights[86_399];
    assert_eq!(
        (last.verdict, codes(last)),
        (Verdict::Blind, vec![F::NoTraffic])
    );
    let sights = run(&mut site, &mut judge, 86_400, &up, |site, _| {
        site.packets(C::RemoteToRemote, 50, 500);
        Vec::new()
    });
    assert!(sights.iter().all(|s| s.verdict == Verdict::Blind));
    let last = &sights[86_399];
    assert_eq!(codes(last), vec![F::OutsideFirewall]);
    assert_eq!((last.findings[0].a, last.findings[0].b), (0, 15_000));
}

#[test]
fn good_sight_is_ok_with_no_finding() {
    let mut site = SimSite::new();
    let mut judge = judge_for(&site, SiteConfig::default());
    let sights = run(
        &mut site,
        &mut judge,
        600,
        &one_interface(true, true, false),
        healthy,
    );
    let last = &sights[599];
    assert_eq!((last.verdict, codes(last)), (Verdict::Ok, vec![]));
    assert_eq!(last.hosts_seen, 2);
    assert_eq!(last.packets, 300 * 40);
}

#[test]
fn a_mirror_that_loses_one_direction_after_a_day_is_one_sided_within_the_window() {
    let mut site = SimSite::new();
    let mut judge = judge_for(&site, SiteConfig::default());
    let up = one_interface(true, true, false);
    let day = run(&mut site, &mut judge, 86_400, &up, healthy);
    assert_eq!(day[86_399].verdict, Verdict::Ok);
    let after = run(&mut site, &mut judge, 301, &up, |site, _| {
        site.packets(C::LocalToRemote, 20, 200);
        site.site.tcp_syn += 1;
        site.site.dns_queries += 1;
        site.host_sends("10.0.0.5", 20);
        Vec::new()
    });
    let last = &after[300];
    assert_eq!(
        (last.verdict, codes(last)),
        (Verdict::Degraded, vec![F::OneSided])
    );
    assert_eq!((last.findings[0].a, last.findings[0].b), (6000, 0));
}

#[test]
fn the_census_counts_senders_only_and_never_a_broadcast_address() {
    let mut site = SimSite::new();
    let config = SiteConfig {
        expected_hosts: Some(HostRange { min: 4, max: 6 }),
        ..SiteConfig::default()
    };
    let mut judge = judge_for(&site, config);
    let sights = run(
        &mut site,
        &mut judge,
        120,
        &one_interface(true, true, false),
        |site, s| {
            healthy(site, s);
            // A scan target and the subnet broadcast address only receive; the
            // network address "sends" (a spoofed source): none of them counts.
            site.host_receives("10.0.0.77", 1);
            site.host_receives("10.255.255.255", 1);
            site.host_sends("10.0.0.0", 1);
            Vec::new()
        },
    );
    let last = &sights[119];
    assert_eq!(last.hosts_seen, 2);
    assert_eq!(codes(last), vec![F::FewerHostsThanExpected]);
    assert_eq!((last.findings[0].a, last.findings[0].b), (2, 4));
    assert_eq!(last.verdict, Verdict::Degraded);
}

#[test]
fn an_unmirrored_switch_port_sees_only_broadcast() {
    let mut site = SimSite::new();
    let mut judge = judge_for(&site, SiteConfig::default());
    let sights = run(
        &mut site,
        &mut judge,
        120,
        &one_interface(true, true, false),
        |site, _| {
            site.site.packets += 3;
            site.site.broadcast += 2;
            site.site.multicast += 1;
            Vec::new()
        },
    );
    let last = &sights[119];
    assert_eq!(
        (last.verdict, codes(last)),
        (Verdict::Blind, vec![F::OnlyBroadcast])
    );
}

#[test]
fn the_link_and_the_program_are_checked_every_step() {
    let mut site = SimSite::new();
    let mut judge = judge_for(&site, SiteConfig::default());
    let down = run(
        &mut site,
        &mut judge,
        5,
        &one_interface(false, true, false),
        healthy,
    );
    assert_eq!(
        (down[0].verdict, codes(&down[0])),
        (Verdict::Blind, vec![F::LinkDown])
    );
    let gone = run(
        &mut site,
        &mut judge,
        5,
        &one_interface(true, false, false),
        healthy,
    );
    assert_eq!(codes(&gone[0]), vec![F::ProgramDetached]);
    let generic = run(
        &mut site,
        &mut judge,
        5,
        &one_interface(true, true, true),
        healthy,
    );
    assert_eq!(
        (generic[4].verdict, codes(&generic[4])),
        (Verdict::Ok, vec![F::GenericXdp])
    );
}

#[test]
fn no_dns_and_lookups_elsewhere() {
    let mut site = SimSite::new();
    let mut judge = judge_for(&site, SiteConfig::default());
    let up = one_interface(true, true, false);
    let sights = run(&mut site, &mut judge, 120, &up, |site, _| {
        site.packets(C::LocalToRemote, 20, 200);
        site.packets(C::RemoteToLocal, 20, 600);
        site.site.tcp_syn += 1;
        site.site.tcp_synack += 1;
        site.host_sends("10.0.0.5", 20);
        Vec::new()
    });
    assert_eq!(codes(&sights[119]), vec![F::NoDns]);

    let mut site = SimSite::new();
    let config = SiteConfig {
        resolvers: vec![ip("10.0.0.53")],
        ..SiteConfig::default()
    };
    let mut judge = judge_for(&site, config);
    let lookup = |site: &SimSite, dst: &str, port: u16, kind: EventKind| Event {
        kind,
        timestamp_ns: site.clock.monotonic_ns(),
        src: ip("10.0.0.5"),
        dst: ip(dst),
        src_port: 40000,
        dst_port: port,
        protocol: 17,
        ifindex: 2,
        qname: None,
        qname_truncated: false,
        qtype: 0,
        message_len: 0,
        answer: None,
        answer_truncated: false,
        dropped: false,
    };
    let sights = run(&mut site, &mut judge, 120, &up, |site, second| {
        healthy(site, second);
        vec![
            lookup(site, "10.0.0.53", 53, EventKind::DnsQuery),
            lookup(site, "10.0.0.53", 53, EventKind::DnsQuery),
            lookup(site, "8.8.8.8", 53, EventKind::DnsQuery),
        ]
    });
    let last = &sights[119];
    assert_eq!(codes(last), vec![F::DnsBypass]);
    assert_eq!((last.findings[0].a, last.findings[0].b), (120, 360));
    let seen: Vec<std::net::IpAddr> = last.resolvers_seen.iter().map(|a| (*a).into()).collect();
    assert_eq!(seen, [ip("10.0.0.53"), ip("8.8.8.8")]);
    // DNS over HTTPS to a public resolver: three connections are enough.
    let mut site = SimSite::new();
    let mut judge = judge_for(&site, SiteConfig::default());
    let sights = run(&mut site, &mut judge, 3, &up, |site, second| {
        healthy(site, second);
        vec![lookup(site, "1.1.1.1", 443, EventKind::TcpSyn)]
    });
    assert_eq!(codes(&sights[2]), vec![F::DnsBypass]);
}

#[test]
fn duplicates_tunnels_lost_events_vlans_and_caveats() {
    let mut site = SimSite::new();
    let config = SiteConfig {
        mode: SiteMode::Mirror,
        vlans: vec![10, 20],
        ..SiteConfig::default()
    };
    let mut judge = judge_for(&site, config);
    let sights = run(
        &mut site,
        &mut judge,
        120,
        &one_interface(true, true, false),
        |site, second| {
            healthy(site, second);
            site.site.duplicates += 20;
            site.site.encap_unopened += 5;
            site.site.events_sent += 10;
            site.site.events_rate_limited += 5;
            Vec::new()
        },
    );
    let last = &sights[119];
    assert_eq!(
        codes(last),
        vec![
            F::MissingVlan,
            F::DuplicatePackets,
            F::EventsLost,
            F::Encapsulated,
            F::CannotBlock
        ]
    );
    assert_eq!(last.verdict, Verdict::Degraded);
}

#[test]
fn a_failed_self_test_is_a_finding() {
    let mut site = SimSite::new();
    let mut judge = judge_for(&site, SiteConfig::default());
    let up = one_interface(true, true, false);
    run(&mut site, &mut judge, 10, &up, healthy);
    healthy(&mut site, 0);
    let now = site.clock.now();
    let interval = site.tick(Vec::new(), Duration::from_secs(1));
    let (sight, _) = judge.step(
        &interval,
        &up,
        Some(SelfTestResult { made: 4, seen: 2 }),
        now,
    );
    assert_eq!(codes(&sight), vec![F::SelfTestFailed]);
    assert_eq!((sight.findings[0].a, sight.findings[0].b), (2, 4));
}

#[test]
fn a_trickle_of_one_way_traffic_is_judged_by_the_fallback_never_ok() {
    let mut site = SimSite::new();
    let mut judge = judge_for(&site, SiteConfig::default());
    // One packet a minute out of one client, never an answer: below every
    // rule's threshold, so only the fallback can explain the window.
    let sights = run(
        &mut site,
        &mut judge,
        86_400,
        &one_interface(true, true, false),
        |site, second| {
            if second % 60 == 0 {
                site.packets(C::LocalToRemote, 1, 80);
                site.host_sends("10.0.0.5", 1);
            }
            Vec::new()
        },
    );
    assert!(sights.iter().all(|s| s.verdict != Verdict::Ok));
    let last = &sights[86_399];
    assert_eq!(
        (last.verdict, codes(last)),
        (Verdict::Degraded, vec![F::OneSided])
    );
    assert_eq!((last.findings[0].a, last.findings[0].b), (5, 0));
}

#[test]
fn one_translated_address_carrying_a_declared_site_is_outside_the_firewall() {
    let mut site = SimSite::new();
    let config = SiteConfig {
        expected_hosts: Some(HostRange { min: 20, max: 30 }),
        ..SiteConfig::default()
    };
    let mut judge = judge_for(&site, config);
    // Behind a NAT the sensor sees one "protected" address talking both
    // ways for a site declared to have twenty hosts.
    let sights = run(
        &mut site,
        &mut judge,
        120,
        &one_interface(true, true, false),
        |site, _| {
            site.packets(C::LocalToRemote, 10, 200);
            site.packets(C::RemoteToLocal, 10, 600);
            site.host_sends("10.0.0.5", 10);
            Vec::new()
        },
    );
    let last = &sights[119];
    assert_eq!(
        (last.verdict, codes(last)),
        (
            Verdict::Blind,
            vec![F::OutsideFirewall, F::FewerHostsThanExpected]
        )
    );
    assert_eq!((last.findings[0].a, last.findings[0].b), (2400, 2400));
    assert_eq!((last.findings[1].a, last.findings[1].b), (1, 20));
}
