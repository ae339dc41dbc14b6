//! Each detector's sentence, exactly, with and without its optional parts;
//! responses; numbers.

use super::*;
use crate::{
    detected::Explanation,
    message::{bounded, Addr, Severity},
};

const HOST: Addr = Addr::V4([172, 16, 0, 8]);
const PEER: Addr = Addr::V4([64, 13, 134, 52]);

fn detection(detector: Detector, explanation: Explanation) -> Detection {
    Detection {
        at: 1_795_000_000,
        alert_id: 7,
        revision: 1,
        detector,
        severity: Severity::High,
        score: 80,
        host: HOST,
        peer: Some(PEER),
        port: 0,
        domain: bounded(""),
        explanation,
        response: Response::of(Action::Notify),
    }
}

#[test]
fn port_scan() {
    let scan = detection(
        Detector::PortScan,
        Explanation::new(312.0, 15.0, 300, 95)
            .with(Fact::Attempts, 340.0)
            .with(Fact::Unanswered, 295.0)
            .with(Fact::Refused, 43.0)
            .with(Fact::Answered, 2.0),
    );
    assert_eq!(
        explain(&scan),
        "172.16.0.8 got no connection on 312 ports of 64.13.134.52 within a 300 s window \
         (340 attempts: 295 unanswered, 43 refused; threshold 15)"
    );
    let bare = Detection {
        peer: None,
        ..detection(Detector::PortScan, Explanation::new(20.0, 15.0, 0, 60))
    };
    assert_eq!(
        explain(&bare),
        "172.16.0.8 got no connection on 20 ports (threshold 15)"
    );
}

#[test]
fn host_sweep() {
    let explanation = Explanation::new(254.0, 30.0, 600, 90).with(Fact::Unanswered, 250.0);
    let sweep = Detection {
        port: 445,
        peer: None,
        ..detection(Detector::HostSweep, explanation.clone())
    };
    assert_eq!(
        explain(&sweep),
        "172.16.0.8 got no connection on port 445 of 254 peers within a 600 s window \
         (250 unanswered; threshold 30)"
    );
    let ping = detection(Detector::HostSweep, explanation);
    assert_eq!(
        explain(&ping),
        "172.16.0.8 sent echo requests to 254 peers without an answer within a 600 s window \
         (250 unanswered; threshold 30)"
    );
}

#[test]
fn lateral_movement() {
    let explanation = Explanation::new(6.0, 3.0, 3600, 80).with(Fact::DistinctPorts, 2.0);
    let several = detection(Detector::LateralMovement, explanation.clone());
    assert_eq!(
        explain(&several),
        "172.16.0.8 reached 6 protected hosts on 2 admin ports within a 1 h window (threshold 3)"
    );
    let one_port = Detection {
        port: 3389,
        ..detection(Detector::LateralMovement, explanation)
    };
    assert_eq!(
        explain(&one_port),
        "172.16.0.8 reached 6 protected hosts on port 3389 within a 1 h window (threshold 3)"
    );
    let unknown_ports = detection(
        Detector::LateralMovement,
        Explanation::new(1.0, 1.0, 900, 50),
    );
    assert_eq!(
        explain(&unknown_ports),
        "172.16.0.8 reached 1 protected host on admin ports within a 900 s window (threshold 1)"
    );
}

#[test]
fn beacon() {
    let explanation = Explanation::new(48.0, 20.0, 86_400, 85)
        .with(Fact::MeanIntervalSecs, 1800.0)
        .with(Fact::TimingScore, 0.92)
        .with(Fact::DurationScore, 1.0);
    let by_address = Detection {
        port: 443,
        ..detection(Detector::Beacon, explanation.clone())
    };
    assert_eq!(
        explain(&by_address),
        "172.16.0.8 connected to 64.13.134.52:443, every 1800 s on average, \
         regularity 48 of 100 (reported from 20), timing score 0.92"
    );
    let by_name = Detection {
        domain: bounded("updates-cdn.example"),
        ..by_address
    };
    assert_eq!(
        explain(&by_name),
        "172.16.0.8 connected to updates-cdn.example, every 1800 s on average, \
         regularity 48 of 100 (reported from 20), timing score 0.92"
    );
    let bare = Detection {
        peer: None,
        ..detection(Detector::Beacon, Explanation::new(30.5, 20.0, 7200, 60))
    };
    assert_eq!(
        explain(&bare),
        "172.16.0.8 connected to a peer, regularity 31 of 100 (reported from 20)"
    );
}

#[test]
fn dns_tunnel() {
    let tunnel = Detection {
        peer: None,
        domain: bounded("tunnel.example"),
        ..detection(
            Detector::DnsTunnel,
            Explanation::new(420.0, 150.0, 600, 90)
                .with(Fact::MaxLabelLen, 63.0)
                .with(Fact::EntropyBits, 4.8125)
                .with(Fact::Queries, 500.0),
        )
    };
    assert_eq!(
        explain(&tunnel),
        "172.16.0.8 queried 420 distinct names under tunnel.example within a 600 s window, \
         longest label 63 characters, 4.81 bits per character (volume counts fully from 150 names)"
    );
    let nameless = detection(Detector::DnsTunnel, Explanation::new(200.0, 150.0, 0, 50));
    assert_eq!(
        explain(&nameless),
        "172.16.0.8 queried 200 distinct names under one domain (volume counts fully from 150 names)"
    );
}

#[test]
fn known_bad() {
    let listed = Detection {
        port: 8443,
        ..detection(
            Detector::KnownBad,
            Explanation::new(1.0, 1.0, 0, 70)
                .with(Fact::ListIndex, 0.0)
                .with(Fact::ListLine, 17.0)
                .with(Fact::EntryAgeDays, 21.0),
        )
    };
    assert_eq!(
        explain(&listed),
        "172.16.0.8 contacted known-bad 64.13.134.52:8443 (list 0, line 17, entry 21 days old)"
    );
    let by_name = Detection {
        domain: bounded("bad.example"),
        ..detection(
            Detector::KnownBad,
            Explanation::new(1.0, 1.0, 0, 70).with(Fact::EntryAgeDays, 1.0),
        )
    };
    assert_eq!(
        explain(&by_name),
        "172.16.0.8 contacted known-bad bad.example (entry 1 day old)"
    );
    let bare = detection(Detector::KnownBad, Explanation::new(1.0, 1.0, 0, 70));
    assert_eq!(
        explain(&bare),
        "172.16.0.8 contacted known-bad 64.13.134.52"
    );
}

#[test]
fn new_device() {
    let random_mac = Detection {
        peer: None,
        host: Addr::V6([
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42,
        ]),
        ..detection(
            Detector::NewDevice,
            Explanation::new(1.0, 0.0, 0, 60)
                .with(Fact::LearnedDays, 14.0)
                .with(Fact::LocalMac, 1.0),
        )
    };
    assert_eq!(
        explain(&random_mac),
        "2001:db8::42 appeared for the first time after 14 days of learning, \
         with a locally administered (randomised) MAC"
    );
    let plain = detection(
        Detector::NewDevice,
        Explanation::new(1.0, 0.0, 0, 60).with(Fact::LocalMac, 0.0),
    );
    assert_eq!(explain(&plain), "172.16.0.8 appeared for the first time");
}

#[test]
fn every_detector_has_a_sentence_naming_the_host() {
    for detector in Detector::ALL {
        let text = explain(&detection(*detector, Explanation::new(5.0, 3.0, 60, 50)));
        assert!(text.starts_with("172.16.0.8 "), "{detector:?}: {text}");
    }
}

#[test]
fn responses() {
    assert_eq!(response(&Response::of(Action::Notify)), "notify");
    assert_eq!(response(&Response::none()), "none");
    let block = Response {
        action: Action::Block,
        ttl_secs: 3600,
        reason: ActionReason::ScoreThreshold,
        blast_radius: 0,
    };
    assert_eq!(response(&block), "block for 1 h");
    let shadow = Response {
        action: Action::ShadowBlock,
        ttl_secs: 900,
        reason: ActionReason::ShadowMode,
        blast_radius: 3,
    };
    assert_eq!(
        response(&shadow),
        "shadow_block for 900 s (shadow_mode), 3 other hosts talk to it"
    );
    let refused = Response {
        action: Action::Refused,
        ttl_secs: 0,
        reason: ActionReason::NeverBlock,
        blast_radius: 1,
    };
    assert_eq!(
        response(&refused),
        "refused (never_block), 1 other host talks to it"
    );
    let capped = Response {
        action: Action::Digest,
        ttl_secs: 0,
        reason: ActionReason::RateCap,
        blast_radius: 9,
    };
    assert_eq!(response(&capped), "digest (rate_cap)");
}

#[test]
fn numbers_are_written_as_people_write_them() {
    assert_eq!(number(312.0), "312");
    assert_eq!(number(0.8), "0.8");
    assert_eq!(number(0.92), "0.92");
    assert_eq!(number(1.23456), "1.23");
    assert_eq!(number(10.001), "10");
    assert_eq!(number(f32::NAN), "?");
    assert_eq!(number(f32::INFINITY), "?");
}
