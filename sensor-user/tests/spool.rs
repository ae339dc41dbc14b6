//! The spool on a real file: commit and reopen, acks, torn tails cut at every
//! possible length, the exact eviction order, refusals, epochs and the chain
//! position surviving compaction.

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken setup step"
)]

mod common;

use common::{alert, TempDir};

use vantage::uplink::spool::{Rank, Spool};
use vantage_protocol::{Message, Sealed, Sealer, SensorKey, Severity};

fn sealer(epoch: u32) -> Sealer {
    Sealer::new(SensorKey::ephemeral().expect("key"), epoch, 1, [0; 16])
}

fn seal(sealer: &mut Sealer, message: &Message) -> (Sealed, Rank) {
    (sealer.seal(message), Rank::of(message))
}

fn pending_seqs(spool: &Spool) -> Vec<u64> {
    spool.pending().map(|p| p.seq).collect()
}

#[test]
fn committed_envelopes_survive_a_reopen_and_acks_remove_them() {
    let dir = TempDir::new("reopen");
    let (mut spool, recovery) = Spool::open(&dir.0, 1 << 20).expect("open");
    assert_eq!(recovery.pending, 0);
    let (epoch, chain) = spool.begin_epoch(0).expect("epoch");
    assert_eq!((epoch, chain.seq), (1, 0));
    let mut sealer = sealer(epoch);
    let batch: Vec<_> = (0..5)
        .map(|i| seal(&mut sealer, &alert(Severity::High, &format!("a{i}"))))
        .collect();
    spool.commit(&batch).expect("commit");
    assert!(spool.ack(1, 2).expect("ack"));
    assert!(
        !spool.ack(1, 2).expect("second ack"),
        "acking twice is a no-op"
    );
    drop(spool);

    let (mut spool, recovery) = Spool::open(&dir.0, 1 << 20).expect("reopen");
    assert_eq!(recovery.pending, 4);
    assert_eq!(recovery.torn_records, 0);
    assert_eq!(pending_seqs(&spool), [1, 3, 4, 5]);
    let bytes: Vec<Vec<u8>> = spool.pending().map(|p| p.bytes.clone()).collect();
    assert_eq!(bytes[0], batch[0].0.bytes);
    assert_eq!(bytes[3], batch[4].0.bytes);
    // The next boot epoch links to the last envelope sealed.
    let (epoch, chain) = spool.begin_epoch(0).expect("epoch");
    assert_eq!(epoch, 2);
    assert_eq!(
        (chain.epoch, chain.seq, chain.hash),
        (1, 5, batch[4].0.hash)
    );
}

#[test]
fn a_torn_tail_of_any_length_is_cut_and_counted() {
    let dir = TempDir::new("torn");
    let (mut spool, _) = Spool::open(&dir.0, 1 << 20).expect("open");
    let (epoch, _) = spool.begin_epoch(0).expect("epoch");
    let mut sealer = sealer(epoch);
    let first = vec![seal(&mut sealer, &alert(Severity::Low, "kept"))];
    spool.commit(&first).expect("commit");
    let intact = std::fs::read(spool.path()).expect("read");
    let last = vec![seal(&mut sealer, &alert(Severity::Low, "torn"))];
    spool.commit(&last).expect("commit");
    let full = std::fs::read(spool.path()).expect("read");
    let path = spool.path().to_owned();
    drop(spool);
    assert!(full.len() > intact.len());
    // Every length between the two record boundaries is a torn write.
    for cut in intact.len() + 1..full.len() {
        std::fs::write(&path, &full[..cut]).expect("write");
        let (spool, recovery) = Spool::open(&dir.0, 1 << 20).expect("open torn");
        assert_eq!(recovery.torn_records, 1, "cut at {cut}");
        assert_eq!(
            recovery.torn_bytes,
            (cut - intact.len()) as u64,
            "cut at {cut}"
        );
        assert_eq!(pending_seqs(&spool), [1], "cut at {cut}");
        assert_eq!(spool.counters().torn_records, 1);
        drop(spool);
        // The cut is durable: reopening finds nothing torn.
        let (spool, recovery) = Spool::open(&dir.0, 1 << 20).expect("reopen");
        assert_eq!(recovery.torn_records, 0, "cut at {cut}");
        assert_eq!(spool.counters().torn_records, 1, "the count survives");
        drop(spool);
    }
    // A flipped bit in the last record is torn too.
    let mut corrupt = full.clone();
    let at = corrupt.len() - 10;
    corrupt[at] ^= 1;
    std::fs::write(&path, &corrupt).expect("write");
    let (spool, recovery) = Spool::open(&dir.0, 1 << 20).expect("open corrupt");
    assert_eq!(recovery.torn_records, 1);
    assert_eq!(pending_seqs(&spool), [1]);
}

#[test]
fn a_spool_torn_while_being_created_is_restarted_and_counted() {
    let dir = TempDir::new("torn-magic");
    std::fs::create_dir_all(&dir.0).expect("dir");
    std::fs::write(dir.0.join("spool"), b"VSP").expect("write");
    let (spool, recovery) = Spool::open(&dir.0, 1 << 20).expect("open");
    assert_eq!((recovery.torn_records, recovery.torn_bytes), (1, 3));
    assert_eq!(spool.pending_len(), 0);
    drop(spool);
    let (spool, recovery) = Spool::open(&dir.0, 1 << 20).expect("reopen");
    assert_eq!(recovery.torn_records, 0);
    assert_eq!(spool.counters().torn_records, 1, "the count is durable");
    assert_eq!(spool.counters().torn_bytes, 3);
}

#[test]
fn a_file_that_is_not_a_spool_is_refused() {
    let dir = TempDir::new("magic");
    std::fs::create_dir_all(&dir.0).expect("dir");
    std::fs::write(dir.0.join("spool"), b"something else entirely").expect("write");
    let error = Spool::open(&dir.0, 1 << 20).expect_err("must refuse");
    assert!(error.to_string().contains("not a spool file"), "{error}");
    // Shorter than the magic, and not a prefix of it: not a torn spool either.
    std::fs::write(dir.0.join("spool"), b"xyz").expect("write");
    let error = Spool::open(&dir.0, 1 << 20).expect_err("must refuse");
    assert!(error.to_string().contains("not a spool file"), "{error}");
}

#[test]
fn eviction_takes_the_lowest_rank_then_the_oldest() {
    let dir = TempDir::new("evict");
    // Sequence numbers from 200 on all take two bytes, so every alert here
    // has the same size and the limit is a count.
    let mut sealer = Sealer::new(SensorKey::ephemeral().expect("key"), 1, 200, [0; 16]);
    let one = sealer
        .seal_payload(&alert(Severity::Info, "x").encode())
        .bytes
        .len() as u64;
    let (mut spool, _) = Spool::open(&dir.0, 16_384).expect("open");
    spool.begin_epoch(0).expect("epoch");
    let capacity = 16_384 / one;
    let severities = [
        Severity::Medium,
        Severity::Info,
        Severity::Critical,
        Severity::Low,
        Severity::Info,
        Severity::High,
    ];
    let mut committed = Vec::new();
    for i in 0..capacity {
        let severity = severities[i as usize % severities.len()];
        committed.push((seal(&mut sealer, &alert(severity, "x")), severity));
    }
    for chunk in committed.chunks(16) {
        let batch: Vec<_> = chunk.iter().map(|(s, _)| s.clone()).collect();
        let report = spool.commit(&batch).expect("commit");
        assert!(report.evicted.is_empty() && report.refused.is_empty());
    }
    let seq_of = |severity: Severity| -> Vec<u64> {
        committed
            .iter()
            .filter(|(_, s)| *s == severity)
            .map(|((sealed, _), _)| sealed.seq)
            .collect()
    };
    let infos = seq_of(Severity::Info);
    let lows = seq_of(Severity::Low);
    // One more medium: the oldest info goes.
    let report = spool
        .commit(&[seal(&mut sealer, &alert(Severity::Medium, "x"))])
        .expect("commit");
    assert_eq!(report.evicted, [(1, infos[0], Rank::Info)]);
    // Enough high alerts to use up every info: infos go oldest first, then lows.
    let n = infos.len() - 1 + 2;
    let batch: Vec<_> = (0..n)
        .map(|_| seal(&mut sealer, &alert(Severity::High, "x")))
        .collect();
    let report = spool.commit(&batch).expect("commit");
    let expected: Vec<_> = infos[1..]
        .iter()
        .map(|&seq| (1, seq, Rank::Info))
        .chain(lows[..2].iter().map(|&seq| (1, seq, Rank::Low)))
        .collect();
    assert_eq!(report.evicted, expected);
    assert!(report.refused.is_empty());
    // An info alert cannot displace anything now: it is refused, not stored.
    let info = seal(&mut sealer, &alert(Severity::Info, "x"));
    let report = spool.commit(std::slice::from_ref(&info)).expect("commit");
    assert!(report.evicted.is_empty());
    assert_eq!(report.refused, [(1, info.0.seq, Rank::Info)]);
    assert!(spool.pending_bytes() <= 16_384);
    let counters = spool.counters();
    assert_eq!(
        counters.evicted[Rank::Info as usize],
        infos.len() as u64 + 1
    );
    assert_eq!(counters.evicted[Rank::Low as usize], 2);
    assert_eq!(counters.evicted[Rank::Keep as usize], 0);
    let pending_before = pending_seqs(&spool);
    drop(spool);
    // The evictions, the refusal and the counters are all durable.
    let (spool, recovery) = Spool::open(&dir.0, 16_384).expect("reopen");
    assert_eq!(recovery.torn_records, 0);
    assert_eq!(pending_seqs(&spool), pending_before);
    assert_eq!(spool.counters(), counters);
    assert_eq!(
        spool.chain().seq,
        info.0.seq,
        "a refused envelope still moved the chain"
    );
}

#[test]
fn compaction_keeps_pending_counters_and_the_chain() {
    let dir = TempDir::new("compact");
    let (mut spool, _) = Spool::open(&dir.0, 1 << 20).expect("open");
    let (epoch, _) = spool.begin_epoch(0).expect("epoch");
    let mut sealer = sealer(epoch);
    let mut last = None;
    for round in 0..40u64 {
        let batch: Vec<_> = (0..50)
            .map(|_| seal(&mut sealer, &alert(Severity::Low, "compact me")))
            .collect();
        last = batch.last().map(|(s, _)| s.hash);
        spool.commit(&batch).expect("commit");
        // Acknowledge all but the newest 5 of each round.
        for (sealed, _) in &batch[..45] {
            spool.ack(sealed.epoch, sealed.seq).expect("ack");
        }
        assert!(
            spool.file_len() < 4 * (spool.pending_bytes() + 64 * 1024) + 10_000,
            "round {round}"
        );
    }
    assert_eq!(spool.pending_len(), 40 * 5);
    drop(spool);
    let (mut spool, recovery) = Spool::open(&dir.0, 1 << 20).expect("reopen");
    assert_eq!(recovery.pending, 200);
    let (epoch, chain) = spool.begin_epoch(0).expect("epoch");
    assert_eq!(epoch, 2);
    assert_eq!((chain.seq, Some(chain.hash)), (2000, last));
}

#[test]
fn an_epoch_is_never_reused_even_when_the_spool_is_lost() {
    let dir = TempDir::new("floor");
    let (mut spool, _) = Spool::open(&dir.0, 1 << 20).expect("open");
    // A fresh spool (or one that was wiped) starts at the floor, the time.
    assert_eq!(
        spool.begin_epoch(1_700_000_000).expect("epoch").0,
        1_700_000_000
    );
    // Two starts within the same second still differ.
    assert_eq!(
        spool.begin_epoch(1_700_000_000).expect("epoch").0,
        1_700_000_001
    );
    // A clock set back does not take epochs backwards.
    assert_eq!(spool.begin_epoch(5).expect("epoch").0, 1_700_000_002);
    drop(spool);
    let (mut spool, _) = Spool::open(&dir.0, 1 << 20).expect("reopen");
    assert_eq!(spool.begin_epoch(0).expect("epoch").0, 1_700_000_003);
}

#[test]
fn a_rejected_envelope_is_dropped_counted_and_stays_dropped() {
    let dir = TempDir::new("reject");
    let (mut spool, _) = Spool::open(&dir.0, 1 << 20).expect("open");
    let (epoch, _) = spool.begin_epoch(0).expect("epoch");
    let mut sealer = sealer(epoch);
    let batch: Vec<_> = (0..3)
        .map(|n| seal(&mut sealer, &alert(Severity::High, &format!("r{n}"))))
        .collect();
    spool.commit(&batch).expect("commit");
    assert!(spool.reject(epoch, 2).expect("reject"));
    assert!(
        !spool.reject(epoch, 2).expect("reject again"),
        "already gone"
    );
    assert_eq!(pending_seqs(&spool), [1, 3]);
    assert_eq!(spool.counters().rejected, 1);
    drop(spool);
    let (mut spool, recovery) = Spool::open(&dir.0, 1 << 20).expect("reopen");
    assert_eq!(recovery.torn_records, 0);
    assert_eq!(pending_seqs(&spool), [1, 3]);
    assert_eq!(spool.counters().rejected, 1);
    // The count survives compaction, which rewrites the file.
    spool.compact().expect("compact");
    drop(spool);
    let (spool, _) = Spool::open(&dir.0, 1 << 20).expect("reopen after compaction");
    assert_eq!(
        (pending_seqs(&spool), spool.counters().rejected),
        (vec![1, 3], 1)
    );
}
