//! `cargo xtask bench`: what the XDP program costs per frame under
//! `BPF_PROG_TEST_RUN`, against two references measured in the same
//! interleaved rounds on the same frame: xdp-filter (a production XDP
//! filter; the target is at most 0.8 of its cost for a SYN from a known
//! host with 10k hosts in the table) and a pass-only program (the floor of
//! the test harness itself).
//!
//! Three parts: frame kinds against table sizes (hosts written by the agent's
//! API); where the nanoseconds go (cut-down copies of the program stopping
//! after each stage); and the program as a running agent has it (events on,
//! hosts created by packets, the agent draining and sampling meanwhile).

use std::time::Duration;

use anyhow::{bail, Context as _};
use aya::programs::Xdp;
use sensor_common::{
    v4_mapped, HostCounters, HostTraffic, PROGRAM_REFERENCE, PROGRAM_SENSOR, PROGRAM_STAGES,
};
use vantage::{
    config::default_local_nets,
    datapath::{Datapath, LoadOptions},
    net::BlockOrigin,
    time::{Clock as _, SystemClock},
};
use vantage_tests::{
    bench::{
        interleaved, live::LiveAgent, pin_to_cpu, test_run, verdict_name, xdp_filter::XdpFilter,
        Measured, PinDir, Rounds,
    },
    harness::require_root,
    packet::{Frame, TCP_SYN},
};

/// The CPU every run happens on (see `pin_to_cpu`).
const BENCH_CPU: usize = 0;
/// Warm-up passes before each measurement: past the event burst (4000 per
/// CPU by default), so rounds measure the steady state of a flood.
const WARM_UP: u32 = 20_000;
/// The bound the brief sets: Vantage / xdp-filter for the SYN.
const TARGET_RATIO: f64 = 0.8;

struct Options {
    rounds: Rounds,
    host_counts: Vec<u32>,
    parts: Vec<String>,
}

const USAGE: &str = "vantage-bench [--quick] [--rounds N] [--repeat N] [--hosts 1,10000,100000] [--only frames|stages|live,...]";

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        rounds: Rounds {
            rounds: 15,
            repeat: 400_000,
        },
        host_counts: vec![1, 10_000, 100_000],
        parts: vec!["frames".into(), "stages".into(), "live".into()],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                options.rounds = Rounds {
                    rounds: 7,
                    repeat: 100_000,
                };
                options.host_counts = vec![10_000];
            }
            "--rounds" => options.rounds.rounds = args.next().context("--rounds N")?.parse()?,
            "--repeat" => options.rounds.repeat = args.next().context("--repeat N")?.parse()?,
            "--hosts" => {
                options.host_counts = args
                    .next()
                    .context("--hosts N,N")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--only" => {
                options.parts = args
                    .next()
                    .context("--only frames|stages|live")?
                    .split(',')
                    .map(str::to_owned)
                    .collect();
                if let Some(bad) = options
                    .parts
                    .iter()
                    .find(|p| !["frames", "stages", "live"].contains(&p.as_str()))
                {
                    bail!("unknown part {bad}: {USAGE}");
                }
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}: {USAGE}"),
        }
    }
    if options.rounds.rounds == 0 || options.rounds.repeat == 0 {
        bail!("--rounds and --repeat must be at least 1");
    }
    Ok(options)
}

/// The SYN from a known protected host to the outside: the headline frame.
fn syn() -> Vec<u8> {
    Frame::client()
        .ipv4("10.0.0.1", "203.0.113.10")
        .tcp(40000, 443, TCP_SYN)
        .build()
}

/// The frames of the table, each with what it stands for.
fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let mut malformed = syn();
    malformed.truncate(30);
    vec![
        ("TCP SYN, known host", syn()),
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

/// The sensor with `hosts` hosts written into its table (10.0.0.1, the
/// measured host, first), events on as the agent's defaults have them.
fn load(hosts: u32) -> anyhow::Result<(Datapath, u32)> {
    let capacity = (hosts + hosts / 4).max(16_384);
    let mut datapath = Datapath::load(&LoadOptions {
        pins: None,
        host_capacity: capacity,
    })?;
    let maps = datapath.maps_mut();
    maps.set_local_nets(&default_local_nets())?;
    maps.set_events(true, 2000, 4000)?;
    let now = SystemClock.monotonic_ns();
    let mut stored = 0;
    for i in 0..hosts {
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
        // A host whose set is already full is left out (counted below).
        if maps.insert_host(
            &v4_mapped([10, (n >> 16) as u8, (n >> 8) as u8, n as u8]),
            counters,
        )? {
            stored += 1;
        }
    }
    Ok((datapath, stored))
}

/// One program of ours, pinned so it can be measured like the others.
fn pinned(
    datapath: &mut Datapath,
    pins: &PinDir,
    name: &'static str,
    tag: &str,
) -> anyhow::Result<Xdp> {
    let program = datapath.program(name)?;
    pins.pin(program, tag)
}

fn print_header(first: &str) {
    println!(
        "{first:<26} {:>8} {:>9} {:>11} {:>10} {:>9} {:>9} {:>10} {:>8}",
        "hosts", "vantage", "xdp-filter", "pass-only", "v/filter", "v-pass", "range", "verdict"
    );
}

fn print_row(name: &str, hosts: u32, [ours, filter, pass]: [Measured; 3]) {
    println!(
        "{name:<26} {hosts:>8} {:>9.1} {:>11.1} {:>10.1} {:>8.2}x {:>9.1} {:>10} {:>8}",
        ours.ns,
        filter.ns,
        pass.ns,
        ours.ns / filter.ns,
        ours.ns - pass.ns,
        format!("{:.0}-{:.0}", ours.low, ours.high),
        verdict_name(ours.verdict)
    );
}

/// Vantage, xdp-filter and the pass-only program on `frame`, interleaved.
fn three(
    ours: &Xdp,
    filter: &Xdp,
    pass: &Xdp,
    frame: &[u8],
    rounds: Rounds,
) -> anyhow::Result<[Measured; 3]> {
    let m = interleaved(&[ours, filter, pass], frame, rounds, WARM_UP)?;
    Ok([m[0], m[1], m[2]])
}

/// Part one: every frame kind against each table size.
fn frames_part(
    options: &Options,
    pins: &PinDir,
    filter: &Xdp,
    headline: &mut Vec<(String, f64)>,
) -> anyhow::Result<()> {
    println!("== Frames against table sizes (hosts written by the agent's API)\n");
    print_header("frame");
    for &hosts in &options.host_counts {
        let (mut datapath, stored) = load(hosts)?;
        if stored != hosts {
            println!(
                "({} of {hosts} hosts fit their sets; the rest were left out)",
                stored
            );
        }
        let tag = format!("table-{hosts}");
        let ours = pinned(&mut datapath, pins, PROGRAM_SENSOR, &tag)?;
        let pass = pinned(
            &mut datapath,
            pins,
            PROGRAM_REFERENCE,
            &format!("{tag}-pass"),
        )?;
        for (name, frame) in frames() {
            let m = three(&ours, filter, &pass, &frame, options.rounds)?;
            print_row(name, hosts, m);
            if hosts == 10_000 && name.starts_with("TCP SYN") {
                headline.push((
                    "SYN, known host, 10k hosts (API-written table)".into(),
                    m[0].ns / m[1].ns,
                ));
            }
        }
        let target = "203.0.113.66".parse()?;
        datapath.maps_mut().block_add(
            &target,
            Duration::from_secs(3600),
            BlockOrigin::Operator,
            SystemClock.monotonic_ns(),
        )?;
        let m = three(&ours, filter, &pass, &blocked_frame(), options.rounds)?;
        print_row("blocked host", hosts, m);
        let m = three(&ours, filter, &pass, &syn(), options.rounds)?;
        print_row("TCP SYN, blocks active", hosts, m);
    }
    println!();
    Ok(())
}

/// What each stage adds, on the SYN with 10k hosts.
const STAGE_WORK: [(&str, &str); 5] = [
    (
        "parse",
        "SITE, SETTINGS, PACKET lookups; fast-path headers; 2 address hashes; LOCALITY x2",
    ),
    (
        "+ clock, duplicates",
        "CLOCK lookup, jiffies (inlined); fingerprint; DEDUP lookup",
    ),
    (
        "+ host accounting",
        "HOSTS lookup (one set of 8 ways); counters; 2 sketch bits",
    ),
    (
        "+ verdict",
        "settings flags only: no block or allow entry covers the addresses",
    ),
    (
        "+ events (whole)",
        "EVENT_BUDGET lookup; ring buffer only within the budget",
    ),
];

/// Part two: the cut-down programs, interleaved with the whole one and the
/// references.
fn stages_part(options: &Options, pins: &PinDir, filter: &Xdp) -> anyhow::Result<()> {
    println!("== Where the nanoseconds go: TCP SYN from a known host, 10k hosts\n");
    let (mut datapath, _) = load(10_000)?;
    let pass = pinned(&mut datapath, pins, PROGRAM_REFERENCE, "stages-pass")?;
    let mut programs = Vec::new();
    for (i, name) in PROGRAM_STAGES.iter().enumerate() {
        programs.push(pinned(&mut datapath, pins, name, &format!("stage-{i}"))?);
    }
    programs.push(pinned(&mut datapath, pins, PROGRAM_SENSOR, "stages-whole")?);
    let mut order: Vec<&Xdp> = vec![&pass, filter];
    order.extend(programs.iter());
    let m = interleaved(&order, &syn(), options.rounds, WARM_UP)?;
    println!(
        "{:<22} {:>9} {:>9} {:>9}  work",
        "stage", "ns", "added", "v/filter"
    );
    println!(
        "{:<22} {:>9.1} {:>9} {:>9}  harness floor",
        "pass-only", m[0].ns, "", ""
    );
    println!(
        "{:<22} {:>9.1} {:>9} {:>9}  the outside reference",
        "xdp-filter", m[1].ns, "", ""
    );
    let mut previous = m[0].ns;
    for ((stage, work), measured) in STAGE_WORK.iter().zip(&m[2..]) {
        println!(
            "{stage:<22} {:>9.1} {:>+9.1} {:>8.2}x  {work}",
            measured.ns,
            measured.ns - previous,
            measured.ns / m[1].ns
        );
        previous = measured.ns;
    }
    println!();
    Ok(())
}

/// Part three: the running agent's program; hosts created by packets.
fn live_part(
    options: &Options,
    pins: &PinDir,
    filter: &Xdp,
    headline: &mut Vec<(String, f64)>,
) -> anyhow::Result<()> {
    println!(
        "== The running agent's program (default settings, events on, hosts created by packets)\n"
    );
    let live = LiveAgent::start(pins, "10.0.0.0/8")?;
    // The pass-only reference comes from our own copy of the object.
    let (mut datapath, _) = load(0)?;
    let pass = pinned(&mut datapath, pins, PROGRAM_REFERENCE, "live-pass")?;
    // One SYN from each of 10k hosts: the table fills as on a real site.
    for i in 0..10_000u32 {
        let n = i + 1;
        let source = format!("10.{}.{}.{}", n >> 16, (n >> 8) & 0xff, n & 0xff);
        let frame = Frame::client()
            .ipv4(&source, "203.0.113.10")
            .tcp(40000, 443, TCP_SYN)
            .build();
        test_run(&live.program, &frame, 1)?;
    }
    print_header("frame");
    let m = three(&live.program, filter, &pass, &syn(), options.rounds)?;
    print_row("TCP SYN, known host", 10_000, m);
    headline.push((
        "SYN, known host, 10k hosts (running agent)".into(),
        m[0].ns / m[1].ns,
    ));
    let dns = &frames()[1].1;
    let m = three(&live.program, filter, &pass, dns, options.rounds)?;
    print_row("DNS query", 10_000, m);
    if live.log_text().contains("ERROR") {
        println!("agent log:\n{}", live.log_text());
    }
    println!();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    require_root();
    let options = options()?;
    pin_to_cpu(BENCH_CPU)?;
    println!(
        "Vantage XDP benchmark: BPF_PROG_TEST_RUN on CPU {BENCH_CPU}, {} interleaved rounds of {} passes per program; medians (ns per frame)",
        options.rounds.rounds, options.rounds.repeat
    );
    println!("v/filter = Vantage / xdp-filter (allow policy, all features) on the same frame in the same rounds;");
    println!("v-pass = Vantage minus the pass-only program (the program's own work); range = Vantage's lowest-highest round\n");
    let pins = PinDir::create()?;
    let filter =
        XdpFilter::load(&pins).context("loading xdp-filter, the outside reference (xdp-tools)")?;
    let mut headline = Vec::new();
    if options.parts.iter().any(|p| p == "frames") {
        frames_part(&options, &pins, &filter.program, &mut headline)?;
    }
    if options.parts.iter().any(|p| p == "stages") {
        stages_part(&options, &pins, &filter.program)?;
    }
    if options.parts.iter().any(|p| p == "live") {
        live_part(&options, &pins, &filter.program, &mut headline)?;
    }
    for (what, ratio) in headline {
        println!(
            "{what}: Vantage / xdp-filter = {ratio:.2} (target: at most {TARGET_RATIO}) {}",
            if ratio <= TARGET_RATIO {
                "met"
            } else {
                "NOT MET"
            }
        );
    }
    Ok(())
}
