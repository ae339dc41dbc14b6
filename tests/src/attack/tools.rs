//! The real tools the attacks run, in the attacker's namespace: `nmap`
//! (its packet trace gives the time of the first packet) and `hping3`; and
//! the probe that tells whether a host's traffic passes.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpStream},
    process::Command,
    sync::Mutex,
    time::{Duration, SystemTime},
};

use anyhow::{bail, Context as _};

use super::Progress;
use crate::netns::enter;

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
    /// Its summary lines (nmap: the open ports, "Not shown: ...", "Nmap
    /// done: ..."; not a line per host, which a sweep would fill the
    /// screen with).
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
        .filter(|l| l.starts_with("Not shown") || l.starts_with("Nmap done") || l.contains("/tcp "))
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
pub(super) fn enter_ns(ns: &str) -> anyhow::Result<()> {
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
