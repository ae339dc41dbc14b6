//! `cargo xtask lab`: a small live site in network namespaces (three clients
//! behind an inline gateway running Vantage, an "internet" with a DNS
//! responder, a web server and the MSSP's `vantage-fleet` collector), a
//! steady mix of ordinary traffic, the sensor's live status and the fleet
//! view until Ctrl-C; then everything it created is removed.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use vantage_tests::{
    agent::{vantage_bin, Agent, SensorDirs},
    fleet::{fleet_bin, Collector, FleetDir, SensorUplink},
    harness::require_root,
    services::{dns_query, dns_responder, http_get, http_server, ping},
    site::{Site, COLLECTOR, DNS_SERVER, SITE_NET, WEB_SERVER},
};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    let handler = request_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
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
    let duration = match std::env::args().skip_while(|a| a != "--seconds").nth(1) {
        Some(s) => Some(Duration::from_secs(s.parse().context("--seconds N")?)),
        None => None,
    };
    install_signal_handlers();
    println!("building the lab site...");
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

    let traffic_stop = Arc::new(AtomicBool::new(false));
    let mut drivers = Vec::new();
    let clients = Arc::new(site.clients);
    for index in 0..clients.len() {
        let (clients, stop) = (clients.clone(), traffic_stop.clone());
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

    let bin = vantage_bin()?;
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
        print!("\x1b[2J\x1b[H");
        println!("Vantage lab: 3 clients -> gateway {} / {} -> internet (DNS {DNS_SERVER}, web {WEB_SERVER})", site.gateway_lan, site.gateway_wan);
        println!("Ctrl-C stops the lab and removes every namespace, veth and pin it made.");
        println!(
            "Try, in another shell: sudo {} block add {WEB_SERVER} --ttl 20s {flags}",
            bin.display()
        );
        println!(
            "                   or: sudo {} alert --severity high --detail hello {config_flag}",
            bin.display()
        );
        println!(
            "         and then see: {} --dir {} alerts\n",
            fleet_bin()?.display(),
            fleet.dir.display()
        );
        print!("{table}");
        let sensors = fleet
            .fleet(&["sensors"])
            .unwrap_or_else(|e| format!("fleet view failed: {e:#}\n"));
        let alerts = fleet
            .fleet(&["alerts", "--limit", "1000"])
            .unwrap_or_default();
        let recent: Vec<&str> = alerts.lines().rev().take(5).collect();
        println!(
            "\nMSSP fleet view (vantage-fleet sensors, collector at {}):\n{sensors}",
            collector.addr
        );
        println!("latest alerts:");
        for line in recent.into_iter().rev() {
            println!("{line}");
        }
        for _ in 0..20 {
            if STOP.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    println!("\nstopping the lab...");
    traffic_stop.store(true, Ordering::SeqCst);
    for driver in drivers {
        let _ = driver.join();
    }
    drop(agent);
    drop(collector);
    println!("removed the lab site");
    Ok(())
}
