//! The uplink: signs what the agent wants to say, commits it to the spool,
//! and keeps one outgoing TLS connection to the collector through which every
//! pending envelope is sent until it is acknowledged.
//!
//! Nothing listens on the sensor: it always dials out. After a failure it
//! waits with exponential backoff (with jitter) and, once reconnected, sends
//! everything still pending from the start; the collector answers envelopes
//! it already holds with "duplicate", so each arrives exactly once in its
//! store.

pub mod tls;

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    sync::Notify,
};
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;
use vantage_protocol::{frame, keys::hex_encode, Ack, AckOutcome, Message, RejectReason, Sealer};

use crate::{
    sendlog::{LogEntry, SendLog},
    spool::{CommitReport, Rank, Spool, SpoolError},
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of frames written before the writer yields to read acks.
const WRITE_BATCH: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS with {addr}: {source}")]
    Tls {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid collector server name {0:?}")]
    ServerName(String),
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("collector sent a bad ack: {0}")]
    BadAck(#[from] vantage_protocol::DecodeError),
    #[error("collector refused envelope {epoch}/{seq}: {}", reason.name())]
    Rejected {
        epoch: u32,
        seq: u64,
        reason: RejectReason,
    },
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// Where and how to reach the collector.
#[derive(Clone, Debug)]
pub struct UplinkOptions {
    /// `host:port`.
    pub collector: String,
    pub server_name: String,
    pub tls: Arc<rustls::ClientConfig>,
    pub retry_min: Duration,
    pub retry_max: Duration,
}

/// The signer, the spool and the log, shared by the agent and the uplink task.
#[derive(Debug)]
pub struct Outgoing {
    pub sealer: Sealer,
    pub spool: Spool,
    pub log: SendLog,
}

impl Outgoing {
    /// Signs, spools and syncs `messages`; when this returns `Ok` they are
    /// committed (or, for lack of room, reported as refused).
    pub fn commit(&mut self, messages: &[Message]) -> Result<CommitReport, SpoolError> {
        let batch: Vec<_> = messages
            .iter()
            .map(|message| (self.sealer.seal(message), Rank::of(message)))
            .collect();
        let report = self.spool.commit(&batch)?;
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
                ..LogEntry::now(if refused { "refused" } else { "committed" })
            });
        }
        for &(epoch, seq, rank) in &report.evicted {
            self.log.write(&LogEntry {
                epoch: Some(epoch),
                seq: Some(seq),
                severity: Some(rank.name().to_owned()),
                ..LogEntry::now("evicted")
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
}

/// Handle shared between the agent (which commits) and the uplink task.
#[derive(Debug, Clone)]
pub struct Shared {
    outgoing: Arc<Mutex<Outgoing>>,
    wake: Arc<Notify>,
}

impl Shared {
    pub fn new(outgoing: Outgoing) -> Shared {
        Shared {
            outgoing: Arc::new(Mutex::new(outgoing)),
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Outgoing> {
        // A panic while holding the lock cannot leave the spool half-written
        // in memory in a way later calls would misread; keep going.
        self.outgoing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Commits and wakes the uplink.
    pub fn commit(&self, messages: &[Message]) -> Result<CommitReport, SpoolError> {
        let report = self.lock().commit(messages)?;
        self.wake.notify_one();
        Ok(report)
    }
}

/// Exponential backoff with ±20 % jitter.
#[derive(Debug)]
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            next: min,
        }
    }

    fn reset(&mut self) {
        self.next = self.min;
    }

    fn step(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        // 0.8 .. 1.2 of the base, from the clock's low bits.
        let factor = 0.8 + f64::from(nanos % 1000) / 2500.0;
        base.mul_f64(factor)
    }
}

/// Runs the uplink until `shutdown`.
pub async fn run(options: UplinkOptions, shared: Shared, shutdown: CancellationToken) {
    let mut backoff = Backoff::new(options.retry_min, options.retry_max);
    loop {
        let mut acked_any = false;
        let result = tokio::select! {
            () = shutdown.cancelled() => return,
            result = session(&options, &shared, &mut acked_any) => result,
        };
        if acked_any {
            backoff.reset();
        }
        let detail = match result {
            Ok(()) => "collector closed the connection".to_owned(),
            Err(error) => error.to_string(),
        };
        let wait = backoff.step();
        log::warn!(
            "uplink to {}: {detail}; retrying in {wait:.1?}",
            options.collector
        );
        shared.lock().log.write(&LogEntry {
            detail: Some(detail),
            ..LogEntry::now("disconnected")
        });
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn session(
    options: &UplinkOptions,
    shared: &Shared,
    acked_any: &mut bool,
) -> Result<(), UplinkError> {
    let addr = options.collector.clone();
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
        .await
        .map_err(|_| UplinkError::Connect {
            addr: addr.clone(),
            source: std::io::ErrorKind::TimedOut.into(),
        })?
        .map_err(|source| UplinkError::Connect {
            addr: addr.clone(),
            source,
        })?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from(options.server_name.clone())
        .map_err(|_| UplinkError::ServerName(options.server_name.clone()))?;
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TlsConnector::from(options.tls.clone()).connect(name, tcp),
    )
    .await
    .map_err(|_| UplinkError::Tls {
        addr: addr.clone(),
        source: std::io::ErrorKind::TimedOut.into(),
    })?
    .map_err(|source| UplinkError::Tls {
        addr: addr.clone(),
        source,
    })?;
    log::info!("uplink connected to {addr}");
    shared.lock().log.write(&LogEntry {
        detail: Some(addr.clone()),
        ..LogEntry::now("connected")
    });
    let (mut reader, mut writer) = tokio::io::split(stream);

    let send = async {
        let mut cursor = None;
        let mut frames = Vec::with_capacity(WRITE_BATCH + 1024);
        loop {
            frames.clear();
            {
                let mut outgoing = shared.lock();
                let mut sent = Vec::new();
                while frames.len() < WRITE_BATCH {
                    let Some((order, pending)) = outgoing.spool.next_pending(cursor) else {
                        break;
                    };
                    frame::push_frame(&mut frames, &pending.bytes)?;
                    sent.push((pending.epoch, pending.seq, pending.bytes.len()));
                    cursor = Some(order);
                }
                for (epoch, seq, bytes) in sent {
                    outgoing.log.write(&LogEntry {
                        epoch: Some(epoch),
                        seq: Some(seq),
                        bytes: Some(bytes as u64),
                        ..LogEntry::now("sent")
                    });
                }
            }
            if frames.is_empty() {
                shared.wake.notified().await;
                continue;
            }
            writer.write_all(&frames).await?;
            writer.flush().await?;
        }
    };

    let receive = async {
        loop {
            let mut header = [0u8; 2];
            match reader.read_exact(&mut header).await {
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(error) => return Err(UplinkError::Io(error)),
            }
            let len = frame::frame_len(header, frame::MAX_ACK_LEN)?;
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).await?;
            let ack = Ack::decode(&body)?;
            let mut outgoing = shared.lock();
            let event = match ack.outcome {
                AckOutcome::Stored => "acked",
                AckOutcome::Duplicate => "duplicate",
                AckOutcome::Rejected(reason) => {
                    outgoing.log.write(&LogEntry {
                        epoch: Some(ack.epoch),
                        seq: Some(ack.seq),
                        detail: Some(reason.name().to_owned()),
                        ..LogEntry::now("rejected")
                    });
                    return Err(UplinkError::Rejected {
                        epoch: ack.epoch,
                        seq: ack.seq,
                        reason,
                    });
                }
            };
            outgoing.spool.ack(ack.epoch, ack.seq)?;
            outgoing.log.write(&LogEntry {
                epoch: Some(ack.epoch),
                seq: Some(ack.seq),
                ..LogEntry::now(event)
            });
            *acked_any = true;
        }
    };

    tokio::select! {
        result = send => result,
        result = receive => result,
    }
}
