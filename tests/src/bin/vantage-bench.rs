//! `cargo xtask bench`: cost per packet of the XDP program under
//! `BPF_PROG_TEST_RUN`, for several frame kinds and host-table sizes, as
//! ratios against references measured in the same run: a pass-only XDP
//! program (the floor of the test harness itself) and, when installed,
//! xdp-filter (a production XDP filter).

use std::{process::Command, time::Duration};

use anyhow::{bail, Context as _};
use aya::programs::{TestRun as _, TestRunOptions};
use sensor_common::{v4_mapped, HostCounters, HostTraffic};
use vantage::{
    config::default_local_nets,
    datapath::{Datapath, LoadOptions},
    net::BlockOrigin,
    time::{Clock as _, SystemClock},
};
use vantage_tests::{
    harness::require_root,
    netns::{unique, Namespace},
    packet::{Frame, TCP_SYN},
};

struct Options {
    repeat: u32,
    rounds: usize,
    host_counts: Vec<u32>,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        repeat: 2_000_000,
        rounds: 5,
        host_counts: vec![1, 10_000, 100_000],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                options.repeat = 200_000;
                options.rounds = 3;
            }
            "--repeat" => options.repeat = args.next().context("--repeat N")?.parse()?,
            "--rounds" => options.rounds = args.next().context("--rounds N")?.parse()?,
            "--hosts" => {
                options.host_counts = args
                    .next()
                    .context("--hosts N,N")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--help" | "-h" => {
                println!(
                    "vantage-bench [--quick] [--repeat N] [--rounds N] [--hosts 1,10000,100000]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(options)
}

/// The frames measured, each with what it stands for.
fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let mut malformed = Frame::client()
        .ipv4("10.0.0.1", "203.0.113.10")
        .tcp(40000, 443, TCP_SYN)
        .build();
    malformed.truncate(30);
    vec![
        (
            "TCP SYN, known host",
            Frame::client()
                .ipv4("10.0.0.1", "203.0.113.10")
                .tcp(40000, 443, TCP_SYN)
                .build(),
        ),
        (
            "DNS query",
            Frame::client()
                .ipv4("10.0.0.1", "203.0.113.53")
                .udp(5353, 53)
                .dns_query(1, "www.example.com")
                .build(),
        ),
        (
            "IPv6 TCP SYN",
            Frame::client()
                .ipv6("fd00::1", "2001:db8::10")
                .tcp(40000, 443, TCP_SYN)
                .build(),
        ),
        (
            "VLAN TCP SYN",
            Frame::client()
                .vlan(100)
                .ipv4("10.0.0.1", "203.0.113.10")
                .tcp(40000, 443, TCP_SYN)
                .build(),
        ),
        ("malformed (cut IPv4)", malformed),
    ]
}

fn blocked_frame() -> Vec<u8> {
    Frame::client()
        .ipv4("10.0.0.1", "203.0.113.66")
        .tcp(40000, 443, TCP_SYN)
        .build()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn run_ns(
    datapath: &mut Datapath,
    reference: bool,
    frame: &[u8],
    repeat: u32,
) -> anyhow::Result<(f64, u32)> {
    let program = if reference {
        datapath.reference_program()?
    } else {
        datapath.sensor_program()?
    };
    let result = program.test_run(TestRunOptions {
        data_in: Some(frame),
        repeat,
        ..TestRunOptions::default()
    })?;
    Ok((duration_ns(result.duration), result.return_value))
}

fn duration_ns(d: Duration) -> f64 {
    d.as_nanos() as f64
}

/// Median sensor and reference cost of one frame, interleaved round by round.
fn measure(
    datapath: &mut Datapath,
    frame: &[u8],
    options: &Options,
) -> anyhow::Result<(f64, f64, u32)> {
    let (mut sensor, mut reference) = (Vec::new(), Vec::new());
    let mut verdict = 0;
    // Warm up past the event burst (4000 per CPU) so every round measures the
    // steady state of a flood, not the first few thousand events.
    run_ns(datapath, false, frame, 20_000)?;
    for _ in 0..options.rounds {
        reference.push(run_ns(datapath, true, frame, options.repeat)?.0);
        let (ns, v) = run_ns(datapath, false, frame, options.repeat)?;
        sensor.push(ns);
        verdict = v;
    }
    Ok((median(&mut sensor), median(&mut reference), verdict))
}

fn load(hosts: u32) -> anyhow::Result<Datapath> {
    let capacity = (hosts + hosts / 4).max(16_384);
    let mut datapath = Datapath::load(&LoadOptions {
        pins: None,
        host_capacity: capacity,
    })?;
    let maps = datapath.maps_mut();
    maps.set_local_nets(&default_local_nets())?;
    maps.set_events(true, 2000, 4000)?;
    let now = SystemClock.monotonic_ns();
    for i in 0..hosts {
        // 10.0.0.1 (the measured host) is the first of them.
        let n = i + 1;
        let counters = HostCounters {
            traffic: HostTraffic {
                packets_out: 1,
                ..HostTraffic::default()
            },
            first_seen_ns: now,
            last_seen_ns: now,
            ..HostCounters::default()
        };
        // A host whose set is already full is left out (the table is
        // sized at twice the hosts, so few are).
        maps.insert_host(
            &v4_mapped([10, (n >> 16) as u8, (n >> 8) as u8, n as u8]),
            counters,
        )?;
    }
    Ok(datapath)
}

fn verdict_name(verdict: u32) -> &'static str {
    match verdict {
        1 => "drop",
        2 => "pass",
        _ => "other",
    }
}

/// Loads xdp-filter (allow policy, all features) on a veth in a private
/// namespace and measures it with `bpftool prog run` on the same frame.
fn xdp_filter_ns(frame: &[u8], options: &Options) -> anyhow::Result<f64> {
    let ns = Namespace::create("xf")?;
    let (a, b) = (unique("v", "xfa"), unique("v", "xfb"));
    ns.ip(&["link", "add", &a, "type", "veth", "peer", "name", &b])?;
    ns.ip(&["link", "set", &a, "up"])?;
    let enter = format!("--net=/run/netns/{}", ns.name());
    let load = Command::new("nsenter")
        .args([enter.as_str(), "xdp-filter", "load", "--mode", "skb", &a])
        .output()?;
    if !load.status.success() {
        bail!("xdp-filter load: {}", String::from_utf8_lossy(&load.stderr));
    }
    let result = (|| -> anyhow::Result<f64> {
        let listing = Command::new("bpftool").args(["prog", "show"]).output()?;
        let id = String::from_utf8_lossy(&listing.stdout)
            .lines()
            .filter(|l| l.contains("name xdpfilt_"))
            .filter_map(|l| l.split(':').next()?.trim().parse::<u32>().ok())
            .max()
            .context("xdp-filter's program is not loaded")?;
        let file = std::env::temp_dir().join(format!("vantage-bench-{}.bin", std::process::id()));
        std::fs::write(&file, frame)?;
        let mut samples = Vec::new();
        for _ in 0..options.rounds {
            let out = Command::new("bpftool")
                .args(["prog", "run", "id", &id.to_string(), "data_in"])
                .arg(&file)
                .args(["repeat", &options.repeat.to_string()])
                .output()?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            let ns = text
                .split("duration (average):")
                .nth(1)
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches(|c: char| !c.is_ascii_digit())
                        .parse::<f64>()
                        .ok()
                })
                .with_context(|| format!("parsing bpftool prog run: {text}"))?;
            samples.push(ns);
        }
        let _ = std::fs::remove_file(&file);
        Ok(median(&mut samples))
    })();
    let _ = Command::new("nsenter")
        .args([enter.as_str(), "xdp-filter", "unload", &a])
        .output();
    // libxdp leaves its bpffs directory behind; remove it only if it is empty.
    let _ = std::fs::remove_dir("/sys/fs/bpf/xdp");
    result
}

fn main() -> anyhow::Result<()> {
    require_root();
    let options = options()?;
    println!(
        "Vantage XDP benchmark: BPF_PROG_TEST_RUN, median of {} rounds of {} runs each",
        options.rounds, options.repeat
    );
    println!("reference = a pass-only XDP program measured in the same rounds (the harness's own cost)\n");
    println!(
        "{:<24} {:>8} {:>9} {:>11} {:>7} {:>8}",
        "frame", "hosts", "ns/pkt", "reference", "ratio", "verdict"
    );
    let mut syn_10k = None;
    for &hosts in &options.host_counts {
        let mut datapath = load(hosts)?;
        for (name, frame) in frames() {
            let (ns, reference, verdict) = measure(&mut datapath, &frame, &options)?;
            println!(
                "{name:<24} {hosts:>8} {ns:>9.1} {reference:>11.1} {:>6.2}x {:>8}",
                ns / reference,
                verdict_name(verdict)
            );
            if hosts == 10_000 && name.starts_with("TCP SYN") {
                syn_10k = Some(ns);
            }
        }
        let target = "203.0.113.66".parse()?;
        datapath.maps_mut().block_add(
            &target,
            Duration::from_secs(3600),
            BlockOrigin::Operator,
            SystemClock.monotonic_ns(),
        )?;
        let (ns, reference, verdict) = measure(&mut datapath, &blocked_frame(), &options)?;
        println!(
            "{:<24} {hosts:>8} {ns:>9.1} {reference:>11.1} {:>6.2}x {:>8}",
            "blocked host",
            ns / reference,
            verdict_name(verdict)
        );
        let (ns, reference, verdict) = measure(&mut datapath, &frames()[0].1, &options)?;
        println!(
            "{:<24} {hosts:>8} {ns:>9.1} {reference:>11.1} {:>6.2}x {:>8}",
            "TCP SYN, blocks active",
            ns / reference,
            verdict_name(verdict)
        );
    }
    println!();
    match xdp_filter_ns(&frames()[0].1, &options) {
        Ok(filter) => {
            println!("xdp-filter (allow policy, all features), same SYN frame: {filter:.1} ns/pkt");
            if let Some(syn) = syn_10k {
                println!("Vantage TCP SYN with 10k hosts / xdp-filter = {:.2} (target: at most about 1.0)", syn / filter);
            }
        }
        Err(e) => println!("xdp-filter reference not measured: {e:#}"),
    }
    Ok(())
}
