//! What the agent does each tick minus the syscalls, for the detection
//! benchmark: `Sampler::next` on the maps as read, then `Pipeline::step`
//! on the interval (with the detection stage `vantage replay` builds,
//! `replay::session::detection_stage`, or without detection), then the
//! stage's counters for the state file, each part timed. Also the
//! process's resident memory from `/proc/self/status`, and the
//! allocator's own account (glibc's `mallinfo2`).

use std::{
    collections::BTreeMap,
    net::IpAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use vantage::{
    config::{Config, SiteMode},
    pipeline::{detection::DetectionStats, Pipeline, PipelineOptions},
    replay::session::detection_stage,
    sample::Sampler,
    visibility::{Declaration, Surroundings},
};

use super::{
    detect_names::known_bad_list,
    detect_pcap::ScratchDir,
    detect_site::{SyntheticSite, Tick, GATEWAY, RESOLVERS},
};

/// Addresses and domains on the benchmark's known-bad list (besides the
/// incidents'): a usual feed's size.
pub const LIST_ENTRIES: u32 = 5_000;

/// The configuration of the benchmark: the defaults, an inline site with
/// the synthetic site's resolvers and gateway, and the known-bad lists `lists`.
pub fn bench_config(lists: Vec<PathBuf>) -> Config {
    let mut config = Config::default();
    config.site.mode = SiteMode::Inline;
    config.site.resolvers = RESOLVERS.iter().map(|r| IpAddr::V4(*r)).collect();
    config.site.gateway = Some(IpAddr::V4(GATEWAY));
    config.detect.known_bad.lists = lists;
    config
}

/// [`bench_config`] with the benchmark's known-bad list
/// ([`known_bad_list`], [`LIST_ENTRIES`] of each kind) written into `scratch`.
pub fn config_with_list(scratch: &ScratchDir) -> anyhow::Result<Config> {
    let list = scratch.write(
        "known-bad.txt",
        known_bad_list(LIST_ENTRIES, LIST_ENTRIES).as_bytes(),
    )?;
    Ok(bench_config(vec![list]))
}

/// How long each part of one tick took.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepTimes {
    pub sampler: Duration,
    pub pipeline: Duration,
    /// Alerts raised or raised again in the tick.
    pub detections: usize,
}

/// The sampler and the pipeline of one agent.
pub struct TickWork {
    sampler: Sampler,
    pipeline: Pipeline,
    surroundings: Surroundings,
    stats: Option<DetectionStats>,
    new_alerts: BTreeMap<&'static str, u64>,
}

impl TickWork {
    /// An agent starting at the synthetic site's start, with detection when
    /// `detection`, else with `detection: None` (`detect.enabled` off).
    pub fn new(config: &Config, detection: bool) -> anyhow::Result<TickWork> {
        let start = SyntheticSite::start();
        let stage = if detection {
            Some(detection_stage(config, start, None, 1).context("building the detection stage")?)
        } else {
            None
        };
        let pipeline = Pipeline::new(
            PipelineOptions {
                heartbeat_interval: Some(Duration::from_secs(60)),
                declaration: Declaration::new(&config.site, &config.sensor.local_nets),
                detection: stage,
            },
            start,
        );
        Ok(TickWork {
            sampler: Sampler::new(),
            pipeline,
            surroundings: Surroundings::default(),
            stats: None,
            new_alerts: BTreeMap::new(),
        })
    }

    /// One tick: the interval from the reading and events, the pipeline's
    /// step, the detection counters (the agent publishes them every tick).
    pub fn step(&mut self, tick: Tick) -> StepTimes {
        let started = Instant::now();
        let interval =
            self.sampler
                .next(tick.reading, tick.events, tick.now, tick.now_monotonic_ns);
        let sampled = Instant::now();
        let outputs = self
            .pipeline
            .step(&interval, &self.surroundings, None, tick.now);
        self.stats = self.pipeline.detection().map(|stage| stage.stats());
        let done = Instant::now();
        for output in &outputs.detection.detections {
            if output.raised.revision == 0 {
                *self
                    .new_alerts
                    .entry(output.raised.finding.detector.name())
                    .or_default() += 1;
            }
        }
        StepTimes {
            sampler: sampled - started,
            pipeline: done - sampled,
            detections: outputs.detection.detections.len(),
        }
    }

    /// The detection stage's counters after the last tick.
    pub fn stats(&self) -> Option<&DetectionStats> {
        self.stats.as_ref()
    }

    /// New alerts (revision 0) so far, by detector.
    pub fn new_alerts(&self) -> &BTreeMap<&'static str, u64> {
        &self.new_alerts
    }

    /// DNS answers parsed, cut and malformed so far.
    pub fn answers(&self) -> (u64, u64, u64) {
        let counts = self.pipeline.answer_counts();
        (counts.parsed, counts.truncated, counts.malformed)
    }
}

/// Resident memory of this process, and what the allocator holds, KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the highest resident so far.
    pub hwm_kib: u64,
    /// glibc's `mallinfo2`: bytes in allocations now (`uordblks` plus
    /// `hblkhd`, the blocks mapped on their own), and bytes free inside
    /// the heap (`fordblks`, kept by the allocator, resident if touched).
    pub heap_used_kib: u64,
    pub heap_free_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` from `/proc/self/status`.
pub fn memory() -> anyhow::Result<Memory> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let Some(line) = status.lines().find(|l| l.starts_with(name)) else {
            bail!("/proc/self/status has no {name}");
        };
        let value = line
            .trim_start_matches(name)
            .trim_start_matches(':')
            .trim()
            .trim_end_matches("kB")
            .trim();
        value
            .parse()
            .with_context(|| format!("{name} in /proc/self/status: {line}"))
    };
    let (heap_used_kib, heap_free_kib) = heap_kib();
    Ok(Memory {
        rss_kib: field("VmRSS")?,
        hwm_kib: field("VmHWM")?,
        heap_used_kib,
        heap_free_kib,
    })
}

/// glibc's heap in use and free (KiB), from `mallinfo2`.
#[cfg(target_env = "gnu")]
fn heap_kib() -> (u64, u64) {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let info = unsafe { libc::mallinfo2() };
    (
        ((info.uordblks + info.hblkhd) / 1024) as u64,
        (info.fordblks / 1024) as u64,
    )
}

/// Other allocators (musl, in the test VMs) report no heap figures: zeros.
#[cfg(not(target_env = "gnu"))]
fn heap_kib() -> (u64, u64) {
    (0, 0)
}
