//! `cargo xtask bench`, uplink part: envelope sealing and checking rates, and
//! alerts per second from the sensor's spool through TLS into the collector's
//! SQLite file, each as a ratio against a reference measured in the same run:
//! raw Ed25519 signing and verification of the same bytes, and the rate of
//! synced appends to a file on the same disk (the floor every durable commit
//! pays).

use std::{
    fs::OpenOptions,
    io::Write as _,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use tokio_util::sync::CancellationToken;
use vantage::{
    time::{Clock, SystemClock},
    uplink::{
        self, sendlog::SendLog, spool::Spool, tls::pinned_client_config, writer, UplinkOptions,
    },
};
use vantage_protocol::{
    message::bounded, Addr, Alert, AlertKind, Envelope, KeyPin, Message, Sealer, SensorKey,
    Severity,
};
use vantage_tests::fleet::{Collector, FleetDir};

fn alert(i: u32) -> Message {
    Message::Alert(Alert {
        at: 1_795_000_000 + u64::from(i),
        severity: Severity::High,
        kind: AlertKind::PortScan,
        host: Addr::V4([10, 77, 1, 10]),
        peer: Some(Addr::V4([203, 0, 113, 80])),
        port: 445,
        count: i,
        detail: bounded("120 ports in 10 s"),
    })
}

/// Operations per second of `f`, run `n` times.
fn rate(n: u32, mut f: impl FnMut(u32)) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        f(i);
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

fn crypto(n: u32) -> anyhow::Result<()> {
    let mut sealer = Sealer::new(SensorKey::ephemeral()?, 1, 1, [0; 16]);
    let public = sealer.public();
    let messages: Vec<Message> = (0..n).map(alert).collect();
    let mut sealed = Vec::with_capacity(n as usize);
    let seal_rate = rate(n, |i| sealed.push(sealer.seal(&messages[i as usize]).bytes));
    let mut checked = 0u32;
    let open_rate = rate(n, |i| {
        let envelope = Envelope::decode(&sealed[i as usize]).ok();
        if let Some(envelope) = envelope {
            if envelope.verify(&public).is_ok() && envelope.message().is_ok() {
                checked += 1;
            }
        }
    });
    anyhow::ensure!(checked == n, "only {checked} of {n} envelopes verified");

    // Reference: ring alone, on bytes of the same length.
    let document = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .map_err(|_| anyhow::anyhow!("keygen"))?;
    let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).map_err(|_| anyhow::anyhow!("key"))?;
    let body = vec![0x42u8; sealed[0].len() - 64];
    let mut signatures = Vec::with_capacity(n as usize);
    let sign_rate = rate(n, |_| signatures.push(pair.sign(&body)));
    let verifier = UnparsedPublicKey::new(&ED25519, pair.public_key().as_ref().to_vec());
    let mut ok = 0u32;
    let verify_rate = rate(n, |i| {
        if verifier
            .verify(&body, signatures[i as usize].as_ref())
            .is_ok()
        {
            ok += 1;
        }
    });
    anyhow::ensure!(ok == n);
    println!("envelope of a typical alert: {} bytes", sealed[0].len());
    println!(
        "encode + sign   {:>9.0} envelopes/s   raw Ed25519 sign   {:>9.0}/s   ratio {:.2}",
        seal_rate,
        sign_rate,
        seal_rate / sign_rate
    );
    println!(
        "verify + decode {:>9.0} envelopes/s   raw Ed25519 verify {:>9.0}/s   ratio {:.2}",
        open_rate,
        verify_rate,
        open_rate / verify_rate
    );
    Ok(())
}

/// Synced appends per second of 140-byte records: what any durable commit costs.
fn fsync_floor(dir: &Path, n: u32) -> anyhow::Result<f64> {
    let path = dir.join("fsync-reference");
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let record = [0u8; 140];
    let mut failed = None;
    let per_second = rate(n, |_| {
        if let Err(e) = file.write_all(&record).and_then(|()| file.sync_data()) {
            failed = Some(e);
        }
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    std::fs::remove_file(&path)?;
    Ok(per_second)
}

fn end_to_end(n: u32, batch: usize) -> anyhow::Result<()> {
    let fleet = FleetDir::init(&format!("bench{batch}"))?;
    let collector = Collector::start(&fleet, None, "127.0.0.1:0")?;
    let sensor_dir = fleet.dir.join("sensor");
    std::fs::create_dir_all(&sensor_dir)?;
    let key_path = sensor_dir.join("sensor.key");
    let key = SensorKey::generate(&key_path)?;
    fleet.fleet(&[
        "enroll",
        "--public-key",
        &key.public().to_hex(),
        "--site",
        "bench",
    ])?;
    let floor = fsync_floor(&sensor_dir, 500)?;

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (mut spool, _) = Spool::open(&sensor_dir, 1 << 30)?;
    let (epoch, chain) = spool.begin_epoch(0)?;
    let (handle, writer) = writer::start(
        spool,
        Sealer::new(key, epoch, 1, chain.hash),
        SendLog::open(&sensor_dir, clock.clone()),
    )?;
    let pin = KeyPin::parse(&fleet.pin).context("pin")?;
    let options = UplinkOptions {
        collector: collector.addr.to_string(),
        server_name: "vantage-fleet".into(),
        tls: pinned_client_config(pin)?,
        retry_min: Duration::from_secs(1),
        retry_max: Duration::from_secs(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let shutdown = CancellationToken::new();
    runtime.spawn(uplink::run(
        options,
        handle.clone(),
        clock,
        shutdown.clone(),
    ));
    let messages: Vec<Message> = (0..n).map(alert).collect();
    let start = Instant::now();
    for chunk in messages.chunks(batch) {
        handle.commit_blocking(chunk.to_vec())?;
    }
    let committed = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    while handle.view().status().pending > 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "acks did not arrive within 300 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = start.elapsed();
    shutdown.cancel();
    drop(runtime);
    drop(handle);
    writer.join();
    let stored: serde_json::Value = serde_json::from_str(&fleet.fleet(&["sensors", "--json"])?)?;
    let high = stored["sensors"][0]["alerts"]["high"].as_u64().unwrap_or(0);
    anyhow::ensure!(
        high == u64::from(n),
        "collector stored {high} of {n} alerts"
    );
    let per_second = f64::from(n) / elapsed.as_secs_f64();
    let commits_per_second = (f64::from(n) / batch as f64) / committed.as_secs_f64();
    println!(
        "end to end, {batch:>3} alert(s) per commit: {per_second:>8.0} alerts/s stored and acknowledged \
         ({commits_per_second:.0} spool commits/s; synced-append floor {floor:.0}/s; commits/floor {:.2})",
        commits_per_second / floor
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 2_000 } else { 20_000 };
    println!("Vantage uplink benchmark ({n} envelopes; references measured in the same run)\n");
    crypto(n)?;
    println!();
    end_to_end(if quick { 500 } else { 3_000 }, 1)?;
    end_to_end(n, 100)?;
    Ok(())
}
