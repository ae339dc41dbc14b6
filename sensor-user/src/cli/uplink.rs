//! The commands about the sensor's identity and its uplink: `keygen`,
//! `enrolment-request`, `alert` and `log`, and the `[uplink]` settings the
//! agent runs with.

use std::time::Duration;

use anyhow::{bail, Context as _};
use vantage::{
    config::Config,
    time::{unix_secs, Clock as _, SystemClock},
    uplink::{
        outbox::{self, AlertRequest},
        sendlog,
        tls::pinned_client_config,
        UplinkOptions, UplinkSettings,
    },
};

use super::args::{AlertArgs, LogArgs};
use vantage_protocol::{message::bounded, Enrolment, KeyPin, Message, Sealer, SensorKey};

/// The agent's uplink settings, or `None` when `[uplink] collector` is empty.
pub(super) fn uplink_settings(config: &Config) -> anyhow::Result<Option<UplinkSettings>> {
    let u = &config.uplink;
    if !u.enabled() {
        return Ok(None);
    }
    let pin = KeyPin::parse(&u.pin).context("uplink.pin")?;
    Ok(Some(UplinkSettings {
        connection: UplinkOptions {
            collector: u.collector.clone(),
            server_name: u.server_name.clone(),
            tls: pinned_client_config(pin).context("setting up TLS")?,
            retry_min: u.retry_min.0,
            retry_max: u.retry_max.0,
        },
        key: u.key.clone(),
        spool_dir: u.spool_dir.clone(),
        spool_max_bytes: u.spool_max_bytes,
        heartbeat_interval: u.heartbeat_interval.0,
    }))
}

pub(super) fn keygen(out: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let key = SensorKey::generate(out)?;
    let public = key.public();
    println!("wrote {} (mode 0600)", out.display());
    println!("fingerprint {}", public.fingerprint());
    println!("sensor id   {}", public.sensor_id());
    println!("public key  {}", public.to_hex());
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}

pub(super) fn enrolment_request(
    key_path: &std::path::Path,
    site: &str,
    name: Option<&str>,
) -> anyhow::Result<()> {
    if site.is_empty() || site.len() > vantage_protocol::message::NAME_MAX {
        bail!(
            "--site must be 1 to {} bytes",
            vantage_protocol::message::NAME_MAX
        );
    }
    let key = SensorKey::load(key_path)?;
    let public = key.public();
    let host = name.map_or_else(hostname, str::to_owned);
    let message = Message::Enrolment(Enrolment {
        public_key: public.0,
        site: bounded(site),
        hostname: bounded(&host),
        agent_version: bounded(env!("CARGO_PKG_VERSION")),
    });
    // Enrolment requests live outside any boot epoch: epoch 0, sequence 0.
    let sealed = Sealer::new(key, 0, 0, [0; 16]).seal(&message);
    eprintln!(
        "enrolment request for sensor {} ({}), site {site:?}, name {host:?}:",
        public.sensor_id(),
        public.fingerprint()
    );
    println!("{}", vantage_protocol::keys::hex_encode(&sealed.bytes));
    Ok(())
}

pub(super) fn alert(args: &AlertArgs, config: &Config) -> anyhow::Result<()> {
    if !config.uplink.enabled() {
        bail!("no uplink is configured ([uplink] collector is empty), so nothing would send the alert");
    }
    let clock = SystemClock;
    let request = AlertRequest {
        raised_at: Some(unix_secs(clock.now())),
        severity: args.severity,
        kind: args.kind,
        host: args.host,
        peer: args.peer,
        port: args.port,
        count: args.count,
        detail: args.detail.clone(),
    };
    let path = outbox::submit(&config.uplink.spool_dir, &request, &clock).with_context(|| {
        format!(
            "writing to the outbox in {}",
            config.uplink.spool_dir.display()
        )
    })?;
    if args.wait == 0 {
        println!("queued {}", path.display());
        return Ok(());
    }
    let deadline = clock.monotonic_ns() + args.wait.saturating_mul(1_000_000_000);
    while path.exists() {
        if clock.monotonic_ns() > deadline {
            bail!(
                "the agent did not take the alert within {} s (is `vantage run` running?); it stays queued in {}",
                args.wait,
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if path.with_extension("rejected").exists() {
        bail!("the agent refused the alert; see its log");
    }
    println!("committed to the spool");
    Ok(())
}

pub(super) fn show_log(args: &LogArgs, config: &Config) -> anyhow::Result<()> {
    let dir = &config.uplink.spool_dir;
    let mut entries = sendlog::read_log(dir)
        .with_context(|| format!("reading the uplink log in {}", dir.display()))?;
    if let Some(event) = &args.event {
        entries.retain(|e| &e.event == event);
    }
    if let Some(tail) = args.tail {
        let skip = entries.len().saturating_sub(tail);
        entries.drain(..skip);
    }
    for entry in &entries {
        if args.json {
            println!("{}", serde_json::to_string(entry)?);
            continue;
        }
        let position = match (entry.epoch, entry.seq) {
            (Some(epoch), Some(seq)) => format!("{epoch}/{seq}"),
            (Some(epoch), None) => format!("{epoch}/-"),
            _ => "-".to_owned(),
        };
        println!(
            "{:.3} {:<12} {:<10} {:<10} {:<8} {}{}",
            entry.at,
            entry.event,
            position,
            entry.kind.as_deref().unwrap_or(""),
            entry.severity.as_deref().unwrap_or(""),
            entry.hash.as_deref().unwrap_or(""),
            entry
                .detail
                .as_deref()
                .map(|d| format!(" {d}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
