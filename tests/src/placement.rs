//! Where an installer might put the sensor, built in network namespaces
//! around the lab site ([`crate::site`]): the placements of
//! `cargo xtask lab --placement` and of the placement tests.
//!
//! ```text
//! good, no-dns, doh-only   the sensor on the gateway, LAN and WAN sides
//! mirror                   a SPAN of the switch's uplink port, both directions
//! outside-firewall         a SPAN of the WAN link, behind a NAT gateway
//! unmirrored-port          an ordinary switch port (no mirror session)
//! one-way-mirror           a SPAN of what the clients send, not what they get
//! duplicate-mirror         a SPAN of both the client ports and the uplink port
//! remote-mirror            the same SPAN, sent to the sensor in VXLAN
//! ```
//!
//! Mirrors are `tc` `mirred` actions on the switch's (or the internet's)
//! ports; every name carries the process id like the rest of the site.

use std::{
    net::{Ipv4Addr, UdpSocket},
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{bail, Context as _};

use crate::{
    agent::{Agent, SensorDirs},
    netns::{unique, veth, Namespace},
    packet::dns_message,
    services::{dns_query, dns_responder, http_get, http_get_on, http_server, http_server_on},
    services::{ping, Service},
    site::{Client, Site, DNS_SERVER, GATEWAY_WAN, SITE_NET, WEB_SERVER},
};

/// A mirror-port sensor's own address on the site's LAN, when it has one.
pub const SENSOR_LAN: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 50);
/// Or on a protected subnet of its own, cabled to the gateway beside the
/// switch, and the gateway's address there.
pub const SENSOR_BESIDE: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 50);
pub const GATEWAY_BESIDE: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 1);
/// A well-known DNS-over-HTTPS resolver, given to the lab's internet.
pub const DOH_RESOLVER: Ipv4Addr = Ipv4Addr::new(1, 1, 1, 1);
/// A mirror-port sensor's management link to the internet (where the
/// collector is), never mirrored: the sensor's end and the internet's end.
pub const MANAGEMENT_SENSOR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub const MANAGEMENT_INTERNET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// One way of placing the sensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    Good,
    Mirror,
    OutsideFirewall,
    UnmirroredPort,
    OneWayMirror,
    DuplicateMirror,
    NoDns,
    DohOnly,
    RemoteMirror,
}

impl Placement {
    pub const ALL: [Placement; 9] = [
        Placement::Good,
        Placement::Mirror,
        Placement::OutsideFirewall,
        Placement::UnmirroredPort,
        Placement::OneWayMirror,
        Placement::DuplicateMirror,
        Placement::NoDns,
        Placement::DohOnly,
        Placement::RemoteMirror,
    ];

    /// The name `--placement` takes.
    pub fn name(self) -> &'static str {
        match self {
            Placement::Good => "good",
            Placement::Mirror => "mirror",
            Placement::OutsideFirewall => "outside-firewall",
            Placement::UnmirroredPort => "unmirrored-port",
            Placement::OneWayMirror => "one-way-mirror",
            Placement::DuplicateMirror => "duplicate-mirror",
            Placement::NoDns => "no-dns",
            Placement::DohOnly => "doh-only",
            Placement::RemoteMirror => "remote-mirror",
        }
    }

    pub fn from_name(name: &str) -> Option<Placement> {
        Placement::ALL.into_iter().find(|p| p.name() == name)
    }

    /// One line on what the lab built.
    pub fn describe(self) -> &'static str {
        match self {
            Placement::Good => "the sensor inline on the gateway (LAN and WAN sides), clients using the site's resolver",
            Placement::Mirror => "the sensor on a SPAN of the switch's uplink port (to the gateway), both directions: a good mirror port",
            Placement::OutsideFirewall => "the sensor on a SPAN of the WAN link, outside the gateway that NATs the site",
            Placement::UnmirroredPort => "the sensor on an ordinary switch port: no mirror session was configured",
            Placement::OneWayMirror => "the sensor on a SPAN that copies only what the clients send (ingress only)",
            Placement::DuplicateMirror => "the sensor on a SPAN of the client ports and the uplink port: every frame twice",
            Placement::NoDns => "the sensor inline; the clients never make a DNS lookup it can see",
            Placement::DohOnly => "the sensor inline; the clients resolve over HTTPS at 1.1.1.1, never with the site's resolver",
            Placement::RemoteMirror => "the sensor on a remote SPAN: the switch sends copies of its uplink port in VXLAN, which the sensor opens",
        }
    }

    /// The sensor is a mirror port (else it runs on the gateway).
    pub fn is_mirror(self) -> bool {
        matches!(
            self,
            Placement::Mirror
                | Placement::OutsideFirewall
                | Placement::UnmirroredPort
                | Placement::OneWayMirror
                | Placement::DuplicateMirror
                | Placement::RemoteMirror
        )
    }
}

/// A placement, built: the site, where the sensor runs, what it attaches to.
/// Dropping it removes everything it made (services first, namespaces last).
pub struct Topology {
    pub placement: Placement,
    services: Vec<Service>,
    pub clients: Arc<Vec<Client>>,
    pub site: Site,
    /// The sensor's own namespace on a mirror port; `None` on the gateway.
    sensor: Option<Namespace>,
    /// The interfaces the sensor attaches to.
    pub interfaces: Vec<String>,
    /// What keeps this topology's names apart from others in the process.
    tag: String,
}

impl Topology {
    /// Builds `placement` around a site of `clients` clients; `tag` (one or
    /// two characters) keeps the topologies of one process apart.
    pub fn build(placement: Placement, tag: &str, clients: usize) -> anyhow::Result<Topology> {
        let mut site = Site::build(tag, clients)?;
        let mut services = vec![
            dns_responder(&site.internet, DNS_SERVER)?,
            http_server(&site.internet, WEB_SERVER)?,
            // The resolver accepts TCP too, as real ones do (the sensor's
            // self-test opens a connection to it; only the handshake counts).
            http_server_on(&site.internet, DNS_SERVER, 53)?,
        ];
        if placement == Placement::DohOnly {
            site.internet.ip(&[
                "addr",
                "add",
                &format!("{DOH_RESOLVER}/32"),
                "dev",
                &internet_port(tag),
            ])?;
            site.gateway.ip(&[
                "route",
                "add",
                &format!("{DOH_RESOLVER}/32"),
                "via",
                &DNS_SERVER.to_string(),
            ])?;
            services.push(http_server_on(&site.internet, DOH_RESOLVER, 443)?);
        }
        let mut sensor = None;
        let mut interfaces = vec![site.gateway_lan.clone(), site.gateway_wan.clone()];
        if placement.is_mirror() {
            let ns = Namespace::create(&format!("{tag}se"))?;
            // A SPAN destination port sends nothing of its own: no IPv6
            // router solicitations or MLD reports from the switch's end.
            for side in [&site.switch, &site.internet] {
                side.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
            }
            let span = unique("v", &format!("{tag}sp"));
            let sensor_port = unique("v", &format!("{tag}se"));
            let client_ports: Vec<String> = (0..clients).map(|i| client_port(tag, i)).collect();
            let uplink_port = uplink_port(tag);
            match placement {
                Placement::OutsideFirewall => {
                    masquerade(&site.gateway, &site.gateway_wan)?;
                    veth(&site.internet, &span, &ns, &sensor_port)?;
                    mirror(&site.internet, &internet_port(tag), &span, true, true)?;
                }
                Placement::UnmirroredPort => {
                    veth(&site.switch, &span, &ns, &sensor_port)?;
                    site.switch
                        .ip(&["link", "set", &span, "master", &unique("b", tag)])?;
                }
                Placement::Mirror => {
                    veth(&site.switch, &span, &ns, &sensor_port)?;
                    mirror(&site.switch, &uplink_port, &span, true, true)?;
                }
                Placement::OneWayMirror => {
                    veth(&site.switch, &span, &ns, &sensor_port)?;
                    for port in &client_ports {
                        mirror(&site.switch, port, &span, true, false)?;
                    }
                }
                Placement::DuplicateMirror => {
                    veth(&site.switch, &span, &ns, &sensor_port)?;
                    for port in client_ports.iter().chain([&uplink_port]) {
                        mirror(&site.switch, port, &span, true, true)?;
                    }
                }
                Placement::RemoteMirror => {
                    veth(&site.switch, &span, &ns, &sensor_port)?;
                    let tunnel = unique("v", &format!("{tag}vx"));
                    vxlan_to_sensor(&site.switch, &span, &ns, &sensor_port, &tunnel)?;
                    mirror(&site.switch, &uplink_port, &tunnel, true, true)?;
                }
                _ => unreachable!("only mirror placements reach here"),
            }
            management(&ns, &site.internet, tag)?;
            interfaces = vec![sensor_port];
            sensor = Some(ns);
        }
        let clients = Arc::new(std::mem::take(&mut site.clients));
        Ok(Topology {
            placement,
            services,
            clients,
            site,
            sensor,
            interfaces,
            tag: tag.to_owned(),
        })
    }

    /// The switch's port of client `index` (where its mirror sessions are).
    pub fn client_port(&self, index: usize) -> String {
        client_port(&self.tag, index)
    }

    /// The switch's port towards the gateway.
    pub fn uplink_port(&self) -> String {
        uplink_port(&self.tag)
    }

    /// Where the sensor runs: its own namespace, or the gateway.
    pub fn sensor_ns(&self) -> &Namespace {
        self.sensor.as_ref().unwrap_or(&self.site.gateway)
    }

    /// The configuration an installer would write for this placement: the
    /// `[site]` section with the resolver and host count the MSSP sold, and
    /// for a remote mirror, the tunnel to open.
    pub fn config(&self) -> String {
        let sensor = if self.placement == Placement::RemoteMirror {
            "[sensor]\ndecapsulate = [\"vxlan\"]\n"
        } else {
            ""
        };
        format!("{sensor}{}", self.site_section())
    }

    /// How the sensor is deployed: `inline` or `mirror`.
    pub fn mode(&self) -> &'static str {
        if self.placement.is_mirror() {
            "mirror"
        } else {
            "inline"
        }
    }

    /// The `[site]` section of [`Topology::config`].
    pub fn site_section(&self) -> String {
        let mode = self.mode();
        format!(
            "[site]\nmode = \"{mode}\"\nexpected_hosts = {}\nresolvers = [\"{DNS_SERVER}\"]\n",
            self.clients.len()
        )
    }

    /// Starts `vantage run` where the sensor runs, on its interfaces, with
    /// the site's protected network and `config`.
    pub fn start_agent(&self, dirs: &SensorDirs, config: &Path) -> anyhow::Result<Agent> {
        let interfaces: Vec<&str> = self.interfaces.iter().map(String::as_str).collect();
        Agent::start_with_config(
            self.sensor_ns(),
            &interfaces,
            &[SITE_NET],
            dirs,
            Some(config),
        )
    }

    /// Starts the clients' traffic for this placement.
    pub fn traffic(&self) -> Traffic {
        Traffic::start(&self.clients, self.placement)
    }

    /// Gives a mirror-port sensor an address in a protected network, as a
    /// sensor box with a management NIC on the site has, and a route to the
    /// internet through the gateway. With `on_switch`, the NIC is a port of
    /// the mirrored switch ([`SENSOR_LAN`]), so its traffic to the internet
    /// crosses the uplink port; otherwise it is cabled straight to the
    /// gateway ([`SENSOR_BESIDE`] on a subnet of its own) and its traffic
    /// never crosses the mirror session.
    pub fn sensor_lan_leg(&self, tag: &str, on_switch: bool) -> anyhow::Result<()> {
        let sensor = self
            .sensor
            .as_ref()
            .context("only a mirror-port sensor has a LAN leg")?;
        let ours = unique("v", &format!("{tag}sn"));
        let theirs = unique("v", &format!("{tag}sl"));
        let (own, via) = if on_switch {
            veth(sensor, &ours, &self.site.switch, &theirs)?;
            self.site
                .switch
                .ip(&["link", "set", &theirs, "master", &unique("b", tag)])?;
            (SENSOR_LAN, crate::site::GATEWAY_LAN)
        } else {
            veth(sensor, &ours, &self.site.gateway, &theirs)?;
            self.site.gateway.ip(&[
                "addr",
                "add",
                &format!("{GATEWAY_BESIDE}/24"),
                "dev",
                &theirs,
            ])?;
            (SENSOR_BESIDE, GATEWAY_BESIDE)
        };
        sensor.ip(&["addr", "add", &format!("{own}/24"), "dev", &ours])?;
        sensor.ip(&["route", "add", "203.0.113.0/24", "via", &via.to_string()])
    }

    /// DNS answers given so far by the site's resolver.
    pub fn lookups_answered(&self) -> u64 {
        self.services.first().map_or(0, Service::served)
    }
}

/// The mirror-port sensor's own link to the internet, to reach the
/// collector: a /30 of its own, outside every mirror session.
fn management(sensor: &Namespace, internet: &Namespace, tag: &str) -> anyhow::Result<()> {
    let (ours, theirs) = (
        unique("v", &format!("{tag}sm")),
        unique("v", &format!("{tag}im")),
    );
    veth(sensor, &ours, internet, &theirs)?;
    sensor.ip(&[
        "addr",
        "add",
        &format!("{MANAGEMENT_SENSOR}/30"),
        "dev",
        &ours,
    ])?;
    internet.ip(&[
        "addr",
        "add",
        &format!("{MANAGEMENT_INTERNET}/30"),
        "dev",
        &theirs,
    ])?;
    sensor.ip(&[
        "route",
        "add",
        "default",
        "via",
        &MANAGEMENT_INTERNET.to_string(),
    ])
}

/// The outer endpoints of the remote mirror's tunnel: outside every
/// protected network, as a switch's management addresses are.
pub const TUNNEL_SWITCH: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const TUNNEL_SENSOR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// A VXLAN device `tunnel` (VNI 42) in the switch towards the sensor's port,
/// over the veth `span` - `sensor_port`.
fn vxlan_to_sensor(
    switch: &Namespace,
    span: &str,
    sensor: &Namespace,
    sensor_port: &str,
    tunnel: &str,
) -> anyhow::Result<()> {
    switch.ip(&["addr", "add", &format!("{TUNNEL_SWITCH}/30"), "dev", span])?;
    sensor.ip(&[
        "addr",
        "add",
        &format!("{TUNNEL_SENSOR}/30"),
        "dev",
        sensor_port,
    ])?;
    switch.ip(&[
        "link",
        "add",
        tunnel,
        "type",
        "vxlan",
        "id",
        "42",
        "local",
        &TUNNEL_SWITCH.to_string(),
        "remote",
        &TUNNEL_SENSOR.to_string(),
        "dstport",
        "4789",
        "dev",
        span,
    ])?;
    switch.ip(&["link", "set", tunnel, "up"])
}

/// The switch's port of client `index`, as [`Site::build`] names it.
fn client_port(tag: &str, index: usize) -> String {
    unique("v", &format!("{tag}p{index}"))
}

/// The switch's port towards the gateway, as [`Site::build`] names it.
fn uplink_port(tag: &str) -> String {
    unique("v", &format!("{tag}sg"))
}

/// The internet namespace's side of the WAN link.
fn internet_port(tag: &str) -> String {
    unique("v", &format!("{tag}iw"))
}

/// Source NAT of everything leaving `wan` to the gateway's address.
fn masquerade(gateway: &Namespace, wan: &str) -> anyhow::Result<()> {
    let rules = format!(
        "table ip vantage_nat {{\n  chain post {{\n    type nat hook postrouting priority srcnat;\n    oifname \"{wan}\" masquerade\n  }}\n}}\n"
    );
    let mut child = gateway
        .command("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running nft (apt install nftables; cargo xtask setup installs it)")?;
    if let Some(mut stdin) = child.stdin.take() {
        std::io::Write::write_all(&mut stdin, rules.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "nft masquerade on {wan} (gateway {GATEWAY_WAN}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Copies the frames entering (`ingress`) and leaving (`egress`) `port` to
/// `span`, as a switch's SPAN session does.
fn mirror(
    ns: &Namespace,
    port: &str,
    span: &str,
    ingress: bool,
    egress: bool,
) -> anyhow::Result<()> {
    tc(ns, &["qdisc", "add", "dev", port, "clsact"])?;
    for (wanted, hook) in [(ingress, "ingress"), (egress, "egress")] {
        if wanted {
            tc(
                ns,
                &[
                    "filter", "add", "dev", port, hook, "protocol", "all", "prio", "1", "u32",
                    "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", span,
                ],
            )?;
        }
    }
    Ok(())
}

fn tc(ns: &Namespace, args: &[&str]) -> anyhow::Result<()> {
    let out = ns.command("tc").args(args).output().context("running tc")?;
    if !out.status.success() {
        bail!(
            "tc {} in {}: {}",
            args.join(" "),
            ns.name(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

const NAMES: [&str; 4] = [
    "www.example.com",
    "mail.example.org",
    "updates.example.net",
    "cdn.example.com",
];

/// The clients' traffic, one thread per client; stopped and joined on drop.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    drivers: Vec<JoinHandle<()>>,
}

impl Traffic {
    /// Each client, about three times a second: a lookup at the site's
    /// resolver (none in `no-dns`, one over HTTPS at [`DOH_RESOLVER`] in
    /// `doh-only`), a web page, now and then a ping; on an office LAN, also a
    /// NetBIOS-style name query to the subnet broadcast.
    pub fn start(clients: &Arc<Vec<Client>>, placement: Placement) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let drivers = (0..clients.len())
            .map(|index| {
                let (clients, stop) = (clients.clone(), stop.clone());
                std::thread::spawn(move || {
                    let client = &clients[index];
                    let mut round = 0usize;
                    while !stop.load(Ordering::SeqCst) {
                        one_round(client, placement, round, index);
                        round += 1;
                        std::thread::sleep(Duration::from_millis(250 + 50 * index as u64));
                    }
                })
            })
            .collect();
        Traffic { stop, drivers }
    }
}

fn one_round(client: &Client, placement: Placement, round: usize, index: usize) {
    let timeout = Duration::from_millis(500);
    let id = u16::try_from(round % 60_000).unwrap_or(0);
    match placement {
        Placement::NoDns => {}
        Placement::DohOnly => {
            let _ = http_get_on(&client.ns, DOH_RESOLVER, 443, timeout);
        }
        _ => {
            let _ = dns_query(&client.ns, DNS_SERVER, NAMES[round % NAMES.len()], id);
        }
    }
    let _ = http_get(&client.ns, WEB_SERVER, timeout);
    if round % 4 == index % 4 {
        let _ = ping(&client.ns, WEB_SERVER, 1);
    }
    let _ = name_query_broadcast(client, id);
}

/// A name query to the client's subnet broadcast (UDP 137), as Windows
/// machines send all day.
fn name_query_broadcast(client: &Client, id: u16) -> anyhow::Result<()> {
    let [a, b, c, _] = client.addr.octets();
    let broadcast = Ipv4Addr::new(a, b, c, 255);
    let query = dns_message(id, false, "WORKGROUP");
    client.ns.run(move || -> anyhow::Result<()> {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        socket.set_broadcast(true)?;
        socket.send_to(&query, (broadcast, 137))?;
        Ok(())
    })?
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for driver in self.drivers.drain(..) {
            let _ = driver.join();
        }
    }
}
