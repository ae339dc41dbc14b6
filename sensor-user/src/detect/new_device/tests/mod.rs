//! Tests of the inventory and the new-device detector, with hand-computed
//! boundaries, scores and counts.

mod detect;
mod inventory;

use std::{
    net::IpAddr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// 2024-01-01T00:00:00Z, when the test inventories start.
fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_704_067_200)
}

/// `secs` seconds after [`t0`].
fn after(secs: u64) -> SystemTime {
    t0() + Duration::from_secs(secs)
}

const DAY: u64 = 86_400;

fn ip(text: &str) -> Result<IpAddr, Box<dyn std::error::Error>> {
    Ok(text.parse()?)
}
