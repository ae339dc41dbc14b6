//! Everything that leaves the box, and its disk: signed envelopes committed
//! to the durable [`spool`] by one [`writer`] thread, and one outgoing TLS
//! connection to the collector ([`session`]) through which every pending
//! envelope is sent until it is acknowledged. Alerts raised by hand wait in
//! the [`outbox`]; the customer's record of it all is the [`sendlog`].
//!
//! Nothing listens on the sensor: it always dials out. After a failure it
//! waits with exponential backoff (with jitter) and, once reconnected, sends
//! everything still pending from the start; the collector answers envelopes
//! it already holds with "duplicate", so each arrives exactly once in its
//! store.

pub mod outbox;
pub mod sendlog;
mod session;
pub mod spool;
mod start;
pub mod tls;
pub mod writer;

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;
use vantage_protocol::RejectReason;

pub use start::{start, RunningUplink, StartError, UplinkSettings};
pub use writer::{LinkState, SpoolHandle, SpoolStatus, WriterError, WriterThread};

use crate::{time::Clock, uplink::sendlog::LogEntry};

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
    #[error("connection: {0}")]
    Frame(#[from] vantage_protocol::codec::FrameError),
    #[error("collector refused envelope {epoch}/{seq}: {}", reason.name())]
    Rejected {
        epoch: u32,
        seq: u64,
        reason: RejectReason,
    },
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

    /// The next wait; `noise` (any number, e.g. the clock's nanoseconds)
    /// picks the jitter.
    fn step(&mut self, noise: u32) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        // 0.8 .. 1.2 of the base.
        let factor = 0.8 + f64::from(noise % 1000) / 2500.0;
        base.mul_f64(factor)
    }
}

/// Runs the uplink until `shutdown`: connects, sends, reconnects.
pub async fn run(
    options: UplinkOptions,
    spool: SpoolHandle,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(options.retry_min, options.retry_max);
    loop {
        let mut acked_any = false;
        let result = tokio::select! {
            () = shutdown.cancelled() => return,
            result = session::exchange(&options, &spool, &mut acked_any) => result,
        };
        if acked_any {
            backoff.reset();
        }
        let detail = match result {
            Ok(()) => "collector closed the connection".to_owned(),
            Err(error) => error.to_string(),
        };
        spool.view().set_link(Err(detail.clone()));
        let noise = clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let wait = backoff.step(noise);
        log::warn!(
            "uplink to {}: {detail}; retrying in {wait:.1?}",
            options.collector
        );
        spool.log(LogEntry {
            detail: Some(detail),
            ..LogEntry::event("disconnected")
        });
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_limit_with_bounded_jitter() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let waits: Vec<Duration> = (0..5).map(|_| backoff.step(500)).collect();
        assert_eq!(
            waits,
            [1.0, 2.0, 4.0, 5.0, 5.0].map(Duration::from_secs_f64)
        );
        let mut backoff = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        assert_eq!(backoff.step(0), Duration::from_secs(8));
        assert_eq!(
            backoff.step(999),
            Duration::from_secs_f64(10.0 * (0.8 + 999.0 / 2500.0))
        );
        backoff.reset();
        assert_eq!(backoff.step(500), Duration::from_secs(10));
    }
}
