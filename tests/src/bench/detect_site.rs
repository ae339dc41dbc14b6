//! The synthetic site of the detection benchmark (`vantage-detect-bench`):
//! protected hosts with each CPU's copy of their counters (what
//! `Datapath::snapshot` reads into a [`Reading`]), and one tick's kernel
//! events at a time (what the agent drains between two ticks), so that the
//! agent's work per tick, `Sampler::next` then `Pipeline::step` with every
//! detector, can be measured without a kernel.
//!
//! Each tick is one second. Its events come from activities of hosts picked
//! at random (uniformly), in this mix:
//!
//! | share | activity | events |
//! | --- | --- | --- |
//! | 40 % | look a name up (A), connect to one of its addresses on 443 or 80 | `dns_query`, `dns_answer` (1 to 4 A records), `tcp_syn`, then `tcp_answered` (90 %), `tcp_refused` (2 %) or nothing |
//! | 20 % | connect to an address directly: one a name resolved to (70 %), or any | `tcp_syn`, `tcp_answered` (85 %) or nothing |
//! | 15 % | UDP to a new peer (QUIC 443, STUN 3478, a high port) | `udp_new_peer` |
//! | 15 % | a lookup alone (AAAA or HTTPS, answered with no record) | `dns_query`, `dns_answer` |
//! | 8 % | the host's file server (one of 20 protected hosts) on 445 or 135 | `tcp_syn`, `tcp_answered` |
//! | 2 % | ICMP echo to a remote address | `icmp_echo` |
//!
//! Names: [`DOMAINS`] registered domains under `.com`, [`LABELS`] names
//! each, the domain picked with a skew (`DOMAINS * u^3`: a few popular
//! domains, a long tail); each name resolves to 1 to 4 addresses of
//! 198.18.0.0/15 (RFC 2544's benchmarking range, outside every protected
//! network). DNS answers are real response messages
//! ([`crate::packet::dns_message_with`]).
//!
//! Every tick also carries a few incidents, so that alerts, the policy and
//! the digest run too: the last host scans 20 ports of one peer (refused),
//! the one before beacons to one peer every 30 s, the one before that sends
//! 10 TXT queries with 52-byte random labels under one domain, and the one
//! before that looks up a listed domain every 10 s and connects to its
//! address (`detect_names::known_bad_list`).

use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use sensor_common::{EventKind, HostCounters, HostTraffic, SiteCounters, SKETCH_WORDS};
use vantage::sample::{Event, Reading};

use super::detect_names::{
    addrs_of, host_addr, mix, name_of, pool_addr, Rng, BEACON_PEER, DOMAINS, LABELS, LISTED_DOMAIN,
    LISTED_PEER, SCAN_TARGET, TUNNEL_DOMAIN,
};
use crate::packet::dns_message_with;

/// Protected hosts that serve files to the others (the first ones).
const FILE_SERVERS: u32 = 20;
/// Wall-clock time of the first reading, Unix seconds.
const START_UNIX: u64 = 1_800_000_000;
/// Kernel time (`CLOCK_MONOTONIC` ns) of the first reading.
const BOOT_NS: u64 = 5_000_000_000_000;
const NS_PER_SEC: u64 = 1_000_000_000;
/// The site's resolvers and gateway (never among the hosts).
pub const RESOLVERS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 254, 0, 53), Ipv4Addr::new(10, 254, 0, 54)];
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 254, 0, 1);

/// One tick of the site: the maps as read at its end, and the events
/// drained during it.
#[derive(Clone, Debug)]
pub struct Tick {
    pub reading: Reading,
    pub events: Vec<Event>,
    /// Wall-clock and kernel time at the end of the tick.
    pub now: SystemTime,
    pub now_monotonic_ns: u64,
}

/// The synthetic site; see the module documentation.
#[derive(Debug)]
pub struct SyntheticSite {
    hosts: Vec<IpAddr>,
    /// `hosts.len() * cpus` counters, host by host.
    counters: Vec<HostCounters>,
    cpus: usize,
    site: SiteCounters,
    rng: Rng,
    /// Ticks taken so far.
    ticks: u64,
    query_id: u16,
}

impl SyntheticSite {
    /// `hosts` protected hosts (at least 8: the incidents take the last 4),
    /// each with a copy of its counters on each of `cpus` CPUs.
    pub fn new(hosts: u32, cpus: usize, seed: u64) -> SyntheticSite {
        let hosts = hosts.max(8);
        let cpus = cpus.max(1);
        let addrs: Vec<IpAddr> = (0..hosts).map(host_addr).collect();
        let mut counters = Vec::with_capacity(addrs.len() * cpus);
        for i in 0..hosts {
            for cpu in 0..cpus {
                counters.push(HostCounters {
                    first_seen_ns: BOOT_NS - 3_600 * NS_PER_SEC + u64::from(i) + cpu as u64,
                    last_seen_ns: BOOT_NS,
                    mac: [0x00, 0x1b, 0x21, (i >> 16) as u8, (i >> 8) as u8, i as u8],
                    ifindex: 2,
                    ..HostCounters::default()
                });
            }
        }
        SyntheticSite {
            hosts: addrs,
            counters,
            cpus,
            site: SiteCounters::default(),
            rng: Rng::new(seed),
            ticks: 0,
            query_id: 0,
        }
    }

    /// Wall-clock time of the first reading (before any tick).
    pub fn start() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(START_UNIX)
    }

    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// The maps as they are now.
    pub fn reading(&self) -> Reading {
        Reading {
            hosts: self
                .hosts
                .iter()
                .zip(self.counters.chunks(self.cpus))
                .map(|(addr, copies)| (*addr, copies.to_vec()))
                .collect(),
            site: self.site,
            host_capacity: (self.hosts.len() as u32).saturating_mul(2).max(16_384),
        }
    }

    /// The next second: about `events` events (whole activities, plus the
    /// incidents), and every host's counters moved on.
    pub fn tick(&mut self, events: usize) -> Tick {
        let second = self.ticks;
        self.ticks += 1;
        let mut out = Vec::with_capacity(events + 64);
        while out.len() < events {
            self.activity(&mut out);
        }
        self.incidents(second, &mut out);
        let base = BOOT_NS + second * NS_PER_SEC;
        let step = NS_PER_SEC / (out.len() as u64 + 1);
        for (k, event) in out.iter_mut().enumerate() {
            event.timestamp_ns = base + (k as u64 + 1) * step;
        }
        let now_monotonic_ns = base + NS_PER_SEC;
        self.count(&out, second, now_monotonic_ns);
        Tick {
            reading: self.reading(),
            events: out,
            now: Self::start() + Duration::from_secs(second + 1),
            now_monotonic_ns,
        }
    }

    fn count(&mut self, events: &[Event], second: u64, now_ns: u64) {
        for (i, copies) in self.counters.chunks_mut(self.cpus).enumerate() {
            for (cpu, copy) in copies.iter_mut().enumerate() {
                let n = (i as u64 + cpu as u64 + second) % 7;
                let t: &mut HostTraffic = &mut copy.traffic;
                t.packets_out += 3 + n;
                t.bytes_out += 900 * (3 + n);
                t.packets_in += 4 + n;
                t.bytes_in += 1_200 * (4 + n);
                t.tcp_syn_out += n / 3;
                t.tcp_synack_in += n / 4;
                t.udp_out += n % 2;
                t.dns_queries_out += n / 5;
                t.dns_answers_in += n / 5;
                copy.last_seen_ns = now_ns;
                let bit = (mix(i as u64 ^ second) % (64 * SKETCH_WORDS as u64)) as usize;
                copy.peer_sketch[bit / 64] |= 1 << (bit % 64);
                copy.port_sketch[(bit / 64) % 2] |= 1 << (bit % 64);
            }
        }
        let hosts = self.hosts.len() as u64;
        let packets = hosts * 7 * self.cpus as u64 + events.len() as u64;
        let s = &mut self.site;
        s.packets += packets;
        s.bytes += packets * 1_000;
        s.ipv4 += packets;
        s.class_packets[1] += packets / 2;
        s.class_packets[2] += packets / 2;
        s.tcp += packets * 3 / 4;
        s.udp += packets / 4;
        s.events_sent += events.len() as u64;
        for event in events {
            match event.kind {
                EventKind::TcpSyn => s.tcp_syn += 1,
                EventKind::TcpAnswered => s.tcp_synack += 1,
                EventKind::TcpRefused => s.tcp_rst += 1,
                EventKind::DnsQuery => s.dns_queries += 1,
                EventKind::DnsAnswer => s.dns_answers += 1,
                _ => {}
            }
        }
    }

    fn pick_host(&mut self) -> (u32, IpAddr) {
        // The incidents' hosts (the last 4) do nothing else.
        let i = self.rng.below(self.hosts.len() as u64 - 4) as u32;
        (i, self.hosts[i as usize])
    }

    /// A name index, popular domains more often.
    fn pick_name(&mut self) -> u64 {
        let u = self.rng.unit();
        let domain = ((DOMAINS as f64) * u * u * u) as u64;
        domain * LABELS.len() as u64 + self.rng.below(LABELS.len() as u64)
    }

    fn ephemeral(&mut self) -> u16 {
        32_768 + self.rng.below(28_000) as u16
    }

    fn resolver(&mut self) -> IpAddr {
        IpAddr::V4(RESOLVERS[self.rng.below(2) as usize])
    }

    /// A DNS query and its answer (A records `addrs`; none for other types).
    fn lookup(
        &mut self,
        host: IpAddr,
        name: &str,
        qtype: u16,
        addrs: &[IpAddr],
        out: &mut Vec<Event>,
    ) {
        let resolver = self.resolver();
        let port = self.ephemeral();
        self.query_id = self.query_id.wrapping_add(1);
        let query_len = 12 + name.len() + 2 + 4;
        let mut query = event(EventKind::DnsQuery, host, resolver, port, 53, 17);
        query.qname = Some(name.to_owned());
        query.qtype = qtype;
        query.message_len = query_len as u16;
        out.push(query);
        let records: Vec<[u8; 4]> = addrs
            .iter()
            .filter_map(|a| match a {
                IpAddr::V4(v4) => Some(v4.octets()),
                IpAddr::V6(_) => None,
            })
            .collect();
        let message = dns_message_with(self.query_id, true, name, qtype, &records);
        let mut answer = event(EventKind::DnsAnswer, resolver, host, 53, port, 17);
        answer.qname = Some(name.to_owned());
        answer.qtype = qtype;
        answer.message_len = message.len() as u16;
        answer.answer = Some(message);
        out.push(answer);
    }

    /// A TCP SYN and, by `answered` and `refused` (per thousand), its answer.
    fn connect(
        &mut self,
        host: IpAddr,
        peer: IpAddr,
        port: u16,
        answered: u64,
        refused: u64,
        out: &mut Vec<Event>,
    ) {
        let src_port = self.ephemeral();
        out.push(event(EventKind::TcpSyn, host, peer, src_port, port, 6));
        let roll = self.rng.below(1000);
        if roll < answered {
            out.push(event(EventKind::TcpAnswered, peer, host, port, src_port, 6));
        } else if roll < answered + refused {
            out.push(event(EventKind::TcpRefused, peer, host, port, src_port, 6));
        }
    }

    fn web_port(&mut self) -> u16 {
        if self.rng.below(100) < 85 {
            443
        } else {
            80
        }
    }

    fn activity(&mut self, out: &mut Vec<Event>) {
        let (i, host) = self.pick_host();
        match self.rng.below(100) {
            0..=39 => {
                let index = self.pick_name();
                let addrs = addrs_of(index);
                self.lookup(host, &name_of(index), 1, &addrs, out);
                let peer = addrs[self.rng.below(addrs.len() as u64) as usize];
                let port = self.web_port();
                self.connect(host, peer, port, 900, 20, out);
            }
            40..=59 => {
                let peer = if self.rng.below(100) < 70 {
                    let addrs = addrs_of(self.pick_name());
                    addrs[self.rng.below(addrs.len() as u64) as usize]
                } else {
                    pool_addr(self.rng.next_u64())
                };
                let port = self.web_port();
                self.connect(host, peer, port, 850, 0, out);
            }
            60..=74 => {
                let peer = pool_addr(self.rng.next_u64());
                let port = match self.rng.below(10) {
                    0..=5 => 443,
                    6 | 7 => 3478,
                    _ => 49_152 + self.rng.below(16_000) as u16,
                };
                let src_port = self.ephemeral();
                out.push(event(EventKind::UdpNewPeer, host, peer, src_port, port, 17));
            }
            75..=89 => {
                let index = self.pick_name();
                let qtype = if self.rng.below(2) == 0 { 28 } else { 65 };
                self.lookup(host, &name_of(index), qtype, &[], out);
            }
            90..=97 => {
                let server = host_addr((i + self.rng.below(2) as u32 * 7) % FILE_SERVERS);
                if server != host {
                    let port = if self.rng.below(4) == 0 { 135 } else { 445 };
                    self.connect(host, server, port, 1000, 0, out);
                }
            }
            _ => {
                let peer = pool_addr(self.rng.next_u64());
                out.push(event(EventKind::IcmpEcho, host, peer, 0, 0, 1));
            }
        }
    }

    fn incidents(&mut self, second: u64, out: &mut Vec<Event>) {
        let last = self.hosts.len() - 1;
        let scanner = self.hosts[last];
        for k in 0..20u64 {
            let port = ((second * 20 + k) % 1024 + 1) as u16;
            self.connect(scanner, IpAddr::V4(SCAN_TARGET), port, 0, 1000, out);
        }
        if second.is_multiple_of(30) {
            self.connect(
                self.hosts[last - 1],
                IpAddr::V4(BEACON_PEER),
                443,
                1000,
                0,
                out,
            );
        }
        let tunneller = self.hosts[last - 2];
        for _ in 0..10 {
            let label: String = (0..52)
                .map(|_| {
                    char::from(b"abcdefghijklmnopqrstuvwxyz234567"[self.rng.below(32) as usize])
                })
                .collect();
            let resolver = self.resolver();
            let port = self.ephemeral();
            let mut query = event(EventKind::DnsQuery, tunneller, resolver, port, 53, 17);
            query.qname = Some(format!("{label}.{TUNNEL_DOMAIN}"));
            query.qtype = 16;
            query.message_len = 90;
            out.push(query);
        }
        if second.is_multiple_of(10) {
            let host = self.hosts[last - 3];
            let peer = IpAddr::V4(LISTED_PEER);
            self.lookup(host, LISTED_DOMAIN, 1, &[peer], out);
            self.connect(host, peer, 443, 1000, 0, out);
        }
    }
}

/// An event with no DNS parts; the time is set by [`SyntheticSite::tick`].
fn event(
    kind: EventKind,
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    protocol: u8,
) -> Event {
    Event {
        kind,
        timestamp_ns: 0,
        src,
        dst,
        src_port,
        dst_port,
        protocol,
        ifindex: 2,
        qname: None,
        qname_truncated: false,
        qtype: 0,
        message_len: 0,
        answer: None,
        answer_truncated: false,
        dropped: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_has_the_events_asked_for_and_real_dns_answers() {
        let mut site = SyntheticSite::new(100, 2, 1);
        let tick = site.tick(1_000);
        assert!(tick.events.len() >= 1_000 && tick.events.len() < 1_100);
        assert_eq!(tick.reading.hosts.len(), 100);
        assert!(tick
            .reading
            .hosts
            .iter()
            .all(|(_, copies)| copies.len() == 2));
        let answers: Vec<&Event> = tick
            .events
            .iter()
            .filter(|e| e.kind == EventKind::DnsAnswer)
            .collect();
        assert!(answers.len() > 100);
        for answer in answers {
            let bytes = answer.answer.as_deref().unwrap_or_default();
            let parsed = vantage::detect::pdns::parse_answer(bytes);
            assert!(parsed.is_ok(), "{parsed:?}");
        }
        let times: Vec<u64> = tick.events.iter().map(|e| e.timestamp_ns).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        assert!(times.last().copied().unwrap_or(u64::MAX) < tick.now_monotonic_ns);
    }
}
