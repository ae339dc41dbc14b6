//! The detector: learning, MAC classes, scores.

use std::{net::IpAddr, time::SystemTime};

use super::{after, ip, t0, TestResult, DAY};
use crate::detect::{
    new_device::{Inventory, Mac, MacKind, NewDevice, NewDeviceSettings},
    Detect, Detector, DetectorStats, Fact, Finding, Observation, Seen, Site,
};

const VENDOR_A: [u8; 6] = [0x3c, 0x22, 0xfb, 0x01, 0x02, 0x03];
const VENDOR_B: [u8; 6] = [0x3c, 0x22, 0xfb, 0x0a, 0x0b, 0x0c];
const VENDOR_C: [u8; 6] = [0x00, 0x1b, 0x21, 0x00, 0x00, 0x01];
/// 0x02, 0x06, 0x0a, 0xfe: the locally administered bit set.
const RANDOM_1: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x01];
const RANDOM_2: [u8; 6] = [0x06, 0x11, 0x22, 0x33, 0x44, 0x02];
const RANDOM_3: [u8; 6] = [0x0a, 0x11, 0x22, 0x33, 0x44, 0x03];
const ZERO: [u8; 6] = [0; 6];

fn device(at: SystemTime, host: IpAddr, mac: [u8; 6]) -> Observation {
    Observation {
        at,
        seen: Seen::Device { host, mac, vlan: 0 },
    }
}

fn see(
    d: &mut NewDevice,
    at: SystemTime,
    host: &str,
    mac: [u8; 6],
) -> Result<Vec<Finding>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    d.observe(&device(at, ip(host)?, mac), &Site::default(), &mut out);
    Ok(out)
}

/// Scores of what `see` reported.
fn scores(found: &[Finding]) -> Vec<u8> {
    found.iter().map(|f| f.score).collect()
}

fn fresh() -> NewDevice {
    NewDevice::new(NewDeviceSettings::default(), Inventory::new(t0()))
}

#[test]
fn settings_defaults_and_checks() {
    let defaults = NewDeviceSettings::default();
    assert!(defaults.check().is_empty());
    assert_eq!(defaults.learning.0.as_secs(), 7 * DAY);
    assert_eq!(defaults.max_entries, 65_536);
    let bad = NewDeviceSettings {
        learning: crate::config::duration::HumanDuration(std::time::Duration::from_secs(366 * DAY)),
        max_entries: 15,
        universal_mac_score: 101,
        random_mac_score: 45,
        address_only_score: 200,
        known_mac_new_address_score: 20,
    };
    let keys: Vec<&str> = bad.check().into_iter().map(|(key, _)| key).collect();
    assert_eq!(
        keys,
        [
            "learning",
            "max_entries",
            "universal_mac_score",
            "address_only_score"
        ]
    );
}

#[test]
fn mac_kinds() {
    assert_eq!(MacKind::of(Mac(VENDOR_A)), MacKind::Universal);
    assert_eq!(MacKind::of(Mac(VENDOR_C)), MacKind::Universal);
    for random in [RANDOM_1, RANDOM_2, RANDOM_3, [0xfe, 0, 0, 0, 0, 0]] {
        assert_eq!(MacKind::of(Mac(random)), MacKind::Local);
    }
    // 0x01 (group bit) alone is not local.
    assert_eq!(MacKind::of(Mac([0x01, 0, 0, 0, 0, 1])), MacKind::Universal);
    assert_eq!(MacKind::of(Mac(ZERO)), MacKind::Zero);
}

#[test]
fn nothing_is_reported_while_learning_and_everything_is_recorded() -> TestResult {
    let mut d = fresh();
    assert_eq!(d.learning_until(), after(7 * DAY));
    // Before the creation (a clock step back) and up to the last second.
    assert!(see(
        &mut d,
        t0() - std::time::Duration::from_secs(60),
        "10.1.0.4",
        VENDOR_C
    )?
    .is_empty());
    assert!(see(&mut d, t0(), "10.1.0.5", VENDOR_A)?.is_empty());
    assert!(see(&mut d, after(7 * DAY - 1), "10.1.0.6", RANDOM_1)?.is_empty());
    assert!(d.is_learning(after(7 * DAY - 1)));
    assert!(!d.is_learning(after(7 * DAY)));
    let inventory = d.inventory();
    assert_eq!((inventory.address_count(), inventory.mac_count()), (3, 3));
    assert_eq!(
        inventory.address(ip("10.1.0.4")?).map(|s| s.first_seen),
        Some(t0() - std::time::Duration::from_secs(60))
    );
    assert_eq!(
        d.stats(),
        DetectorStats {
            tracked: 6,
            evicted: 0
        }
    );

    // At the end of the learning period exactly: a new vendor MAC notifies.
    let found = see(&mut d, after(7 * DAY), "10.1.0.7", VENDOR_B)?;
    let [finding] = found.as_slice() else {
        panic!("{found:?}");
    };
    assert_eq!(finding.at, after(7 * DAY));
    assert_eq!(finding.detector, Detector::NewDevice);
    assert_eq!(finding.host, ip("10.1.0.7")?);
    assert_eq!(
        (finding.peer, finding.domain.as_deref(), finding.port),
        (None, None, None)
    );
    assert_eq!(finding.score, 65);
    assert_eq!(finding.explanation.fact(Fact::LocalMac), Some(0.0));
    assert_eq!(finding.explanation.fact(Fact::LearnedDays), Some(7.0));
    assert_eq!(finding.explanation.observed, 7.0);
    assert_eq!(finding.explanation.threshold, 7.0);
    assert_eq!(finding.explanation.window_secs, 604_800);
    // 50 + 7 * 5 / 3 = 61.
    assert_eq!(finding.explanation.confidence, 61);

    // Seen again: known.
    assert!(see(&mut d, after(8 * DAY), "10.1.0.7", VENDOR_B)?.is_empty());
    // What was learnt stays known.
    assert!(see(&mut d, after(8 * DAY), "10.1.0.5", VENDOR_A)?.is_empty());
    assert!(see(&mut d, after(8 * DAY), "10.1.0.6", RANDOM_1)?.is_empty());
    // Confidence is full after 30 days: 50 + 30 * 5 / 3.
    let found = see(
        &mut d,
        after(30 * DAY + 5),
        "10.1.0.8",
        VENDOR_C.map(|b| b ^ 0x10),
    )?;
    assert_eq!(
        found
            .iter()
            .map(|f| f.explanation.confidence)
            .collect::<Vec<_>>(),
        [100]
    );
    Ok(())
}

#[test]
fn a_new_vendor_mac_on_a_known_address_notifies() -> TestResult {
    let mut d = fresh();
    see(&mut d, t0(), "10.1.0.1", VENDOR_A)?;
    // Someone else answers for 10.1.0.1 (a replaced device, or a takeover).
    assert_eq!(
        scores(&see(&mut d, after(9 * DAY), "10.1.0.1", VENDOR_B)?),
        [65]
    );
    Ok(())
}

#[test]
fn a_known_mac_on_a_new_address_is_a_lease_change() -> TestResult {
    let mut d = fresh();
    see(&mut d, t0(), "10.1.0.5", VENDOR_A)?;
    // IPv4: reported below the digest.
    let found = see(&mut d, after(9 * DAY), "10.1.0.50", VENDOR_A)?;
    assert_eq!(scores(&found), [20]);
    // IPv6: temporary addresses rotate; never reported.
    assert!(see(&mut d, after(9 * DAY), "2001:db8::1234", VENDOR_A)?.is_empty());
    assert!(see(
        &mut d,
        after(10 * DAY),
        "fe80::3e22:fbff:fe01:203",
        VENDOR_A
    )?
    .is_empty());
    assert_eq!(d.inventory().address_count(), 4);
    Ok(())
}

#[test]
fn random_macs_are_a_class() -> TestResult {
    let mut d = fresh();
    see(&mut d, t0(), "10.1.0.20", RANDOM_1)?;
    // A new random MAC on a known address: the same phone, rotated.
    assert!(see(&mut d, after(8 * DAY), "10.1.0.20", RANDOM_2)?.is_empty());
    // A new random MAC on a new address: the digest.
    let found = see(&mut d, after(8 * DAY), "10.1.0.21", RANDOM_3)?;
    assert_eq!(scores(&found), [45]);
    assert_eq!(
        found
            .first()
            .and_then(|f| f.explanation.fact(Fact::LocalMac)),
        Some(1.0)
    );
    // A known random MAC on a new address: a lease change.
    assert_eq!(
        scores(&see(&mut d, after(9 * DAY), "10.1.0.22", RANDOM_2)?),
        [20]
    );
    // A new random MAC on a new IPv6 address: still the digest.
    let random_4 = [0x0e, 0, 0, 0, 0, 4];
    assert_eq!(
        scores(&see(&mut d, after(9 * DAY), "2001:db8::99", random_4)?),
        [45]
    );
    Ok(())
}

#[test]
fn all_zero_macs_are_judged_by_address_alone() -> TestResult {
    let mut d = fresh();
    see(&mut d, t0(), "10.9.0.1", ZERO)?;
    assert_eq!(d.inventory().mac_count(), 0);
    assert!(see(&mut d, after(8 * DAY), "10.9.0.1", ZERO)?.is_empty());
    let found = see(&mut d, after(8 * DAY), "10.9.0.2", ZERO)?;
    assert_eq!(scores(&found), [45]);
    assert_eq!(
        found
            .first()
            .and_then(|f| f.explanation.fact(Fact::LocalMac)),
        Some(0.0)
    );
    assert_eq!(
        scores(&see(&mut d, after(8 * DAY), "2001:db8::2", ZERO)?),
        [45]
    );
    assert_eq!(d.inventory().mac_count(), 0);
    Ok(())
}

#[test]
fn a_zero_score_turns_a_class_off() -> TestResult {
    let settings = NewDeviceSettings {
        universal_mac_score: 0,
        known_mac_new_address_score: 0,
        ..NewDeviceSettings::default()
    };
    let mut d = NewDevice::new(settings, Inventory::new(t0()));
    see(&mut d, t0(), "10.1.0.5", VENDOR_A)?;
    assert!(see(&mut d, after(8 * DAY), "10.1.0.6", VENDOR_B)?.is_empty());
    assert!(see(&mut d, after(8 * DAY), "10.1.0.7", VENDOR_A)?.is_empty());
    assert_eq!(
        scores(&see(&mut d, after(8 * DAY), "10.1.0.8", RANDOM_1)?),
        [45]
    );
    Ok(())
}

#[test]
fn other_observations_are_ignored() -> TestResult {
    let mut d = fresh();
    let mut out = Vec::new();
    let query = Observation {
        at: after(8 * DAY),
        seen: Seen::DnsQuery {
            host: ip("10.1.0.5")?,
            resolver: ip("192.0.2.53")?,
            name: "example.com".to_owned(),
            qtype: 1,
            truncated: false,
        },
    };
    d.observe(&query, &Site::default(), &mut out);
    d.tick(after(8 * DAY), &Site::default(), &mut out);
    assert!(out.is_empty());
    assert_eq!(
        d.stats(),
        DetectorStats {
            tracked: 0,
            evicted: 0
        }
    );
    Ok(())
}

#[test]
fn the_cap_evicts_the_least_recently_seen_and_counts() -> TestResult {
    let settings = NewDeviceSettings {
        max_entries: 2,
        ..NewDeviceSettings::default()
    };
    let mut d = NewDevice::new(settings, Inventory::new(t0()));
    see(&mut d, after(1), "10.1.0.1", VENDOR_A)?;
    see(&mut d, after(2), "10.1.0.2", VENDOR_B)?;
    // 10.1.0.1 and VENDOR_A seen again: 10.1.0.2 and VENDOR_B are the oldest.
    see(&mut d, after(3), "10.1.0.1", VENDOR_A)?;
    see(&mut d, after(4), "10.1.0.3", VENDOR_C)?;
    let inventory = d.inventory();
    assert!(inventory.address(ip("10.1.0.2")?).is_none());
    assert!(inventory.mac(Mac(VENDOR_B)).is_none());
    assert!(inventory.address(ip("10.1.0.1")?).is_some());
    assert_eq!(
        d.stats(),
        DetectorStats {
            tracked: 4,
            evicted: 2
        }
    );
    // An evicted device is new again after learning.
    assert_eq!(
        scores(&see(&mut d, after(8 * DAY), "10.1.0.2", VENDOR_B)?),
        [65]
    );
    assert_eq!(
        d.stats(),
        DetectorStats {
            tracked: 4,
            evicted: 4
        }
    );
    Ok(())
}
