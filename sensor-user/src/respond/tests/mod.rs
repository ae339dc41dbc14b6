//! Tests of the response policy, its schedule, its digest and `[response]`,
//! with hand-computed expectations.

mod config;
mod digest;
mod policy;
mod schedule;

use std::{
    net::{IpAddr, Ipv4Addr},
    time::SystemTime,
};

use jiff::{civil::date, tz::TimeZone};

use super::DecisionInput;
use crate::detect::Detector;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Central European Time with its DST rules (the EU's, as Europe/Paris has
/// them), without the time zone database: the tests do not depend on the
/// machine's tzdata.
fn paris() -> Result<TimeZone, jiff::Error> {
    TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3")
}

/// `y-m-d h:mi:s` UTC.
fn utc(y: i16, m: i8, d: i8, h: i8, mi: i8, s: i8) -> Result<SystemTime, jiff::Error> {
    Ok(SystemTime::from(
        date(y, m, d)
            .at(h, mi, s, 0)
            .to_zoned(TimeZone::UTC)?
            .timestamp(),
    ))
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn peer(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, last))
}

fn input(detector: Detector, host: IpAddr, peer: Option<IpAddr>, score: u8) -> DecisionInput {
    DecisionInput {
        detector,
        host,
        peer,
        domain: None,
        score,
        blast_radius: 0,
        already_blocked: false,
    }
}
