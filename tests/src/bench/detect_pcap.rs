//! Captures for the replay benchmark (`vantage-detect-bench`, part
//! `replay`): a classic pcap file read whole and written back as several
//! passes one after the other, each pass shifted in time past the end of
//! the previous one (a replay's clock only moves forward), so that a small
//! public capture becomes one long enough to time. The byte order, the time
//! resolution (micro- or nanoseconds), the snap length and the link type of
//! the original are kept; pcapng is refused.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _};

/// Length of the file header and of each record header, bytes.
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// A classic pcap file in memory.
#[derive(Clone, Debug)]
pub struct Pcap {
    header: [u8; FILE_HEADER],
    big_endian: bool,
    records: Vec<Record>,
}

#[derive(Clone, Debug)]
struct Record {
    secs: u32,
    /// Micro- or nanoseconds, as the file has them.
    frac: u32,
    orig_len: u32,
    data: Vec<u8>,
}

impl Pcap {
    /// Reads `path` (a classic pcap, either byte order, micro- or nanosecond).
    pub fn read(path: &Path) -> anyhow::Result<Pcap> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Pcap::parse(&bytes).with_context(|| format!("reading {}", path.display()))
    }

    /// Parses a whole classic pcap file.
    pub fn parse(bytes: &[u8]) -> anyhow::Result<Pcap> {
        let Some(head) = bytes.get(..FILE_HEADER) else {
            bail!("shorter than a pcap header");
        };
        let mut header = [0u8; FILE_HEADER];
        header.copy_from_slice(head);
        let big_endian = match [head[0], head[1], head[2], head[3]] {
            [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => false,
            [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => true,
            other => bail!("not a classic pcap file (magic {other:02x?}; pcapng is not taken)"),
        };
        let word = |at: usize| -> anyhow::Result<u32> {
            let Some(b) = bytes.get(at..at + 4) else {
                bail!("cut inside a record header at byte {at}");
            };
            let b = [b[0], b[1], b[2], b[3]];
            Ok(if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        let mut records = Vec::new();
        let mut at = FILE_HEADER;
        while at < bytes.len() {
            let (secs, frac, incl, orig_len) = (
                word(at)?,
                word(at + 4)?,
                word(at + 8)? as usize,
                word(at + 12)?,
            );
            let start = at + RECORD_HEADER;
            let Some(data) = bytes.get(start..start + incl) else {
                bail!("record at byte {at} runs past the end of the file");
            };
            records.push(Record {
                secs,
                frac,
                orig_len,
                data: data.to_vec(),
            });
            at = start + incl;
        }
        Ok(Pcap {
            header,
            big_endian,
            records,
        })
    }

    /// Frames in the file.
    pub fn frames(&self) -> usize {
        self.records.len()
    }

    /// Whole seconds from the first frame to the last, rounded up.
    fn span_secs(&self) -> u32 {
        let first = self.records.first().map_or(0, |r| r.secs);
        let last = self.records.iter().map(|r| r.secs).max().unwrap_or(first);
        last.saturating_sub(first) + 1
    }

    /// The file as `passes` passes of its frames: pass `p` is shifted by
    /// `p` times (span + 2 s), so each starts two seconds or more after the
    /// previous one ends.
    pub fn passes(&self, passes: u32) -> Vec<u8> {
        let size: usize = self
            .records
            .iter()
            .map(|r| RECORD_HEADER + r.data.len())
            .sum();
        let mut out = Vec::with_capacity(FILE_HEADER + size * passes as usize);
        out.extend_from_slice(&self.header);
        let shift = self.span_secs() + 1;
        let put = |out: &mut Vec<u8>, value: u32| {
            out.extend_from_slice(&if self.big_endian {
                value.to_be_bytes()
            } else {
                value.to_le_bytes()
            });
        };
        for pass in 0..passes {
            for record in &self.records {
                put(&mut out, record.secs.wrapping_add(pass.wrapping_mul(shift)));
                put(&mut out, record.frac);
                put(&mut out, record.data.len() as u32);
                put(&mut out, record.orig_len);
                out.extend_from_slice(&record.data);
            }
        }
        out
    }
}

/// A directory under the system's temporary directory, removed (with what
/// it holds) on drop.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub fn create(tag: &str) -> anyhow::Result<ScratchDir> {
        let path = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(ScratchDir { path })
    }

    /// Writes `bytes` to `name` in the directory; its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
        let path = self.path.join(name);
        let mut file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(big_endian: bool, frames: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let put = |out: &mut Vec<u8>, v: u32| {
            out.extend_from_slice(&if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        let mut out = Vec::new();
        put(&mut out, 0xa1b2_c3d4);
        out.extend_from_slice(&if big_endian {
            [0, 2, 0, 4]
        } else {
            [2, 0, 4, 0]
        });
        put(&mut out, 0);
        put(&mut out, 0);
        put(&mut out, 65_535);
        put(&mut out, 1);
        for (secs, frac, data) in frames {
            put(&mut out, *secs);
            put(&mut out, *frac);
            put(&mut out, data.len() as u32);
            put(&mut out, data.len() as u32 + 10);
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn passes_repeat_the_frames_later_in_time() -> anyhow::Result<()> {
        for big_endian in [false, true] {
            let original = file(big_endian, &[(100, 5, b"abc"), (103, 7, b"de")]);
            let pcap = Pcap::parse(&original)?;
            assert_eq!(pcap.frames(), 2);
            let three = Pcap::parse(&pcap.passes(3))?;
            assert_eq!(three.frames(), 6);
            // Span 103 - 100 + 1 = 4 s, so each pass is 5 s after the previous.
            let secs: Vec<u32> = three.records.iter().map(|r| r.secs).collect();
            assert_eq!(secs, vec![100, 103, 105, 108, 110, 113]);
            assert_eq!(three.records[5].frac, 7);
            assert_eq!(three.records[5].orig_len, 12);
            assert_eq!(three.records[4].data, b"abc".to_vec());
            assert_eq!(pcap.passes(1), original);
        }
        Ok(())
    }

    #[test]
    fn pcapng_and_cut_files_are_refused() {
        assert!(Pcap::parse(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]).is_err());
        let mut cut = file(false, &[(1, 0, b"abcdef")]);
        cut.truncate(cut.len() - 2);
        assert!(Pcap::parse(&cut).is_err());
    }
}
