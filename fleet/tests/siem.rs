//! SIEM exports: exact JSON lines, OCSF and RFC 5424 output for a fixed
//! alert, timestamps, escaping, and real UDP and TCP delivery on loopback.

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken setup step"
)]

use std::{
    io::Read as _,
    net::{TcpListener, UdpSocket},
};

use serde_json::Value;
use vantage_fleet::{
    record::{AlertRecord, ChainStatus},
    siem::{
        self,
        syslog::escape_param,
        transport::{Destination, Sender},
        ExportFormat,
    },
};
use vantage_protocol::{AlertKind, Severity};

fn record() -> AlertRecord {
    AlertRecord {
        id: 42,
        sensor: "0123456789abcdef".into(),
        sensor_name: "gw-01".into(),
        site: "acme \"dental\" [east]\\".into(),
        epoch: 3,
        seq: 17,
        raised_at: 1_795_000_000,
        received_at: 1_795_000_001.25,
        severity: Severity::High,
        kind: AlertKind::PortScan,
        host: "10.77.1.10".parse().expect("ip"),
        peer: Some("203.0.113.80".parse().expect("ip")),
        port: 445,
        count: 120,
        detail: "120 ports in 10 s".into(),
        chain: ChainStatus::Linked,
        envelope_hash: "00112233445566778899aabbccddeeff".into(),
    }
}

#[test]
fn rfc3339_timestamps() {
    assert_eq!(siem::rfc3339(0.0), "1970-01-01T00:00:00.000Z");
    assert_eq!(siem::rfc3339(951_782_400.0), "2000-02-29T00:00:00.000Z");
    assert_eq!(siem::rfc3339(1_795_000_001.25), "2026-11-18T11:06:41.250Z");
    assert_eq!(siem::rfc3339(4_102_444_799.999), "2099-12-31T23:59:59.999Z");
}

#[test]
fn json_lines_carry_every_field() {
    let line = siem::render(ExportFormat::JsonLines, &record(), "collector");
    assert!(!line.contains('\n'));
    let value: Value = serde_json::from_str(&line).expect("json");
    assert_eq!(value["schema"], "vantage.alert/1");
    assert_eq!(value["id"], 42);
    assert_eq!(value["sensor"], "0123456789abcdef");
    assert_eq!(value["site"], "acme \"dental\" [east]\\");
    assert_eq!(
        (value["epoch"].as_u64(), value["seq"].as_u64()),
        (Some(3), Some(17))
    );
    assert_eq!(value["severity"], "high");
    assert_eq!(value["kind"], "port_scan");
    assert_eq!(value["host"], "10.77.1.10");
    assert_eq!(value["peer"], "203.0.113.80");
    assert_eq!(value["port"], 445);
    assert_eq!(value["count"], 120);
    assert_eq!(value["chain"], "linked");
    assert_eq!(value["received_time"], "2026-11-18T11:06:41.250Z");
    assert_eq!(value["raised_time"], "2026-11-18T11:06:40.000Z");
    assert_eq!(value["envelope_hash"], "00112233445566778899aabbccddeeff");
}

#[test]
fn ocsf_detection_finding() {
    let value: Value =
        serde_json::from_str(&siem::render(ExportFormat::Ocsf, &record(), "c")).expect("json");
    assert_eq!(value["class_uid"], 2004);
    assert_eq!(value["category_uid"], 2);
    assert_eq!(value["activity_id"], 1);
    assert_eq!(value["type_uid"], 200_401);
    assert_eq!(value["severity_id"], 4);
    assert_eq!(value["severity"], "High");
    assert_eq!(value["time"], 1_795_000_001_250u64);
    assert_eq!(value["finding_info"]["uid"], "0123456789abcdef-3-17");
    assert_eq!(value["finding_info"]["types"][0], "port_scan");
    assert_eq!(value["finding_info"]["created_time"], 1_795_000_000_000u64);
    assert_eq!(value["metadata"]["version"], "1.1.0");
    assert_eq!(value["metadata"]["product"]["name"], "Vantage");
    assert_eq!(value["metadata"]["tenant_uid"], "acme \"dental\" [east]\\");
    assert_eq!(value["device"]["uid"], "0123456789abcdef");
    assert!(
        value.get("src_endpoint").is_none(),
        "not a 1.1 Detection Finding field"
    );
    assert_eq!(value["evidences"][0]["src_endpoint"]["ip"], "10.77.1.10");
    assert_eq!(value["evidences"][0]["dst_endpoint"]["ip"], "203.0.113.80");
    assert_eq!(value["evidences"][0]["dst_endpoint"]["port"], 445);
    assert_eq!(value["count"], 120);
    assert_eq!(value["metadata"]["uid"], "42");
    assert_eq!(value["unmapped"]["chain"], "linked");
    assert_eq!(
        value["unmapped"]["envelope_hash"],
        "00112233445566778899aabbccddeeff"
    );
}

#[test]
fn syslog_rfc5424_line_is_exact() {
    let line = siem::render(ExportFormat::Syslog, &record(), "fleet-1");
    assert_eq!(
        line,
        "<131>1 2026-11-18T11:06:41.250Z fleet-1 vantage-fleet - port_scan \
         [vantage@32473 sensor=\"0123456789abcdef\" name=\"gw-01\" site=\"acme \\\"dental\\\" [east\\]\\\\\" \
         epoch=\"3\" seq=\"17\" host=\"10.77.1.10\" peer=\"203.0.113.80\" port=\"445\" count=\"120\" chain=\"linked\"] \
         high port_scan 10.77.1.10 -> 203.0.113.80:445: 120 ports in 10 s"
    );
    assert_eq!(escape_param("a\"b\\c]d"), "a\\\"b\\\\c\\]d");
    let mut critical = record();
    critical.severity = Severity::Critical;
    assert!(siem::render(ExportFormat::Syslog, &critical, "h").starts_with("<130>1 "));
    let mut info = record();
    info.severity = Severity::Info;
    assert!(siem::render(ExportFormat::Syslog, &info, "h").starts_with("<134>1 "));
}

#[test]
fn udp_delivers_one_datagram_per_message() {
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind");
    receiver
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let destination: Destination = format!("udp://{}", receiver.local_addr().expect("addr"))
        .parse()
        .expect("destination");
    let mut sender = Sender::connect(destination).expect("connect");
    let lines: Vec<String> = (0..3)
        .map(|i| {
            let mut r = record();
            r.seq = i;
            siem::render(ExportFormat::Syslog, &r, "h")
        })
        .collect();
    for line in &lines {
        sender.send(line).expect("send");
    }
    let mut buf = vec![0u8; 4096];
    for line in &lines {
        let n = receiver.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], line.as_bytes());
    }
}

#[test]
fn tcp_delivers_octet_counted_messages() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let destination: Destination = format!("tcp://{}", listener.local_addr().expect("addr"))
        .parse()
        .expect("destination");
    let lines: Vec<String> = (0..3)
        .map(|i| {
            let mut r = record();
            r.detail = format!("line {i}\nwith a newline");
            siem::render(ExportFormat::Syslog, &r, "h")
        })
        .collect();
    let expected = lines.clone();
    let sending = std::thread::spawn(move || {
        let mut sender = Sender::connect(destination).expect("connect");
        for line in &lines {
            sender.send(line).expect("send");
        }
    });
    let (mut stream, _) = listener.accept().expect("accept");
    sending.join().expect("sender");
    drop(listener);
    let mut received = Vec::new();
    stream.read_to_end(&mut received).expect("read");
    let mut messages = Vec::new();
    let mut rest = &received[..];
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ').expect("length prefix");
        let len: usize = std::str::from_utf8(&rest[..space])
            .expect("utf8")
            .parse()
            .expect("number");
        messages.push(String::from_utf8(rest[space + 1..space + 1 + len].to_vec()).expect("utf8"));
        rest = &rest[space + 1 + len..];
    }
    assert_eq!(messages, expected);
}

#[test]
fn unknown_formats_and_destinations_are_named() {
    assert!("cef"
        .parse::<ExportFormat>()
        .is_err_and(|e| e.contains("jsonl, ocsf, syslog")));
    assert!("smtp://x:1".parse::<Destination>().is_err());
    assert!("127.0.0.1:514".parse::<Destination>().is_err());
}
