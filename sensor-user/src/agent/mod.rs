//! `vantage run`, the daemon: source -> pipeline -> sinks. Each tick it
//! reads the counter maps and the events drained meanwhile into an
//! [`Interval`](crate::sample::Interval), steps the [`Pipeline`], and applies
//! what comes out: the state file, heartbeats and alerts into the spool.
//! Expired blocks are swept and hand-raised alerts picked up on their own
//! timers.
//!
//! Loading and attaching the program are fatal; every later failure (a full
//! disk under the state file, a spool write, a map read) is a fault: logged,
//! counted, retried on the next tick, and reported in the state file and in
//! heartbeats (see [`faults`]).
//!
//! On SIGINT/SIGTERM the agent exits but leaves the program attached and its
//! maps pinned: counting goes on and blocks keep being enforced until they
//! expire. The next agent takes the attachment over; `vantage unload`
//! removes it.

pub mod capabilities;
pub mod detection;
pub mod faults;
pub mod offloads;
mod outbox;
pub mod own_traffic;
mod publish;
mod self_test;
mod startup;
pub mod state_file;
pub mod watch;

use std::{path::PathBuf, sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;
use vantage_protocol::Message;

use crate::{
    config::AttachMode,
    datapath::{Datapath, DatapathError, EventStream, PinLayout},
    net::Cidr,
    pipeline::{Pipeline, PipelineOptions},
    report::{
        agent_state::AgentState,
        heartbeat::{self},
        sight::SightReport,
    },
    sample::{Event, Sampler},
    time::{unix_seconds, Clock},
    uplink::{self, RunningUplink, UplinkSettings},
    visibility::Declaration,
};
use detection::{DetectionFiles, DetectionSettings};
use faults::{FaultKind, Faults};
use watch::Watch;

/// How often expired blocks are deleted (the kernel already ignores them).
const BLOCK_SWEEP_INTERVAL: Duration = Duration::from_secs(10);
/// How often the outbox of hand-raised alerts is checked.
const OUTBOX_INTERVAL: Duration = Duration::from_millis(200);
/// How often the allocator's freed pages go back to the kernel.
const MEMORY_TRIM_INTERVAL: Duration = Duration::from_secs(60);
/// Events held between two ticks at most; more are counted and dropped.
const MAX_EVENTS_PER_TICK: usize = 100_000;

/// Everything `run` needs, resolved from the config file and the command line.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    pub interfaces: Vec<String>,
    pub local_nets: Vec<Cidr>,
    pub allow: Vec<Cidr>,
    pub attach: AttachMode,
    pub pins: PinLayout,
    pub state_dir: PathBuf,
    pub host_capacity: u32,
    pub events_enabled: bool,
    pub event_rate_per_cpu: u32,
    pub event_burst: u32,
    /// Tunnels the program opens.
    pub decapsulate: Vec<sensor_common::EncapKind>,
    /// A duplicate frame counts once for its hosts.
    pub skip_duplicates: bool,
    /// How often the maps are sampled and the state file refreshed.
    pub status_interval: Duration,
    /// `None`: no uplink, no spool, no heartbeats.
    pub uplink: Option<UplinkSettings>,
    /// What the site is declared to be (`[site]`).
    pub site: crate::config::SiteConfig,
    /// The detectors and the rules of engagement; `None` when
    /// `detect.enabled` is off.
    pub detection: Option<DetectionSettings>,
}

/// Why the agent could not start. Nothing after start-up ends it.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("no interface to attach to: give --iface or set sensor.interfaces")]
    NoInterfaces,
    #[error(transparent)]
    Datapath(#[from] DatapathError),
    #[error("watching the events ring buffer: {0}")]
    Events(#[source] std::io::Error),
    #[error(transparent)]
    Uplink(#[from] uplink::StartError),
    #[error("{}: another `vantage run` holds this lock; stop it first (two agents would fight over the same links and spool)", path.display())]
    AlreadyRunning { path: PathBuf },
    #[error("response.timezone: {0}")]
    TimeZone(#[from] crate::config::TimeZoneError),
    #[error("{}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The agent between ticks.
struct Agent {
    options: AgentOptions,
    clock: Arc<dyn Clock>,
    datapath: Datapath,
    sampler: Sampler,
    pipeline: Pipeline,
    faults: Faults,
    state: AgentState,
    /// Events drained since the last tick.
    events: Vec<Event>,
    events_overflow: u64,
    uplink: Option<RunningUplink>,
    /// Ack-record failures already counted as faults.
    ack_failures_seen: u64,
    /// The attached interfaces, the machine's own traffic and the
    /// self-test, measured every tick for the judge.
    watch: Watch,
    /// The files and effects of the detection stage, when detection is on.
    detect_files: Option<DetectionFiles>,
    /// When the allocator's free pages are next handed back.
    next_trim: std::time::SystemTime,
}

/// Runs the agent until `shutdown` is cancelled.
pub async fn run(
    options: AgentOptions,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> Result<(), AgentError> {
    if options.interfaces.is_empty() {
        return Err(AgentError::NoInterfaces);
    }
    let _instance = state_file::lock_instance(&options.state_dir).map_err(|error| match error {
        state_file::LockError::Held(path) => AgentError::AlreadyRunning { path },
        state_file::LockError::Io(path, source) => AgentError::Lock { path, source },
    })?;
    // A start that fails leaves no pins behind unless something was pinned
    // there before (an earlier agent's datapath keeps running, as it would
    // have; pins it does not understand are left for the operator).
    let fresh = options.pins.is_empty();
    let started = startup::load_and_attach(&options, clock.as_ref());
    let (mut datapath, interfaces, attached) = match started {
        Ok(started) => started,
        Err(error) => {
            if fresh {
                if let Err(cleanup) = crate::datapath::unload(&options.pins) {
                    log::warn!("removing the pins of the failed start: {cleanup}");
                }
                for (iface, restored) in offloads::restore(&options.state_dir) {
                    if let Err(error) = restored {
                        log::warn!("{iface}: could not turn GRO/LRO back on: {error}");
                    }
                }
            }
            return Err(error);
        }
    };
    let uplink = match &options.uplink {
        Some(settings) => Some(uplink::start(settings, clock.clone(), &shutdown)?),
        None => None,
    };
    capabilities::drop_after_attach();
    let mut events = datapath
        .take_events()
        .ok_or_else(|| {
            AgentError::Events(std::io::Error::other("events ring buffer already taken"))
        })?
        .into_stream()
        .map_err(AgentError::Events)?;

    let now = clock.now();
    let sampler = Sampler::starting_from(&datapath.snapshot()?, now);
    let mut faults = Faults::default();
    let (stage, detect_files) = match &options.detection {
        Some(settings) => {
            let site = detection::site_of(
                &options.local_nets,
                &options.site,
                options
                    .uplink
                    .as_ref()
                    .map(|u| u.connection.collector.as_str()),
            );
            let (stage, files) = detection::start(
                settings,
                site,
                &options.allow,
                options.site.mode,
                &options.state_dir,
                &mut faults,
                now,
            )?;
            (Some(stage), Some(files))
        }
        None => (None, None),
    };
    let pipeline = Pipeline::new(
        PipelineOptions {
            heartbeat_interval: options.uplink.as_ref().map(|u| u.heartbeat_interval),
            declaration: Declaration::new(&options.site, &options.local_nets)
                .skipping_duplicates(options.skip_duplicates),
            detection: stage,
        },
        now,
    );
    let watch = Watch::new(attached).with_self_test(startup::self_tester(&options, now));
    let tick_every = match &options.uplink {
        Some(settings) => options.status_interval.min(settings.heartbeat_interval),
        None => options.status_interval,
    };
    let mut agent = Agent {
        state: AgentState {
            running: true,
            pid: std::process::id(),
            started_at: unix_seconds(now),
            updated_at: unix_seconds(now),
            interfaces,
            ..AgentState::default()
        },
        options,
        clock,
        datapath,
        sampler,
        pipeline,
        faults,
        events: Vec::new(),
        events_overflow: 0,
        uplink,
        ack_failures_seen: 0,
        watch,
        detect_files,
        next_trim: now + MEMORY_TRIM_INTERVAL,
    };
    let mut tick = tokio::time::interval(tick_every);
    let mut sweep = tokio::time::interval(BLOCK_SWEEP_INTERVAL);
    let mut outbox_tick = tokio::time::interval(OUTBOX_INTERVAL);
    for timer in [&mut tick, &mut sweep, &mut outbox_tick] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = agent.drain_events(&mut events) => {}
            _ = tick.tick() => agent.tick().await,
            _ = sweep.tick() => agent.sweep_blocks(),
            _ = outbox_tick.tick(), if agent.uplink.is_some() => agent.drain_outbox().await,
        }
    }
    if let (Some(files), Some(stage)) = (&mut agent.detect_files, agent.pipeline.detection()) {
        files.save_inventory(stage, &mut agent.faults, agent.clock.now());
    }
    state_file::remove_state(&agent.options.state_dir);
    log::info!(
        "stopping; the XDP program stays attached and blocks stay enforced until they expire (`vantage unload` removes it)"
    );
    if let Some(uplink) = agent.uplink.take() {
        drop(uplink.spool);
        // Let the writer finish what is queued (acks, log lines) off the runtime.
        let _ = tokio::task::spawn_blocking(move || uplink.writer.join()).await;
    }
    Ok(())
}

impl Agent {
    /// Waits for events and keeps them for the next tick.
    async fn drain_events(&mut self, stream: &mut EventStream) {
        match stream.next_batch(&mut self.events).await {
            Ok(undecodable) => {
                self.faults.succeeded(FaultKind::Events);
                self.pipeline.count_undecodable(undecodable);
            }
            Err(error) => {
                self.faults
                    .failed(FaultKind::Events, &error, self.clock.now());
                // Do not spin on a broken descriptor.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if self.events.len() > MAX_EVENTS_PER_TICK {
            let excess = self.events.len() - MAX_EVENTS_PER_TICK;
            self.events.truncate(MAX_EVENTS_PER_TICK);
            self.events_overflow += excess as u64;
        }
    }

    /// One step: sample, run the pipeline, apply its outputs, publish state.
    async fn tick(&mut self) {
        let now = self.clock.now();
        let reading = self.datapath.snapshot();
        if let Some(reading) = self.faults.check(FaultKind::Snapshot, reading, now) {
            let events = std::mem::take(&mut self.events);
            let interval = self
                .sampler
                .next(reading, events, now, self.clock.monotonic_ns());
            self.watch.self_test_tick(&interval, now);
            let surroundings = self.watch.surroundings();
            if let Some(files) = &mut self.detect_files {
                files.record(&interval, &mut self.faults, now);
                self.note_blocked_hosts();
            }
            let outputs = self
                .pipeline
                .step(&interval, &surroundings, self.watch.self_test(), now);
            self.state.sight = Some(SightReport::of(&outputs.sight));
            self.state.self_test = self.watch.self_test_report();
            let mut messages: Vec<Message> =
                outputs.alerts.into_iter().map(Message::Alert).collect();
            if let (Some(files), Some(stage)) =
                (&mut self.detect_files, self.pipeline.detection_mut())
            {
                messages.extend(files.apply(
                    &outputs.detection,
                    stage,
                    &mut self.datapath,
                    self.clock.monotonic_ns(),
                    &mut self.faults,
                    now,
                ));
                files.maintain(stage, &mut self.faults, now);
                self.state.detection = Some(stage.stats());
            }
            if now >= self.next_trim {
                // The detectors evict and refill their tables all the time:
                // give the freed pages back once a minute.
                self.next_trim = now + MEMORY_TRIM_INTERVAL;
                crate::sys::release_free_memory();
            }
            if outputs.heartbeat_due {
                let beat = heartbeat::build(outputs.sight, &self.health(&interval, now));
                let detection = self.pipeline.detection().map(|stage| stage.stats());
                messages.push(heartbeat::message(beat, detection.as_ref()));
            }
            if !messages.is_empty() {
                self.commit(messages).await;
            }
        }
        self.note_ack_failures(now);
        self.publish(now).await;
    }

    /// Commits messages to the spool; a failure is a spool fault.
    async fn commit(&mut self, messages: Vec<Message>) -> bool {
        let Some(uplink) = &self.uplink else {
            return false;
        };
        let result = uplink.spool.commit(messages).await;
        self.faults
            .check(FaultKind::Spool, result, self.clock.now())
            .is_some()
    }

    /// Ack records the writer failed to append count as spool faults.
    fn note_ack_failures(&mut self, now: std::time::SystemTime) {
        let Some(uplink) = &self.uplink else {
            return;
        };
        let failures = uplink.spool.view().status().ack_failures;
        for _ in self.ack_failures_seen..failures {
            self.faults
                .failed(FaultKind::Spool, &"an ack record could not be written", now);
        }
        self.ack_failures_seen = failures;
    }

    /// Tells the pipeline which hosts the kernel blocks now (a read
    /// failure is a block-sweep fault; the policy then knows only its own).
    fn note_blocked_hosts(&mut self) {
        let blocks = self.datapath.maps().blocks();
        if let Some(blocks) = self
            .faults
            .check(FaultKind::BlockSweep, blocks, self.clock.now())
        {
            self.pipeline.note_blocked(blocks.into_iter().filter_map(
                |record| match record.target {
                    crate::net::BlockTarget::Host(ip) => Some(ip),
                    _ => None,
                },
            ));
        }
    }

    fn sweep_blocks(&mut self) {
        let removed = self
            .datapath
            .maps_mut()
            .remove_expired_blocks(self.clock.monotonic_ns());
        if let Some(removed) = self
            .faults
            .check(FaultKind::BlockSweep, removed, self.clock.now())
        {
            if removed > 0 {
                log::info!("removed {removed} expired block(s)");
            }
        }
    }
}
