//! The active self-test of a mirror-port sensor: from its own address inside
//! a protected network it makes a DNS lookup to a declared resolver and a
//! TCP connection to that resolver's port 53, then checks that its datapath
//! saw all four packets that matter (the query and the answer, the SYN and
//! the SYN-ACK) in its own host counters. When the sensor's own traffic
//! crosses the mirrored path, it must see both directions; when it does not,
//! the finding `self_test_failed` says so.
//!
//! Only in `site.mode = "mirror"`: XDP sees what arrives on the attached
//! interfaces, so an inline gateway never sees its own outgoing packets.

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, SystemTime},
};

use sensor_common::HostTraffic;

use crate::{
    net::Cidr, report::agent_state::SelfTestState, sample::Interval, visibility::SelfTestResult,
};

/// How long the lookup and the connection may take.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How long after starting the checks are read from the counters.
const SETTLE: Duration = Duration::from_secs(4);
/// The name looked up: reserved for examples (RFC 2606), answered NXDOMAIN.
const QUERY_NAME: &str = "vantage-self-test.example.";

/// A self-test under way.
struct Pending {
    started: SystemTime,
    own: IpAddr,
    before: HostTraffic,
}

/// Runs the self-test every `interval` and keeps the latest result.
pub struct SelfTester {
    interval: Duration,
    resolver: IpAddr,
    local_nets: Vec<Cidr>,
    next_at: SystemTime,
    pending: Option<Pending>,
    /// The latest test, once one has finished.
    report: Option<SelfTestState>,
}

impl SelfTester {
    /// A tester against `resolver`; the first test starts a minute after
    /// `now`, once the window has filled.
    pub fn new(
        interval: Duration,
        resolver: IpAddr,
        local_nets: &[Cidr],
        now: SystemTime,
    ) -> SelfTester {
        SelfTester {
            interval,
            resolver,
            local_nets: local_nets.to_vec(),
            next_at: now + Duration::from_secs(60),
            pending: None,
            report: None,
        }
    }

    /// The latest result, if a test has finished.
    pub fn last(&self) -> Option<SelfTestResult> {
        self.report.as_ref().map(|r| SelfTestResult {
            made: r.made,
            seen: r.seen,
        })
    }

    /// The latest test as `vantage status` shows it.
    pub fn report(&self) -> Option<&SelfTestState> {
        self.report.as_ref()
    }

    /// Called every tick with the latest interval: finishes a test that has
    /// settled, and starts the next one when it is due.
    pub fn tick(&mut self, interval: &Interval, now: SystemTime) {
        if let Some(pending) = &self.pending {
            if now.duration_since(pending.started).unwrap_or_default() >= SETTLE {
                let after = own_traffic(interval, pending.own);
                let seen = [
                    after.dns_queries_out > pending.before.dns_queries_out,
                    after.dns_answers_in > pending.before.dns_answers_in,
                    after.tcp_syn_out > pending.before.tcp_syn_out,
                    after.tcp_synack_in > pending.before.tcp_synack_in,
                ];
                let result = SelfTestResult {
                    made: seen.len() as u32,
                    seen: seen.iter().filter(|s| **s).count() as u32,
                };
                if result.seen < result.made {
                    log::warn!(
                        "self-test from {}: the datapath saw {} of {} of its own packets (query, answer, SYN, SYN-ACK: {seen:?})",
                        pending.own,
                        result.seen,
                        result.made
                    );
                }
                self.report = Some(SelfTestState {
                    at: crate::time::unix_secs(now),
                    from: pending.own.to_string(),
                    to: self.resolver.to_string(),
                    made: result.made,
                    seen: result.seen,
                });
                self.pending = None;
            }
            return;
        }
        if now < self.next_at {
            return;
        }
        self.next_at = now + self.interval;
        let Some(own) = own_address(&self.local_nets, self.resolver) else {
            log::warn!("self-test: the sensor has no address inside a protected network of the resolver's family; skipped");
            return;
        };
        self.pending = Some(Pending {
            started: now,
            own,
            before: own_traffic(interval, own),
        });
        let resolver = self.resolver;
        tokio::spawn(async move {
            if let Err(error) = probe(own, resolver).await {
                log::info!("self-test from {own} to {resolver}: {error}");
            }
        });
    }
}

/// The sensor's own host counters in the interval (zero if it has no entry).
fn own_traffic(interval: &Interval, own: IpAddr) -> HostTraffic {
    interval
        .hosts
        .iter()
        .find(|h| h.addr == own)
        .map(|h| h.totals)
        .unwrap_or_default()
}

/// The lookup and the connection, from `own`.
async fn probe(own: IpAddr, resolver: IpAddr) -> std::io::Result<()> {
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(own, 0)).await?;
    let wire = crate::net::dns::a_query(QUERY_NAME, rand_id()).map_err(std::io::Error::other)?;
    socket.send_to(&wire, SocketAddr::new(resolver, 53)).await?;
    let mut answer = [0u8; 512];
    let _ = tokio::time::timeout(TIMEOUT, socket.recv_from(&mut answer)).await;
    let tcp = match own {
        IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    tcp.bind(SocketAddr::new(own, 0))?;
    let _ = tokio::time::timeout(TIMEOUT, tcp.connect(SocketAddr::new(resolver, 53))).await;
    Ok(())
}

/// A query id that differs between tests.
fn rand_id() -> u16 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    (nanos ^ (nanos >> 16)) as u16
}

/// The sensor's first address inside a protected network, of the
/// resolver's family.
fn own_address(local_nets: &[Cidr], resolver: IpAddr) -> Option<IpAddr> {
    crate::sys::interface_addresses().into_iter().find(|addr| {
        addr.is_ipv4() == resolver.is_ipv4()
            && !addr.is_loopback()
            && local_nets.iter().any(|net| net.contains(*addr))
    })
}
