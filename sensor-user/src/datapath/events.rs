//! The events ring buffer: records the XDP program writes (new connections,
//! first UDP to a peer, DNS queries), decoded into [`sample::Event`]s.
//! [`EventReader`] drains it on demand; [`EventStream`] waits for it inside
//! the agent's async runtime.

use sensor_common::{EventKind, DNS_QNAME_MAX};

use aya::maps::{MapData, RingBuf};
use tokio::io::unix::AsyncFd;

use crate::{
    net::ip_from_addr16,
    sample::{decode_qname, Event},
};

/// A ring buffer record that is not an event this agent understands.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventDecodeError {
    #[error("event record has {got} bytes, expected {expected}")]
    Size { got: usize, expected: usize },
    #[error("unknown event kind {0}")]
    Kind(u8),
}

/// Decodes one ring buffer record.
pub fn decode_event(bytes: &[u8]) -> Result<Event, EventDecodeError> {
    let expected = std::mem::size_of::<sensor_common::Event>();
    if bytes.len() != expected {
        return Err(EventDecodeError::Size {
            got: bytes.len(),
            expected,
        });
    }
    // SAFETY: the length matches and `Event` is plain old data (any bit
    // pattern is valid); read_unaligned copes with the ring's alignment.
    let raw: sensor_common::Event =
        unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<sensor_common::Event>()) };
    let kind = EventKind::from_repr(raw.kind).ok_or(EventDecodeError::Kind(raw.kind))?;
    let qname = if kind == EventKind::DnsQuery {
        let len = usize::from(raw.qname_len).min(DNS_QNAME_MAX);
        decode_qname(&raw.qname[..len])
    } else {
        None
    };
    Ok(Event {
        kind,
        timestamp_ns: raw.timestamp_ns,
        src: ip_from_addr16(&raw.src),
        dst: ip_from_addr16(&raw.dst),
        src_port: raw.src_port,
        dst_port: raw.dst_port,
        protocol: raw.protocol,
        ifindex: raw.ifindex,
        qname,
        qname_truncated: raw.qname_truncated != 0,
        dropped: raw.dropped != 0,
    })
}

/// The events ring buffer, drained synchronously.
pub struct EventReader {
    ring: RingBuf<MapData>,
}

impl EventReader {
    pub(super) fn new(ring: RingBuf<MapData>) -> EventReader {
        EventReader { ring }
    }

    /// Decodes every record waiting in the ring into `out`; returns how many
    /// records could not be decoded (each logged, then dropped).
    pub fn drain_into(&mut self, out: &mut Vec<Event>) -> u64 {
        drain_ring(&mut self.ring, out)
    }

    /// Turns the reader into a stream for the current tokio runtime.
    pub fn into_stream(self) -> std::io::Result<EventStream> {
        // SAFETY: the ring buffer owns its map descriptor, which stays open
        // and unchanged for as long as the `AsyncFd` holds it.
        let ring =
            unsafe { AsyncFd::register_with_interest(self.ring, tokio::io::Interest::READABLE) }?;
        Ok(EventStream { ring })
    }
}

/// The events ring buffer, awaited inside the agent's runtime.
pub struct EventStream {
    ring: AsyncFd<RingBuf<MapData>>,
}

impl EventStream {
    /// Waits until the kernel has written events, then decodes every waiting
    /// record into `out`; returns how many could not be decoded.
    pub async fn next_batch(&mut self, out: &mut Vec<Event>) -> std::io::Result<u64> {
        let mut guard = self.ring.readable_mut().await?;
        let undecodable = drain_ring(guard.get_inner_mut(), out);
        guard.clear_ready();
        Ok(undecodable)
    }
}

fn drain_ring(ring: &mut RingBuf<MapData>, out: &mut Vec<Event>) -> u64 {
    let mut undecodable = 0;
    while let Some(record) = ring.next() {
        match decode_event(&record) {
            Ok(event) => out.push(event),
            Err(error) => {
                undecodable += 1;
                log::warn!("undecodable event: {error}");
            }
        }
    }
    undecodable
}

#[cfg(test)]
mod tests {
    use sensor_common::v4_mapped;

    use super::*;

    fn raw(event: &sensor_common::Event) -> Vec<u8> {
        // SAFETY: `Event` is plain old data.
        unsafe {
            std::slice::from_raw_parts(
                (event as *const sensor_common::Event).cast::<u8>(),
                std::mem::size_of::<sensor_common::Event>(),
            )
        }
        .to_vec()
    }

    fn blank(kind: u8) -> sensor_common::Event {
        sensor_common::Event {
            timestamp_ns: 42,
            src: v4_mapped([10, 0, 0, 5]),
            dst: v4_mapped([203, 0, 113, 53]),
            src_port: 40000,
            dst_port: 53,
            ifindex: 3,
            kind,
            protocol: 17,
            qname_len: 0,
            qname_truncated: 0,
            dropped: 0,
            _pad: [0; 3],
            qname: [0; DNS_QNAME_MAX],
        }
    }

    #[test]
    fn decodes_dns_query_with_name() {
        let mut event = blank(EventKind::DnsQuery as u8);
        let wire = b"\x03www\x07example\x03com";
        event.qname[..wire.len()].copy_from_slice(wire);
        event.qname_len = wire.len() as u8;
        let decoded = decode_event(&raw(&event)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded.kind, EventKind::DnsQuery);
        assert_eq!(decoded.qname.as_deref(), Some("www.example.com"));
        assert_eq!(decoded.src.to_string(), "10.0.0.5");
        assert_eq!(decoded.dst_port, 53);
    }

    #[test]
    fn rejects_wrong_size_and_unknown_kind() {
        assert_eq!(
            decode_event(&[0u8; 10]),
            Err(EventDecodeError::Size {
                got: 10,
                expected: std::mem::size_of::<sensor_common::Event>()
            })
        );
        assert_eq!(
            decode_event(&raw(&blank(99))),
            Err(EventDecodeError::Kind(99))
        );
    }
}
