//! Visibility assurance through the real collector: sensors enrolled with a
//! contract (from a signed request) and without one (then given one with
//! `expect`), signed heartbeats of both kinds and a canary alert sent over
//! pinned TLS to a real `vantage-fleet serve`, and exactly what
//! `sensors --json`, `sensors`, `alerts --json --kind canary` and
//! `canaries --json` then say. Refused flag values name their flag.

mod support;

use serde_json::json;
use support::{
    connect, send,
    sensor::{current, first_revision, health, take_number, unix_now, T},
    Collector, FleetDir,
};
use vantage_fleet::{assurance::canary::human_latency, siem::rfc3339};
use vantage_protocol::{
    keys::hex_encode, message::bounded, AckOutcome, Addr, Alert, AlertKind, Enrolment, FindingCode,
    Message, Sealed, Sealer, SensorKey, Severity, Verdict, VisibilityVerdict,
};

#[test]
fn the_collector_judges_sensors_against_their_contracts() -> anyhow::Result<()> {
    let started = unix_now();
    let fleet = FleetDir::init("assurance")?;

    // Sensor A: a current sensor, enrolled from its signed request with a contract.
    let key_a = SensorKey::ephemeral()?;
    let public_a = key_a.public();
    let id_a = public_a.sensor_id().to_string();
    let mut sealer_a = Sealer::new(key_a, 5, 1, [0; 16]);
    let request = sealer_a.seal_at(
        1,
        1,
        [0; 16],
        &Message::Enrolment(Enrolment {
            public_key: public_a.0,
            site: bounded("acme-dental"),
            hostname: bounded("gw-7"),
            agent_version: bounded("0.2.0"),
        })
        .encode(),
    );
    let request = hex_encode(&request.bytes);
    let refused = fleet.refused(&["enroll", "--request", &request, "--expect-hosts", "400-300"])?;
    assert_eq!(
        refused,
        "vantage-fleet: --expect-hosts: \"400-300\" has its lower bound above its upper bound\n"
    );
    let refused = fleet.refused(&[
        "enroll",
        "--request",
        &request,
        "--resolvers",
        "10.0.0.1,dns",
    ])?;
    assert_eq!(
        refused,
        "vantage-fleet: --resolvers: \"dns\" is not an IP address (give IP,IP,... or none)\n"
    );
    assert_eq!(fleet.json(&["sensors", "--json"])?["sensors"], json!([]));
    let out = fleet.ok(&[
        "enroll",
        "--request",
        &request,
        "--mode",
        "mirror",
        "--expect-hosts",
        "375-400",
        "--resolvers",
        "10.77.0.53",
    ])?;
    assert_eq!(
        out,
        format!(
            "enrolled sensor {id_a} ({}) for site acme-dental as gw-7\ncontract: mirror, 375-400 hosts, resolvers 10.77.0.53\n",
            public_a.fingerprint()
        )
    );

    // Sensor B: a sensor of the first revision, enrolled without a contract.
    let key_b = SensorKey::ephemeral()?;
    let id_b = key_b.public().sensor_id().to_string();
    let fingerprint_b = key_b.public().fingerprint();
    fleet.ok(&[
        "enroll",
        "--public-key",
        &key_b.public().to_hex(),
        "--site",
        "acme-old",
        "--name",
        "gw-old",
    ])?;

    // Both report through the real collector.
    let collector = Collector::start(&fleet)?;
    let sent = unix_now() as u64 - 3;
    let canary_name = format!("vantage-canary-{sent}-00000000000abc12.invalid");
    let mut sealer_b = Sealer::new(key_b, 3, 1, [0; 16]);
    let envelopes: Vec<Sealed> = vec![
        sealer_a.seal(&current(T, 30, Verdict::Unknown, T - 30, 2)),
        sealer_a.seal(&current(T + 60, 90, Verdict::Ok, T + 40, 5)),
        sealer_a.seal(&Message::Alert(Alert {
            at: sent + 1,
            severity: Severity::Info,
            kind: AlertKind::Canary,
            host: Addr::V4([10, 77, 1, 23]),
            peer: None,
            port: 0,
            count: 1,
            detail: bounded(&canary_name),
        })),
        sealer_b.seal(&first_revision(T, VisibilityVerdict::Sees)),
        sealer_b.seal(&first_revision(T + 30, VisibilityVerdict::Partial)),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut side = connect(collector.addr, fleet.pin).await?;
        for sealed in &envelopes {
            let ack = send(&mut side, &sealed.bytes).await?;
            assert_eq!((ack.seq, ack.outcome), (sealed.seq, AckOutcome::Stored));
        }
        anyhow::Ok(())
    })?;

    // The MSSP gives sensor B its contract afterwards, by a prefix of its id.
    let prefix = &id_b[..6];
    let refused = fleet.refused(&["expect", prefix, "--mode", "span"])?;
    assert_eq!(
        refused,
        "vantage-fleet: --mode: \"span\" is not one of inline, mirror, none\n"
    );
    let refused = fleet.refused(&["expect", "zz", "--mode", "inline"])?;
    assert_eq!(
        refused,
        "vantage-fleet: no enrolled sensor is \"zz\" or has an id starting with it\n"
    );
    let out = fleet.ok(&["expect", prefix, "--mode", "inline", "--expect-hosts", "20"])?;
    assert_eq!(
        out,
        format!("sensor {id_b} (gw-old, site acme-old) contract: inline, 20 hosts (was: none)\n")
    );
    assert_eq!(
        fleet.ok(&["expect", &id_b])?,
        format!("sensor {id_b} (gw-old, site acme-old) contract: inline, 20 hosts\n")
    );
    let done = unix_now();

    // The canary, as `alerts` lists it.
    let mut alerts = fleet.json(&["alerts", "--json", "--kind", "canary"])?;
    assert_eq!(alerts["schema"], "vantage.fleet.alerts/1");
    let mut canary_alert = alerts["alerts"][0].take();
    assert_eq!(alerts["alerts"].as_array().map(Vec::len), Some(1));
    let stored_at = take_number(&mut canary_alert, "received_at");
    assert!((started..=done).contains(&stored_at), "{stored_at}");
    let latency = stored_at - sent as f64;
    assert_eq!(
        canary_alert,
        json!({
            "id": 3, "sensor": id_a, "sensor_name": "gw-7", "site": "acme-dental",
            "epoch": 5, "seq": 3, "raised_at": sent + 1, "received_at": "<taken>",
            "severity": "info", "kind": "canary", "host": "10.77.1.23", "peer": null,
            "port": 0, "count": 1, "detail": canary_name, "chain": "linked",
            "envelope_hash": hex_encode(&envelopes[2].hash),
            "canary": {
                "name": canary_name, "sent_at": sent, "seen_at": sent + 1,
                "stored_at": stored_at, "latency_secs": latency, "to_sensor_secs": 1,
                "to_collector_secs": stored_at - (sent + 1) as f64,
            },
        })
    );
    assert!(
        (3.0..=3.0 + done - started + 1.0).contains(&latency),
        "{latency}"
    );
    let refused = fleet.refused(&["alerts", "--kind", "canaries"])?;
    assert!(
        refused.starts_with("vantage-fleet: --kind: \"canaries\" is not one of test, port_scan, "),
        "{refused}"
    );
    assert!(
        refused.contains(", visibility, canary, response (alert kinds) or port_scan, host_sweep, "),
        "{refused}"
    );
    assert!(refused.ends_with(", new_device (detectors)\n"), "{refused}");
    assert_eq!(
        fleet.json(&["alerts", "--json", "--kind", "port_scan"])?["alerts"],
        json!([])
    );
    let canaries = fleet.json(&["canaries", "--json", "--sensor", &id_a[..5]])?;
    assert_eq!(
        canaries,
        json!({
            "schema": "vantage.fleet.canaries/1",
            "canaries": [{
                "sensor": id_a, "sensor_name": "gw-7", "site": "acme-dental",
                "alert_id": 3, "host": "10.77.1.23",
                "name": canary_name, "sent_at": sent, "seen_at": sent + 1,
                "stored_at": stored_at, "latency_secs": latency, "to_sensor_secs": 1,
                "to_collector_secs": stored_at - (sent + 1) as f64,
            }],
        })
    );

    // The fleet view, whole.
    let mut report = fleet.json(&["sensors", "--json"])?;
    assert_eq!(report["schema"], "vantage.fleet.sensors/1");
    assert_eq!(report["unattributed"], json!({}));
    let mut a = report["sensors"][0].take();
    let mut b = report["sensors"][1].take();
    assert_eq!(report["sensors"].as_array().map(Vec::len), Some(2));
    let enrolled_a = take_number(&mut a, "enrolled_at");
    assert!((started..=done).contains(&enrolled_a));
    assert_eq!(take_number(&mut a, "contract_changed_at"), enrolled_a);
    take_number(&mut a, "silent_for_secs");
    take_number(&mut a["last_heartbeat"], "received_at");
    let enrolled_b = take_number(&mut b, "enrolled_at");
    let changed_b = take_number(&mut b, "contract_changed_at");
    assert!(enrolled_b <= changed_b && changed_b <= done);
    take_number(&mut b, "silent_for_secs");
    take_number(&mut b["last_heartbeat"], "received_at");
    let no_alerts = json!({"critical": 0, "high": 0, "info": 0, "low": 0, "medium": 0});
    assert_eq!(
        a,
        json!({
            "sensor": id_a, "name": "gw-7", "site": "acme-dental",
            "fingerprint": public_a.fingerprint(), "enrolled_at": "<taken>",
            "liveness": "reporting", "silent_for_secs": "<taken>", "visibility": "sees",
            "last_heartbeat": {
                "received_at": "<taken>", "sent_at": T + 60, "uptime_secs": 90, "interval_secs": 60,
                "health": serde_json::to_value(health("0.2.0"))?, "visibility": null,
                "sight": {
                    "revision": 2, "verdict": "ok", "since": T + 40, "window_secs": 300,
                    "packets": 9000, "bytes": 5_400_000, "hosts_seen": 5,
                    "findings": [{"code": "cannot_block", "a": 0, "b": 0}],
                    "declared": {"mode": "mirror", "hosts_min": 5, "hosts_max": 10},
                    "resolvers_seen": ["10.77.0.53", "9.9.9.9"],
                },
                "detection": null,
            },
            "alerts": {"critical": 0, "high": 0, "info": 1, "low": 0, "medium": 0},
            "envelopes": 3, "missing": 0, "broken": 0, "counters": {},
            "verdict": "ok",
            "findings": [{
                "code": "cannot_block", "a": 0, "b": 0, "text": "mirror mode",
                "hint": FindingCode::CannotBlock.hint(), "caveat": true,
            }],
            "hosts_seen": 5,
            "contract": {"mode": "mirror", "hosts": {"min": 375, "max": 400}, "resolvers": ["10.77.0.53"]},
            "contract_changed_at": "<taken>",
            "contract_check": {
                "status": "fail",
                "failures": [
                    {"code": "fewer_hosts_than_contracted", "text": "seen 5 of 375 contracted hosts"},
                    {"code": "resolvers_elsewhere", "text": "lookups go to 9.9.9.9, not only to the contracted 10.77.0.53"},
                ],
                "unchecked": [],
            },
            "contradicts_enrolment": true,
            "contradictions": [
                {"code": "declared_hosts", "text": "declares 5-10 hosts, the contract 375-400"},
                {"code": "ok_against_contract", "text": "says ok while the contract check fails"},
            ],
            "time_in_verdict": {"unknown": 40, "ok": 20},
            "last_canary": {
                "alert_id": 3, "host": "10.77.1.23", "name": canary_name, "sent_at": sent,
                "seen_at": sent + 1, "stored_at": stored_at, "latency_secs": latency,
                "to_sensor_secs": 1, "to_collector_secs": stored_at - (sent + 1) as f64,
            },
        })
    );
    assert_eq!(
        b,
        json!({
            "sensor": id_b, "name": "gw-old", "site": "acme-old",
            "fingerprint": fingerprint_b, "enrolled_at": "<taken>",
            "liveness": "reporting", "silent_for_secs": "<taken>", "visibility": "partial",
            "last_heartbeat": {
                "received_at": "<taken>", "sent_at": T + 30, "uptime_secs": 100, "interval_secs": 30,
                "health": serde_json::to_value(health("0.1.0"))?,
                "visibility": {
                    "verdict": "partial", "packets": 700, "bytes": 70_000, "hosts": 12,
                    "outbound_packets": 400, "inbound_packets": 300,
                },
                "sight": {
                    "revision": 1, "verdict": "degraded", "since": null, "window_secs": null,
                    "packets": null, "bytes": null, "hosts_seen": 12, "findings": [], "declared": null,
                    "resolvers_seen": null,
                },
                "detection": null,
            },
            "alerts": no_alerts,
            "envelopes": 2, "missing": 0, "broken": 0, "counters": {},
            "verdict": "degraded", "findings": [], "hosts_seen": 12,
            "contract": {"mode": "inline", "hosts": {"min": 20, "max": 20}, "resolvers": []},
            "contract_changed_at": "<taken>",
            "contract_check": {
                "status": "fail",
                "failures": [
                    {"code": "fewer_hosts_than_contracted", "text": "seen 12 of 20 contracted hosts"},
                    {"code": "mode_mismatch", "text": "inline contracted, but attached to 1 interface (a gateway attaches its LAN and WAN sides)"},
                ],
                "unchecked": [],
            },
            "contradicts_enrolment": false,
            "contradictions": [],
            "time_in_verdict": {"ok": 30},
            "last_canary": null,
        })
    );

    // The same, as the table shows it.
    let table = fleet.ok(&["sensors"])?;
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("SENSOR "), "{table}");
    assert!(
        lines[1].starts_with(&format!("{id_a} acme-dental    gw-7 ")),
        "{table}"
    );
    assert!(lines[1].contains(" reporting "), "{table}");
    assert!(lines[1].contains(" ok "), "{table}");
    let canary_line = format!(
        "  canary     latency {}, from 10.77.1.23 at {} ({canary_name})",
        human_latency(latency),
        rfc3339(stored_at)
    );
    let since = rfc3339((T + 40) as f64);
    assert_eq!(
        lines[2..9],
        [
            format!("  verdict    ok since {since}, 5 protected hosts seen").as_str(),
            "  in state   unknown 40s, ok 20s",
            "  finding    cannot_block: mirror mode (caveat)",
            "  declares   mirror, 5-10 hosts",
            "  contract   mirror, 375-400 hosts, resolvers 10.77.0.53: FAIL: seen 5 of 375 contracted hosts; lookups go to 9.9.9.9, not only to the contracted 10.77.0.53",
            "  CONTRADICTS ENROLMENT: declares 5-10 hosts, the contract 375-400; says ok while the contract check fails",
            canary_line.as_str(),
        ],
        "{table}"
    );
    assert!(
        lines[9].starts_with(&format!("{id_b} acme-old ")),
        "{table}"
    );
    assert!(lines[9].contains(" degraded "), "{table}");
    assert_eq!(
        lines[10..],
        [
            "  verdict    degraded, 12 protected hosts seen",
            "  in state   ok 30s",
            "  contract   inline, 20 hosts: FAIL: seen 12 of 20 contracted hosts; inline contracted, but attached to 1 interface (a gateway attaches its LAN and WAN sides)",
        ],
        "{table}"
    );
    Ok(())
}
