//! The attacks' senders: the real `nmap` (its packet trace gives the time of
//! the first packet), and small loops over std sockets for what needs no
//! tool (lateral connections, a beacon, DNS tunnel queries, a known-bad
//! connection, a new device's traffic). Each runs on the calling thread,
//! which it moves into the attacker's namespace first.

use std::{
    io::{Read as _, Write as _},
    net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket},
    path::Path,
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, SystemTime},
};

use anyhow::{bail, Context as _};

use super::Progress;
use crate::{
    netns::enter,
    packet::{dns_message, dns_message_with},
    site::{DNS_SERVER, WEB_SERVER},
};

/// DNS record types the tunnel asks for (RFC 1035): TXT and NULL.
pub const QTYPE_TXT: u16 = 16;
pub const QTYPE_NULL: u16 = 10;

/// One run of an external tool.
#[derive(Clone, Debug)]
pub struct ToolRun {
    /// The command line, as a person would type it in the namespace.
    pub command: String,
    /// When it was started, when it sent its first packet (from its packet
    /// trace: the start plus the tool's own offset), when it ended.
    pub started: SystemTime,
    pub first_packet: Option<SystemTime>,
    pub finished: SystemTime,
    /// Packets it reported sending.
    pub sent: usize,
    /// Its summary lines (nmap: "Not shown: ...", "Nmap done: ...").
    pub summary: Vec<String>,
}

/// Runs `nmap --packet-trace ARGS` in the network namespace `ns`.
pub fn nmap(ns: &str, args: &[&str]) -> anyhow::Result<ToolRun> {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", ns, "nmap", "--packet-trace"])
        .args(args);
    let line = format!("nmap {}", args.join(" "));
    let started = SystemTime::now();
    let out = command
        .output()
        .context("running nmap (apt install nmap; cargo xtask setup installs it)")?;
    let finished = SystemTime::now();
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "{line}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let offsets: Vec<f64> = text.lines().filter_map(sent_offset).collect();
    let first_packet = offsets
        .iter()
        .copied()
        .reduce(f64::min)
        .map(|secs| started + Duration::from_secs_f64(secs));
    let summary = text
        .lines()
        .filter(|l| {
            l.starts_with("Not shown")
                || l.starts_with("Nmap done")
                || l.starts_with("Nmap scan report")
                || l.contains("/tcp ")
        })
        .map(str::to_owned)
        .collect();
    Ok(ToolRun {
        command: line,
        started,
        first_packet,
        finished,
        sent: offsets.len(),
        summary,
    })
}

/// The seconds since nmap started of a `SENT (0.0412s) ...` trace line.
fn sent_offset(line: &str) -> Option<f64> {
    let rest = line.strip_prefix("SENT (")?;
    let (secs, _) = rest.split_once("s)")?;
    secs.parse().ok()
}

/// A SYN scan of `ports` of `target` from `ns`, without host discovery, one
/// try per port (`nmap -sS -n -Pn -T4 --max-retries 0 -p PORTS TARGET`).
pub fn nmap_scan(ns: &str, target: Ipv4Addr, ports: &str) -> anyhow::Result<ToolRun> {
    nmap(
        ns,
        &[
            "-sS",
            "-n",
            "-Pn",
            "-T4",
            "--max-retries",
            "0",
            "-p",
            ports,
            &target.to_string(),
        ],
    )
}

/// A TCP SYN sweep of `port` over `addrs` from `ns` with the real `hping3`,
/// one packet per address (`hping3 -S -p PORT -c 1 ADDR` for each).
pub fn hping3_syn_sweep(ns: &str, addrs: &[Ipv4Addr], port: u16) -> anyhow::Result<ToolRun> {
    let started = SystemTime::now();
    let mut answered = 0;
    for addr in addrs {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "hping3", "-S", "-p"])
            .arg(port.to_string())
            .args(["-c", "1"])
            .arg(addr.to_string())
            .output()
            .context("running hping3 (apt install hping3; cargo xtask setup installs it)")?;
        // hping3 exits 0 when it received a reply.
        answered += usize::from(out.status.success());
    }
    Ok(ToolRun {
        command: format!(
            "hping3 -S -p {port} -c 1 ADDR, for each of {} addresses",
            addrs.len()
        ),
        started,
        first_packet: Some(started),
        finished: SystemTime::now(),
        sent: addrs.len(),
        summary: vec![format!("{answered} of {} answered", addrs.len())],
    })
}

/// Writes a tool's run into the attack's progress.
pub fn record_tool_run(progress: &Mutex<Progress>, run: &ToolRun) {
    if let Ok(mut p) = progress.lock() {
        if p.first_packet.is_none() {
            p.first_packet = run.first_packet.or(Some(run.started));
        }
        p.lines
            .push(format!("{} ({} packets sent)", run.command, run.sent));
        p.lines.extend(run.summary.iter().cloned());
    }
}

/// Every address of an IPv4 prefix `a.b.c.d/len` (at most a /16).
pub fn hosts_of(prefix: &str) -> anyhow::Result<Vec<Ipv4Addr>> {
    let (addr, len) = prefix
        .split_once('/')
        .with_context(|| format!("{prefix}: not a prefix"))?;
    let addr: Ipv4Addr = addr.parse()?;
    let len: u32 = len.parse()?;
    if !(16..=32).contains(&len) {
        bail!("{prefix}: only /16 to /32");
    }
    let size = 1u32 << (32 - len);
    let base = u32::from(addr) & !(size - 1);
    Ok((0..size).map(|i| Ipv4Addr::from(base + i)).collect())
}

/// Moves the calling thread into the network namespace `ns`.
fn enter_ns(ns: &str) -> anyhow::Result<()> {
    enter(&format!("/run/netns/{ns}"))
}

/// Whether a TCP connection from `ns` to `addr:port` opens within `timeout`.
pub fn connects(ns: &str, addr: Ipv4Addr, port: u16, timeout: Duration) -> anyhow::Result<bool> {
    let ns = ns.to_owned();
    std::thread::spawn(move || -> anyhow::Result<bool> {
        enter_ns(&ns)?;
        Ok(TcpStream::connect_timeout(&SocketAddr::from((addr, port)), timeout).is_ok())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the probe's thread panicked"))?
}

/// A small pseudo-random generator (xorshift64*), seeded from the clock:
/// jitter and random labels, nothing that needs to be unpredictable.
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Jitter((nanos ^ u64::from(std::process::id())) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Sleeps `total` in steps of 100 ms; false when `stop` was set meanwhile.
fn pause(total: Duration, stop: &AtomicBool) -> bool {
    let mut left = total;
    while !left.is_zero() {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let step = left.min(Duration::from_millis(100));
        std::thread::sleep(step);
        left -= step;
    }
    !stop.load(Ordering::SeqCst)
}

fn mark_first_packet(progress: &Mutex<Progress>) {
    if let Ok(mut p) = progress.lock() {
        if p.first_packet.is_none() {
            p.first_packet = Some(SystemTime::now());
        }
    }
}

fn set_line(progress: &Mutex<Progress>, index: usize, line: String) {
    if let Ok(mut p) = progress.lock() {
        while p.lines.len() <= index {
            p.lines.push(String::new());
        }
        p.lines[index] = line;
    }
}

/// One HTTP request on a new connection: true when a reply came.
fn http_call(addr: Ipv4Addr, port: u16) -> bool {
    let Ok(mut stream) =
        TcpStream::connect_timeout(&SocketAddr::from((addr, port)), Duration::from_millis(800))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"GET / HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).is_ok() && !reply.is_empty()
}

/// Lateral movement: from `ns`, one connection attempt to each of `ports`
/// of each of `peers` (300 ms each), as an intruder trying SMB, RDP and SSH
/// on every host it can reach.
pub fn lateral(
    ns: &str,
    peers: &[Ipv4Addr],
    ports: &[u16],
    progress: &Arc<Mutex<Progress>>,
) -> anyhow::Result<()> {
    enter_ns(ns)?;
    mark_first_packet(progress);
    let (mut connected, mut refused, mut silent) = (0, 0, 0);
    for peer in peers {
        for port in ports {
            match TcpStream::connect_timeout(
                &SocketAddr::from((*peer, *port)),
                Duration::from_millis(300),
            ) {
                Ok(_) => connected += 1,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused += 1,
                Err(_) => silent += 1,
            }
        }
    }
    set_line(
        progress,
        0,
        format!(
            "tried ports {ports:?} of {} hosts: {connected} connected, {refused} refused, {silent} unanswered",
            peers.len()
        ),
    );
    Ok(())
}

/// A beacon: from `ns`, an HTTP call to `c2:80` every 2 to 3 s (uniform
/// jitter) until `stop`.
pub fn beacon(
    ns: &str,
    c2: Ipv4Addr,
    progress: &Arc<Mutex<Progress>>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    enter_ns(ns)?;
    let mut jitter = Jitter::new();
    let (mut calls, mut answered) = (0u32, 0u32);
    loop {
        mark_first_packet(progress);
        calls += 1;
        answered += u32::from(http_call(c2, 80));
        set_line(
            progress,
            0,
            format!("{calls} calls to {c2}:80 every 2-3 s, {answered} answered"),
        );
        if !pause(Duration::from_millis(2000 + jitter.below(1001)), stop) {
            return Ok(());
        }
    }
}

/// A label of `len` random base32 characters (what tunnels encode data in).
fn random_label(jitter: &mut Jitter, len: usize) -> String {
    const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    (0..len)
        .map(|_| char::from(BASE32[jitter.below(32) as usize]))
        .collect()
}

/// A DNS tunnel: from `ns`, `count` queries to `server:53`, alternately TXT
/// and NULL, each for a new name under `domain` made of a 60-character and
/// a 20-character random label, one every 20 ms, each waiting up to 1 s for
/// its answer.
pub fn dns_tunnel(
    ns: &str,
    server: Ipv4Addr,
    domain: &str,
    count: u16,
    progress: &Arc<Mutex<Progress>>,
) -> anyhow::Result<()> {
    enter_ns(ns)?;
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    socket.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut jitter = Jitter::new();
    let mut answered = 0u32;
    mark_first_packet(progress);
    for id in 0..count {
        let name = format!(
            "{}.{}.{domain}",
            random_label(&mut jitter, 60),
            random_label(&mut jitter, 20)
        );
        let qtype = if id % 2 == 0 { QTYPE_TXT } else { QTYPE_NULL };
        socket.send_to(
            &dns_message_with(id, false, &name, qtype, &[]),
            (server, 53),
        )?;
        let mut buf = [0u8; 512];
        if socket.recv_from(&mut buf).is_ok() {
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    set_line(
        progress,
        0,
        format!(
            "{count} queries (TXT and NULL) under {domain} to {server}:53, {answered} answered"
        ),
    );
    Ok(())
}

/// A known-bad peer: appends `addr` to the list file `list` (a threat feed
/// update; the agent reloads a changed list at its next tick), waits 3 s,
/// then from `ns` makes 5 HTTP calls to it, 2 s apart.
pub fn known_bad(
    ns: &str,
    list: &Path,
    addr: Ipv4Addr,
    progress: &Arc<Mutex<Progress>>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut text = std::fs::read_to_string(list).unwrap_or_default();
    text.push_str(&format!("{addr} # listed by the lab's feed\n"));
    std::fs::write(list, text).with_context(|| format!("writing {}", list.display()))?;
    set_line(progress, 0, format!("added {addr} to {}", list.display()));
    if !pause(Duration::from_secs(3), stop) {
        return Ok(());
    }
    enter_ns(ns)?;
    let mut answered = 0;
    for call in 1..=5 {
        mark_first_packet(progress);
        answered += u32::from(http_call(addr, 80));
        set_line(
            progress,
            1,
            format!("{call} calls to {addr}:80, {answered} answered"),
        );
        if call < 5 && !pause(Duration::from_secs(2), stop) {
            break;
        }
    }
    Ok(())
}

/// A new device's ordinary traffic, from `ns` every second until `stop`: a
/// lookup at the site's resolver and a web page.
pub fn new_device_traffic(
    ns: &str,
    progress: &Arc<Mutex<Progress>>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    enter_ns(ns)?;
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    socket.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut rounds = 0u32;
    loop {
        mark_first_packet(progress);
        let id = u16::try_from(rounds % 60_000).unwrap_or(0);
        let _ = socket.send_to(&dns_message(id, false, "www.example.com"), (DNS_SERVER, 53));
        let mut buf = [0u8; 512];
        let _ = socket.recv_from(&mut buf);
        let _ = http_call(WEB_SERVER, 80);
        rounds += 1;
        set_line(
            progress,
            0,
            format!("{rounds} rounds of a lookup and a web page"),
        );
        if !pause(Duration::from_secs(1), stop) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nmap_trace_offsets_and_prefixes() -> anyhow::Result<()> {
        assert_eq!(
            sent_offset("SENT (0.0412s) TCP 10.77.1.10:51234 > 203.0.113.80:22 S"),
            Some(0.0412)
        );
        assert_eq!(sent_offset("RCVD (0.0413s) TCP ..."), None);
        let hosts = hosts_of("10.77.2.8/29")?;
        assert_eq!(hosts.len(), 8);
        assert_eq!(hosts.first(), Some(&Ipv4Addr::new(10, 77, 2, 8)));
        assert_eq!(hosts.last(), Some(&Ipv4Addr::new(10, 77, 2, 15)));
        assert!(hosts_of("10.0.0.0/8").is_err());
        Ok(())
    }
}
