//! The inventory: recording, caps, persistence (in a temporary directory).

use std::{os::unix::fs::PermissionsExt as _, path::PathBuf};

use super::{after, ip, t0, TestResult, DAY};
use crate::detect::new_device::{
    Inventory, InventoryError, Mac, NewDevice, NewDeviceSettings, Sighting,
};

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> std::io::Result<TempDir> {
        let dir =
            std::env::temp_dir().join(format!("vantage-inventory-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn macs_print_and_parse() -> TestResult {
    let mac = Mac([0x3c, 0x22, 0xfb, 0x01, 0x0a, 0xff]);
    assert_eq!(mac.to_string(), "3c:22:fb:01:0a:ff");
    assert_eq!("3C:22:FB:01:0A:FF".parse::<Mac>()?, mac);
    for bad in [
        "",
        "3c:22:fb:01:0a",
        "3c:22:fb:01:0a:ff:00",
        "3c-22-fb-01-0a-ff",
        "3c:22:fb:01:0a:f",
        "3c:22:fb:01:0a:gg",
        "+3:22:fb:01:0a:ff",
    ] {
        assert!(bad.parse::<Mac>().is_err(), "{bad}");
    }
    Ok(())
}

#[test]
fn recording_keeps_the_first_and_last_sighting() -> TestResult {
    let mut inventory = Inventory::new(t0());
    let addr = ip("10.1.0.5")?;
    assert!(inventory.record_address(addr, after(100)));
    assert!(!inventory.record_address(addr, after(300)));
    // Out of order: widens the span, never narrows it.
    assert!(!inventory.record_address(addr, after(50)));
    assert!(!inventory.record_address(addr, after(200)));
    assert_eq!(
        inventory.address(addr),
        Some(Sighting {
            first_seen: after(50),
            last_seen: after(300)
        })
    );
    Ok(())
}

#[test]
fn lowering_the_cap_trims_the_least_recently_seen() -> TestResult {
    let mut inventory = Inventory::new(t0());
    for (i, last) in [(1u8, 40u64), (2, 10), (3, 40), (4, 20), (5, 30)] {
        inventory.record_address(ip(&format!("10.1.0.{i}"))?, after(last));
    }
    inventory.set_max_entries(2);
    assert_eq!(inventory.evicted(), 3);
    assert_eq!(inventory.address_count(), 2);
    assert!(inventory.address(ip("10.1.0.1")?).is_some());
    assert!(inventory.address(ip("10.1.0.3")?).is_some());
    // 10.1.0.1 and 10.1.0.3 were both last seen at 40 s: ties go by
    // address, the lowest first.
    inventory.record_address(ip("10.1.0.9")?, after(60));
    assert_eq!(inventory.evicted(), 4);
    assert!(inventory.address(ip("10.1.0.1")?).is_none());
    assert!(inventory.address(ip("10.1.0.3")?).is_some());
    // NewDevice applies its settings' cap to a loaded inventory.
    let d = NewDevice::new(
        NewDeviceSettings {
            max_entries: 1,
            ..NewDeviceSettings::default()
        },
        inventory,
    );
    assert_eq!(d.inventory().max_entries(), 1);
    assert_eq!(d.inventory().address_count(), 1);
    assert_eq!(d.inventory().evicted(), 5);
    Ok(())
}

#[test]
fn a_full_table_evicts_its_oldest_sixty_fourth_at_once() -> TestResult {
    let mut inventory = Inventory::new(t0());
    inventory.set_max_entries(128);
    for i in 0..128u64 {
        inventory.record_address(ip(&format!("10.1.0.{i}"))?, after(i));
    }
    assert_eq!((inventory.address_count(), inventory.evicted()), (128, 0));
    // Full: 128 / 64 = 2 evicted, the two least recently seen.
    inventory.record_address(ip("10.2.0.1")?, after(500));
    assert_eq!((inventory.address_count(), inventory.evicted()), (127, 2));
    assert!(inventory.address(ip("10.1.0.0")?).is_none());
    assert!(inventory.address(ip("10.1.0.1")?).is_none());
    assert!(inventory.address(ip("10.1.0.2")?).is_some());
    // Room for one more before the next batch.
    inventory.record_address(ip("10.2.0.2")?, after(501));
    assert_eq!((inventory.address_count(), inventory.evicted()), (128, 2));
    inventory.record_address(ip("10.2.0.3")?, after(502));
    assert_eq!((inventory.address_count(), inventory.evicted()), (127, 4));
    Ok(())
}

#[test]
fn the_inventory_survives_a_save_and_load() -> TestResult {
    let dir = TempDir::new("roundtrip")?;
    let path = dir.0.join("inventory.json");
    assert!(Inventory::load(&path)?.is_none());

    let mut inventory = Inventory::new(t0());
    inventory.record_address(ip("10.1.0.5")?, after(60));
    inventory.record_address(ip("10.1.0.5")?, after(3 * DAY));
    inventory.record_address(ip("2001:db8::5")?, after(120));
    inventory.record_mac(Mac([0x3c, 0x22, 0xfb, 0x01, 0x02, 0x03]), after(60));
    inventory.record_mac(Mac([0x02, 0, 0, 0, 0, 1]), after(90));
    inventory.save(&path)?;
    let loaded = Inventory::load(&path)?.ok_or("no inventory")?;
    assert_eq!(loaded, inventory);
    assert_eq!(loaded.created(), t0());
    assert_eq!(
        loaded.address(ip("10.1.0.5")?),
        Some(Sighting {
            first_seen: after(60),
            last_seen: after(3 * DAY)
        })
    );

    let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let names: Vec<String> = std::fs::read_dir(&dir.0)?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert_eq!(names, ["inventory.json"]);
    let text = std::fs::read_to_string(&path)?;
    assert!(
        text.contains(r#""created":"2024-01-01T00:00:00Z""#),
        "{text}"
    );
    assert!(text.contains(r#"{"mac":"3c:22:fb:01:02:03","first_seen":"2024-01-01T00:01:00Z","last_seen":"2024-01-01T00:01:00Z"}"#), "{text}");

    // Saving again replaces the file.
    inventory.record_address(ip("10.1.0.6")?, after(4 * DAY));
    inventory.save(&path)?;
    assert_eq!(Inventory::load(&path)?.map(|i| i.address_count()), Some(3));
    Ok(())
}

#[test]
fn a_corrupt_file_is_an_error_naming_it() -> TestResult {
    let dir = TempDir::new("corrupt")?;
    let path = dir.0.join("inventory.json");
    let good_times = r#""first_seen":"2024-01-01T00:00:00Z","last_seen":"2024-01-02T00:00:00Z""#;
    let cases = [
        ("".to_owned(), "EOF"),
        ("{not json".to_owned(), "key must be a string"),
        (
            r#"{"version":2,"created":"2024-01-01T00:00:00Z","addresses":[],"macs":[]}"#.to_owned(),
            "unknown version 2",
        ),
        (
            r#"{"version":1,"created":"yesterday","addresses":[],"macs":[]}"#.to_owned(),
            "time \"yesterday\"",
        ),
        (
            format!(r#"{{"version":1,"created":"2024-01-01T00:00:00Z","addresses":[],"macs":[{{"mac":"3c:22:fb",{good_times}}}]}}"#),
            "invalid MAC",
        ),
        (
            format!(r#"{{"version":1,"created":"2024-01-01T00:00:00Z","addresses":[{{"addr":"10.1.0.5",{good_times}}},{{"addr":"10.1.0.5",{good_times}}}],"macs":[]}}"#),
            "listed twice",
        ),
        (
            r#"{"version":1,"created":"2024-01-01T00:00:00Z","addresses":[{"addr":"10.1.0.5","first_seen":"2024-01-02T00:00:00Z","last_seen":"2024-01-01T00:00:00Z"}],"macs":[]}"#.to_owned(),
            "is after last seen",
        ),
        (
            r#"{"version":1,"created":"2024-01-01T00:00:00Z","addresses":[],"macs":[],"extra":1}"#.to_owned(),
            "unknown field",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&path, &text)?;
        match Inventory::load(&path) {
            Err(error @ InventoryError::Corrupt { .. }) => {
                let message = error.to_string();
                assert!(
                    message.starts_with(&format!("inventory {} is corrupt: ", path.display())),
                    "{message}"
                );
                assert!(message.contains(expected), "{text}: {message}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    // Not UTF-8.
    std::fs::write(&path, [0xff, 0xfe, 0x00])?;
    assert!(matches!(
        Inventory::load(&path),
        Err(InventoryError::Corrupt { .. })
    ));
    // A directory is not an inventory either, but that is a read error.
    assert!(matches!(
        Inventory::load(&dir.0),
        Err(InventoryError::Read { .. })
    ));
    Ok(())
}

#[test]
fn saving_into_a_missing_directory_fails_naming_the_file() -> TestResult {
    let dir = TempDir::new("missing-dir")?;
    let path = dir.0.join("absent").join("inventory.json");
    match Inventory::new(t0()).save(&path) {
        Err(InventoryError::Write { path: named, .. }) => assert_eq!(named, path),
        other => panic!("{other:?}"),
    }
    Ok(())
}
