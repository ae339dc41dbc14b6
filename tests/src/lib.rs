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

/// Polls `check` every 200 ms until it returns true; fails naming `what`
/// if that takes longer than `within`.
pub fn wait_until(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while !check()? {
        if Instant::now() > deadline {
            anyhow::bail!("{what} did not happen within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}
