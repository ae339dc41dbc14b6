//! Attacks on the lab site, for `cargo xtask lab --attack NAME` and the live
//! detection tests (`tests/tests/detection_live.rs`): what each attack sends,
//! from which client, to whom, what it should be detected as, and the
//! `[response]` and `[detect.*]` settings that make its detection quick to
//! see. [`launch`] prepares the site for an attack and starts it; [`tools`]
//! runs the real tools (nmap, hping3) and [`senders`] the small loops; [`live`]
//! is a site with the real agent and collector, with the scan-to-collector
//! latency measure; [`view`] is what the lab's screen shows of an attack.
//!
//! Every packet stays inside the lab's namespaces: the targets are the
//! lab's internet (203.0.113.0/24, where the sweep's and the C2 server's
//! addresses are added), its clients, and a server subnet behind the
//! gateway that the lateral attack adds.

mod launch;
pub mod live;
pub mod senders;
pub mod tools;
pub mod view;

pub use launch::launch;

use std::{
    net::Ipv4Addr,
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, SystemTime},
};

use anyhow::Context as _;

use crate::{
    netns::Namespace,
    services::Service,
    site::{Client, Site, WEB_SERVER},
};

/// Score from which the lab's policy blocks (`response.block_at`).
pub const BLOCK_AT: u8 = 70;
/// How long a policy block lasts in the lab (`response.block_ttl`), seconds:
/// the shortest the configuration accepts (1m), so that a block visibly lapses.
pub const BLOCK_TTL_SECS: u64 = 60;
/// A command-and-control server on the lab's internet (an HTTP server): the
/// beacon's peer.
pub const C2_SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 66);
/// The addresses the sweep probes: 64 addresses of the lab's internet,
/// answered by its namespace (a local route: every address replies).
pub const SWEEP_NET: &str = "203.0.113.128/26";
/// The server subnet behind the gateway the lateral attack reaches, the
/// gateway's address there, and its hosts (8 addresses, all answering).
pub const SERVER_NET: &str = "10.77.2.0/24";
pub const SERVER_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 1);
pub const SERVER_HOSTS: &str = "10.77.2.8/29";
/// The remote-administration ports the lateral attack tries (SMB, RDP, SSH).
pub const LATERAL_PORTS: [u16; 3] = [445, 3389, 22];
/// The device that appears after the learning period, and its vendor MAC
/// (00:16:3e is the Xen project's OUI: universally administered).
pub const NEW_DEVICE: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 20);
pub const NEW_DEVICE_MAC: &str = "00:16:3e:4c:41:42";
/// The registered domain the DNS tunnel queries names under.
pub const TUNNEL_DOMAIN: &str = "x7tunnel.net";
/// The client that attacks: the site's first (as [`Site::build`] numbers them).
pub const ATTACKER: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 10);
/// The ports the port scan tries.
pub const SCAN_PORTS: &str = "1-100";

/// One attack of `cargo xtask lab --attack NAME`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    Scan,
    Sweep,
    Lateral,
    Beacon,
    DnsTunnel,
    KnownBad,
    NewDevice,
}

impl Attack {
    pub const ALL: [Attack; 7] = [
        Attack::Scan,
        Attack::Sweep,
        Attack::Lateral,
        Attack::Beacon,
        Attack::DnsTunnel,
        Attack::KnownBad,
        Attack::NewDevice,
    ];

    /// The name `--attack` takes.
    pub fn name(self) -> &'static str {
        match self {
            Attack::Scan => "scan",
            Attack::Sweep => "sweep",
            Attack::Lateral => "lateral",
            Attack::Beacon => "beacon",
            Attack::DnsTunnel => "dns-tunnel",
            Attack::KnownBad => "known-bad",
            Attack::NewDevice => "new-device",
        }
    }

    pub fn from_name(name: &str) -> Option<Attack> {
        Attack::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Every name, comma-separated.
    pub fn names() -> String {
        Attack::ALL.map(Attack::name).join(", ")
    }

    /// One line on what the attack does.
    pub fn describe(self) -> String {
        match self {
            Attack::Scan => format!("client 10.77.1.10 runs `nmap -sS -p {SCAN_PORTS}` against the web server {WEB_SERVER}"),
            Attack::Sweep => format!("client 10.77.1.10 sweeps {SWEEP_NET}, 64 addresses of the lab's internet: `nmap -sn` (ICMP echo, TCP 443 and 80), then `hping3 -S -p 445` (SMB, as worms do)"),
            Attack::Lateral => format!("client 10.77.1.10 tries ports 445, 3389 and 22 of the 8 hosts of a server subnet ({SERVER_HOSTS} behind the gateway) and of the other clients (those stay on the switch: an inline sensor never sees them)"),
            Attack::Beacon => format!("client 10.77.1.10 calls a C2 server ({C2_SERVER}:80) every 2 to 3 s"),
            Attack::DnsTunnel => format!("client 10.77.1.10 sends 300 TXT and NULL queries with long random labels under {TUNNEL_DOMAIN} to the site's resolver"),
            Attack::KnownBad => format!("a threat feed update lists the web server {WEB_SERVER}; client 10.77.1.10 connects to it (so do the others: they browse it)"),
            Attack::NewDevice => format!("after the 20 s learning period, a device with a vendor MAC ({NEW_DEVICE_MAC}) appears at {NEW_DEVICE} and browses"),
        }
    }

    /// The detector that should report it.
    pub fn detector(self) -> &'static str {
        match self {
            Attack::Scan => "port_scan",
            Attack::Sweep => "host_sweep",
            Attack::Lateral => "lateral_movement",
            Attack::Beacon => "beacon",
            Attack::DnsTunnel => "dns_tunnel",
            Attack::KnownBad => "known_bad",
            Attack::NewDevice => "new_device",
        }
    }

    /// The host that attacks (the detection's host).
    pub fn attacker(self) -> Ipv4Addr {
        match self {
            Attack::NewDevice => NEW_DEVICE,
            _ => ATTACKER,
        }
    }

    /// What the lab's policy blocks: the attacker itself (scans, lateral
    /// movement, tunnels), the peer it calls (beacon, known-bad), or
    /// nothing (a new device is never blocked: the policy only notifies).
    pub fn block_target(self) -> Option<Ipv4Addr> {
        match self {
            Attack::Scan | Attack::Sweep | Attack::Lateral | Attack::DnsTunnel => {
                Some(self.attacker())
            }
            Attack::Beacon => Some(C2_SERVER),
            Attack::KnownBad => Some(WEB_SERVER),
            Attack::NewDevice => None,
        }
    }

    /// The service the attacker's probe connects to, to show whether its
    /// traffic passes. None for the beacon: a probe of the C2 server would
    /// be part of the beacon's series; its own calls show the block (they
    /// stop being answered).
    pub fn probe(self) -> Option<(Ipv4Addr, u16)> {
        match self {
            Attack::Beacon => None,
            _ => Some((WEB_SERVER, 80)),
        }
    }

    /// How long after the site is up the attack starts: the new device
    /// waits for the end of the learning period.
    pub fn start_after(self) -> Duration {
        match self {
            Attack::NewDevice => Duration::from_secs(25),
            _ => Duration::from_secs(5),
        }
    }

    /// The lab's `[response]` (blocking at [`BLOCK_AT`] for
    /// [`BLOCK_TTL_SECS`]) and the detector settings that make this attack
    /// quick to see; `list` is the known-bad list file (created empty here
    /// for `known-bad`: the attack fills it).
    pub fn config(self, list: &Path) -> anyhow::Result<String> {
        let mut text = response_section(BLOCK_AT, &[]);
        match self {
            Attack::Beacon => {
                // 8 connections spanning 30 s give the full score (defaults:
                // 16 over 90 s, about 48 s for a beacon every 2 to 3 s).
                text += "\n[detect.beacon]\nmin_span = \"20s\"\nfull_span = \"30s\"\nfull_connections = 8\n";
            }
            Attack::KnownBad => {
                std::fs::write(
                    list,
                    "# the lab's threat feed: `--attack known-bad` adds the web server\n",
                )
                .with_context(|| format!("writing {}", list.display()))?;
                text += &format!("\n[detect.known_bad]\nlists = [\"{}\"]\n", list.display());
            }
            Attack::NewDevice => text += "\n[detect.new_device]\nlearning = \"20s\"\n",
            Attack::Scan | Attack::Sweep | Attack::Lateral | Attack::DnsTunnel => {}
        }
        Ok(text)
    }
}

/// A `[response]` section blocking from `block_at` for [`BLOCK_TTL_SECS`],
/// never blocking `never_block` (addresses or prefixes).
pub fn response_section(block_at: u8, never_block: &[&str]) -> String {
    let never: Vec<String> = never_block.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        "\n[response]\nmode = \"enforce\"\nblock_at = {block_at}\nblock_ttl = \"{BLOCK_TTL_SECS}s\"\nnever_block = [{}]\n",
        never.join(", ")
    )
}

/// What an attack has done so far, shared with the thread that runs it.
#[derive(Debug, Default)]
pub struct Progress {
    /// When the attack began, and when its first packet left (for nmap, from
    /// its packet trace; for the senders, just before the first send).
    pub started: Option<SystemTime>,
    pub first_packet: Option<SystemTime>,
    /// When it ended (a beacon or a new device runs until stopped).
    pub finished: Option<SystemTime>,
    /// What it did, one line each (the command, the tool's summary).
    pub lines: Vec<String>,
    /// Why it stopped early.
    pub error: Option<String>,
}

/// A running attack: stopped and joined on drop, then what it added to the
/// site (namespaces, services, addresses) is removed with it.
pub struct Running {
    pub attack: Attack,
    pub progress: Arc<Mutex<Progress>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The namespace of the attacker (a client's, or the new device's).
    pub attacker_ns: String,
    /// Added to the site for the attack; removed on drop, after the thread.
    services: Vec<Service>,
    namespaces: Vec<Namespace>,
}

impl Running {
    /// A copy of the progress so far.
    pub fn snapshot(&self) -> Progress {
        match self.progress.lock() {
            Ok(p) => Progress {
                started: p.started,
                first_packet: p.first_packet,
                finished: p.finished,
                lines: p.lines.clone(),
                error: p.error.clone(),
            },
            Err(_) => Progress {
                error: Some("the attack's thread panicked".to_owned()),
                ..Progress::default()
            },
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.services.clear();
        self.namespaces.clear();
    }
}

/// What the attack's thread runs, with its progress and the stop flag.
type Job = Box<dyn FnOnce(&Arc<Mutex<Progress>>, &AtomicBool) -> anyhow::Result<()> + Send>;

/// Where an attack runs: the site, its clients and the tag its names carry.
pub struct Target<'a> {
    pub site: &'a Site,
    pub clients: &'a Arc<Vec<Client>>,
    pub tag: &'a str,
    /// The known-bad list file of [`Attack::config`].
    pub list: &'a Path,
}
