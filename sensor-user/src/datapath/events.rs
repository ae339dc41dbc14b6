//! The events ring buffer: records the XDP program writes (connection
//! attempts and their answers, first UDP to a peer, echo requests, DNS
//! queries and responses), decoded into [`sample::Event`]s. A record is
//! a header alone or a header and a payload (`sensor_common::event`).
//! [`EventReader`] drains it on demand; [`EventStream`] waits for it inside
//! the agent's async runtime.

use sensor_common::{
    EventHeader, EventKind, DNS_HEADER_LEN, EVENT_HEADER_LEN, EVENT_LEN, EVENT_PAYLOAD_MAX,
};

use aya::maps::{MapData, RingBuf};
use tokio::io::unix::AsyncFd;

use crate::{
    net::ip_from_addr16,
    sample::{decode_qname, Event},
};

/// The largest DNS message an event carries, in bytes (longer ones arrive
/// cut, with their true length; see `sensor_common::event::EVENT_PAYLOAD_MAX`).
pub const DNS_MESSAGE_MAX: usize = EVENT_PAYLOAD_MAX;

/// A ring buffer record that is not an event this agent understands.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventDecodeError {
    #[error("event record has {got} bytes, expected {EVENT_HEADER_LEN} or {EVENT_LEN}")]
    Size { got: usize },
    #[error("unknown event kind {0}")]
    Kind(u8),
    #[error("{0:?} event record without its payload")]
    MissingPayload(EventKind),
}

/// Decodes one ring buffer record: a header alone, or a header and a
/// payload (the DNS kinds).
pub fn decode_event(bytes: &[u8]) -> Result<Event, EventDecodeError> {
    if bytes.len() != EVENT_HEADER_LEN && bytes.len() != EVENT_LEN {
        return Err(EventDecodeError::Size { got: bytes.len() });
    }
    // SAFETY: the record holds at least a header and `EventHeader` is plain
    // old data (any bit pattern is valid); read_unaligned copes with the
    // ring's alignment.
    let raw: EventHeader =
        unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<EventHeader>()) };
    let kind = EventKind::from_repr(raw.kind).ok_or(EventDecodeError::Kind(raw.kind))?;
    // Only the DNS kinds carry a payload (the message).
    let dns = kind.has_payload();
    let payload = &bytes[EVENT_HEADER_LEN..];
    if dns && payload.is_empty() {
        return Err(EventDecodeError::MissingPayload(kind));
    }
    let payload = &payload[..usize::from(raw.payload_len).min(payload.len())];
    let qname = if dns {
        let name_end = DNS_HEADER_LEN + usize::from(raw.qname_len);
        payload.get(DNS_HEADER_LEN..name_end).and_then(decode_qname)
    } else {
        None
    };
    let answer = (kind == EventKind::DnsAnswer).then(|| payload.to_vec());
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
        qname_truncated: dns && raw.qname_truncated != 0,
        qtype: if dns { raw.qtype } else { 0 },
        message_len: if dns { raw.message_len } else { 0 },
        answer_truncated: answer.is_some() && usize::from(raw.message_len) > payload.len(),
        answer,
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

    fn raw(event: &sensor_common::Event, with_payload: bool) -> Vec<u8> {
        // SAFETY: `Event` is plain old data.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (event as *const sensor_common::Event).cast::<u8>(),
                std::mem::size_of::<sensor_common::Event>(),
            )
        };
        let len = if with_payload {
            EVENT_LEN
        } else {
            EVENT_HEADER_LEN
        };
        bytes[..len].to_vec()
    }

    fn blank(kind: u8) -> sensor_common::Event {
        sensor_common::Event {
            header: EventHeader {
                timestamp_ns: 42,
                src: v4_mapped([10, 0, 0, 5]),
                dst: v4_mapped([203, 0, 113, 53]),
                src_port: 40000,
                dst_port: 53,
                ifindex: 3,
                kind,
                protocol: 17,
                dropped: 0,
                qname_len: 0,
                qname_truncated: 0,
                _pad0: 0,
                qtype: 0,
                payload_len: 0,
                message_len: 0,
                _pad: [0; 4],
            },
            payload: [0; EVENT_PAYLOAD_MAX],
        }
    }

    /// `message` in the payload, its question name `name_len` bytes long.
    fn with_message(kind: EventKind, message: &[u8], name_len: u8) -> sensor_common::Event {
        let mut event = blank(kind as u8);
        let copied = message.len().min(EVENT_PAYLOAD_MAX);
        event.payload[..copied].copy_from_slice(&message[..copied]);
        event.header.payload_len = copied as u16;
        event.header.message_len = message.len() as u16;
        event.header.qname_len = name_len;
        event
    }

    const QUERY: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x0a\x00\x01";

    #[test]
    fn decodes_dns_query_with_name_and_type() -> Result<(), EventDecodeError> {
        let mut event = with_message(EventKind::DnsQuery, QUERY, 16);
        event.header.qtype = 10;
        let decoded = decode_event(&raw(&event, true))?;
        assert_eq!(decoded.kind, EventKind::DnsQuery);
        assert_eq!(decoded.qname.as_deref(), Some("www.example.com"));
        assert_eq!((decoded.qtype, decoded.message_len), (10, 33));
        assert!(!decoded.qname_truncated && !decoded.answer_truncated);
        assert_eq!(decoded.answer, None, "a query is no answer");
        assert_eq!(decoded.src.to_string(), "10.0.0.5");
        assert_eq!(decoded.dst_port, 53);
        Ok(())
    }

    #[test]
    fn decodes_dns_answer_bytes_and_truncation() -> Result<(), EventDecodeError> {
        let mut message = QUERY.to_vec();
        message[2] = 0x81;
        let event = with_message(EventKind::DnsAnswer, &message, 16);
        let decoded = decode_event(&raw(&event, true))?;
        assert_eq!(decoded.kind, EventKind::DnsAnswer);
        assert_eq!(decoded.answer.as_deref(), Some(&message[..]));
        assert_eq!(decoded.qname.as_deref(), Some("www.example.com"));
        assert!(!decoded.answer_truncated);

        // 600 bytes on the wire, 512 copied.
        let mut long = message.clone();
        long.resize(600, 0xab);
        let event = with_message(EventKind::DnsAnswer, &long, 16);
        let decoded = decode_event(&raw(&event, true))?;
        assert_eq!(decoded.answer.as_ref().map(Vec::len), Some(DNS_MESSAGE_MAX));
        assert_eq!(decoded.message_len, 600);
        assert!(decoded.answer_truncated);
        Ok(())
    }

    #[test]
    fn header_only_kinds_carry_no_dns_fields() -> Result<(), EventDecodeError> {
        let mut event = blank(EventKind::TcpAnswered as u8);
        // Whatever the unused fields hold, a connection event has no name.
        event.header.qtype = 7;
        event.header.qname_len = 3;
        let decoded = decode_event(&raw(&event, false))?;
        assert_eq!(decoded.kind, EventKind::TcpAnswered);
        assert_eq!(
            (
                decoded.qname,
                decoded.qtype,
                decoded.answer,
                decoded.message_len
            ),
            (None, 0, None, 0)
        );
        Ok(())
    }

    #[test]
    fn rejects_wrong_size_unknown_kind_and_missing_payload() {
        assert_eq!(
            decode_event(&[0u8; 10]),
            Err(EventDecodeError::Size { got: 10 })
        );
        assert_eq!(
            decode_event(&raw(&blank(99), false)),
            Err(EventDecodeError::Kind(99))
        );
        assert_eq!(
            decode_event(&raw(&blank(EventKind::DnsAnswer as u8), false)),
            Err(EventDecodeError::MissingPayload(EventKind::DnsAnswer))
        );
    }
}
