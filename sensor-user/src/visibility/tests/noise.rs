//! What the judge must not take for evidence: the machine's own traffic,
//! link-local multicast, a remote mirror's tunnel, duplicates the datapath
//! already counts once.

use sensor_common::TrafficClass as C;
use vantage_protocol::{FindingCode as F, Verdict};

use super::{codes, healthy, judge_for, nets, one_interface, run};
use crate::{
    config::{SiteConfig, SiteMode},
    time::Clock as _,
    visibility::{sim::SimSite, Declaration, Judge},
};

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
fn an_interface_coming_up_is_not_judged_by_its_first_minute_of_multicast() {
    let mut site = SimSite::new();
    let mut judge = judge_for(&site, SiteConfig::default());
    // Neighbour discovery and MLD right after link-up, nothing else yet.
    let sights = run(
        &mut site,
        &mut judge,
        59,
        &one_interface(true, true, false),
        |site, _| {
            site.packets(C::RemoteToRemote, 1, 90);
            site.site.multicast += 1;
            Vec::new()
        },
    );
    assert!(sights.iter().all(|s| s.verdict == Verdict::Unknown));
    assert!(sights.iter().all(|s| s.findings.is_empty()));
}
