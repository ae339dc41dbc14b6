//! The detector: what matches, what it scores, what it never reports.

use std::{path::PathBuf, time::Duration};

use super::{answer, attempt, day, detector, ip, observe, query, site, TestResult, JAN_1_2024};
use crate::{
    config::duration::HumanDuration,
    detect::{known_bad::KnownBadSettings, Detect, Detector, Fact},
};

#[test]
fn settings_defaults_and_checks() {
    let defaults = KnownBadSettings::default();
    assert!(defaults.check().is_empty());
    assert_eq!(
        (
            defaults.address_score,
            defaults.domain_score,
            defaults.decay_per_month,
            defaults.score_floor
        ),
        (85, 80, 5, 40)
    );
    let bad = KnownBadSettings {
        lists: vec![PathBuf::from("/etc/vantage/intel.txt")],
        address_score: 101,
        domain_score: 30,
        decay_per_month: 200,
        score_floor: 50,
        resolved_hold: HumanDuration(Duration::from_secs(86_401)),
        max_resolved: 0,
    };
    let keys: Vec<&str> = bad.check().into_iter().map(|(key, _)| key).collect();
    assert_eq!(
        keys,
        [
            "address_score",
            "decay_per_month",
            "score_floor",
            "resolved_hold",
            "max_resolved"
        ]
    );
}

#[test]
fn the_score_decays_per_whole_month_down_to_the_floor() -> TestResult {
    let d = detector(KnownBadSettings::default())?;
    // Address: 85 - 5 per whole 30 days, at least 40.
    assert_eq!(d.score(85, 0), 85);
    assert_eq!(d.score(85, 29), 85);
    assert_eq!(d.score(85, 30), 80);
    assert_eq!(d.score(85, 149), 65);
    assert_eq!(d.score(85, 150), 60);
    assert_eq!(d.score(85, 180), 55);
    assert_eq!(d.score(85, 269), 45);
    assert_eq!(d.score(85, 270), 40);
    assert_eq!(d.score(85, 10_000), 40);
    // Domain: notifies for 4 months.
    assert_eq!(d.score(80, 119), 65);
    assert_eq!(d.score(80, 120), 60);
    assert_eq!(d.score(80, 150), 55);
    // A base below the floor stays as it is.
    assert_eq!(d.score(30, 400), 30);
    Ok(())
}

#[test]
fn an_attempt_to_a_listed_address_reports_at_once() -> TestResult {
    let mut d = detector(KnownBadSettings::default())?;
    let site = site()?;
    let host = ip("10.1.0.5")?;
    // 45 days after listing: one decay step.
    let at = day(JAN_1_2024 + 45);
    let found = observe(&mut d, &attempt(at, host, ip("203.0.113.7")?, 443), &site);
    let [finding] = found.as_slice() else {
        panic!("{found:?}");
    };
    assert_eq!(finding.at, at);
    assert_eq!(finding.detector, Detector::KnownBad);
    assert_eq!(finding.host, host);
    assert_eq!(finding.peer, Some(ip("203.0.113.7")?));
    assert_eq!(finding.port, Some(443));
    assert_eq!(finding.domain, None);
    assert_eq!(finding.score, 80);
    // 80 of a fresh 85: 94 %.
    assert_eq!(finding.explanation.confidence, 94);
    assert_eq!(finding.explanation.fact(Fact::ListIndex), Some(0.0));
    assert_eq!(finding.explanation.fact(Fact::ListLine), Some(2.0));
    assert_eq!(finding.explanation.fact(Fact::EntryAgeDays), Some(45.0));
    assert_eq!(d.list_name(0), Some("intel.txt"));

    // Inside the listed /24, fresh.
    let found = observe(
        &mut d,
        &attempt(day(JAN_1_2024), host, ip("198.51.100.9")?, 22),
        &site,
    );
    assert_eq!(
        found
            .iter()
            .map(|f| (f.score, f.explanation.fact(Fact::ListLine)))
            .collect::<Vec<_>>(),
        [(85, Some(4.0))]
    );

    // Unlisted peers, and the other answers, report nothing.
    assert!(observe(&mut d, &attempt(at, host, ip("203.0.113.8")?, 443), &site).is_empty());
    assert!(observe(&mut d, &attempt(at, host, ip("198.51.101.9")?, 443), &site).is_empty());
    let mut out = Vec::new();
    d.tick(at, &site, &mut out);
    assert!(out.is_empty());
    Ok(())
}

#[test]
fn a_query_for_a_listed_domain_names_the_resolver_and_the_domain() -> TestResult {
    let mut d = detector(KnownBadSettings::default())?;
    let site = site()?;
    let host = ip("10.1.0.5")?;
    // 130 days: four steps, 80 - 20.
    let at = day(JAN_1_2024 + 130);
    let found = observe(&mut d, &query(at, host, "c2.a.evil.com", false)?, &site);
    let [finding] = found.as_slice() else {
        panic!("{found:?}");
    };
    assert_eq!(finding.peer, Some(ip("192.0.2.53")?));
    assert_eq!(finding.domain.as_deref(), Some("evil.com"));
    assert_eq!(finding.port, None);
    assert_eq!(finding.score, 60);
    assert_eq!(finding.explanation.fact(Fact::ListLine), Some(3.0));
    assert_eq!(finding.explanation.fact(Fact::EntryAgeDays), Some(130.0));

    assert!(observe(&mut d, &query(at, host, "notevil.com", false)?, &site).is_empty());
    // A cut name's tail is not its real tail: never matched.
    assert!(observe(&mut d, &query(at, host, "a.evil.com", true)?, &site).is_empty());
    Ok(())
}

#[test]
fn infrastructure_is_a_list_problem_never_a_finding() -> TestResult {
    let mut d = detector(KnownBadSettings::default())?;
    let site = site()?;
    let host = ip("10.1.0.5")?;
    let t = day(JAN_1_2024);
    let problems = d.list_problems(&site);
    assert_eq!(
        problems
            .iter()
            .map(|p| (p.line, p.entry.as_str()))
            .collect::<Vec<_>>(),
        [(5, "192.0.2.0/24")]
    );
    // The resolver itself, and another address of the problem entry.
    assert!(observe(&mut d, &attempt(t, host, ip("192.0.2.53")?, 53), &site).is_empty());
    assert!(observe(&mut d, &attempt(t, host, ip("192.0.2.99")?, 443), &site).is_empty());
    // A listed domain resolving to the gateway is not held.
    observe(
        &mut d,
        &answer(t, host, "evil.com", &["192.0.2.1"], 60)?,
        &site,
    );
    assert_eq!(d.stats().tracked, 0);
    assert!(observe(&mut d, &attempt(t, host, ip("192.0.2.1")?, 443), &site).is_empty());
    Ok(())
}
