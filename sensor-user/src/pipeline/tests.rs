//! The pipeline in accelerated time: heartbeats on schedule, events tallied,
//! canaries and verdict changes raised as alerts.

use std::time::{Duration, UNIX_EPOCH};

use sensor_common::TrafficClass;
use vantage_protocol::{AlertKind, Severity, Verdict};

use super::*;
use crate::{
    config::SiteConfig,
    time::Clock as _,
    visibility::{
        sim::{ip, SimSite},
        Declaration, Surroundings,
    },
};

fn event(kind: EventKind, timestamp_ns: u64) -> Event {
    Event {
        kind,
        timestamp_ns,
        src: ip("10.0.0.5"),
        dst: ip("203.0.113.7"),
        src_port: 40000,
        dst_port: 443,
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

fn options(heartbeat: Option<u64>) -> PipelineOptions {
    PipelineOptions {
        heartbeat_interval: heartbeat.map(Duration::from_secs),
        declaration: Declaration::new(&SiteConfig::default(), &[]),
        detection: None,
    }
}

fn none() -> Surroundings {
    Surroundings::default()
}

/// Ten minutes of one-second ticks in accelerated time: heartbeats every
/// 60 s exactly, starting with the first step.
#[test]
fn heartbeats_fall_due_on_schedule_in_accelerated_time() {
    let mut site = SimSite::new();
    let mut pipeline = Pipeline::new(options(Some(60)), site.clock.now());
    let mut due_at = Vec::new();
    for _ in 0..600 {
        site.packets(TrafficClass::LocalToRemote, 10, 100);
        let now = site.clock.now();
        let interval = site.tick(Vec::new(), Duration::ZERO);
        if pipeline.step(&interval, &none(), None, now).heartbeat_due {
            due_at.push(pipeline.uptime_secs(now));
        }
        site.clock.advance(Duration::from_secs(1));
    }
    assert_eq!(due_at, (0..10).map(|i| i * 60).collect::<Vec<u32>>());
}

#[test]
fn a_stalled_loop_owes_one_heartbeat_not_a_burst() {
    let mut site = SimSite::new();
    let mut pipeline = Pipeline::new(options(Some(60)), site.clock.now());
    let step = |site: &mut SimSite, pipeline: &mut Pipeline, wait: u64| {
        let now = site.clock.now();
        let interval = site.tick(Vec::new(), Duration::from_secs(wait));
        pipeline.step(&interval, &none(), None, now).heartbeat_due
    };
    assert!(step(&mut site, &mut pipeline, 600));
    assert!(step(&mut site, &mut pipeline, 1));
    assert!(!step(&mut site, &mut pipeline, 59));
    assert!(step(&mut site, &mut pipeline, 0));
}

#[test]
fn no_uplink_no_heartbeat_and_events_are_tallied_with_their_times() {
    let mut site = SimSite::new();
    let mut pipeline = Pipeline::new(options(None), site.clock.now());
    let mono = site.clock.monotonic_ns();
    let events = vec![
        event(EventKind::TcpSyn, mono - 500_000_000),
        event(EventKind::DnsQuery, mono - 250_000_000),
        event(EventKind::TcpSyn, mono),
    ];
    let now = site.clock.now();
    let interval = site.tick(events, Duration::ZERO);
    let outputs = pipeline.step(&interval, &none(), None, now);
    assert!(!outputs.heartbeat_due);
    assert_eq!(outputs.sight.verdict, Verdict::Unknown);
    let totals = pipeline.event_totals();
    assert_eq!(
        (totals.tcp_syn, totals.dns_query, totals.udp_new_peer),
        (2, 1, 0)
    );
    let times: Vec<f64> = pipeline.recent_events().map(|e| e.at).collect();
    assert_eq!(times, [1_699_999_999.5, 1_699_999_999.75, 1_700_000_000.0]);
    assert_eq!(
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        interval.end
    );
}

/// Each kind counts under its own total, and a DNS event's question type
/// reaches the recent events.
#[test]
fn every_event_kind_is_tallied_under_its_own_total() {
    use strum::IntoEnumIterator as _;
    let mut site = SimSite::new();
    let mut pipeline = Pipeline::new(options(None), site.clock.now());
    let mono = site.clock.monotonic_ns();
    // Kind number n, n times.
    let mut events = Vec::new();
    for kind in EventKind::iter() {
        for _ in 0..kind as u8 {
            events.push(event(kind, mono));
        }
    }
    let mut answer = event(EventKind::DnsAnswer, mono);
    answer.qname = Some("www.example.com".to_owned());
    answer.qtype = 28;
    events.push(answer);
    let now = site.clock.now();
    let interval = site.tick(events, Duration::ZERO);
    pipeline.step(&interval, &none(), None, now);
    let t = pipeline.event_totals();
    assert_eq!(
        [
            t.tcp_syn,
            t.udp_new_peer,
            t.dns_query,
            t.tcp_answered,
            t.tcp_refused,
            t.icmp_echo,
            t.icmp_unreachable,
            t.dns_answer
        ],
        [1, 2, 3, 4, 5, 6, 7, 9]
    );
    let recent: Vec<&RecentEvent> = pipeline.recent_events().collect();
    assert_eq!(recent.len(), RECENT_EVENTS, "37 events, the last 32 kept");
    assert_eq!(
        recent
            .last()
            .map(|e| (e.kind.as_str(), e.qname.as_deref(), e.qtype)),
        Some(("dns_answer", Some("www.example.com"), Some(28)))
    );
    assert!(
        recent
            .iter()
            .rev()
            .nth(1)
            .is_some_and(|e| e.qtype.is_none()),
        "no type where none was read"
    );
}

/// A canary lookup from a protected host becomes one canary alert naming
/// the querier, the resolver and the name; other lookups raise nothing.
#[test]
fn a_canary_lookup_raises_a_canary_alert() {
    let mut site = SimSite::new();
    let mut pipeline = Pipeline::new(options(None), site.clock.now());
    let mono = site.clock.monotonic_ns();
    let mut canary = event(EventKind::DnsQuery, mono);
    canary.dst = ip("10.0.0.53");
    canary.dst_port = 53;
    canary.qname = Some("vantage-canary-1699999990-00000000deadbeef.example".to_owned());
    let mut plain = canary.clone();
    plain.qname = Some("www.example.com".to_owned());
    let now = site.clock.now();
    let interval = site.tick(vec![plain, canary], Duration::ZERO);
    let alerts = pipeline.step(&interval, &none(), None, now).alerts;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(
        (alert.kind, alert.severity, alert.at, alert.port),
        (AlertKind::Canary, Severity::Info, 1_700_000_000, 53)
    );
    assert_eq!(IpAddr::from(alert.host), ip("10.0.0.5"));
    assert_eq!(alert.peer.map(IpAddr::from), Some(ip("10.0.0.53")));
    assert_eq!(
        alert.detail.as_str(),
        "vantage-canary-1699999990-00000000deadbeef.example"
    );
}

/// Good sight, then the return direction disappears: one alert when the
/// new verdict has held for three steps, and none while it holds.
#[test]
fn a_verdict_change_is_one_alert_once_it_holds() {
    let mut site = SimSite::new();
    let mut pipeline = Pipeline::new(options(None), site.clock.now());
    let mut alerts = Vec::new();
    for second in 0..900u64 {
        site.packets(TrafficClass::LocalToRemote, 10, 100);
        if second < 300 {
            site.packets(TrafficClass::RemoteToLocal, 10, 100);
        }
        site.host_sends("10.0.0.5", 10);
        let now = site.clock.now();
        let interval = site.tick(Vec::new(), Duration::from_secs(1));
        for alert in pipeline.step(&interval, &none(), None, now).alerts {
            alerts.push((second, alert.severity, alert.detail.to_string()));
        }
    }
    // Ok from the third step; the return direction stops at 300 s and the
    // window (5 minutes) still holds some of it until 600 s.
    assert_eq!(
        alerts,
        vec![
            (2, Severity::Info, "unknown -> ok".to_owned()),
            (
                601,
                Severity::Medium,
                "ok -> degraded: one_sided".to_owned()
            ),
        ]
    );
}
