//! JSON lines: the stored alert as one flat object, schema `vantage.alert/1`.

use serde_json::json;

use super::rfc3339;
use crate::record::AlertRecord;

pub const ALERT_SCHEMA: &str = "vantage.alert/1";

pub fn render(record: &AlertRecord) -> String {
    json!({
        "schema": ALERT_SCHEMA,
        "id": record.id,
        "sensor": record.sensor,
        "sensor_name": record.sensor_name,
        "site": record.site,
        "epoch": record.epoch,
        "seq": record.seq,
        "raised_at": record.raised_at,
        "raised_time": rfc3339(record.raised_at as f64),
        "received_at": record.received_at,
        "received_time": rfc3339(record.received_at),
        "severity": record.severity.name(),
        "kind": record.kind.name(),
        "host": record.host.to_string(),
        "peer": record.peer.map(|p| p.to_string()),
        "port": record.port,
        "count": record.count,
        "detail": record.detail,
        "chain": record.chain.name(),
        "envelope_hash": record.envelope_hash,
    })
    .to_string()
}
