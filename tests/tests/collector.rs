//! The collector's checks over real TLS on loopback, against the real
//! `vantage-fleet serve` and its SQLite file: forged signatures, unknown keys,
//! replays, conflicting envelopes, tampered payloads, reordering and broken
//! chains are each refused or flagged, counted, and never stored as genuine;
//! a collector with another key is refused by the sensor's pin.

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use tokio_rustls::{client::TlsStream, TlsConnector};
use tokio_util::sync::CancellationToken;
use vantage::{
    time::{Clock, SystemClock},
    uplink::{
        self,
        sendlog::{read_log, SendLog},
        spool::Spool,
        tls::pinned_client_config,
        writer, UplinkOptions,
    },
};
use vantage_protocol::{
    frame, message::bounded, Ack, AckOutcome, Addr, Alert, AlertKind, KeyPin, Message,
    RejectReason, Sealed, Sealer, SensorKey, Severity,
};
use vantage_tests::fleet::{Collector, FleetDir};

type Result = anyhow::Result<()>;

fn alert(detail: &str) -> Vec<u8> {
    alert_message(detail).encode()
}

fn alert_message(detail: &str) -> Message {
    Message::Alert(Alert {
        at: 1_795_000_000,
        severity: Severity::High,
        kind: AlertKind::PortScan,
        host: Addr::V4([10, 77, 1, 10]),
        peer: Some(Addr::V4([203, 0, 113, 80])),
        port: 445,
        count: 120,
        detail: bounded(detail),
    })
}

async fn connect(addr: std::net::SocketAddr, pin: KeyPin) -> anyhow::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("vantage-fleet")?;
    Ok(TlsConnector::from(pinned_client_config(pin)?)
        .connect(name, tcp)
        .await?)
}

async fn send(stream: &mut TlsStream<TcpStream>, wire: &[u8]) -> anyhow::Result<Ack> {
    let mut out = Vec::new();
    frame::push_frame(&mut out, wire)?;
    stream.write_all(&out).await?;
    stream.flush().await?;
    let mut header = [0u8; 2];
    stream.read_exact(&mut header).await?;
    let mut body = vec![0u8; frame::frame_len(header, frame::MAX_ACK_LEN)?];
    stream.read_exact(&mut body).await?;
    Ok(Ack::decode(&body)?)
}

fn outcome(ack: Ack) -> AckOutcome {
    ack.outcome
}

fn sensor_entry(report: &Value, id: &str) -> Value {
    report["sensors"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["sensor"] == id))
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn every_kind_of_bad_envelope_is_refused_or_flagged_and_counted() -> Result {
    let fleet = FleetDir::init("cc")?;
    let collector = Collector::start(&fleet, None, "127.0.0.1:0")?;
    let addr = collector.addr;
    let pin = KeyPin::parse(&fleet.pin).ok_or_else(|| anyhow::anyhow!("pin {}", fleet.pin))?;

    let key_path = fleet.dir.join("sensor.key");
    let key = SensorKey::generate(&key_path)?;
    let public = key.public();
    let id = public.sensor_id().to_string();
    fleet.fleet(&[
        "enroll",
        "--public-key",
        &public.to_hex(),
        "--site",
        "acme",
        "--name",
        "gw1",
    ])?;
    let mut sealer = Sealer::new(SensorKey::load(&key_path)?, 9, 1, [0; 16]);
    let forger = Sealer::new(SensorKey::ephemeral()?, 9, 1, [0; 16]);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut stream = connect(addr, pin).await?;
        let seal =
            |sealer: &mut Sealer, detail: &str| -> Sealed { sealer.seal(&alert_message(detail)) };
        let one = seal(&mut sealer, "one");
        let two = seal(&mut sealer, "two");
        let three = seal(&mut sealer, "three");
        for sealed in [&one, &two, &three] {
            assert_eq!(
                outcome(send(&mut stream, &sealed.bytes).await?),
                AckOutcome::Stored
            );
        }
        // A replay of a genuine envelope changes nothing.
        let replay = send(&mut stream, &two.bytes).await?;
        assert_eq!(
            (replay.epoch, replay.seq, replay.outcome),
            (9, 2, AckOutcome::Duplicate)
        );
        // The same position signed again with other contents is a conflict.
        let second_version = sealer.seal_at(9, 2, one.hash, &alert("two, rewritten"));
        assert_eq!(
            outcome(send(&mut stream, &second_version.bytes).await?),
            AckOutcome::Rejected(RejectReason::Conflict)
        );
        // Another key, not enrolled.
        let stranger = forger.seal_at(9, 1, [0; 16], &alert("hello"));
        assert_eq!(
            outcome(send(&mut stream, &stranger.bytes).await?),
            AckOutcome::Rejected(RejectReason::UnknownSensor)
        );
        // Our sensor's header with the forger's signature.
        let four = sealer.seal_payload(&alert("four"));
        let mut forged = four.bytes.clone();
        let forged_sig = forger.seal_at(9, 4, three.hash, &alert("four")).bytes;
        let n = forged.len();
        forged[n - 64..].copy_from_slice(&forged_sig[forged_sig.len() - 64..]);
        assert_eq!(
            outcome(send(&mut stream, &forged).await?),
            AckOutcome::Rejected(RejectReason::BadSignature)
        );
        // A genuine envelope with its payload altered in transit.
        let mut tampered = four.bytes.clone();
        let at = tampered.len() - 64 - 2;
        tampered[at] ^= 0x20;
        assert_eq!(
            outcome(send(&mut stream, &tampered).await?),
            AckOutcome::Rejected(RejectReason::BadSignature)
        );
        // Garbage.
        assert_eq!(
            outcome(send(&mut stream, b"\x01not an envelope").await?),
            AckOutcome::Rejected(RejectReason::Malformed)
        );
        // Reordered: five is held back, six arrives first.
        let four = seal(&mut sealer, "four");
        let five = seal(&mut sealer, "five");
        let six = seal(&mut sealer, "six");
        assert_eq!(
            outcome(send(&mut stream, &four.bytes).await?),
            AckOutcome::Stored
        );
        assert_eq!(
            outcome(send(&mut stream, &six.bytes).await?),
            AckOutcome::Stored
        );
        assert_eq!(
            outcome(send(&mut stream, &five.bytes).await?),
            AckOutcome::Stored
        );
        // A signed envelope whose `prev` is not its predecessor's hash.
        let broken = sealer.seal_at(9, 7, [0xee; 16], &alert("seven, off the chain"));
        assert_eq!(
            outcome(send(&mut stream, &broken.bytes).await?),
            AckOutcome::Stored
        );
        // A frame longer than any envelope: counted, and the connection dropped.
        stream.write_all(&[0xff, 0xff]).await?;
        stream.write_all(&[0u8; 64]).await?;
        stream.flush().await?;
        let mut rest = Vec::new();
        let hung_up =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
        assert!(
            hung_up.is_ok(),
            "the collector kept a desynchronised stream open"
        );
        anyhow::Ok(())
    })?;

    // What was stored, as the customer and the SOC see it.
    let genuine: Value = serde_json::from_str(&fleet.fleet(&["alerts", "--json"])?)?;
    let details: Vec<&str> = genuine["alerts"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["detail"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(details, ["one", "two", "three", "four", "six", "five"]);
    let chains: Vec<&str> = genuine["alerts"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["chain"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        chains,
        [
            "epoch_start",
            "linked",
            "linked",
            "linked",
            "gap_before",
            "reordered"
        ]
    );
    let everything: Value =
        serde_json::from_str(&fleet.fleet(&["alerts", "--json", "--include-broken"])?)?;
    let last = everything["alerts"]
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(last["detail"], "seven, off the chain");
    assert_eq!(last["chain"], "broken");

    let report = fleet.sensors()?;
    let me = sensor_entry(&report, &id);
    assert_eq!(me["envelopes"], 7, "{me}");
    assert_eq!(me["broken"], 1, "{me}");
    assert_eq!(me["missing"], 0, "{me}");
    assert_eq!(
        me["alerts"]["high"], 6,
        "broken envelopes are not counted as alerts: {me}"
    );
    let counters = &me["counters"];
    assert_eq!(counters["duplicate"], 1, "{me}");
    assert_eq!(counters["conflict"], 1, "{me}");
    assert_eq!(counters["bad_signature"], 2, "{me}");
    assert_eq!(counters["gap"], 1, "{me}");
    assert_eq!(counters["reordered"], 1, "{me}");
    assert_eq!(counters["chain_broken"], 1, "{me}");
    assert_eq!(
        report["unattributed"]["malformed"], 2,
        "garbage and the oversized frame: {report}"
    );
    let stranger_id = forger.sensor().to_string();
    assert_eq!(
        sensor_entry(&report, &stranger_id),
        Value::Null,
        "an unknown key never becomes a sensor"
    );
    Ok(())
}

#[test]
fn a_collector_with_another_key_is_refused() -> Result {
    let real = FleetDir::init("cp")?;
    let impostor = FleetDir::init("ci")?;
    let collector = Collector::start(&impostor, None, "127.0.0.1:0")?;
    let pin = KeyPin::parse(&real.pin).ok_or_else(|| anyhow::anyhow!("pin"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(connect(collector.addr, pin));
    let error = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        error.contains("invalid peer certificate")
            || error.contains("ApplicationVerificationFailure"),
        "the handshake must fail on the pin: {error:?}"
    );
    // And the right pin for the impostor's own key works, so the refusal was the pin.
    let own = KeyPin::parse(&impostor.pin).ok_or_else(|| anyhow::anyhow!("pin"))?;
    runtime.block_on(connect(collector.addr, own))?;
    Ok(())
}

#[test]
fn a_signed_enrolment_request_enrolls_and_a_tampered_one_is_refused() -> Result {
    let fleet = FleetDir::init("ce")?;
    let key = fleet.dir.join("sensor.key");
    let vantage = vantage_tests::agent::vantage_bin()?;
    let keygen = std::process::Command::new(&vantage)
        .args(["keygen", "--out", &key.display().to_string()])
        .output()?;
    assert!(keygen.status.success(), "{keygen:?}");
    let request = std::process::Command::new(&vantage)
        .args(["enrolment-request", "--key", &key.display().to_string()])
        .args(["--site", "acme-dental", "--name", "gw-7"])
        .output()?;
    assert!(request.status.success(), "{request:?}");
    let hex = String::from_utf8(request.stdout)?.trim().to_owned();
    // Flip one hex digit inside the signed part: the signature no longer holds.
    let mut tampered: Vec<char> = hex.chars().collect();
    tampered[40] = if tampered[40] == '0' { '1' } else { '0' };
    let tampered: String = tampered.into_iter().collect();
    let refused = fleet.fleet(&["enroll", "--request", &tampered]);
    assert!(refused.is_err(), "a tampered request must be refused");
    assert_eq!(
        fleet.sensors()?["sensors"].as_array().map(Vec::len),
        Some(0)
    );

    let out = fleet.fleet(&["enroll", "--request", &hex])?;
    assert!(out.contains("for site acme-dental as gw-7"), "{out}");
    let report = fleet.sensors()?;
    let sensors = report["sensors"].as_array().cloned().unwrap_or_default();
    assert_eq!(sensors.len(), 1);
    assert_eq!(sensors[0]["site"], "acme-dental");
    assert_eq!(sensors[0]["name"], "gw-7");
    assert_eq!(sensors[0]["liveness"], "never_seen");
    let fingerprint = String::from_utf8(keygen.stdout)?
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint ").map(str::to_owned))
        .unwrap_or_default();
    assert_eq!(sensors[0]["fingerprint"], fingerprint.as_str());
    // Enrolling the same key twice is refused.
    assert!(fleet.fleet(&["enroll", "--request", &hex]).is_err());
    Ok(())
}

/// A sensor whose envelope the collector can never store (another envelope
/// already holds its place) drops that one, counts and logs it, and still
/// delivers everything after it, instead of sending it again forever.
#[test]
fn the_uplink_drops_an_envelope_refused_for_good_and_delivers_the_rest() -> Result {
    let fleet = FleetDir::init("cr")?;
    let collector = Collector::start(&fleet, None, "127.0.0.1:0")?;
    let pin = KeyPin::parse(&fleet.pin).ok_or_else(|| anyhow::anyhow!("pin {}", fleet.pin))?;
    let sensor_dir = fleet.dir.join("sensor");
    std::fs::create_dir_all(&sensor_dir)?;
    let key_path = sensor_dir.join("sensor.key");
    let key = SensorKey::generate(&key_path)?;
    fleet.fleet(&[
        "enroll",
        "--public-key",
        &key.public().to_hex(),
        "--site",
        "acme-dental",
    ])?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;

    // Someone with the same key already stored epoch 7, sequence 2.
    let mut other = Sealer::new(SensorKey::load(&key_path)?, 7, 2, [0; 16]);
    let first = other.seal(&alert_message("stored first"));
    let ack = runtime.block_on(async {
        let mut stream = connect(collector.addr, pin).await?;
        send(&mut stream, &first.bytes).await
    })?;
    assert_eq!(ack.outcome, AckOutcome::Stored);

    // The sensor's own epoch 7: three alerts, the second at the taken place.
    let spool_dir = sensor_dir.join("spool");
    let (mut spool, _) = Spool::open(&spool_dir, 1 << 20)?;
    let (epoch, chain) = spool.begin_epoch(7)?;
    assert_eq!(epoch, 7);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (handle, writer) = writer::start(
        spool,
        Sealer::new(key, epoch, 1, chain.hash),
        SendLog::open(&spool_dir, clock.clone()),
    )?;
    handle.commit_blocking(vec![
        alert_message("one"),
        alert_message("two"),
        alert_message("three"),
    ])?;
    let shutdown = CancellationToken::new();
    runtime.spawn(uplink::run(
        UplinkOptions {
            collector: collector.addr.to_string(),
            server_name: "vantage-fleet".into(),
            tls: pinned_client_config(pin)?,
            retry_min: Duration::from_millis(200),
            retry_max: Duration::from_millis(200),
        },
        handle.clone(),
        clock,
        shutdown.clone(),
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while handle.view().status().pending > 0 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the spool still holds {:?}",
            handle.view().status()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(handle.view().status().counters.rejected, 1);
    assert!(handle.view().link().connected, "{:?}", handle.view().link());
    shutdown.cancel();
    drop(runtime);
    drop(handle);
    writer.join();

    let log = read_log(&spool_dir)?;
    let dropped: Vec<_> = log.iter().filter(|e| e.event == "dropped").collect();
    assert_eq!(dropped.len(), 1, "{log:?}");
    assert_eq!(
        (
            dropped[0].epoch,
            dropped[0].seq,
            dropped[0].detail.as_deref()
        ),
        (Some(7), Some(2), Some("conflict"))
    );
    // The collector holds its own 7/2 and the sensor's 7/1 and 7/3, once each.
    let alerts = fleet.alerts()?;
    let stored: Vec<(u64, u64, &str)> = alerts
        .iter()
        .filter_map(|a| {
            Some((
                a["epoch"].as_u64()?,
                a["seq"].as_u64()?,
                a["detail"].as_str()?,
            ))
        })
        .collect();
    assert_eq!(
        stored,
        [(7, 2, "stored first"), (7, 1, "one"), (7, 3, "three")]
    );
    Ok(())
}
