//! The spool file's record format: the magic `VSPOOL1\n`, then records of
//! `[u32 length][u32 CRC-32 of body][body]` (little endian). A body starts
//! with a type byte: a message (rank, epoch, sequence, chain hash,
//! envelope), an ack, an eviction, the start of a boot epoch, a snapshot of
//! the chain position and counters written when the file is compacted, and
//! an envelope the collector refused for good.

use super::{ChainPosition, Pending, SpoolCounters};

pub(super) const MAGIC: &[u8; 8] = b"VSPOOL1\n";
pub(super) const FILE_NAME: &str = "spool";
/// Held (flock) by the one process that writes the spool.
pub(super) const LOCK_FILE: &str = "spool.lock";
pub(super) const RECORD_HEADER: usize = 8;
/// Longest record body accepted at recovery.
pub(super) const MAX_BODY: usize = 1 + 1 + 4 + 8 + 16 + vantage_protocol::MAX_ENVELOPE_LEN;

pub(super) const TYPE_MESSAGE: u8 = 1;
pub(super) const TYPE_ACK: u8 = 2;
pub(super) const TYPE_EVICT: u8 = 3;
pub(super) const TYPE_EPOCH: u8 = 4;
pub(super) const TYPE_SNAPSHOT: u8 = 5;
/// An envelope the collector refused for good, dropped (position only).
pub(super) const TYPE_REJECT: u8 = 6;

pub(super) fn crc(body: &[u8]) -> u32 {
    crc32fast::hash(body)
}

pub(super) fn encode_record(out: &mut Vec<u8>, body: &[u8]) {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc(body).to_le_bytes());
    out.extend_from_slice(body);
}

pub(super) fn position_body(kind: u8, epoch: u32, seq: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(13);
    body.push(kind);
    body.extend_from_slice(&epoch.to_le_bytes());
    body.extend_from_slice(&seq.to_le_bytes());
    body
}

pub(super) fn message_body(pending: &Pending) -> Vec<u8> {
    let mut body = Vec::with_capacity(30 + pending.bytes.len());
    body.push(TYPE_MESSAGE);
    body.push(pending.rank as u8);
    body.extend_from_slice(&pending.epoch.to_le_bytes());
    body.extend_from_slice(&pending.seq.to_le_bytes());
    body.extend_from_slice(&pending.hash);
    body.extend_from_slice(&pending.bytes);
    body
}

pub(super) fn snapshot_body(chain: ChainPosition, epoch: u32, counters: &SpoolCounters) -> Vec<u8> {
    let mut body = vec![TYPE_SNAPSHOT];
    body.extend_from_slice(&epoch.to_le_bytes());
    body.extend_from_slice(&chain.epoch.to_le_bytes());
    body.extend_from_slice(&chain.seq.to_le_bytes());
    body.extend_from_slice(&chain.hash);
    for evicted in counters.evicted {
        body.extend_from_slice(&evicted.to_le_bytes());
    }
    body.extend_from_slice(&counters.torn_records.to_le_bytes());
    body.extend_from_slice(&counters.torn_bytes.to_le_bytes());
    // Added later: recovery reads it as 0 from a snapshot that lacks it.
    body.extend_from_slice(&counters.rejected.to_le_bytes());
    body
}

/// A little-endian reader over a record body.
pub(super) struct Fields<'a>(pub(super) &'a [u8]);

impl Fields<'_> {
    pub(super) fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_at_checked(N)?;
        self.0 = rest;
        head.try_into().ok()
    }
    pub(super) fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    pub(super) fn u64(&mut self) -> Option<u64> {
        self.take::<8>().map(u64::from_le_bytes)
    }
}
