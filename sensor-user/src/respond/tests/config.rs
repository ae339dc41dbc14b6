//! `[response]` as read from a file: defaults, values, errors naming the
//! field and its line.

use std::{path::Path, time::Duration};

use super::TestResult;
use crate::config::{
    response::{ClockTime, DaySet, HourRange, ResponseMode},
    Config, ConfigError,
};

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, Path::new("test.toml"))
}

/// (line, field, message) of the error `text` gives; line 0 and the
/// outcome as the field when it gives none.
fn invalid(text: &str) -> (usize, String, String) {
    match parse(text) {
        Err(ConfigError::Invalid {
            line,
            field,
            message,
            ..
        }) => (line, field, message),
        other => (
            0,
            format!("expected an invalid config, got {other:?}"),
            String::new(),
        ),
    }
}

#[test]
fn defaults_never_block_and_notify_at_60() -> TestResult {
    let response = parse("")?.response;
    assert_eq!(response.mode, ResponseMode::Enforce);
    assert_eq!(response.timezone, None);
    assert_eq!(
        (response.block_at, response.notify_at, response.digest_at),
        (101, 60, 30)
    );
    assert_eq!(response.block_ttl.0, Duration::from_secs(3600));
    assert_eq!(
        (
            response.max_active_blocks,
            response.max_new_blocks_per_minute
        ),
        (64, 10)
    );
    assert_eq!(response.digest_at_time, ClockTime(420));
    assert!(response.schedule.is_empty() && response.never_block.is_empty());
    Ok(())
}

#[test]
fn a_full_section_is_read_and_printed_back() -> TestResult {
    let config = parse(concat!(
        "[response]\n",
        "mode = \"shadow\"\n",
        "timezone = \"UTC\"\n",
        "block_at = 90\n",
        "never_block = [\"10.0.0.0/24\", \"192.0.2.7\"]\n",
        "digest_at_time = \"06:30\"\n",
        "[[response.schedule]]\n",
        "name = \"night\"\n",
        "days = [\"mon-fri\", \"sun\"]\n",
        "hours = \"22:00-06:00\"\n",
        "block_at = 85\n",
        "[[response.schedule]]\n",
        "days = [\"fri-mon\"]\n",
    ))?;
    let response = &config.response;
    assert_eq!(response.mode, ResponseMode::Shadow);
    assert_eq!(response.timezone.as_deref(), Some("UTC"));
    assert_eq!(response.never_block[1].to_string(), "192.0.2.7/32");
    assert_eq!(response.digest_at_time, ClockTime(390));
    let night = &response.schedule[0];
    // Monday to Friday: bits 0-4 (0x1f); Sunday: bit 6 (0x40).
    assert_eq!(night.days, DaySet(0x5f));
    assert_eq!((night.hours.start.0, night.hours.end.0), (1320, 360));
    assert_eq!((night.block_at, night.notify_at), (Some(85), None));
    // Friday, Saturday, Sunday, Monday: bits 4, 5, 6, 0.
    let second = &response.schedule[1];
    assert_eq!(second.days, DaySet(0x71));
    assert_eq!(second.hours, HourRange::ALL_DAY);
    assert_eq!(response.schedule_name(1), "schedule2");
    let printed = config.to_toml();
    assert!(
        printed.contains("days = [\"mon-fri\", \"sun\"]"),
        "{printed}"
    );
    assert!(
        printed.contains("days = [\"mon\", \"fri-sun\"]"),
        "{printed}"
    );
    assert!(printed.contains("hours = \"22:00-06:00\""), "{printed}");
    assert_eq!(parse(&printed)?, config);
    Ok(())
}

#[test]
fn days_and_hours_parse_exactly() {
    assert_eq!(DaySet::parse(&["Sat", "sun"]), Ok(DaySet(0x60)));
    assert_eq!(DaySet::parse(&["mon-sun"]), Ok(DaySet::ALL));
    assert_eq!(DaySet::parse(&["wed-wed"]), Ok(DaySet(0x04)));
    assert!(DaySet::parse::<&str>(&[]).is_err());
    assert!(DaySet::parse(&["monday"]).is_err());
    assert!(DaySet::parse(&["mon-"]).is_err());
    let range = |text: &str| HourRange::parse(text).map(|r| (r.start.0, r.end.0));
    assert_eq!(range("08:00-18:00"), Ok((480, 1080)));
    assert_eq!(range("00:00-24:00"), Ok((0, 1440)));
    assert_eq!(range("23:59-00:01"), Ok((1439, 1)));
    for bad in [
        "00:00-00:00",
        "8:00-18:00",
        "08:00",
        "24:00-06:00",
        "08:60-09:00",
        "08:00-24:01",
    ] {
        assert!(HourRange::parse(bad).is_err(), "{bad}");
    }
    assert!(ClockTime::parse("24:00", false).is_err());
    assert_eq!(ClockTime::parse("23:59", false), Ok(ClockTime(1439)));
}

#[test]
fn an_unknown_time_zone_names_the_field_and_line() {
    let (line, field, message) =
        invalid("[response]\nmode = \"enforce\"\ntimezone = \"Mars/Olympus_Mons\"\n");
    assert_eq!((line, field.as_str()), (3, "response.timezone"));
    assert!(
        message.contains("unknown time zone \"Mars/Olympus_Mons\""),
        "{message}"
    );
}

#[test]
fn out_of_range_values_name_their_field_and_line() {
    for (text, line, field, part) in [
        (
            "[response]\nblock_at = 0\n",
            2,
            "response.block_at",
            "0 is outside 1..=101",
        ),
        (
            "[response]\n\nnotify_at = 102\n",
            3,
            "response.notify_at",
            "102 is outside 1..=101",
        ),
        (
            "[response]\ndigest_at = 61\n",
            2,
            "response.digest_at",
            "61 is above notify_at (60)",
        ),
        (
            "[response]\nblock_ttl = \"30s\"\n",
            2,
            "response.block_ttl",
            "30s is outside 1m..=7d",
        ),
        (
            "[response]\nblock_ttl = \"8d\"\n",
            2,
            "response.block_ttl",
            "8d is outside 1m..=7d",
        ),
        (
            "[response]\nmax_active_blocks = 0\n",
            2,
            "response.max_active_blocks",
            "outside 1..=65536",
        ),
        (
            "[response]\nmax_new_blocks_per_minute = 1001\n",
            2,
            "response.max_new_blocks_per_minute",
            "outside 1..=1000",
        ),
        (
            "[response]\nmode = \"block\"\n",
            2,
            "response.mode",
            "unknown variant",
        ),
        (
            "[response]\ndigest_at_time = \"24:00\"\n",
            2,
            "response.digest_at_time",
            "not a time of day",
        ),
        (
            "[response]\nnever_block = [\"10.0.0.1/8\"]\n",
            2,
            "response.never_block",
            "host bits",
        ),
        ("[response]\nblock_at = 256\n", 2, "response.block_at", ""),
    ] {
        let (got_line, got_field, message) = invalid(text);
        assert_eq!((got_line, got_field.as_str()), (line, field), "{text}");
        assert!(message.contains(part), "{text}: {message}");
    }
}

#[test]
fn schedule_problems_name_the_schedule_and_the_entry() {
    let header = "[response]\nblock_at = 90\n\n[[response.schedule]]\nname = \"night\"\n";
    for (entry, line, part) in [
        (
            "hours = \"25:00-01:00\"\n",
            6,
            "\"25:00\" is not a time of day",
        ),
        ("hours = \"06:00-06:00\"\n", 6, "is empty"),
        ("days = [\"monday\"]\n", 6, "\"monday\" is not a day"),
        ("days = []\n", 6, "no day listed"),
        ("blok_at = 0\n", 6, "unknown field `blok_at`"),
        // Found after parsing: the line of the first entry's header.
        (
            "block_at = 0\n",
            4,
            "entry 1 (night): block_at 0 is outside 1..=101",
        ),
        (
            "digest_at = 61\n",
            4,
            "entry 1 (night): digest_at 61 is above notify_at 60",
        ),
        (
            "[[response.schedule]]\nnotify_at = 20\n",
            4,
            "entry 2 (schedule2): digest_at 30 is above notify_at 20",
        ),
        (
            "[[response.schedule]]\nname = \"night\"\n",
            4,
            "entry 2 (night): name \"night\" is used twice",
        ),
        (
            "[[response.schedule]]\nname = \"late night\"\n",
            4,
            "entry 2 (late night): name \"late night\": letters, digits",
        ),
    ] {
        let text = format!("{header}{entry}");
        let (got_line, field, message) = invalid(&text);
        assert_eq!(
            (got_line, field.as_str()),
            (line, "response.schedule"),
            "{text}"
        );
        assert!(message.contains(part), "{text}: {message}");
    }
}

#[test]
fn the_example_schedule_reads() -> TestResult {
    // The commented schedule of example.toml, uncommented.
    let example = crate::config::EXAMPLE;
    let Some(at) = example.find("# [[response.schedule]]") else {
        return Err("example.toml has no schedule example".into());
    };
    let text = example[..at].to_owned() + &example[at..].replace("# ", "");
    let response = parse(&text)?.response;
    assert_eq!(response.schedule.len(), 2);
    assert_eq!(response.schedule_name(1), "off_hours");
    assert_eq!(response.schedule[1].block_at, Some(85));
    Ok(())
}
