//! The durable spool: every signed envelope is appended here and synced to
//! disk before it counts as sent, and stays until the collector acknowledges
//! it. A power cut or `kill -9` loses nothing committed.
//!
//! The file format is in [`record`]; recovery, in [`recover`], reads records until the first one that is short, fails its CRC or
//! has an unknown type; everything from there on is a torn tail, which is cut
//! off, counted and reported. Only a record that was never fully synced can be
//! torn, so nothing committed is lost that way.
//!
//! The spool is bounded in bytes of pending envelopes. To make room it evicts
//! the lowest [`Rank`] first and, within a rank, the oldest first; a new
//! message never displaces one of a higher rank (it is refused instead).
//! Heartbeats and critical alerts share the highest rank.

mod record;
mod recover;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fs::{self, File, OpenOptions},
    io::{self, Seek as _, SeekFrom, Write as _},
    path::{Path, PathBuf},
};

use record::{
    encode_record, message_body, position_body, snapshot_body, FILE_NAME, MAGIC, TYPE_ACK,
    TYPE_EPOCH, TYPE_EVICT, TYPE_REJECT,
};
use vantage_protocol::{Alert, ChainHash, Detection, Message, Sealed, Severity};

/// Eviction rank: lower ranks are evicted first.
#[repr(u8)]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, strum::IntoStaticStr, strum::FromRepr,
)]
#[strum(serialize_all = "snake_case")]
pub enum Rank {
    Info = 0,
    Low = 1,
    Medium = 2,
    High = 3,
    /// Critical alerts, heartbeats (with or without detection health),
    /// enrolments and digests.
    #[strum(serialize = "critical_or_heartbeat")]
    Keep = 4,
}

impl Rank {
    pub fn of(message: &Message) -> Rank {
        match message {
            Message::Alert(Alert { severity, .. })
            | Message::Detection(Detection { severity, .. }) => match severity {
                Severity::Info => Rank::Info,
                Severity::Low => Rank::Low,
                Severity::Medium => Rank::Medium,
                Severity::High => Rank::High,
                Severity::Critical => Rank::Keep,
            },
            Message::Heartbeat(_)
            | Message::HeartbeatV1(_)
            | Message::DetectionHeartbeat(_)
            | Message::Enrolment(_)
            | Message::Digest(_) => Rank::Keep,
        }
    }

    /// The rank's stable name, as logs and counters show it.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spool {path}: not a spool file (bad magic); move it away to start a new one")]
    NotASpool { path: PathBuf },
    #[error("spool limit {max} bytes cannot hold one envelope of {len} bytes")]
    LimitTooSmall { max: u64, len: usize },
    #[error("{}: another process (another `vantage run`?) has this spool open", path.display())]
    Locked { path: PathBuf },
}

/// A pending envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub epoch: u32,
    pub seq: u64,
    pub rank: Rank,
    pub hash: ChainHash,
    pub bytes: Vec<u8>,
}

/// Where the chain stands: the last envelope sealed, in any epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainPosition {
    pub epoch: u32,
    pub seq: u64,
    pub hash: ChainHash,
}

/// Totals kept across restarts and compactions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolCounters {
    /// Evicted (or refused for lack of room), by rank.
    pub evicted: [u64; 5],
    /// Torn records cut off at recovery.
    pub torn_records: u64,
    pub torn_bytes: u64,
    /// Envelopes the collector refused for good and the spool dropped.
    pub rejected: u64,
}

impl SpoolCounters {
    pub fn evicted_total(&self) -> u64 {
        self.evicted.iter().sum()
    }
}

/// What recovery found when the spool was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    pub pending: usize,
    /// Torn records cut off this time (0 or 1: recovery stops at the first).
    pub torn_records: u64,
    pub torn_bytes: u64,
}

/// What committing a batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// Pending envelopes evicted to make room, oldest first.
    pub evicted: Vec<(u32, u64, Rank)>,
    /// New envelopes refused because everything pending outranks them.
    pub refused: Vec<(u32, u64, Rank)>,
}

/// The open spool; the only writer of its file.
pub struct Spool {
    path: PathBuf,
    /// The directory's lock, held while the spool is open.
    _lock: File,
    file: File,
    file_len: u64,
    max_bytes: u64,
    /// Pending envelopes by commit order.
    pending: BTreeMap<u64, Pending>,
    by_position: HashMap<(u32, u64), u64>,
    by_rank: [BTreeSet<u64>; 5],
    pending_bytes: u64,
    next_order: u64,
    chain: ChainPosition,
    epoch: u32,
    counters: SpoolCounters,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("path", &self.path)
            .field("pending", &self.pending.len())
            .field("pending_bytes", &self.pending_bytes)
            .finish_non_exhaustive()
    }
}

impl Spool {
    fn insert_pending(&mut self, pending: Pending) {
        let order = self.next_order;
        self.next_order += 1;
        self.pending_bytes += pending.bytes.len() as u64;
        self.by_position.insert((pending.epoch, pending.seq), order);
        self.by_rank[pending.rank as usize].insert(order);
        self.pending.insert(order, pending);
    }

    fn remove_pending(&mut self, epoch: u32, seq: u64) -> Option<Pending> {
        let order = self.by_position.remove(&(epoch, seq))?;
        let pending = self.pending.remove(&order)?;
        self.by_rank[pending.rank as usize].remove(&order);
        self.pending_bytes -= pending.bytes.len() as u64;
        Some(pending)
    }

    fn io_error(&self, source: io::Error) -> SpoolError {
        SpoolError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), SpoolError> {
        self.file
            .write_all(bytes)
            .map_err(|source| self.io_error(source))?;
        self.file_len += bytes.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), SpoolError> {
        self.file
            .sync_data()
            .map_err(|source| self.io_error(source))
    }

    /// Starts a new boot epoch (one more than any seen) and returns it with
    /// the chain position its first envelope links to. Synced.
    ///
    /// The epoch is at least `floor`: the agent passes the current Unix time
    /// in seconds, so that a sensor whose spool was lost (a wiped or replaced
    /// disk) still never reuses an epoch the collector already holds.
    pub fn begin_epoch(&mut self, floor: u32) -> Result<(u32, ChainPosition), SpoolError> {
        let epoch = (self.epoch.max(self.chain.epoch) + 1).max(floor);
        let mut body = vec![TYPE_EPOCH];
        body.extend_from_slice(&epoch.to_le_bytes());
        let mut record = Vec::new();
        encode_record(&mut record, &body);
        self.append(&record)?;
        self.sync()?;
        self.epoch = epoch;
        Ok((epoch, self.chain))
    }

    /// Appends sealed envelopes, evicting as needed, and syncs once. When it
    /// returns `Ok`, every envelope not listed as refused is committed.
    pub fn commit(&mut self, batch: &[(Sealed, Rank)]) -> Result<CommitReport, SpoolError> {
        let mut report = CommitReport::default();
        let mut out = Vec::new();
        for (sealed, rank) in batch {
            let len = sealed.bytes.len() as u64;
            if len > self.max_bytes {
                return Err(SpoolError::LimitTooSmall {
                    max: self.max_bytes,
                    len: sealed.bytes.len(),
                });
            }
            let mut admitted = true;
            while self.pending_bytes + len > self.max_bytes {
                let victim = self
                    .by_rank
                    .iter()
                    .take(*rank as usize + 1)
                    .find_map(|orders| orders.first().copied());
                let Some(order) = victim else {
                    admitted = false;
                    break;
                };
                let Some(evicted) = self
                    .pending
                    .get(&order)
                    .map(|p| (p.epoch, p.seq))
                    .and_then(|(epoch, seq)| self.remove_pending(epoch, seq))
                else {
                    break;
                };
                let mut body = position_body(TYPE_EVICT, evicted.epoch, evicted.seq);
                body.push(evicted.rank as u8);
                encode_record(&mut out, &body);
                self.counters.evicted[evicted.rank as usize] += 1;
                report
                    .evicted
                    .push((evicted.epoch, evicted.seq, evicted.rank));
            }
            self.chain = ChainPosition {
                epoch: sealed.epoch,
                seq: sealed.seq,
                hash: sealed.hash,
            };
            if admitted {
                let pending = Pending {
                    epoch: sealed.epoch,
                    seq: sealed.seq,
                    rank: *rank,
                    hash: sealed.hash,
                    bytes: sealed.bytes.clone(),
                };
                encode_record(&mut out, &message_body(&pending));
                self.insert_pending(pending);
            } else {
                // Keep the chain position durable even though the envelope is not.
                let mut body = position_body(TYPE_EVICT, sealed.epoch, sealed.seq);
                body.push(*rank as u8);
                encode_record(&mut out, &body);
                self.counters.evicted[*rank as usize] += 1;
                // Replay counts the eviction record, then the snapshot sets
                // the totals, so the snapshot must already include it.
                encode_record(
                    &mut out,
                    &snapshot_body(self.chain, self.epoch, &self.counters),
                );
                report.refused.push((sealed.epoch, sealed.seq, *rank));
            }
        }
        self.append(&out)?;
        self.sync()?;
        Ok(report)
    }

    /// Drops an acknowledged envelope. Not synced: losing an ack record only
    /// means the envelope is sent again and the collector answers "duplicate".
    pub fn ack(&mut self, epoch: u32, seq: u64) -> Result<bool, SpoolError> {
        if self.remove_pending(epoch, seq).is_none() {
            return Ok(false);
        }
        let mut record = Vec::new();
        encode_record(&mut record, &position_body(TYPE_ACK, epoch, seq));
        self.append(&record)?;
        if self.file_len > 4 * (self.pending_bytes + 64 * 1024) {
            self.compact()?;
        }
        Ok(true)
    }

    /// Drops an envelope the collector refused for good (a conflicting or
    /// malformed one), so that what follows it can still be delivered; the
    /// refusal is counted in [`SpoolCounters::rejected`]. Synced.
    pub fn reject(&mut self, epoch: u32, seq: u64) -> Result<bool, SpoolError> {
        if self.remove_pending(epoch, seq).is_none() {
            return Ok(false);
        }
        self.counters.rejected += 1;
        let mut record = Vec::new();
        encode_record(&mut record, &position_body(TYPE_REJECT, epoch, seq));
        self.append(&record)?;
        self.sync()?;
        Ok(true)
    }

    /// Rewrites the file with only what is still needed, atomically.
    pub fn compact(&mut self) -> Result<(), SpoolError> {
        let dir = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let tmp = dir.join(format!("{FILE_NAME}.compacting"));
        let io = |source| SpoolError::Io {
            path: tmp.clone(),
            source,
        };
        let mut out = MAGIC.to_vec();
        encode_record(
            &mut out,
            &snapshot_body(self.chain, self.epoch, &self.counters),
        );
        for pending in self.pending.values() {
            encode_record(&mut out, &message_body(pending));
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io)?;
        file.write_all(&out).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&tmp, &self.path).map_err(io)?;
        sync_dir(&dir).map_err(io)?;
        self.file = file;
        self.file_len = out.len() as u64;
        self.file
            .seek(SeekFrom::Start(self.file_len))
            .map_err(|source| self.io_error(source))?;
        Ok(())
    }

    /// Pending envelopes in commit order.
    pub fn pending(&self) -> impl Iterator<Item = &Pending> {
        self.pending.values()
    }

    /// The first pending envelope committed after the one numbered `after`
    /// (in this process's commit order), with its number.
    pub fn next_pending(&self, after: Option<u64>) -> Option<(u64, &Pending)> {
        let start = after.map_or(0, |order| order + 1);
        self.pending
            .range(start..)
            .next()
            .map(|(&order, pending)| (order, pending))
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn chain(&self) -> ChainPosition {
        self.chain
    }

    pub fn counters(&self) -> SpoolCounters {
        self.counters
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file_len(&self) -> u64 {
        self.file_len
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
