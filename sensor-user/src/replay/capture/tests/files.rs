//! Capture files written byte by byte for the tests: pcap records and
//! pcapng blocks in either byte order (pcapng specification, sections 4.1-4.4
//! and appendix A).

use std::path::PathBuf;

/// A file in the temporary directory, removed when dropped.
pub(super) struct TempFile(pub(super) PathBuf);

impl TempFile {
    pub(super) fn new(name: &str, bytes: &[u8]) -> std::io::Result<TempFile> {
        let path =
            std::env::temp_dir().join(format!("vantage-capture-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes)?;
        Ok(TempFile(path))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Bytes in one byte order.
#[derive(Default)]
pub(super) struct Writer {
    big_endian: bool,
    out: Vec<u8>,
}

impl Writer {
    pub(super) fn new(big_endian: bool) -> Writer {
        Writer {
            big_endian,
            out: Vec::new(),
        }
    }
    pub(super) fn u16(&mut self, value: u16) -> &mut Writer {
        let bytes = if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        self.out.extend(bytes);
        self
    }
    pub(super) fn u32(&mut self, value: u32) -> &mut Writer {
        let bytes = if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        self.out.extend(bytes);
        self
    }
    pub(super) fn bytes(&mut self, bytes: &[u8]) -> &mut Writer {
        self.out.extend(bytes);
        self
    }
    /// `bytes`, padded to 4.
    pub(super) fn padded(&mut self, bytes: &[u8]) -> &mut Writer {
        self.out.extend(bytes);
        self.out.resize(self.out.len().next_multiple_of(4), 0);
        self
    }
    pub(super) fn units(&mut self, units: u64) -> &mut Writer {
        self.u32((units >> 32) as u32).u32(units as u32)
    }
}

/// A pcapng file, section by section.
#[derive(Default)]
pub(super) struct PcapNg {
    pub(super) out: Vec<u8>,
    big_endian: bool,
}

impl PcapNg {
    pub(super) fn block(&mut self, kind: u32, body: impl FnOnce(&mut Writer)) -> &mut PcapNg {
        let mut inner = Writer::new(self.big_endian);
        body(&mut inner);
        let len = 12 + inner.out.len() as u32;
        let mut block = Writer::new(self.big_endian);
        block.u32(kind).u32(len).bytes(&inner.out).u32(len);
        self.out.extend(block.out);
        self
    }
    pub(super) fn section(&mut self, big_endian: bool) -> &mut PcapNg {
        self.big_endian = big_endian;
        self.block(0x0a0d_0d0a, |w| {
            w.u32(0x1a2b_3c4d).u16(1).u16(0).u32(u32::MAX).u32(u32::MAX);
        })
    }
    /// An interface with options (code, value); ends them with opt_endofopt.
    pub(super) fn interface(
        &mut self,
        link: u16,
        snaplen: u32,
        options: &[(u16, &[u8])],
    ) -> &mut PcapNg {
        self.block(1, |w| {
            w.u16(link).u16(0).u32(snaplen);
            for (code, value) in options {
                w.u16(*code).u16(value.len() as u16).padded(value);
            }
            w.u16(0).u16(0);
        })
    }
    pub(super) fn enhanced(
        &mut self,
        id: u32,
        units: u64,
        data: &[u8],
        original_len: u32,
    ) -> &mut PcapNg {
        self.block(6, |w| {
            w.u32(id)
                .units(units)
                .u32(data.len() as u32)
                .u32(original_len)
                .padded(data);
        })
    }
    pub(super) fn simple(&mut self, original_len: u32, data: &[u8]) -> &mut PcapNg {
        self.block(3, |w| {
            w.u32(original_len).padded(data);
        })
    }
    pub(super) fn obsolete(
        &mut self,
        id: u16,
        units: u64,
        data: &[u8],
        original_len: u32,
    ) -> &mut PcapNg {
        self.block(2, |w| {
            w.u16(id)
                .u16(0)
                .units(units)
                .u32(data.len() as u32)
                .u32(original_len)
                .padded(data);
        })
    }
}

/// A pcap file: micro- or nanosecond, either byte order; records of
/// (seconds, fraction, data, original length).
pub(super) fn pcap(
    big_endian: bool,
    nanos: bool,
    link: u32,
    records: &[(u32, u32, &[u8], u32)],
) -> Vec<u8> {
    let mut w = Writer::new(big_endian);
    w.u32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 })
        .u16(2)
        .u16(4)
        .u32(0)
        .u32(0)
        .u32(65535)
        .u32(link);
    for (secs, fraction, data, original_len) in records {
        w.u32(*secs)
            .u32(*fraction)
            .u32(data.len() as u32)
            .u32(*original_len)
            .bytes(data);
    }
    w.out
}
