//! Canaries: `vantage canary`, run on a protected host, looks up
//! `vantage-canary-<sent unix seconds>-<nonce>.<suffix>`; the sensor sees
//! the query cross its datapath and raises a `canary` alert whose detail is
//! the name, whose host is the querier and whose `at` is when the sensor saw
//! it. The name carries when it was sent, so the collector can tell how
//! long the whole path took: from the host's lookup to the stored alert.
//!
//! The sent time is the querying host's clock, `at` the sensor's and the
//! stored time the collector's: clock skew between them enters the figures
//! (a negative one shows it).

use serde::{Deserialize, Serialize};
use vantage_protocol::{canary::parse, AlertKind};

use crate::{assurance::dwell, record::AlertRecord};

/// The path a stored canary alert took.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CanaryTiming {
    /// The name, as the alert's detail holds it.
    pub name: String,
    /// When the host sent it, from the name (`None`: the name does not parse).
    pub sent_at: Option<u64>,
    /// When the sensor saw it cross its datapath (the alert's `at`).
    pub seen_at: u64,
    /// When the collector stored the alert.
    pub stored_at: f64,
    /// `stored_at - sent_at`: the whole path, seconds.
    pub latency_secs: Option<f64>,
    /// `seen_at - sent_at`: from the host to the sensor's verdict, seconds.
    pub to_sensor_secs: Option<i64>,
    /// `stored_at - seen_at`: from the sensor to the collector's store, seconds.
    pub to_collector_secs: f64,
}

/// The timing of `alert` if it is a canary alert.
pub fn timing(alert: &AlertRecord) -> Option<CanaryTiming> {
    if alert.kind != AlertKind::Canary {
        return None;
    }
    let sent_at = parse(&alert.detail).map(|name| name.sent_at);
    let signed = |secs: u64| i64::try_from(secs).unwrap_or(i64::MAX);
    Some(CanaryTiming {
        name: alert.detail.clone(),
        sent_at,
        seen_at: alert.raised_at,
        stored_at: alert.received_at,
        latency_secs: sent_at.map(|sent| alert.received_at - sent as f64),
        to_sensor_secs: sent_at.map(|sent| signed(alert.raised_at) - signed(sent)),
        to_collector_secs: alert.received_at - alert.raised_at as f64,
    })
}

/// `1.4s`, `-2.0s` (skewed clocks), or `3h2m` from a minute on.
pub fn human_latency(secs: f64) -> String {
    if secs.abs() < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 0.0 {
        format!("-{}", dwell::human(secs.abs().round() as u64))
    } else {
        dwell::human(secs.round() as u64)
    }
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken setup step"
)]
mod tests {
    use vantage_protocol::Severity;

    use super::*;
    use crate::record::ChainStatus;

    fn alert(kind: AlertKind, detail: &str) -> AlertRecord {
        AlertRecord {
            id: 7,
            sensor: "0123456789abcdef".into(),
            sensor_name: "gw".into(),
            site: "acme".into(),
            epoch: 3,
            seq: 4,
            raised_at: 1_795_000_002,
            received_at: 1_795_000_003.25,
            severity: Severity::Info,
            kind,
            host: "10.77.1.10".parse().expect("ip"),
            peer: None,
            port: 0,
            count: 1,
            detail: detail.into(),
            chain: ChainStatus::Linked,
            envelope_hash: "00".repeat(16),
        }
    }

    #[test]
    fn a_canary_alert_has_its_latency_and_other_alerts_none() {
        let canary = alert(AlertKind::Canary, "vantage-canary-1795000000-ab.invalid");
        assert_eq!(
            timing(&canary),
            Some(CanaryTiming {
                name: "vantage-canary-1795000000-ab.invalid".into(),
                sent_at: Some(1_795_000_000),
                seen_at: 1_795_000_002,
                stored_at: 1_795_000_003.25,
                latency_secs: Some(3.25),
                to_sensor_secs: Some(2),
                to_collector_secs: 1.25,
            })
        );
        let garbled = timing(&alert(AlertKind::Canary, "not a canary"));
        assert_eq!(
            garbled.map(|t| (t.sent_at, t.latency_secs, t.to_collector_secs)),
            Some((None, None, 1.25))
        );
        assert_eq!(
            timing(&alert(AlertKind::PortScan, "vantage-canary-1-ab")),
            None
        );
        assert_eq!(human_latency(3.25), "3.2s");
        assert_eq!(human_latency(-2.0), "-2.0s");
        assert_eq!(human_latency(10_925.4), "3h2m");
        assert_eq!(human_latency(-120.0), "-2m");
    }
}
