//! What the scenario tests share: addresses, times, queries, and the
//! iodine-shaped stream.

use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::*;

pub(super) const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 30));
pub(super) const OTHER_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 31));
pub(super) const RESOLVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 20));
pub(super) const A: u16 = 1;
pub(super) const NULL: u16 = 10;
pub(super) const TXT: u16 = 16;
pub(super) const PTR: u16 = 12;

pub(super) fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
}

pub(super) fn query(ms: u64, host: IpAddr, name: &str, qtype: u16, truncated: bool) -> Observation {
    Observation {
        at: at(ms),
        seen: Seen::DnsQuery {
            host,
            resolver: RESOLVER,
            name: name.to_owned(),
            qtype,
            truncated,
        },
    }
}

pub(super) fn feed(detector: &mut DnsTunnel, observations: &[Observation]) {
    let mut out = Vec::new();
    for observation in observations {
        detector.observe(observation, &Site::default(), &mut out);
    }
    assert!(out.is_empty(), "findings come only on ticks");
}

pub(super) fn tick(detector: &mut DnsTunnel, ms: u64) -> Vec<Finding> {
    let mut out = Vec::new();
    detector.tick(at(ms), &Site::default(), &mut out);
    out
}

pub(super) fn settings_reporting_all() -> DnsTunnelSettings {
    DnsTunnelSettings {
        report_from: 1,
        ..DnsTunnelSettings::default()
    }
}

/// A deterministic byte stream (a 32-bit LCG), for payload-like labels.
pub(super) struct Bytes(pub u32);

impl Bytes {
    pub fn next(&mut self) -> u8 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (self.0 >> 24) as u8
    }

    /// `len` bytes as the datapath writes them: printable ASCII as is
    /// (lower case), anything else `\ddd`.
    pub fn label(&mut self, len: usize) -> String {
        let mut out = String::new();
        for _ in 0..len {
            let byte = self.next().to_ascii_lowercase();
            if byte.is_ascii_graphic() && byte != b'.' && byte != b'\\' {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("\\{byte:03}"));
            }
        }
        out
    }
}

/// The shape of the iodine capture (nDPI's `dns-tunnel-iodine.pcap`):
/// handshake names, 24 data names longer than the sensor's copy (cut, their
/// domain lost), 25 data names that fit, 169 short polls; 222 distinct
/// names in 24 s.
pub(super) fn iodine_like(host: IpAddr, domain: &str, qtype: u16) -> Vec<Observation> {
    let mut bytes = Bytes(7);
    let mut out = Vec::new();
    let mut ms = 0;
    let mut push = |name: String, truncated: bool| {
        out.push(query(ms, host, &name, qtype, truncated));
        ms += 108;
    };
    for name in ["vaaaakardli", "laegpumiplhhpz12ynd1efljwlkjcgwy", "yrbi02"] {
        push(format!("{name}.{domain}"), false);
    }
    push(
        format!("zi05aabbccddeeffgghhiijjkkllmmnnooppqqrrssttuuvvwwxxyyzz.{domain}"),
        false,
    );
    // Fragment-size probes and large upstream packets: cut after 128
    // bytes of wire, so only their first two labels show, no domain.
    for i in 0..24 {
        push(
            format!("r{i:02}{}.{}", bytes.label(60), bytes.label(60)),
            true,
        );
    }
    for i in 0..25 {
        push(
            format!("1{i:02}{}.{}.{domain}", bytes.label(60), bytes.label(26)),
            false,
        );
    }
    for i in 0..169 {
        push(format!("pa{i:04}g2.{domain}"), false);
    }
    out
}
