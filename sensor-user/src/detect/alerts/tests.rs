//! The alert book: merging, updates, rate caps, closing and eviction.
use std::time::UNIX_EPOCH;

use super::*;
use crate::detect::Explanation;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn scan(host: &str, peer: &str, score: u8, secs: u64) -> Finding {
    Finding {
        at: at(secs),
        detector: Detector::PortScan,
        host: ip(host),
        peer: Some(ip(peer)),
        domain: None,
        port: None,
        score,
        explanation: Explanation::default(),
    }
}

#[test]
fn repeated_findings_make_one_alert_updated_when_the_score_rises_a_step() {
    let mut book = AlertBook::new(AlertSettings::default(), 7);
    let first = book.offer(scan("10.0.0.1", "192.0.2.9", 55, 0), at(0));
    assert_eq!(first.as_ref().map(|r| (r.id, r.revision)), Some((7, 0)));
    assert_eq!(first.map(|r| r.severity), Some(Severity::Low));
    // +3, still low: merged, nothing sent.
    assert_eq!(
        book.offer(scan("10.0.0.1", "192.0.2.9", 58, 1), at(1)),
        None
    );
    // 61 crosses into medium: a severity change is an update even under the step.
    let update = book.offer(scan("10.0.0.1", "192.0.2.9", 61, 2), at(2));
    assert_eq!(update.map(|r| (r.id, r.revision)), Some((7, 1)));
    // +10 over the last sent (61): update 2.
    let update = book.offer(scan("10.0.0.1", "192.0.2.9", 71, 3), at(3));
    assert_eq!(update.map(|r| (r.id, r.revision)), Some((7, 2)));
    // Lower scores never send.
    assert_eq!(
        book.offer(scan("10.0.0.1", "192.0.2.9", 40, 4), at(4)),
        None
    );
    // Another peer is another alert.
    let other = book.offer(scan("10.0.0.1", "192.0.2.10", 50, 5), at(5));
    assert_eq!(other.map(|r| (r.id, r.revision)), Some((8, 0)));
    assert_eq!(book.counts().raised, 2);
    assert_eq!(book.counts().updated, 2);
    assert_eq!(book.counts().merged, 2);
    assert_eq!(book.open_count(), 2);
}

#[test]
fn reaching_the_full_score_is_an_update_even_under_the_step() {
    let mut book = AlertBook::new(AlertSettings::default(), 3);
    let first = book.offer(scan("10.0.0.1", "192.0.2.9", 94, 0), at(0));
    assert_eq!(first.map(|r| (r.id, r.revision)), Some((3, 0)));
    // 99: +5, same band (critical): merged.
    assert_eq!(
        book.offer(scan("10.0.0.1", "192.0.2.9", 99, 1), at(1)),
        None
    );
    // 100: +6, same band, but saturated: sent once.
    let update = book.offer(scan("10.0.0.1", "192.0.2.9", 100, 2), at(2));
    assert_eq!(
        update.map(|r| (r.id, r.revision, r.finding.score)),
        Some((3, 1, 100))
    );
    assert_eq!(
        book.offer(scan("10.0.0.1", "192.0.2.9", 100, 3), at(3)),
        None
    );
    assert_eq!(book.counts().updated, 1);
    assert_eq!(book.counts().merged, 2);
}

#[test]
fn findings_below_the_minimum_are_not_alerts() {
    let mut book = AlertBook::new(AlertSettings::default(), 1);
    assert_eq!(
        book.offer(scan("10.0.0.1", "192.0.2.9", 29, 0), at(0)),
        None
    );
    assert_eq!(book.open_count(), 0);
    assert_eq!(book.counts().raised, 0);
}

#[test]
fn per_host_cap_suppresses_and_counts_then_the_hour_slides() {
    let settings = AlertSettings {
        per_host_per_hour: 3,
        ..AlertSettings::default()
    };
    let mut book = AlertBook::new(settings, 1);
    for i in 0..5u8 {
        let peer = format!("192.0.2.{}", 10 + i);
        let raised = book.offer(scan("10.0.0.1", &peer, 50, u64::from(i)), at(u64::from(i)));
        assert_eq!(raised.is_some(), i < 3, "peer {peer}");
    }
    assert_eq!(book.counts().suppressed, vec![(Detector::PortScan, 2)]);
    // Another host still has its own budget.
    assert!(book
        .offer(scan("10.0.0.2", "192.0.2.10", 50, 6), at(6))
        .is_some());
    // An hour after the first three, the host may alert again.
    assert!(book
        .offer(scan("10.0.0.1", "192.0.2.99", 50, 3600), at(3600))
        .is_some());
    assert_eq!(book.counts().suppressed_total(), 2);
}

#[test]
fn per_site_cap_applies_across_hosts() {
    let settings = AlertSettings {
        per_site_per_hour: 2,
        ..AlertSettings::default()
    };
    let mut book = AlertBook::new(settings, 1);
    let raised: Vec<bool> = (1..=4u8)
        .map(|i| {
            book.offer(scan(&format!("10.0.0.{i}"), "192.0.2.9", 50, 0), at(0))
                .is_some()
        })
        .collect();
    assert_eq!(raised, vec![true, true, false, false]);
    assert_eq!(book.counts().suppressed_total(), 2);
}

#[test]
fn a_quiet_alert_closes_and_a_later_finding_opens_a_new_one() {
    let mut book = AlertBook::new(AlertSettings::default(), 1);
    assert!(book
        .offer(scan("10.0.0.1", "192.0.2.9", 50, 0), at(0))
        .is_some());
    book.close_quiet(at(3599));
    assert_eq!(book.open_count(), 1);
    book.close_quiet(at(3600));
    assert_eq!(book.open_count(), 0);
    let again = book.offer(scan("10.0.0.1", "192.0.2.9", 50, 3601), at(3601));
    assert_eq!(again.map(|r| (r.id, r.revision)), Some((2, 0)));
}

#[test]
fn the_open_cap_closes_the_least_recently_updated() {
    let settings = AlertSettings {
        max_open: 2,
        ..AlertSettings::default()
    };
    let mut book = AlertBook::new(settings, 1);
    assert!(book
        .offer(scan("10.0.0.1", "192.0.2.1", 50, 0), at(0))
        .is_some());
    assert!(book
        .offer(scan("10.0.0.2", "192.0.2.1", 50, 1), at(1))
        .is_some());
    // Confirm the first: now the second is the least recently updated.
    assert_eq!(
        book.offer(scan("10.0.0.1", "192.0.2.1", 51, 2), at(2)),
        None
    );
    assert!(book
        .offer(scan("10.0.0.3", "192.0.2.1", 50, 3), at(3))
        .is_some());
    assert_eq!(book.counts().evicted, 1);
    // The first is still open (merged), the second was closed (new id).
    assert_eq!(
        book.offer(scan("10.0.0.1", "192.0.2.1", 52, 4), at(4)),
        None
    );
    let reopened = book.offer(scan("10.0.0.2", "192.0.2.1", 50, 5), at(5));
    assert_eq!(reopened.map(|r| r.revision), Some(0));
}

#[test]
fn severity_bands() {
    assert_eq!(severity_of(29), Severity::Info);
    assert_eq!(severity_of(30), Severity::Low);
    assert_eq!(severity_of(60), Severity::Medium);
    assert_eq!(severity_of(75), Severity::High);
    assert_eq!(severity_of(90), Severity::Critical);
    assert_eq!(severity_of(100), Severity::Critical);
}

#[test]
fn a_domain_is_the_subject_before_a_peer() {
    let mut finding = scan("10.0.0.1", "192.0.2.9", 50, 0);
    finding.domain = Some("example.com".to_owned());
    assert_eq!(
        AlertKey::of(&finding).subject,
        Subject::Domain("example.com".to_owned())
    );
}
