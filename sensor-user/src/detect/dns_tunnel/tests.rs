use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::{
    shape::{name_shape, wire_labels},
    *,
};
use crate::config::duration::HumanDuration;

const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 30));
const OTHER_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 31));
const RESOLVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 20));
const A: u16 = 1;
const NULL: u16 = 10;
const TXT: u16 = 16;
const PTR: u16 = 12;

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
}

fn query(ms: u64, host: IpAddr, name: &str, qtype: u16, truncated: bool) -> Observation {
    Observation {
        at: at(ms),
        seen: Seen::DnsQuery {
            host,
            resolver: RESOLVER,
            name: name.to_owned(),
            qtype,
            truncated,
        },
    }
}

fn feed(detector: &mut DnsTunnel, observations: &[Observation]) {
    let mut out = Vec::new();
    for observation in observations {
        detector.observe(observation, &Site::default(), &mut out);
    }
    assert!(out.is_empty(), "findings come only on ticks");
}

fn tick(detector: &mut DnsTunnel, ms: u64) -> Vec<Finding> {
    let mut out = Vec::new();
    detector.tick(at(ms), &Site::default(), &mut out);
    out
}

fn settings_reporting_all() -> DnsTunnelSettings {
    DnsTunnelSettings {
        report_from: 1,
        ..DnsTunnelSettings::default()
    }
}

/// A deterministic byte stream (a 32-bit LCG), for payload-like labels.
struct Bytes(u32);

impl Bytes {
    fn next(&mut self) -> u8 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (self.0 >> 24) as u8
    }

    /// `len` bytes as the datapath writes them: printable ASCII as is
    /// (lower case), anything else `\ddd`.
    fn label(&mut self, len: usize) -> String {
        let mut out = String::new();
        for _ in 0..len {
            let byte = self.next().to_ascii_lowercase();
            if byte.is_ascii_graphic() && byte != b'.' && byte != b'\\' {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("\\{byte:03}"));
            }
        }
        out
    }
}

// --- entropy and name shape ---

#[test]
fn entropy_of_known_strings() {
    assert_eq!(shannon_entropy(b""), 0.0);
    assert_eq!(shannon_entropy(b"aaaa"), 0.0);
    assert_eq!(shannon_entropy(b"ab"), 1.0);
    assert_eq!(shannon_entropy(b"aabb"), 1.0);
    assert_eq!(shannon_entropy(b"abcd"), 2.0);
    assert_eq!(shannon_entropy(b"abcdefgh"), 3.0);
    assert_eq!(shannon_entropy(b"0123456789abcdef"), 4.0);
    assert_eq!(shannon_entropy(b"abcdefghijklmnopqrstuvwxyz234567"), 5.0);
    // -(2/3 log2 2/3 + 1/3 log2 1/3) = log2 3 - 2/3
    let aab = 3_f64.log2() - 2.0 / 3.0;
    assert!((shannon_entropy(b"aab") - aab).abs() < 1e-12);
    // "google": g 2, o 2, l 1, e 1 -> 2 (1/3) log2 3 + 2 (1/6) log2 6
    let google = 2.0 / 3.0 * 3_f64.log2() + 6_f64.log2() / 3.0;
    assert!((shannon_entropy(b"google") - google).abs() < 1e-12);
}

#[test]
fn names_are_measured_in_the_bytes_the_message_carried() {
    assert_eq!(wire_labels(""), Vec::<Vec<u8>>::new());
    assert_eq!(wire_labels("www"), vec![b"www".to_vec()]);
    assert_eq!(
        wire_labels("ab\\046c.d\\255"),
        vec![b"ab.c".to_vec(), vec![b'd', 255]]
    );
    let shape = name_shape("ab\\046c.d\\255");
    assert_eq!((shape.len, shape.payload, shape.max_label), (7, 6, 4));
    // Four bytes of 255, escaped to 16 characters: one label of 4 bytes,
    // entropy 0.
    let shape = name_shape("\\255\\255\\255\\255");
    assert_eq!((shape.len, shape.max_label, shape.entropy), (4, 4, 0.0));
    assert_eq!(name_shape(""), shape::NameShape::default());
    assert!((f64::from(name_shape("abcd.ef").entropy) - 6_f64.log2()).abs() < 1e-6);
}

// --- the score ---

#[test]
fn score_parts_and_their_combination() {
    let settings = DnsTunnelSettings::default();
    let clear = TunnelMeasures {
        distinct_names: 100,
        max_label: 52,
        mean_name_len: 60.0,
        entropy_bits: 5.0,
        queries: 100,
        typed_queries: 100,
        unusual_queries: 100,
        queries_per_minute: 60.0,
    };
    let evidence = Evidence::of(&clear, &settings);
    assert_eq!(evidence.score(), 100);
    assert_eq!(evidence.confidence(), 100);

    // Half the names, labels half-way from 26 to 52, no entropy, no odd
    // types, 10 per minute: 100 * 0.5 * 0.5 * 0.85 = 21.25.
    let half = TunnelMeasures {
        distinct_names: 50,
        max_label: 39,
        mean_name_len: 39.0,
        entropy_bits: 1.0,
        queries: 50,
        typed_queries: 50,
        unusual_queries: 0,
        queries_per_minute: 10.0,
    };
    let evidence = Evidence::of(&half, &settings);
    assert_eq!(
        (evidence.volume, evidence.label, evidence.length),
        (0.5, 0.5, 0.5)
    );
    assert_eq!(
        (evidence.entropy, evidence.types, evidence.rate),
        (0.0, 0.0, 0.0)
    );
    assert_eq!(evidence.score(), 21);
    assert_eq!(evidence.confidence(), 40);

    // Many names, but ordinary ones: nothing.
    let ordinary = TunnelMeasures {
        distinct_names: 400,
        max_label: 26,
        mean_name_len: 12.0,
        entropy_bits: 3.5,
        queries: 400,
        typed_queries: 400,
        unusual_queries: 40,
        queries_per_minute: 80.0,
    };
    assert_eq!(Evidence::of(&ordinary, &settings).score(), 0);

    // The unusual share alone: 30% -> (0.3 - 0.1) / 0.4 = 0.5; 400 names,
    // 60 per minute: 50.
    let txt = TunnelMeasures {
        unusual_queries: 120,
        queries_per_minute: 60.0,
        ..ordinary
    };
    let evidence = Evidence::of(&txt, &settings);
    assert!((evidence.types - 0.5).abs() < 1e-12);
    assert_eq!(evidence.score(), 50);
}

// --- scenarios ---

/// The shape of the iodine capture (nDPI's `dns-tunnel-iodine.pcap`):
/// handshake names, 24 data names longer than the sensor's copy (cut, their
/// domain lost), 25 data names that fit, 169 short polls; 222 distinct
/// names in 24 s.
fn iodine_like(host: IpAddr, domain: &str, qtype: u16) -> Vec<Observation> {
    let mut bytes = Bytes(7);
    let mut out = Vec::new();
    let mut ms = 0;
    let mut push = |name: String, truncated: bool| {
        out.push(query(ms, host, &name, qtype, truncated));
        ms += 108;
    };
    for name in ["vaaaakardli", "laegpumiplhhpz12ynd1efljwlkjcgwy", "yrbi02"] {
        push(format!("{name}.{domain}"), false);
    }
    push(
        format!("zi05aabbccddeeffgghhiijjkkllmmnnooppqqrrssttuuvvwwxxyyzz.{domain}"),
        false,
    );
    // Fragment-size probes and large upstream packets: cut after 128
    // bytes of wire, so only their first two labels show, no domain.
    for i in 0..24 {
        push(
            format!("r{i:02}{}.{}", bytes.label(60), bytes.label(60)),
            true,
        );
    }
    for i in 0..25 {
        push(
            format!("1{i:02}{}.{}.{domain}", bytes.label(60), bytes.label(26)),
            false,
        );
    }
    for i in 0..169 {
        push(format!("pa{i:04}g2.{domain}"), false);
    }
    out
}

#[test]
fn iodine_capture_shape_scores_as_a_clear_tunnel_with_or_without_types() {
    for qtype in [0, NULL] {
        let mut detector = DnsTunnel::new(DnsTunnelSettings::default());
        let observations = iodine_like(HOST, "pirate.sea", qtype);
        assert_eq!(observations.len(), 222);
        feed(&mut detector, &observations);
        let counters = detector.counters();
        assert_eq!(
            (counters.cut_attributed, counters.cut_unattributed),
            (24, 0)
        );
        let findings = tick(&mut detector, 24_500);
        assert_eq!(findings.len(), 1, "qtype {qtype}");
        let finding = &findings[0];
        // 222 names >= 100, longest label 63 >= 52, 222 queries in 24 s
        // (a minute at least): 100 * 1 * 1 * 1.
        assert_eq!(finding.score, 100, "qtype {qtype}");
        assert_eq!(finding.detector, Detector::DnsTunnel);
        assert_eq!(finding.host, HOST);
        assert_eq!(finding.peer, Some(RESOLVER));
        assert_eq!(finding.domain.as_deref(), Some("pirate.sea"));
        assert_eq!(finding.port, None);
        let explanation = &finding.explanation;
        assert_eq!(
            (
                explanation.observed,
                explanation.threshold,
                explanation.window_secs
            ),
            (222.0, 100.0, 300)
        );
        let facts: Vec<Fact> = explanation.facts.iter().map(|(fact, _)| *fact).collect();
        assert_eq!(
            facts,
            [
                Fact::DistinctNames,
                Fact::MaxLabelLen,
                Fact::MeanNameLen,
                Fact::EntropyBits,
                Fact::UnusualTypes,
                Fact::QueriesPerMinute
            ]
        );
        assert_eq!(explanation.fact(Fact::DistinctNames), Some(222.0));
        assert_eq!(explanation.fact(Fact::MaxLabelLen), Some(63.0));
        assert_eq!(explanation.fact(Fact::QueriesPerMinute), Some(222.0));
        let unusual = if qtype == NULL { 222.0 } else { 0.0 };
        assert_eq!(explanation.fact(Fact::UnusualTypes), Some(unusual));
    }
}

/// Thirty ordinary names under one domain over five minutes, A and AAAA.
fn ordinary(host: IpAddr, labels: &[&str], domain: &str) -> Vec<Observation> {
    labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let qtype = if i % 2 == 0 { A } else { 28 };
            query(
                i as u64 * 10_000,
                host,
                &format!("{label}.{domain}"),
                qtype,
                false,
            )
        })
        .collect()
}

const GOOGLE: [&str; 30] = [
    "www",
    "mail",
    "accounts",
    "apis",
    "fonts",
    "play",
    "drive",
    "docs",
    "clients1",
    "clients2",
    "clients4",
    "clients6",
    "ssl",
    "lh3",
    "lh5",
    "ogs",
    "adservice",
    "translate",
    "maps",
    "news",
    "calendar",
    "meet",
    "chat",
    "contacts",
    "photos",
    "myaccount",
    "update",
    "dl",
    "safebrowsing",
    "optimizationguide-pa",
];

const MICROSOFT: [&str; 30] = [
    "login",
    "www",
    "graph",
    "teams",
    "settings-win.data",
    "v10.events.data",
    "self.events.data",
    "config.edge.skype",
    "account",
    "support",
    "learn",
    "docs",
    "go",
    "office",
    "outlook",
    "substrate",
    "presence.teams",
    "ecs.office",
    "browser.events.data",
    "mobile.events.data",
    "umwatson.events.data",
    "watson.telemetry",
    "fe2.update",
    "dl.delivery.mp",
    "tsfe.trafficshaping",
    "displaycatalog.mp",
    "storeedgefd.dsx.mp",
    "licensing.mp",
    "activity.windows",
    "arc.msn",
];

#[test]
fn ordinary_clients_stay_at_zero() -> Result<(), String> {
    for (labels, domain) in [(&GOOGLE, "google.com"), (&MICROSOFT, "microsoft.com")] {
        let mut detector = DnsTunnel::new(settings_reporting_all());
        feed(&mut detector, &ordinary(HOST, labels, domain));
        let measures = detector
            .measures(HOST, Some(domain))
            .ok_or(format!("{domain} not tracked"))?;
        assert_eq!(measures.distinct_names, 30);
        // Every part of the shape is nil: labels under 26, names under 26,
        // entropy under 3.5, no unusual type.
        let evidence = Evidence::of(&measures, detector.settings());
        assert!(measures.max_label < 26, "{domain}: {measures:?}");
        assert!(measures.entropy_bits < 3.5, "{domain}: {measures:?}");
        assert_eq!(evidence.shape(), 0.0, "{domain}: {measures:?}");
        assert_eq!(evidence.score(), 0);
        assert!(tick(&mut detector, 295_000).is_empty());
    }
    Ok(())
}

#[test]
fn half_way_tunnel_has_the_hand_computed_score() {
    // 50 names with one 39-byte label of digits (entropy < 1), one every
    // 6 s from 0 to 294 s: 50 / 4.9 minutes = 10.2 per minute.
    let observations: Vec<Observation> = (0..50)
        .map(|i| query(i * 6_000, HOST, &format!("{i:0>39}.example.com"), A, false))
        .collect();
    let mut detector = DnsTunnel::new(settings_reporting_all());
    feed(&mut detector, &observations);
    let findings = tick(&mut detector, 294_000);
    assert_eq!(findings.len(), 1);
    // 100 * (50/100) * ((39-26)/26) * (0.85 + 0.15 * (10.204 - 10) / 50) = 21.27
    assert_eq!(findings[0].score, 21);
    let explanation = &findings[0].explanation;
    assert_eq!(explanation.fact(Fact::MaxLabelLen), Some(39.0));
    assert_eq!(explanation.fact(Fact::MeanNameLen), Some(39.0));
    assert_eq!(explanation.fact(Fact::QueriesPerMinute), Some(10.2));
    // Two of five signs at least half-way (label and length, exactly 0.5).
    assert_eq!(explanation.confidence, 40);
    // Not reported at the default level (30).
    let mut quiet = DnsTunnel::new(DnsTunnelSettings::default());
    feed(&mut quiet, &observations);
    assert!(tick(&mut quiet, 294_000).is_empty());
}

#[test]
fn txt_with_short_names_scores_by_its_types() {
    // 100 names of 8 bytes (digits: entropy under 3.5), all TXT, one every
    // 3 s: 100 / 4.95 min = 20.2 per minute.
    let observations: Vec<Observation> = (0..100)
        .map(|i| {
            query(
                i * 3_000,
                HOST,
                &format!("q{i:07}.c2.example.net"),
                TXT,
                false,
            )
        })
        .collect();
    let mut detector = DnsTunnel::new(DnsTunnelSettings::default());
    feed(&mut detector, &observations);
    let findings = tick(&mut detector, 297_000);
    assert_eq!(findings.len(), 1);
    // 100 * 1 * 1 * (0.85 + 0.15 * (20.2 - 10) / 50) = 88.06
    assert_eq!(findings[0].score, 88);
    assert_eq!(findings[0].domain.as_deref(), Some("example.net"));
    assert_eq!(
        findings[0].explanation.fact(Fact::UnusualTypes),
        Some(100.0)
    );
}

#[test]
fn reverse_lookups_and_names_without_a_domain_are_exempt() {
    let mut observations: Vec<Observation> = (0..300)
        .map(|i| {
            let name = format!("{}.{}.51.198.in-addr.arpa", i % 256, i / 256);
            query(i * 100, HOST, &name, PTR, false)
        })
        .collect();
    observations.push(query(30_000, HOST, "printer.local", A, false));
    observations.push(query(30_000, HOST, "wpad", A, false));
    let mut detector = DnsTunnel::new(settings_reporting_all());
    feed(&mut detector, &observations);
    assert!(tick(&mut detector, 31_000).is_empty());
    assert_eq!(detector.stats().tracked, 0);
    assert_eq!(detector.counters().exempt, 302);
}

#[test]
fn ignore_domains_and_known_benign_are_not_tracked() {
    // The iodine shape under the site's own domain, its cut names included.
    let own = iodine_like(HOST, "ad.corp.example", A);
    let mut detector = DnsTunnel::new(DnsTunnelSettings {
        ignore_domains: vec!["Corp.Example.".to_owned()],
        ..settings_reporting_all()
    });
    feed(&mut detector, &own);
    assert!(tick(&mut detector, 25_000).is_empty());
    assert_eq!(detector.stats().tracked, 0);
    assert_eq!(detector.counters().exempt, 222);

    // Without the setting it is a tunnel.
    let mut detector = DnsTunnel::new(DnsTunnelSettings::default());
    feed(&mut detector, &own);
    let findings = tick(&mut detector, 25_000);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].domain.as_deref(), Some("corp.example"));

    // A mail server asking a DNS blocklist about 200 addresses, A and TXT.
    let dnsbl: Vec<Observation> = (0..200)
        .map(|i| {
            let name = format!("{}.{}.113.203.zen.spamhaus.org", i % 250, i / 250);
            query(
                i * 500,
                HOST,
                &name,
                if i % 2 == 0 { A } else { TXT },
                false,
            )
        })
        .collect();
    let mut detector = DnsTunnel::new(settings_reporting_all());
    feed(&mut detector, &dnsbl);
    assert!(tick(&mut detector, 100_000).is_empty());
    assert_eq!(detector.stats().tracked, 0);
}

#[test]
fn the_window_slides() -> Result<(), String> {
    // 60 names at 0..59 s, 60 more at 200..259 s.
    let label = |i: u64| format!("{i:03}-{}", "x".repeat(56));
    let observations: Vec<Observation> = (0..60)
        .map(|i| {
            query(
                i * 1_000,
                HOST,
                &format!("{}.t.example", label(i)),
                A,
                false,
            )
        })
        .chain((0..60).map(|i| {
            let name = format!("{}.t.example", label(100 + i));
            query(200_000 + i * 1_000, HOST, &name, A, false)
        }))
        .collect();
    let mut detector = DnsTunnel::new(DnsTunnelSettings::default());
    feed(&mut detector, &observations);
    let findings = tick(&mut detector, 260_000);
    assert_eq!(findings[0].explanation.observed, 120.0);
    // At 330 s the window starts at 30 s: names seen at 30..59 s remain.
    let findings = tick(&mut detector, 330_000);
    assert_eq!(findings[0].explanation.observed, 90.0);
    let measures = detector
        .measures(HOST, Some("t.example"))
        .ok_or("t.example is tracked")?;
    assert_eq!(measures.queries, 90);
    // At 560 s the window starts at 260 s: nothing left, nothing tracked.
    assert!(tick(&mut detector, 560_000).is_empty());
    assert_eq!(detector.stats().tracked, 0);
    Ok(())
}

#[test]
fn cut_names_follow_the_last_long_label_domain_or_stay_without_one() -> Result<(), String> {
    let long = format!("{}.tunnel.example", "k".repeat(30));
    let cut = |i: u64| format!("d{i:03}{}.{}", "z".repeat(59), "y".repeat(40));
    let mut detector = DnsTunnel::new(DnsTunnelSettings::default());
    let mut observations = vec![query(0, HOST, &long, A, false)];
    observations.extend((0..10).map(|i| query(1_000 + i, HOST, &cut(i), A, true)));
    // The other host never sent a whole long-label name.
    observations.extend((0..120).map(|i| query(1_000 + i, OTHER_HOST, &cut(i), A, true)));
    feed(&mut detector, &observations);
    let counters = detector.counters();
    assert_eq!(
        (counters.cut_attributed, counters.cut_unattributed),
        (10, 120)
    );
    let attributed = detector
        .measures(HOST, Some("tunnel.example"))
        .ok_or("tunnel.example")?;
    assert_eq!(attributed.distinct_names, 11);
    assert_eq!(attributed.max_label, 63);

    let findings = tick(&mut detector, 2_000);
    assert_eq!(findings.len(), 1);
    let finding = &findings[0];
    assert_eq!(
        (finding.host, finding.domain.as_deref()),
        (OTHER_HOST, None)
    );
    // 120 names, labels of 63: 100 * 1 * 1 * (0.85 + 0.15 * 1).
    assert_eq!(finding.score, 100);
    // Label, length and rate (entropy and types not): 60, halved.
    assert_eq!(finding.explanation.confidence, 30);

    // Once the long-label name is out of the window, cut names stay alone.
    feed(&mut detector, &[query(400_000, HOST, &cut(500), A, true)]);
    assert_eq!(detector.counters().cut_unattributed, 121);
    Ok(())
}

#[test]
fn key_and_name_caps_evict_the_least_recent() -> Result<(), String> {
    let mut detector = DnsTunnel::new(DnsTunnelSettings {
        max_tracked: 2,
        ..DnsTunnelSettings::default()
    });
    feed(
        &mut detector,
        &[
            query(0, HOST, "www.a.com", A, false),
            query(1_000, HOST, "www.b.com", A, false),
            query(2_000, HOST, "mail.a.com", A, false),
            query(3_000, HOST, "www.c.com", A, false),
        ],
    );
    assert!(detector.measures(HOST, Some("b.com")).is_none());
    assert!(detector.measures(HOST, Some("a.com")).is_some());
    assert_eq!(detector.counters().keys_evicted, 1);
    assert_eq!(
        detector.stats(),
        DetectorStats {
            tracked: 2,
            evicted: 1
        }
    );

    let mut detector = DnsTunnel::new(DnsTunnelSettings {
        distinct_names: 4,
        max_names: 8,
        ..DnsTunnelSettings::default()
    });
    let names: Vec<Observation> = (0..10)
        .map(|i| query(i * 1_000, HOST, &format!("n{i}.d.example"), A, false))
        .collect();
    feed(&mut detector, &names);
    let measures = detector
        .measures(HOST, Some("d.example"))
        .ok_or("d.example")?;
    assert_eq!((measures.distinct_names, measures.queries), (8, 10));
    assert_eq!(detector.counters().names_evicted, 2);
    // n0 was forgotten: seeing it again is a new name, and n2 goes.
    feed(
        &mut detector,
        &[query(11_000, HOST, "n0.d.example", A, false)],
    );
    assert_eq!(detector.counters().names_evicted, 3);

    // The budget over all keys: 6 names under e.example, then 5 under
    // f.example with room for 10: e.example, the least recent, goes.
    let mut detector = DnsTunnel::new(DnsTunnelSettings {
        distinct_names: 4,
        max_names: 8,
        max_total_names: 10,
        ..DnsTunnelSettings::default()
    });
    let names: Vec<Observation> = (0..6)
        .map(|i| query(i, HOST, &format!("n{i}.e.example"), A, false))
        .chain((0..5).map(|i| query(10 + i, HOST, &format!("n{i}.f.example"), A, false)))
        .collect();
    feed(&mut detector, &names);
    assert!(detector.measures(HOST, Some("e.example")).is_none());
    let measures = detector
        .measures(HOST, Some("f.example"))
        .ok_or("f.example")?;
    assert_eq!(measures.distinct_names, 5);
    assert_eq!(detector.counters().keys_evicted, 1);
    Ok(())
}

#[test]
fn hosts_are_judged_apart() {
    // The same tunnel names from two hosts make two findings, highest first
    // then by host.
    let mut detector = DnsTunnel::new(DnsTunnelSettings::default());
    feed(&mut detector, &iodine_like(OTHER_HOST, "pirate.sea", NULL));
    feed(&mut detector, &iodine_like(HOST, "pirate.sea", NULL));
    let findings = tick(&mut detector, 25_000);
    let hosts: Vec<IpAddr> = findings.iter().map(|f| f.host).collect();
    assert_eq!(hosts, [HOST, OTHER_HOST]);
    assert_eq!(detector.stats().tracked, 2);
}

// --- settings ---

#[test]
fn default_settings_pass_their_checks_and_bad_ones_are_named() {
    assert!(DnsTunnelSettings::default().check().is_empty());
    let bad = DnsTunnelSettings {
        window: HumanDuration(Duration::from_secs(30)),
        distinct_names: 1,
        long_label: 64,
        entropy_bits: 9.0,
        unusual_types: vec![16, 0],
        ignore_domains: vec!["corp example".to_owned(), "..".to_owned()],
        known_benign: vec!["a..b".to_owned()],
        report_from: 0,
        max_tracked: 0,
        max_names: 70_000,
        max_total_names: 1,
    };
    let keys: Vec<&str> = bad.check().iter().map(|(key, _)| *key).collect();
    assert_eq!(
        keys,
        [
            "distinct_names",
            "long_label",
            "max_tracked",
            "max_names",
            "max_total_names",
            "report_from",
            "window",
            "entropy_bits",
            "unusual_types",
            "ignore_domains",
            "ignore_domains",
            "known_benign"
        ]
    );
}

#[test]
fn settings_read_from_toml() -> Result<(), Box<dyn std::error::Error>> {
    let settings: DnsTunnelSettings = toml::from_str(
        "window = \"10m\"\ndistinct_names = 200\nignore_domains = [\"corp.example\"]\n",
    )?;
    assert_eq!(settings.window.0, Duration::from_secs(600));
    assert_eq!(settings.distinct_names, 200);
    assert_eq!(settings.ignore_domains, ["corp.example"]);
    assert_eq!(settings.known_benign.len(), DEFAULT_KNOWN_BENIGN.len());
    assert!(toml::from_str::<DnsTunnelSettings>("windw = \"10m\"").is_err());
    Ok(())
}
