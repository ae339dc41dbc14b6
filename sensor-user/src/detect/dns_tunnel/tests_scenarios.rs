use std::net::IpAddr;

use super::{testkit::*, *};

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
