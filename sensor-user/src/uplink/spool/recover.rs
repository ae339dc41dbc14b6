//! Opening the spool: reading every record back, and cutting off a torn
//! tail (the first record that is short, fails its CRC or has an unknown
//! type, and everything after it), which is counted and made durable.

use std::{
    collections::{BTreeMap, HashMap},
    fs::{self, OpenOptions},
    io::{Read as _, Seek as _, SeekFrom, Write as _},
    path::Path,
};

use super::{
    record::{
        crc, Fields, FILE_NAME, LOCK_FILE, MAGIC, MAX_BODY, RECORD_HEADER, TYPE_ACK, TYPE_EPOCH,
        TYPE_EVICT, TYPE_MESSAGE, TYPE_REJECT, TYPE_SNAPSHOT,
    },
    sync_dir, ChainPosition, Pending, Rank, Recovery, Spool, SpoolCounters, SpoolError,
};

impl Spool {
    /// Opens or creates `dir/spool`, recovering from a torn tail.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Spool, Recovery), SpoolError> {
        let path = dir.join(FILE_NAME);
        let io = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let lock = take_lock(dir)?;
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
            _lock: lock,
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
                let rank = Rank::from_repr(fields.take::<1>()?[0])?;
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
                    let rank = Rank::from_repr(fields.take::<1>()?[0])?;
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
                self.counters.rejected = fields.u64().unwrap_or(0);
            }
            TYPE_REJECT => {
                let (epoch, seq) = (fields.u32()?, fields.u64()?);
                if self.remove_pending(epoch, seq).is_some() {
                    self.counters.rejected += 1;
                }
            }
            _ => return None,
        }
        Some(RECORD_HEADER + len)
    }
}

/// Takes the spool directory's lock, so that a second agent (or a second
/// `Spool::open` in one process) pointed at the same spool is refused
/// instead of interleaving writes with the first. The lock lives in its own
/// file because compaction replaces the spool file.
fn take_lock(dir: &Path) -> Result<fs::File, SpoolError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| SpoolError::Io {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(SpoolError::Locked { path }),
        Err(fs::TryLockError::Error(source)) => Err(SpoolError::Io { path, source }),
    }
}
