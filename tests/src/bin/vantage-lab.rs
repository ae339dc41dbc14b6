//! `cargo xtask lab`: a small live site in network namespaces (three clients
//! behind an inline gateway running Vantage, an "internet" with a DNS
//! responder, a web server and the MSSP's `vantage-fleet` collector), a
//! steady mix of ordinary traffic, the sensor's live status and the fleet
//! view until Ctrl-C, SIGTERM or SIGHUP (its terminal closed); then
//! everything it created is removed, and every process it started is stopped.

use std::{
    io::Write as _,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use vantage_tests::{
    agent::{vantage_bin, Agent, SensorDirs},
    fleet::{fleet_bin, Collector, FleetDir, SensorUplink},
    harness::require_root,
    services::{dns_query, dns_responder, http_get, http_server, ping},
    site::{Client, Site, COLLECTOR, DNS_SERVER, SITE_NET, WEB_SERVER},
};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Ctrl-C, SIGTERM and SIGHUP all stop the lab the same way. A hangup that
/// `nohup` asked to ignore stays ignored.
fn install_signal_handlers() {
    let handler = request_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: reading the current disposition has no preconditions; the
        // handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut current);
            if signal == libc::SIGHUP && current.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            libc::signal(signal, handler);
        }
    }
}

/// Writes to the screen. Its terminal may be gone (closed, hung up: EIO) or
/// its reader may have left (EPIPE): either stops the lab like a signal, and
/// nothing written after that can fail it.
fn show(text: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        STOP.store(true, Ordering::SeqCst);
    }
}

/// The clients' traffic; stopped and joined on drop, so no `ping` it runs
/// outlives the lab, even when the lab fails half-way.
struct Traffic {
    stop: Arc<AtomicBool>,
    drivers: Vec<JoinHandle<()>>,
}

impl Traffic {
    fn start(clients: &Arc<Vec<Client>>) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let mut drivers = Vec::new();
        for index in 0..clients.len() {
            let (clients, stop) = (clients.clone(), stop.clone());
            drivers.push(std::thread::spawn(move || {
                let client = &clients[index];
                let mut round = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let name = NAMES[(round + index) % NAMES.len()];
                    let _ = dns_query(&client.ns, DNS_SERVER, name, round as u16);
                    let _ = http_get(&client.ns, WEB_SERVER, Duration::from_secs(1));
                    if round % 3 == index % 3 {
                        let _ = ping(&client.ns, WEB_SERVER, 1);
                    }
                    round += 1;
                    std::thread::sleep(Duration::from_millis(700 + 300 * index as u64));
                }
            }));
        }
        Traffic { stop, drivers }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for driver in self.drivers.drain(..) {
            let _ = driver.join();
        }
    }
}

const NAMES: [&str; 6] = [
    "www.example.com",
    "mail.example.org",
    "updates.example.net",
    "cdn.example.com",
    "time.example.org",
    "api.example.net",
];

fn main() -> anyhow::Result<()> {
    require_root();
    let duration = parse_args(std::env::args().skip(1))?;
    install_signal_handlers();
    run(duration)?;
    show("removed the lab site\n");
    Ok(())
}

/// `[--seconds N]`: how long to run (until stopped when absent). Anything
/// else is refused, so that a mistyped option does not run the lab forever.
fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<Duration>> {
    let mut duration = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().context("--seconds needs a number")?;
                let seconds: u64 = value
                    .parse()
                    .with_context(|| format!("--seconds {value:?}: not a whole number"))?;
                duration = Some(Duration::from_secs(seconds));
            }
            "--help" | "-h" => {
                println!("vantage-lab [--seconds N]: a live demo site in network namespaces (root); runs until Ctrl-C, SIGTERM or SIGHUP, or N seconds");
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other:?} (usage: vantage-lab [--seconds N])"),
        }
    }
    Ok(duration)
}

/// Builds the site and shows it until stopped. What it made is removed as
/// its values are dropped on return (also on an error or a panic), the
/// traffic first, the agent's pins and the namespaces last.
fn run(duration: Option<Duration>) -> anyhow::Result<()> {
    show("building the lab site...\n");
    let site = Site::build("lb", 3)?;
    let dirs = SensorDirs::new("lab");
    let _dns = dns_responder(&site.internet, DNS_SERVER)?;
    let _web = http_server(&site.internet, WEB_SERVER)?;
    let fleet = FleetDir::init("lab")?;
    let collector = Collector::start(&fleet, Some(&site.internet), &format!("{COLLECTOR}:7443"))?;
    let uplink = SensorUplink::create(
        &dirs.state_dir.join("uplink"),
        &fleet,
        collector.addr,
        "lab-site",
        "heartbeat_interval = \"5s\"",
    )?;
    let agent = Agent::start_with_config(
        &site.gateway,
        &[&site.gateway_lan, &site.gateway_wan],
        &[SITE_NET],
        &dirs,
        Some(&uplink.config),
    )?;
    let config_flag = format!("--config {}", uplink.config.display());
    dirs.vantage_ok(&[
        "alert",
        "--config",
        &uplink.config.display().to_string(),
        "--severity",
        "info",
        "--detail",
        "lab started",
    ])?;

    let clients = Arc::new(site.clients);
    let traffic = Traffic::start(&clients);

    let bin = vantage_bin()?;
    let fleet_bin = fleet_bin()?;
    let flags = format!(
        "--pin-dir {} --state-dir {}",
        dirs.pin_dir.display(),
        dirs.state_dir.display()
    );
    let started = Instant::now();
    while !STOP.load(Ordering::SeqCst) && duration.is_none_or(|d| started.elapsed() < d) {
        let table = dirs
            .vantage_ok(&["status"])
            .unwrap_or_else(|e| format!("status failed: {e:#}\n"));
        let sensors = fleet
            .fleet(&["sensors"])
            .unwrap_or_else(|e| format!("fleet view failed: {e:#}\n"));
        let alerts = fleet
            .fleet(&["alerts", "--limit", "1000"])
            .unwrap_or_default();
        let recent: Vec<&str> = alerts.lines().rev().take(5).collect();
        let mut screen = String::from("\x1b[2J\x1b[H");
        screen += &format!(
            "Vantage lab: 3 clients -> gateway {} / {} -> internet (DNS {DNS_SERVER}, web {WEB_SERVER})\n",
            site.gateway_lan, site.gateway_wan
        );
        screen += "Ctrl-C (or SIGTERM, SIGHUP) stops the lab and removes every namespace, veth and pin it made.\n";
        screen += &format!(
            "Try, in another shell: sudo {} block add {WEB_SERVER} --ttl 20s {flags}\n",
            bin.display()
        );
        screen += &format!(
            "                   or: sudo {} alert --severity high --detail hello {config_flag}\n",
            bin.display()
        );
        screen += &format!(
            "         and then see: {} --dir {} alerts\n",
            fleet_bin.display(),
            fleet.dir.display()
        );
        screen += &format!(
            "  this screen's table: sudo {} status {flags}    the uplink log: sudo {} log {config_flag}\n\n",
            bin.display(),
            bin.display()
        );
        screen += &table;
        screen += &format!(
            "\nMSSP fleet view (vantage-fleet sensors, collector at {}):\n{sensors}",
            collector.addr
        );
        screen += "latest alerts:\n";
        for line in recent.into_iter().rev() {
            screen += line;
            screen += "\n";
        }
        show(&screen);
        for _ in 0..20 {
            if STOP.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    show("\nstopping the lab...\n");
    drop(traffic);
    drop(agent);
    drop(collector);
    Ok(())
}
