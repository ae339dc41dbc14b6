//! Support for the privileged integration tests, the benchmark and the lab:
//! frame building, the kernel test harness, network namespaces, tiny real
//! services, the lab site, and the `vantage` process wrapper.

pub mod agent;
pub mod attack;
pub mod bench;
pub mod expect;
pub mod fleet;
pub mod harness;
pub mod mirror;
pub mod netns;
pub mod packet;
pub mod placement;
pub mod services;
pub mod site;

use std::time::{Duration, Instant};

/// `within`, stretched by `$VANTAGE_TEST_TIME_SCALE` (a whole number, 1 when
/// unset): how long a test waits for something to happen (the agent to
/// start, a state refresh). The VMs of `cargo xtask vm test` set 10: under
/// QEMU's emulation the agent takes that much longer to load and verify the
/// program. Only waits are stretched, never what a test measures.
pub fn scaled(within: Duration) -> Duration {
    let scale = std::env::var("VANTAGE_TEST_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|s| *s >= 1)
        .unwrap_or(1);
    within * scale
}

/// Polls `check` every 200 ms until it returns true; fails naming `what`
/// if that takes longer than `within`.
pub fn wait_until(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let within = scaled(within);
    let deadline = Instant::now() + within;
    while !check()? {
        if Instant::now() > deadline {
            anyhow::bail!("{what} did not happen within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}
