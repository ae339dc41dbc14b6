//! One connection to the collector: TCP, TLS with the pinned key, then
//! every pending envelope sent in order while acks come back.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use tokio_rustls::TlsConnector;
use vantage_protocol::{frame, Ack, AckOutcome};

use super::{sendlog::LogEntry, writer::SpoolHandle, UplinkError, UplinkOptions};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of frames written before the writer yields to read acks.
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
    spool.log(LogEntry {
        detail: Some(addr.clone()),
        ..LogEntry::event("connected")
    });
    let (mut reader, mut writer) = tokio::io::split(stream);

    let send = async {
        let mut cursor = None;
        let mut frames = Vec::with_capacity(WRITE_BATCH + 1024);
        loop {
            frames.clear();
            while frames.len() < WRITE_BATCH {
                let Some((position, bytes)) = spool.view().next_after(cursor) else {
                    break;
                };
                frame::push_frame(&mut frames, &bytes)?;
                spool.log(LogEntry {
                    epoch: Some(position.0),
                    seq: Some(position.1),
                    bytes: Some(bytes.len() as u64),
                    ..LogEntry::event("sent")
                });
                cursor = Some(position);
            }
            if frames.is_empty() {
                spool.committed().await;
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
            let duplicate = match ack.outcome {
                AckOutcome::Stored => false,
                AckOutcome::Duplicate => true,
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
            };
            spool.acked((ack.epoch, ack.seq), duplicate);
            *acked_any = true;
        }
    };

    tokio::select! {
        result = send => result,
        result = receive => result,
    }
}
