//! `[detect]`: the detectors' settings, one sub-table each
//! (`[detect.port_scan]`, `[detect.beacon]`, ...), how findings become
//! alerts (`[detect.alerts]`), and the passive DNS table's size. Each
//! detector's module owns its defaults and checks; this file gathers them.

use serde::{Deserialize, Serialize};

use super::Violations;
use crate::detect::{
    alerts::AlertSettings, beacon::BeaconSettings, dns_tunnel::DnsTunnelSettings,
    known_bad::KnownBadSettings, lateral::LateralMovementSettings, new_device::NewDeviceSettings,
    scan::HostSweepSettings, scan::PortScanSettings,
};

/// `[detect]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Run the detectors at all.
    pub enabled: bool,
    /// Peer addresses the passive DNS table remembers (names for alerts and
    /// per-domain aggregation).
    pub passive_dns_addresses: u32,
    pub alerts: AlertSettings,
    pub port_scan: PortScanSettings,
    pub host_sweep: HostSweepSettings,
    pub lateral_movement: LateralMovementSettings,
    pub beacon: BeaconSettings,
    pub dns_tunnel: DnsTunnelSettings,
    pub known_bad: KnownBadSettings,
    pub new_device: NewDeviceSettings,
}

impl Default for DetectConfig {
    fn default() -> DetectConfig {
        DetectConfig {
            enabled: true,
            passive_dns_addresses: 16_384,
            alerts: AlertSettings::default(),
            port_scan: PortScanSettings::default(),
            host_sweep: HostSweepSettings::default(),
            lateral_movement: LateralMovementSettings::default(),
            beacon: BeaconSettings::default(),
            dns_tunnel: DnsTunnelSettings::default(),
            known_bad: KnownBadSettings::default(),
            new_device: NewDeviceSettings::default(),
        }
    }
}

impl DetectConfig {
    pub(super) fn check(&self, out: &mut Violations) {
        if !(16..=1_048_576).contains(&self.passive_dns_addresses) {
            out.fail(
                "detect",
                "passive_dns_addresses",
                format!("{} is outside 16..=1048576", self.passive_dns_addresses),
            );
        }
        let sections: [(&'static str, Vec<(&'static str, String)>); 8] = [
            ("detect.alerts", self.alerts.check()),
            ("detect.port_scan", self.port_scan.check()),
            ("detect.host_sweep", self.host_sweep.check()),
            ("detect.lateral_movement", self.lateral_movement.check()),
            ("detect.beacon", self.beacon.check()),
            ("detect.dns_tunnel", self.dns_tunnel.check()),
            ("detect.known_bad", self.known_bad.check()),
            ("detect.new_device", self.new_device.check()),
        ];
        for (section, problems) in sections {
            for (key, message) in problems {
                out.fail(section, key, message);
            }
        }
    }
}
