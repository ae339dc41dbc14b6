//! The `vantage` binary's operator-facing errors: a bad configuration file
//! is refused with its line and field, and bad block targets and TTLs are
//! refused before anything touches the kernel.

use std::process::Command;

use vantage_tests::agent::{vantage_bin, SensorDirs};

fn vantage(args: &[&str]) -> anyhow::Result<(bool, String)> {
    let out = Command::new(vantage_bin()?).args(args).output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn bad_config_file_names_line_and_field() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("vantage-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "[sensor]\ninterfaces = [\"eth0\"]\nlocal_nets = [\"10.0.0.0/8\", \"192.168.1.1/16\"]\n",
    )?;
    let (ok, stderr) = vantage(&["config-check", &file.display().to_string()])?;
    assert!(!ok);
    assert!(stderr.contains("bad.toml:3:"), "{stderr}");
    assert!(stderr.contains("sensor.local_nets"), "{stderr}");
    assert!(
        stderr.contains("192.168.0.0/16"),
        "names the network it meant: {stderr}"
    );

    std::fs::write(&file, "[events]\nrate_per_cpu = 0\n")?;
    let (ok, stderr) = vantage(&[
        "run",
        "--config",
        &file.display().to_string(),
        "--iface",
        "lo",
    ])?;
    assert!(!ok, "the agent refuses to start");
    assert!(
        stderr.contains("bad.toml:2:") && stderr.contains("events.rate_per_cpu"),
        "{stderr}"
    );

    let example = Command::new(vantage_bin()?)
        .arg("config-example")
        .output()?;
    std::fs::write(&file, &example.stdout)?;
    let (ok, stderr) = vantage(&["config-check", &file.display().to_string()])?;
    assert!(ok, "the shipped example is valid: {stderr}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn bad_block_targets_and_ttls_are_refused_with_the_reason() -> anyhow::Result<()> {
    let pins = format!("/nonexistent/vantage-cli-{}", std::process::id());
    for (target, ttl, expect) in [
        ("10.0.0.1/8", "1m", "host bits set"),
        (
            "tcp/10.0.0.5:*/[2001:db8::1]:443",
            "1m",
            "same address family",
        ),
        ("203.0.113.7", "10x", "unknown unit"),
        ("203.0.113.7", "30d", "longer than blocks.max_ttl"),
    ] {
        let (ok, stderr) = vantage(&["block", "add", target, "--ttl", ttl, "--pin-dir", &pins])?;
        assert!(!ok, "{target} {ttl}");
        assert!(stderr.contains(expect), "{target} {ttl}: {stderr}");
    }
    let (ok, stderr) = vantage(&["status", "--pin-dir", &pins])?;
    assert!(!ok);
    assert!(
        stderr.contains("start the agent with `vantage run` first"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn a_failed_start_names_the_interface_and_leaves_no_pins() -> anyhow::Result<()> {
    vantage_tests::harness::require_root();
    let dirs = SensorDirs::new("nf");
    let (ok, stderr) = vantage(&[
        "run",
        "--iface",
        "nosuch0",
        "--pin-dir",
        &dirs.pin_dir.display().to_string(),
        "--state-dir",
        &dirs.state_dir.display().to_string(),
    ])?;
    assert!(!ok);
    assert!(
        stderr.contains("no network interface named `nosuch0`"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("falling back"),
        "no fallback for a missing interface: {stderr}"
    );
    assert!(
        !dirs.pin_dir.exists(),
        "a failed first start leaves nothing pinned: {:?}",
        std::fs::read_dir(&dirs.pin_dir).map(|d| d.count())
    );
    Ok(())
}

#[test]
fn errors_name_each_cause_once() -> anyhow::Result<()> {
    let missing = format!("/nonexistent/vantage-{}.toml", std::process::id());
    let (ok, stderr) = vantage(&["config-check", &missing])?;
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        format!("vantage: reading {missing}: No such file or directory (os error 2)")
    );
    Ok(())
}

#[test]
fn a_closed_pipe_ends_a_command_quietly() -> anyhow::Result<()> {
    use std::process::Stdio;
    let mut child = Command::new(vantage_bin()?)
        .arg("config-example")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Close the reading end before the command writes.
    drop(child.stdout.take());
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    Ok(())
}

/// Maps pinned by a version with another layout (here a SITE map with an
/// 8-byte value, made with bpftool) stop both the agent and the operator
/// commands, naming the map and the way out; nothing is loaded or changed.
#[test]
fn maps_pinned_by_another_version_are_refused_with_the_way_out() -> anyhow::Result<()> {
    vantage_tests::harness::require_root();
    let dirs = SensorDirs::new("oldpins");
    let maps = dirs.pin_dir.join("maps");
    std::fs::create_dir_all(&maps)?;
    let site = maps.join("SITE");
    let made = Command::new("bpftool")
        .args(["map", "create"])
        .arg(&site)
        .args([
            "type",
            "percpu_array",
            "key",
            "4",
            "value",
            "8",
            "entries",
            "1",
            "name",
            "SITE",
        ])
        .output()?;
    assert!(
        made.status.success(),
        "bpftool map create: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let pin_dir = dirs.pin_dir.display().to_string();
    let state_dir = dirs.state_dir.display().to_string();
    for args in [
        vec!["status", "--pin-dir", &pin_dir, "--state-dir", &state_dir],
        vec![
            "run",
            "--iface",
            "lo",
            "--pin-dir",
            &pin_dir,
            "--state-dir",
            &state_dir,
        ],
    ] {
        let (ok, stderr) = vantage(&args)?;
        assert!(!ok, "vantage {} refuses: {stderr}", args[0]);
        assert!(
            stderr.contains("the map SITE pinned under")
                && stderr.contains("another version")
                && stderr.contains("value 8 bytes")
                && stderr.contains(&format!("vantage unload --pin-dir {pin_dir}")),
            "vantage {}: {stderr}",
            args[0]
        );
    }
    assert!(
        !maps.join("HOSTS").exists(),
        "nothing else was pinned next to the old map"
    );
    assert!(site.exists(), "the refused start left the old pin alone");
    Ok(())
}
