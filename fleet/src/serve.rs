//! `vantage-fleet serve`: the TLS listener. Each connection reads envelope
//! frames and hands them to one storage thread, which verifies and stores
//! them in group-committed transactions; every ack goes back, in order, only
//! after the transaction holding its envelope has committed.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::mpsc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::oneshot,
};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use vantage_protocol::{frame, Ack, AckOutcome, RejectReason, MAX_ENVELOPE_LEN};

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

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub tls_dir: PathBuf,
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

async fn connection(
    acceptor: TlsAcceptor,
    socket: TcpStream,
    jobs: mpsc::Sender<Job>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket))
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
        })??;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (owed, mut owed_queue) =
        tokio::sync::mpsc::channel::<oneshot::Receiver<Ack>>(MAX_IN_FLIGHT);
    let acks = tokio::spawn(async move {
        let mut out = Vec::with_capacity(64);
        while let Some(pending) = owed_queue.recv().await {
            let Ok(ack) = pending.await else { break };
            out.clear();
            if frame::push_frame(&mut out, &ack.encode()).is_err() {
                break;
            }
            writer.write_all(&out).await?;
            if owed_queue.is_empty() {
                writer.flush().await?;
            }
        }
        writer.shutdown().await
    });
    let result = async {
        loop {
            let mut header = [0u8; 2];
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                read = tokio::time::timeout(IDLE_TIMEOUT, reader.read_exact(&mut header)) => {
                    match read {
                        Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "idle")),
                        Ok(Err(error)) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                        Ok(result) => { result?; }
                    }
                }
            }
            let len = match frame::frame_len(header, MAX_ENVELOPE_LEN) {
                Ok(len) => len,
                Err(error) => {
                    // The stream can no longer be trusted to be in step; count
                    // it as malformed input (an empty envelope) and hang up.
                    let (reply, pending) = oneshot::channel();
                    let _ = jobs.send(Job { wire: Vec::new(), reply });
                    let _ = owed.send(pending).await;
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, error.to_string()));
                }
            };
            let mut wire = vec![0u8; len];
            reader.read_exact(&mut wire).await?;
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
    result.and(written)
}
