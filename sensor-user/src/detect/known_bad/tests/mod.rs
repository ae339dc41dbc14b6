//! Tests of the known-bad lists and detector, with hand-computed dates,
//! ages and scores.

mod detect;
mod files;
mod list;
mod resolved;

use std::{
    net::IpAddr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::{
    detect::{
        known_bad::{KnownBad, KnownBadSettings, ListSet},
        Detect, Finding, Observation, Seen, Site, Transport,
    },
    net::Cidr,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Midnight UTC, `days` after 1970-01-01.
fn day(days: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(days * 86_400)
}

/// 2024-01-01 is day 19723 (2000-01-01 is day 10957; 24 years with six
/// leap days later: 10957 + 24 * 365 + 6).
const JAN_1_2024: u64 = 19_723;

fn ip(text: &str) -> Result<IpAddr, Box<dyn std::error::Error>> {
    Ok(text.parse()?)
}

/// Resolver 192.0.2.53, gateway 192.0.2.1, collector 203.0.113.200,
/// protected 10.1.0.0/16.
fn site() -> Result<Site, Box<dyn std::error::Error>> {
    Ok(Site {
        protected: vec!["10.1.0.0/16".parse::<Cidr>()?],
        resolvers: vec![ip("192.0.2.53")?],
        collector: vec![ip("203.0.113.200")?],
        gateway: vec![ip("192.0.2.1")?],
    })
}

/// Listed 2024-01-01: 203.0.113.7 (line 2), evil.com (line 3),
/// 198.51.100.0/24 (line 4), 192.0.2.0/24 (line 5, covers the resolver).
const LIST: &str = "\
# test list
203.0.113.7 2024-01-01
evil.com 2024-01-01
198.51.100.0/24 2024-01-01
192.0.2.0/24 2024-01-01
";

fn detector(settings: KnownBadSettings) -> Result<KnownBad, Box<dyn std::error::Error>> {
    Ok(KnownBad::new(
        settings,
        ListSet::parse("intel.txt", LIST, day(0))?,
    ))
}

fn attempt(at: SystemTime, host: IpAddr, peer: IpAddr, port: u16) -> Observation {
    Observation {
        at,
        seen: Seen::Attempt {
            host,
            peer,
            port,
            transport: Transport::Tcp,
            domain: None,
        },
    }
}

fn query(
    at: SystemTime,
    host: IpAddr,
    name: &str,
    truncated: bool,
) -> Result<Observation, Box<dyn std::error::Error>> {
    Ok(Observation {
        at,
        seen: Seen::DnsQuery {
            host,
            resolver: ip("192.0.2.53")?,
            name: name.to_owned(),
            qtype: 1,
            truncated,
        },
    })
}

fn answer(
    at: SystemTime,
    host: IpAddr,
    name: &str,
    addrs: &[&str],
    ttl_secs: u32,
) -> Result<Observation, Box<dyn std::error::Error>> {
    Ok(Observation {
        at,
        seen: Seen::DnsAnswer {
            host,
            resolver: ip("192.0.2.53")?,
            name: name.to_owned(),
            addrs: addrs.iter().map(|a| ip(a)).collect::<Result<_, _>>()?,
            ttl_secs,
        },
    })
}

fn observe(detector: &mut KnownBad, observation: &Observation, site: &Site) -> Vec<Finding> {
    let mut out = Vec::new();
    detector.observe(observation, site, &mut out);
    out
}
