//! The attacks' own senders, small loops over std sockets for what needs
//! no tool: lateral connections, a beacon, DNS tunnel queries, a known-bad
//! connection, a new device's traffic. Each runs on the calling thread,
//! which it moves into the attacker's namespace first.

use std::{
    io::{Read as _, Write as _},
    net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket},
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, SystemTime},
};

use anyhow::Context as _;

use super::{tools::enter_ns, Progress};
use crate::{
    packet::{dns_message, dns_message_with},
    site::{DNS_SERVER, WEB_SERVER},
};

/// DNS record types the tunnel asks for (RFC 1035): TXT and NULL.
pub const QTYPE_TXT: u16 = 16;
pub const QTYPE_NULL: u16 = 10;

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
/// then from `ns` makes 5 HTTP calls to it, 2 s apart. The first packet is
/// taken as the list's update: the lab's clients connect to the web server
/// several times a second anyway.
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
    // The site's clients browse `addr` all the time: their next connection,
    // within a second of the list's reload, is the first one it matches.
    mark_first_packet(progress);
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
