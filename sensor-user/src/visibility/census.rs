//! The host census: which protected hosts are present. A host counts once
//! it has sent traffic, and for as long as it sent within the census
//! horizon; an address that only ever receives (a scan's target, a subnet
//! broadcast address) never counts, and neither do network, broadcast and
//! multicast addresses, whatever the counters say.

use std::{
    collections::{BTreeSet, HashMap},
    net::IpAddr,
    time::{Duration, SystemTime},
};

use crate::{net::Cidr, sample::Interval};

/// When each present host last sent, and its last VLAN.
#[derive(Clone, Debug, Default)]
pub struct Census {
    last_sent: HashMap<IpAddr, (SystemTime, u16)>,
}

/// False for addresses that are never hosts: unspecified, multicast, the
/// limited broadcast, and the network and broadcast addresses of an IPv4
/// protected prefix of /30 or wider.
pub fn is_host_address(addr: IpAddr, local_nets: &[Cidr]) -> bool {
    match addr {
        IpAddr::V4(v4) => {
            if v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() {
                return false;
            }
            let bits = u32::from(v4);
            !local_nets.iter().any(|net| match net.addr {
                IpAddr::V4(base) if net.prefix_len <= 30 && net.contains(addr) => {
                    let host_mask = u32::MAX >> net.prefix_len;
                    let network = u32::from(base) & !host_mask;
                    bits == network || bits == network | host_mask
                }
                _ => false,
            })
        }
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

impl Census {
    /// Takes in an interval: hosts that sent during it are present as of
    /// its end. A host first met with traffic sent before the sensor
    /// started (its pinned counters survive restarts) counts from its last
    /// packet's time.
    pub fn update(&mut self, interval: &Interval, local_nets: &[Cidr]) {
        for host in &interval.hosts {
            if !is_host_address(host.addr, local_nets) {
                continue;
            }
            if host.delta.packets_out > 0 {
                self.last_sent.insert(host.addr, (interval.end, host.vlan));
            } else if host.totals.packets_out > 0 && !self.last_sent.contains_key(&host.addr) {
                if let Some(when) = interval.wall_of(host.last_seen_ns) {
                    self.last_sent.insert(host.addr, (when, host.vlan));
                }
            }
        }
    }

    /// Forgets hosts that have not sent within `horizon` of `now`.
    pub fn prune(&mut self, now: SystemTime, horizon: Duration) {
        self.last_sent
            .retain(|_, (when, _)| now.duration_since(*when).unwrap_or_default() <= horizon);
    }

    /// Hosts present.
    pub fn count(&self) -> u32 {
        u32::try_from(self.last_sent.len()).unwrap_or(u32::MAX)
    }

    /// VLAN ids of the present hosts' last frames (0 for untagged).
    pub fn vlans(&self) -> BTreeSet<u16> {
        self.last_sent.values().map(|(_, vlan)| *vlan).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets() -> Vec<Cidr> {
        ["10.0.5.0/24", "192.168.1.0/30", "10.9.9.9/32", "fd00::/8"]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn network_broadcast_and_multicast_addresses_are_not_hosts() {
        let nets = nets();
        for addr in [
            "10.0.5.255",
            "10.0.5.0",
            "192.168.1.0",
            "192.168.1.3",
            "224.0.0.251",
            "255.255.255.255",
            "0.0.0.0",
            "ff02::1",
        ] {
            assert!(!is_host_address(ip(addr), &nets), "{addr}");
        }
        for addr in [
            "10.0.5.1",
            "10.0.5.254",
            "192.168.1.1",
            "10.9.9.9",
            "fd00::5",
            "203.0.113.7",
        ] {
            assert!(is_host_address(ip(addr), &nets), "{addr}");
        }
    }
}
