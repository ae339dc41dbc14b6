//! Expected site-counter deltas for one frame, built up field by field in
//! the kernel tests: every frame is [`seen`]; an IP frame is [`classed`];
//! a malformed one carries its reason ([`malformed`]).

use sensor_common::{MalformedReason, SiteCounters, TrafficClass};

use crate::harness::Harness;

/// The delta every frame of `len` bytes produces.
pub fn seen(len: usize) -> SiteCounters {
    SiteCounters {
        packets: 1,
        bytes: len as u64,
        ..SiteCounters::default()
    }
}

/// `s` with one packet of `len` bytes in traffic class `class`.
pub fn classed(mut s: SiteCounters, class: TrafficClass, len: usize) -> SiteCounters {
    s.class_packets[class as usize] += 1;
    s.class_bytes[class as usize] += len as u64;
    s
}

/// A frame of `len` bytes counted as malformed for `reason`.
pub fn malformed(len: usize, reason: MalformedReason) -> SiteCounters {
    let mut s = seen(len);
    s.malformed[reason as usize] = 1;
    s
}

/// Counts one IPv6 packet if `v6`, else one IPv4 packet.
pub fn count_ip(s: &mut SiteCounters, v6: bool) {
    if v6 {
        s.ipv6 += 1;
    } else {
        s.ipv4 += 1;
    }
}

/// A TCP SYN of `len` bytes from a protected host to the outside: one
/// event, and a new host entry when `new_host`.
pub fn outbound_syn(len: usize, ipv6: bool, new_host: bool) -> SiteCounters {
    let mut s = classed(seen(len), TrafficClass::LocalToRemote, len);
    count_ip(&mut s, ipv6);
    s.tcp = 1;
    s.tcp_syn = 1;
    s.events_sent = 1;
    s.hosts_created = u64::from(new_host);
    s
}

/// A sensor with a 1,024-slot host table, or a panic saying why not.
pub fn harness() -> Harness {
    Harness::new(1024).unwrap_or_else(|e| panic!("loading the sensor: {e:#}"))
}
