//! Public captures (`../shared/pcaps/` beside the workspace, read in place)
//! replayed with `tcpreplay` through a veth pair between two network
//! namespaces of this test, with the real `vantage` agent attached (generic
//! XDP) to the receiving end: for every protected host, the packets and
//! frame bytes in `vantage status --json` (total, out and in) equal tshark's
//! endpoint statistics of the same file, exactly. Subnet broadcast addresses
//! are listed apart per capture, with what Vantage does with them today.
//!
//! Every frame must arrive: tcpreplay may fail none, the sending veth may
//! drop none, the receiving veth must get exactly the capture's frames, GRO
//! is off so each frame is counted once, and the program's site counters
//! must reach exactly the capture's frame and byte totals. Both veth ends
//! have a 65535-byte MTU, as some captures hold frames of up to 40,934 bytes
//! taken with TSO/GRO; native XDP on veth would cap the MTU, hence generic
//! mode. The receiving namespace has no address (IPv4 or IPv6), no route and
//! no forwarding, answers no ARP, and the test checks that it sent nothing:
//! replayed frames go nowhere else.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    net::IpAddr,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context as _};
use serde_json::Value;
use vantage::net::Cidr;
use vantage_tests::{
    agent::{Agent, SensorDirs},
    harness::require_root,
    netns::{unique, veth, Namespace},
};

type Result<T = ()> = anyhow::Result<T>;

/// An address of a capture left out of the exact comparison: it must have
/// no host entry at all.
struct Excluded {
    addr: &'static str,
    why: &'static str,
}

/// A capture and the protected network its README declares.
struct Capture {
    file: &'static str,
    local_net: &'static str,
    /// Short tag for namespace, veth and pin names (at most 3 bytes).
    tag: &'static str,
    excluded: &'static [Excluded],
}

/// Subnet broadcasts: sent to ff:ff:ff:ff:ff:ff, they are not hosts.
const BROADCAST: &str = "subnet broadcast (to ff:ff:ff:ff:ff:ff), not a host";

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .context("the tests crate has no parent directory")
}

/// `../shared/pcaps` relative to the workspace root; fails naming the path.
fn pcaps_dir() -> Result<PathBuf> {
    let root = workspace_root()?;
    let dir = root.join("..").join("shared").join("pcaps");
    if !dir.is_dir() {
        bail!(
            "the public captures are missing: expected the directory {} (../shared/pcaps relative to the workspace root {})",
            dir.display(),
            root.display()
        );
    }
    Ok(dir)
}

/// One endpoint row of `tshark -z endpoints`, or a host of `vantage status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    packets: u64,
    bytes: u64,
    packets_out: u64,
    bytes_out: u64,
    packets_in: u64,
    bytes_in: u64,
}

/// Runs `command` and returns its standard output; fails on a non-zero exit.
fn stdout_of(command: &mut Command, what: &str) -> Result<String> {
    let out = command
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One row: an address, then packets, bytes, Tx packets, Tx bytes, Rx
/// packets and Rx bytes as plain numbers.
fn endpoint_row(row: &str) -> Option<(IpAddr, Counts)> {
    let mut fields = row.split_whitespace();
    let addr = fields.next()?.parse().ok()?;
    let numbers: Vec<u64> = fields.map(|f| f.parse().ok()).collect::<Option<_>>()?;
    let [packets, bytes, packets_out, bytes_out, packets_in, bytes_in] = numbers[..] else {
        return None;
    };
    Some((
        addr,
        Counts {
            packets,
            bytes,
            packets_out,
            bytes_out,
            packets_in,
            bytes_in,
        },
    ))
}

/// tshark's IPv4 and IPv6 endpoint tables of `file`. Every row must parse:
/// a changed table format fails the test rather than losing rows.
fn tshark_endpoints(file: &Path) -> Result<BTreeMap<IpAddr, Counts>> {
    const HEADER: &str =
        "| Packets | | Bytes | | Tx Packets | | Tx Bytes | | Rx Packets | | Rx Bytes |";
    let text = stdout_of(
        Command::new("tshark").arg("-r").arg(file).args([
            "-q",
            "-z",
            "endpoints,ip",
            "-z",
            "endpoints,ipv6",
        ]),
        &format!("tshark -z endpoints on {}", file.display()),
    )?;
    let mut endpoints = BTreeMap::new();
    let mut tables = BTreeSet::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let title = line.trim();
        if title != "IPv4 Endpoints" && title != "IPv6 Endpoints" {
            continue;
        }
        tables.insert(title.to_owned());
        let filter = lines.next().unwrap_or_default();
        ensure!(filter.starts_with("Filter:"), "tshark: {filter:?}");
        let header = lines.next().unwrap_or_default();
        let header = header.split_whitespace().collect::<Vec<_>>().join(" ");
        ensure!(
            header == HEADER,
            "unexpected tshark table header {header:?}"
        );
        for row in lines.by_ref() {
            if row.starts_with("====") {
                break;
            }
            let (addr, counts) = endpoint_row(row)
                .with_context(|| format!("unparsable tshark endpoint row {row:?}"))?;
            ensure!(
                endpoints.insert(addr, counts).is_none(),
                "tshark listed {addr} twice"
            );
        }
    }
    ensure!(
        tables.len() == 2,
        "tshark printed tables {tables:?}, not both IPv4 and IPv6 endpoints:\n{text}"
    );
    Ok(endpoints)
}

/// The capture's frames: how many, the bytes on the wire, and how many
/// were stored cut short (tcpreplay can only send what was stored).
struct Frames {
    count: u64,
    bytes: u64,
    largest: u64,
    cut: u64,
}

fn frames(file: &Path) -> Result<Frames> {
    let text = stdout_of(
        Command::new("tshark").arg("-r").arg(file).args([
            "-T",
            "fields",
            "-e",
            "frame.len",
            "-e",
            "frame.cap_len",
        ]),
        &format!("tshark -T fields on {}", file.display()),
    )?;
    let mut frames = Frames {
        count: 0,
        bytes: 0,
        largest: 0,
        cut: 0,
    };
    for line in text.lines() {
        let mut fields = line.split_whitespace().map(str::parse::<u64>);
        let (Some(Ok(len)), Some(Ok(cap_len)), None) =
            (fields.next(), fields.next(), fields.next())
        else {
            bail!("unexpected tshark frame line {line:?}");
        };
        frames.count += 1;
        frames.bytes += len;
        frames.largest = frames.largest.max(len);
        frames.cut += u64::from(cap_len < len);
    }
    Ok(frames)
}

/// What `tcpreplay` reported.
struct Replayed {
    successful: u64,
    failed: u64,
    truncated: u64,
}

fn tcpreplay_number(text: &str, label: &str) -> Result<u64> {
    text.lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .and_then(|rest| rest.trim().parse().ok())
        .with_context(|| format!("tcpreplay printed no {label:?}:\n{text}"))
}

/// Two namespaces joined by a veth pair: frames written to `tx` in `sender`
/// arrive on `rx` in `receiver`, and nowhere else.
struct Wire {
    receiver: Namespace,
    rx: String,
    sender: Namespace,
    tx: String,
}

impl Wire {
    fn build(tag: &str) -> Result<Wire> {
        let sender = Namespace::create(&format!("{tag}s"))?;
        let receiver = Namespace::create(&format!("{tag}r"))?;
        // No IPv6 on either end (no router solicitations, MLD or DAD of
        // their own on the wire), and no forwarding on the receiving side.
        for ns in [&sender, &receiver] {
            ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
            ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
            ns.sysctl("net.ipv4.ip_forward", "0")?;
        }
        let tx = unique("vc", &format!("{tag}s"));
        let rx = unique("vc", &format!("{tag}r"));
        veth(&sender, &tx, &receiver, &rx)?;
        for (ns, name) in [(&sender, &tx), (&receiver, &rx)] {
            ns.ip(&["link", "set", name, "mtu", "65535", "arp", "off"])?;
        }
        let wire = Wire {
            receiver,
            rx,
            sender,
            tx,
        };
        stdout_of(
            wire.receiver
                .command("ethtool")
                .args(["-K", &wire.rx, "gro", "off"]),
            "ethtool -K gro off",
        )?;
        let features = stdout_of(
            wire.receiver.command("ethtool").args(["-k", &wire.rx]),
            "ethtool -k",
        )?;
        ensure!(
            features
                .lines()
                .any(|l| l.trim() == "generic-receive-offload: off"),
            "GRO is still on for {}:\n{features}",
            wire.rx
        );
        let addrs = stdout_of(
            wire.receiver
                .command("ip")
                .args(["-j", "addr", "show", "dev", &wire.rx]),
            "ip addr show",
        )?;
        let addrs: Value = serde_json::from_str(&addrs).context("ip -j addr")?;
        ensure!(
            addrs[0]["addr_info"].as_array().is_some_and(Vec::is_empty),
            "the receiving veth has addresses: {addrs}"
        );
        Ok(wire)
    }

    /// `stats64` (`rx`, `tx`) of the sending and the receiving veth.
    fn stats(&self) -> Result<(Value, Value)> {
        let stats = |ns: &Namespace, dev: &str| -> Result<Value> {
            let text = stdout_of(
                ns.command("ip")
                    .args(["-j", "-s", "link", "show", "dev", dev]),
                "ip -s link show",
            )?;
            let link: Value = serde_json::from_str(&text).context("ip -j -s link")?;
            Ok(link[0]["stats64"].clone())
        };
        Ok((
            stats(&self.sender, &self.tx)?,
            stats(&self.receiver, &self.rx)?,
        ))
    }

    fn replay(&self, file: &Path) -> Result<Replayed> {
        let text = stdout_of(
            self.sender
                .command("tcpreplay")
                .args(["--topspeed", "-i", &self.tx])
                .arg(file),
            &format!("tcpreplay of {}", file.display()),
        )?;
        Ok(Replayed {
            successful: tcpreplay_number(&text, "Successful packets:")?,
            failed: tcpreplay_number(&text, "Failed packets:")?,
            truncated: tcpreplay_number(&text, "Truncated packets:")?,
        })
    }
}

fn u64_at(value: &Value, pointer: &str) -> Result<u64> {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .with_context(|| format!("no number at {pointer} in {value}"))
}

/// Per-host counts from `vantage status --json`.
fn vantage_hosts(status: &Value) -> Result<BTreeMap<IpAddr, Counts>> {
    let mut hosts = BTreeMap::new();
    for host in status["hosts"].as_array().context("status has no hosts")? {
        let addr: IpAddr = host["addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("host without an address: {host}"))?;
        let (packets_out, packets_in) =
            (u64_at(host, "/packets_out")?, u64_at(host, "/packets_in")?);
        let (bytes_out, bytes_in) = (u64_at(host, "/bytes_out")?, u64_at(host, "/bytes_in")?);
        hosts.insert(
            addr,
            Counts {
                packets: packets_out + packets_in,
                bytes: bytes_out + bytes_in,
                packets_out,
                bytes_out,
                packets_in,
                bytes_in,
            },
        );
    }
    Ok(hosts)
}

/// Polls the pinned counters until the program has seen `frames` frames
/// and nothing more arrives; fails past the deadline or beyond `frames`.
fn wait_for_frames(dirs: &SensorDirs, frames: u64) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut previous: Option<Value> = None;
    loop {
        let status = dirs.status()?;
        let seen = u64_at(&status, "/site/packets")?;
        ensure!(
            seen <= frames,
            "the program saw {seen} frames, more than the {frames} replayed: {}",
            status["site"]
        );
        if seen == frames {
            if previous
                .as_ref()
                .is_some_and(|p| p["site"] == status["site"] && p["hosts"] == status["hosts"])
            {
                return Ok(status);
            }
            previous = Some(status);
        } else if Instant::now() > deadline {
            bail!("the program saw {seen} of {frames} frames within 10 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn replay_and_compare(capture: &Capture) -> Result {
    require_root();
    let file = pcaps_dir()?.join(capture.file);
    ensure!(file.is_file(), "missing capture {}", file.display());
    let local_net: Cidr = capture.local_net.parse()?;
    let expected = tshark_endpoints(&file)?;
    let frames = frames(&file)?;
    // tshark's bytes are frame lengths on the wire; tcpreplay sends what was
    // stored. They agree only when no frame was stored cut short.
    ensure!(
        frames.cut == 0,
        "{} frames of {} were stored cut short: tshark's bytes would count more than tcpreplay sends",
        frames.cut,
        capture.file
    );

    let wire = Wire::build(capture.tag)?;
    let dirs = SensorDirs::new(&format!("cap{}", capture.tag));
    std::fs::create_dir_all(&dirs.state_dir)?;
    let config = dirs.state_dir.join("captures.toml");
    std::fs::write(&config, "[sensor]\nattach_mode = \"generic\"\n")?;
    let agent = Agent::start_with_config(
        &wire.receiver,
        &[&wire.rx],
        &[capture.local_net],
        &dirs,
        Some(&config),
    )?;
    let started = dirs.status()?;
    let modes: Vec<&str> = started["agent"]["interfaces"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["mode"].as_str()).collect())
        .unwrap_or_default();
    ensure!(
        modes == ["generic"],
        "generic XDP on the receiving veth: {modes:?} {}",
        agent.log_text()
    );
    ensure!(
        u64_at(&started, "/site/packets")? == 0,
        "frames arrived before the replay: {}",
        started["site"]
    );

    let (tx_before, rx_before) = wire.stats()?;
    let replayed = wire.replay(&file)?;
    ensure!(
        replayed.failed == 0 && replayed.truncated == 0 && replayed.successful == frames.count,
        "tcpreplay sent {} of {} frames of {} ({} failed, {} truncated; largest frame {} bytes, veth MTU 65535): nothing may be lost",
        replayed.successful,
        frames.count,
        capture.file,
        replayed.failed,
        replayed.truncated,
        frames.largest
    );
    let status = wait_for_frames(&dirs, frames.count)?;
    let (tx_after, rx_after) = wire.stats()?;
    let delta = |after: &Value, before: &Value, pointer: &str| -> Result<u64> {
        u64_at(after, pointer)?
            .checked_sub(u64_at(before, pointer)?)
            .with_context(|| format!("{pointer} went down"))
    };
    // A frame the veth could not pass on counts as the sender's tx_dropped.
    // The receiver's rx_dropped counts frames its stack discarded after XDP
    // (no handler for their EtherType): printed, not a loss.
    let (sent, lost, received) = (
        delta(&tx_after, &tx_before, "/tx/packets")?,
        delta(&tx_after, &tx_before, "/tx/dropped")?,
        delta(&rx_after, &rx_before, "/rx/packets")?,
    );
    ensure!(
        (sent, lost, received) == (frames.count, 0, frames.count),
        "of {} frames the sending veth passed on {sent} and dropped {lost}, the receiving veth got {received}",
        frames.count
    );
    ensure!(
        u64_at(&rx_after, "/tx/packets")? == 0,
        "the receiving namespace sent frames: {rx_after}"
    );
    let discarded = delta(&rx_after, &rx_before, "/rx/dropped")?;
    ensure!(
        u64_at(&status, "/site/bytes")? == frames.bytes,
        "the program saw {} bytes, the capture holds {}: frames were not seen whole",
        u64_at(&status, "/site/bytes")?,
        frames.bytes
    );

    let actual = vantage_hosts(&status)?;
    let excluded: BTreeMap<IpAddr, &Excluded> = capture
        .excluded
        .iter()
        .map(|e| Ok((e.addr.parse::<IpAddr>()?, e)))
        .collect::<Result<_>>()?;
    let protected: BTreeSet<IpAddr> = expected
        .keys()
        .copied()
        .filter(|addr| local_net.contains(*addr))
        .chain(actual.keys().copied())
        .collect();

    let mut table = format!(
        "{} (local net {}): {} frames, {} bytes; site: non-IP {}, VLAN-tagged {}, malformed {}; discarded by the receiving stack after XDP {discarded}\n{:<18} {:>8} {:>8} {:>10} {:>10}  result\n",
        capture.file,
        capture.local_net,
        frames.count,
        frames.bytes,
        u64_at(&status, "/site/non_ip")?,
        u64_at(&status, "/site/vlan_tagged")?,
        u64_at(&status, "/site/malformed_total")?,
        "host",
        "tshark",
        "vantage",
        "tshark B",
        "vantage B"
    );
    let mut failures = Vec::new();
    for addr in &protected {
        let (want, got) = (expected.get(addr), actual.get(addr));
        let result = match excluded.get(addr) {
            Some(ex) => {
                if got.is_some() {
                    failures.push(format!(
                        "{addr} ({}): expected no host entry, vantage has {got:?}",
                        ex.why
                    ));
                }
                format!("excluded: {}", ex.why)
            }
            None if want.is_some() && got == want => "ok".to_owned(),
            None => {
                failures.push(format!("{addr}: tshark {want:?}, vantage {got:?}"));
                "MISMATCH".to_owned()
            }
        };
        let cell = |c: Option<&Counts>, f: fn(&Counts) -> u64| {
            c.map_or_else(|| "-".to_owned(), |c| f(c).to_string())
        };
        writeln!(
            table,
            "{:<18} {:>8} {:>8} {:>10} {:>10}  {result}",
            addr.to_string(),
            cell(want, |c| c.packets),
            cell(got, |c| c.packets),
            cell(want, |c| c.bytes),
            cell(got, |c| c.bytes),
        )?;
    }
    for (addr, ex) in &excluded {
        ensure!(
            protected.contains(addr),
            "{addr} is excluded ({}) but appears neither in tshark nor in vantage",
            ex.why
        );
    }
    println!("{table}");
    ensure!(
        failures.is_empty(),
        "{} does not match tshark:\n{}\n{table}",
        capture.file,
        failures.join("\n")
    );
    ensure!(
        !protected.is_empty(),
        "{} has no protected host in {}",
        capture.file,
        capture.local_net
    );
    Ok(())
}

#[test]
fn synscan() -> Result {
    replay_and_compare(&Capture {
        file: "synscan.pcap",
        local_net: "172.16.0.0/12",
        tag: "syn",
        excluded: &[],
    })
}

#[test]
fn dns_tunnel_iodine() -> Result {
    replay_and_compare(&Capture {
        file: "dns-tunnel-iodine.pcap",
        local_net: "10.0.0.0/8",
        tag: "dns",
        excluded: &[],
    })
}

#[test]
fn test_cc_capture_2() -> Result {
    // Frames of up to 4,758 bytes (taken with TSO/GRO).
    replay_and_compare(&Capture {
        file: "test-cc-capture-2.pcap",
        local_net: "147.32.80.0/24",
        tag: "cc",
        excluded: &[],
    })
}

#[test]
fn teams() -> Result {
    replay_and_compare(&Capture {
        file: "teams.pcap",
        local_net: "192.168.0.0/16",
        tag: "tms",
        excluded: &[Excluded {
            addr: "192.168.1.255",
            why: BROADCAST,
        }],
    })
}

#[test]
fn windowsupdate_over_http() -> Result {
    replay_and_compare(&Capture {
        file: "windowsupdate_over_http.pcap",
        local_net: "10.0.0.0/8",
        tag: "wu",
        excluded: &[],
    })
}

#[test]
fn smb_psexec_add_user() -> Result {
    // Frames of up to 40,934 bytes (taken with TSO/GRO); IPv6 link-local
    // and multicast endpoints lie outside the protected network.
    replay_and_compare(&Capture {
        file: "20171220_smb_psexec_add_user.pcap",
        local_net: "192.168.10.0/24",
        tag: "smb",
        excluded: &[Excluded {
            addr: "192.168.10.255",
            why: BROADCAST,
        }],
    })
}

#[test]
fn netbios() -> Result {
    // Really pcapng. One frame is VLAN-tagged (10.19.71.184 to
    // 10.17.113.129, 130 bytes with the tag): counted, tag bytes included.
    replay_and_compare(&Capture {
        file: "netbios.pcap",
        local_net: "10.0.0.0/8",
        tag: "nb",
        excluded: &[Excluded {
            addr: "10.0.5.255",
            why: BROADCAST,
        }],
    })
}

#[test]
fn doh() -> Result {
    replay_and_compare(&Capture {
        file: "doh.pcapng",
        local_net: "192.168.0.0/16",
        tag: "doh",
        excluded: &[],
    })
}
