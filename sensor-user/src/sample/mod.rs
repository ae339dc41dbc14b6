//! What the sensor saw, as plain data: one [`Interval`] per tick, holding
//! every protected host's counters ([`HostSample`]), the site's visibility
//! counters ([`SiteSample`]), each as totals and as the change over the
//! interval, and the decoded [`Event`]s the kernel sent meanwhile.
//!
//! The datapath reads the maps into a [`Reading`] (per-CPU copies already
//! merged); a [`Sampler`] turns consecutive readings into intervals. The
//! status command, heartbeats, the tests and the learning code all read
//! intervals; nothing above this module sees a kernel type other than the
//! plain counter structs of `sensor-common`.

mod sampler;

use std::{
    net::IpAddr,
    time::{Duration, SystemTime},
};

pub use sampler::Sampler;
use sensor_common::{
    host::{sketch_estimate, sketch_saturation_floor},
    EventKind, HostCounters, HostTraffic, SiteCounters, SKETCH_WORDS,
};
use serde::{Deserialize, Serialize};

/// The maps as read at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reading {
    /// Every protected host in the per-host table, with each CPU's copy of
    /// its counters (zero where a CPU has none).
    pub hosts: Vec<(IpAddr, Vec<HostCounters>)>,
    /// Site-wide counters since the maps were created.
    pub site: SiteCounters,
    /// Capacity of the per-host map (entries).
    pub host_capacity: u32,
}

/// A distinct-count estimate from a linear-counting sketch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistinctCount {
    /// Estimated count, or the smallest count a full sketch stands for.
    pub estimate: u32,
    /// True when the sketch is full and `estimate` is only a lower bound.
    pub saturated: bool,
}

impl DistinctCount {
    /// Estimates the items in a merged sketch.
    pub fn from_sketch(sketch: &[u64; SKETCH_WORDS]) -> DistinctCount {
        match sketch_estimate(sketch) {
            Some(estimate) => DistinctCount {
                estimate,
                saturated: false,
            },
            None => DistinctCount {
                estimate: sketch_saturation_floor(),
                saturated: true,
            },
        }
    }
}

/// One protected host over one interval.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSample {
    pub addr: IpAddr,
    /// Counters since the host's map entry was created.
    pub totals: HostTraffic,
    /// Counters during the interval; never negative, never counted twice: a
    /// host whose entry was evicted and created again counts from the new entry.
    pub delta: HostTraffic,
    /// The entry is new in this interval (first seen, or created again).
    pub new_entry: bool,
    /// Kernel time (`CLOCK_MONOTONIC` ns) of the entry's first and last packet.
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    /// Source MAC of the host's last frame (all zero if it has sent nothing).
    pub mac: [u8; 6],
    /// VLAN id of the host's last frame (0: untagged).
    pub vlan: u16,
    /// Interface index the host's last frame arrived on.
    pub ifindex: u32,
    /// Distinct peers (remote or protected) since the entry was created.
    pub peers: DistinctCount,
    /// Distinct TCP/UDP destination ports sent to since the entry was created.
    pub dst_ports: DistinctCount,
}

/// The site's visibility counters over one interval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SiteSample {
    /// Since the maps were created (they outlive agent restarts).
    pub totals: SiteCounters,
    /// During the interval.
    pub delta: SiteCounters,
}

/// One event the kernel sent, decoded.
///
/// Addresses and ports are as on the wire: for the answers to a protected
/// host (`tcp_answered`, `tcp_refused`, `dns_answer`) `src` is the peer and
/// `dst` the protected host. An `icmp_unreachable` carries the packet its
/// ICMP message quotes, turned round the same way: `src` is the peer the
/// protected host tried, `src_port` the port it tried, `protocol` the
/// quoted packet's (6 or 17; 0 ports when they could not be read); the
/// ICMP message's own sender (often a router) is not carried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    /// Kernel time (`CLOCK_MONOTONIC` ns).
    pub timestamp_ns: u64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// IP protocol number.
    pub protocol: u8,
    pub ifindex: u32,
    /// Dotted question name of a DNS event, query or answer (`None` if
    /// absent or unreadable).
    pub qname: Option<String>,
    /// The name did not end where the kernel looked for it (a name over 254
    /// bytes, a packet cut inside it, a compression pointer): cut.
    pub qname_truncated: bool,
    /// DNS events: the question's type (1 A, 10 NULL, 16 TXT, 28 AAAA, ...);
    /// 0 when unknown or for other kinds.
    #[serde(default)]
    pub qtype: u16,
    /// DNS events: the message's true length in bytes (the UDP payload, or
    /// the 2-byte length prefix over TCP); 0 for other kinds.
    #[serde(default)]
    pub message_len: u16,
    /// `dns_answer` events: the response from its DNS header on, as copied:
    /// at most [`crate::datapath::DNS_MESSAGE_MAX`] bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Vec<u8>>,
    /// `answer` holds less than `message_len` bytes: the response was longer
    /// than the kernel copies, or the packet held only part of it.
    #[serde(default)]
    pub answer_truncated: bool,
    /// The packet that raised the event was dropped by a block.
    pub dropped: bool,
}

/// Everything seen between two ticks.
#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    /// Wall-clock start and end on the clock that drives the pipeline.
    pub start: SystemTime,
    pub end: SystemTime,
    /// Every protected host in the map at the end of the interval, by address.
    pub hosts: Vec<HostSample>,
    pub site: SiteSample,
    /// Events drained during the interval, oldest first.
    pub events: Vec<Event>,
    /// Capacity of the per-host map (entries).
    pub host_capacity: u32,
    /// The kernel's clock (`CLOCK_MONOTONIC` ns) at `end`, so that kernel
    /// timestamps in the samples convert to wall-clock time without a clock.
    pub end_monotonic_ns: u64,
}

impl Interval {
    /// A kernel timestamp as wall-clock time (`None` for 0, "never").
    pub fn wall_of(&self, monotonic_ns: u64) -> Option<SystemTime> {
        if monotonic_ns == 0 {
            return None;
        }
        if monotonic_ns <= self.end_monotonic_ns {
            self.end
                .checked_sub(Duration::from_nanos(self.end_monotonic_ns - monotonic_ns))
        } else {
            self.end
                .checked_add(Duration::from_nanos(monotonic_ns - self.end_monotonic_ns))
        }
    }

    /// A kernel timestamp as Unix seconds (0.0 for "never").
    pub fn unix_of(&self, monotonic_ns: u64) -> f64 {
        self.wall_of(monotonic_ns)
            .map_or(0.0, crate::time::unix_seconds)
    }
}

/// Turns wire-format labels (`\x07example\x03com`) into `example.com`.
/// Characters outside printable ASCII are escaped as `\DDD`. Returns `None`
/// for an empty name; a label running past the data keeps what is there.
pub fn decode_qname(wire: &[u8]) -> Option<String> {
    let mut name = String::new();
    let mut at = 0;
    while at < wire.len() {
        let len = usize::from(wire[at]);
        if len == 0 || len > 63 {
            // Compression pointers and bad lengths do not occur in questions we decode.
            break;
        }
        at += 1;
        if !name.is_empty() {
            name.push('.');
        }
        let end = (at + len).min(wire.len());
        for &byte in &wire[at..end] {
            if byte.is_ascii_graphic() && byte != b'.' && byte != b'\\' {
                name.push(char::from(byte));
            } else {
                name.push_str(&format!("\\{byte:03}"));
            }
        }
        at = end;
    }
    if name.is_empty() {
        None
    } else {
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qname_escapes_odd_bytes_and_survives_cut_labels() {
        assert_eq!(
            decode_qname(b"\x03www\x07example\x03com").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(
            decode_qname(b"\x03a.b\x01\x00").as_deref(),
            Some("a\\046b.\\000")
        );
        assert_eq!(decode_qname(b"\x05abc").as_deref(), Some("abc"));
        assert_eq!(decode_qname(b""), None);
    }
}
