//! `vantage run`: load and attach the datapath, then drain events, refresh
//! the state file and retire expired blocks until told to stop.
//!
//! On SIGINT/SIGTERM the agent exits but leaves the program attached and its
//! maps pinned: counting goes on and blocks keep being enforced until they
//! expire. The next agent takes the attachment over; `vantage unload`
//! removes it.

use std::{
    collections::VecDeque,
    path::PathBuf,
    time::{Duration, Instant},
};

use tokio::io::unix::AsyncFd;
use tokio_util::sync::CancellationToken;

use crate::{
    agent_state::{self, AgentState, EventTotals, InterfaceState, RecentEvent},
    capabilities,
    clock::{self, unix_seconds},
    datapath::{AttachRequest, AttachedMode, Datapath, DatapathError, LoadOptions, PinLayout},
    events::{decode_event, DecodedEvent},
    heartbeat::{self, HeartbeatContext},
    outbox,
    sendlog::{LogEntry, SendLog},
    spool::{Spool, SpoolError},
    status,
    target::Cidr,
    uplink::{self, Outgoing, Shared, UplinkOptions},
};
use sensor_common::EventKind;
use vantage_protocol::{DatapathState, KeyError, Message, Sealer, SensorKey};

/// Recent events kept for `vantage status`.
const RECENT_EVENTS: usize = 32;
/// How often expired blocks are deleted (the kernel already ignores them).
const BLOCK_SWEEP_INTERVAL: Duration = Duration::from_secs(10);
/// How often the outbox of hand-raised alerts is checked.
const OUTBOX_INTERVAL: Duration = Duration::from_millis(200);

/// The uplink settings, resolved from `[uplink]`.
#[derive(Clone, Debug)]
pub struct AgentUplink {
    pub connection: UplinkOptions,
    pub key: PathBuf,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    pub heartbeat_interval: Duration,
}

/// Everything `run` needs, resolved from the config file and the command line.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    pub interfaces: Vec<String>,
    pub local_nets: Vec<Cidr>,
    pub allow: Vec<Cidr>,
    pub attach: AttachRequest,
    pub pins: PinLayout,
    pub state_dir: PathBuf,
    pub host_capacity: u32,
    pub events_enabled: bool,
    pub event_rate_per_cpu: u32,
    pub event_burst: u32,
    pub status_interval: Duration,
    /// `None`: no uplink, no spool, no heartbeats.
    pub uplink: Option<AgentUplink>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("no interface to attach to: give --iface or set sensor.interfaces")]
    NoInterfaces,
    #[error(transparent)]
    Datapath(#[from] DatapathError),
    #[error(transparent)]
    State(#[from] agent_state::StateFileError),
    #[error("watching the events ring buffer: {0}")]
    Events(#[source] std::io::Error),
    #[error("sensor key: {0}")]
    Key(#[from] KeyError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// Runs the agent until `shutdown` is cancelled.
pub async fn run(options: AgentOptions, shutdown: CancellationToken) -> Result<(), AgentError> {
    if options.interfaces.is_empty() {
        return Err(AgentError::NoInterfaces);
    }
    let mut datapath = Datapath::load(&LoadOptions {
        pins: Some(options.pins.clone()),
        host_capacity: options.host_capacity,
    })?;
    configure(&mut datapath, &options)?;

    let mut interfaces = Vec::new();
    for iface in &options.interfaces {
        let mode = datapath.attach(iface, options.attach)?;
        let mode = match mode {
            AttachedMode::Driver => "driver",
            AttachedMode::Generic => "generic",
            AttachedMode::Replaced => "replaced",
        };
        log::info!("attached to {iface} ({mode})");
        interfaces.push(InterfaceState {
            name: iface.clone(),
            mode: mode.to_owned(),
        });
    }
    let uplink = match &options.uplink {
        Some(settings) => Some(start_uplink(settings, &shutdown)?),
        None => None,
    };
    capabilities::drop_after_attach();

    let ring = datapath.take_events().ok_or_else(|| {
        AgentError::Events(std::io::Error::other("events ring buffer already taken"))
    })?;
    // SAFETY: the ring buffer owns its map descriptor, which stays open and
    // unchanged for as long as the `AsyncFd` holds it.
    let mut ring = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
        .map_err(|e| AgentError::Events(std::io::Error::other(e.to_string())))?;

    let now = unix_seconds(std::time::SystemTime::now());
    let mut state = AgentState {
        running: true,
        pid: std::process::id(),
        started_at: now,
        updated_at: now,
        interfaces,
        ..AgentState::default()
    };
    let mut recent: VecDeque<RecentEvent> = VecDeque::with_capacity(RECENT_EVENTS);
    publish(&options, &mut state, &recent)?;

    let mut status_tick = tokio::time::interval(options.status_interval);
    let mut sweep_tick = tokio::time::interval(BLOCK_SWEEP_INTERVAL);
    let heartbeat_every = options
        .uplink
        .as_ref()
        .map_or(Duration::from_secs(3600), |u| u.heartbeat_interval);
    let mut heartbeat_tick = tokio::time::interval(heartbeat_every);
    let mut outbox_tick = tokio::time::interval(OUTBOX_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            readable = ring.readable_mut() => {
                let mut guard = readable.map_err(AgentError::Events)?;
                let ring = guard.get_inner_mut();
                while let Some(record) = ring.next() {
                    record_event(&record, &mut state.events, &mut recent);
                }
                guard.clear_ready();
            }
            _ = status_tick.tick() => publish(&options, &mut state, &recent)?,
            _ = sweep_tick.tick() => {
                let removed = datapath.maps_mut().remove_expired_blocks(clock::monotonic_ns())?;
                if removed > 0 {
                    log::info!("removed {removed} expired block(s)");
                }
            }
            _ = heartbeat_tick.tick(), if uplink.is_some() => {
                if let Some(uplink) = &uplink {
                    let beat = heartbeat_now(&datapath, &state, uplink, heartbeat_every)?;
                    uplink.shared.commit(&[Message::Heartbeat(beat)])?;
                }
            }
            _ = outbox_tick.tick(), if uplink.is_some() => {
                if let Some(uplink) = &uplink {
                    drain_outbox(uplink)?;
                }
            }
        }
    }
    agent_state::remove_state(&options.state_dir);
    log::info!(
        "stopping; the XDP program stays attached and blocks stay enforced until they expire (`vantage unload` removes it)"
    );
    Ok(())
}

/// Writes protected prefixes, the configured allowlist and event limits into the maps.
fn configure(datapath: &mut Datapath, options: &AgentOptions) -> Result<(), DatapathError> {
    let maps = datapath.maps_mut();
    maps.set_local_nets(&options.local_nets)?;
    let now = clock::monotonic_ns();
    for net in &options.allow {
        maps.allow_add(net, now)?;
    }
    maps.set_events(
        options.events_enabled,
        options.event_rate_per_cpu,
        options.event_burst,
    )?;
    Ok(())
}

fn publish(
    options: &AgentOptions,
    state: &mut AgentState,
    recent: &VecDeque<RecentEvent>,
) -> Result<(), AgentError> {
    state.updated_at = unix_seconds(std::time::SystemTime::now());
    state.recent_events = recent.iter().cloned().collect();
    agent_state::write_state(&options.state_dir, state)?;
    Ok(())
}

fn record_event(record: &[u8], totals: &mut EventTotals, recent: &mut VecDeque<RecentEvent>) {
    let event = match decode_event(record) {
        Ok(event) => event,
        Err(e) => {
            totals.undecodable += 1;
            log::warn!("undecodable event: {e}");
            return;
        }
    };
    match event.kind {
        EventKind::TcpSyn => totals.tcp_syn += 1,
        EventKind::UdpNewPeer => totals.udp_new_peer += 1,
        EventKind::DnsQuery => totals.dns_query += 1,
    }
    if recent.len() == RECENT_EVENTS {
        recent.pop_front();
    }
    recent.push_back(recent_event(&event));
}

fn recent_event(event: &DecodedEvent) -> RecentEvent {
    RecentEvent {
        at: clock::to_system_time(event.timestamp_ns)
            .map(unix_seconds)
            .unwrap_or(0.0),
        kind: event.kind.name().to_owned(),
        src: event.src.to_string(),
        dst: event.dst.to_string(),
        protocol: event.protocol,
        src_port: event.src_port,
        dst_port: event.dst_port,
        qname: event.qname.clone(),
        dropped: event.dropped,
    }
}

/// The running uplink as the agent sees it.
struct UplinkRuntime {
    shared: Shared,
    spool_dir: PathBuf,
    started: Instant,
}

/// Opens the spool (recovering a torn tail), starts a new boot epoch and
/// spawns the uplink task.
fn start_uplink(
    settings: &AgentUplink,
    shutdown: &CancellationToken,
) -> Result<UplinkRuntime, AgentError> {
    let key = SensorKey::load(&settings.key)?;
    let (mut spool, recovery) = Spool::open(&settings.spool_dir, settings.spool_max_bytes)?;
    let mut log = SendLog::open(&settings.spool_dir);
    if recovery.torn_records > 0 {
        log::warn!(
            "spool {}: cut off a torn tail of {} bytes (a record that was never committed)",
            spool.path().display(),
            recovery.torn_bytes
        );
        log.write(&LogEntry {
            bytes: Some(recovery.torn_bytes),
            detail: Some(format!(
                "{} record cut off at recovery",
                recovery.torn_records
            )),
            ..LogEntry::now("torn")
        });
    }
    let (epoch, chain) = spool.begin_epoch()?;
    log::info!(
        "sensor {} boot epoch {epoch}; {} envelope(s) pending from before",
        key.public().sensor_id(),
        recovery.pending
    );
    log.write(&LogEntry {
        epoch: Some(epoch),
        detail: Some(format!("{} pending", recovery.pending)),
        ..LogEntry::now("epoch")
    });
    let sealer = Sealer::new(key, epoch, 1, chain.hash);
    let shared = Shared::new(Outgoing { sealer, spool, log });
    tokio::spawn(uplink::run(
        settings.connection.clone(),
        shared.clone(),
        shutdown.clone(),
    ));
    Ok(UplinkRuntime {
        shared,
        spool_dir: settings.spool_dir.clone(),
        started: Instant::now(),
    })
}

fn heartbeat_now(
    datapath: &Datapath,
    state: &AgentState,
    uplink: &UplinkRuntime,
    interval: Duration,
) -> Result<vantage_protocol::Heartbeat, AgentError> {
    let maps = datapath.maps();
    let site = status::merge_site(&maps.site_per_cpu()?);
    let hosts = u32::try_from(maps.hosts()?.len()).unwrap_or(u32::MAX);
    let (spool_pending, spool) = {
        let outgoing = uplink.shared.lock();
        (
            u32::try_from(outgoing.spool.pending_len()).unwrap_or(u32::MAX),
            outgoing.spool.counters(),
        )
    };
    let attach = if state.interfaces.iter().all(|i| i.mode == "generic") {
        DatapathState::Generic
    } else {
        DatapathState::Driver
    };
    Ok(heartbeat::build(
        &site,
        &HeartbeatContext {
            now_unix: clock::unix_now_secs(),
            uptime_secs: u32::try_from(uplink.started.elapsed().as_secs()).unwrap_or(u32::MAX),
            interval_secs: u32::try_from(interval.as_secs()).unwrap_or(u32::MAX),
            datapath: attach,
            interfaces: u8::try_from(state.interfaces.len()).unwrap_or(u8::MAX),
            hosts,
            spool_pending,
            spool,
            events_lost: site.events.rate_limited + site.events.ring_full,
        },
    ))
}

/// Signs and commits the alerts waiting in the outbox in one spool commit,
/// then removes their files; unusable requests are moved aside.
fn drain_outbox(uplink: &UplinkRuntime) -> Result<(), AgentError> {
    let now = clock::unix_now_secs();
    let mut alerts = Vec::new();
    let mut taken = Vec::new();
    for (path, request) in outbox::waiting(&uplink.spool_dir) {
        match request.and_then(|request| request.to_alert(now)) {
            Ok(alert) => {
                alerts.push(Message::Alert(alert));
                taken.push(path);
            }
            Err(error) => {
                log::warn!("{}: {error}; moved aside", path.display());
                if let Err(error) = outbox::reject(&path) {
                    log::warn!("moving {} aside: {error}", path.display());
                }
            }
        }
    }
    if alerts.is_empty() {
        return Ok(());
    }
    uplink.shared.commit(&alerts)?;
    for path in taken {
        if let Err(error) = outbox::remove(&path) {
            log::warn!("removing {}: {error}", path.display());
        }
    }
    Ok(())
}
