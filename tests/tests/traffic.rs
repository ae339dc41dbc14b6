//! Real traffic through veth pairs in network namespaces, with the real
//! `vantage` agent attached to an inline gateway: exact per-host counts in
//! `vantage status --json`, blocks that stop real connections and lapse on
//! time, and an agent killed with SIGKILL whose successor picks everything up.

use std::time::{Duration, Instant};

use serde_json::Value;
use vantage_tests::{
    agent::{status_counter, status_host, vantage_bin, Agent, SensorDirs},
    harness::require_root,
    services::{dns_query, dns_responder, http_get, http_server, ping},
    site::{Site, DNS_SERVER, SITE_NET, WEB_SERVER},
};

type Result = anyhow::Result<()>;

fn start(tag: &str) -> anyhow::Result<(Site, SensorDirs, Agent)> {
    require_root();
    let site = Site::build(tag, 2)?;
    let dirs = SensorDirs::new(tag);
    let agent = Agent::start(
        &site.gateway,
        &[&site.gateway_lan, &site.gateway_wan],
        &[SITE_NET],
        &dirs,
    )?;
    Ok((site, dirs, agent))
}

#[test]
fn known_traffic_gives_exact_per_host_counts() -> Result {
    let (site, dirs, agent) = start("ex")?;
    let dns = dns_responder(&site.internet, DNS_SERVER)?;
    let web = http_server(&site.internet, WEB_SERVER)?;
    let client = &site.clients[0];
    let me = client.addr.to_string();
    let quiet = site.clients[1].addr.to_string();

    let before = dirs.status()?;
    assert_eq!(before["schema"], "vantage.status/1");
    assert_eq!(before["agent"]["running"], true, "{}", agent.log_text());
    let modes: Vec<&str> = before["agent"]["interfaces"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["mode"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        modes,
        vec!["driver", "driver"],
        "native XDP on both veth ends"
    );

    // 5 pings: exactly 5 packets each way, 98 bytes each on the wire.
    assert_eq!(ping(&client.ns, WEB_SERVER, 5)?, 5);
    let after_ping = dirs.status()?;
    let d =
        |field: &str| status_counter(&after_ping, &me, field) - status_counter(&before, &me, field);
    assert_eq!((d("packets_out"), d("packets_in")), (5, 5));
    assert_eq!((d("bytes_out"), d("bytes_in")), (5 * 98, 5 * 98));
    assert_eq!((d("icmp_out"), d("icmp_in")), (5, 5));

    // 4 TCP connections and 3 DNS queries.
    for _ in 0..4 {
        let reply = http_get(&client.ns, WEB_SERVER, Duration::from_secs(2))?;
        assert!(reply.starts_with("HTTP/1.0 200"), "{reply}");
    }
    for id in 0..3u16 {
        dns_query(
            &client.ns,
            DNS_SERVER,
            &format!("host{id}.example.com"),
            100 + id,
        )?;
    }
    assert_eq!((web.served(), dns.served()), (4, 3));
    let after = dirs.fresh_status()?;
    let d =
        |field: &str| status_counter(&after, &me, field) - status_counter(&after_ping, &me, field);
    assert_eq!(
        (d("tcp_syn_out"), d("tcp_synack_in"), d("tcp_rst_in")),
        (4, 4, 0)
    );
    assert_eq!((d("dns_queries_out"), d("dns_answers_in")), (3, 3));
    assert_eq!((d("udp_out"), d("udp_in")), (3, 3));
    assert_eq!((d("icmp_out"), d("icmp_in")), (0, 0));
    let site_delta = |field: &str| {
        after["site"][field].as_u64().unwrap_or(0) - before["site"][field].as_u64().unwrap_or(0)
    };
    assert_eq!((site_delta("tcp_syn"), site_delta("tcp_synack")), (4, 4));
    assert_eq!(
        (site_delta("dns_queries"), site_delta("dns_answers")),
        (3, 3)
    );

    let me_now =
        status_host(&after, &me).ok_or_else(|| anyhow::anyhow!("client missing from status"))?;
    assert_eq!(
        me_now["peers"]["estimate"], 2,
        "the web server and the DNS server"
    );
    assert_eq!(me_now["dst_ports"]["estimate"], 2, "port 80 and port 53");
    assert_eq!(me_now["mac"].as_str().map(str::len), Some(17));
    assert_eq!(
        status_counter(&after, &quiet, "packets_out"),
        0,
        "the quiet client sent nothing"
    );
    assert!(
        after["agent"]["events"]["tcp_syn"].as_u64().unwrap_or(0) >= 4,
        "{}",
        after["agent"]
    );
    let names: Vec<&str> = after["agent"]["recent_events"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["qname"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&"host2.example.com"),
        "DNS names reach the agent: {names:?}"
    );
    Ok(())
}

#[test]
fn a_block_stops_real_traffic_until_its_ttl_runs_out() -> Result {
    let (site, dirs, _agent) = start("bl")?;
    let _web = http_server(&site.internet, WEB_SERVER)?;
    let client = &site.clients[0];
    http_get(&client.ns, WEB_SERVER, Duration::from_secs(2))?;

    let added = Instant::now();
    dirs.vantage_ok(&["block", "add", &WEB_SERVER.to_string(), "--ttl", "3s"])?;
    assert!(
        http_get(&client.ns, WEB_SERVER, Duration::from_millis(800)).is_err(),
        "blocked"
    );
    assert_eq!(ping(&client.ns, WEB_SERVER, 2)?, 0, "blocked");
    let status = dirs.status()?;
    assert!(
        status["site"]["dropped"]["blocked_host"]
            .as_u64()
            .unwrap_or(0)
            >= 3,
        "{}",
        status["site"]["dropped"]
    );
    assert_eq!(status["blocks"]["active"], 1);
    let list: Value = serde_json::from_str(&dirs.vantage_ok(&["block", "list", "--json"])?)?;
    assert_eq!(list[0]["target"], WEB_SERVER.to_string());
    assert_eq!(
        (list[0]["kind"].as_str(), list[0]["origin"].as_str()),
        (Some("host"), Some("operator"))
    );
    assert_eq!(list[0]["active"], true);
    assert!(list[0]["hits"].as_u64().unwrap_or(0) >= 3, "{list}");
    assert!(
        (1..=3).contains(&list[0]["expires_in_secs"].as_u64().unwrap_or(0)),
        "{list}"
    );

    std::thread::sleep(
        Duration::from_secs(3).saturating_sub(added.elapsed()) + Duration::from_millis(300),
    );
    let reply = http_get(&client.ns, WEB_SERVER, Duration::from_secs(2))?;
    assert!(
        reply.starts_with("HTTP/1.0 200"),
        "the block lapsed: {reply}"
    );
    assert_eq!(dirs.status()?["blocks"]["active"], 0);
    Ok(())
}

#[test]
fn agent_killed_with_sigkill_keeps_blocks_and_counters_for_its_successor() -> Result {
    let (site, dirs, mut agent) = start("k9")?;
    let _web = http_server(&site.internet, WEB_SERVER)?;
    let client = &site.clients[0];
    let me = client.addr.to_string();
    for _ in 0..3 {
        http_get(&client.ns, WEB_SERVER, Duration::from_secs(2))?;
    }
    let before = dirs.status()?;
    assert_eq!(status_counter(&before, &me, "tcp_syn_out"), 3);

    agent.kill9()?;
    let orphaned = dirs.status()?;
    assert_eq!(orphaned["agent"]["running"], false);
    // The datapath still runs: it counts, and it enforces a block added now.
    assert_eq!(ping(&client.ns, WEB_SERVER, 2)?, 2);
    dirs.vantage_ok(&["block", "add", &WEB_SERVER.to_string(), "--ttl", "10m"])?;
    assert!(
        http_get(&client.ns, WEB_SERVER, Duration::from_millis(800)).is_err(),
        "blocked with no agent running"
    );
    let during = dirs.status()?;
    assert_eq!(
        status_counter(&during, &me, "icmp_out"),
        status_counter(&before, &me, "icmp_out") + 2
    );
    assert_eq!(
        status_counter(&during, &me, "tcp_syn_out"),
        4,
        "the blocked attempt was still counted"
    );

    let successor = Agent::start(
        &site.gateway,
        &[&site.gateway_lan, &site.gateway_wan],
        &[SITE_NET],
        &dirs,
    )?;
    let after = dirs.fresh_status()?;
    let modes: Vec<(&str, bool)> = after["agent"]["interfaces"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| Some((i["mode"].as_str()?, i["took_over"].as_bool()?)))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        modes,
        vec![("driver", true), ("driver", true)],
        "the successor took over the pinned links, in the mode they ran in: {}",
        successor.log_text()
    );
    assert!(
        status_counter(&after, &me, "tcp_syn_out") >= 4,
        "counters survived"
    );
    assert_eq!(
        status_counter(&after, &me, "packets_out"),
        status_counter(&during, &me, "packets_out")
    );
    assert!(
        http_get(&client.ns, WEB_SERVER, Duration::from_millis(800)).is_err(),
        "the block survived"
    );
    dirs.vantage_ok(&["block", "del", &WEB_SERVER.to_string()])?;
    assert!(http_get(&client.ns, WEB_SERVER, Duration::from_secs(2))?.starts_with("HTTP/1.0 200"));
    assert_eq!(status_counter(&dirs.status()?, &me, "tcp_syn_out"), 6);
    Ok(())
}

#[test]
fn sigterm_stops_the_agent_cleanly_and_leaves_the_datapath_running() -> Result {
    let (site, dirs, mut agent) = start("st")?;
    let status = agent.terminate()?;
    assert!(
        status.success(),
        "clean exit on SIGTERM: {status} {}",
        agent.log_text()
    );
    assert!(
        agent.log_text().contains("stays attached"),
        "{}",
        agent.log_text()
    );
    let client = &site.clients[0];
    let before = status_counter(&dirs.status()?, &client.addr.to_string(), "icmp_out");
    let _ = ping(&client.ns, WEB_SERVER, 2)?;
    assert_eq!(
        status_counter(&dirs.status()?, &client.addr.to_string(), "icmp_out"),
        before + 2,
        "still counting"
    );
    dirs.vantage_ok(&["unload"])?;
    assert!(!dirs.pin_dir.exists());
    Ok(())
}

#[test]
fn a_second_agent_on_the_same_state_directory_is_refused() -> Result {
    let (site, dirs, first) = start("dup")?;
    let second = site
        .gateway
        .net_command(&vantage_bin()?)
        .args([
            "run",
            "--iface",
            &site.gateway_lan,
            "--iface",
            &site.gateway_wan,
        ])
        .args(["--local-net", SITE_NET])
        .arg("--pin-dir")
        .arg(&dirs.pin_dir)
        .arg("--state-dir")
        .arg(&dirs.state_dir)
        .output()?;
    assert!(
        !second.status.success(),
        "a second agent started beside the first"
    );
    let error = String::from_utf8_lossy(&second.stderr);
    assert!(
        error.contains("another `vantage run` holds this lock"),
        "{error}"
    );
    // The first is untouched: still running, still the one in the state file.
    let status = dirs.fresh_status()?;
    assert_eq!(status["agent"]["running"], true, "{}", first.log_text());
    assert_eq!(status["agent"]["stale"], false);
    Ok(())
}
