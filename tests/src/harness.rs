//! A loaded XDP program driven through `BPF_PROG_TEST_RUN`, with the site and
//! host counters summed over CPUs, for exact before/after comparisons.

use std::net::IpAddr;

use anyhow::{bail, Context as _};
use aya::programs::{TestRun as _, TestRunOptions};
use sensor_common::{user::CounterWords as _, HostCounters, SiteCounters, SKETCH_WORDS};
use vantage::{
    datapath::{Datapath, LoadOptions},
    net::{addr16, Cidr},
};

/// XDP verdicts as the kernel returns them.
pub const XDP_ABORTED: u32 = 0;
pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;

/// Fails loudly unless running as root: these tests need the real kernel.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this privileged test loads XDP programs and must run as root (use `cargo xtask test`); it is not skipped"
    );
}

/// The protected networks every harness starts with.
pub const TEST_LOCAL_NETS: [&str; 2] = ["10.0.0.0/8", "fd00::/8"];

pub struct Harness {
    pub datapath: Datapath,
}

impl Harness {
    /// Loads a private copy of the program (no pins) with the test prefixes,
    /// events on and a rate limit high enough not to interfere, and keeps
    /// the calling thread on the CPU it runs on: the host table, the caches
    /// and the event budget are per CPU, and a test that moved between two
    /// runs would find a second host entry or a second event burst.
    pub fn new(host_capacity: u32) -> anyhow::Result<Harness> {
        require_root();
        // SAFETY: sched_getcpu has no preconditions.
        let cpu = unsafe { libc::sched_getcpu() };
        if let Ok(cpu) = usize::try_from(cpu) {
            crate::bench::pin_to_cpu(cpu)?;
        }
        let mut datapath = Datapath::load(&LoadOptions {
            pins: None,
            host_capacity,
        })
        .context("loading the XDP program")?;
        let nets: Vec<Cidr> = TEST_LOCAL_NETS
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?;
        let maps = datapath.maps_mut();
        maps.set_local_nets(&nets)?;
        maps.set_events(true, 1_000_000, 1_000_000)?;
        Ok(Harness { datapath })
    }

    /// Runs the sensor program once on `frame` and returns its verdict.
    pub fn run(&mut self, frame: &[u8]) -> anyhow::Result<u32> {
        let program = self.datapath.sensor_program()?;
        Self::test_run(program, frame)
    }

    /// Runs the raw-IP variant (links without an Ethernet header) once on
    /// `frame`, which starts at the IP header, and returns its verdict.
    pub fn run_raw_ip(&mut self, frame: &[u8]) -> anyhow::Result<u32> {
        let program = self.datapath.raw_ip_program()?;
        Self::test_run(program, frame)
    }

    /// Like [`Harness::run_delta`] for the raw-IP variant.
    pub fn run_raw_ip_delta(&mut self, frame: &[u8]) -> anyhow::Result<(u32, SiteCounters)> {
        let before = self.site()?;
        let verdict = self.run_raw_ip(frame)?;
        let after = self.site()?;
        Ok((verdict, site_delta(&before, &after)))
    }

    /// Which tunnels to open and whether duplicates count for their hosts.
    pub fn set_parsing(
        &mut self,
        decapsulate: &[sensor_common::EncapKind],
        skip_duplicates: bool,
    ) -> anyhow::Result<()> {
        Ok(self
            .datapath
            .maps_mut()
            .set_parsing(decapsulate, skip_duplicates)?)
    }

    fn test_run(program: &mut aya::programs::Xdp, frame: &[u8]) -> anyhow::Result<u32> {
        let result = program
            .test_run(TestRunOptions {
                data_in: Some(frame),
                repeat: 1,
                ..TestRunOptions::default()
            })
            .with_context(|| format!("BPF_PROG_TEST_RUN on a {}-byte frame", frame.len()))?;
        Ok(result.return_value)
    }

    /// Runs `frame` and returns the verdict and the site counters' change.
    pub fn run_delta(&mut self, frame: &[u8]) -> anyhow::Result<(u32, SiteCounters)> {
        let before = self.site()?;
        let verdict = self.run(frame)?;
        let after = self.site()?;
        Ok((verdict, site_delta(&before, &after)))
    }

    /// Site counters summed over CPUs.
    pub fn site(&self) -> anyhow::Result<SiteCounters> {
        Ok(sum_site(&self.datapath.maps().site_per_cpu()?))
    }

    /// A host's counters summed over CPUs (sketches OR-ed), if it is known.
    pub fn host(&self, ip: &str) -> anyhow::Result<Option<HostCounters>> {
        let ip: IpAddr = ip.parse()?;
        Ok(self
            .datapath
            .maps()
            .host(&addr16(ip))?
            .map(|record| sum_host(&record.per_cpu)))
    }

    /// Like [`Harness::host`] but fails if the host is unknown.
    pub fn known_host(&self, ip: &str) -> anyhow::Result<HostCounters> {
        match self.host(ip)? {
            Some(h) => Ok(h),
            None => bail!("host {ip} is not in the map"),
        }
    }
}

/// Sums per-CPU site counters field by field.
pub fn sum_site(per_cpu: &[SiteCounters]) -> SiteCounters {
    SiteCounters::merge(per_cpu)
}

/// `after - before`, field by field; fails the test if a counter went down.
pub fn site_delta(before: &SiteCounters, after: &SiteCounters) -> SiteCounters {
    for (index, (a, b)) in after.words().iter().zip(before.words()).enumerate() {
        assert!(a >= b, "site counter word {index} went down: {b} -> {a}");
    }
    after.since(before)
}

/// A host's per-CPU counters merged as `vantage status` merges them.
pub fn sum_host(per_cpu: &[HostCounters]) -> HostCounters {
    HostCounters::merge(per_cpu)
}

/// Every event waiting in the ring, decoded; fails the test if a record
/// could not be decoded.
pub fn drain_events(reader: &mut vantage::datapath::EventReader) -> Vec<vantage::sample::Event> {
    let mut events = Vec::new();
    assert_eq!(
        reader.drain_into(&mut events),
        0,
        "undecodable event records"
    );
    events
}

/// Bits set in a sketch (distinct items, while collisions are unlikely).
pub fn sketch_bits(sketch: &[u64; SKETCH_WORDS]) -> u32 {
    sketch.iter().map(|w| w.count_ones()).sum()
}

/// The counters where `got` differs from `want`, by name (`field: want -> got`),
/// one per line; empty when they are equal.
pub fn site_diff(want: &SiteCounters, got: &SiteCounters) -> String {
    let mut out = Vec::new();
    macro_rules! scalars {
        ($($field:ident),* $(,)?) => {$(
            if want.$field != got.$field {
                out.push(format!("{}: {} -> {}", stringify!($field), want.$field, got.$field));
            }
        )*};
    }
    macro_rules! arrays {
        ($($field:ident: $name:expr),* $(,)?) => {$(
            for (i, (w, g)) in want.$field.iter().zip(got.$field.iter()).enumerate() {
                if w != g {
                    let name: Option<&'static str> = $name(i as u8);
                    let name = name.map_or_else(|| i.to_string(), str::to_owned);
                    out.push(format!("{}[{name}]: {w} -> {g}", stringify!($field)));
                }
            }
        )*};
    }
    scalars!(
        packets,
        bytes,
        non_ip,
        broadcast,
        multicast,
        vlan_tagged,
        ipv4,
        ipv6,
        fragments,
        tcp,
        udp,
        icmp,
        dns_queries,
        dns_answers,
        tcp_syn,
        tcp_synack,
        tcp_rst,
        allowlisted,
        events_sent,
        events_rate_limited,
        events_ring_full,
        hosts_created,
        hosts_create_failed,
        pppoe,
        mpls,
        raw_ip,
        esp,
        dns_over_tcp,
        port53_other,
        duplicates,
        encap_unopened,
    );
    use sensor_common::{DropReason, EncapKind, MalformedReason, TrafficClass};
    arrays!(
        class_packets: |i| TrafficClass::from_repr(i).map(<&str>::from),
        class_bytes: |i| TrafficClass::from_repr(i).map(<&str>::from),
        decapsulated: |i| EncapKind::from_repr(i).map(<&str>::from),
        malformed: |i| MalformedReason::from_repr(i).map(<&str>::from),
        dropped: |i| DropReason::from_repr(i).map(<&str>::from),
    );
    out.join("\n")
}

/// Fails naming `what` and each counter that differs unless `got == want`.
#[track_caller]
pub fn assert_site(got: &SiteCounters, want: &SiteCounters, what: &str) {
    assert!(
        got == want,
        "{what}: site counter delta differs (field: want -> got)\n{}",
        site_diff(want, got)
    );
}
