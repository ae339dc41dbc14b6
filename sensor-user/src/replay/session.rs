//! One replay from start to summary: the configuration turned into the
//! pipeline (with its detection stage) that the live agent would run, fed
//! with the intervals of a capture (through the real XDP program) or of a
//! trace (no kernel), each alert and decision handed to the caller as it
//! comes, then the summary.

use std::{
    io::BufRead,
    net::IpAddr,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use crate::{
    config::{Config, SiteMode, TimeZoneError},
    datapath::replay::ReplayDatapath,
    detect::{
        known_bad::{ListError, ListSet},
        new_device::Inventory,
        Site,
    },
    pipeline::{
        detection::{DetectionOptions, DetectionOutput, DetectionStage},
        Pipeline, PipelineOptions,
    },
    respond::DigestReport,
    sample::Interval,
    visibility::{Declaration, Surroundings},
};

use super::{
    capture::Capture,
    output::Summary,
    replay_capture,
    trace::{TraceError, TraceReader},
    ReplayError, ReplayStats,
};

/// Why a replay could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error("known-bad lists: {0}")]
    Lists(#[from] ListError),
    #[error(transparent)]
    TimeZone(#[from] TimeZoneError),
    #[error("reading the trace {}: {source}", path.display())]
    TraceOpen {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Output(String),
    #[error("{}: {source}", path.display())]
    Trace {
        path: PathBuf,
        #[source]
        source: TraceError,
    },
    #[error(transparent)]
    Inventory(#[from] crate::detect::new_device::InventoryError),
}

/// What the replay hands out as it goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Happening {
    Detection(DetectionOutput),
    Digest(DigestReport),
}

/// The site as the configuration declares it, for the detectors.
pub fn site_of(config: &Config) -> Site {
    Site {
        protected: config.sensor.local_nets.clone(),
        resolvers: config.site.resolvers.clone(),
        collector: collector_addrs(config),
        gateway: config.site.gateway.into_iter().collect(),
    }
}

/// The collector's address when the configuration gives it as an IP
/// address (a name is resolved by the agent at start).
fn collector_addrs(config: &Config) -> Vec<IpAddr> {
    let uplink = &config.uplink.collector;
    if uplink.is_empty() {
        return Vec::new();
    }
    let host = match uplink.rsplit_once(':') {
        Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => uplink.as_str(),
    };
    host.parse().into_iter().collect()
}

/// The detection stage for `config`, starting at `start`. A capture alone
/// cannot say which devices are new to the site: without the sensor's
/// inventory (`inventory`), the new-device detector reports nothing.
pub fn detection_stage(
    config: &Config,
    start: SystemTime,
    inventory: Option<Inventory>,
    first_alert_id: u32,
) -> Result<DetectionStage, SessionError> {
    let site = site_of(config);
    let mut detect = config.detect.clone();
    if inventory.is_none() {
        let scores = &mut detect.new_device;
        scores.universal_mac_score = 0;
        scores.random_mac_score = 0;
        scores.address_only_score = 0;
        scores.known_mac_new_address_score = 0;
    }
    let lists = if config.detect.known_bad.lists.is_empty() {
        ListSet::empty()
    } else {
        ListSet::load(&config.detect.known_bad.lists)?
    };
    Ok(DetectionStage::new(
        DetectionOptions {
            detect,
            response: config.response.clone(),
            never_block: config.blocks.allow.clone(),
            site,
            can_block: config.site.mode != SiteMode::Mirror,
            first_alert_id,
            lists,
            inventory: inventory.unwrap_or_else(|| Inventory::new(start)),
        },
        start,
    )?)
}

/// A pipeline for a replay: no heartbeats, the configured site, detection.
fn pipeline(
    config: &Config,
    start: SystemTime,
    inventory: Option<Inventory>,
) -> Result<Pipeline, SessionError> {
    Ok(Pipeline::new(
        PipelineOptions {
            heartbeat_interval: None,
            declaration: Declaration::new(&config.site, &config.sensor.local_nets),
            detection: Some(detection_stage(config, start, inventory, 1)?),
        },
        start,
    ))
}

/// Steps the pipeline on one interval and hands out what it gives.
fn step(
    pipeline: &mut Pipeline,
    summary: &mut Summary,
    interval: &Interval,
    on: &mut dyn FnMut(Happening) -> Result<(), String>,
) -> Result<(), String> {
    let outputs = pipeline.step(interval, &Surroundings::default(), None, interval.end);
    summary.malformed_frames += interval.site.delta.malformed.iter().sum::<u64>();
    summary.hosts_seen = summary.hosts_seen.max(interval.hosts.len());
    for output in outputs.detection.detections {
        summary.count(&output);
        on(Happening::Detection(output))?;
    }
    if let Some(digest) = outputs.detection.digest {
        on(Happening::Digest(digest))?;
    }
    Ok(())
}

fn finish(pipeline: &Pipeline, mut summary: Summary, stats: ReplayStats) -> Summary {
    summary.r#type = "summary";
    summary.span_secs = stats.span_secs();
    summary.stats = stats;
    summary.dns_answers = pipeline.answer_counts();
    if let Some(stage) = pipeline.detection() {
        summary.suppressed = stage.stats().alerts.suppressed_total();
    }
    summary
}

/// Replays a capture file through the real XDP program (root).
pub fn replay_capture_file(
    path: &Path,
    config: &Config,
    inventory: Option<Inventory>,
    tick: Duration,
    on: &mut dyn FnMut(Happening) -> Result<(), String>,
) -> Result<Summary, SessionError> {
    // The first frame's time starts the pipeline's clock.
    let start = match Capture::open(path).map_err(ReplayError::from)?.next_frame() {
        Some(Ok(frame)) => frame.at,
        // The replay reports an unreadable first frame in its summary.
        Some(Err(_)) | None => SystemTime::UNIX_EPOCH,
    };
    let mut capture = Capture::open(path).map_err(ReplayError::from)?;
    let mut kernel = ReplayDatapath::load(
        &config.sensor.local_nets,
        &config.sensor.decapsulate,
        config.sensor.host_capacity,
    )
    .map_err(ReplayError::from)?;
    let mut pipeline = pipeline(config, start, inventory)?;
    let mut summary = Summary::default();
    let stats = replay_capture(&mut capture, &mut kernel, tick, |interval| {
        step(&mut pipeline, &mut summary, &interval, on)
    })?
    .map_err(SessionError::Output)?;
    Ok(finish(&pipeline, summary, stats))
}

/// Replays a trace (`vantage run --record`): no kernel, no root.
pub fn replay_trace_file(
    path: &Path,
    config: &Config,
    inventory: Option<Inventory>,
    on: &mut dyn FnMut(Happening) -> Result<(), String>,
) -> Result<Summary, SessionError> {
    let open = || {
        std::fs::File::open(path)
            .map(std::io::BufReader::new)
            .map_err(|source| SessionError::TraceOpen {
                path: path.to_path_buf(),
                source,
            })
    };
    let mut reader = TraceReader::new(open()?);
    let named = |error: TraceError| SessionError::Trace {
        path: path.to_path_buf(),
        source: error,
    };
    let first = match reader.next_interval() {
        Some(interval) => interval.map_err(named)?,
        None => return Ok(finish_empty()),
    };
    let mut pipeline = pipeline(config, first.start, inventory)?;
    let mut summary = Summary::default();
    let mut stats = ReplayStats {
        first_at: crate::time::unix_seconds(first.start),
        ..ReplayStats::default()
    };
    let mut next = Some(Ok(first));
    while let Some(interval) = next {
        let interval: Interval = interval.map_err(named)?;
        stats.intervals += 1;
        stats.last_at = crate::time::unix_seconds(interval.end);
        step(&mut pipeline, &mut summary, &interval, on).map_err(SessionError::Output)?;
        next = reader.next_interval();
    }
    Ok(finish(&pipeline, summary, stats))
}

fn finish_empty() -> Summary {
    Summary {
        r#type: "summary",
        ..Summary::default()
    }
}

/// Reads the sensor's inventory file (`inventory.json` in its state
/// directory) for a replay; a missing file is an error here.
pub fn load_inventory(path: &Path) -> Result<Inventory, SessionError> {
    Inventory::load(path)?.ok_or_else(|| SessionError::TraceOpen {
        path: path.to_path_buf(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })
}

/// Reads a whole trace from any reader (for tests).
pub fn trace_intervals(input: impl BufRead) -> Result<Vec<Interval>, TraceError> {
    let mut reader = TraceReader::new(input);
    let mut out = Vec::new();
    while let Some(interval) = reader.next_interval() {
        out.push(interval?);
    }
    Ok(out)
}
