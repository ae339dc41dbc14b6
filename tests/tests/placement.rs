//! The placement check against real placements: each topology is built in
//! network namespaces with real traffic, the agent runs on it, and
//! `vantage placement` must give exactly the verdict and reason codes the
//! placement deserves. Then what happens to a running sensor whose program
//! is detached from outside, and how fast the collector hears of it.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use serde_json::Value;
use vantage_tests::{
    agent::{vantage_bin, Agent, SensorDirs},
    fleet::{Collector, FleetDir, SensorUplink},
    harness::require_root,
    placement::{Placement, Topology, Traffic},
    site::COLLECTOR,
    wait_until,
};

type Result = anyhow::Result<()>;

/// Seconds `vantage placement` watches in these tests.
const WATCH_SECS: &str = "12";

/// A placement with its sensor running and its clients busy.
struct Running {
    traffic: Option<Traffic>,
    agent: Agent,
    dirs: SensorDirs,
    config: PathBuf,
    topology: Topology,
}

impl Running {
    /// Builds `placement` with two clients, writes `config` (the
    /// placement's own when `None`) as the sensor's configuration, starts
    /// the agent and the clients' traffic.
    fn start(placement: Placement, tag: &str, config: Option<&str>) -> anyhow::Result<Running> {
        Running::start_with(placement, tag, config, 2)
    }

    /// Like [`Running::start`], with `clients` clients.
    fn start_with(
        placement: Placement,
        tag: &str,
        config: Option<&str>,
        clients: usize,
    ) -> anyhow::Result<Running> {
        require_root();
        let topology = Topology::build(placement, tag, clients)?;
        let dirs = SensorDirs::new(tag);
        std::fs::create_dir_all(&dirs.state_dir)?;
        let text = config.map_or_else(|| topology.config(), str::to_owned);
        let config = dirs.state_dir.join("vantage.toml");
        std::fs::write(&config, text)?;
        let agent = topology.start_agent(&dirs, &config)?;
        let traffic = Some(topology.traffic());
        Ok(Running {
            traffic,
            agent,
            dirs,
            config,
            topology,
        })
    }

    /// `vantage placement --json`, run where the sensor runs: its exit code
    /// and report.
    fn check(&self) -> anyhow::Result<(i32, Value)> {
        let out = self
            .topology
            .sensor_ns()
            .net_command(&vantage_bin()?)
            .args(["placement", "--duration", WATCH_SECS, "--json", "--config"])
            .arg(&self.config)
            .arg("--pin-dir")
            .arg(&self.dirs.pin_dir)
            .arg("--state-dir")
            .arg(&self.dirs.state_dir)
            .output()
            .context("running vantage placement")?;
        let code = out.status.code().unwrap_or(-1);
        let report: Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "vantage placement exited {code} without a report: {}\nagent log: {}",
                String::from_utf8_lossy(&out.stderr),
                self.agent.log_text()
            )
        })?;
        Ok((code, report))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // The clients stop before the namespaces they run in go away.
        self.traffic.take();
    }
}

fn codes(report: &Value) -> Vec<&str> {
    report["findings"]
        .as_array()
        .map(|all| all.iter().filter_map(|f| f["code"].as_str()).collect())
        .unwrap_or_default()
}

fn finding<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .and_then(|all| all.iter().find(|f| f["code"] == code))
        .unwrap_or(&Value::Null)
}

/// Checks `placement` and asserts its verdict, its reason codes (in code
/// order) and the exit code that goes with them.
fn assert_placement(run: &Running, verdict: &str, expected: &[&str]) -> anyhow::Result<Value> {
    let (code, report) = run.check()?;
    assert_eq!(report["schema"], "vantage.placement/1", "{report:#}");
    assert_eq!(
        (report["verdict"].as_str(), codes(&report)),
        (Some(verdict), expected.to_vec()),
        "{report:#}\nagent log: {}",
        run.agent.log_text()
    );
    assert_eq!(code, i32::from(verdict != "ok"), "{report:#}");
    Ok(report)
}

#[test]
fn a_good_placement_is_ok_with_no_finding() -> Result {
    let run = Running::start(Placement::Good, "pg", None)?;
    let report = assert_placement(&run, "ok", &[])?;
    // Both clients seen sending; the gateway and the subnet broadcast
    // address (every client sends to it) are not hosts.
    assert_eq!(report["hosts_seen"], 2, "{report:#}");
    let status = run.dirs.status()?;
    let hosts: Vec<&str> = status["hosts"]
        .as_array()
        .map(|all| all.iter().filter_map(|h| h["addr"].as_str()).collect())
        .unwrap_or_default();
    assert!(!hosts.contains(&"10.77.1.255"), "{hosts:?}");
    assert!(run.topology.lookups_answered() > 0);
    Ok(())
}

#[test]
fn outside_the_firewall_sees_no_protected_host() -> Result {
    let run = Running::start(Placement::OutsideFirewall, "po", None)?;
    let report = assert_placement(
        &run,
        "blind",
        &[
            "outside_firewall",
            "fewer_hosts_than_expected",
            "cannot_block",
        ],
    )?;
    // Not one packet of a protected host; the census is empty.
    assert_eq!(finding(&report, "outside_firewall")["a"], 0, "{report:#}");
    assert_eq!(
        (
            &finding(&report, "fewer_hosts_than_expected")["a"],
            &finding(&report, "fewer_hosts_than_expected")["b"]
        ),
        (&Value::from(0), &Value::from(2)),
        "{report:#}"
    );
    assert_eq!(report["hosts_seen"], 0, "{report:#}");
    Ok(())
}

#[test]
fn an_unmirrored_switch_port_sees_only_broadcasts() -> Result {
    let run = Running::start(Placement::UnmirroredPort, "pu", None)?;
    let report = assert_placement(&run, "blind", &["only_broadcast", "cannot_block"])?;
    let only = finding(&report, "only_broadcast");
    assert!(
        only["a"].as_u64() >= Some(20)
            && only["a"].as_u64() >= only["b"].as_u64().map(|b| b * 9 / 10),
        "{report:#}"
    );
    // The clients that broadcast are present; their broadcast address is not.
    assert_eq!(report["hosts_seen"], 2, "{report:#}");
    Ok(())
}

#[test]
fn a_one_way_mirror_is_one_sided() -> Result {
    let run = Running::start(Placement::OneWayMirror, "p1", None)?;
    let report = assert_placement(&run, "degraded", &["one_sided", "cannot_block"])?;
    let one_sided = finding(&report, "one_sided");
    assert!(one_sided["a"].as_u64() > Some(0), "{report:#}");
    assert_eq!(one_sided["b"], 0, "{report:#}");
    Ok(())
}

#[test]
fn a_mirror_of_two_ports_delivers_every_frame_twice() -> Result {
    let run = Running::start(Placement::DuplicateMirror, "pd", None)?;
    let report = assert_placement(&run, "degraded", &["duplicate_packets", "cannot_block"])?;
    let dup = finding(&report, "duplicate_packets");
    assert!(
        dup["a"]
            .as_u64()
            .zip(dup["b"].as_u64())
            .is_some_and(|(a, b)| a * 4 >= b),
        "a fair share of the frames are second copies: {report:#}"
    );
    Ok(())
}

#[test]
fn clients_that_never_look_up_a_name_give_no_dns() -> Result {
    let run = Running::start(Placement::NoDns, "pn", None)?;
    assert_placement(&run, "degraded", &["no_dns"])?;
    assert_eq!(run.topology.lookups_answered(), 0);
    Ok(())
}

#[test]
fn clients_resolving_over_https_elsewhere_are_a_dns_bypass() -> Result {
    let run = Running::start(Placement::DohOnly, "ph", None)?;
    let report = assert_placement(&run, "degraded", &["no_dns", "dns_bypass"])?;
    assert!(
        finding(&report, "dns_bypass")["a"].as_u64() >= Some(3),
        "{report:#}"
    );
    Ok(())
}

#[test]
fn fewer_hosts_than_declared_and_a_missing_vlan() -> Result {
    let config = "[site]\nmode = \"inline\"\nexpected_hosts = \"10-12\"\nresolvers = [\"203.0.113.53\"]\nvlans = [30]\n";
    let run = Running::start(Placement::Good, "pf", Some(config))?;
    let report = assert_placement(
        &run,
        "degraded",
        &["fewer_hosts_than_expected", "missing_vlan"],
    )?;
    let fewer = finding(&report, "fewer_hosts_than_expected");
    assert_eq!(
        (&fewer["a"], &fewer["b"]),
        (&Value::from(2), &Value::from(10))
    );
    let vlan = finding(&report, "missing_vlan");
    assert_eq!((&vlan["a"], &vlan["b"]), (&Value::from(0), &Value::from(1)));
    Ok(())
}

#[test]
fn a_remote_mirror_is_encapsulated_until_its_tunnel_is_opened() -> Result {
    // The installer forgot `sensor.decapsulate`: the sensor sees only the
    // two tunnel endpoints, neither of them protected.
    let site = "[site]\nmode = \"mirror\"\nexpected_hosts = 2\nresolvers = [\"203.0.113.53\"]\n";
    let run = Running::start(Placement::RemoteMirror, "pv", Some(site))?;
    let report = assert_placement(
        &run,
        "degraded",
        &["fewer_hosts_than_expected", "encapsulated", "cannot_block"],
    )?;
    let tunnelled = finding(&report, "encapsulated");
    assert!(tunnelled["a"].as_u64() >= Some(20), "{report:#}");
    assert_eq!(report["hosts_seen"], 0, "{report:#}");
    drop(run);
    // With the tunnel opened, the same mirror is a good one.
    let run = Running::start(Placement::RemoteMirror, "pw", None)?;
    let report = assert_placement(&run, "ok", &["cannot_block"])?;
    assert_eq!(report["hosts_seen"], 2, "{report:#}");
    Ok(())
}

#[test]
fn a_mirror_session_that_stops_gives_no_traffic() -> Result {
    let run = Running::start(Placement::OneWayMirror, "ps", None)?;
    std::thread::sleep(Duration::from_secs(2));
    // The switch's SPAN session is removed (a config reload, a reboot).
    for i in 0..2 {
        let port = run.topology.client_port(i);
        let out = run
            .topology
            .site
            .switch
            .command("tc")
            .args(["qdisc", "del", "dev", &port, "clsact"])
            .output()?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    let report = assert_placement(&run, "blind", &["no_traffic", "cannot_block"])?;
    assert_eq!(report["packets"], 0, "{report:#}");
    // The clients sent within the census horizon (1 h): still present.
    assert_eq!(report["hosts_seen"], 2, "{report:#}");
    Ok(())
}

#[test]
fn events_beyond_the_rate_limit_are_events_lost() -> Result {
    let config = "[events]\nrate_per_cpu = 1\nburst = 1\n[site]\nmode = \"inline\"\nexpected_hosts = 3\nresolvers = [\"203.0.113.53\"]\n";
    let run = Running::start_with(Placement::Good, "pe", Some(config), 3)?;
    let report = assert_placement(&run, "degraded", &["events_lost"])?;
    let lost = finding(&report, "events_lost");
    assert!(
        lost["a"].as_u64() >= Some(100) && lost["a"].as_u64() > lost["b"].as_u64(),
        "{report:#}"
    );
    Ok(())
}

#[test]
fn generic_xdp_is_a_caveat_on_a_good_placement() -> Result {
    let config = "[sensor]\nattach_mode = \"generic\"\n[site]\nmode = \"inline\"\nexpected_hosts = 2\nresolvers = [\"203.0.113.53\"]\n";
    let run = Running::start(Placement::Good, "px", Some(config))?;
    let report = assert_placement(&run, "ok", &["generic_xdp"])?;
    let generic = finding(&report, "generic_xdp");
    assert_eq!(
        (&generic["a"], &generic["b"]),
        (&Value::from(2), &Value::from(2))
    );
    Ok(())
}

/// Starts a good mirror-port sensor with an address in a protected network
/// (on the mirrored switch, or beside it), waits for its first self-test (a
/// minute after the start) and checks what `vantage status` says of it.
fn self_test(tag: &str, on_switch: bool) -> anyhow::Result<Running> {
    let run = Running::start(Placement::Mirror, tag, None)?;
    run.topology.sensor_lan_leg(tag, on_switch)?;
    wait_until("the first self-test", Duration::from_secs(80), || {
        Ok(run.dirs.status()?["agent"]["self_test"].is_object())
    })
    .with_context(|| run.agent.log_text())?;
    let status = run.dirs.status()?;
    let test = &status["agent"]["self_test"];
    let (seen, from) = if on_switch {
        (4, "10.77.1.50")
    } else {
        (0, "10.77.2.50")
    };
    assert_eq!(
        (&test["made"], &test["seen"], &test["from"], &test["to"]),
        (
            &Value::from(4),
            &Value::from(seen),
            &Value::from(from),
            &Value::from("203.0.113.53")
        ),
        "{status:#}"
    );
    let text = run.dirs.vantage_ok(&["status"])?;
    assert!(
        text.contains(&format!(
            "{seen} of 4 of its own packets seen (query, answer, SYN, SYN-ACK), from {from} to 203.0.113.53"
        )),
        "{text}"
    );
    Ok(run)
}

#[test]
fn the_self_test_fails_when_the_sensors_own_traffic_bypasses_the_mirror() -> Result {
    let run = self_test("pt", false)?;
    wait_until("self_test_failed in status", Duration::from_secs(3), || {
        Ok(codes(&run.dirs.status()?["agent"]["sight"]).contains(&"self_test_failed"))
    })?;
    let status = run.dirs.status()?;
    let failed = finding(&status["agent"]["sight"], "self_test_failed");
    assert_eq!(
        (&failed["a"], &failed["b"]),
        (&Value::from(0), &Value::from(4)),
        "{status:#}"
    );
    // The placement check reports what only the agent can know.
    let report = assert_placement(&run, "degraded", &["cannot_block", "self_test_failed"])?;
    assert_eq!(finding(&report, "self_test_failed")["b"], 4, "{report:#}");
    Ok(())
}

#[test]
fn the_self_test_passes_when_the_sensors_own_traffic_crosses_the_mirror() -> Result {
    let run = self_test("pq", true)?;
    assert_placement(&run, "ok", &["cannot_block"])?;
    Ok(())
}

/// Detaches the agent's XDP link on `iface` as `bpftool link detach` does:
/// BPF_LINK_DETACH on the link pinned in `pin_dir`, while the agent still
/// holds it.
fn detach_link(pin_dir: &Path, iface: &str) -> Result {
    use std::os::unix::ffi::OsStrExt as _;
    const BPF_OBJ_GET: libc::c_long = 7;
    const BPF_LINK_DETACH: libc::c_long = 34;
    let path = vantage::datapath::PinLayout::new(pin_dir).link(iface);
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // union bpf_attr, zeroed: OBJ_GET reads `pathname` (u64) at offset 0;
    // LINK_DETACH reads `link_fd` (u32) at offset 0.
    let mut attr = [0u64; 16];
    attr[0] = c_path.as_ptr() as u64;
    // SAFETY: `attr` outlives the call and is as large as the kernel reads.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_OBJ_GET, attr.as_mut_ptr(), 128u32) };
    if fd < 0 {
        bail!(
            "BPF_OBJ_GET {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    let mut attr = [0u64; 16];
    attr[0] = fd as u64;
    // SAFETY: as above.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, BPF_LINK_DETACH, attr.as_mut_ptr(), 128u32) };
    let error = std::io::Error::last_os_error();
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd as libc::c_int) };
    if rc != 0 {
        bail!("BPF_LINK_DETACH {}: {error}", path.display());
    }
    Ok(())
}

#[test]
fn a_program_detached_from_outside_is_reported_and_reaches_the_collector() -> Result {
    require_root();
    let topology_tag = "pp";
    // The collector lives on the lab's internet; heartbeats every 5 s.
    let fleet = FleetDir::init(topology_tag)?;
    let run = {
        let topology = Topology::build(Placement::Good, topology_tag, 2)?;
        let collector = Collector::start(
            &fleet,
            Some(&topology.site.internet),
            &format!("{COLLECTOR}:7443"),
        )?;
        let dirs = SensorDirs::new(topology_tag);
        let uplink = SensorUplink::create(
            &dirs.state_dir.join("uplink"),
            &fleet,
            collector.addr,
            "acme-dental",
            &format!("heartbeat_interval = \"5s\"\n{}", topology.config()),
        )?;
        let agent = topology.start_agent(&dirs, &uplink.config)?;
        let traffic = Some(topology.traffic());
        (
            Running {
                traffic,
                agent,
                dirs,
                config: uplink.config.clone(),
                topology,
            },
            collector,
        )
    };
    let (run, _collector) = run;
    let lan = run.topology.site.gateway_lan.clone();
    // The first verdict change (unknown to something) is already an alert;
    // count visibility alerts from here on.
    std::thread::sleep(Duration::from_secs(4));
    let before = visibility_alerts(&fleet)?.len();

    detach_link(&run.dirs.pin_dir, &lan)?;
    let detached_at = Instant::now();
    // Within two status intervals (1 s each) the sensor says so.
    wait_until("program_detached in status", Duration::from_secs(2), || {
        let status = run.dirs.status()?;
        Ok(codes(&status["agent"]["sight"]).contains(&"program_detached"))
    })
    .with_context(|| format!("{:#}", run.dirs.status().unwrap_or_default()))?;
    let status = run.dirs.status()?;
    let detached = finding(&status["agent"]["sight"], "program_detached");
    assert_eq!(
        (&detached["a"], &detached["b"]),
        (&Value::from(1), &Value::from(2)),
        "{status:#}"
    );
    assert_eq!(status["agent"]["sight"]["verdict"], "blind", "{status:#}");

    // Within two heartbeat intervals (10 s) of the detach, the collector
    // has the signed alert of the change.
    let two_heartbeats = Duration::from_secs(10);
    wait_until(
        "the verdict alert at the collector",
        two_heartbeats.saturating_sub(detached_at.elapsed()),
        || Ok(visibility_alerts(&fleet)?.len() > before),
    )
    .with_context(|| format!("alerts: {:#?}", visibility_alerts(&fleet)))?;
    let alerts = visibility_alerts(&fleet)?;
    let last = alerts.last().context("no alert")?;
    assert!(
        last["detail"]
            .as_str()
            .is_some_and(|d| d.ends_with("-> blind: program_detached")),
        "{last}"
    );
    assert_eq!(last["severity"], "high", "{last}");
    // And the fleet view shows the finding.
    let sensors = fleet.sensors()?;
    let me = &sensors["sensors"][0];
    wait_until("the heartbeat with the finding", two_heartbeats, || {
        let sensors = fleet.sensors()?;
        Ok(codes(&sensors["sensors"][0]).contains(&"program_detached"))
    })
    .with_context(|| format!("{me:#}"))?;
    Ok(())
}

fn visibility_alerts(fleet: &FleetDir) -> anyhow::Result<Vec<Value>> {
    Ok(fleet
        .alerts()?
        .into_iter()
        .filter(|a| a["kind"] == "visibility")
        .collect())
}

#[test]
fn a_link_that_goes_down_is_reported() -> Result {
    let run = Running::start(Placement::Good, "pl", None)?;
    // The switch's end of the gateway's LAN cable is unplugged.
    let switch_end = run.topology.uplink_port();
    run.topology
        .site
        .switch
        .ip(&["link", "set", &switch_end, "down"])?;
    wait_until("link_down in status", Duration::from_secs(3), || {
        let status = run.dirs.status()?;
        Ok(codes(&status["agent"]["sight"]).contains(&"link_down"))
    })
    .with_context(|| format!("{:#}", run.dirs.status().unwrap_or_default()))?;
    let status = run.dirs.status()?;
    let down = finding(&status["agent"]["sight"], "link_down");
    assert_eq!(
        (&down["a"], &down["b"]),
        (&Value::from(1), &Value::from(2)),
        "{status:#}"
    );
    assert_eq!(status["agent"]["sight"]["verdict"], "blind", "{status:#}");
    Ok(())
}
