//! A spoofed-source flood through `BPF_PROG_TEST_RUN`: the host table stays
//! within its bound, evictions are counted, and a real host that keeps
//! talking keeps exact counters.

use vantage_tests::{
    harness::{Harness, XDP_PASS},
    packet::{Frame, TCP_ACK},
};

const CAPACITY: u32 = 1024;
const FLOOD: u64 = 200_000;
/// The real host sends one packet per this many spoofed ones (so that its
/// set rarely sees 8 new hosts in between, and it stays the most recent).
const REAL_EVERY: u64 = 200;

#[test]
fn spoofed_flood_stays_within_the_host_table() -> anyhow::Result<()> {
    let mut h = Harness::new(CAPACITY)?;
    assert_eq!(h.datapath.maps().host_capacity()?, CAPACITY);
    let real = Frame::client()
        .ipv4("10.0.0.5", "203.0.113.7")
        .tcp(40000, 443, TCP_ACK)
        .payload(&[7; 100])
        .build();
    let mut template = Frame::client()
        .ipv4("10.1.0.0", "203.0.113.7")
        .tcp(1024, 80, TCP_ACK)
        .build();
    let before = h.site()?;
    let mut state: u32 = 0x1234_5678;
    let mut real_sent = 0u64;
    for i in 0..FLOOD {
        // A different protected source address every time (10.1.0.0/16 and up).
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let addr = 0x0a01_0000u32 | (state >> 12);
        template[26..30].copy_from_slice(&addr.to_be_bytes());
        assert_eq!(h.run(&template)?, XDP_PASS);
        if i % REAL_EVERY == 0 {
            assert_eq!(h.run(&real)?, XDP_PASS);
            real_sent += 1;
        }
    }
    let delta = vantage_tests::harness::site_delta(&before, &h.site()?);
    let live = h.datapath.maps().hosts()?.len() as u64;
    assert!(
        live <= u64::from(CAPACITY),
        "{live} live entries in a table of {CAPACITY}"
    );
    assert!(
        live > u64::from(CAPACITY) / 2,
        "the table is in use: {live}"
    );
    assert_eq!(delta.packets, FLOOD + real_sent);
    assert_eq!(
        delta.hosts_create_failed, 0,
        "full sets evicted instead of failing"
    );
    let evicted = delta.hosts_evicted;
    assert!(
        delta.hosts_created >= FLOOD * 9 / 10,
        "almost every spoofed source was new: {}",
        delta.hosts_created
    );
    assert!(evicted >= delta.hosts_created - u64::from(CAPACITY));
    let host = h.known_host("10.0.0.5")?;
    assert_eq!(
        host.traffic.packets_out, real_sent,
        "the real host's counters are exact"
    );
    assert_eq!(host.traffic.bytes_out, real_sent * real.len() as u64);
    Ok(())
}
