//! `vantage-fleet init`: creates the collector's TLS key and certificate and
//! prints the pin sensors need.

use std::path::Path;

use anyhow::Context as _;
use vantage_fleet::tls;

/// Writes the identity into `dir` for the server name `name`.
pub fn run(dir: &Path, name: &str) -> anyhow::Result<()> {
    let pin = tls::init(dir, name)
        .with_context(|| format!("creating the collector identity in {}", dir.display()))?;
    println!("collector key and certificate written to {}", dir.display());
    println!("pin {pin}");
    Ok(())
}
