//! The spool's writer thread: one thread owns the spool file, the signer and
//! the uplink log, and does every sync, ack record and compaction there, fed
//! by a channel (as the collector's storage thread is). The async side never
//! blocks on the disk: it sends requests and awaits replies.
//!
//! What the uplink session needs to read (the pending envelopes, in order)
//! and what heartbeats report (counts, counters) is mirrored in a
//! [`SpoolView`] that the writer updates after each change; readers hold its
//! lock only to copy a few fields or one `Arc`.

use std::{
    collections::BTreeMap,
    sync::{mpsc, Arc, Mutex, MutexGuard},
    thread::JoinHandle,
};

use tokio::sync::{oneshot, Notify};
use vantage_protocol::{keys::hex_encode, Message, RejectReason, Sealer};

use super::{
    sendlog::{LogEntry, SendLog},
    spool::{CommitReport, Rank, Spool, SpoolCounters, SpoolError},
};

/// A pending envelope's place in the chain: (boot epoch, sequence). Sorting
/// by it is commit order.
pub type Position = (u32, u64);

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("the spool writer thread has stopped")]
    Stopped,
}

/// What the writer's mirror shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolStatus {
    /// Envelopes waiting for an ack, and their bytes.
    pub pending: usize,
    pub pending_bytes: u64,
    /// Evictions and torn tails, kept across restarts.
    pub counters: SpoolCounters,
    /// Ack records the writer failed to append since it started (each is
    /// sent again after a reconnect and answered "duplicate").
    pub ack_failures: u64,
}

/// How the connection to the collector stands, as the session last said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkState {
    /// A TLS session with the collector is up.
    pub connected: bool,
    /// Why the last session ended or could not start.
    pub last_error: Option<String>,
    /// Acks received since the agent started.
    pub acks: u64,
}

#[derive(Debug, Default)]
struct ViewState {
    pending: BTreeMap<Position, Arc<[u8]>>,
    status: SpoolStatus,
    link: LinkState,
}

/// The writer's mirror of the spool, for readers on other threads.
#[derive(Debug, Default)]
pub struct SpoolView {
    state: Mutex<ViewState>,
}

impl SpoolView {
    fn lock(&self) -> MutexGuard<'_, ViewState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The first pending envelope after `cursor` (all of them from the start
    /// when `None`), in commit order.
    pub fn next_after(&self, cursor: Option<Position>) -> Option<(Position, Arc<[u8]>)> {
        let state = self.lock();
        let mut range = match cursor {
            Some(position) => state.pending.range((
                std::ops::Bound::Excluded(position),
                std::ops::Bound::Unbounded,
            )),
            None => state.pending.range(..),
        };
        range
            .next()
            .map(|(position, bytes)| (*position, bytes.clone()))
    }

    /// Counts and counters as of the writer's last change.
    pub fn status(&self) -> SpoolStatus {
        self.lock().status
    }

    /// How the connection to the collector stands.
    pub fn link(&self) -> LinkState {
        self.lock().link.clone()
    }

    /// Records that a session came up (`Ok`) or ended (`Err` with why).
    pub fn set_link(&self, outcome: Result<(), String>) {
        let mut state = self.lock();
        match outcome {
            Ok(()) => state.link.connected = true,
            Err(error) => {
                state.link.connected = false;
                state.link.last_error = Some(error);
            }
        }
    }

    fn sync_from(&self, spool: &Spool) {
        let mut state = self.lock();
        state.status.pending = spool.pending_len();
        state.status.pending_bytes = spool.pending_bytes();
        state.status.counters = spool.counters();
    }
}

enum Request {
    Commit {
        messages: Vec<Message>,
        reply: oneshot::Sender<Result<CommitReport, SpoolError>>,
    },
    Ack {
        position: Position,
        duplicate: bool,
    },
    Reject {
        position: Position,
        reason: RejectReason,
    },
    Log(LogEntry),
}

/// The handle everyone else holds; cheap to clone.
#[derive(Clone, Debug)]
pub struct SpoolHandle {
    requests: mpsc::Sender<Request>,
    view: Arc<SpoolView>,
    wake: Arc<Notify>,
}

/// The writer thread; [`WriterThread::join`] waits for it to finish what was
/// sent before every handle was dropped.
#[derive(Debug)]
pub struct WriterThread {
    thread: JoinHandle<()>,
}

impl WriterThread {
    /// Waits for the writer to drain its queue and stop (all handles dropped).
    pub fn join(self) {
        if self.thread.join().is_err() {
            log::error!("the spool writer thread panicked");
        }
    }
}

/// Starts the writer thread over an opened spool.
pub fn start(
    spool: Spool,
    sealer: Sealer,
    log: SendLog,
) -> std::io::Result<(SpoolHandle, WriterThread)> {
    let (requests, inbox) = mpsc::channel();
    let view = Arc::new(SpoolView::default());
    {
        let mut state = view.lock();
        state.pending = spool
            .pending()
            .map(|p| ((p.epoch, p.seq), Arc::<[u8]>::from(p.bytes.as_slice())))
            .collect();
    }
    view.sync_from(&spool);
    let wake = Arc::new(Notify::new());
    let mut writer = Writer {
        spool,
        sealer,
        log,
        view: view.clone(),
        wake: wake.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("spool-writer".to_owned())
        .spawn(move || {
            while let Ok(request) = inbox.recv() {
                writer.handle(request);
            }
        })?;
    Ok((
        SpoolHandle {
            requests,
            view,
            wake,
        },
        WriterThread { thread },
    ))
}

impl SpoolHandle {
    /// Signs, spools and syncs `messages` on the writer thread; when this
    /// returns `Ok` they are committed (or, for lack of room, reported as
    /// refused). The caller's thread never waits on the disk.
    pub async fn commit(&self, messages: Vec<Message>) -> Result<CommitReport, WriterError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Commit { messages, reply })
            .map_err(|_| WriterError::Stopped)?;
        Ok(answer.await.map_err(|_| WriterError::Stopped)??)
    }

    /// [`SpoolHandle::commit`] for callers outside an async runtime.
    pub fn commit_blocking(&self, messages: Vec<Message>) -> Result<CommitReport, WriterError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Commit { messages, reply })
            .map_err(|_| WriterError::Stopped)?;
        Ok(answer.blocking_recv().map_err(|_| WriterError::Stopped)??)
    }

    /// The collector acknowledged the envelope at `position` (`duplicate`:
    /// it already held it). Recorded without a sync: a lost ack record only
    /// means the envelope is sent again.
    pub fn acked(&self, position: Position, duplicate: bool) {
        let _ = self.requests.send(Request::Ack {
            position,
            duplicate,
        });
    }

    /// The collector refused the envelope at `position` for good (a conflict
    /// or a malformed envelope): it is dropped, counted and logged, so that
    /// what follows it is still delivered.
    pub fn rejected(&self, position: Position, reason: RejectReason) {
        let _ = self.requests.send(Request::Reject { position, reason });
    }

    /// Appends `entry` to the uplink log (on the writer thread).
    pub fn log(&self, entry: LogEntry) {
        let _ = self.requests.send(Request::Log(entry));
    }

    /// The writer's mirror of the spool.
    pub fn view(&self) -> &SpoolView {
        &self.view
    }

    /// Waits until something new was committed.
    pub async fn committed(&self) {
        self.wake.notified().await;
    }
}

struct Writer {
    spool: Spool,
    sealer: Sealer,
    log: SendLog,
    view: Arc<SpoolView>,
    wake: Arc<Notify>,
}

impl Writer {
    fn handle(&mut self, request: Request) {
        match request {
            Request::Commit { messages, reply } => {
                let result = self.commit(&messages);
                if result.is_ok() {
                    self.wake.notify_one();
                }
                let _ = reply.send(result);
            }
            Request::Ack {
                position,
                duplicate,
            } => self.ack(position, duplicate),
            Request::Reject { position, reason } => self.reject(position, reason),
            Request::Log(entry) => self.log.write(&entry),
        }
    }

    fn commit(&mut self, messages: &[Message]) -> Result<CommitReport, SpoolError> {
        let batch: Vec<_> = messages
            .iter()
            .map(|message| (self.sealer.seal(message), Rank::of(message)))
            .collect();
        let report = self.spool.commit(&batch)?;
        {
            let mut state = self.view.lock();
            for &(epoch, seq, _) in &report.evicted {
                state.pending.remove(&(epoch, seq));
            }
            for (sealed, _) in &batch {
                let position = (sealed.epoch, sealed.seq);
                if !report.refused.iter().any(|&(e, s, _)| (e, s) == position) {
                    state
                        .pending
                        .insert(position, Arc::from(sealed.bytes.as_slice()));
                }
            }
        }
        self.view.sync_from(&self.spool);
        for ((sealed, rank), message) in batch.iter().zip(messages) {
            let refused = report
                .refused
                .iter()
                .any(|&(epoch, seq, _)| (epoch, seq) == (sealed.epoch, sealed.seq));
            let severity = match message {
                Message::Alert(alert) => alert.severity.name().to_owned(),
                _ => rank.name().to_owned(),
            };
            self.log.write(&LogEntry {
                epoch: Some(sealed.epoch),
                seq: Some(sealed.seq),
                kind: Some(message.kind_name().to_owned()),
                severity: Some(severity),
                hash: Some(hex_encode(&sealed.hash)),
                bytes: Some(sealed.bytes.len() as u64),
                // A heartbeat with detection on: what the rate caps held back.
                detail: message
                    .detection_health()
                    .map(|detection| format!("detection {detection}")),
                ..LogEntry::event(if refused { "refused" } else { "committed" })
            });
        }
        for &(epoch, seq, rank) in &report.evicted {
            self.log.write(&LogEntry {
                epoch: Some(epoch),
                seq: Some(seq),
                severity: Some(rank.name().to_owned()),
                ..LogEntry::event("evicted")
            });
        }
        if !report.evicted.is_empty() || !report.refused.is_empty() {
            log::warn!(
                "spool full ({} bytes): evicted {}, refused {} new",
                self.spool.max_bytes(),
                report.evicted.len(),
                report.refused.len()
            );
        }
        Ok(report)
    }

    fn ack(&mut self, (epoch, seq): Position, duplicate: bool) {
        // The spool forgets the envelope even when its ack record fails to
        // reach the file; it is then sent again after a restart.
        let result = self.spool.ack(epoch, seq);
        {
            let mut state = self.view.lock();
            state.pending.remove(&(epoch, seq));
            if let Err(error) = &result {
                log::warn!("recording the ack of {epoch}/{seq}: {error}");
                state.status.ack_failures += 1;
            }
        }
        {
            let mut state = self.view.lock();
            state.link.acks += 1;
        }
        self.view.sync_from(&self.spool);
        self.log.write(&LogEntry {
            epoch: Some(epoch),
            seq: Some(seq),
            ..LogEntry::event(if duplicate { "duplicate" } else { "acked" })
        });
    }

    fn reject(&mut self, (epoch, seq): Position, reason: RejectReason) {
        log::warn!(
            "the collector refused envelope {epoch}/{seq} for good ({}); dropped from the spool",
            reason.name()
        );
        if let Err(error) = self.spool.reject(epoch, seq) {
            log::warn!("recording the refusal of {epoch}/{seq}: {error}");
            self.view.lock().status.ack_failures += 1;
        }
        self.view.lock().pending.remove(&(epoch, seq));
        self.view.sync_from(&self.spool);
        self.log.write(&LogEntry {
            epoch: Some(epoch),
            seq: Some(seq),
            detail: Some(reason.name().to_owned()),
            ..LogEntry::event("dropped")
        });
    }
}

#[cfg(test)]
mod tests;
