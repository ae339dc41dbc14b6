//! The daily digest: exactly once a day at the local time, across DST
//! changes; counts by detector and action; the top hosts.

use std::time::{Duration, SystemTime};

use jiff::tz::TimeZone;

use super::{input, ip, paris, utc, TestResult};
use crate::{
    config::response::ClockTime,
    detect::Detector,
    respond::{digest::DIGEST_HOSTS_MAX, ActionKind, DigestBook, HostCount},
};

const SECOND: Duration = Duration::from_secs(1);
const SEVEN: ClockTime = ClockTime(7 * 60);

/// The report's (from, to), or None.
fn due(book: &mut DigestBook, now: SystemTime) -> Option<(SystemTime, SystemTime)> {
    book.due(now).map(|report| (report.from, report.to))
}

#[test]
fn the_digest_comes_once_a_day_at_its_time() -> TestResult {
    let start = utc(2025, 1, 6, 12, 0, 0)?;
    let mut book = DigestBook::with_time_zone(SEVEN, TimeZone::UTC, start);
    let first = utc(2025, 1, 7, 7, 0, 0)?;
    assert_eq!(book.next_due(), first);
    assert_eq!(due(&mut book, first - SECOND), None);
    assert_eq!(due(&mut book, first), Some((start, first)));
    assert_eq!(due(&mut book, first), None);
    let second = utc(2025, 1, 8, 7, 0, 0)?;
    assert_eq!(due(&mut book, second - SECOND), None);
    // A tick later than the time: the report still ends at 07:00.
    assert_eq!(due(&mut book, second + 5 * SECOND), Some((first, second)));
    assert_eq!(book.next_due(), utc(2025, 1, 9, 7, 0, 0)?);
    Ok(())
}

#[test]
fn a_book_made_at_the_digest_time_waits_a_day() -> TestResult {
    let start = utc(2025, 1, 6, 7, 0, 0)?;
    let mut book = DigestBook::with_time_zone(SEVEN, TimeZone::UTC, start);
    assert_eq!(book.next_due(), utc(2025, 1, 7, 7, 0, 0)?);
    assert_eq!(due(&mut book, start), None);
    Ok(())
}

#[test]
fn days_missed_make_one_report() -> TestResult {
    let start = utc(2025, 1, 6, 12, 0, 0)?;
    let mut book = DigestBook::with_time_zone(SEVEN, TimeZone::UTC, start);
    let late = utc(2025, 1, 9, 10, 0, 0)?;
    assert_eq!(
        due(&mut book, late),
        Some((start, utc(2025, 1, 9, 7, 0, 0)?))
    );
    assert_eq!(due(&mut book, late + SECOND), None);
    assert_eq!(book.next_due(), utc(2025, 1, 10, 7, 0, 0)?);
    Ok(())
}

#[test]
fn the_digest_keeps_local_time_across_dst() -> TestResult {
    // Saturday 2025-03-29 07:00 CET (+1) is 06:00 UTC; the clocks go
    // forward on Sunday at 02:00, so Sunday 07:00 CEST (+2) is 05:00 UTC:
    // a day of 23 hours.
    let saturday = utc(2025, 3, 29, 6, 0, 0)?;
    let mut book = DigestBook::with_time_zone(SEVEN, paris()?, saturday - SECOND);
    assert_eq!(
        due(&mut book, saturday),
        Some((saturday - SECOND, saturday))
    );
    let sunday = utc(2025, 3, 30, 5, 0, 0)?;
    assert_eq!(book.next_due(), sunday);
    // 24 h after Saturday's would be an hour late.
    assert_eq!(due(&mut book, sunday - SECOND), None);
    assert_eq!(due(&mut book, sunday), Some((saturday, sunday)));
    assert_eq!(due(&mut book, saturday + Duration::from_secs(86_400)), None);
    assert_eq!(book.next_due(), utc(2025, 3, 31, 5, 0, 0)?);
    // Back on Sunday 2025-10-26 at 03:00: a day of 25 hours.
    let autumn = DigestBook::with_time_zone(SEVEN, paris()?, utc(2025, 10, 25, 5, 0, 0)?);
    assert_eq!(autumn.next_due(), utc(2025, 10, 26, 6, 0, 0)?);
    Ok(())
}

#[test]
fn a_digest_time_skipped_by_dst_comes_after_the_jump() -> TestResult {
    // 02:30 does not exist in Paris on 2025-03-30 (02:00 -> 03:00): 03:30
    // CEST, 01:30 UTC; the next day 02:30 CEST, 00:30 UTC.
    let mut book =
        DigestBook::with_time_zone(ClockTime(150), paris()?, utc(2025, 3, 29, 12, 0, 0)?);
    assert_eq!(book.next_due(), utc(2025, 3, 30, 1, 30, 0)?);
    assert!(book.due(utc(2025, 3, 30, 1, 30, 0)?).is_some());
    assert_eq!(book.next_due(), utc(2025, 3, 31, 0, 30, 0)?);
    Ok(())
}

#[test]
fn the_report_counts_by_detector_and_action_and_ranks_hosts() -> TestResult {
    let start = utc(2025, 1, 6, 12, 0, 0)?;
    let mut book = DigestBook::with_time_zone(SEVEN, TimeZone::UTC, start);
    use ActionKind::{Block, Digest, Notify, Refused};
    use Detector::{Beacon, NewDevice, PortScan};
    // host: (alerts, max score) = 1: (4, 95), 2: (3, 50), 3: (3, 70),
    // 4: (2, 40), 5: (1, 35), 6: (1, 35).
    for (detector, host, score, action) in [
        (PortScan, 1, 95, Block),
        (PortScan, 1, 95, Notify),
        (PortScan, 1, 40, Digest),
        (Beacon, 1, 65, Notify),
        (Beacon, 2, 50, Digest),
        (Beacon, 2, 45, Digest),
        (Beacon, 2, 31, Digest),
        (NewDevice, 3, 70, Notify),
        (PortScan, 3, 70, Refused),
        (PortScan, 3, 30, Digest),
        (NewDevice, 4, 40, Digest),
        (NewDevice, 4, 33, Digest),
        (NewDevice, 6, 35, Digest),
    ] {
        book.record(detector, ip(host), score, action);
    }
    let decision = crate::respond::Decision {
        action: crate::respond::Action::Digest,
        reason: "score 35 >= digest_at 30 (no schedule)".to_owned(),
        switched: None,
    };
    book.record_decision(&input(NewDevice, ip(5), None, 35), &decision);
    let Some(report) = book.due(utc(2025, 1, 7, 7, 0, 0)?) else {
        return Err("no report at 07:00".into());
    };
    assert_eq!(report.total, 14);
    assert_eq!(
        report.by_detector,
        vec![(PortScan, 5), (Beacon, 4), (NewDevice, 5)]
    );
    assert_eq!(
        report.by_action,
        vec![(Block, 1), (Notify, 3), (Digest, 9), (Refused, 1)]
    );
    let top: Vec<HostCount> = [(1, 4, 95), (3, 3, 70), (2, 3, 50), (4, 2, 40), (5, 1, 35)]
        .into_iter()
        .map(|(host, alerts, max_score)| HostCount {
            host: ip(host),
            alerts,
            max_score,
        })
        .collect();
    assert_eq!(report.top_hosts, top);
    assert_eq!(report.hosts_unranked, 0);
    // A new day begins empty.
    let Some(next) = book.due(utc(2025, 1, 8, 7, 0, 0)?) else {
        return Err("no report the next day".into());
    };
    assert_eq!(
        (next.total, next.top_hosts.len(), next.by_action.len()),
        (0, 0, 0)
    );
    Ok(())
}

#[test]
fn hosts_beyond_the_cap_are_counted_but_not_ranked() -> TestResult {
    let start = utc(2025, 1, 6, 12, 0, 0)?;
    let mut book = DigestBook::with_time_zone(SEVEN, TimeZone::UTC, start);
    let hosts = DIGEST_HOSTS_MAX as u32 + 3;
    for n in 0..hosts {
        let host = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
        book.record(Detector::HostSweep, host, 50, ActionKind::Digest);
    }
    // The first host again: ranked, counted twice.
    book.record(Detector::HostSweep, ip(0), 50, ActionKind::Digest);
    let Some(report) = book.due(utc(2025, 1, 7, 7, 0, 0)?) else {
        return Err("no report".into());
    };
    assert_eq!(
        (report.total, report.hosts_unranked),
        (u64::from(hosts) + 1, 3)
    );
    assert_eq!(report.top_hosts[0].host, ip(0));
    assert_eq!(report.top_hosts[0].alerts, 2);
    Ok(())
}
