//! Answers of listed domains: the addresses they name are listed for the
//! host that asked, for a while, within a cap.

use std::time::Duration;

use super::{answer, attempt, day, detector, ip, observe, query, site, TestResult, JAN_1_2024};
use crate::detect::{
    known_bad::{KnownBad, KnownBadSettings, ListSet},
    Detect, DetectorStats, Fact,
};

#[test]
fn an_answer_lists_its_addresses_for_the_asking_host_for_a_while() -> TestResult {
    let mut d = detector(KnownBadSettings::default())?;
    let site = site()?;
    let host = ip("10.1.0.5")?;
    let other = ip("10.1.0.6")?;
    let t = day(JAN_1_2024);
    let seen = answer(
        t,
        host,
        "www.evil.com",
        &["203.0.113.50", "0.0.0.0", "192.0.2.53", "127.0.0.1"],
        30,
    )?;
    assert!(observe(&mut d, &seen, &site).is_empty());
    // Only 203.0.113.50 is held (sinkholes and the resolver are not the peer).
    assert_eq!(
        d.stats(),
        DetectorStats {
            tracked: 1,
            evicted: 0
        }
    );

    // The TTL is 30 s; the default hold of 10 minutes applies.
    let before = t + Duration::from_secs(599);
    let found = observe(
        &mut d,
        &attempt(before, host, ip("203.0.113.50")?, 443),
        &site,
    );
    let [finding] = found.as_slice() else {
        panic!("{found:?}");
    };
    assert_eq!(finding.peer, Some(ip("203.0.113.50")?));
    assert_eq!(finding.domain.as_deref(), Some("evil.com"));
    assert_eq!(finding.score, 80);
    assert_eq!(finding.explanation.fact(Fact::ListLine), Some(3.0));
    // Not for another host (shared addresses: CDNs), nor for sinkholes.
    assert!(observe(
        &mut d,
        &attempt(before, other, ip("203.0.113.50")?, 443),
        &site
    )
    .is_empty());
    assert!(observe(&mut d, &attempt(before, host, ip("0.0.0.0")?, 443), &site).is_empty());
    // Expired at exactly ten minutes.
    let expired = t + Duration::from_secs(600);
    assert!(observe(
        &mut d,
        &attempt(expired, host, ip("203.0.113.50")?, 443),
        &site
    )
    .is_empty());
    let mut out = Vec::new();
    d.tick(expired - Duration::from_secs(1), &site, &mut out);
    assert_eq!(d.stats().tracked, 1);
    d.tick(expired, &site, &mut out);
    assert_eq!(d.stats().tracked, 0);
    assert!(out.is_empty());

    // A longer TTL holds longer.
    observe(
        &mut d,
        &answer(t, host, "evil.com", &["203.0.113.51"], 3_600)?,
        &site,
    );
    let late = t + Duration::from_secs(3_599);
    assert_eq!(
        observe(&mut d, &attempt(late, host, ip("203.0.113.51")?, 80), &site).len(),
        1
    );
    let later = t + Duration::from_secs(3_600);
    assert!(observe(
        &mut d,
        &attempt(later, host, ip("203.0.113.51")?, 80),
        &site
    )
    .is_empty());
    // An unlisted name's answer is not held.
    observe(
        &mut d,
        &answer(t, host, "good.com", &["203.0.113.52"], 3_600)?,
        &site,
    );
    assert_eq!(d.stats().tracked, 1);
    Ok(())
}

#[test]
fn an_address_entry_wins_and_keeps_the_resolved_domain() -> TestResult {
    let mut d = detector(KnownBadSettings::default())?;
    let site = site()?;
    let host = ip("10.1.0.5")?;
    let t = day(JAN_1_2024);
    observe(
        &mut d,
        &answer(t, host, "evil.com", &["203.0.113.7"], 60)?,
        &site,
    );
    let found = observe(&mut d, &attempt(t, host, ip("203.0.113.7")?, 443), &site);
    let summary: Vec<_> = found
        .iter()
        .map(|f| {
            (
                f.score,
                f.domain.as_deref(),
                f.explanation.fact(Fact::ListLine),
            )
        })
        .collect();
    assert_eq!(summary, [(85, Some("evil.com"), Some(2.0))]);
    Ok(())
}

#[test]
fn replaced_lists_apply_at_once_to_held_answers() -> TestResult {
    let mut d = detector(KnownBadSettings::default())?;
    let site = site()?;
    let host = ip("10.1.0.5")?;
    let t = day(JAN_1_2024);
    observe(
        &mut d,
        &answer(t, host, "www.evil.com", &["203.0.113.50"], 60)?,
        &site,
    );
    d.replace_lists(ListSet::parse("new.txt", "198.51.100.1\n", day(0))?);
    assert_eq!(d.list_name(0), Some("new.txt"));
    assert!(observe(&mut d, &attempt(t, host, ip("203.0.113.50")?, 443), &site).is_empty());
    assert!(observe(&mut d, &attempt(t, host, ip("203.0.113.7")?, 443), &site).is_empty());
    assert!(observe(&mut d, &query(t, host, "evil.com", false)?, &site).is_empty());
    assert_eq!(
        observe(&mut d, &attempt(t, host, ip("198.51.100.1")?, 443), &site).len(),
        1
    );
    Ok(())
}

#[test]
fn held_answers_are_capped_evicting_the_soonest_to_expire() -> TestResult {
    let settings = KnownBadSettings {
        max_resolved: 2,
        ..KnownBadSettings::default()
    };
    let mut d = detector(settings)?;
    let site = site()?;
    let host = ip("10.1.0.5")?;
    let t = day(JAN_1_2024);
    // Held until t+7200, t+600 and t+3600.
    observe(
        &mut d,
        &answer(t, host, "evil.com", &["203.0.113.60"], 7_200)?,
        &site,
    );
    observe(
        &mut d,
        &answer(t, host, "evil.com", &["203.0.113.61"], 60)?,
        &site,
    );
    assert_eq!(
        d.stats(),
        DetectorStats {
            tracked: 2,
            evicted: 0
        }
    );
    // Renewing a held pair evicts nothing.
    observe(
        &mut d,
        &answer(t, host, "evil.com", &["203.0.113.60"], 7_200)?,
        &site,
    );
    assert_eq!(
        d.stats(),
        DetectorStats {
            tracked: 2,
            evicted: 0
        }
    );
    observe(
        &mut d,
        &answer(t, host, "evil.com", &["203.0.113.62"], 3_600)?,
        &site,
    );
    assert_eq!(
        d.stats(),
        DetectorStats {
            tracked: 2,
            evicted: 1
        }
    );
    let connects = |d: &mut KnownBad, addr| -> Result<usize, Box<dyn std::error::Error>> {
        Ok(observe(d, &attempt(t, host, ip(addr)?, 443), &site).len())
    };
    assert_eq!(connects(&mut d, "203.0.113.60")?, 1);
    assert_eq!(connects(&mut d, "203.0.113.61")?, 0);
    assert_eq!(connects(&mut d, "203.0.113.62")?, 1);
    // At t+3600 the pair held until then has expired: it makes room,
    // without an eviction.
    let later = t + Duration::from_secs(3_600);
    observe(
        &mut d,
        &answer(later, host, "evil.com", &["203.0.113.63"], 60)?,
        &site,
    );
    assert_eq!(
        d.stats(),
        DetectorStats {
            tracked: 2,
            evicted: 1
        }
    );
    Ok(())
}

#[test]
fn a_full_table_of_answers_evicts_a_sixty_fourth_at_once() -> TestResult {
    let settings = KnownBadSettings {
        max_resolved: 128,
        ..KnownBadSettings::default()
    };
    let mut d = detector(settings)?;
    let site = site()?;
    let host = ip("10.1.0.5")?;
    let t = day(JAN_1_2024);
    // TTLs 1000 s to 1127 s: each address held until t + its TTL.
    for i in 0..128u32 {
        let addr = format!("198.18.0.{i}");
        observe(
            &mut d,
            &answer(t, host, "evil.com", &[addr.as_str()], 1_000 + i)?,
            &site,
        );
    }
    assert_eq!(
        d.stats(),
        DetectorStats {
            tracked: 128,
            evicted: 0
        }
    );
    observe(
        &mut d,
        &answer(t, host, "evil.com", &["198.18.1.1"], 5_000)?,
        &site,
    );
    // 128 / 64 = 2 evicted: 198.18.0.0 and 198.18.0.1, the soonest to expire.
    assert_eq!(
        d.stats(),
        DetectorStats {
            tracked: 127,
            evicted: 2
        }
    );
    let connects = |d: &mut KnownBad, addr| -> Result<usize, Box<dyn std::error::Error>> {
        Ok(observe(d, &attempt(t, host, ip(addr)?, 443), &site).len())
    };
    assert_eq!(connects(&mut d, "198.18.0.0")?, 0);
    assert_eq!(connects(&mut d, "198.18.0.1")?, 0);
    assert_eq!(connects(&mut d, "198.18.0.2")?, 1);
    assert_eq!(connects(&mut d, "198.18.1.1")?, 1);
    Ok(())
}
