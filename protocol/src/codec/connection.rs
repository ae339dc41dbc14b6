//! The typed halves and the two ends of a sensor-collector connection, over
//! [`FrameCodec`]: the collector's [`CollectorSide`] (envelopes in, acks out)
//! and the sensor's [`SensorSide`] (envelopes out, acks in).

use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::{
    close_frames, feed_frame, flush_frames, next_frame, FrameCodec, FrameError, FrameKind,
};
use crate::frame::Ack;

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

    /// The next envelope's wire bytes (1 to [`MAX_ENVELOPE_LEN`](crate::MAX_ENVELOPE_LEN)), or `None`
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
    /// and one over [`MAX_ENVELOPE_LEN`](crate::MAX_ENVELOPE_LEN) bytes, writing nothing.
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
