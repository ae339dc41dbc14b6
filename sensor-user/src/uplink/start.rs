//! Starting the uplink: open the spool (cutting a torn tail), begin a new
//! boot epoch, start the writer thread, and spawn the connection task.

use std::{path::PathBuf, sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;
use vantage_protocol::{KeyError, Sealer, SensorKey};

use super::{
    sendlog::{LogEntry, SendLog},
    spool::{Spool, SpoolError},
    writer::{self, SpoolHandle, WriterThread},
    UplinkOptions,
};
use crate::time::{unix_secs, Clock};

/// The uplink settings, resolved from `[uplink]`.
#[derive(Clone, Debug)]
pub struct UplinkSettings {
    pub connection: UplinkOptions,
    /// The sensor's signing key (PKCS#8, mode 0600).
    pub key: PathBuf,
    pub spool_dir: PathBuf,
    /// Bytes of pending envelopes the spool holds at most.
    pub spool_max_bytes: u64,
    pub heartbeat_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("sensor key: {0}")]
    Key(#[from] KeyError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("starting the spool writer thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// A running uplink.
#[derive(Debug)]
pub struct RunningUplink {
    /// Commits, acks and log entries go through this.
    pub spool: SpoolHandle,
    /// Join it after dropping every handle, to let queued writes finish.
    pub writer: WriterThread,
    /// This run's boot epoch.
    pub epoch: u32,
}

/// Opens the spool under `settings.spool_dir`, begins a new epoch, starts
/// the writer thread and spawns the connection task (which stops on `shutdown`).
pub fn start(
    settings: &UplinkSettings,
    clock: Arc<dyn Clock>,
    shutdown: &CancellationToken,
) -> Result<RunningUplink, StartError> {
    let key = SensorKey::load(&settings.key)?;
    let (mut spool, recovery) = Spool::open(&settings.spool_dir, settings.spool_max_bytes)?;
    let mut log = SendLog::open(&settings.spool_dir, clock.clone());
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
            ..LogEntry::event("torn")
        });
    }
    let now = u32::try_from(unix_secs(clock.now())).unwrap_or(u32::MAX);
    let (epoch, chain) = spool.begin_epoch(now)?;
    log::info!(
        "sensor {} boot epoch {epoch}; {} envelope(s) pending from before",
        key.public().sensor_id(),
        recovery.pending
    );
    log.write(&LogEntry {
        epoch: Some(epoch),
        detail: Some(format!("{} pending", recovery.pending)),
        ..LogEntry::event("epoch")
    });
    let sealer = Sealer::new(key, epoch, 1, chain.hash);
    let (handle, writer) = writer::start(spool, sealer, log).map_err(StartError::Thread)?;
    tokio::spawn(super::run(
        settings.connection.clone(),
        handle.clone(),
        clock,
        shutdown.clone(),
    ));
    Ok(RunningUplink {
        spool: handle,
        writer,
        epoch,
    })
}
