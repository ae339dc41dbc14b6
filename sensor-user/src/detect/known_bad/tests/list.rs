//! Parsing list files and matching addresses and names.

use std::sync::Arc;

use super::{day, ip, site, TestResult, JAN_1_2024};
use crate::{
    detect::{
        known_bad::{
            parse::parse_date, Entry, Infrastructure, ListError, ListProblem, ListSet, Target,
        },
        Site,
    },
    net::Cidr,
};

const SAMPLE: &str = "\
# C2 servers from the incident of March
203.0.113.7          2024-03-02
198.51.100.0/24      2024-01-15   # bulletproof hosting
2001:db8:bad::/48

evil.example.        # a final dot is dropped
\tSub.Evil.Org 2024-02-29
";

#[test]
fn dates_are_midnight_utc_and_validated() -> TestResult {
    assert_eq!(parse_date("1970-01-01")?, day(0));
    assert_eq!(parse_date("2024-01-01")?, day(JAN_1_2024));
    // 31 days of January and 29 of February 2024 later.
    assert_eq!(parse_date("2024-03-02")?, day(JAN_1_2024 + 31 + 29 + 1));
    assert_eq!(parse_date("2000-03-01")?, day(11_017));
    assert_eq!(parse_date("2024-02-29")?, day(JAN_1_2024 + 31 + 28));
    for bad in [
        "2023-02-29",
        "2024-13-01",
        "2024-00-10",
        "2024-04-31",
        "1969-12-31",
        "2024-3-02",
        "2024/03/02",
        "+024-03-02",
        "20240302",
        "2024-03-02T00",
    ] {
        assert!(parse_date(bad).is_err(), "{bad}");
    }
    Ok(())
}

#[test]
fn each_entry_kind_with_and_without_dates() -> TestResult {
    let file_date = day(JAN_1_2024 + 100);
    let set = ListSet::parse("c2.txt", SAMPLE, file_date)?;
    assert_eq!(set.len(), 5);
    assert_eq!(set.list_count(), 1);
    assert_eq!(set.list_name(0), Some("c2.txt"));
    assert_eq!(set.list_name(1), None);
    let expected = [
        (
            2,
            Target::Prefix("203.0.113.7".parse::<Cidr>()?),
            day(JAN_1_2024 + 61),
        ),
        (
            3,
            Target::Prefix("198.51.100.0/24".parse()?),
            day(JAN_1_2024 + 14),
        ),
        (4, Target::Prefix("2001:db8:bad::/48".parse()?), file_date),
        (6, Target::Domain(Arc::from("evil.example")), file_date),
        (
            7,
            Target::Domain(Arc::from("sub.evil.org")),
            day(JAN_1_2024 + 59),
        ),
    ];
    for (entry, (line, target, listed)) in set.entries().iter().zip(expected) {
        assert_eq!(
            entry,
            &Entry {
                list: 0,
                line,
                target,
                listed
            }
        );
    }
    // As the operator reads them back.
    let texts: Vec<String> = set.entries().iter().map(|e| e.target.to_string()).collect();
    assert_eq!(
        texts,
        [
            "203.0.113.7",
            "198.51.100.0/24",
            "2001:db8:bad::/48",
            "evil.example",
            "sub.evil.org"
        ]
    );
    Ok(())
}

#[test]
fn blank_and_comment_only_text_is_an_empty_list() -> TestResult {
    let set = ListSet::parse(
        "empty.txt",
        "\u{feff}# nothing yet\n\n   \n# 1.2.3.4\n",
        day(0),
    )?;
    assert!(set.is_empty());
    assert_eq!(set.list_count(), 1);
    Ok(())
}

#[test]
fn a_malformed_line_names_the_file_and_line() {
    let cases = [
        ("10.0.0.5/24", "host bits"),
        ("10.0.0.0/33", "prefix length"),
        ("1.2.3", "invalid address"),
        ("evil.com 2024-13-01", "no such day"),
        ("evil.com 2024-02-30", "no such day"),
        ("evil.com March", "expected YYYY-MM-DD"),
        ("evil.com 2024-03-02 extra", "unexpected \"extra\""),
        // A hosts-file line: the name is taken for a date.
        ("0.0.0.0 evil.com", "invalid date \"evil.com\""),
        ("com", "at least two labels"),
        ("*.evil.com", "without \"*.\""),
        ("évil.com", "not ASCII"),
        ("ev!l.com", "'!' in a name"),
        ("a..b.com", "empty label"),
        ("example.123", "never numeric"),
        ("https://evil.com/x", "invalid address"),
    ];
    for (line, expected) in cases {
        let text = format!("# header\n203.0.113.7\n{line}\n198.51.100.1\n");
        match ListSet::parse("lists/bad.txt", &text, day(0)) {
            Err(error @ ListError::Line { line: 3, .. }) => {
                let message = error.to_string();
                assert!(message.starts_with("lists/bad.txt:3: "), "{message}");
                assert!(message.contains(expected), "{line}: {message}");
            }
            other => panic!("{line}: {other:?}"),
        }
    }
}

#[test]
fn domains_match_label_wise() -> TestResult {
    let set = ListSet::parse("d.txt", "evil.com\n", day(0))?;
    let site = Site::default();
    for name in [
        "evil.com",
        "a.evil.com",
        "x.y.evil.com",
        "A.EVIL.COM.",
        "evil.com.",
    ] {
        assert!(set.match_name(name, &site).is_some(), "{name}");
    }
    for name in [
        "notevil.com",
        "evil.com.au",
        "evil.co",
        "com",
        "",
        ".",
        "evil",
    ] {
        assert!(set.match_name(name, &site).is_none(), "{name}");
    }
    Ok(())
}

#[test]
fn the_longest_domain_wins() -> TestResult {
    let set = ListSet::parse("d.txt", "evil.com\nc2.evil.com\n", day(0))?;
    let site = Site::default();
    assert_eq!(
        set.match_name("x.c2.evil.com", &site).map(|e| e.line),
        Some(2)
    );
    assert_eq!(
        set.match_name("www.evil.com", &site).map(|e| e.line),
        Some(1)
    );
    Ok(())
}

#[test]
fn prefixes_match_longest_first() -> TestResult {
    let text = "198.51.100.0/24\n198.51.100.7\n2001:db8:bad::/48\n0.0.0.0/1\n";
    let set = ListSet::parse("p.txt", text, day(0))?;
    let site = Site::default();
    let line = |addr| -> Result<Option<u32>, Box<dyn std::error::Error>> {
        Ok(set.match_addr(ip(addr)?, &site).map(|e| e.line))
    };
    assert_eq!(line("198.51.100.7")?, Some(2));
    assert_eq!(line("198.51.100.8")?, Some(1));
    assert_eq!(line("198.51.100.255")?, Some(1));
    // 198 is above 127: outside 0.0.0.0/1 (0.0.0.0 to 127.255.255.255).
    assert_eq!(line("198.51.101.1")?, None);
    assert_eq!(line("10.0.0.1")?, Some(4));
    assert_eq!(line("127.255.255.255")?, Some(4));
    assert_eq!(line("128.0.0.0")?, None);
    assert_eq!(line("2001:db8:bad:1::5")?, Some(3));
    assert_eq!(line("2001:db8:bae::1")?, None);
    // An IPv4 prefix never matches an IPv6 address, nor the reverse.
    assert_eq!(line("::ffff:198.51.100.7")?, None);
    Ok(())
}

#[test]
fn among_duplicates_the_newest_listing_wins() -> TestResult {
    let text = "203.0.113.7 2023-05-01\n203.0.113.7 2024-01-01\n203.0.113.7 2023-12-01\n";
    let set = ListSet::parse("dup.txt", text, day(0))?;
    let entry = set.match_addr(ip("203.0.113.7")?, &Site::default());
    assert_eq!(
        entry.map(|e| (e.line, e.listed)),
        Some((2, day(JAN_1_2024)))
    );
    Ok(())
}

#[test]
fn entry_age_is_whole_days_and_never_negative() -> TestResult {
    let set = ListSet::parse("a.txt", "203.0.113.7 2024-01-01\n", day(0))?;
    let entry = set.entries().first().ok_or("no entry")?;
    assert_eq!(entry.age_days(day(JAN_1_2024)), 0);
    assert_eq!(
        entry.age_days(day(JAN_1_2024 + 1) - std::time::Duration::from_secs(1)),
        0
    );
    assert_eq!(entry.age_days(day(JAN_1_2024 + 1)), 1);
    assert_eq!(entry.age_days(day(JAN_1_2024 + 365)), 365);
    // Listed "after" the observation (a clock or a date ahead): age 0.
    assert_eq!(entry.age_days(day(JAN_1_2024 - 3)), 0);
    Ok(())
}

#[test]
fn infrastructure_entries_are_problems_and_never_match() -> TestResult {
    let text = "\
192.0.2.0/24          # holds the resolver 192.0.2.53 (and the gateway)
203.0.113.200         # the collector
10.0.0.0/8            # covers the protected 10.1.0.0/16
10.1.2.0/24           # inside it: allowed
198.51.100.1
192.0.2.1             # the gateway
";
    let site = site()?;
    let set = ListSet::parse("intel.txt", text, day(0))?;
    let problem = |line, entry: &str, infrastructure| ListProblem {
        list: 0,
        list_name: "intel.txt".to_owned(),
        line,
        entry: entry.to_owned(),
        infrastructure,
    };
    let problems = set.problems(&site);
    assert_eq!(
        problems,
        [
            problem(
                1,
                "192.0.2.0/24",
                Infrastructure::Resolver(ip("192.0.2.53")?)
            ),
            problem(
                2,
                "203.0.113.200",
                Infrastructure::Collector(ip("203.0.113.200")?)
            ),
            problem(
                3,
                "10.0.0.0/8",
                Infrastructure::Protected("10.1.0.0/16".parse()?)
            ),
            problem(6, "192.0.2.1", Infrastructure::Gateway(ip("192.0.2.1")?)),
        ]
    );
    assert_eq!(
        problems.first().map(ToString::to_string).as_deref(),
        Some(
            "intel.txt:1: 192.0.2.0/24 covers the site's resolver 192.0.2.53; the entry is ignored"
        )
    );
    for addr in [
        "192.0.2.53",
        "192.0.2.77",
        "203.0.113.200",
        "10.200.0.1",
        "192.0.2.1",
    ] {
        assert!(set.match_addr(ip(addr)?, &site).is_none(), "{addr}");
    }
    assert_eq!(
        set.match_addr(ip("10.1.2.3")?, &site).map(|e| e.line),
        Some(4)
    );
    assert_eq!(
        set.match_addr(ip("198.51.100.1")?, &site).map(|e| e.line),
        Some(5)
    );
    // Without a site, the same entries match.
    assert_eq!(
        set.match_addr(ip("192.0.2.77")?, &Site::default())
            .map(|e| e.line),
        Some(1)
    );
    Ok(())
}

#[test]
fn too_many_entries_are_refused() {
    let text = "203.0.113.7\n".repeat(ListSet::MAX_ENTRIES + 1);
    assert!(matches!(
        ListSet::parse("huge.txt", &text, day(0)),
        Err(ListError::TooMany {
            max: ListSet::MAX_ENTRIES,
            ..
        })
    ));
}
