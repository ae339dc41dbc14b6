//! The spool's writer thread on a real file: commits from async and plain
//! threads land in order and durably, the mirror the uplink reads follows
//! commits, evictions and acks, the log records each step, and the writer
//! finishes its queue before it stops.

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken setup step"
)]

mod common;

use common::{alert, TempDir};

use std::{sync::Arc, time::Duration};

use vantage::{
    time::{Clock, ManualClock},
    uplink::{
        sendlog::{read_log, SendLog},
        spool::Spool,
        writer,
    },
};
use vantage_protocol::{Envelope, Message, Sealer, SensorKey, Severity};

fn start(
    dir: &TempDir,
    max_bytes: u64,
    clock: Arc<dyn Clock>,
) -> (writer::SpoolHandle, writer::WriterThread) {
    let (mut spool, _) = Spool::open(&dir.0, max_bytes).expect("open");
    let (epoch, chain) = spool.begin_epoch(0).expect("epoch");
    let sealer = Sealer::new(SensorKey::ephemeral().expect("key"), epoch, 1, chain.hash);
    writer::start(spool, sealer, SendLog::open(&dir.0, clock)).expect("writer thread")
}

fn detail_of(bytes: &[u8]) -> String {
    match Envelope::decode(bytes)
        .expect("envelope")
        .message()
        .expect("message")
    {
        Message::Alert(alert) => alert.detail.to_string(),
        other => panic!("not an alert: {other:?}"),
    }
}

#[test]
fn commits_from_async_and_blocking_callers_are_durable_and_in_order() {
    let dir = TempDir::new("order");
    let clock = Arc::new(ManualClock::at_unix(1_700_000_000));
    let (handle, thread) = start(&dir, 1 << 20, clock);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let report = handle
            .commit(vec![alert(Severity::Low, "a1"), alert(Severity::Low, "a2")])
            .await
            .expect("async commit");
        assert!(report.evicted.is_empty() && report.refused.is_empty());
    });
    let blocking = handle.clone();
    std::thread::spawn(move || blocking.commit_blocking(vec![alert(Severity::High, "b1")]))
        .join()
        .expect("thread")
        .expect("blocking commit");

    // The mirror lists all three, in commit order, with their bytes.
    let mut cursor = None;
    let mut seen = Vec::new();
    while let Some((position, bytes)) = handle.view().next_after(cursor) {
        seen.push((position, detail_of(&bytes)));
        cursor = Some(position);
    }
    assert_eq!(
        seen,
        [
            ((1, 1), "a1".into()),
            ((1, 2), "a2".into()),
            ((1, 3), "b1".into())
        ]
    );
    assert_eq!(handle.view().status().pending, 3);

    // An ack removes one from the mirror; the file agrees after a reopen.
    handle.acked((1, 2), false);
    drop(handle);
    thread.join();
    let (spool, recovery) = Spool::open(&dir.0, 1 << 20).expect("reopen");
    assert_eq!(recovery.torn_records, 0);
    assert_eq!(spool.pending().map(|p| p.seq).collect::<Vec<_>>(), [1, 3]);

    // The log has each step, stamped on the clock it was given.
    let log = read_log(&dir.0).expect("log");
    let events: Vec<(&str, Option<u64>)> = log.iter().map(|e| (e.event.as_str(), e.seq)).collect();
    assert_eq!(
        events,
        [
            ("committed", Some(1)),
            ("committed", Some(2)),
            ("committed", Some(3)),
            ("acked", Some(2)),
        ]
    );
    assert!(log.iter().all(|e| e.at == 1_700_000_000.0), "{log:?}");
}

#[test]
fn the_mirror_follows_evictions_and_refusals() {
    let dir = TempDir::new("evict");
    let (handle, thread) = start(&dir, 16_384, Arc::new(ManualClock::at_unix(1)));
    let filler = "x".repeat(60);
    let mut committed = 0;
    while handle.view().status().counters.evicted_total() == 0 {
        handle
            .commit_blocking(vec![alert(Severity::Info, &filler)])
            .expect("commit");
        committed += 1;
        assert!(committed < 1000, "the spool never filled");
    }
    let status = handle.view().status();
    assert!(status.pending_bytes <= 16_384);
    assert_eq!(
        status.pending as u64 + status.counters.evicted[0],
        committed
    );
    // The oldest went first: the mirror starts after the evicted ones.
    let (first, _) = handle.view().next_after(None).expect("pending");
    assert_eq!(first, (1, status.counters.evicted[0] + 1));
    drop(handle);
    thread.join();
}

#[test]
fn the_writer_finishes_its_queue_before_it_stops() {
    let dir = TempDir::new("drain");
    let (handle, thread) = start(&dir, 1 << 20, Arc::new(ManualClock::at_unix(1)));
    for n in 0..20 {
        handle
            .commit_blocking(vec![alert(Severity::Low, &format!("m{n}"))])
            .expect("commit");
    }
    // Acks are fire-and-forget: queue them all, then let go of the last handle.
    let last = handle.clone();
    for seq in 1..=15 {
        handle.acked((1, seq), seq % 2 == 0);
    }
    drop(handle);
    let joiner = std::thread::spawn(move || thread.join());
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !joiner.is_finished(),
        "the writer waits for the last handle"
    );
    drop(last);
    joiner.join().expect("join");
    let (spool, _) = Spool::open(&dir.0, 1 << 20).expect("reopen");
    assert_eq!(
        spool.pending().map(|p| p.seq).collect::<Vec<_>>(),
        [16, 17, 18, 19, 20]
    );
    let log = read_log(&dir.0).expect("log");
    let count = |event: &str| log.iter().filter(|e| e.event == event).count();
    assert_eq!(
        (count("committed"), count("acked"), count("duplicate")),
        (20, 8, 7)
    );
}
