//! `vantage-fleet serve`: the TLS listener. Each connection reads envelope
//! frames (through `vantage_protocol::codec::CollectorSide`) and hands them to one storage thread, which verifies and stores
//! them in group-committed transactions; every ack goes back, in order, only
//! after the transaction holding its envelope has committed.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::mpsc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::oneshot,
};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use vantage_protocol::{
    codec::{CollectorSide, FrameError},
    Ack, AckOutcome, RejectReason,
};

use crate::{
    ingest,
    store::{SqliteStore, StoreError},
    tls::{self, TlsError},
};

/// Most envelopes stored in one transaction.
const MAX_BATCH: usize = 512;
/// Acks a connection may owe before it stops reading.
const MAX_IN_FLIGHT: usize = 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A sensor sends a heartbeat at least this often; a silent socket is dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(900);

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The TLS identity could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listening socket (or the storage thread) could not be set up.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// Where to listen and what to serve with.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Directory holding the collector's key and certificate.
    pub tls_dir: PathBuf,
    /// The database file.
    pub db: PathBuf,
}

/// Wall-clock unix seconds.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

struct Job {
    wire: Vec<u8>,
    reply: oneshot::Sender<Ack>,
}

/// Stores one batch in one transaction; on any storage failure every
/// envelope of the batch is answered "unavailable" and nothing is kept.
fn commit_batch(store: &mut SqliteStore, batch: &[Vec<u8>], now: f64) -> Vec<Ack> {
    let unavailable = |wire: &Vec<u8>| {
        let (epoch, seq) = vantage_protocol::Envelope::decode(wire)
            .map(|envelope| (envelope.epoch, envelope.seq))
            .unwrap_or((0, 0));
        Ack {
            epoch,
            seq,
            outcome: AckOutcome::Rejected(RejectReason::Unavailable),
        }
    };
    let mut attempt = || -> Result<Vec<Ack>, StoreError> {
        let mut ledger = store.begin()?;
        let mut acks = Vec::with_capacity(batch.len());
        for wire in batch {
            acks.push(ingest::ingest(&mut ledger, wire, now)?.ack);
        }
        ledger.commit()?;
        Ok(acks)
    };
    match attempt() {
        Ok(acks) => acks,
        Err(error) => {
            log::error!("storing {} envelopes failed: {error}", batch.len());
            batch.iter().map(unavailable).collect()
        }
    }
}

fn storage_loop(mut store: SqliteStore, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let wires: Vec<Vec<u8>> = batch
            .iter_mut()
            .map(|job| std::mem::take(&mut job.wire))
            .collect();
        let acks = commit_batch(&mut store, &wires, unix_now());
        for (job, ack) in batch.into_iter().zip(acks) {
            // The connection may be gone; its sensor will resend.
            let _ = job.reply.send(ack);
        }
    }
}

/// Runs the collector until `shutdown` is cancelled. `on_listening` gets the
/// bound address (useful with port 0).
pub async fn serve(
    options: ServeOptions,
    shutdown: CancellationToken,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let acceptor = TlsAcceptor::from(tls::server_config(&options.tls_dir)?);
    let store = SqliteStore::open(&options.db)?;
    let (jobs, job_queue) = mpsc::channel::<Job>();
    let storage = std::thread::Builder::new()
        .name("fleet-store".into())
        .spawn(move || storage_loop(store, job_queue))
        .map_err(|source| ServeError::Listen {
            addr: options.listen,
            source,
        })?;
    let listener =
        TcpListener::bind(options.listen)
            .await
            .map_err(|source| ServeError::Listen {
                addr: options.listen,
                source,
            })?;
    let bound = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: options.listen,
        source,
    })?;
    on_listening(bound);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let acceptor = acceptor.clone();
                    let jobs = jobs.clone();
                    let shutdown = shutdown.clone();
                    tokio::spawn(async move {
                        if let Err(error) = connection(acceptor, socket, jobs, shutdown).await {
                            log::info!("connection from {peer} ended: {error}");
                        }
                    });
                }
                Err(error) => {
                    log::warn!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(jobs);
    // Connections still open hold senders; give them a moment to finish.
    let _ = tokio::task::spawn_blocking(move || storage.join()).await;
    Ok(())
}

/// Why a sensor's connection ended, for the log.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("TLS handshake timed out after {after:?}")]
    HandshakeTimeout { after: Duration },
    #[error("TLS handshake: {source}")]
    Handshake {
        #[source]
        source: std::io::Error,
    },
    #[error("nothing received for {after:?}")]
    Idle { after: Duration },
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

async fn connection(
    acceptor: TlsAcceptor,
    socket: TcpStream,
    jobs: mpsc::Sender<Job>,
    shutdown: CancellationToken,
) -> Result<(), ConnectionError> {
    socket.set_nodelay(true)?;
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket))
        .await
        .map_err(|_| ConnectionError::HandshakeTimeout {
            after: HANDSHAKE_TIMEOUT,
        })?
        .map_err(|source| ConnectionError::Handshake { source })?;
    let (mut envelopes, mut acks_out) = CollectorSide::new(stream).into_split();
    let (owed, mut owed_queue) =
        tokio::sync::mpsc::channel::<oneshot::Receiver<Ack>>(MAX_IN_FLIGHT);
    let acks = tokio::spawn(async move {
        while let Some(pending) = owed_queue.recv().await {
            let Ok(ack) = pending.await else { break };
            acks_out.feed(&ack).await?;
            if owed_queue.is_empty() {
                acks_out.flush().await?;
            }
        }
        acks_out.shutdown().await
    });
    let result = async {
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                read = tokio::time::timeout(IDLE_TIMEOUT, envelopes.recv()) => match read {
                    Err(_) => return Err(ConnectionError::Idle { after: IDLE_TIMEOUT }),
                    Ok(received) => received,
                },
            };
            let wire = match received {
                Ok(Some(wire)) => wire,
                Ok(None) => return Ok(()),
                Err(error @ (FrameError::Oversized { .. } | FrameError::Empty { .. })) => {
                    // The stream can no longer be trusted to be in step; count
                    // it as malformed input (an empty envelope) and hang up.
                    let (reply, pending) = oneshot::channel();
                    let _ = jobs.send(Job {
                        wire: Vec::new(),
                        reply,
                    });
                    let _ = owed.send(pending).await;
                    return Err(error.into());
                }
                Err(error) => return Err(error.into()),
            };
            let (reply, pending) = oneshot::channel();
            if jobs.send(Job { wire, reply }).is_err() {
                return Ok(());
            }
            if owed.send(pending).await.is_err() {
                return Ok(());
            }
        }
    }
    .await;
    drop(owed);
    let written = acks.await.unwrap_or(Ok(()));
    result.and(written.map_err(ConnectionError::from))
}
