//! New devices ([`Detector::NewDevice`]): an address or a MAC the sensor
//! has never seen on the protected networks, once the inventory has
//! learnt the site.
//!
//! During the learning period (7 days from the inventory's creation by
//! default: one full weekly cycle, so that devices used only on some
//! weekdays, weekend jobs and part-time staff are learnt) everything is
//! recorded and nothing reported. After it, each [`Seen::Device`] (sent when
//! the sensor's host table gains an entry) is judged by its MAC's kind:
//!
//! | MAC | MAC never seen | MAC known |
//! |---|---|---|
//! | universally administered (a vendor's) | 65: notify | new IPv4 address: 20 (a lease changed); new IPv6 address: nothing (temporary addresses rotate daily, RFC 8981) |
//! | locally administered (bit 0x02 of the first octet: phones and laptops randomise it per network) | new address: 45 (digest); known address: nothing (the same address, a new random MAC) | as a universal one |
//! | all zero (raw IP links, tunnels) | judged by the address alone: new address 45, else nothing | |
//!
//! A random MAC is a class, not an identity: a phone that joins a new
//! network, or rotates its MAC, looks new each time, so it only reaches the
//! digest. A new vendor MAC is a new piece of hardware (or a MAC spoofed to
//! take over an address) and notifies.

mod inventory;
#[cfg(test)]
mod tests;

use std::{
    net::IpAddr,
    time::{Duration, SystemTime},
};

pub use inventory::{Inventory, InventoryError, Mac, Sighting};

use super::{Detect, Detector, DetectorStats, Explanation, Fact, Finding, Observation, Seen, Site};
use crate::config::duration::HumanDuration;

/// `[detect.new_device]`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewDeviceSettings {
    /// Learning period from the inventory's creation: everything is
    /// recorded, nothing reported. Default 7d (a full weekly cycle).
    pub learning: HumanDuration,
    /// Entries each inventory table (addresses, MACs) holds at most; a
    /// full table evicts its least recently seen 1/64. Default 65536.
    pub max_entries: usize,
    /// A never-seen universally administered (vendor) MAC. Default 65 (notify).
    pub universal_mac_score: u8,
    /// A never-seen locally administered (random) MAC on a never-seen
    /// address. Default 45 (digest).
    pub random_mac_score: u8,
    /// A never-seen address with an all-zero MAC (raw IP links, tunnels:
    /// often a VPN pool). Default 45 (digest).
    pub address_only_score: u8,
    /// A known MAC on a never-seen IPv4 address (a DHCP lease changed).
    /// Default 20 (below the digest). IPv6 addresses of known MACs are
    /// never reported.
    pub known_mac_new_address_score: u8,
}

impl Default for NewDeviceSettings {
    fn default() -> NewDeviceSettings {
        NewDeviceSettings {
            learning: HumanDuration(Duration::from_secs(7 * 86_400)),
            max_entries: Inventory::DEFAULT_MAX_ENTRIES,
            universal_mac_score: 65,
            random_mac_score: 45,
            address_only_score: 45,
            known_mac_new_address_score: 20,
        }
    }
}

impl NewDeviceSettings {
    /// (key, problem) for each out-of-range value.
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.learning.0 > Duration::from_secs(365 * 86_400) {
            problems.push(("learning", "must be a year or shorter".to_owned()));
        }
        if !(16..=1_048_576).contains(&self.max_entries) {
            problems.push((
                "max_entries",
                format!("{} is outside 16 to 1048576", self.max_entries),
            ));
        }
        for (key, value) in [
            ("universal_mac_score", self.universal_mac_score),
            ("random_mac_score", self.random_mac_score),
            ("address_only_score", self.address_only_score),
            (
                "known_mac_new_address_score",
                self.known_mac_new_address_score,
            ),
        ] {
            if value > 100 {
                problems.push((key, format!("{value} is above 100")));
            }
        }
        problems
    }
}

/// What a MAC says about its device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacKind {
    /// Assigned by the vendor (bit 0x02 of the first octet clear).
    Universal,
    /// Locally administered (bit 0x02 set): usually randomised.
    Local,
    /// All zero: the link has no MACs (raw IP, tunnels).
    Zero,
}

impl MacKind {
    pub fn of(mac: Mac) -> MacKind {
        match mac.0 {
            [0, 0, 0, 0, 0, 0] => MacKind::Zero,
            [first, ..] if first & 0x02 != 0 => MacKind::Local,
            _ => MacKind::Universal,
        }
    }
}

/// The new-device detector over an [`Inventory`] it keeps up to date.
#[derive(Debug)]
pub struct NewDevice {
    settings: NewDeviceSettings,
    inventory: Inventory,
}

impl NewDevice {
    /// Caps `inventory` at `settings.max_entries` (evicting and counting
    /// the least recently seen beyond it).
    pub fn new(settings: NewDeviceSettings, mut inventory: Inventory) -> NewDevice {
        inventory.set_max_entries(settings.max_entries);
        NewDevice {
            settings,
            inventory,
        }
    }

    /// For saving.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// When the learning period ends (reports start at this instant).
    pub fn learning_until(&self) -> SystemTime {
        self.inventory.created() + self.settings.learning.0
    }

    pub fn is_learning(&self, at: SystemTime) -> bool {
        at < self.learning_until()
    }

    /// The score of a device: `None` when it is not new.
    fn judge(&self, host: IpAddr, kind: MacKind, mac_new: bool, addr_new: bool) -> Option<u8> {
        let s = &self.settings;
        let score = match kind {
            MacKind::Zero if addr_new => s.address_only_score,
            MacKind::Zero => return None,
            MacKind::Universal if mac_new => s.universal_mac_score,
            MacKind::Local if mac_new && addr_new => s.random_mac_score,
            MacKind::Local if mac_new => return None,
            MacKind::Universal | MacKind::Local if addr_new && host.is_ipv4() => {
                s.known_mac_new_address_score
            }
            MacKind::Universal | MacKind::Local => return None,
        };
        (score > 0).then_some(score)
    }
}

impl Detect for NewDevice {
    fn detector(&self) -> Detector {
        Detector::NewDevice
    }

    fn observe(&mut self, observation: &Observation, _site: &Site, out: &mut Vec<Finding>) {
        let Seen::Device { host, mac, .. } = &observation.seen else {
            return;
        };
        let at = observation.at;
        let mac = Mac(*mac);
        let kind = MacKind::of(mac);
        let addr_new = self.inventory.record_address(*host, at);
        let mac_new = kind != MacKind::Zero && self.inventory.record_mac(mac, at);
        if self.is_learning(at) {
            return;
        }
        let Some(score) = self.judge(*host, kind, mac_new, addr_new) else {
            return;
        };
        let learned_secs = at
            .duration_since(self.inventory.created())
            .map_or(0, |d| d.as_secs());
        let learned_days = learned_secs / 86_400;
        // A young inventory has seen less of the site: 61 % at 7 days,
        // sure at 30.
        let confidence = (50 + learned_days * 5 / 3).min(100) as u8;
        let learning_secs = self.settings.learning.0.as_secs();
        out.push(Finding {
            at,
            detector: Detector::NewDevice,
            host: *host,
            peer: None,
            domain: None,
            port: None,
            score,
            explanation: Explanation {
                observed: learned_days as f64,
                threshold: learning_secs as f64 / 86_400.0,
                window_secs: u32::try_from(learning_secs).unwrap_or(u32::MAX),
                confidence,
                facts: Vec::new(),
            }
            .with(Fact::LocalMac, f64::from(u8::from(kind == MacKind::Local)))
            .with(Fact::LearnedDays, learned_days as f64),
        });
    }

    fn tick(&mut self, _now: SystemTime, _site: &Site, _out: &mut Vec<Finding>) {}

    fn stats(&self) -> DetectorStats {
        let tracked = self.inventory.address_count() + self.inventory.mac_count();
        DetectorStats {
            tracked: u32::try_from(tracked).unwrap_or(u32::MAX),
            evicted: self.inventory.evicted(),
        }
    }
}
