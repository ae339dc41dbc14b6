//! One connection to the collector: TCP, TLS with the pinned key, then
//! every pending envelope sent in order while acks come back.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use vantage_protocol::{codec::SensorSide, AckOutcome, RejectReason};

use super::{sendlog::LogEntry, writer::SpoolHandle, UplinkError, UplinkOptions};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Envelope bytes fed before a flush, so that acks are read between batches.
const WRITE_BATCH: usize = 64 * 1024;

/// Connects and exchanges envelopes for acks until the connection fails or
/// the collector closes it; `acked_any` is set once an ack arrived.
pub(super) async fn exchange(
    options: &UplinkOptions,
    spool: &SpoolHandle,
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
    spool.view().set_link(Ok(()));
    spool.log(LogEntry {
        detail: Some(addr.clone()),
        ..LogEntry::event("connected")
    });
    let (mut acks, mut envelopes) = SensorSide::new(stream).into_split();

    let send = async {
        let mut cursor = None;
        loop {
            let mut fed = 0;
            while fed < WRITE_BATCH {
                let Some((position, bytes)) = spool.view().next_after(cursor) else {
                    break;
                };
                spool.log(LogEntry {
                    epoch: Some(position.0),
                    seq: Some(position.1),
                    bytes: Some(bytes.len() as u64),
                    ..LogEntry::event("sent")
                });
                envelopes.feed(&bytes).await?;
                fed += bytes.len();
                cursor = Some(position);
            }
            if fed == 0 {
                spool.committed().await;
                continue;
            }
            envelopes.flush().await?;
        }
    };

    let receive = async {
        while let Some(ack) = acks.recv().await? {
            let position = (ack.epoch, ack.seq);
            match ack.outcome {
                AckOutcome::Stored => spool.acked(position, false),
                AckOutcome::Duplicate => spool.acked(position, true),
                // This envelope can never be stored: drop it and go on.
                AckOutcome::Rejected(
                    reason @ (RejectReason::Conflict | RejectReason::Malformed),
                ) => {
                    spool.rejected(position, reason);
                }
                // Not enrolled (yet), a key the collector does not accept, or
                // a collector that cannot store now: keep everything, retry later.
                AckOutcome::Rejected(reason) => {
                    spool.log(LogEntry {
                        epoch: Some(ack.epoch),
                        seq: Some(ack.seq),
                        detail: Some(reason.name().to_owned()),
                        ..LogEntry::event("rejected")
                    });
                    return Err(UplinkError::Rejected {
                        epoch: ack.epoch,
                        seq: ack.seq,
                        reason,
                    });
                }
            }
            *acked_any = true;
        }
        Ok(())
    };

    tokio::select! {
        result = send => result,
        result = receive => result,
    }
}
