//! The commands of `vantage-fleet`, each a thin layer over the library.

use std::fmt::Write as _;

use anyhow::{bail, Context as _};
use tokio_util::sync::CancellationToken;
use vantage_fleet::{
    cli::{Cli, Command},
    serve::{self, unix_now, ServeOptions},
    store::Store,
    tls,
    view::{self, AlertFilter, FleetReport, ALERTS_SCHEMA},
};
use vantage_protocol::{Envelope, Message, PublicKey, Severity};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let db = cli.db_path();
    match cli.command {
        Command::Init { name } => {
            let pin = tls::init(&cli.dir, &name).with_context(|| {
                format!("creating the collector identity in {}", cli.dir.display())
            })?;
            println!(
                "collector key and certificate written to {}",
                cli.dir.display()
            );
            println!("pin {pin}");
        }
        Command::Pin => println!("{}", tls::pin(&cli.dir)?),
        Command::Serve { listen } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            let pin = tls::pin(&cli.dir)?;
            runtime.block_on(async {
                let shutdown = CancellationToken::new();
                let on_signal = shutdown.clone();
                tokio::spawn(async move {
                    wait_for_signal().await;
                    on_signal.cancel();
                });
                serve::serve(
                    ServeOptions {
                        listen,
                        tls_dir: cli.dir.clone(),
                        db: db.clone(),
                    },
                    shutdown,
                    |bound| {
                        // Tests and scripts read this line to learn the port.
                        println!("vantage-fleet listening on {bound} pin {pin}");
                    },
                )
                .await
            })?;
        }
        Command::Enroll {
            request,
            public_key,
            site,
            name,
        } => enroll(&db, request, public_key, site, name)?,
        Command::Sensors { json } => {
            let store = Store::open(&db)?;
            let report = view::fleet_report(store.connection(), unix_now())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render_fleet(&report));
            }
        }
        Command::Export {
            format,
            to,
            after_id,
            min_severity,
            follow,
        } => export(
            &db,
            &format,
            to.as_deref(),
            after_id,
            min_severity.as_deref(),
            follow,
        )?,
        Command::Alerts {
            json,
            sensor,
            min_severity,
            after_id,
            include_broken,
            limit,
        } => {
            let min_severity = parse_severity(min_severity.as_deref())?;
            let store = Store::open(&db)?;
            let filter = AlertFilter {
                after_id,
                sensor,
                min_severity,
                include_broken,
                limit,
            };
            let alerts = view::alerts(store.connection(), &filter)?;
            if json {
                let doc = serde_json::json!({ "schema": ALERTS_SCHEMA, "alerts": alerts });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                for alert in &alerts {
                    let peer = alert
                        .peer
                        .map(|p| format!(" -> {p}:{}", alert.port))
                        .unwrap_or_default();
                    println!(
                        "{:>6} {} {}/{:<12} {:>3}/{:<6} {:<8} {:<12} {}{} x{} {} [{}]",
                        alert.id,
                        vantage_fleet::siem::rfc3339(alert.received_at),
                        alert.site,
                        alert.sensor_name,
                        alert.epoch,
                        alert.seq,
                        alert.severity.name(),
                        alert.kind.name(),
                        alert.host,
                        peer,
                        alert.count,
                        alert.detail,
                        alert.chain.name()
                    );
                }
            }
        }
    }
    Ok(())
}

fn enroll(
    db: &std::path::Path,
    request: Option<String>,
    public_key: Option<String>,
    site: Option<String>,
    name: Option<String>,
) -> anyhow::Result<()> {
    let (key, site, default_name) = match (request, public_key, site) {
        (Some(request), _, _) => {
            let bytes = vantage_protocol::keys::hex_decode(request.trim())
                .context("--request is not hex")?;
            let envelope = Envelope::decode(&bytes).context("--request is not an envelope")?;
            let Message::Enrolment(enrolment) = envelope.message().context("--request payload")?
            else {
                bail!(
                    "--request holds a {} message, not an enrolment",
                    envelope.message()?.kind_name()
                );
            };
            let key = PublicKey(enrolment.public_key);
            envelope
                .verify(&key)
                .context("the enrolment request is not signed by the key it names")?;
            (
                key,
                enrolment.site.to_string(),
                enrolment.hostname.to_string(),
            )
        }
        (None, Some(hex), Some(site)) => {
            let key = PublicKey::from_hex(&hex).context("--public-key")?;
            (key, site, String::new())
        }
        _ => bail!("give either --request, or --public-key with --site"),
    };
    if site.is_empty() {
        bail!("the site name is empty");
    }
    let name = name
        .filter(|n| !n.is_empty())
        .or_else(|| (!default_name.is_empty()).then_some(default_name))
        .unwrap_or_else(|| key.sensor_id().to_string());
    let mut store = Store::open(db)?;
    let enrolled = store.enroll(key, &site, &name, unix_now())?;
    println!(
        "enrolled sensor {} ({}) for site {} as {}",
        enrolled.sensor,
        key.fingerprint(),
        enrolled.site,
        enrolled.name
    );
    Ok(())
}

fn parse_severity(name: Option<&str>) -> anyhow::Result<Option<Severity>> {
    name.map(|name| {
        Severity::from_name(name).with_context(|| {
            format!("--min-severity: {name:?} is not one of info, low, medium, high, critical")
        })
    })
    .transpose()
}

fn export(
    db: &std::path::Path,
    format: &str,
    to: Option<&str>,
    after_id: i64,
    min_severity: Option<&str>,
    follow: bool,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    use vantage_fleet::siem::{
        self,
        transport::{Destination, Sender},
        ExportFormat,
    };
    let format: ExportFormat = format
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--format: {e}"))?;
    let mut sender = match to {
        Some(to) => {
            let destination: Destination = to
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--to: {e}"))?;
            Some(Sender::connect(destination).with_context(|| format!("connecting to {to}"))?)
        }
        None => None,
    };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "-".to_owned());
    let store = Store::open(db)?;
    let mut filter = AlertFilter {
        after_id,
        min_severity: parse_severity(min_severity)?,
        ..AlertFilter::default()
    };
    let stdout = std::io::stdout();
    loop {
        for record in view::alerts(store.connection(), &filter)? {
            let line = siem::render(format, &record, &host);
            match sender.as_mut() {
                Some(sender) => sender.send(&line).context("sending")?,
                None => writeln!(stdout.lock(), "{line}")?,
            }
            filter.after_id = record.id;
        }
        if !follow {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

fn render_fleet(report: &FleetReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:<14} {:<14} {:<10} {:>9} {:<10} {:>6} {:>6} {:>6} {:>8} {:>7} {:>6}",
        "SENSOR",
        "SITE",
        "NAME",
        "STATE",
        "LAST HB",
        "VISIBILITY",
        "CRIT",
        "HIGH",
        "OTHER",
        "MISSING",
        "BROKEN",
        "DUPS"
    );
    for sensor in &report.sensors {
        let crit = sensor.alerts.get("critical").copied().unwrap_or(0);
        let high = sensor.alerts.get("high").copied().unwrap_or(0);
        let other = sensor.alerts.values().sum::<u64>() - crit - high;
        let last = sensor
            .silent_for_secs
            .map_or_else(|| "never".to_owned(), |secs| format!("{secs:.0}s ago"));
        let state = match sensor.liveness {
            view::Liveness::NeverSeen => "never",
            view::Liveness::Reporting => "reporting",
            view::Liveness::Silent => "SILENT",
        };
        let _ = writeln!(
            out,
            "{:<16} {:<14} {:<14} {:<10} {:>9} {:<10} {:>6} {:>6} {:>6} {:>8} {:>7} {:>6}",
            sensor.sensor,
            sensor.site,
            sensor.name,
            state,
            last,
            sensor.visibility,
            crit,
            high,
            other,
            sensor.missing,
            sensor.broken,
            sensor.counters.get("duplicate").copied().unwrap_or(0)
        );
    }
    let refused: Vec<String> = report
        .unattributed
        .iter()
        .map(|(name, count)| format!("{name} {count}"))
        .collect();
    if !refused.is_empty() {
        let _ = writeln!(
            out,
            "refused without a known sensor: {}",
            refused.join(", ")
        );
    }
    out
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
