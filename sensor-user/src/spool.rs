//! The durable spool: every signed envelope is appended here and synced to
//! disk before it counts as sent, and stays until the collector acknowledges
//! it. A power cut or `kill -9` loses nothing committed.
//!
//! File format: the magic `VSPOOL1\n`, then records of
//! `[u32 length][u32 CRC-32 of body][body]` (little endian). Bodies start with
//! a type byte: a message (rank, epoch, sequence, chain hash, envelope), an
//! ack, an eviction, the start of a boot epoch, and a snapshot of the chain
//! position and counters written when the file is compacted.
//!
//! Recovery reads records until the first one that is short, fails its CRC or
//! has an unknown type; everything from there on is a torn tail, which is cut
//! off, counted and reported. Only a record that was never fully synced can be
//! torn, so nothing committed is lost that way.
//!
//! The spool is bounded in bytes of pending envelopes. To make room it evicts
//! the lowest [`Rank`] first and, within a rank, the oldest first; a new
//! message never displaces one of a higher rank (it is refused instead).
//! Heartbeats and critical alerts share the highest rank.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fs::{self, File, OpenOptions},
    io::{self, Read as _, Seek as _, SeekFrom, Write as _},
    path::{Path, PathBuf},
};

use vantage_protocol::{ChainHash, Message, Sealed, Severity};

const MAGIC: &[u8; 8] = b"VSPOOL1\n";
const FILE_NAME: &str = "spool";
const RECORD_HEADER: usize = 8;
/// Longest record body accepted at recovery.
const MAX_BODY: usize = 1 + 1 + 4 + 8 + 16 + vantage_protocol::MAX_ENVELOPE_LEN;

const TYPE_MESSAGE: u8 = 1;
const TYPE_ACK: u8 = 2;
const TYPE_EVICT: u8 = 3;
const TYPE_EPOCH: u8 = 4;
const TYPE_SNAPSHOT: u8 = 5;

/// Eviction rank: lower ranks are evicted first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rank {
    Info = 0,
    Low = 1,
    Medium = 2,
    High = 3,
    /// Critical alerts, heartbeats and enrolments.
    Keep = 4,
}

impl Rank {
    pub const ALL: [Rank; 5] = [Rank::Info, Rank::Low, Rank::Medium, Rank::High, Rank::Keep];

    pub fn of(message: &Message) -> Rank {
        match message {
            Message::Alert(alert) => match alert.severity {
                Severity::Info => Rank::Info,
                Severity::Low => Rank::Low,
                Severity::Medium => Rank::Medium,
                Severity::High => Rank::High,
                Severity::Critical => Rank::Keep,
            },
            Message::Heartbeat(_) | Message::Enrolment(_) => Rank::Keep,
        }
    }

    fn from_byte(byte: u8) -> Option<Rank> {
        Rank::ALL.get(usize::from(byte)).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            Rank::Info => "info",
            Rank::Low => "low",
            Rank::Medium => "medium",
            Rank::High => "high",
            Rank::Keep => "critical_or_heartbeat",
        }
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

fn crc(body: &[u8]) -> u32 {
    crc32fast::hash(body)
}

fn encode_record(out: &mut Vec<u8>, body: &[u8]) {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc(body).to_le_bytes());
    out.extend_from_slice(body);
}

fn position_body(kind: u8, epoch: u32, seq: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(13);
    body.push(kind);
    body.extend_from_slice(&epoch.to_le_bytes());
    body.extend_from_slice(&seq.to_le_bytes());
    body
}

fn message_body(pending: &Pending) -> Vec<u8> {
    let mut body = Vec::with_capacity(30 + pending.bytes.len());
    body.push(TYPE_MESSAGE);
    body.push(pending.rank as u8);
    body.extend_from_slice(&pending.epoch.to_le_bytes());
    body.extend_from_slice(&pending.seq.to_le_bytes());
    body.extend_from_slice(&pending.hash);
    body.extend_from_slice(&pending.bytes);
    body
}

fn snapshot_body(chain: ChainPosition, epoch: u32, counters: &SpoolCounters) -> Vec<u8> {
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
    body
}

/// A little-endian reader over a record body.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_at_checked(N)?;
        self.0 = rest;
        head.try_into().ok()
    }
    fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take::<8>().map(u64::from_le_bytes)
    }
}

impl Spool {
    /// Opens or creates `dir/spool`, recovering from a torn tail.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Spool, Recovery), SpoolError> {
        let path = dir.join(FILE_NAME);
        let io = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut contents = Vec::new();
        file.read_to_end(&mut contents).map_err(io)?;
        let mut spool = Spool {
            path: path.clone(),
            file,
            file_len: 0,
            max_bytes,
            pending: BTreeMap::new(),
            by_position: HashMap::new(),
            by_rank: Default::default(),
            pending_bytes: 0,
            next_order: 0,
            chain: ChainPosition::default(),
            epoch: 0,
            counters: SpoolCounters::default(),
        };
        let mut recovery = Recovery::default();
        if contents.len() < MAGIC.len() {
            if !MAGIC.starts_with(&contents) {
                return Err(SpoolError::NotASpool { path });
            }
            // New, or torn while being created: nothing was ever committed in it.
            if !contents.is_empty() {
                recovery.torn_records = 1;
                recovery.torn_bytes = contents.len() as u64;
            }
            spool.file.set_len(0).map_err(io)?;
            spool.file.seek(SeekFrom::Start(0)).map_err(io)?;
            spool.file.write_all(MAGIC).map_err(io)?;
            spool.file.sync_all().map_err(io)?;
            sync_dir(dir).map_err(io)?;
            contents = MAGIC.to_vec();
        } else if &contents[..MAGIC.len()] != MAGIC {
            return Err(SpoolError::NotASpool { path });
        }
        let mut offset = MAGIC.len();
        while offset < contents.len() {
            match spool.replay_record(&contents[offset..]) {
                Some(used) => offset += used,
                None => break,
            }
        }
        if offset < contents.len() {
            recovery.torn_records = 1;
            recovery.torn_bytes = (contents.len() - offset) as u64;
            spool.file.set_len(offset as u64).map_err(io)?;
            spool.file.sync_all().map_err(io)?;
        }
        spool.counters.torn_records += recovery.torn_records;
        spool.counters.torn_bytes += recovery.torn_bytes;
        spool.file_len = offset as u64;
        spool
            .file
            .seek(SeekFrom::Start(spool.file_len))
            .map_err(io)?;
        recovery.pending = spool.pending.len();
        if recovery.torn_records > 0 {
            // Make the new totals durable at once.
            spool.compact()?;
        }
        Ok((spool, recovery))
    }

    /// Applies one record; `None` when it is torn or unreadable.
    fn replay_record(&mut self, input: &[u8]) -> Option<usize> {
        let mut header = Fields(input);
        let len = usize::try_from(header.u32()?).ok()?;
        let checksum = header.u32()?;
        if len == 0 || len > MAX_BODY {
            return None;
        }
        let body = header.0.get(..len)?;
        if crc(body) != checksum {
            return None;
        }
        let mut fields = Fields(&body[1..]);
        match body[0] {
            TYPE_MESSAGE => {
                let rank = Rank::from_byte(fields.take::<1>()?[0])?;
                let epoch = fields.u32()?;
                let seq = fields.u64()?;
                let hash = fields.take::<16>()?;
                let pending = Pending {
                    epoch,
                    seq,
                    rank,
                    hash,
                    bytes: fields.0.to_vec(),
                };
                self.chain = ChainPosition { epoch, seq, hash };
                self.insert_pending(pending);
            }
            TYPE_ACK => {
                let (epoch, seq) = (fields.u32()?, fields.u64()?);
                self.remove_pending(epoch, seq);
            }
            TYPE_EVICT => {
                let (epoch, seq) = (fields.u32()?, fields.u64()?);
                if let Some(gone) = self.remove_pending(epoch, seq) {
                    self.counters.evicted[gone.rank as usize] += 1;
                } else {
                    // A refused new message: it never became pending.
                    let rank = Rank::from_byte(fields.take::<1>()?[0])?;
                    self.counters.evicted[rank as usize] += 1;
                }
            }
            TYPE_EPOCH => self.epoch = fields.u32()?,
            TYPE_SNAPSHOT => {
                self.epoch = fields.u32()?;
                self.chain = ChainPosition {
                    epoch: fields.u32()?,
                    seq: fields.u64()?,
                    hash: fields.take::<16>()?,
                };
                for evicted in &mut self.counters.evicted {
                    *evicted = fields.u64()?;
                }
                self.counters.torn_records = fields.u64()?;
                self.counters.torn_bytes = fields.u64()?;
            }
            _ => return None,
        }
        Some(RECORD_HEADER + len)
    }

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
    pub fn begin_epoch(&mut self) -> Result<(u32, ChainPosition), SpoolError> {
        let epoch = self.epoch.max(self.chain.epoch) + 1;
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
