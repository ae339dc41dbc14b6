//! Starting an attack: what it needs added to the site (addresses on the
//! lab's internet, a server subnet behind the gateway, a new device on the
//! switch), then its sender on a thread of its own.

use std::{
    net::Ipv4Addr,
    sync::{atomic::AtomicBool, Arc, Mutex},
    time::SystemTime,
};

use anyhow::Context as _;

use super::{
    senders, tools, Attack, Job, Progress, Running, Target, C2_SERVER, LATERAL_PORTS, NEW_DEVICE,
    NEW_DEVICE_MAC, SCAN_PORTS, SERVER_GATEWAY, SERVER_HOSTS, SWEEP_NET, TUNNEL_DOMAIN,
};
use crate::{
    netns::{ip, unique, Namespace},
    services::http_server_on,
    site::{DNS_SERVER, GATEWAY_LAN, WEB_SERVER},
};

/// Prepares what the attack needs on the site (addresses, a server subnet,
/// a new device) and starts it on a thread of its own.
pub fn launch(attack: Attack, target: &Target<'_>) -> anyhow::Result<Running> {
    let first = target
        .clients
        .first()
        .context("the site has no client to attack from")?;
    let mut running = Running {
        attack,
        progress: Arc::new(Mutex::new(Progress::default())),
        stop: Arc::new(AtomicBool::new(false)),
        thread: None,
        attacker_ns: first.ns.name().to_owned(),
        services: Vec::new(),
        namespaces: Vec::new(),
    };
    let internet = &target.site.internet;
    let job: Job = match attack {
        Attack::Scan => {
            let ns = running.attacker_ns.clone();
            Box::new(move |progress, _| {
                let run = tools::nmap_scan(&ns, WEB_SERVER, SCAN_PORTS)?;
                tools::record_tool_run(progress, &run);
                Ok(())
            })
        }
        Attack::Sweep => {
            internet.ip(&["route", "add", "local", SWEEP_NET, "dev", "lo"])?;
            let ns = running.attacker_ns.clone();
            Box::new(move |progress, _| {
                let run = tools::nmap(&ns, &["-sn", "-n", "-T5", "--max-retries", "0", SWEEP_NET])?;
                tools::record_tool_run(progress, &run);
                let addrs = tools::hosts_of(SWEEP_NET)?;
                let run = tools::hping3_syn_sweep(&ns, &addrs, 445)?;
                tools::record_tool_run(progress, &run);
                Ok(())
            })
        }
        Attack::Lateral => {
            running.namespaces.push(server_subnet(target)?);
            let mut peers: Vec<Ipv4Addr> = tools::hosts_of(SERVER_HOSTS)?;
            peers.extend(target.clients.iter().skip(1).map(|c| c.addr));
            let ns = running.attacker_ns.clone();
            Box::new(move |progress, _| senders::lateral(&ns, &peers, &LATERAL_PORTS, progress))
        }
        Attack::Beacon => {
            internet.ip(&["addr", "add", &format!("{C2_SERVER}/32"), "dev", "lo"])?;
            running
                .services
                .push(http_server_on(internet, C2_SERVER, 80)?);
            let ns = running.attacker_ns.clone();
            Box::new(move |progress, stop| senders::beacon(&ns, C2_SERVER, progress, stop))
        }
        Attack::DnsTunnel => {
            let ns = running.attacker_ns.clone();
            Box::new(move |progress, _| {
                senders::dns_tunnel(&ns, DNS_SERVER, TUNNEL_DOMAIN, 300, progress)
            })
        }
        Attack::KnownBad => {
            let (ns, list) = (running.attacker_ns.clone(), target.list.to_path_buf());
            Box::new(move |progress, stop| {
                senders::known_bad(&ns, &list, WEB_SERVER, progress, stop)
            })
        }
        Attack::NewDevice => {
            let device = new_device(target)?;
            running.attacker_ns = device.name().to_owned();
            running.namespaces.push(device);
            let ns = running.attacker_ns.clone();
            Box::new(move |progress, stop| senders::new_device_traffic(&ns, progress, stop))
        }
    };
    let (progress, stop) = (running.progress.clone(), running.stop.clone());
    running.thread = Some(std::thread::spawn(move || {
        if let Ok(mut p) = progress.lock() {
            p.started = Some(SystemTime::now());
        }
        let outcome = job(&progress, &stop);
        if let Ok(mut p) = progress.lock() {
            p.finished = Some(SystemTime::now());
            if let Err(error) = outcome {
                p.error = Some(format!("{error:#}"));
            }
        }
    }));
    Ok(running)
}

/// A server subnet behind the gateway ([`SERVER_NET`]) in a namespace of its
/// own, whose local route answers for every address of [`SERVER_HOSTS`]
/// (closed ports: a reset).
fn server_subnet(target: &Target<'_>) -> anyhow::Result<Namespace> {
    let tag = target.tag;
    let servers = Namespace::create(&format!("{tag}sv"))?;
    let (gateway_if, servers_if) = (
        unique("v", &format!("{tag}gv")),
        unique("v", &format!("{tag}sv")),
    );
    crate::netns::veth(&target.site.gateway, &gateway_if, &servers, &servers_if)?;
    target.site.gateway.ip(&[
        "addr",
        "add",
        &format!("{SERVER_GATEWAY}/24"),
        "dev",
        &gateway_if,
    ])?;
    servers.ip(&["addr", "add", "10.77.2.2/24", "dev", &servers_if])?;
    servers.ip(&["route", "add", "local", SERVER_HOSTS, "dev", "lo"])?;
    servers.ip(&[
        "route",
        "add",
        "default",
        "via",
        &SERVER_GATEWAY.to_string(),
    ])?;
    Ok(servers)
}

/// A new client on the switch: a namespace, a veth with a vendor MAC to a
/// new port of the bridge, [`NEW_DEVICE`] with the gateway as its route.
fn new_device(target: &Target<'_>) -> anyhow::Result<Namespace> {
    let tag = target.tag;
    let device = Namespace::create(&format!("{tag}nd"))?;
    let (device_if, port) = (
        unique("v", &format!("{tag}nd")),
        unique("v", &format!("{tag}np")),
    );
    ip(&[
        "link",
        "add",
        &device_if,
        "netns",
        device.name(),
        "address",
        NEW_DEVICE_MAC,
        "type",
        "veth",
        "peer",
        "name",
        &port,
        "netns",
        target.site.switch.name(),
    ])?;
    target
        .site
        .switch
        .ip(&["link", "set", &port, "master", &unique("b", tag)])?;
    target.site.switch.ip(&["link", "set", &port, "up"])?;
    device.ip(&["link", "set", &device_if, "up"])?;
    device.ip(&[
        "addr",
        "add",
        &format!("{NEW_DEVICE}/24"),
        "dev",
        &device_if,
    ])?;
    device.ip(&["route", "add", "default", "via", &GATEWAY_LAN.to_string()])?;
    Ok(device)
}
