use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::*;

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

// --- registered_domain ---

#[test]
fn registered_domain_of_common_and_multi_part_suffixes() {
    let cases = [
        ("www.example.com", Some("example.com")),
        ("example.com", Some("example.com")),
        ("a.b.c.example.com", Some("example.com")),
        ("WWW.Example.COM.", Some("example.com")),
        ("www.bbc.co.uk", Some("bbc.co.uk")),
        ("news.bbc.co.uk.", Some("bbc.co.uk")),
        ("shop.example.com.au", Some("example.com.au")),
        // Private section of the list: each user's site is its own domain.
        ("foo.github.io", Some("foo.github.io")),
        ("x.foo.github.io", Some("foo.github.io")),
        // Not in the list: the default rule makes the last label a suffix.
        ("paeacg2y.pirate.sea", Some("pirate.sea")),
        ("1.0.168.192.in-addr.arpa", None),
        ("b.a.9.8.ip6.arpa", None),
        ("router.home.arpa", None),
        ("printer.local", None),
        ("localhost", None),
        ("wpad", None),
        ("co.uk", None),
        ("com", None),
        ("", None),
        (".", None),
        ("a..example.com", None),
    ];
    for (name, expected) in cases {
        assert_eq!(
            registered_domain(name).as_deref(),
            expected,
            "registered_domain({name:?})"
        );
    }
}

// --- PassiveDns ---

fn answer_for(name: &str, addrs: &[IpAddr]) -> DnsAnswer {
    DnsAnswer {
        name: name.to_owned(),
        qtype: 1,
        rcode: 0,
        addrs: addrs.to_vec(),
        min_ttl_secs: Some(60),
    }
}

#[test]
fn names_per_address_are_capped_least_recent_out() {
    let addr = v4(203, 0, 113, 9);
    let mut pdns = PassiveDns::new(16, 4);
    for (i, name) in [
        "a.example.com",
        "b.example.com",
        "c.example.com",
        "d.example.com",
    ]
    .iter()
    .enumerate()
    {
        pdns.record(&answer_for(name, &[addr]), t(i as u64));
    }
    // a.example.com seen again: it becomes the most recent, b the oldest.
    pdns.record(&answer_for("A.example.com.", &[addr]), t(10));
    pdns.record(&answer_for("e.example.net", &[addr]), t(11));
    let names: Vec<&str> = pdns
        .names_of(addr)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "e.example.net",
            "a.example.com",
            "d.example.com",
            "c.example.com"
        ]
    );
    assert_eq!(pdns.names_of(addr)[1].at, t(10));
    assert_eq!(pdns.names_evicted(), 1);
    assert_eq!(pdns.domain_of(addr).as_deref(), Some("example.net"));
    assert_eq!(
        pdns.stats(),
        DetectorStats {
            tracked: 1,
            evicted: 1
        }
    );
}

#[test]
fn addresses_are_capped_least_recently_seen_out() {
    let (a, b, c) = (v4(192, 0, 2, 1), v4(192, 0, 2, 2), v4(192, 0, 2, 3));
    let mut pdns = PassiveDns::new(2, 4);
    pdns.record(&answer_for("one.example.com", &[a]), t(1));
    pdns.record(&answer_for("two.example.com", &[b]), t(2));
    pdns.record(&answer_for("one.example.com", &[a]), t(3));
    pdns.record(&answer_for("three.example.com", &[c]), t(4));
    assert!(pdns.names_of(b).is_empty(), "b was the least recently seen");
    assert_eq!(pdns.names_of(a).len(), 1);
    assert_eq!(pdns.domain_of(c).as_deref(), Some("example.com"));
    assert_eq!(pdns.addrs_evicted(), 1);
    assert_eq!(
        pdns.stats(),
        DetectorStats {
            tracked: 2,
            evicted: 1
        }
    );
}

#[test]
fn one_answer_many_addresses_and_domain_fallback() {
    let (a, b) = (v4(198, 51, 100, 1), v4(198, 51, 100, 2));
    let mut pdns = PassiveDns::default();
    pdns.record(&answer_for("api.example.co.uk", &[a, b]), t(1));
    // A later name without a registered domain: the earlier one is used.
    pdns.record_addrs("gateway.local", &[a], t(2));
    assert_eq!(pdns.names_of(a)[0].name, "gateway.local");
    assert_eq!(pdns.domain_of(a).as_deref(), Some("example.co.uk"));
    assert_eq!(pdns.domain_of(b).as_deref(), Some("example.co.uk"));
    // Nothing recorded for an answer without addresses, or an empty name.
    pdns.record(&answer_for("nx.example.com", &[]), t(3));
    pdns.record_addrs("", &[v4(198, 51, 100, 3)], t(3));
    assert_eq!(pdns.stats().tracked, 2);
    assert_eq!(pdns.domain_of(v4(198, 51, 100, 3)), None);
}
