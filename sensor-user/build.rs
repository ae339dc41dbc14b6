//! Builds the XDP program (`sensor-ebpf`) for the BPF target and leaves the
//! object in `OUT_DIR/sensor`, where `datapath` embeds it.

use anyhow::{anyhow, Context as _};
use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    let out_dir = std::env::var_os("OUT_DIR").ok_or_else(|| anyhow!("OUT_DIR not set"))?;
    let object = std::path::Path::new(&out_dir).join("sensor");
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
    if std::env::var_os("AYA_BUILD_SKIP").is_some_and(|v| v == "1" || v == "true") {
        // Lets `cargo clippy`/`cargo doc` run without bpf-linker. The empty
        // object makes loading fail with a clear error at run time.
        if !object.exists() {
            std::fs::write(&object, b"").context("writing placeholder eBPF object")?;
        }
        println!("cargo:warning=AYA_BUILD_SKIP set: the vantage binary carries no XDP program");
        return Ok(());
    }
    let metadata_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or_else(|| anyhow!("sensor-user has no parent directory"))?
        .join("sensor-ebpf");
    let root_dir = metadata_dir
        .to_str()
        .ok_or_else(|| anyhow!("non-UTF-8 path {}", metadata_dir.display()))?;
    aya_build::build_ebpf(
        [Package {
            name: "sensor-ebpf",
            root_dir,
            ..Default::default()
        }],
        Toolchain::default(),
    )
    .context("building the XDP program (needs nightly with rust-src and bpf-linker; run `cargo xtask setup`)")
}
