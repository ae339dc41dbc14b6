//! Typed, framed connections between a sensor and the collector over any
//! tokio byte stream (TCP, TLS, an in-memory duplex), built on
//! [`LengthDelimitedCodec`]. Enabled by this crate's `tokio` feature.
//!
//! The wire format is the one [`frame`](crate::frame) describes, byte for
//! byte: a 2-byte big-endian length, then that many bytes. Sensor to
//! collector, each frame is one envelope of at most [`MAX_ENVELOPE_LEN`]
//! bytes; collector to sensor, each frame is one encoded [`Ack`] of at most
//! [`MAX_ACK_LEN`] bytes. Zero-length frames are refused both ways. A frame
//! over its limit is refused from its header alone, before its body is
//! read, and the error carries the length it announced.
//!
//! - The collector wraps an accepted stream in a [`CollectorSide`]: it
//!   receives envelope bytes and sends [`Ack`]s.
//! - The sensor wraps its connection in a [`SensorSide`]: it sends envelope
//!   bytes and receives decoded [`Ack`]s.
//!
//! Either side splits into a reader and a writer (`into_split`) so that
//! reading and writing can run in separate tasks or `select!` arms. After a
//! reader's error the stream is out of step: drop it. A writer that refuses
//! a frame ([`FrameError::Oversized`], [`FrameError::Empty`]) has written
//! nothing of it and stays usable.

use std::{fmt, future::poll_fn, pin::Pin};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio_util::codec::{Decoder, Encoder, FramedRead, FramedWrite, LengthDelimitedCodec};

use crate::{
    envelope::MAX_ENVELOPE_LEN,
    error::DecodeError,
    frame::{Ack, MAX_ACK_LEN},
};

/// Bytes of the length header in front of every frame.
pub const HEADER_LEN: usize = 2;

/// What a frame carries, which sets its length limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// One envelope, sensor to collector: 1 to [`MAX_ENVELOPE_LEN`] bytes.
    Envelope,
    /// One encoded [`Ack`], collector to sensor: 1 to [`MAX_ACK_LEN`] bytes.
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
    /// A well-framed ack whose body is not a valid [`Ack`].
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

/// Reads envelope frames: the collector's receiving half.
#[derive(Debug)]
pub struct EnvelopeReader<R> {
    frames: FramedRead<R, FrameCodec>,
}

impl<R: AsyncRead + Unpin> EnvelopeReader<R> {
    /// Reads envelope frames from `reader`.
    pub fn new(reader: R) -> EnvelopeReader<R> {
        EnvelopeReader {
            frames: FramedRead::new(reader, FrameCodec::new(FrameKind::Envelope)),
        }
    }

    /// The next envelope's wire bytes (1 to [`MAX_ENVELOPE_LEN`]), or `None`
    /// when the stream ends cleanly between frames. Cancel-safe: bytes read
    /// before a cancellation stay buffered for the next call.
    ///
    /// Errors: [`FrameError::Oversized`] and [`FrameError::Empty`] from the
    /// header alone, [`FrameError::Truncated`] when the stream ends inside a
    /// frame, [`FrameError::Io`].
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        Ok(next_frame(&mut self.frames).await?.map(Vec::from))
    }
}

/// Writes ack frames: the collector's sending half.
#[derive(Debug)]
pub struct AckWriter<W> {
    frames: FramedWrite<W, FrameCodec>,
}

impl<W: AsyncWrite + Unpin> AckWriter<W> {
    /// Writes ack frames to `writer`.
    pub fn new(writer: W) -> AckWriter<W> {
        AckWriter {
            frames: FramedWrite::new(writer, FrameCodec::new(FrameKind::Ack)),
        }
    }

    /// Queues one ack; it reaches the stream by the next [`AckWriter::flush`]
    /// at the latest.
    pub async fn feed(&mut self, ack: &Ack) -> Result<(), FrameError> {
        feed_frame(&mut self.frames, &ack.encode()).await
    }

    /// Writes out and flushes every queued ack.
    pub async fn flush(&mut self) -> Result<(), FrameError> {
        flush_frames(&mut self.frames).await
    }

    /// [`AckWriter::feed`] then [`AckWriter::flush`].
    pub async fn send(&mut self, ack: &Ack) -> Result<(), FrameError> {
        self.feed(ack).await?;
        self.flush().await
    }

    /// Flushes, then shuts the writing direction of the stream down.
    pub async fn shutdown(&mut self) -> Result<(), FrameError> {
        close_frames(&mut self.frames).await
    }
}

/// Writes envelope frames: the sensor's sending half.
#[derive(Debug)]
pub struct EnvelopeWriter<W> {
    frames: FramedWrite<W, FrameCodec>,
}

impl<W: AsyncWrite + Unpin> EnvelopeWriter<W> {
    /// Writes envelope frames to `writer`.
    pub fn new(writer: W) -> EnvelopeWriter<W> {
        EnvelopeWriter {
            frames: FramedWrite::new(writer, FrameCodec::new(FrameKind::Envelope)),
        }
    }

    /// Queues one envelope (its wire bytes); it reaches the stream by the
    /// next [`EnvelopeWriter::flush`] at the latest. Refuses an empty one
    /// and one over [`MAX_ENVELOPE_LEN`] bytes, writing nothing.
    pub async fn feed(&mut self, envelope: &[u8]) -> Result<(), FrameError> {
        feed_frame(&mut self.frames, envelope).await
    }

    /// Writes out and flushes every queued envelope.
    pub async fn flush(&mut self) -> Result<(), FrameError> {
        flush_frames(&mut self.frames).await
    }

    /// [`EnvelopeWriter::feed`] then [`EnvelopeWriter::flush`].
    pub async fn send(&mut self, envelope: &[u8]) -> Result<(), FrameError> {
        self.feed(envelope).await?;
        self.flush().await
    }

    /// Flushes, then shuts the writing direction of the stream down.
    pub async fn shutdown(&mut self) -> Result<(), FrameError> {
        close_frames(&mut self.frames).await
    }
}

/// Reads ack frames: the sensor's receiving half.
#[derive(Debug)]
pub struct AckReader<R> {
    frames: FramedRead<R, FrameCodec>,
}

impl<R: AsyncRead + Unpin> AckReader<R> {
    /// Reads ack frames from `reader`.
    pub fn new(reader: R) -> AckReader<R> {
        AckReader {
            frames: FramedRead::new(reader, FrameCodec::new(FrameKind::Ack)),
        }
    }

    /// The next ack, or `None` when the stream ends cleanly between frames.
    /// Cancel-safe.
    ///
    /// Errors: as [`EnvelopeReader::recv`], and [`FrameError::BadAck`] for a
    /// frame that is not a valid [`Ack`].
    pub async fn recv(&mut self) -> Result<Option<Ack>, FrameError> {
        next_frame(&mut self.frames)
            .await?
            .map(|body| Ack::decode(&body).map_err(|source| FrameError::BadAck { source }))
            .transpose()
    }
}

/// The collector's end of a connection: envelopes in, acks out.
#[derive(Debug)]
pub struct CollectorSide<S> {
    envelopes: EnvelopeReader<ReadHalf<S>>,
    acks: AckWriter<WriteHalf<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> CollectorSide<S> {
    /// Frames `stream` (e.g. an accepted TLS stream).
    pub fn new(stream: S) -> CollectorSide<S> {
        let (reader, writer) = tokio::io::split(stream);
        CollectorSide {
            envelopes: EnvelopeReader::new(reader),
            acks: AckWriter::new(writer),
        }
    }

    /// See [`EnvelopeReader::recv`].
    pub async fn recv_envelope(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        self.envelopes.recv().await
    }

    /// See [`AckWriter::feed`].
    pub async fn feed_ack(&mut self, ack: &Ack) -> Result<(), FrameError> {
        self.acks.feed(ack).await
    }

    /// See [`AckWriter::send`].
    pub async fn send_ack(&mut self, ack: &Ack) -> Result<(), FrameError> {
        self.acks.send(ack).await
    }

    /// See [`AckWriter::flush`].
    pub async fn flush(&mut self) -> Result<(), FrameError> {
        self.acks.flush().await
    }

    /// The two directions, to drive from separate tasks.
    pub fn into_split(self) -> (EnvelopeReader<ReadHalf<S>>, AckWriter<WriteHalf<S>>) {
        (self.envelopes, self.acks)
    }
}

/// The sensor's end of a connection: envelopes out, acks in.
#[derive(Debug)]
pub struct SensorSide<S> {
    acks: AckReader<ReadHalf<S>>,
    envelopes: EnvelopeWriter<WriteHalf<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> SensorSide<S> {
    /// Frames `stream` (e.g. a connected TLS stream).
    pub fn new(stream: S) -> SensorSide<S> {
        let (reader, writer) = tokio::io::split(stream);
        SensorSide {
            acks: AckReader::new(reader),
            envelopes: EnvelopeWriter::new(writer),
        }
    }

    /// See [`EnvelopeWriter::feed`].
    pub async fn feed_envelope(&mut self, envelope: &[u8]) -> Result<(), FrameError> {
        self.envelopes.feed(envelope).await
    }

    /// See [`EnvelopeWriter::send`].
    pub async fn send_envelope(&mut self, envelope: &[u8]) -> Result<(), FrameError> {
        self.envelopes.send(envelope).await
    }

    /// See [`EnvelopeWriter::flush`].
    pub async fn flush(&mut self) -> Result<(), FrameError> {
        self.envelopes.flush().await
    }

    /// See [`AckReader::recv`].
    pub async fn recv_ack(&mut self) -> Result<Option<Ack>, FrameError> {
        self.acks.recv().await
    }

    /// The two directions, to drive from separate tasks or `select!` arms.
    pub fn into_split(self) -> (AckReader<ReadHalf<S>>, EnvelopeWriter<WriteHalf<S>>) {
        (self.acks, self.envelopes)
    }
}

#[cfg(test)]
mod tests;
