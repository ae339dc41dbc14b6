//! The lab site, shared by the traffic tests and `cargo xtask lab`:
//!
//! ```text
//! clients (10.77.1.10..) --- switch (bridge) --- lan | gateway (Vantage, forwarding) | wan --- internet
//!                                                10.77.1.1                  203.0.113.1      203.0.113.53 DNS
//!                                                                                            203.0.113.80 web
//!                                                                                            203.0.113.100 collector
//! ```
//!
//! Every namespace, veth and bridge name carries this process's id and a
//! per-site tag; dropping the site deletes all of them.

use std::net::Ipv4Addr;

use anyhow::Context as _;

use crate::netns::{unique, veth, Namespace};

pub const GATEWAY_LAN: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 1);
pub const GATEWAY_WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub const DNS_SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 53);
pub const WEB_SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);
/// Where the MSSP's collector listens, out on the "internet".
pub const COLLECTOR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 100);
/// The protected network of the site.
pub const SITE_NET: &str = "10.77.0.0/16";

pub struct Client {
    pub ns: Namespace,
    pub addr: Ipv4Addr,
}

pub struct Site {
    pub clients: Vec<Client>,
    pub switch: Namespace,
    pub gateway: Namespace,
    pub internet: Namespace,
    /// The gateway's LAN and WAN interfaces: the sensor attaches to both.
    pub gateway_lan: String,
    pub gateway_wan: String,
}

impl Site {
    /// Builds the site; `tag` (one or two characters) keeps sites of one process apart.
    pub fn build(tag: &str, clients: usize) -> anyhow::Result<Site> {
        let switch = Namespace::create(&format!("{tag}sw"))?;
        let gateway = Namespace::create(&format!("{tag}gw"))?;
        let internet = Namespace::create(&format!("{tag}in"))?;
        let bridge = unique("b", tag);
        switch.ip(&["link", "add", &bridge, "type", "bridge"])?;
        switch.ip(&["link", "set", &bridge, "up"])?;

        let gateway_lan = unique("v", &format!("{tag}gl"));
        let switch_uplink = unique("v", &format!("{tag}sg"));
        veth(&gateway, &gateway_lan, &switch, &switch_uplink)?;
        switch.ip(&["link", "set", &switch_uplink, "master", &bridge])?;
        gateway.ip(&[
            "addr",
            "add",
            &format!("{GATEWAY_LAN}/24"),
            "dev",
            &gateway_lan,
        ])?;

        let gateway_wan = unique("v", &format!("{tag}gw"));
        let internet_if = unique("v", &format!("{tag}iw"));
        veth(&gateway, &gateway_wan, &internet, &internet_if)?;
        gateway.ip(&[
            "addr",
            "add",
            &format!("{GATEWAY_WAN}/24"),
            "dev",
            &gateway_wan,
        ])?;
        for addr in [DNS_SERVER, WEB_SERVER, COLLECTOR] {
            internet.ip(&["addr", "add", &format!("{addr}/24"), "dev", &internet_if])?;
        }
        internet.ip(&["route", "add", SITE_NET, "via", &GATEWAY_WAN.to_string()])?;
        gateway.sysctl("net.ipv4.ip_forward", "1")?;

        let mut site = Site {
            clients: Vec::new(),
            switch,
            gateway,
            internet,
            gateway_lan,
            gateway_wan,
        };
        for i in 0..clients {
            let ns = Namespace::create(&format!("{tag}c{i}"))?;
            let addr = Ipv4Addr::new(10, 77, 1, 10 + i as u8);
            let client_if = unique("v", &format!("{tag}c{i}"));
            let port = unique("v", &format!("{tag}p{i}"));
            veth(&ns, &client_if, &site.switch, &port)?;
            site.switch.ip(&["link", "set", &port, "master", &bridge])?;
            ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", &client_if])?;
            ns.ip(&["route", "add", "default", "via", &GATEWAY_LAN.to_string()])?;
            site.clients.push(Client { ns, addr });
        }
        site.wait_until_reachable()
            .context("the site's routes do not work")?;
        Ok(site)
    }

    /// Pings through the gateway until the bridge has learned its ports.
    fn wait_until_reachable(&self) -> anyhow::Result<()> {
        let Some(first) = self.clients.first() else {
            return Ok(());
        };
        for _ in 0..20 {
            if crate::services::ping(&first.ns, GATEWAY_LAN, 1)? == 1 {
                return Ok(());
            }
        }
        anyhow::bail!("client {} cannot reach the gateway", first.addr)
    }
}
