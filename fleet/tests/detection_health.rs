//! Detection health through the real collector: detection heartbeats and
//! plain ones sent over pinned TLS to a real `vantage-fleet serve`, counted
//! as heartbeats (reporting, time in state), and exactly what `sensors`
//! and `sensors --json` then show of each sensor's latest detection
//! health: a sensor whose last heartbeat carried it gets a `detection`
//! line, one that turned detection off gets none.

mod support;

use serde_json::json;
use support::{
    connect, send,
    sensor::{current, T},
    Collector, FleetDir,
};
use vantage_protocol::{
    AckOutcome, DetectionHealth, DetectionHeartbeat, Message, Sealed, Sealer, SensorKey, Verdict,
};

fn with_detection(plain: &Message, detection: DetectionHealth) -> anyhow::Result<Message> {
    let heartbeat = plain
        .heartbeat()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("not a heartbeat: {plain:?}"))?;
    Ok(Message::DetectionHeartbeat(DetectionHeartbeat {
        heartbeat,
        detection,
    }))
}

fn enroll(fleet: &FleetDir, key: &SensorKey, name: &str) -> anyhow::Result<String> {
    fleet.ok(&[
        "enroll",
        "--public-key",
        &key.public().to_hex(),
        "--site",
        "acme",
        "--name",
        name,
    ])?;
    Ok(key.public().sensor_id().to_string())
}

#[test]
fn the_fleet_view_shows_each_sensors_latest_detection_health() -> anyhow::Result<()> {
    let fleet = FleetDir::init("detection-health")?;
    let key_a = SensorKey::ephemeral()?;
    let key_b = SensorKey::ephemeral()?;
    let id_a = enroll(&fleet, &key_a, "gw-a")?;
    let id_b = enroll(&fleet, &key_b, "gw-b")?;
    let mut sealer_a = Sealer::new(key_a, 5, 1, [0; 16]);
    let mut sealer_b = Sealer::new(key_b, 3, 1, [0; 16]);
    let held_back = DetectionHealth {
        suppressed: 4,
        raised: 130,
        open_alerts: 3,
        active_blocks: 1,
        alert_only: true,
    };
    let envelopes: Vec<Sealed> = vec![
        // A: a plain heartbeat, then detection turned on.
        sealer_a.seal(&current(T, 30, Verdict::Ok, T - 30, 5)),
        sealer_a.seal(&with_detection(
            &current(T + 60, 90, Verdict::Ok, T - 30, 5),
            held_back,
        )?),
        // B: detection on, then turned off (degraded since T+50).
        sealer_b.seal(&with_detection(
            &current(T, 30, Verdict::Ok, T - 30, 5),
            DetectionHealth::default(),
        )?),
        sealer_b.seal(&current(T + 60, 90, Verdict::Degraded, T + 50, 5)),
    ];
    let collector = Collector::start(&fleet)?;
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

    let report = fleet.json(&["sensors", "--json"])?;
    let sensors = &report["sensors"];
    assert_eq!(
        (&sensors[0]["sensor"], &sensors[1]["sensor"]),
        (&json!(id_a), &json!(id_b))
    );
    assert_eq!(
        sensors[0]["last_heartbeat"]["detection"],
        json!({
            "suppressed": 4, "raised": 130, "open_alerts": 3, "active_blocks": 1,
            "alert_only": true,
        })
    );
    assert_eq!(sensors[1]["last_heartbeat"]["detection"], json!(null));
    // Both count as heartbeats: reporting, and time in state moves.
    assert_eq!(
        (&sensors[0]["liveness"], &sensors[1]["liveness"]),
        (&json!("reporting"), &json!("reporting"))
    );
    assert_eq!(sensors[0]["time_in_verdict"], json!({"ok": 60}));
    assert_eq!(
        sensors[1]["time_in_verdict"],
        json!({"ok": 50, "degraded": 10})
    );
    assert_eq!(sensors[0]["last_heartbeat"]["sent_at"], json!(T + 60));

    // The table: the detection line closes A's lines; B has none.
    let table = fleet.ok(&["sensors"])?;
    let lines: Vec<&str> = table.lines().collect();
    let line_b = lines
        .iter()
        .position(|line| line.starts_with(&id_b))
        .ok_or_else(|| anyhow::anyhow!("no line for B: {table}"))?;
    let detection: Vec<(usize, &str)> = lines
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, line)| line.starts_with("  detection"))
        .collect();
    assert_eq!(
        detection,
        [(
            line_b - 1,
            "  detection  suppressed 4, raised 130, open 3, blocks 1, alert-only"
        )],
        "{table}"
    );
    Ok(())
}
