//! Schedule matching: weekdays, hours, ranges past midnight, first match
//! wins, the local time of the zone.

use jiff::tz::{offset, TimeZone};

use super::{paris, utc, TestResult};
use crate::{
    config::response::{DaySet, HourRange, ResponseConfig, ScheduleEntry},
    respond::schedule::{entry_matches, rule_at, LocalMoment, Thresholds},
};

/// Monday is 0; `hh:mm` as minutes.
fn at(weekday: u8, hour: u16, minute: u16) -> LocalMoment {
    LocalMoment {
        weekday,
        minute: hour * 60 + minute,
    }
}

fn entry(name: &str, days: &[&str], hours: &str) -> Result<ScheduleEntry, String> {
    Ok(ScheduleEntry {
        name: Some(name.to_owned()),
        days: DaySet::parse(days)?,
        hours: HourRange::parse(hours)?,
        block_at: None,
        notify_at: None,
        digest_at: None,
    })
}

#[test]
fn business_hours_match_weekdays_from_start_to_just_before_end() -> TestResult {
    let business = entry("business", &["mon-fri"], "08:00-18:00")?;
    assert!(entry_matches(&business, at(0, 8, 0)));
    assert!(!entry_matches(&business, at(0, 7, 59)));
    assert!(entry_matches(&business, at(4, 17, 59)));
    assert!(!entry_matches(&business, at(4, 18, 0)));
    assert!(!entry_matches(&business, at(5, 10, 0)));
    assert!(!entry_matches(&business, at(6, 10, 0)));
    Ok(())
}

#[test]
fn a_range_past_midnight_belongs_to_the_day_it_starts_on() -> TestResult {
    let friday_night = entry("friday_night", &["fri"], "22:00-06:00")?;
    assert!(!entry_matches(&friday_night, at(4, 21, 59)));
    assert!(entry_matches(&friday_night, at(4, 22, 0)));
    assert!(entry_matches(&friday_night, at(4, 23, 59)));
    // Saturday morning is still Friday night.
    assert!(entry_matches(&friday_night, at(5, 0, 0)));
    assert!(entry_matches(&friday_night, at(5, 5, 59)));
    assert!(!entry_matches(&friday_night, at(5, 6, 0)));
    // Friday morning is Thursday night; Saturday evening is not Friday.
    assert!(!entry_matches(&friday_night, at(4, 3, 0)));
    assert!(!entry_matches(&friday_night, at(5, 23, 0)));
    // Sunday night runs into Monday: the week wraps.
    let sunday_night = entry("sunday_night", &["sun"], "23:00-01:00")?;
    assert!(entry_matches(&sunday_night, at(0, 0, 30)));
    assert!(!entry_matches(&sunday_night, at(6, 0, 30)));
    let whole_day = entry("all", &["sun"], "00:00-24:00")?;
    assert!(entry_matches(&whole_day, at(6, 23, 59)));
    assert!(!entry_matches(&whole_day, at(0, 0, 0)));
    Ok(())
}

#[test]
fn the_first_matching_entry_wins_and_inherits_what_it_leaves_out() -> TestResult {
    let mut business = entry("business", &["mon-fri"], "08:00-18:00")?;
    business.notify_at = Some(70);
    let mut off_hours = entry("off_hours", &["mon-sun"], "00:00-24:00")?;
    off_hours.block_at = Some(85);
    let config = ResponseConfig {
        block_at: 95,
        schedule: vec![business, off_hours],
        ..ResponseConfig::default()
    };
    let monday_noon = rule_at(&config, at(0, 12, 0));
    assert_eq!(monday_noon.name, "business");
    assert_eq!(
        monday_noon.thresholds,
        Thresholds {
            block_at: 95,
            notify_at: 70,
            digest_at: 30
        }
    );
    let monday_night = rule_at(&config, at(0, 18, 0));
    assert_eq!(monday_night.name, "off_hours");
    assert_eq!(
        monday_night.thresholds,
        Thresholds {
            block_at: 85,
            notify_at: 60,
            digest_at: 30
        }
    );
    let alone = ResponseConfig {
        schedule: vec![entry("business", &["mon-fri"], "08:00-18:00")?],
        ..ResponseConfig::default()
    };
    let saturday = rule_at(&alone, at(5, 12, 0));
    assert_eq!(saturday.name, "no schedule");
    assert_eq!(saturday.thresholds.block_at, 101);
    Ok(())
}

#[test]
fn local_time_is_the_zones() -> TestResult {
    // Monday 2025-01-06 23:30 UTC is Tuesday 08:30 at +09:00...
    let now = utc(2025, 1, 6, 23, 30, 0)?;
    assert_eq!(
        LocalMoment::at(now, &TimeZone::fixed(offset(9))),
        at(1, 8, 30)
    );
    // ...Sunday 22:30 the day before at -05:00 (New York in winter)...
    let new_york = TimeZone::posix("EST5EDT,M3.2.0,M11.1.0")?;
    assert_eq!(
        LocalMoment::at(utc(2025, 1, 6, 3, 30, 0)?, &new_york),
        at(6, 22, 30)
    );
    // ...and in Paris 00:30 on Tuesday in winter (+01:00), 01:30 in summer (+02:00).
    assert_eq!(LocalMoment::at(now, &paris()?), at(1, 0, 30));
    assert_eq!(
        LocalMoment::at(utc(2025, 7, 7, 23, 30, 0)?, &paris()?),
        at(1, 1, 30)
    );
    Ok(())
}
