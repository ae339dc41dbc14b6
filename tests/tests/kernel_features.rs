//! This machine's kernel has every BPF feature the XDP program needs, by
//! the probes the agent makes before loading it, and `vantage kernel-check`
//! shows them with the kernel release.

use std::{process::Command, time::Duration};

use anyhow::Context as _;
use vantage::datapath::kernel_probe::{self, Feature, Outcome};
use vantage_tests::{agent::vantage_bin, harness::require_root};

/// Every feature probed, in the order probed: the exact list.
const EXPECTED: [&str; 16] = [
    "hash_maps",
    "array_maps",
    "per_cpu_arrays",
    "xdp_programs",
    "lpm_tries",
    "function_calls",
    "bounded_loops",
    "jiffies64",
    "ring_buffer",
    "ringbuf_reserve",
    "ringbuf_submit",
    "ktime_get_coarse_ns",
    "xdp_get_buff_len",
    "xdp_load_bytes",
    "xdp_frags",
    "xdp_links",
];

/// `uname -r`.
fn release() -> anyhow::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/osrelease")?
        .trim()
        .to_owned())
}

#[test]
fn every_probe_finds_its_feature_on_this_kernel() -> anyhow::Result<()> {
    require_root();
    let report = kernel_probe::probe();
    assert_eq!(report.release, release()?);
    let ids: Vec<&str> = report.probes.iter().map(|p| p.feature.id()).collect();
    assert_eq!(ids, EXPECTED);
    for probe in &report.probes {
        assert_eq!(probe.outcome, Outcome::Present, "{}", probe.feature.name());
    }
    assert_eq!(kernel_probe::verdict(&report), Ok(()));
    assert!(
        report.elapsed < Duration::from_millis(500),
        "probing is cheap: {:?}",
        report.elapsed
    );
    // The agent's own gate (once per process) lets the program load.
    assert_eq!(kernel_probe::require(), Ok(()));
    Ok(())
}

#[test]
fn kernel_check_prints_the_release_and_each_feature_present() -> anyhow::Result<()> {
    require_root();
    let release = release()?;

    let out = Command::new(vantage_bin()?).arg("kernel-check").output()?;
    let text = String::from_utf8(out.stdout)?;
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with(&format!("kernel {release}: 16 BPF features probed in ")),
        "{text}"
    );
    for feature in Feature::ALL {
        let line = text
            .lines()
            .find(|line| line.starts_with(feature.name()))
            .with_context(|| format!("no line for {}:\n{text}", feature.name()))?;
        let words: Vec<&str> = line[feature.name().len()..].split_whitespace().collect();
        let expected_head = if feature.required() {
            vec![feature.since().to_string(), "present".to_owned()]
        } else {
            vec![
                "(optional)".to_owned(),
                feature.since().to_string(),
                "present".to_owned(),
            ]
        };
        assert_eq!(words[..expected_head.len()], expected_head[..], "{line}");
    }
    assert!(
        text.lines().last().is_some_and(|l| l.starts_with("ok: ")),
        "{text}"
    );

    let out = Command::new(vantage_bin()?)
        .args(["kernel-check", "--json"])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(json["release"], release.as_str());
    assert_eq!(json["loads"], true);
    assert!(json["refusal"].is_null(), "{json}");
    let probes = json["probes"].as_array().context("no probes")?;
    let ids: Vec<&str> = probes
        .iter()
        .filter_map(|p| p["feature"].as_str())
        .collect();
    assert_eq!(ids, EXPECTED);
    for probe in probes {
        assert_eq!(probe["status"], "present", "{probe}");
    }
    Ok(())
}
