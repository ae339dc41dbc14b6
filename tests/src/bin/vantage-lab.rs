//! `cargo xtask lab`: a small live site in network namespaces (three clients
//! behind an inline gateway running Vantage, an "internet" with a DNS
//! responder, a web server and the MSSP's `vantage-fleet` collector), a
//! steady mix of ordinary traffic, the sensor's live status and the fleet
//! view until Ctrl-C, SIGTERM or SIGHUP (its terminal closed); then
//! everything it created is removed, and every process it started is stopped.
//! With `--attack NAME`, a client attacks the site once it is up (see
//! `vantage_tests::attack`), under a policy that blocks: the screen shows the
//! detection at the collector, the decision, the kernel's block, the
//! attacker's traffic stopping, and the block lapsing.

use std::{
    io::Write as _,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use vantage_tests::{
    agent::{vantage_bin, SensorDirs},
    attack::{view::AttackView, Attack, Target},
    fleet::{fleet_bin, Collector, FleetDir, SensorUplink},
    harness::require_root,
    placement::{Placement, Topology},
    site::{COLLECTOR, DNS_SERVER, WEB_SERVER},
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

fn main() -> anyhow::Result<()> {
    require_root();
    let (duration, placement, attack) = parse_args(std::env::args().skip(1))?;
    install_signal_handlers();
    run(duration, placement, attack)?;
    show("removed the lab site\n");
    Ok(())
}

const USAGE: &str = "vantage-lab [--seconds N] [--placement NAME] [--attack NAME]";

/// `[--seconds N]`: how long to run (until stopped when absent);
/// `[--placement NAME]`: where the sensor sits (`good` when absent);
/// `[--attack NAME]`: the attack a client runs once the site is up. Anything
/// else is refused, so that a mistyped option does not run the lab forever.
fn parse_args(
    mut args: impl Iterator<Item = String>,
) -> anyhow::Result<(Option<Duration>, Placement, Option<Attack>)> {
    let mut duration = None;
    let mut placement = Placement::Good;
    let mut attack = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().context("--seconds needs a number")?;
                let seconds: u64 = value
                    .parse()
                    .with_context(|| format!("--seconds {value:?}: not a whole number"))?;
                duration = Some(Duration::from_secs(seconds));
            }
            "--placement" => {
                let value = args.next().context("--placement needs a name")?;
                placement = Placement::from_name(&value).with_context(|| {
                    format!("--placement {value:?}: not one of {}", placement_names())
                })?;
            }
            "--attack" => {
                let value = args.next().context("--attack needs a name")?;
                attack = Some(Attack::from_name(&value).with_context(|| {
                    format!("--attack {value:?}: not one of {}", Attack::names())
                })?);
            }
            "--help" | "-h" => {
                println!("{USAGE}: a live demo site in network namespaces (root); runs until Ctrl-C, SIGTERM or SIGHUP, or N seconds");
                println!("placements: {}", placement_names());
                for p in Placement::ALL {
                    println!("  {:<17} {}", p.name(), p.describe());
                }
                println!("attacks: {}", Attack::names());
                for a in Attack::ALL {
                    println!("  {:<17} {}", a.name(), a.describe());
                }
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other:?} (usage: {USAGE})"),
        }
    }
    Ok((duration, placement, attack))
}

fn placement_names() -> String {
    Placement::ALL.map(Placement::name).join(", ")
}

/// Builds the site and shows it until stopped. What it made is removed as
/// its values are dropped on return (also on an error or a panic), the
/// traffic first, the agent's pins and the namespaces last.
fn run(
    duration: Option<Duration>,
    placement: Placement,
    attack: Option<Attack>,
) -> anyhow::Result<()> {
    show(&format!(
        "building the lab site ({}{})...\n",
        placement.name(),
        attack.map_or(String::new(), |a| format!(", attack {}", a.name()))
    ));
    let topology = Topology::build(placement, "lb", 3)?;
    let site = &topology.site;
    let dirs = SensorDirs::new("lab");
    let fleet = FleetDir::init("lab")?;
    // The attack's policy and detector settings, and its known-bad list.
    std::fs::create_dir_all(&dirs.state_dir)?;
    let list = dirs.state_dir.join("known-bad.txt");
    let attack_config = match attack {
        Some(attack) => attack.config(&list)?,
        None => String::new(),
    };
    let collector = Collector::start(&fleet, Some(&site.internet), &format!("{COLLECTOR}:7443"))?;
    let uplink = SensorUplink::create(
        &dirs.state_dir.join("uplink"),
        &fleet,
        collector.addr,
        "lab-site",
        &format!(
            "heartbeat_interval = \"5s\"\n{}{attack_config}",
            topology.config()
        ),
    )?;
    // The MSSP's contract for the site, so that the fleet view checks the
    // sensor against what was sold, not only against its own configuration.
    fleet.fleet(&[
        "expect",
        &uplink.sensor_id,
        "--mode",
        topology.mode(),
        "--expect-hosts",
        &topology.clients.len().to_string(),
        "--resolvers",
        &DNS_SERVER.to_string(),
    ])?;
    let agent = topology.start_agent(&dirs, &uplink.config)?;
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

    let traffic = topology.traffic();

    let bin = vantage_bin()?;
    let fleet_bin = fleet_bin()?;
    let flags = format!(
        "--pin-dir {} --state-dir {}",
        dirs.pin_dir.display(),
        dirs.state_dir.display()
    );
    let started = Instant::now();
    let mut attack = attack.map(|a| AttackView::new(a, started));
    let target = Target {
        site,
        clients: &topology.clients,
        tag: "lb",
        list: &list,
    };
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
        screen += &format!(
            "placement {}: {}; the sensor attaches to {}\n",
            placement.name(),
            placement.describe(),
            topology.interfaces.join(", ")
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
            "  this screen's table: sudo {} status {flags}    the uplink log: sudo {} log {config_flag}\n",
            bin.display(),
            bin.display()
        );
        screen += &format!(
            "  the installer's check: sudo nsenter --net=/run/netns/{} {} placement {config_flag} {flags}\n\n",
            topology.sensor_ns().name(),
            bin.display()
        );
        if let Some(view) = attack.as_mut() {
            screen += &view.step(&target, &fleet, &dirs);
            screen += "\n";
        }
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
    drop(attack);
    drop(traffic);
    drop(agent);
    drop(collector);
    Ok(())
}
