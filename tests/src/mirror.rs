//! The tunnelled mirror of the tunnel tests: a switch that sends copies of
//! a client's traffic inside a tunnel to the sensor's port. The outer
//! endpoints are inside the protected networks on purpose, so a sensor that
//! counted them as hosts would show it.

use sensor_common::EncapKind;

use crate::{
    harness::Harness,
    packet::{Frame, GATEWAY_MAC, TCP_SYN},
};

/// The mirroring switch and the sensor's port (outer MACs).
pub const SPAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x5b, 0x01];
pub const SENSOR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x5b, 0x02];
/// The mirrored client (inner source MAC).
pub const INNER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x1e, 0x05];

/// Outer tunnel endpoints.
pub const OUTER_V4: (&str, &str) = ("10.9.0.1", "10.9.0.2");
pub const OUTER_V6: (&str, &str) = ("fd00:9::1", "fd00:9::2");
/// The mirrored conversation.
pub const INNER_V4: (&str, &str) = ("10.0.0.5", "203.0.113.7");
pub const INNER_V6: (&str, &str) = ("fd00::5", "2001:db8::1");

/// A sensor that opens the tunnels in `open`.
pub fn harness(open: &[EncapKind]) -> Harness {
    let mut h = crate::expect::harness();
    h.set_parsing(open, false)
        .unwrap_or_else(|e| panic!("setting the tunnels to open: {e:#}"));
    h
}

/// The outer packet, from the switch to the sensor, before its tunnel.
pub fn outer(v6: bool) -> Frame {
    let f = Frame::new(SPAN_MAC, SENSOR_MAC);
    if v6 {
        f.ipv6(OUTER_V6.0, OUTER_V6.1)
    } else {
        f.ipv4(OUTER_V4.0, OUTER_V4.1)
    }
}

/// The mirrored TCP SYN: an Ethernet frame from [`INNER_MAC`] (tagged with
/// `vlan` unless 0), or a raw IP packet when `ethernet` is false.
pub fn inner(v6: bool, ethernet: bool, vlan: u16) -> Frame {
    let mut f = Frame::new(INNER_MAC, GATEWAY_MAC);
    if vlan != 0 {
        f = f.vlan(vlan);
    }
    if !ethernet {
        f = f.raw_ip();
    }
    let f = if v6 {
        f.ipv6(INNER_V6.0, INNER_V6.1)
    } else {
        f.ipv4(INNER_V4.0, INNER_V4.1)
    };
    f.tcp(40000, 443, TCP_SYN)
}
