//! Visibility assurance in the SQLite store: contracts are kept and
//! changed, and sensors are found by a unique prefix.

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken setup step"
)]

use vantage_protocol::{DeploymentMode, SensorKey};

use super::{tests::TempDb, upgrade_tests::NOW, SqliteStore};
use crate::{
    assurance::contract::{Contract, HostRange},
    store::{Queries as _, StoreError},
};

#[test]
fn contracts_are_kept_changed_and_sensors_found_by_a_unique_prefix() {
    let db = TempDb::new("sight-contract");
    let mut store = SqliteStore::open(&db.0).expect("open");
    let contract = Contract {
        mode: Some(DeploymentMode::Mirror),
        hosts: Some(HostRange { min: 375, max: 400 }),
        resolvers: vec![[10, 0, 0, 53].into(), "2001:db8::53".parse().expect("ip")],
    };
    let key = SensorKey::ephemeral().expect("key").public();
    let id = key.sensor_id().to_string();
    store
        .enroll_with_contract(key, "acme", "gw1", &contract, NOW)
        .expect("enroll");
    let plain = SensorKey::ephemeral().expect("key").public();
    store.enroll(plain, "acme", "gw2", NOW).expect("enroll");
    let rows = store.sensors().expect("sensors");
    let terms: Vec<(&str, &Contract, Option<f64>)> = rows
        .iter()
        .map(|r| (r.name.as_str(), &r.contract, r.contract_changed_at))
        .collect();
    assert_eq!(
        terms,
        [
            ("gw1", &contract, Some(NOW)),
            ("gw2", &Contract::default(), None)
        ]
    );
    let changed = Contract {
        mode: Some(DeploymentMode::Inline),
        ..contract.clone()
    };
    store.set_contract(&id, &changed, NOW + 5.0).expect("set");
    let row = store.sensors().expect("sensors").remove(0);
    assert_eq!(
        (row.contract, row.contract_changed_at),
        (changed, Some(NOW + 5.0))
    );
    assert!(matches!(
        store.set_contract("0000000000000000", &contract, NOW),
        Err(StoreError::NoSuchSensor { .. })
    ));

    store
        .conn
        .execute_batch(
            "INSERT INTO sensors (sensor, public_key, site, name, enrolled_at) VALUES
               ('0123456789abcdef', '', 'zz', 'a', 1.0), ('0123ffffffffffff', '', 'zz', 'b', 1.0);",
        )
        .expect("rows");
    assert_eq!(
        store.resolve_sensor("01234").expect("unique"),
        "0123456789abcdef"
    );
    assert_eq!(
        store.resolve_sensor("0123456789ABCDEF").expect("exact"),
        "0123456789abcdef"
    );
    assert_eq!(store.resolve_sensor(&id).expect("full id"), id);
    assert_eq!(
        store.resolve_sensor("0123").map_err(|e| e.to_string()),
        Err("\"0123\" is the start of several sensor ids (0123456789abcdef, 0123ffffffffffff): give more digits".to_owned())
    );
    for nothing in ["", "xyz", "0123456789abcdef0"] {
        assert_eq!(
            store.resolve_sensor(nothing).map_err(|e| e.to_string()),
            Err(format!(
                "no enrolled sensor is {nothing:?} or has an id starting with it"
            )),
        );
    }
}
