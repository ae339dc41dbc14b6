//! Visibility assurance in the SQLite store: contracts are kept and
//! changed; sensors are found by a unique prefix; alerts filter by kind;
//! and the fleet view judges a sensor against its contract.

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken setup step"
)]

use vantage_protocol::{
    message::bounded, Addr, Alert, AlertKind, DeploymentMode, Finding, FindingCode, Message,
    Sealer, SensorKey, Severity, Verdict,
};

use super::{
    tests::TempDb,
    upgrade_tests::{current, ingest_one, seconds, NOW, T},
    SqliteStore,
};
use crate::{
    assurance::contract::{Contract, HostRange},
    record::AlertFilter,
    store::{Queries as _, StoreError},
    view,
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

fn alert(kind: AlertKind, detail: &str, at: u64) -> Message {
    Message::Alert(Alert {
        at,
        severity: Severity::Info,
        kind,
        host: Addr::V4([10, 77, 1, 10]),
        peer: None,
        port: 0,
        count: 1,
        detail: bounded(detail),
    })
}

#[test]
fn the_fleet_view_judges_a_sensor_against_its_contract() {
    let db = TempDb::new("sight-view");
    let mut store = SqliteStore::open(&db.0).expect("open");
    let key = SensorKey::ephemeral().expect("key");
    let contract = Contract {
        mode: Some(DeploymentMode::Mirror),
        hosts: Some(HostRange { min: 375, max: 400 }),
        resolvers: vec![],
    };
    store
        .enroll_with_contract(key.public(), "acme", "gw1", &contract, NOW)
        .expect("enroll");
    let id = key.public().sensor_id().to_string();
    let mut sealer = Sealer::new(key, 7, 1, [0; 16]);
    let caveat = Finding {
        code: FindingCode::CannotBlock,
        a: 0,
        b: 0,
    };
    let first_canary = format!("vantage-canary-{}-aa.invalid", T + 10);
    let second_canary = format!("vantage-canary-{}-bb.invalid", T + 100);
    let messages = [
        current(T, Verdict::Unknown, T - 30, 2, &[]),
        alert(AlertKind::Canary, &first_canary, T + 12),
        current(T + 60, Verdict::Ok, T + 45, 5, &[caveat]),
        alert(AlertKind::PortScan, "scan", T + 70),
        alert(AlertKind::Canary, &second_canary, T + 101),
    ];
    for (n, message) in (0_u32..).zip(&messages) {
        let sealed = sealer.seal(message);
        ingest_one(&mut store, &sealed.bytes, (T + 200) as f64 + f64::from(n));
    }
    let kinds = |kind| {
        store
            .alerts(&AlertFilter {
                kind: Some(kind),
                ..AlertFilter::default()
            })
            .expect("alerts")
            .into_iter()
            .map(|a| a.detail)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(AlertKind::Canary),
        [first_canary.clone(), second_canary.clone()]
    );
    assert_eq!(kinds(AlertKind::PortScan), ["scan"]);
    assert!(kinds(AlertKind::Visibility).is_empty());

    let report = view::fleet_report(&store, (T + 210) as f64).expect("report");
    let me = &report.sensors[0];
    assert_eq!(me.sensor, id);
    assert_eq!(
        (me.verdict.as_str(), me.visibility.as_str()),
        ("ok", "sees")
    );
    assert_eq!(me.hosts_seen, Some(5));
    let findings: Vec<(&str, &str, bool)> = me
        .findings
        .iter()
        .map(|f| (f.code.name(), f.text.as_str(), f.caveat))
        .collect();
    assert_eq!(findings, [("cannot_block", "mirror mode", true)]);
    assert_eq!(me.contract, contract);
    assert_eq!(me.contract_check.status.name(), "fail");
    let failures: Vec<&str> = me
        .contract_check
        .failures
        .iter()
        .map(|f| f.text.as_str())
        .collect();
    assert_eq!(failures, ["seen 5 of 375 contracted hosts"]);
    assert!(me.contradicts_enrolment);
    let contradictions: Vec<&str> = me.contradictions.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        contradictions,
        [
            "declares 5-10 hosts, the contract 375-400",
            "says ok while the contract check fails"
        ]
    );
    assert_eq!(me.time_in_verdict, seconds(&[("unknown", 45), ("ok", 15)]));
    let canary = me.last_canary.as_ref().expect("a canary");
    assert_eq!(canary.timing.name, second_canary);
    assert_eq!(canary.timing.sent_at, Some(T + 100));
    assert_eq!(canary.timing.seen_at, T + 101);
    assert_eq!(canary.timing.stored_at, (T + 204) as f64);
    assert_eq!(canary.timing.latency_secs, Some(104.0));
    assert_eq!(canary.timing.to_sensor_secs, Some(1));
    assert_eq!(canary.timing.to_collector_secs, 103.0);
}
