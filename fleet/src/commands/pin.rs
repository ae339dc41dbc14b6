//! `vantage-fleet pin`: prints the pin of the collector's key.

use std::path::Path;

use vantage_fleet::tls;

/// Prints the pin of the key in `dir`.
pub fn run(dir: &Path) -> anyhow::Result<()> {
    println!("{}", tls::pin(dir)?);
    Ok(())
}
