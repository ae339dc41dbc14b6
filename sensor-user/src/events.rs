//! Decoding the records the XDP program writes to the events ring buffer.

use std::net::IpAddr;

use sensor_common::{Event, EventKind, DNS_QNAME_MAX};

use crate::target::ip_from_addr16;

/// An event in agent terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedEvent {
    pub kind: EventKind,
    /// Kernel time (`CLOCK_MONOTONIC` ns).
    pub timestamp_ns: u64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub ifindex: u32,
    /// Dotted query name for DNS events (`None` if absent or unreadable).
    pub qname: Option<String>,
    /// The name was longer than the kernel copies and was cut.
    pub qname_truncated: bool,
    pub dropped: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventDecodeError {
    #[error("event record has {got} bytes, expected {expected}")]
    Size { got: usize, expected: usize },
    #[error("unknown event kind {0}")]
    Kind(u8),
}

/// Decodes one ring buffer record.
pub fn decode_event(bytes: &[u8]) -> Result<DecodedEvent, EventDecodeError> {
    let expected = std::mem::size_of::<Event>();
    if bytes.len() != expected {
        return Err(EventDecodeError::Size {
            got: bytes.len(),
            expected,
        });
    }
    // SAFETY: the length matches and `Event` is plain old data; read_unaligned
    // copes with the ring buffer's alignment.
    let event: Event = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<Event>()) };
    let kind = EventKind::from_u8(event.kind).ok_or(EventDecodeError::Kind(event.kind))?;
    let qname = if kind == EventKind::DnsQuery {
        let len = usize::from(event.qname_len).min(DNS_QNAME_MAX);
        decode_qname(&event.qname[..len])
    } else {
        None
    };
    Ok(DecodedEvent {
        kind,
        timestamp_ns: event.timestamp_ns,
        src: ip_from_addr16(&event.src),
        dst: ip_from_addr16(&event.dst),
        src_port: event.src_port,
        dst_port: event.dst_port,
        protocol: event.protocol,
        ifindex: event.ifindex,
        qname,
        qname_truncated: event.qname_truncated != 0,
        dropped: event.dropped != 0,
    })
}

/// Turns wire-format labels (`\x07example\x03com`) into `example.com`.
/// Characters outside printable ASCII are escaped as `\DDD`. Returns `None`
/// for an empty name; a label running past the data keeps what is there.
pub fn decode_qname(wire: &[u8]) -> Option<String> {
    let mut name = String::new();
    let mut at = 0;
    while at < wire.len() {
        let len = usize::from(wire[at]);
        if len == 0 || len > 63 {
            // Compression pointers and bad lengths do not occur in questions we decode.
            break;
        }
        at += 1;
        if !name.is_empty() {
            name.push('.');
        }
        let end = (at + len).min(wire.len());
        for &byte in &wire[at..end] {
            if byte.is_ascii_graphic() && byte != b'.' && byte != b'\\' {
                name.push(char::from(byte));
            } else {
                name.push_str(&format!("\\{byte:03}"));
            }
        }
        at = end;
    }
    if name.is_empty() {
        None
    } else {
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sensor_common::v4_mapped;

    fn raw(event: &Event) -> Vec<u8> {
        // SAFETY: `Event` is plain old data.
        unsafe {
            std::slice::from_raw_parts(
                (event as *const Event).cast::<u8>(),
                std::mem::size_of::<Event>(),
            )
        }
        .to_vec()
    }

    fn blank(kind: u8) -> Event {
        Event {
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
                expected: std::mem::size_of::<Event>()
            })
        );
        assert_eq!(
            decode_event(&raw(&blank(99))),
            Err(EventDecodeError::Kind(99))
        );
    }

    #[test]
    fn qname_escapes_odd_bytes_and_survives_cut_labels() {
        assert_eq!(
            decode_qname(b"\x03a.b\x01\x00").as_deref(),
            Some("a\\046b.\\000")
        );
        assert_eq!(decode_qname(b"\x05abc").as_deref(), Some("abc"));
        assert_eq!(decode_qname(b""), None);
    }
}
