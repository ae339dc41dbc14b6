//! The streaming protocol of pcap-parser's readers, kept in one place: a
//! record is parsed from the buffer; `Incomplete` asks for a `refill`; a
//! record larger than the buffer grows it, up to a limit; pcap-parser's
//! errors become [`RecordError`]s without the input bytes they may carry.

use pcap_parser::{traits::PcapReaderIterator, PcapBlockOwned, PcapError};

use super::{RecordError, RECORD_MAX};

/// The length of a pcap packet record starting `data` (16-byte header plus
/// the captured bytes), once its header is in the buffer.
pub(super) fn pcap_record_len(data: &[u8], big_endian: bool) -> Option<usize> {
    let caplen: [u8; 4] = data.get(8..12)?.try_into().ok()?;
    let caplen = if big_endian {
        u32::from_be_bytes(caplen)
    } else {
        u32::from_le_bytes(caplen)
    };
    usize::try_from(caplen).ok()?.checked_add(16)
}

/// What pcap-parser's error says, without the input bytes it may carry.
pub(super) fn record_error<I>(error: &PcapError<I>) -> RecordError {
    match error {
        PcapError::Incomplete(_) | PcapError::UnexpectedEof => RecordError::CutShort,
        PcapError::ReadError => RecordError::Read,
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            RecordError::Malformed(format!("parser check {kind:?} failed"))
        }
        PcapError::HeaderNotRecognized => {
            RecordError::Malformed("header not recognised as pcap or pcapng".into())
        }
        PcapError::BufferTooSmall => RecordError::TooLarge {
            len: 0,
            limit: RECORD_MAX,
        },
        PcapError::Eof => RecordError::Malformed("end of file".into()),
    }
}

/// The buffer of a streaming reader: its size and the largest record it may
/// grow to hold, bytes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Buffer {
    pub(super) capacity: usize,
    pub(super) limit: usize,
}

/// The next record of `reader`, handed to `take` (which must copy out what
/// it keeps) and then consumed; `None` at the end of the file.
///
/// pcap-parser's protocol: `Incomplete` asks for a `refill`; a record larger
/// than the buffer grows it (to the record's length read by `framing`, up
/// to `buffer.limit`). Every turn of the loop reads more, reaches the end
/// of the file (then the record is cut short) or grows the bounded buffer,
/// so it ends. A malformed record is left unconsumed (the caller may skip it).
pub(super) fn read_record<R: PcapReaderIterator, T>(
    reader: &mut R,
    buffer: &mut Buffer,
    framing: impl Fn(&[u8]) -> Option<usize>,
    take: impl FnOnce(PcapBlockOwned<'_>) -> T,
) -> Option<Result<T, RecordError>> {
    loop {
        let at_end = match reader.next() {
            Ok((offset, block)) => {
                let out = take(block);
                reader.consume(offset);
                return Some(Ok(out));
            }
            Err(PcapError::Eof) => return None,
            Err(PcapError::Incomplete(_) | PcapError::BufferTooSmall) => false,
            Err(PcapError::UnexpectedEof) => true,
            Err(error) => return Some(Err(record_error(&error))),
        };
        let available = reader.data().len();
        if at_end && available == 0 {
            // A clean end after the last record.
            return None;
        }
        let len = framing(reader.data());
        if let Some(len) = len {
            if len > buffer.limit {
                return Some(Err(RecordError::TooLarge {
                    len,
                    limit: buffer.limit,
                }));
            }
            if len <= available {
                // The whole record is there, yet the parser wants more: a
                // length inside it points past its end.
                return Some(Err(RecordError::Malformed(format!(
                    "a length field points past the end of its {len}-byte record"
                ))));
            }
        }
        if at_end {
            return Some(Err(RecordError::CutShort));
        }
        if let Some(len) = len.filter(|len| *len >= buffer.capacity) {
            buffer.capacity = buffer
                .capacity
                .saturating_mul(2)
                .max(len + 1)
                .min(buffer.limit + 1);
            reader.grow(buffer.capacity);
        }
        if reader.refill().is_err() {
            return Some(Err(RecordError::Read));
        }
        if reader.data().len() == available && !reader.reader_exhausted() {
            // The buffer is full and still holds no whole record (of a
            // length not known yet): at least this large.
            if buffer.capacity > buffer.limit {
                return Some(Err(RecordError::TooLarge {
                    len: buffer.capacity,
                    limit: buffer.limit,
                }));
            }
            buffer.capacity = buffer.capacity.saturating_mul(2).min(buffer.limit + 1);
            reader.grow(buffer.capacity);
        }
    }
}
