//! `cargo xtask vm boot`: boots the gateway image with a LAN and a WAN
//! interface on host namespaces and a collector on the WAN side.
//!
//! The run: the collector (`vantage-fleet init` and `serve`) in the WAN
//! namespace; a copy of the image whose data partition holds the site's
//! provisioning (the agent's configuration with the collector and its pin,
//! addresses and forwarding on both sides); QEMU (TCG) with the two NICs.
//! Then the checks, each printed as PASS or FAIL: the enrolment request on
//! the console is enrolled at the collector; the agent attaches to both
//! interfaces and keeps only CAP_BPF; traffic crosses the VM both ways; the
//! collector stores heartbeats saying two interfaces and the LAN client
//! seen. Namespaces, processes and the copy go on every exit.

mod fleet;
mod guard;
mod net;
mod provision;
mod qemu;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use clap::Args;

use crate::{
    arch::Arch,
    image::{default_image, disk, host, images_dir},
};
use guard::{check_stop, Scratch};
use net::Bed;
use qemu::Console;

/// Arguments of `cargo xtask vm boot`.
#[derive(Debug, Args)]
pub struct BootArgs {
    /// Guest architecture (the image built by `cargo xtask image --arch`).
    #[arg(long, value_enum, default_value_t = Arch::X86_64)]
    pub arch: Arch,
    /// The image to boot (default: target/images/vantage-ARCH.img); it is
    /// copied, never changed.
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// Seconds the whole check may take (TCG is slow: aarch64 more so).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

/// One check's outcome, printed as it is decided.
fn pass(name: &str, detail: &str) {
    println!("PASS {name}: {detail}");
}

/// The run's clock and deadline.
struct Clock {
    start: Instant,
    deadline: Instant,
}

impl Clock {
    fn secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Polls `probe` every 500 ms until it returns a value, the deadline
    /// passes or a stop signal arrives.
    fn wait<T>(
        &self,
        what: &str,
        mut probe: impl FnMut() -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<T> {
        loop {
            check_stop()?;
            if let Some(value) = probe()? {
                return Ok(value);
            }
            if Instant::now() > self.deadline {
                bail!("timed out after {:.0} s waiting for {what}", self.secs());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

pub fn run(args: &BootArgs) -> anyhow::Result<()> {
    crate::cmd::require_root("vm boot")?;
    crate::cmd::ensure_packages(&host::boot_packages(args.arch))?;
    guard::catch_signals();
    let image = args
        .image
        .clone()
        .unwrap_or_else(|| default_image(args.arch));
    if !image.exists() {
        bail!(
            "{} is missing: build it with cargo xtask image --arch {}",
            image.display(),
            args.arch
        );
    }
    let fleet_binary = fleet::build()?;
    let pid = std::process::id();
    let run_dir = images_dir().join(format!("vm-boot-{}-{pid}", args.arch));
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let scratch = Scratch(run_dir.clone());
    let console = Console {
        path: run_dir.join("console.log"),
    };
    let kept = images_dir().join(format!("vm-boot-{}.console.log", args.arch));
    let result = boot_and_check(args, &image, &fleet_binary, &run_dir, &console);
    // The console outlives the run directory, for reading afterwards.
    let _ = std::fs::copy(&console.path, &kept);
    if let Err(error) = &result {
        println!("FAIL vm boot --arch {}: {error:#}", args.arch);
        println!("---- console, last 40 lines ({}) ----", kept.display());
        println!("{}", console.tail(40));
        let fleet_log = run_dir.join("fleet.log");
        if let Ok(text) = std::fs::read_to_string(&fleet_log) {
            let lines: Vec<&str> = text.lines().collect();
            println!("---- vantage-fleet serve, last 10 lines ----");
            println!("{}", lines[lines.len().saturating_sub(10)..].join("\n"));
        }
    }
    drop(scratch);
    result
}

fn boot_and_check(
    args: &BootArgs,
    image: &Path,
    fleet_binary: &Path,
    run_dir: &Path,
    console: &Console,
) -> anyhow::Result<()> {
    let arch = args.arch;
    let bed = Bed::create()?;
    let fleet = fleet::Fleet::start(
        fleet_binary,
        &run_dir.join("fleet"),
        &bed.wan,
        &run_dir.join("fleet.log"),
    )?;

    // The disk: a sparse copy whose data partition carries the provisioning.
    let disk_path = run_dir.join("disk.img");
    crate::cmd::run(
        Command::new("cp")
            .arg("--sparse=always")
            .arg(image)
            .arg(&disk_path),
    )?;
    let provision = run_dir.join("provision");
    provision::write_site(&provision, &fleet.pin)?;
    let (data_start, data_mib) = disk::data_partition(&disk_path)?;
    let data_dir = run_dir.join("data");
    disk::data_contents(Some(&provision), &data_dir)?;
    let data_img = run_dir.join("data.img");
    disk::ext4(&data_dir, disk::DATA_NAME, data_mib, &data_img)?;
    disk::write_at(&data_img, &disk_path, data_start)?;

    let timeout = args.timeout.unwrap_or(match arch {
        Arch::X86_64 => 600,
        Arch::Aarch64 => 1200,
    });
    let start = Instant::now();
    let clock = Clock {
        start,
        deadline: start + Duration::from_secs(timeout),
    };
    let mut vm = qemu::start(
        arch,
        &bed,
        &disk_path,
        run_dir,
        &console.path,
        &run_dir.join("qemu.log"),
    )?;
    let mut alive = || -> anyhow::Result<()> {
        match vm.exited() {
            Some(status) => bail!(
                "QEMU exited ({status}): {}",
                std::fs::read_to_string(run_dir.join("qemu.log"))
                    .unwrap_or_default()
                    .trim()
            ),
            None => Ok(()),
        }
    };

    // 1. The enrolment request on the console, enrolled at the collector.
    let (sensor, request) = clock.wait("the enrolment request on the console", || {
        alive()?;
        let text = console.text();
        let request = text
            .lines()
            .find_map(|l| {
                l.split_once("vantage-enrolment-request: ")
                    .map(|(_, r)| r.trim())
            })
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        let sensor = text.lines().find_map(|l| {
            l.split_once("vantage: sensor id ")
                .and_then(|(_, rest)| rest.split(',').next())
                .map(str::to_owned)
        });
        Ok(sensor.zip(request))
    })?;
    let enrolled = fleet.enroll(&request)?;
    pass(
        "enrolment",
        &format!(
            "request for sensor {sensor} read from the console at {:.1} s and enrolled: {}",
            clock.secs(),
            enrolled.lines().next().unwrap_or_default().trim()
        ),
    );

    // 2. The service up: attached to both sides, down to CAP_BPF.
    clock.wait("the agent attached to eth0 and eth1", || {
        alive()?;
        let text = console.text();
        if let Some(line) = text.lines().find(|l| l.contains("vantage.service: Failed")) {
            bail!("the agent failed: {line}");
        }
        Ok(
            (text.contains("attached to eth0 (") && text.contains("attached to eth1 ("))
                .then_some(()),
        )
    })?;
    let boot_secs = clock.secs();
    let text = console.text();
    let attached: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("attached to eth"))
        .filter_map(|l| l.split_once("] ").map(|(_, m)| m))
        .filter_map(|l| l.rsplit_once("] ").map(|(_, m)| m))
        .collect();
    pass(
        "service up",
        &format!("{boot_secs:.1} s from QEMU start: {}", attached.join("; ")),
    );
    let caps = clock.wait("the agent's capabilities dropped", || {
        alive()?;
        Ok(console
            .text()
            .lines()
            .find(|l| l.contains("capabilities reduced to"))
            .map(str::to_owned))
    })?;
    if !caps.contains("{CAP_BPF}") {
        bail!("the agent kept more than CAP_BPF: {caps}");
    }
    pass(
        "capabilities",
        "the agent keeps only CAP_BPF after attaching",
    );
    let checks_start = Instant::now();

    // 3. Traffic through the VM, both ways.
    let ping = |ns: &str, to: &str| -> anyhow::Result<()> {
        let mut command = Bed::exec(ns, "ping");
        command.args(["-c", "3", "-i", "0.3", "-W", "5", to]);
        if !crate::cmd::succeeds(&mut command) {
            bail!(
                "ping from {ns} to {to} through the VM failed: {}",
                qemu::short(Bed::exec(ns, "ping").args(["-c", "1", "-W", "3", to]))
            );
        }
        Ok(())
    };
    clock.wait("the VM forwarding between its LAN and WAN sides", || {
        alive()?;
        let mut probe = Bed::exec(&bed.lan, "ping");
        probe.args(["-c", "1", "-W", "2", net::WAN_SERVER]);
        Ok(crate::cmd::succeeds(&mut probe).then_some(()))
    })?;
    ping(&bed.lan, net::WAN_SERVER)?;
    ping(&bed.wan, net::LAN_CLIENT)?;
    let mut tcp = Bed::exec(&bed.lan, "timeout");
    tcp.args([
        "5",
        "bash",
        "-c",
        &format!("exec 3<>/dev/tcp/{}/{}", net::WAN_SERVER, fleet::PORT),
    ]);
    if !crate::cmd::succeeds(&mut tcp) {
        bail!(
            "a TCP connection from the LAN client to {}:{} failed",
            net::WAN_SERVER,
            fleet::PORT
        );
    }
    pass(
        "forwarding",
        &format!(
            "ping {} <-> {} (3 each way) and a TCP connection LAN -> WAN, through the VM",
            net::LAN_CLIENT,
            net::WAN_SERVER
        ),
    );

    // 4. Heartbeats at the collector: two interfaces, the LAN client seen.
    let mut first_uptime: Option<u64> = None;
    let summary = clock.wait("heartbeats with 2 interfaces and the LAN client seen", || {
        alive()?;
        // Keep the client talking so that every window has it.
        let mut keep = Bed::exec(&bed.lan, "ping");
        keep.args(["-c", "1", "-W", "1", net::WAN_SERVER]);
        let _ = crate::cmd::succeeds(&mut keep);
        let Some(view) = fleet.sensor(&sensor)? else {
            bail!("the collector does not list sensor {sensor} after enrolling it");
        };
        let heartbeat = &view["last_heartbeat"];
        if heartbeat.is_null() {
            return Ok(None);
        }
        let interfaces = heartbeat["health"]["interfaces"].as_u64().unwrap_or(0);
        let hosts = view["hosts_seen"].as_u64().unwrap_or(0);
        let uptime = heartbeat["uptime_secs"].as_u64().unwrap_or(0);
        let stored = view["envelopes"].as_u64().unwrap_or(0);
        // Several heartbeats, the last one sent after the traffic above.
        let sent_after = uptime >= first_uptime.get_or_insert(uptime).saturating_add(4);
        Ok((interfaces == 2 && hosts >= 1 && stored >= 3 && sent_after).then(|| {
            format!(
                "sensor {sensor} ({} at site {}) {}, {} envelopes stored, last heartbeat: {} interfaces, {} protected host(s) seen, uptime {} s",
                view["name"].as_str().unwrap_or_default(),
                view["site"].as_str().unwrap_or_default(),
                view["liveness"].as_str().unwrap_or_default(),
                view["envelopes"],
                interfaces,
                hosts,
                heartbeat["uptime_secs"]
            )
        }))
    })?;
    pass("heartbeats", &summary);
    println!(
        "PASS vm boot --arch {arch}: service up {boot_secs:.1} s after QEMU start, checks {:.1} s, total {:.1} s",
        checks_start.elapsed().as_secs_f64(),
        clock.secs()
    );
    drop(vm);
    drop(fleet);
    drop(bed);
    Ok(())
}
