//! `vantage replay` on the public captures (`../shared/pcaps/`, read in
//! place): every frame through the real XDP program (BPF_PROG_TEST_RUN),
//! the capture's timestamps as the clock, the default detectors and rules
//! of engagement. The attacks raise their detector for the right host; the
//! benign captures raise nothing a person would be told about; broken and
//! odd files are read or refused with a clear message, and lose nothing.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{bail, ensure, Context as _};
use serde_json::Value;
use vantage::{
    config::Config,
    detect::Detector,
    net::Cidr,
    pipeline::detection::DetectionOutput,
    replay::{
        output::Summary,
        session::{replay_capture_file, Happening},
    },
    respond::ActionKind,
};
use vantage_tests::{agent::vantage_bin, harness::require_root};

type Result<T = ()> = anyhow::Result<T>;

/// Notify level of the default rules of engagement.
const NOTIFY_AT: u8 = 60;

fn pcaps_dir() -> Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the tests crate has no parent directory")?;
    let dir = root.join("..").join("shared").join("pcaps");
    ensure!(
        dir.is_dir(),
        "the public captures are missing: expected {} (../shared/pcaps beside the workspace)",
        dir.display()
    );
    Ok(dir)
}

/// The defaults, with `local_nets` protected and `resolvers` declared.
fn config(local_nets: &[&str], resolvers: &[&str]) -> Result<Config> {
    let mut config = Config::default();
    config.sensor.local_nets = local_nets
        .iter()
        .map(|s| s.parse::<Cidr>())
        .collect::<std::result::Result<_, _>>()?;
    config.site.resolvers = resolvers
        .iter()
        .map(|s| s.parse())
        .collect::<std::result::Result<_, _>>()?;
    Ok(config)
}

struct Replayed {
    outputs: Vec<DetectionOutput>,
    summary: Summary,
}

impl Replayed {
    /// Alerts (new or updated) of one detector.
    fn of(&self, detector: Detector) -> impl Iterator<Item = &DetectionOutput> {
        self.outputs
            .iter()
            .filter(move |o| o.raised.finding.detector == detector)
    }

    /// Everything at notify level or above, as text for failure messages.
    fn notified(&self) -> Vec<String> {
        self.outputs
            .iter()
            .filter(|o| o.raised.finding.score >= NOTIFY_AT)
            .map(|o| {
                format!(
                    "{} {} -> {:?} {:?} score {}",
                    o.raised.finding.detector.name(),
                    o.raised.finding.host,
                    o.raised.finding.peer,
                    o.raised.finding.domain,
                    o.raised.finding.score
                )
            })
            .collect()
    }
}

fn replay(file: &str, config: &Config) -> Result<Replayed> {
    require_root();
    let path = pcaps_dir()?.join(file);
    let mut outputs = Vec::new();
    let summary = replay_capture_file(
        &path,
        config,
        None,
        Duration::from_secs(1),
        &mut |happening| {
            if let Happening::Detection(output) = happening {
                outputs.push(output);
            }
            Ok(())
        },
    )
    .with_context(|| format!("replaying {file}"))?;
    Ok(Replayed { outputs, summary })
}

/// Frames in a capture, as tshark counts them.
fn tshark_frames(file: &str) -> Result<u64> {
    let path = pcaps_dir()?.join(file);
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(&path)
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .context("running tshark (apt install tshark)")?;
    Ok(String::from_utf8_lossy(&out.stdout).lines().count() as u64)
}

#[test]
fn the_nmap_scan_raises_a_port_scan_by_the_scanner_early() -> Result {
    let replayed = replay("synscan.pcap", &config(&["172.16.0.0/12"], &[])?)?;
    let first_at = replayed.summary.stats.first_at;
    let scans: Vec<&DetectionOutput> = replayed.of(Detector::PortScan).collect();
    ensure!(
        !scans.is_empty(),
        "no port scan alert: {:?}",
        replayed.notified()
    );
    for scan in &scans {
        let f = &scan.raised.finding;
        assert_eq!(f.host.to_string(), "172.16.0.8");
        assert_eq!(
            f.peer.map(|p| p.to_string()).as_deref(),
            Some("64.13.134.52")
        );
    }
    let notified = scans
        .iter()
        .find(|o| o.raised.finding.score >= 70)
        .context("the scan never reached 70")?;
    let at = vantage::time::unix_seconds(notified.raised.finding.at);
    ensure!(
        at - first_at <= 5.0,
        "the scan reached 70 only {:.1} s into the capture",
        at - first_at
    );
    assert_eq!(notified.decision.action.kind(), ActionKind::Notify);
    // One alert, raised again as the evidence grew: a single id.
    let ids: std::collections::BTreeSet<u32> = scans.iter().map(|o| o.raised.id).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    // Only the scan: nothing else at notify level.
    assert!(
        replayed
            .outputs
            .iter()
            .filter(|o| o.raised.finding.score >= NOTIFY_AT)
            .all(|o| o.raised.finding.detector == Detector::PortScan),
        "{:?}",
        replayed.notified()
    );
    assert_eq!(
        replayed.summary.stats.frames,
        tshark_frames("synscan.pcap")?
    );
    assert_eq!(replayed.summary.stats.passed, replayed.summary.stats.frames);
    Ok(())
}

#[test]
fn the_iodine_tunnel_raises_a_dns_tunnel_by_the_client_not_the_resolver() -> Result {
    let replayed = replay(
        "dns-tunnel-iodine.pcap",
        &config(&["10.0.0.0/8"], &["10.0.2.20"])?,
    )?;
    let tunnels: Vec<&DetectionOutput> = replayed.of(Detector::DnsTunnel).collect();
    ensure!(
        !tunnels.is_empty(),
        "no tunnel alert: {:?}",
        replayed.notified()
    );
    for tunnel in &tunnels {
        assert_eq!(tunnel.raised.finding.host.to_string(), "10.0.2.30");
        assert_eq!(tunnel.raised.finding.domain.as_deref(), Some("pirate.sea"));
    }
    assert!(tunnels.iter().any(|o| o.raised.finding.score >= 70));
    // Nothing about the resolver itself.
    assert!(
        replayed
            .outputs
            .iter()
            .all(|o| o.raised.finding.host.to_string() != "10.0.2.20"),
        "{:?}",
        replayed.notified()
    );
    Ok(())
}

#[test]
fn the_jittered_beacon_raises_a_beacon_and_nothing_for_the_resolver() -> Result {
    let replayed = replay(
        "test-cc-capture-2.pcap",
        &config(&["147.32.80.0/24"], &["147.32.80.9"])?,
    )?;
    let beacons: Vec<&DetectionOutput> = replayed.of(Detector::Beacon).collect();
    ensure!(
        !beacons.is_empty(),
        "no beacon alert: {:?}",
        replayed.notified()
    );
    for beacon in &beacons {
        let f = &beacon.raised.finding;
        assert_eq!(f.host.to_string(), "147.32.80.37");
        let towards_peer = f.peer.map(|p| p.to_string()).as_deref() == Some("141.193.213.20");
        ensure!(
            towards_peer || f.domain.is_some(),
            "a beacon alert neither to the peer nor to its domain: {f:?}"
        );
    }
    ensure!(
        beacons.iter().any(|o| o.raised.finding.score >= 70),
        "the beacon never reached 70: {:?}",
        replayed.notified()
    );
    assert!(replayed
        .outputs
        .iter()
        .all(|o| o.raised.finding.host.to_string() != "147.32.80.9"
            && o.raised.finding.peer.map(|p| p.to_string()).as_deref() != Some("147.32.80.9")));
    Ok(())
}

#[test]
fn benign_captures_raise_nothing_at_notify_level() -> Result {
    for (file, nets, resolvers) in [
        ("teams.pcap", &["192.168.0.0/16"][..], &[][..]),
        ("windowsupdate_over_http.pcap", &["10.0.0.0/8"][..], &[][..]),
        ("doh.pcapng", &["192.168.0.0/16"][..], &[][..]),
        (
            "20171220_smb_psexec_add_user.pcap",
            &["192.168.10.0/24"][..],
            &["192.168.10.10"][..],
        ),
    ] {
        let replayed = replay(file, &config(nets, resolvers)?)?;
        let notified = replayed.notified();
        ensure!(notified.is_empty(), "{file}: {notified:?}");
        assert_eq!(
            replayed.summary.stats.frames,
            tshark_frames(file)?,
            "{file}"
        );
        assert_eq!(
            replayed.summary.stats.passed, replayed.summary.stats.frames,
            "{file}"
        );
    }
    Ok(())
}

#[test]
fn spliced_timestamps_and_cut_packets_lose_nothing() -> Result {
    // netbios.pcap is pcapng under a .pcap name, its clock spliced over years.
    let replayed = replay("netbios.pcap", &config(&["10.0.0.0/8"], &[])?)?;
    assert_eq!(
        replayed.summary.stats.frames,
        tshark_frames("netbios.pcap")?
    );
    assert_eq!(replayed.summary.stats.passed, replayed.summary.stats.frames);
    ensure!(
        replayed.notified().is_empty(),
        "netbios: {:?}",
        replayed.notified()
    );
    // One DNS packet cut short: counted as malformed DNS, passed.
    let cut = replay("truncated_dns.pcap", &config(&["0.0.0.0/0"], &[])?)?;
    assert_eq!(cut.summary.stats.frames, 1);
    assert_eq!(cut.summary.stats.passed, 1);
    assert_eq!(cut.summary.stats.stopped_by, None);
    // The second file holds one snapped frame, then a few stray bytes: the
    // frame is replayed (and counted as snapped), the torn tail reported.
    let torn = replay("truncated_dns_2.pcap", &config(&["0.0.0.0/0"], &[])?)?;
    assert_eq!(
        torn.summary.stats.frames,
        tshark_frames("truncated_dns_2.pcap")?
    );
    assert_eq!(torn.summary.stats.frames, 1);
    assert_eq!(torn.summary.stats.snapped, 1);
    assert_eq!(torn.summary.stats.passed, 1);
    let why = torn.summary.stats.stopped_by.unwrap_or_default();
    ensure!(
        why.contains("frame 2") && why.contains("cut short"),
        "{why}"
    );
    Ok(())
}

#[test]
fn the_pcapng_suite_is_read_frame_for_frame() -> Result {
    let dir = pcaps_dir()?.join("pcapng-suite");
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    ensure!(names.len() >= 12, "pcapng suite incomplete: {names:?}");
    for name in names {
        let file = format!("pcapng-suite/{name}");
        let replayed = replay(&file, &config(&["10.0.0.0/8"], &[])?)?;
        let stats = &replayed.summary.stats;
        let expected = tshark_frames(&file)?;
        assert_eq!(
            stats.frames + stats.skipped_other_link,
            expected,
            "{name}: replayed {} + skipped {} (links {:?}), tshark {expected}; stopped by {:?}",
            stats.frames,
            stats.skipped_other_link,
            stats.other_links,
            stats.stopped_by
        );
        assert_eq!(stats.stopped_by, None, "{name}");
    }
    Ok(())
}

/// `vantage replay --json`: one object per line, alerts and decisions, the
/// summary last; a file that is not a capture is refused naming it.
#[test]
fn the_cli_prints_json_lines_and_refuses_a_non_capture() -> Result {
    require_root();
    let bin = vantage_bin()?;
    let capture = pcaps_dir()?.join("synscan.pcap");
    let out = Command::new(&bin)
        .arg("replay")
        .arg(&capture)
        .args(["--local-net", "172.16.0.0/12", "--json"])
        .output()?;
    ensure!(
        out.status.success(),
        "vantage replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()?;
    let types: Vec<&str> = lines.iter().filter_map(|l| l["type"].as_str()).collect();
    assert_eq!(types.last(), Some(&"summary"), "{types:?}");
    let alert = lines
        .iter()
        .find(|l| l["type"] == "alert")
        .context("no alert line")?;
    assert_eq!(alert["detector"], "port_scan");
    assert_eq!(alert["host"], "172.16.0.8");
    assert_eq!(alert["peer"], "64.13.134.52");
    ensure!(alert["explanation"]["facts"].is_object(), "{alert}");
    let decision = lines
        .iter()
        .find(|l| l["type"] == "decision" && l["action"] == "notify")
        .context("no notify decision")?;
    assert_eq!(decision["host"], "172.16.0.8");
    let summary = lines.last().context("no lines")?;
    assert_eq!(summary["frames"], 2011);
    assert_eq!(summary["alerts"]["port_scan"], 1);

    let text =
        std::env::temp_dir().join(format!("vantage-not-a-capture-{}.pcap", std::process::id()));
    std::fs::write(&text, "not a capture\n")?;
    let out = Command::new(&bin).arg("replay").arg(&text).output()?;
    std::fs::remove_file(&text)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || !stderr.contains("not a pcap or pcapng file") {
        bail!("a text file was not refused clearly: {stderr}");
    }
    Ok(())
}
