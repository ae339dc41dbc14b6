//! Decisions: thresholds at their exact boundaries, targets by detector,
//! never_block, mirror mode, already blocked, caps and their switches,
//! shadow mode, schedules in a time zone.

use std::time::{Duration, SystemTime};

use jiff::tz::TimeZone;

use super::{input, ip, paris, peer, utc, TestResult};
use crate::{
    config::response::{DaySet, HourRange, ResponseConfig, ResponseMode, ScheduleEntry},
    detect::Detector,
    net::Cidr,
    respond::{Action, Cap, Decision, Policy, PolicyContext, Refusal, Switch},
};

const HOUR: Duration = Duration::from_secs(3600);

fn config(block_at: u8) -> ResponseConfig {
    ResponseConfig {
        block_at,
        ..ResponseConfig::default()
    }
}

fn policy(config: &ResponseConfig, can_block: bool) -> Policy {
    let context = PolicyContext {
        never_block: Vec::new(),
        can_block,
    };
    Policy::with_time_zone(config, context, TimeZone::UTC)
}

fn t0() -> Result<SystemTime, jiff::Error> {
    utc(2025, 1, 6, 12, 0, 0)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Decides a port scan by `ip(host)` scoring 95 at `now`.
fn scan(policy: &mut Policy, host: u8, now: SystemTime) -> Decision {
    policy.decide(&input(Detector::PortScan, ip(host), None, 95), now)
}

#[test]
fn thresholds_apply_at_their_exact_values() -> TestResult {
    let mut policy = policy(&config(90), true);
    let now = t0()?;
    for (score, action, reason) in [
        (
            90,
            Action::Block {
                target: ip(90),
                ttl: HOUR,
            },
            "score 90 >= block_at 90 (no schedule)",
        ),
        (89, Action::Notify, "score 89 >= notify_at 60 (no schedule)"),
        (60, Action::Notify, "score 60 >= notify_at 60 (no schedule)"),
        (59, Action::Digest, "score 59 >= digest_at 30 (no schedule)"),
        (30, Action::Digest, "score 30 >= digest_at 30 (no schedule)"),
        (29, Action::None, "score 29 < digest_at 30 (no schedule)"),
        (0, Action::None, "score 0 < digest_at 30 (no schedule)"),
    ] {
        let decision = policy.decide(&input(Detector::PortScan, ip(score), None, score), now);
        assert_eq!(
            (decision.action, decision.reason.as_str()),
            (action, reason)
        );
        assert_eq!(decision.switched, None);
    }
    assert_eq!(policy.stats().blocks, 1);
    Ok(())
}

#[test]
fn by_default_nothing_is_blocked() -> TestResult {
    let mut policy = policy(&ResponseConfig::default(), true);
    let decision = scan(&mut policy, 1, t0()?);
    assert_eq!(decision.action, Action::Notify);
    assert_eq!(decision.reason, "score 95 >= notify_at 60 (no schedule)");
    let full = policy.decide(&input(Detector::KnownBad, ip(1), Some(peer(9)), 100), t0()?);
    assert_eq!(full.action, Action::Notify);
    Ok(())
}

#[test]
fn each_detector_blocks_its_own_target() -> TestResult {
    let mut policy = policy(&config(80), true);
    let now = t0()?;
    for (detector, host, target) in [
        (Detector::PortScan, 1, ip(1)),
        (Detector::HostSweep, 2, ip(2)),
        (Detector::LateralMovement, 3, ip(3)),
        (Detector::DnsTunnel, 4, ip(4)),
        (Detector::Beacon, 5, peer(5)),
        (Detector::KnownBad, 6, peer(6)),
    ] {
        let decision = policy.decide(&input(detector, ip(host), Some(peer(host)), 80), now);
        assert_eq!(
            decision.action,
            Action::Block { target, ttl: HOUR },
            "{detector:?}"
        );
    }
    let device = policy.decide(&input(Detector::NewDevice, ip(7), None, 100), now);
    assert_eq!(device.action, Action::Notify);
    assert_eq!(device.reason, "score 100 >= notify_at 60 (no schedule)");
    let quiet_device = policy.decide(&input(Detector::NewDevice, ip(8), None, 40), now);
    assert_eq!(quiet_device.action, Action::Digest);
    let no_peer = policy.decide(&input(Detector::KnownBad, ip(9), None, 99), now);
    assert_eq!(no_peer.action, Action::Notify);
    assert_eq!(
        no_peer.reason,
        "score 99 >= block_at 80 (no schedule); no_peer"
    );
    assert_eq!(policy.stats().active_blocks, 6);
    Ok(())
}

#[test]
fn never_block_is_refused_and_notified() -> TestResult {
    let config = ResponseConfig {
        never_block: vec!["10.0.0.0/30".parse::<Cidr>()?],
        ..config(90)
    };
    let context = PolicyContext {
        never_block: vec![Cidr::host(peer(53))],
        can_block: true,
    };
    let mut policy = Policy::with_time_zone(&config, context, TimeZone::UTC);
    let now = t0()?;
    let decision = scan(&mut policy, 3, now);
    let refused = Action::Refused {
        target: ip(3),
        reason: Refusal::NeverBlock,
    };
    assert_eq!(decision.action, refused);
    assert!(decision.action.notifies());
    assert_eq!(
        decision.reason,
        "score 95 >= block_at 90 (no schedule); never_block"
    );
    let resolver = policy.decide(&input(Detector::Beacon, ip(9), Some(peer(53)), 95), now);
    assert!(matches!(
        resolver.action,
        Action::Refused {
            reason: Refusal::NeverBlock,
            ..
        }
    ));
    // 10.0.0.4 is outside 10.0.0.0/30.
    assert_eq!(
        scan(&mut policy, 4, now).action,
        Action::Block {
            target: ip(4),
            ttl: HOUR
        }
    );
    assert_eq!(
        (policy.stats().refused_never_block, policy.stats().blocks),
        (2, 1)
    );
    Ok(())
}

#[test]
fn mirror_mode_refuses_without_trying() -> TestResult {
    let mut policy = policy(&config(90), false);
    let decision = scan(&mut policy, 1, t0()?);
    let refused = Action::Refused {
        target: ip(1),
        reason: Refusal::MirrorMode,
    };
    assert_eq!(decision.action, refused);
    assert_eq!(
        decision.reason,
        "score 95 >= block_at 90 (no schedule); mirror_mode"
    );
    assert_eq!(policy.stats().active_blocks, 0);
    assert_eq!(policy.stats().refused_mirror_mode, 1);
    Ok(())
}

#[test]
fn alert_only_mode_notifies_what_would_be_blocked() -> TestResult {
    let config = ResponseConfig {
        mode: ResponseMode::AlertOnly,
        ..config(90)
    };
    let mut policy = policy(&config, true);
    let decision = scan(&mut policy, 1, t0()?);
    assert_eq!(decision.action, Action::Notify);
    assert_eq!(
        decision.reason,
        "score 95 >= block_at 90 (no schedule); alert_only"
    );
    assert_eq!(policy.stats().blocks, 0);
    Ok(())
}

#[test]
fn a_blocked_target_is_not_blocked_again_until_its_block_ends() -> TestResult {
    let mut policy = policy(&config(90), true);
    let now = t0()?;
    assert_eq!(
        scan(&mut policy, 1, now).action,
        Action::Block {
            target: ip(1),
            ttl: HOUR
        }
    );
    let again = scan(&mut policy, 1, now + secs(3599));
    assert_eq!(again.action, Action::Notify);
    assert_eq!(
        again.reason,
        "score 95 >= block_at 90 (no schedule); already_blocked"
    );
    // A lower score for the blocked host is judged as usual.
    let low = policy.decide(&input(Detector::PortScan, ip(1), None, 40), now + secs(10));
    assert_eq!(low.action, Action::Digest);
    // The TTL ends at now + 1 h: a new block.
    assert_eq!(
        scan(&mut policy, 1, now + HOUR).action,
        Action::Block {
            target: ip(1),
            ttl: HOUR
        }
    );
    // Ended early by the agent: a new block too.
    assert!(policy.block_expired(ip(1)));
    assert!(!policy.block_expired(ip(1)));
    assert!(matches!(
        scan(&mut policy, 1, now + HOUR + secs(61)).action,
        Action::Block { .. }
    ));
    // Blocked by an operator, as the caller says.
    let mut operator = input(Detector::PortScan, ip(2), None, 95);
    operator.already_blocked = true;
    assert_eq!(policy.decide(&operator, now + HOUR).action, Action::Notify);
    assert_eq!(policy.stats().blocks, 3);
    Ok(())
}

#[test]
fn new_blocks_per_minute_switch_to_alert_only_once_then_resume() -> TestResult {
    let config = ResponseConfig {
        max_new_blocks_per_minute: 3,
        ..config(90)
    };
    let mut policy = policy(&config, true);
    let t = t0()?;
    for (host, at) in [(1, 0), (2, 10), (3, 20)] {
        assert!(matches!(
            scan(&mut policy, host, t + secs(at)).action,
            Action::Block { .. }
        ));
    }
    let capped = scan(&mut policy, 4, t + secs(30));
    let refused = Action::Refused {
        target: ip(4),
        reason: Refusal::BlockCap,
    };
    assert_eq!(capped.action, refused);
    assert_eq!(
        capped.reason,
        "score 95 >= block_at 90 (no schedule); block_cap"
    );
    assert_eq!(
        capped.switched,
        Some(Switch::ToAlertOnly(Cap::NewBlocksPerMinute))
    );
    assert!(policy.is_alert_only());
    // Said once.
    let still = scan(&mut policy, 5, t + secs(40));
    assert_eq!(
        (still.action.kind(), still.switched),
        (crate::respond::ActionKind::Refused, None)
    );
    // The first block is 59 s old: still three in the last minute.
    assert_eq!(policy.poll(t + secs(59)), None);
    assert!(matches!(
        scan(&mut policy, 6, t + secs(59)).action,
        Action::Refused { .. }
    ));
    // 60 s old: out of the window; blocking resumes, said on this decision.
    let resumed = scan(&mut policy, 7, t + secs(60));
    assert!(matches!(resumed.action, Action::Block { .. }));
    assert_eq!(resumed.switched, Some(Switch::Resumed));
    // Blocks at 10, 20, 60: the cap holds again at 61.
    let again = scan(&mut policy, 8, t + secs(61));
    assert_eq!(
        again.switched,
        Some(Switch::ToAlertOnly(Cap::NewBlocksPerMinute))
    );
    let stats = policy.stats();
    assert_eq!(
        (
            stats.blocks,
            stats.refused_block_cap,
            stats.switches_to_alert_only
        ),
        (4, 4, 2)
    );
    Ok(())
}

#[test]
fn active_blocks_switch_to_alert_only_until_one_ends() -> TestResult {
    let config = ResponseConfig {
        max_active_blocks: 2,
        block_ttl: crate::config::duration::HumanDuration(secs(600)),
        ..config(90)
    };
    let mut policy = policy(&config, true);
    let t = t0()?;
    assert!(matches!(
        scan(&mut policy, 1, t).action,
        Action::Block { .. }
    ));
    assert!(matches!(
        scan(&mut policy, 2, t + secs(1)).action,
        Action::Block { .. }
    ));
    let capped = scan(&mut policy, 3, t + secs(2));
    assert_eq!(
        capped.switched,
        Some(Switch::ToAlertOnly(Cap::ActiveBlocks))
    );
    assert_eq!(policy.poll(t + secs(3)), None);
    // The agent says a block ended: below the cap, resumed once.
    assert!(policy.block_expired(ip(1)));
    assert_eq!(policy.poll(t + secs(4)), Some(Switch::Resumed));
    assert_eq!(policy.poll(t + secs(4)), None);
    assert!(matches!(
        scan(&mut policy, 3, t + secs(5)).action,
        Action::Block { .. }
    ));
    // Full again (2 and 3); 2's TTL ends at t + 601 s.
    assert!(scan(&mut policy, 4, t + secs(6)).switched.is_some());
    assert_eq!(policy.poll(t + secs(600)), None);
    assert_eq!(policy.poll(t + secs(601)), Some(Switch::Resumed));
    assert_eq!(policy.stats().active_blocks, 1);
    Ok(())
}

#[test]
fn shadow_mode_reports_what_enforce_would_block() -> TestResult {
    let config = ResponseConfig {
        mode: ResponseMode::Shadow,
        max_new_blocks_per_minute: 1,
        ..config(90)
    };
    // A mirror port: shadow mode answers as an inline sensor would.
    let mut policy = policy(&config, false);
    let t = t0()?;
    let mut beacon = input(Detector::Beacon, ip(1), Some(peer(7)), 91);
    beacon.blast_radius = 12;
    let decision = policy.decide(&beacon, t);
    let shadow = Action::ShadowBlock {
        target: peer(7),
        ttl: HOUR,
        blast_radius: 12,
    };
    assert_eq!(decision.action, shadow);
    assert!(decision.action.notifies());
    assert_eq!(decision.reason, "score 91 >= block_at 90 (no schedule)");
    // Its shadow block lasts: not reported as a new one.
    assert_eq!(policy.decide(&beacon, t + secs(5)).action, Action::Notify);
    // The caps apply as in enforce.
    let capped = scan(&mut policy, 2, t + secs(6));
    assert!(matches!(
        capped.action,
        Action::Refused {
            reason: Refusal::BlockCap,
            ..
        }
    ));
    assert_eq!(
        capped.switched,
        Some(Switch::ToAlertOnly(Cap::NewBlocksPerMinute))
    );
    Ok(())
}

#[test]
fn schedules_follow_the_local_time() -> TestResult {
    let night = ScheduleEntry {
        name: Some("night".to_owned()),
        days: DaySet::ALL,
        hours: HourRange::parse("22:00-06:00")?,
        block_at: Some(85),
        notify_at: None,
        digest_at: None,
    };
    let config = ResponseConfig {
        schedule: vec![night],
        ..ResponseConfig::default()
    };
    let mut policy = Policy::with_time_zone(
        &config,
        PolicyContext {
            never_block: Vec::new(),
            can_block: true,
        },
        paris()?,
    );
    // 20:59 UTC is 21:59 in Paris in January: the section's thresholds.
    let evening = scan(&mut policy, 1, utc(2025, 1, 6, 20, 59, 0)?);
    assert_eq!(evening.action, Action::Notify);
    assert_eq!(evening.reason, "score 95 >= notify_at 60 (no schedule)");
    // 21:00 UTC is 22:00 in Paris: night.
    let night = scan(&mut policy, 1, utc(2025, 1, 6, 21, 0, 0)?);
    assert_eq!(
        night.action,
        Action::Block {
            target: ip(1),
            ttl: HOUR
        }
    );
    assert_eq!(night.reason, "score 95 >= block_at 85 (night)");
    // 04:59 UTC is 05:59 in January, but 06:59 in July (CEST, +2).
    assert!(matches!(
        scan(&mut policy, 2, utc(2025, 1, 7, 4, 59, 0)?).action,
        Action::Block { .. }
    ));
    assert_eq!(
        scan(&mut policy, 3, utc(2025, 7, 7, 4, 59, 0)?).action,
        Action::Notify
    );
    Ok(())
}
