//! The framed connections over `tokio::io::duplex`: the exact bytes on the
//! wire (the same as `push_frame`), oversized and empty frames refused with
//! their lengths both ways, frames split across reads and several in one
//! read, a stream ending inside a frame, and a bad ack.

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken setup step"
)]

use tokio::io::{duplex, AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};

use super::{CollectorSide, FrameError, FrameKind, SensorSide, HEADER_LEN};
use crate::{
    frame::{push_frame, Ack, AckOutcome, RejectReason, MAX_ACK_LEN},
    MAX_ENVELOPE_LEN,
};

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    push_frame(&mut out, body).expect("frame");
    out
}

/// Reads exactly `n` bytes from the raw end.
async fn read_raw(raw: &mut DuplexStream, n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    raw.read_exact(&mut bytes).await.expect("read");
    bytes
}

const ACK: Ack = Ack {
    epoch: 7,
    seq: 300,
    outcome: AckOutcome::Rejected(RejectReason::Conflict),
};

#[tokio::test]
async fn envelopes_and_acks_are_the_exact_frame_bytes() {
    let (sensor_end, mut raw) = duplex(4096);
    let mut sensor = SensorSide::new(sensor_end);
    sensor.send_envelope(b"abc").await.expect("send");
    assert_eq!(read_raw(&mut raw, 5).await, [0, 3, b'a', b'b', b'c']);
    let big = vec![0x5a; MAX_ENVELOPE_LEN];
    sensor.send_envelope(&big).await.expect("send the largest");
    assert_eq!(
        read_raw(&mut raw, HEADER_LEN + MAX_ENVELOPE_LEN).await,
        framed(&big)
    );

    let (collector_end, mut raw) = duplex(4096);
    let mut collector = CollectorSide::new(collector_end);
    collector.send_ack(&ACK).await.expect("send");
    let encoded = ACK.encode();
    let wire = read_raw(&mut raw, HEADER_LEN + encoded.len()).await;
    assert_eq!(wire, framed(&encoded));
    let len = u16::try_from(encoded.len()).expect("short");
    assert_eq!(wire[..HEADER_LEN], len.to_be_bytes());
}

#[tokio::test]
async fn a_sensor_and_a_collector_talk() {
    let (sensor_end, collector_end) = duplex(64);
    let (mut acks, mut envelopes_out) = SensorSide::new(sensor_end).into_split();
    let (mut envelopes_in, mut acks_out) = CollectorSide::new(collector_end).into_split();
    let bodies: Vec<Vec<u8>> = (1..=20u8).map(|n| vec![n; usize::from(n) * 7]).collect();
    let sending = async {
        for body in &bodies {
            envelopes_out.feed(body).await.expect("feed");
        }
        envelopes_out.shutdown().await.expect("shutdown");
    };
    let collecting = async {
        let mut got = Vec::new();
        while let Some(body) = envelopes_in.recv().await.expect("recv") {
            let seq = u64::try_from(got.len()).expect("small") + 1;
            acks_out
                .send(&Ack {
                    epoch: 1,
                    seq,
                    outcome: AckOutcome::Stored,
                })
                .await
                .expect("ack");
            got.push(body);
        }
        acks_out.shutdown().await.expect("shutdown");
        got
    };
    let acking = async {
        let mut seqs = Vec::new();
        while let Some(ack) = acks.recv().await.expect("ack") {
            assert_eq!(ack.outcome, AckOutcome::Stored);
            seqs.push(ack.seq);
        }
        seqs
    };
    let ((), got, seqs) = tokio::join!(sending, collecting, acking);
    assert_eq!(got, bodies);
    assert_eq!(seqs, (1..=20).collect::<Vec<u64>>());
}

#[tokio::test]
async fn a_frame_split_across_reads_and_frames_sharing_a_read_arrive_whole() {
    // A one-byte pipe: every read returns a single byte.
    let (collector_end, mut raw) = duplex(1);
    let mut collector = CollectorSide::new(collector_end);
    let writing = async {
        let mut wire = framed(b"first envelope");
        wire.extend(framed(b"second"));
        raw.write_all(&wire).await.expect("write");
        raw
    };
    let reading = async {
        let first = collector.recv_envelope().await.expect("recv");
        let second = collector.recv_envelope().await.expect("recv");
        (first, second)
    };
    let (raw, (first, second)) = tokio::join!(writing, reading);
    assert_eq!(first.as_deref(), Some(&b"first envelope"[..]));
    assert_eq!(second.as_deref(), Some(&b"second"[..]));
    drop(raw);
    assert!(collector.recv_envelope().await.expect("eof").is_none());

    // Both frames in one read.
    let (collector_end, mut raw) = duplex(4096);
    let mut collector = CollectorSide::new(collector_end);
    let mut wire = framed(b"one");
    wire.extend(framed(b"two"));
    raw.write_all(&wire).await.expect("write");
    let one = collector.recv_envelope().await.expect("recv");
    let two = collector.recv_envelope().await.expect("recv");
    assert_eq!(
        (one.as_deref(), two.as_deref()),
        (Some(&b"one"[..]), Some(&b"two"[..]))
    );
}

#[tokio::test]
async fn an_oversized_envelope_is_refused_from_its_header() {
    let (collector_end, mut raw) = duplex(4096);
    let mut collector = CollectorSide::new(collector_end);
    // Only the header: the refusal must not wait for 65535 bytes of body.
    raw.write_all(&[0xff, 0xff]).await.expect("write");
    let refused = collector.recv_envelope().await;
    assert!(
        matches!(
            refused,
            Err(FrameError::Oversized {
                kind: FrameKind::Envelope,
                len: 65_535,
                max: MAX_ENVELOPE_LEN
            })
        ),
        "{refused:?}"
    );
    let text = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        text,
        format!("envelope frame of 65535 bytes is over the limit of {MAX_ENVELOPE_LEN}")
    );

    // One byte over the limit.
    let (collector_end, mut raw) = duplex(4096);
    let mut collector = CollectorSide::new(collector_end);
    let len = u16::try_from(MAX_ENVELOPE_LEN + 1).expect("fits");
    raw.write_all(&len.to_be_bytes()).await.expect("write");
    let refused = collector.recv_envelope().await;
    assert!(
        matches!(refused, Err(FrameError::Oversized { len, .. }) if len == MAX_ENVELOPE_LEN + 1),
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_oversized_ack_is_refused_with_its_length() {
    let (sensor_end, mut raw) = duplex(4096);
    let mut sensor = SensorSide::new(sensor_end);
    let len = u16::try_from(MAX_ACK_LEN + 1).expect("fits");
    raw.write_all(&len.to_be_bytes()).await.expect("write");
    let refused = sensor.recv_ack().await;
    assert!(
        matches!(
            refused,
            Err(FrameError::Oversized {
                kind: FrameKind::Ack,
                len: 33,
                max: 32
            })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn empty_frames_are_refused_both_ways() {
    let (collector_end, mut raw) = duplex(4096);
    let mut collector = CollectorSide::new(collector_end);
    raw.write_all(&[0, 0]).await.expect("write");
    let refused = collector.recv_envelope().await;
    assert!(
        matches!(
            refused,
            Err(FrameError::Empty {
                kind: FrameKind::Envelope
            })
        ),
        "{refused:?}"
    );

    let (sensor_end, mut raw) = duplex(4096);
    let mut sensor = SensorSide::new(sensor_end);
    raw.write_all(&[0, 0]).await.expect("write");
    let refused = sensor.recv_ack().await;
    assert!(
        matches!(
            refused,
            Err(FrameError::Empty {
                kind: FrameKind::Ack
            })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_writer_refuses_empty_and_oversized_envelopes_and_writes_nothing_of_them() {
    let (sensor_end, mut raw) = duplex(1 << 16);
    let mut sensor = SensorSide::new(sensor_end);
    let refused = sensor.send_envelope(&[]).await;
    assert!(
        matches!(
            refused,
            Err(FrameError::Empty {
                kind: FrameKind::Envelope
            })
        ),
        "{refused:?}"
    );
    let refused = sensor.send_envelope(&vec![1; MAX_ENVELOPE_LEN + 1]).await;
    assert!(
        matches!(
            refused,
            Err(FrameError::Oversized {
                kind: FrameKind::Envelope,
                len,
                max: MAX_ENVELOPE_LEN
            }) if len == MAX_ENVELOPE_LEN + 1
        ),
        "{refused:?}"
    );
    // Still usable, and nothing of the refused frames reached the wire.
    sensor.send_envelope(b"ok").await.expect("send");
    drop(sensor);
    let mut wire = Vec::new();
    raw.read_to_end(&mut wire).await.expect("read");
    assert_eq!(wire, framed(b"ok"));
}

#[tokio::test]
async fn a_stream_ending_inside_a_frame_is_truncated_and_a_bad_ack_is_named() {
    let (collector_end, mut raw) = duplex(4096);
    let mut collector = CollectorSide::new(collector_end);
    raw.write_all(&[0, 5, 1, 2]).await.expect("write");
    drop(raw);
    let cut = collector.recv_envelope().await;
    assert!(
        matches!(
            cut,
            Err(FrameError::Truncated {
                kind: FrameKind::Envelope,
                received: 4
            })
        ),
        "{cut:?}"
    );

    let (sensor_end, mut raw) = duplex(4096);
    let mut sensor = SensorSide::new(sensor_end);
    raw.write_all(&framed(&[0xff, 0xff, 0xff]))
        .await
        .expect("write");
    let bad = sensor.recv_ack().await;
    assert!(matches!(bad, Err(FrameError::BadAck { .. })), "{bad:?}");
    assert!(bad
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
        .starts_with("bad ack: ack is malformed"),);
}
