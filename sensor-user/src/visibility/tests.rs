//! The judge in accelerated time, one situation per finding.

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
        interfaces: vec![InterfaceSight {
            name: "lan0".to_owned(),
            up,
            ours,
            generic,
        }],
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
fn a_quiet_gateway_hearing_only_its_own_uplink_is_not_outside_the_firewall() {
    let mut site = SimSite::new();
    let mut judge = judge_for(&site, SiteConfig::default());
    // A night at an office: the only packets on the WAN side are the
    // collector's answers to the gateway itself, which its stack delivered.
    let mut own = one_interface(true, true, false);
    own.delivered_here = 4;
    let sights = run(&mut site, &mut judge, 3600, &own, |site, _| {
        site.packets(C::RemoteToRemote, 4, 90);
        Vec::new()
    });
    assert!(sights.iter().all(|s| s.verdict != Verdict::Ok));
    let last = &sights[3599];
    assert_eq!(
        (last.verdict, codes(last), last.packets),
        (Verdict::Blind, vec![F::NoTraffic], 0)
    );
    // Neighbour discovery from link-local addresses joins it: multicast,
    // between unprotected addresses, and still not other people's traffic.
    let sights = run(&mut site, &mut judge, 3600, &own, |site, _| {
        site.packets(C::RemoteToRemote, 4 + 2, 90);
        site.site.multicast += 2;
        Vec::new()
    });
    assert!(sights
        .iter()
        .all(|s| !codes(s).contains(&F::OutsideFirewall)));
    let last = &sights[3599];
    assert_eq!(
        (last.verdict, codes(last), last.packets),
        (Verdict::Blind, vec![F::OnlyBroadcast], 600)
    );
    // Other people's traffic beyond the gateway's own is still seen for
    // what it is.
    let sights = run(&mut site, &mut judge, 600, &own, |site, _| {
        site.packets(C::RemoteToRemote, 54, 500);
        Vec::new()
    });
    let last = &sights[599];
    assert_eq!(codes(last), vec![F::OutsideFirewall]);
    assert_eq!((last.findings[0].a, last.findings[0].b), (0, 300 * 50));
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
fn a_remote_mirror_in_an_unopened_tunnel_is_encapsulated_not_outside_the_firewall() {
    let mut site = SimSite::new();
    let config = SiteConfig {
        mode: SiteMode::Mirror,
        ..SiteConfig::default()
    };
    let mut judge = judge_for(&site, config);
    // VXLAN from the switch to the sensor: every frame is between the two
    // unprotected tunnel endpoints, and none is opened.
    let sights = run(
        &mut site,
        &mut judge,
        120,
        &one_interface(true, true, false),
        |site, _| {
            site.packets(C::RemoteToRemote, 40, 600);
            site.site.encap_unopened += 40;
            Vec::new()
        },
    );
    let last = &sights[119];
    assert_eq!(codes(last), vec![F::Encapsulated, F::CannotBlock]);
    assert_eq!((last.findings[0].a, last.findings[0].b), (4800, 4800));
    assert_eq!(last.verdict, Verdict::Degraded);
}

#[test]
fn duplicates_counted_once_by_the_datapath_are_no_finding() {
    let mut site = SimSite::new();
    let declaration = Declaration::new(&SiteConfig::default(), &nets()).skipping_duplicates(true);
    let mut judge = Judge::new(declaration, site.clock.now());
    let sights = run(
        &mut site,
        &mut judge,
        120,
        &one_interface(true, true, false),
        |site, second| {
            healthy(site, second);
            site.site.duplicates += 20;
            Vec::new()
        },
    );
    assert_eq!(
        (sights[119].verdict, codes(&sights[119])),
        (Verdict::Ok, vec![])
    );
}

#[test]
fn the_machines_own_traffic_never_takes_group_frames_away() {
    let mut site = SimSite::new();
    let mut judge = judge_for(&site, SiteConfig::default());
    // An unmirrored port: only multicast arrives, while the machine's own
    // management traffic (on another interface) is delivered to it.
    let mut own = one_interface(true, true, false);
    own.delivered_here = 10;
    let sights = run(&mut site, &mut judge, 120, &own, |site, _| {
        site.packets(C::RemoteToRemote, 30, 90);
        site.site.multicast += 30;
        Vec::new()
    });
    let last = &sights[119];
    assert_eq!(codes(last), vec![F::OnlyBroadcast]);
    assert_eq!((last.findings[0].a, last.findings[0].b), (3600, 3600));
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
