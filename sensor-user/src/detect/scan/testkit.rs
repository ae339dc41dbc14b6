//! Helpers for the scan, sweep and lateral-movement tests: a site, times
//! and observations.

use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::{
    detect::{Detect, Finding, Observation, Outcome, Seen, Site, Transport},
    net::Cidr,
};

/// `secs` seconds after a fixed start (2023-11-14).
pub fn t(secs: u64) -> SystemTime {
    t_ms(secs * 1000)
}

/// `ms` milliseconds after the same start.
pub fn t_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(ms)
}

pub fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// Protected 10.0.0.0/24 and 10.1.0.0/16; resolver 10.0.0.53, gateway 10.0.0.1.
pub fn site() -> Site {
    Site {
        protected: vec![
            Cidr {
                addr: v4(10, 0, 0, 0),
                prefix_len: 24,
            },
            Cidr {
                addr: v4(10, 1, 0, 0),
                prefix_len: 16,
            },
        ],
        resolvers: vec![v4(10, 0, 0, 53)],
        collector: vec![v4(198, 51, 100, 7)],
        gateway: vec![v4(10, 0, 0, 1)],
    }
}

pub fn attempt(
    at: SystemTime,
    host: IpAddr,
    peer: IpAddr,
    port: u16,
    transport: Transport,
) -> Observation {
    Observation {
        at,
        seen: Seen::Attempt {
            host,
            peer,
            port,
            transport,
            domain: None,
        },
    }
}

pub fn answer(
    at: SystemTime,
    host: IpAddr,
    peer: IpAddr,
    port: u16,
    outcome: Outcome,
) -> Observation {
    Observation {
        at,
        seen: Seen::Answer {
            host,
            peer,
            port,
            outcome,
        },
    }
}

/// Feeds `observations`, then ticks at `now`; returns the findings.
pub fn run(
    detector: &mut dyn Detect,
    observations: &[Observation],
    now: SystemTime,
) -> Vec<Finding> {
    let site = site();
    let mut out = Vec::new();
    for observation in observations {
        detector.observe(observation, &site, &mut out);
    }
    detector.tick(now, &site, &mut out);
    out
}
