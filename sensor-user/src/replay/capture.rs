//! Capture files as a stream of frames with their time: pcap (micro- and
//! nanosecond, either byte order) and pcapng, told apart by their magic
//! bytes, never by the file's extension. The records are parsed by the
//! `pcap-parser` crate (rusticata); this module drives its streaming
//! readers (a buffer that starts at 64 KiB and grows for a larger record,
//! up to [`RECORD_MAX`]), keeps the pcapng interfaces of each section
//! (`pcapng` submodule), and maps link types to what the XDP program reads
//! (Ethernet, or raw IP).
//!
//! The whole file is never held in memory: one record at a time, plus what
//! the buffer has read ahead.

mod pcapng;
mod stream;
#[cfg(test)]
mod tests;

use std::{
    fs::File,
    io::{Read, Seek},
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use pcap_parser::{
    traits::PcapReaderIterator, LegacyPcapReader, Linktype, PcapBlockOwned, PcapNGReader,
};

use crate::datapath::replay::FrameLink;
use stream::{pcap_record_len, read_record, record_error, Buffer};

/// The reading buffer's first size, bytes (pcap-parser advises at least 64 KiB).
const BUFFER_START: usize = 64 * 1024;

/// The largest record read, bytes (16 MiB): a larger one is refused rather
/// than buffered. Real frames are at most 256 KiB (libpcap's snapshot
/// length); anything near this is a corrupt length field.
pub const RECORD_MAX: usize = 16 * 1024 * 1024;

/// One frame of a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// When it was captured (the capture's clock).
    pub at: SystemTime,
    /// The bytes captured (may be fewer than `original_len`).
    pub data: Vec<u8>,
    /// The frame's length on the wire, bytes.
    pub original_len: u32,
    pub link: FrameLink,
}

/// A capture that cannot be read, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("opening {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a pcap or pcapng file ({}); replay reads libpcap and pcapng captures", path.display(), describe_magic(magic))]
    Format { path: PathBuf, magic: Vec<u8> },
    #[error("{}: {format} header: {source}", path.display())]
    Header {
        path: PathBuf,
        format: &'static str,
        #[source]
        source: RecordError,
    },
    #[error("{}: link type {} is neither Ethernet nor raw IP; the XDP program reads only those (capture with `tcpdump -i IFACE` on an Ethernet interface, not `-i any`)", path.display(), link_name(*link))]
    LinkType { path: PathBuf, link: Linktype },
    #[error("{}: frame {frame}: {source}", path.display())]
    Frame {
        path: PathBuf,
        /// The number of the frame that could not be read (1 = the first).
        frame: u64,
        #[source]
        source: RecordError,
    },
}

/// Why one record (a pcap packet record, a pcapng block) cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("the file ends inside this record (cut short)")]
    CutShort,
    #[error(
        "a record of {len} bytes is larger than the {limit} bytes replay reads (corrupt length?)"
    )]
    TooLarge { len: usize, limit: usize },
    #[error("malformed record: {0}")]
    Malformed(String),
    #[error("the file could not be read (I/O error)")]
    Read,
    #[error("a packet on interface {id}, but its pcapng section describes {known} interface(s)")]
    UnknownInterface { id: u32, known: usize },
    #[error("more than {0} interfaces in one pcapng section")]
    TooManyInterfaces(usize),
}

/// "the file is empty", or its first bytes in hex ("first bytes 0x23 0x20 ...").
fn describe_magic(magic: &[u8]) -> String {
    if magic.is_empty() {
        return "the file is empty".to_owned();
    }
    let bytes: Vec<String> = magic.iter().map(|b| format!("0x{b:02x}")).collect();
    format!("first bytes {}", bytes.join(" "))
}

/// The two file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    Pcap,
    PcapNg,
}

impl CaptureFormat {
    /// The format of a file starting with `magic` (at least 4 bytes).
    pub fn sniff(magic: &[u8]) -> Option<CaptureFormat> {
        match magic.get(..4)? {
            [0xa1, 0xb2, 0xc3, 0xd4]
            | [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
            | [0x4d, 0x3c, 0xb2, 0xa1] => Some(CaptureFormat::Pcap),
            [0x0a, 0x0d, 0x0d, 0x0a] => Some(CaptureFormat::PcapNg),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CaptureFormat::Pcap => "pcap",
            CaptureFormat::PcapNg => "pcapng",
        }
    }
}

/// What the XDP program makes of a link type.
fn frame_link(link: Linktype) -> Option<FrameLink> {
    match link {
        Linktype::ETHERNET => Some(FrameLink::Ethernet),
        Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => Some(FrameLink::RawIp),
        _ => None,
    }
}

/// A link type's name ("LINUX_SLL"), or its number ("147") for one
/// pcap-parser does not name.
fn link_name(link: Linktype) -> String {
    let name = link.to_string();
    if name.starts_with("Linktype(") {
        format!("{}", link.0)
    } else {
        name
    }
}

/// A time given in nanoseconds from the Unix epoch (negative: before it),
/// saturating at the epoch and at `SystemTime`'s range.
fn unix_time(nanos: i128) -> SystemTime {
    let magnitude = nanos.unsigned_abs();
    let secs = u64::try_from(magnitude / 1_000_000_000).unwrap_or(u64::MAX);
    let subsec = u32::try_from(magnitude % 1_000_000_000).unwrap_or(0);
    let span = Duration::new(secs, subsec);
    let at = if nanos >= 0 {
        UNIX_EPOCH.checked_add(span)
    } else {
        UNIX_EPOCH.checked_sub(span)
    };
    at.unwrap_or(UNIX_EPOCH)
}

enum Reader {
    Pcap {
        reader: Box<LegacyPcapReader<File>>,
        link: FrameLink,
        big_endian: bool,
        /// Nanoseconds per unit of the fraction (1000: microsecond file).
        nanos_per_unit: u128,
    },
    PcapNg {
        reader: Box<PcapNGReader<File>>,
        section: pcapng::Section,
    },
}

/// Frames of a capture file, in file order; see the module documentation.
pub struct Capture {
    path: PathBuf,
    format: CaptureFormat,
    reader: Reader,
    buffer: Buffer,
    frames: u64,
    last_at: SystemTime,
    done: bool,
    other_link_frames: u64,
    other_links: Vec<String>,
}

/// At most this many distinct other link types are named (all are counted).
const OTHER_LINKS_MAX: usize = 32;

impl Capture {
    /// Opens `path`, checks its magic and (pcap) its link type.
    pub fn open(path: &Path) -> Result<Capture, CaptureError> {
        let open_error = |source| CaptureError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(open_error)?;
        let mut magic = Vec::with_capacity(4);
        (&mut file)
            .take(4)
            .read_to_end(&mut magic)
            .map_err(open_error)?;
        let format = CaptureFormat::sniff(&magic).ok_or_else(|| CaptureError::Format {
            path: path.to_path_buf(),
            magic: magic.clone(),
        })?;
        file.rewind().map_err(open_error)?;
        let header_error = |source| CaptureError::Header {
            path: path.to_path_buf(),
            format: format.name(),
            source,
        };
        let mut buffer = Buffer {
            capacity: BUFFER_START,
            limit: RECORD_MAX,
        };
        let reader = match format {
            CaptureFormat::Pcap => {
                let mut reader = Box::new(
                    LegacyPcapReader::new(buffer.capacity, file)
                        .map_err(|error| header_error(record_error(&error)))?,
                );
                // The reader hands out the file header as its first record.
                let header = read_record(
                    reader.as_mut(),
                    &mut buffer,
                    |_| None,
                    |block| match block {
                        PcapBlockOwned::LegacyHeader(header) => Some(header),
                        _ => None,
                    },
                );
                let header = match header {
                    Some(Ok(Some(header))) => header,
                    Some(Err(error)) => return Err(header_error(error)),
                    None | Some(Ok(None)) => {
                        return Err(header_error(RecordError::Malformed(
                            "no file header".into(),
                        )))
                    }
                };
                let link = frame_link(header.network).ok_or_else(|| CaptureError::LinkType {
                    path: path.to_path_buf(),
                    link: header.network,
                })?;
                Reader::Pcap {
                    reader,
                    link,
                    big_endian: header.is_bigendian(),
                    nanos_per_unit: if header.is_nanosecond_precision() {
                        1
                    } else {
                        1000
                    },
                }
            }
            CaptureFormat::PcapNg => Reader::PcapNg {
                reader: Box::new(
                    PcapNGReader::new(buffer.capacity, file)
                        .map_err(|error| header_error(record_error(&error)))?,
                ),
                section: pcapng::Section::default(),
            },
        };
        Ok(Capture {
            path: path.to_path_buf(),
            format,
            reader,
            buffer,
            frames: 0,
            last_at: UNIX_EPOCH,
            done: false,
            other_link_frames: 0,
            other_links: Vec::new(),
        })
    }

    /// pcap or pcapng.
    pub fn format(&self) -> CaptureFormat {
        self.format
    }

    /// Frames of pcapng interfaces whose link type is neither Ethernet nor
    /// raw IP (skipped, not returned), and those link types' names (the
    /// first 32 distinct ones).
    pub fn other_link_frames(&self) -> (u64, &[String]) {
        (self.other_link_frames, &self.other_links)
    }

    /// The next frame, `None` at the end; an error ends the stream.
    pub fn next_frame(&mut self) -> Option<Result<Frame, CaptureError>> {
        if self.done {
            return None;
        }
        let next = match self.reader {
            Reader::Pcap { .. } => self.next_pcap(),
            Reader::PcapNg { .. } => self.next_pcapng(),
        };
        match &next {
            Some(Ok(frame)) => {
                self.frames += 1;
                self.last_at = frame.at;
            }
            Some(Err(_)) | None => self.done = true,
        }
        next.map(|result| result.map_err(|source| self.frame_error(source)))
    }

    fn frame_error(&self, source: RecordError) -> CaptureError {
        CaptureError::Frame {
            path: self.path.clone(),
            frame: self.frames + 1,
            source,
        }
    }

    fn next_pcap(&mut self) -> Option<Result<Frame, RecordError>> {
        let Reader::Pcap {
            reader,
            link,
            big_endian,
            nanos_per_unit,
        } = &mut self.reader
        else {
            return None;
        };
        let (link, big_endian, nanos_per_unit) = (*link, *big_endian, *nanos_per_unit);
        let framing = |data: &[u8]| pcap_record_len(data, big_endian);
        let record = read_record(
            reader.as_mut(),
            &mut self.buffer,
            framing,
            |block| match block {
                PcapBlockOwned::Legacy(packet) => Some(Frame {
                    at: unix_time(
                        i128::from(packet.ts_sec) * 1_000_000_000
                            + i128::from(packet.ts_usec) * nanos_per_unit as i128,
                    ),
                    data: packet.data.to_vec(),
                    original_len: packet.origlen,
                    link,
                }),
                PcapBlockOwned::LegacyHeader(_) | PcapBlockOwned::NG(_) => None,
            },
        );
        match record? {
            Ok(Some(frame)) => Some(Ok(frame)),
            Ok(None) => Some(Err(RecordError::Malformed("not a packet record".into()))),
            Err(error) => Some(Err(error)),
        }
    }

    fn next_pcapng(&mut self) -> Option<Result<Frame, RecordError>> {
        loop {
            let Reader::PcapNg { reader, section } = &mut self.reader else {
                return None;
            };
            let big_endian = section.big_endian;
            let framing = |data: &[u8]| pcapng::block_len(data, big_endian);
            let item = match read_record(reader.as_mut(), &mut self.buffer, framing, |block| {
                section.item(block, self.last_at)
            })? {
                Ok(item) => item,
                Err(RecordError::Malformed(why)) => {
                    // A block pcap-parser cannot read that holds no packet
                    // (statistics, name resolution, custom) is skipped.
                    match pcapng::skippable(reader.data(), big_endian) {
                        Some(len) => {
                            reader.consume(len);
                            continue;
                        }
                        None => return Some(Err(RecordError::Malformed(why))),
                    }
                }
                Err(error) => return Some(Err(error)),
            };
            match item {
                pcapng::Item::Frame(frame) => return Some(Ok(frame)),
                pcapng::Item::NoFrame => {}
                pcapng::Item::OtherLink(link) => {
                    // A pcapng file may mix link types: frames of other links
                    // are counted and reported, not run.
                    self.other_link_frames += 1;
                    let name = link_name(link);
                    if self.other_links.len() < OTHER_LINKS_MAX && !self.other_links.contains(&name)
                    {
                        self.other_links.push(name);
                    }
                }
                pcapng::Item::Bad(error) => return Some(Err(error)),
            }
        }
    }
}
