use std::net::IpAddr;

use super::{testkit::*, *};

#[test]
fn the_window_slides() -> Result<(), String> {
    // 60 names at 0..59 s, 60 more at 200..259 s.
    let label = |i: u64| format!("{i:03}-{}", "x".repeat(56));
    let observations: Vec<Observation> = (0..60)
        .map(|i| {
            query(
                i * 1_000,
                HOST,
                &format!("{}.t.example", label(i)),
                A,
                false,
            )
        })
        .chain((0..60).map(|i| {
            let name = format!("{}.t.example", label(100 + i));
            query(200_000 + i * 1_000, HOST, &name, A, false)
        }))
        .collect();
    let mut detector = DnsTunnel::new(DnsTunnelSettings::default());
    feed(&mut detector, &observations);
    let findings = tick(&mut detector, 260_000);
    assert_eq!(findings[0].explanation.observed, 120.0);
    // At 330 s the window starts at 30 s: names seen at 30..59 s remain.
    let findings = tick(&mut detector, 330_000);
    assert_eq!(findings[0].explanation.observed, 90.0);
    let measures = detector
        .measures(HOST, Some("t.example"))
        .ok_or("t.example is tracked")?;
    assert_eq!(measures.queries, 90);
    // At 560 s the window starts at 260 s: nothing left, nothing tracked.
    assert!(tick(&mut detector, 560_000).is_empty());
    assert_eq!(detector.stats().tracked, 0);
    Ok(())
}

#[test]
fn cut_names_follow_the_last_long_label_domain_or_stay_without_one() -> Result<(), String> {
    let long = format!("{}.tunnel.example", "k".repeat(30));
    let cut = |i: u64| format!("d{i:03}{}.{}", "z".repeat(59), "y".repeat(40));
    let mut detector = DnsTunnel::new(DnsTunnelSettings::default());
    let mut observations = vec![query(0, HOST, &long, A, false)];
    observations.extend((0..10).map(|i| query(1_000 + i, HOST, &cut(i), A, true)));
    // The other host never sent a whole long-label name.
    observations.extend((0..120).map(|i| query(1_000 + i, OTHER_HOST, &cut(i), A, true)));
    feed(&mut detector, &observations);
    let counters = detector.counters();
    assert_eq!(
        (counters.cut_attributed, counters.cut_unattributed),
        (10, 120)
    );
    let attributed = detector
        .measures(HOST, Some("tunnel.example"))
        .ok_or("tunnel.example")?;
    assert_eq!(attributed.distinct_names, 11);
    assert_eq!(attributed.max_label, 63);

    let findings = tick(&mut detector, 2_000);
    assert_eq!(findings.len(), 1);
    let finding = &findings[0];
    assert_eq!(
        (finding.host, finding.domain.as_deref()),
        (OTHER_HOST, None)
    );
    // 120 names, labels of 63: 100 * 1 * 1 * (0.85 + 0.15 * 1).
    assert_eq!(finding.score, 100);
    // Label, length and rate (entropy and types not): 60, halved.
    assert_eq!(finding.explanation.confidence, 30);

    // Once the long-label name is out of the window, cut names stay alone.
    feed(&mut detector, &[query(400_000, HOST, &cut(500), A, true)]);
    assert_eq!(detector.counters().cut_unattributed, 121);
    Ok(())
}

#[test]
fn key_and_name_caps_evict_the_least_recent() -> Result<(), String> {
    let mut detector = DnsTunnel::new(DnsTunnelSettings {
        max_tracked: 2,
        ..DnsTunnelSettings::default()
    });
    feed(
        &mut detector,
        &[
            query(0, HOST, "www.a.com", A, false),
            query(1_000, HOST, "www.b.com", A, false),
            query(2_000, HOST, "mail.a.com", A, false),
            query(3_000, HOST, "www.c.com", A, false),
        ],
    );
    assert!(detector.measures(HOST, Some("b.com")).is_none());
    assert!(detector.measures(HOST, Some("a.com")).is_some());
    assert_eq!(detector.counters().keys_evicted, 1);
    assert_eq!(
        detector.stats(),
        DetectorStats {
            tracked: 2,
            evicted: 1
        }
    );

    let mut detector = DnsTunnel::new(DnsTunnelSettings {
        distinct_names: 4,
        max_names: 8,
        ..DnsTunnelSettings::default()
    });
    let names: Vec<Observation> = (0..10)
        .map(|i| query(i * 1_000, HOST, &format!("n{i}.d.example"), A, false))
        .collect();
    feed(&mut detector, &names);
    let measures = detector
        .measures(HOST, Some("d.example"))
        .ok_or("d.example")?;
    assert_eq!((measures.distinct_names, measures.queries), (8, 10));
    assert_eq!(detector.counters().names_evicted, 2);
    // n0 was forgotten: seeing it again is a new name, and n2 goes.
    feed(
        &mut detector,
        &[query(11_000, HOST, "n0.d.example", A, false)],
    );
    assert_eq!(detector.counters().names_evicted, 3);

    // The budget over all keys: 6 names under e.example, then 5 under
    // f.example with room for 10: e.example, the least recent, goes.
    let mut detector = DnsTunnel::new(DnsTunnelSettings {
        distinct_names: 4,
        max_names: 8,
        max_total_names: 10,
        ..DnsTunnelSettings::default()
    });
    let names: Vec<Observation> = (0..6)
        .map(|i| query(i, HOST, &format!("n{i}.e.example"), A, false))
        .chain((0..5).map(|i| query(10 + i, HOST, &format!("n{i}.f.example"), A, false)))
        .collect();
    feed(&mut detector, &names);
    assert!(detector.measures(HOST, Some("e.example")).is_none());
    let measures = detector
        .measures(HOST, Some("f.example"))
        .ok_or("f.example")?;
    assert_eq!(measures.distinct_names, 5);
    assert_eq!(detector.counters().keys_evicted, 1);
    Ok(())
}

#[test]
fn hosts_are_judged_apart() {
    // The same tunnel names from two hosts make two findings, highest first
    // then by host.
    let mut detector = DnsTunnel::new(DnsTunnelSettings::default());
    feed(&mut detector, &iodine_like(OTHER_HOST, "pirate.sea", NULL));
    feed(&mut detector, &iodine_like(HOST, "pirate.sea", NULL));
    let findings = tick(&mut detector, 25_000);
    let hosts: Vec<IpAddr> = findings.iter().map(|f| f.host).collect();
    assert_eq!(hosts, [HOST, OTHER_HOST]);
    assert_eq!(detector.stats().tracked, 2);
}
