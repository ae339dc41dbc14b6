//! Capture reading on files written byte by byte (`files`): both pcap
//! precisions and byte orders, a two-section pcapng (little- then
//! big-endian), every packet block kind, cut and oversized records.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{pcapng::units_per_second, *};
use files::{pcap, PcapNg, TempFile};

mod files;

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

fn at(secs: u64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs, nanos)
}

/// Every frame until the end or the first error.
fn read_all(capture: &mut Capture) -> (Vec<Frame>, Option<CaptureError>) {
    let mut frames = Vec::new();
    while let Some(next) = capture.next_frame() {
        match next {
            Ok(frame) => frames.push(frame),
            Err(error) => return (frames, Some(error)),
        }
    }
    (frames, None)
}

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
    assert_eq!(units_per_second(0x7f), u128::MAX);
}

#[test]
fn a_text_file_is_refused_naming_it() -> Result {
    let file = TempFile::new("notes.pcap", b"hello, world\n")?;
    let text = Capture::open(&file.0)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        text.contains("notes.pcap: not a pcap or pcapng file"),
        "{text}"
    );
    Ok(())
}

#[test]
fn a_two_section_pcapng_little_then_big_endian_is_read_frame_for_frame() -> Result {
    let mut ng = PcapNg::default();
    ng.section(false)
        // Interface 0: Ethernet, nanoseconds, snapshot 64 bytes.
        .interface(1, 64, &[(9, &[9])])
        // Interface 1: Linux cooked capture, not run.
        .interface(113, 0, &[])
        .enhanced(0, 1_700_000_000_123_456_789, &[0xaa; 60], 60)
        .enhanced(1, 1_700_000_000_200_000_000, &[0xbb; 40], 40)
        // No time: keeps the last frame's; 62 bytes padded to 64.
        .simple(62, &[0xcc; 62])
        // Cut to the interface's snapshot length.
        .simple(100, &[0xdd; 64])
        .obsolete(0, 1_700_000_001_000_000_000, &[0xee; 50], 70)
        // Big-endian section: interfaces numbered afresh; raw IP in
        // 1/1024 s units, 100 s added.
        .section(true)
        .interface(101, 0, &[(9, &[0x80 | 10]), (14, &100i64.to_be_bytes())])
        // An interface statistics block too short for its kind: skipped.
        .block(5, |w| {
            w.u32(0);
        })
        .enhanced(0, 1_600_000_000 * 1024 + 512, &[0x45; 20], 20);
    let file = TempFile::new("two-sections.pcapng", &ng.out)?;
    let mut capture = Capture::open(&file.0)?;
    assert_eq!(capture.format(), CaptureFormat::PcapNg);
    let (frames, error) = read_all(&mut capture);
    assert!(error.is_none(), "{error:?}");
    let seen: Vec<(SystemTime, usize, u32, FrameLink)> = frames
        .iter()
        .map(|f| (f.at, f.data.len(), f.original_len, f.link))
        .collect();
    let first = at(1_700_000_000, 123_456_789);
    assert_eq!(
        seen,
        vec![
            (first, 60, 60, FrameLink::Ethernet),
            (first, 62, 62, FrameLink::Ethernet),
            (first, 64, 100, FrameLink::Ethernet),
            (at(1_700_000_001, 0), 50, 70, FrameLink::Ethernet),
            (at(1_600_000_100, 500_000_000), 20, 20, FrameLink::RawIp),
        ]
    );
    assert_eq!(frames[1].data, vec![0xcc; 62]);
    assert_eq!(
        capture.other_link_frames(),
        (1, &["LINUX_SLL".to_string()][..])
    );
    assert!(capture.next_frame().is_none());
    Ok(())
}

#[test]
fn interface_numbers_restart_with_each_section() -> Result {
    let mut ng = PcapNg::default();
    ng.section(true)
        .interface(1, 0, &[])
        .interface(1, 0, &[])
        .enhanced(1, 0, &[0; 14], 14)
        .section(false)
        .interface(1, 0, &[])
        .enhanced(1, 0, &[0; 14], 14);
    let file = TempFile::new("restart.pcapng", &ng.out)?;
    let mut capture = Capture::open(&file.0)?;
    let (frames, error) = read_all(&mut capture);
    assert_eq!(frames.len(), 1);
    assert!(
        matches!(
            error,
            Some(CaptureError::Frame {
                frame: 2,
                source: RecordError::UnknownInterface { id: 1, known: 1 },
                ..
            })
        ),
        "{error:?}"
    );
    assert!(capture.next_frame().is_none());
    Ok(())
}

#[test]
fn a_simple_packet_before_any_interface_is_an_error() -> Result {
    let mut ng = PcapNg::default();
    ng.section(false).simple(14, &[0; 14]);
    let file = TempFile::new("no-interface.pcapng", &ng.out)?;
    let (frames, error) = read_all(&mut Capture::open(&file.0)?);
    assert!(frames.is_empty());
    assert!(
        matches!(
            error,
            Some(CaptureError::Frame {
                frame: 1,
                source: RecordError::UnknownInterface { id: 0, known: 0 },
                ..
            })
        ),
        "{error:?}"
    );
    Ok(())
}

#[test]
fn a_pcap_cut_in_its_last_record_keeps_what_came_before() -> Result {
    let mut bytes = pcap(
        false,
        false,
        1,
        &[
            (1_600_000_000, 250_000, &[1; 60], 60),
            (1_600_000_001, 0, &[2; 60], 1514),
            (1_600_000_002, 0, &[3; 60], 60),
        ],
    );
    bytes.truncate(bytes.len() - 50);
    let file = TempFile::new("cut.pcap", &bytes)?;
    let mut capture = Capture::open(&file.0)?;
    assert_eq!(capture.format(), CaptureFormat::Pcap);
    let (frames, error) = read_all(&mut capture);
    let seen: Vec<(SystemTime, u32)> = frames.iter().map(|f| (f.at, f.original_len)).collect();
    assert_eq!(
        seen,
        vec![
            (at(1_600_000_000, 250_000_000), 60),
            (at(1_600_000_001, 0), 1514)
        ]
    );
    let text = error.as_ref().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        matches!(
            error,
            Some(CaptureError::Frame {
                frame: 3,
                source: RecordError::CutShort,
                ..
            })
        ),
        "{error:?}"
    );
    assert!(text.contains("cut.pcap: frame 3: "), "{text}");
    assert!(capture.next_frame().is_none());
    Ok(())
}

#[test]
fn a_pcapng_cut_in_its_last_block_keeps_what_came_before() -> Result {
    let mut ng = PcapNg::default();
    ng.section(false)
        .interface(1, 0, &[])
        .enhanced(0, 1, &[1; 60], 60)
        .enhanced(0, 2, &[2; 60], 60);
    ng.out.truncate(ng.out.len() - 30);
    let file = TempFile::new("cut.pcapng", &ng.out)?;
    let (frames, error) = read_all(&mut Capture::open(&file.0)?);
    assert_eq!(frames.len(), 1);
    assert!(
        matches!(
            error,
            Some(CaptureError::Frame {
                frame: 2,
                source: RecordError::CutShort,
                ..
            })
        ),
        "{error:?}"
    );
    Ok(())
}

#[test]
fn pcap_nanoseconds_big_endian_and_raw_ip() -> Result {
    let bytes = pcap(true, true, 101, &[(1_600_000_000, 5, &[0x45; 20], 20)]);
    let file = TempFile::new("nanos.pcap", &bytes)?;
    let (frames, error) = read_all(&mut Capture::open(&file.0)?);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        frames,
        vec![Frame {
            at: at(1_600_000_000, 5),
            data: vec![0x45; 20],
            original_len: 20,
            link: FrameLink::RawIp,
        }]
    );
    Ok(())
}

#[test]
fn a_pcap_of_another_link_is_refused_naming_it() -> Result {
    for (link, name) in [(113, "link type LINUX_SLL "), (147, "link type 147 ")] {
        let file = TempFile::new(&format!("link-{link}.pcap"), &pcap(false, false, link, &[]))?;
        let text = Capture::open(&file.0)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains(name), "{text}");
    }
    Ok(())
}

#[test]
fn a_block_larger_than_the_buffer_grows_it_up_to_the_limit() -> Result {
    let data = vec![7u8; 300_000];
    let mut ng = PcapNg::default();
    ng.section(false)
        .interface(1, 0, &[])
        .enhanced(0, 0, &data, 300_000);
    let file = TempFile::new("large.pcapng", &ng.out)?;
    let (frames, error) = read_all(&mut Capture::open(&file.0)?);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        frames.iter().map(|f| f.data.len()).collect::<Vec<_>>(),
        vec![300_000]
    );

    let mut capture = Capture::open(&file.0)?;
    capture.buffer.limit = 128 * 1024;
    let (frames, error) = read_all(&mut capture);
    assert!(frames.is_empty());
    // The block: 12 bytes of framing, 20 of packet header, the data.
    assert!(
        matches!(
            error,
            Some(CaptureError::Frame {
                frame: 1,
                source: RecordError::TooLarge {
                    len: 300_032,
                    limit: 131_072
                },
                ..
            })
        ),
        "{error:?}"
    );

    let bytes = pcap(
        false,
        false,
        1,
        &[(0, 0, &data, 300_000), (1, 0, &[1; 60], 60)],
    );
    let file = TempFile::new("large.pcap", &bytes)?;
    let (frames, error) = read_all(&mut Capture::open(&file.0)?);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        frames.iter().map(|f| f.data.len()).collect::<Vec<_>>(),
        vec![300_000, 60]
    );
    Ok(())
}

#[test]
fn a_packet_length_past_its_block_is_malformed_not_a_hang() -> Result {
    let mut ng = PcapNg::default();
    ng.section(false)
        .interface(1, 0, &[])
        .enhanced(0, 0, &[1; 60], 60);
    // The captured length (offset 20 of the packet block) says 1000.
    let epb = ng.out.len() - (32 + 60);
    ng.out[epb + 20..epb + 24].copy_from_slice(&1000u32.to_le_bytes());
    ng.enhanced(0, 0, &[2; 60], 60);
    let file = TempFile::new("overlong.pcapng", &ng.out)?;
    let (frames, error) = read_all(&mut Capture::open(&file.0)?);
    assert!(frames.is_empty());
    assert!(
        matches!(
            error,
            Some(CaptureError::Frame {
                frame: 1,
                source: RecordError::Malformed(_),
                ..
            })
        ),
        "{error:?}"
    );
    Ok(())
}
