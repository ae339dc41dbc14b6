//! Typed, framed connections between a sensor and the collector over any
//! tokio byte stream (TCP, TLS, an in-memory duplex), built on
//! [`LengthDelimitedCodec`]. Enabled by this crate's `tokio` feature.
//!
//! The wire format is the one [`frame`](crate::frame) describes, byte for
//! byte: a 2-byte big-endian length, then that many bytes. Sensor to
//! collector, each frame is one envelope of at most [`MAX_ENVELOPE_LEN`]
//! bytes; collector to sensor, each frame is one encoded
//! [`Ack`](crate::Ack) of at most [`MAX_ACK_LEN`] bytes. Zero-length
//! frames are refused both ways. A frame over its limit is refused from its
//! header alone, before its body is read, and the error carries the length
//! it announced.
//!
//! - The collector wraps an accepted stream in a [`CollectorSide`]: it
//!   receives envelope bytes and sends [`Ack`](crate::Ack)s.
//! - The sensor wraps its connection in a [`SensorSide`]: it sends envelope
//!   bytes and receives decoded [`Ack`](crate::Ack)s.
//!
//! Either side splits into a reader and a writer (`into_split`) so that
//! reading and writing can run in separate tasks or `select!` arms. After a
//! reader's error the stream is out of step: drop it. A writer that refuses
//! a frame ([`FrameError::Oversized`], [`FrameError::Empty`]) has written
//! nothing of it and stays usable.

mod connection;

use std::{fmt, future::poll_fn, pin::Pin};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Decoder, Encoder, FramedRead, FramedWrite, LengthDelimitedCodec};

pub use connection::{
    AckReader, AckWriter, CollectorSide, EnvelopeReader, EnvelopeWriter, SensorSide,
};

use crate::{envelope::MAX_ENVELOPE_LEN, error::DecodeError, frame::MAX_ACK_LEN};

/// Bytes of the length header in front of every frame.
pub const HEADER_LEN: usize = 2;

/// What a frame carries, which sets its length limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// One envelope, sensor to collector: 1 to [`MAX_ENVELOPE_LEN`] bytes.
    Envelope,
    /// One encoded [`Ack`](crate::Ack), collector to sensor: 1 to
    /// [`MAX_ACK_LEN`] bytes.
    Ack,
}

impl FrameKind {
    /// Longest body a frame of this kind may have, in bytes.
    pub fn max_len(self) -> usize {
        match self {
            FrameKind::Envelope => MAX_ENVELOPE_LEN,
            FrameKind::Ack => MAX_ACK_LEN,
        }
    }

    /// `envelope` or `ack`.
    pub fn name(self) -> &'static str {
        match self {
            FrameKind::Envelope => "envelope",
            FrameKind::Ack => "ack",
        }
    }
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A frame (announced by a received header, or handed to a writer) is
    /// longer than its kind allows. Nothing of it was written; a received one
    /// was refused before its body was read.
    #[error("{kind} frame of {len} bytes is over the limit of {max}")]
    Oversized {
        /// What the frame carries.
        kind: FrameKind,
        /// Its length in bytes, as announced or as handed over.
        len: usize,
        /// The limit for its kind, in bytes.
        max: usize,
    },
    /// A frame of zero bytes, received or handed to a writer.
    #[error("empty {kind} frame")]
    Empty {
        /// What the frame should have carried.
        kind: FrameKind,
    },
    /// The stream ended inside a frame.
    #[error("the stream ended {received} bytes into a {kind} frame (header included)")]
    Truncated {
        /// What the frame carries.
        kind: FrameKind,
        /// Bytes of the frame that arrived, its header included.
        received: usize,
    },
    /// A well-framed ack whose body is not a valid [`Ack`](crate::Ack).
    #[error("bad ack: {source}")]
    BadAck {
        /// Why it does not decode.
        #[source]
        source: DecodeError,
    },
    /// The stream failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Frames of one [`FrameKind`]: a [`LengthDelimitedCodec`] with a 2-byte
/// big-endian length and the kind's limit, that refuses empty frames and
/// names the length of an oversized one. Decodes to the frame's body;
/// encodes a body (`&[u8]`) behind its header.
#[derive(Debug)]
pub struct FrameCodec {
    kind: FrameKind,
    inner: LengthDelimitedCodec,
}

impl FrameCodec {
    /// A codec for frames of `kind`.
    pub fn new(kind: FrameKind) -> FrameCodec {
        let inner = LengthDelimitedCodec::builder()
            .length_field_length(HEADER_LEN)
            .big_endian()
            .max_frame_length(kind.max_len())
            .new_codec();
        FrameCodec { kind, inner }
    }

    /// What its frames carry.
    pub fn kind(&self) -> FrameKind {
        self.kind
    }

    fn check(&self, len: usize) -> Result<(), FrameError> {
        if len == 0 {
            return Err(FrameError::Empty { kind: self.kind });
        }
        let max = self.kind.max_len();
        if len > max {
            return Err(FrameError::Oversized {
                kind: self.kind,
                len,
                max,
            });
        }
        Ok(())
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        let Some(header) = src.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes(*header));
        self.check(len)?;
        let whole = HEADER_LEN + len;
        if src.len() < whole {
            src.reserve(whole - src.len());
            return Ok(None);
        }
        // The whole frame is buffered, so the inner codec takes it in one
        // call and never keeps a half-read frame between calls: the header
        // this function reads is always a frame's.
        Ok(self.inner.decode(src)?)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated {
                kind: self.kind,
                received: src.len(),
            }),
        }
    }
}

impl Encoder<&[u8]> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, body: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        self.check(body.len())?;
        Ok(self.inner.encode(Bytes::copy_from_slice(body), dst)?)
    }
}

/// The next frame body, `None` at a clean end of stream.
async fn next_frame<R: AsyncRead + Unpin>(
    frames: &mut FramedRead<R, FrameCodec>,
) -> Result<Option<BytesMut>, FrameError> {
    poll_fn(|cx| Pin::new(&mut *frames).poll_next(cx))
        .await
        .transpose()
}

/// Queues one frame (writing earlier ones out if the buffer is full).
async fn feed_frame<W: AsyncWrite + Unpin>(
    frames: &mut FramedWrite<W, FrameCodec>,
    body: &[u8],
) -> Result<(), FrameError> {
    poll_fn(|cx| Sink::<&[u8]>::poll_ready(Pin::new(&mut *frames), cx)).await?;
    Pin::new(&mut *frames).start_send(body)
}

async fn flush_frames<W: AsyncWrite + Unpin>(
    frames: &mut FramedWrite<W, FrameCodec>,
) -> Result<(), FrameError> {
    poll_fn(|cx| Sink::<&[u8]>::poll_flush(Pin::new(&mut *frames), cx)).await
}

async fn close_frames<W: AsyncWrite + Unpin>(
    frames: &mut FramedWrite<W, FrameCodec>,
) -> Result<(), FrameError> {
    poll_fn(|cx| Sink::<&[u8]>::poll_close(Pin::new(&mut *frames), cx)).await
}

#[cfg(test)]
mod tests;
