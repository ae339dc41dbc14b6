//! `[uplink]`: the MSSP's collector, the sensor's key, and the spool that
//! holds what has not been acknowledged yet.

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

use super::{duration::HumanDuration, Violations};

/// `[uplink]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UplinkConfig {
    /// `host:port`; empty disables the uplink, the spool and heartbeats.
    pub collector: String,
    /// Name the collector's certificate was made for.
    pub server_name: String,
    /// `sha256:` and 64 hex digits: the collector key's pin.
    pub pin: String,
    /// The sensor's signing key (PKCS#8, mode 0600).
    pub key: PathBuf,
    /// Durable directory of the spool and the uplink log.
    pub spool_dir: PathBuf,
    /// Bytes of unacknowledged envelopes kept (16384 to 1073741824).
    pub spool_max_bytes: u64,
    /// 1 s to 1 h.
    pub heartbeat_interval: HumanDuration,
    pub retry_min: HumanDuration,
    pub retry_max: HumanDuration,
}

impl UplinkConfig {
    /// True when a collector is configured.
    pub fn enabled(&self) -> bool {
        !self.collector.is_empty()
    }

    pub(super) fn check(&self, out: &mut Violations) {
        if self.enabled() {
            let port_ok = self.collector.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !port_ok {
                out.fail(
                    "uplink",
                    "collector",
                    format!("{:?} is not host:port", self.collector),
                );
            }
            if vantage_protocol::KeyPin::parse(&self.pin).is_none() {
                out.fail(
                    "uplink",
                    "pin",
                    format!(
                        "{:?} is not \"sha256:\" and 64 hex digits (see `vantage-fleet pin`)",
                        self.pin
                    ),
                );
            }
            if rustls::pki_types::ServerName::try_from(self.server_name.as_str()).is_err() {
                out.fail(
                    "uplink",
                    "server_name",
                    format!("{:?} is not a DNS name or IP address", self.server_name),
                );
            }
        }
        if !(16_384..=1_073_741_824).contains(&self.spool_max_bytes) {
            out.fail(
                "uplink",
                "spool_max_bytes",
                format!("{} is outside 16384..=1073741824", self.spool_max_bytes),
            );
        }
        let beat = self.heartbeat_interval.0;
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&beat) {
            out.fail(
                "uplink",
                "heartbeat_interval",
                "must be between 1s and 1h".to_owned(),
            );
        }
        if self.retry_max.0 < self.retry_min.0 {
            out.fail(
                "uplink",
                "retry_max",
                "must not be shorter than retry_min".to_owned(),
            );
        }
    }
}

impl Default for UplinkConfig {
    fn default() -> UplinkConfig {
        UplinkConfig {
            collector: String::new(),
            server_name: "vantage-fleet".to_owned(),
            pin: String::new(),
            key: PathBuf::from("/etc/vantage/sensor.key"),
            spool_dir: PathBuf::from("/var/lib/vantage"),
            spool_max_bytes: 4 * 1024 * 1024,
            heartbeat_interval: HumanDuration(Duration::from_secs(60)),
            retry_min: HumanDuration(Duration::from_secs(1)),
            retry_max: HumanDuration(Duration::from_secs(60)),
        }
    }
}
