//! pcapng blocks as frames. A section's interfaces (link type, snapshot
//! length, timestamp unit `if_tsresol` and offset `if_tsoffset`) come from
//! its interface description blocks and are forgotten at the next section
//! header (numbering restarts per section). Enhanced, simple and obsolete
//! packet blocks become frames; the obsolete Packet Block (type 2), which
//! pcap-parser does not know, is read here. Format: the pcapng
//! specification (IETF draft-ietf-opsawg-pcapng), sections 4.1-4.4 and
//! appendix A.

use std::time::SystemTime;

use pcap_parser::{
    traits::PcapNGPacketBlock, Block, Linktype, OptionCode, PcapBlockOwned, PcapNGOption,
};

use super::{frame_link, unix_time, Frame, RecordError};
use crate::datapath::replay::FrameLink;

/// The most interfaces one section may describe (the format sets no limit;
/// this bounds the table).
pub(super) const INTERFACES_MAX: usize = 4096;

/// Block types, in the section's byte order (the section header's reads the
/// same both ways).
const SECTION_HEADER: u32 = 0x0a0d_0d0a;
const INTERFACE_DESCRIPTION: u32 = 1;
const OBSOLETE_PACKET: u32 = 2;
const SIMPLE_PACKET: u32 = 3;
const ENHANCED_PACKET: u32 = 6;
/// The byte-order magic of a section header, as written by a little-endian writer.
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

/// One interface of the current section.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: Linktype,
    frame_link: Option<FrameLink>,
    /// Bytes captured at most per packet; 0: no limit.
    snaplen: u32,
    /// Timestamp units per second (`if_tsresol`; default microseconds).
    units_per_sec: u128,
    /// Seconds added to every timestamp (`if_tsoffset`; default 0).
    offset_secs: i64,
}

impl Interface {
    /// The time of a timestamp of `units` of this interface.
    fn time(&self, units: u64) -> SystemTime {
        let nanos = u128::from(units) * 1_000_000_000 / self.units_per_sec.max(1);
        unix_time(
            i128::from(self.offset_secs) * 1_000_000_000
                + i128::try_from(nanos).unwrap_or(i128::MAX),
        )
    }
}

/// The state of the section being read.
#[derive(Debug, Default)]
pub(super) struct Section {
    /// The section's byte order (from its header's byte-order magic).
    pub(super) big_endian: bool,
    interfaces: Vec<Interface>,
}

/// What one block gives.
#[derive(Debug)]
pub(super) enum Item {
    Frame(Frame),
    /// A block without a packet (section header, interface, statistics...).
    NoFrame,
    /// A packet on an interface of this link type, which is not run.
    OtherLink(Linktype),
    Bad(RecordError),
}

impl Section {
    /// Reads `block`; a simple packet block, which has no time, gets `last_at`.
    pub(super) fn item(&mut self, block: PcapBlockOwned<'_>, last_at: SystemTime) -> Item {
        let PcapBlockOwned::NG(block) = block else {
            return Item::NoFrame;
        };
        match block {
            Block::SectionHeader(header) => {
                self.big_endian = header.big_endian();
                self.interfaces.clear();
                Item::NoFrame
            }
            Block::InterfaceDescription(description) => {
                if self.interfaces.len() >= INTERFACES_MAX {
                    return Item::Bad(RecordError::TooManyInterfaces(INTERFACES_MAX));
                }
                let (tsresol, offset_secs) = time_options(&description.options, self.big_endian);
                self.interfaces.push(Interface {
                    link: description.linktype,
                    frame_link: frame_link(description.linktype),
                    snaplen: description.snaplen,
                    units_per_sec: units_per_second(tsresol),
                    offset_secs,
                });
                Item::NoFrame
            }
            Block::EnhancedPacket(packet) => {
                let units = u64::from(packet.ts_high) << 32 | u64::from(packet.ts_low);
                self.packet(
                    packet.if_id,
                    Some(units),
                    packet.origlen,
                    packet.packet_data(),
                    last_at,
                )
            }
            Block::SimplePacket(packet) => {
                // Interface 0; captured: the original length, at most the
                // interface's snapshot length (the rest is padding).
                let snaplen = self
                    .interfaces
                    .first()
                    .map_or(0, |interface| interface.snaplen);
                let mut len = packet.data.len().min(to_usize(packet.origlen));
                if snaplen > 0 {
                    len = len.min(to_usize(snaplen));
                }
                let data = packet.data.get(..len).unwrap_or(packet.data);
                self.packet(0, None, packet.origlen, data, last_at)
            }
            Block::Unknown(block) if self.order(block.block_type) == OBSOLETE_PACKET => {
                match obsolete_packet(block.data, self.big_endian) {
                    Some((id, units, original_len, data)) => {
                        self.packet(u32::from(id), Some(units), original_len, data, last_at)
                    }
                    None => Item::Bad(RecordError::Malformed(
                        "an obsolete packet block shorter than its header and captured length"
                            .into(),
                    )),
                }
            }
            _ => Item::NoFrame,
        }
    }

    /// A block type read little-endian, in this section's byte order.
    fn order(&self, block_type: u32) -> u32 {
        if self.big_endian {
            block_type.swap_bytes()
        } else {
            block_type
        }
    }

    fn packet(
        &self,
        id: u32,
        units: Option<u64>,
        original_len: u32,
        data: &[u8],
        last_at: SystemTime,
    ) -> Item {
        let Some(interface) = self.interfaces.get(to_usize(id)) else {
            return Item::Bad(RecordError::UnknownInterface {
                id,
                known: self.interfaces.len(),
            });
        };
        let Some(link) = interface.frame_link else {
            return Item::OtherLink(interface.link);
        };
        Item::Frame(Frame {
            at: units.map_or(last_at, |units| interface.time(units)),
            data: data.to_vec(),
            original_len,
            link,
        })
    }
}

fn to_usize(value: u32) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// `if_tsresol` (default 6: microseconds) and `if_tsoffset` (seconds,
/// default 0) of an interface; the first of each counts.
fn time_options(options: &[PcapNGOption<'_>], big_endian: bool) -> (u8, i64) {
    let value = |code: OptionCode| {
        options
            .iter()
            .find(|option| option.code == code)
            .and_then(|option| option.as_bytes().ok())
    };
    let tsresol = value(OptionCode::IfTsresol)
        .and_then(|bytes| bytes.first().copied())
        .unwrap_or(6);
    let offset = value(OptionCode::IfTsoffset)
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map_or(0, |bytes| {
            if big_endian {
                i64::from_be_bytes(bytes)
            } else {
                i64::from_le_bytes(bytes)
            }
        });
    (tsresol, offset)
}

/// Timestamp units per second for an `if_tsresol` value: 10^n, or 2^n
/// when the high bit is set (pcapng, section 4.2); saturating.
pub(super) fn units_per_second(tsresol: u8) -> u128 {
    let exponent = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 != 0 {
        1u128.checked_shl(exponent).unwrap_or(u128::MAX)
    } else {
        10u128.checked_pow(exponent).unwrap_or(u128::MAX)
    }
}

fn u16_at(data: &[u8], at: usize, big_endian: bool) -> Option<u16> {
    let bytes = <[u8; 2]>::try_from(data.get(at..at.checked_add(2)?)?).ok()?;
    Some(if big_endian {
        u16::from_be_bytes(bytes)
    } else {
        u16::from_le_bytes(bytes)
    })
}

fn u32_at(data: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let bytes = <[u8; 4]>::try_from(data.get(at..at.checked_add(4)?)?).ok()?;
    Some(if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    })
}

/// An obsolete Packet Block's body (after type and length): interface id,
/// timestamp units, original length and captured bytes (appendix A:
/// interface u16, drops u16, timestamp high and low u32, captured and
/// original length u32, data).
fn obsolete_packet(body: &[u8], big_endian: bool) -> Option<(u16, u64, u32, &[u8])> {
    let id = u16_at(body, 0, big_endian)?;
    let units =
        u64::from(u32_at(body, 4, big_endian)?) << 32 | u64::from(u32_at(body, 8, big_endian)?);
    let captured = to_usize(u32_at(body, 12, big_endian)?);
    let original_len = u32_at(body, 16, big_endian)?;
    let data = body.get(20..20usize.checked_add(captured)?)?;
    Some((id, units, original_len, data))
}

/// The total length of the block starting `data`, once its first bytes are
/// there: a section header tells its own byte order, any other block is in
/// the current section's.
pub(super) fn block_len(data: &[u8], big_endian: bool) -> Option<usize> {
    let big_endian = if u32_at(data, 0, false)? == SECTION_HEADER {
        u32_at(data, 8, false)? != BYTE_ORDER_MAGIC
    } else {
        big_endian
    };
    Some(to_usize(u32_at(data, 4, big_endian)?))
}

/// The length of the block starting `data` if it is whole in `data`, well
/// framed (length a multiple of 4, repeated at its end) and carries no
/// packet nor section or interface: one that may be skipped unread.
pub(super) fn skippable(data: &[u8], big_endian: bool) -> Option<usize> {
    let kind = u32_at(data, 0, big_endian)?;
    if matches!(
        kind,
        SECTION_HEADER | INTERFACE_DESCRIPTION | OBSOLETE_PACKET | SIMPLE_PACKET | ENHANCED_PACKET
    ) {
        return None;
    }
    let len = to_usize(u32_at(data, 4, big_endian)?);
    let framed = len >= 12
        && len.is_multiple_of(4)
        && u32_at(data, len.checked_sub(4)?, big_endian)? == u32::try_from(len).ok()?;
    framed.then_some(len)
}
