//! Capture files as a stream of frames with their time: pcap (micro- and
//! nanosecond) and pcapng, told apart by their magic bytes, never by the
//! file's extension. The formats themselves are read by the `pcap-file`
//! crate; this module picks the reader, scales pcapng timestamps by each
//! interface's `if_tsresol`, and maps link types to what the XDP program
//! reads (Ethernet, or raw IP).

use std::{
    fs::File,
    io::{BufReader, Read},
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use pcap_file::{
    pcap::PcapReader,
    pcapng::{
        blocks::{interface_description::InterfaceDescriptionOption, Block},
        PcapNgReader,
    },
    DataLink, PcapError,
};

use crate::datapath::replay::FrameLink;

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
    #[error("{}: not a pcap or pcapng file (first bytes {magic:02x?}); replay reads libpcap and pcapng captures", path.display())]
    Format { path: PathBuf, magic: Vec<u8> },
    #[error("{}: {format} header: {source}", path.display())]
    Header {
        path: PathBuf,
        format: &'static str,
        #[source]
        source: PcapError,
    },
    #[error("{}: link type {link:?} is neither Ethernet nor raw IP; the XDP program reads only those (capture with `tcpdump -i IFACE` on an Ethernet interface, not `-i any`)", path.display())]
    LinkType { path: PathBuf, link: DataLink },
    #[error("{}: frame {frame}: {source}", path.display())]
    Frame {
        path: PathBuf,
        frame: u64,
        #[source]
        source: PcapError,
    },
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
fn frame_link(link: DataLink) -> Option<FrameLink> {
    match link {
        DataLink::ETHERNET => Some(FrameLink::Ethernet),
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Some(FrameLink::RawIp),
        _ => None,
    }
}

/// One pcapng interface: its link and the length of its timestamp unit.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: Option<FrameLink>,
    data_link: DataLink,
    /// Timestamp units per second.
    units_per_sec: u128,
}

enum Reader {
    Pcap {
        reader: PcapReader<BufReader<File>>,
        link: FrameLink,
    },
    PcapNg {
        reader: Box<PcapNgReader<BufReader<File>>>,
        interfaces: Vec<Interface>,
    },
}

/// Frames of a capture file, in file order; see the module documentation.
pub struct Capture {
    path: PathBuf,
    format: CaptureFormat,
    reader: Reader,
    frames: u64,
    last_at: SystemTime,
    done: bool,
    other_link_frames: u64,
    other_links: Vec<String>,
}

impl Capture {
    /// Opens `path`, checks its magic and (pcap) its link type.
    pub fn open(path: &Path) -> Result<Capture, CaptureError> {
        let open = || {
            File::open(path).map_err(|source| CaptureError::Open {
                path: path.to_path_buf(),
                source,
            })
        };
        let mut magic = Vec::with_capacity(4);
        open()?
            .take(4)
            .read_to_end(&mut magic)
            .map_err(|source| CaptureError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let format = CaptureFormat::sniff(&magic).ok_or_else(|| CaptureError::Format {
            path: path.to_path_buf(),
            magic: magic.clone(),
        })?;
        let file = BufReader::new(open()?);
        let header_error = |source| CaptureError::Header {
            path: path.to_path_buf(),
            format: format.name(),
            source,
        };
        let reader = match format {
            CaptureFormat::Pcap => {
                let reader = PcapReader::new(file).map_err(header_error)?;
                let data_link = reader.header().datalink;
                let link = frame_link(data_link).ok_or_else(|| CaptureError::LinkType {
                    path: path.to_path_buf(),
                    link: data_link,
                })?;
                Reader::Pcap { reader, link }
            }
            CaptureFormat::PcapNg => Reader::PcapNg {
                reader: Box::new(PcapNgReader::new(file).map_err(header_error)?),
                interfaces: Vec::new(),
            },
        };
        Ok(Capture {
            path: path.to_path_buf(),
            format,
            reader,
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
    /// raw IP (skipped, not returned), and those link types' names.
    pub fn other_link_frames(&self) -> (u64, &[String]) {
        (self.other_link_frames, &self.other_links)
    }

    /// The next frame, `None` at the end; an error ends the stream.
    pub fn next_frame(&mut self) -> Option<Result<Frame, CaptureError>> {
        if self.done {
            return None;
        }
        let next = self.read_next();
        match &next {
            Some(Ok(frame)) => {
                self.frames += 1;
                self.last_at = frame.at;
            }
            Some(Err(_)) | None => self.done = true,
        }
        next
    }

    fn frame_error(&self, source: PcapError) -> CaptureError {
        CaptureError::Frame {
            path: self.path.clone(),
            frame: self.frames + 1,
            source,
        }
    }

    fn read_next(&mut self) -> Option<Result<Frame, CaptureError>> {
        match &mut self.reader {
            Reader::Pcap { reader, link } => {
                let link = *link;
                let packet = match reader.next_packet()? {
                    Ok(packet) => packet,
                    Err(error) => return Some(Err(self.frame_error(error))),
                };
                Some(Ok(Frame {
                    at: UNIX_EPOCH + packet.timestamp,
                    original_len: packet.orig_len,
                    data: packet.data.into_owned(),
                    link,
                }))
            }
            Reader::PcapNg { .. } => self.next_pcapng(),
        }
    }

    fn next_pcapng(&mut self) -> Option<Result<Frame, CaptureError>> {
        loop {
            let Reader::PcapNg { reader, interfaces } = &mut self.reader else {
                return None;
            };
            let block = match reader.next_block()? {
                Ok(block) => block,
                Err(error) => return Some(Err(self.frame_error(error))),
            };
            let (interface_id, raw_units, original_len, data) = match block {
                Block::SectionHeader(_) => {
                    // A new section starts its own interface numbering.
                    interfaces.clear();
                    continue;
                }
                Block::InterfaceDescription(description) => {
                    let exponent = description.options.iter().find_map(|option| match option {
                        InterfaceDescriptionOption::IfTsResol(value) => Some(*value),
                        _ => None,
                    });
                    interfaces.push(Interface {
                        link: frame_link(description.linktype),
                        data_link: description.linktype,
                        units_per_sec: units_per_second(exponent.unwrap_or(6)),
                    });
                    continue;
                }
                Block::EnhancedPacket(packet) => (
                    packet.interface_id,
                    Some(packet.timestamp.as_nanos()),
                    packet.original_len,
                    packet.data.into_owned(),
                ),
                Block::Packet(packet) => (
                    u32::from(packet.interface_id),
                    Some(u128::from(packet.timestamp)),
                    packet.original_len,
                    packet.data.into_owned(),
                ),
                Block::SimplePacket(packet) => (
                    0,
                    None,
                    packet.original_len,
                    packet.data.into_owned(),
                ),
                _ => continue,
            };
            let Some(interface) = interfaces.get(interface_id as usize).copied() else {
                return Some(Err(self.frame_error(PcapError::InvalidInterfaceId(interface_id))));
            };
            let Some(link) = interface.link else {
                // A pcapng file may mix link types: frames of other links
                // are counted and reported, not run.
                self.other_link_frames += 1;
                let name = format!("{:?}", interface.data_link);
                if !self.other_links.contains(&name) {
                    self.other_links.push(name);
                }
                continue;
            };
            // A simple packet block has no time: it keeps the last one.
            let at = raw_units.map_or(self.last_at, |units| {
                let nanos = units.saturating_mul(1_000_000_000) / interface.units_per_sec.max(1);
                UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            });
            return Some(Ok(Frame {
                at,
                original_len,
                data,
                link,
            }));
        }
    }
}

/// Timestamp units per second for an `if_tsresol` value: 10^n, or 2^n
/// when the high bit is set (pcapng, section 4.2).
fn units_per_second(tsresol: u8) -> u128 {
    let exponent = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 != 0 {
        1u128.checked_shl(exponent).unwrap_or(u128::MAX)
    } else {
        10u128.checked_pow(exponent).unwrap_or(u128::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_reads_the_magic_not_the_name() {
        assert_eq!(
            CaptureFormat::sniff(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]),
            Some(CaptureFormat::Pcap)
        );
        assert_eq!(
            CaptureFormat::sniff(&[0x4d, 0x3c, 0xb2, 0xa1]),
            Some(CaptureFormat::Pcap)
        );
        assert_eq!(
            CaptureFormat::sniff(&[0x0a, 0x0d, 0x0d, 0x0a]),
            Some(CaptureFormat::PcapNg)
        );
        assert_eq!(CaptureFormat::sniff(b"GET /"), None);
        assert_eq!(CaptureFormat::sniff(&[0xa1]), None);
    }

    #[test]
    fn tsresol_units() {
        assert_eq!(units_per_second(6), 1_000_000);
        assert_eq!(units_per_second(9), 1_000_000_000);
        assert_eq!(units_per_second(0x80 | 10), 1024);
    }

    #[test]
    fn a_text_file_is_refused_naming_it() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("vantage-capture-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("notes.pcap");
        std::fs::write(&path, "hello, world\n")?;
        let error = Capture::open(&path).err().map(|e| e.to_string());
        std::fs::remove_dir_all(&dir)?;
        let text = error.unwrap_or_default();
        assert!(text.contains("notes.pcap: not a pcap or pcapng file"), "{text}");
        Ok(())
    }
}
