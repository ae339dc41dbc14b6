//! What the lab's screen shows of an attack (`cargo xtask lab --attack
//! NAME`): what runs, the detections stored at the collector with the
//! decision taken, the kernel's blocks, whether the attacker's traffic
//! passes, and the timeline from the first packet: detection stored, block
//! seen, traffic stopped, block lapsed.

use std::{
    fmt::Write as _,
    net::Ipv4Addr,
    time::{Duration, Instant, SystemTime},
};

use serde_json::Value;

use super::{
    launch, live::detections, live::received_at, tools::connects, Attack, Running, Target,
    BLOCK_AT, BLOCK_TTL_SECS,
};
use crate::{agent::SensorDirs, fleet::FleetDir};

/// Detections listed at most (the newest).
const SHOWN: usize = 8;

/// An attack of the lab, from its launch to the lapse of its block.
pub struct AttackView {
    pub attack: Attack,
    launch_at: Instant,
    running: Option<Running>,
    launch_error: Option<String>,
    /// When the collector stored the attack's detection.
    stored: Option<SystemTime>,
    /// When the block of the target was first seen, and seen gone again.
    blocked_seen: Option<SystemTime>,
    lapsed_seen: Option<SystemTime>,
    /// The probe's last result and when it changed.
    probe: Option<(bool, SystemTime)>,
}

impl AttackView {
    /// The attack, to launch [`Attack::start_after`] after `now`.
    pub fn new(attack: Attack, now: Instant) -> AttackView {
        AttackView {
            attack,
            launch_at: now + attack.start_after(),
            running: None,
            launch_error: None,
            stored: None,
            blocked_seen: None,
            lapsed_seen: None,
            probe: None,
        }
    }

    /// Launches the attack when due, looks at the collector, the blocks and
    /// the attacker's traffic, and returns the screen's attack section.
    pub fn step(&mut self, target: &Target<'_>, fleet: &FleetDir, dirs: &SensorDirs) -> String {
        let attack = self.attack;
        let mut out = format!("attack {}: {}\n", attack.name(), attack.describe());
        let _ = writeln!(
            out,
            "  policy: block from score {BLOCK_AT} for {BLOCK_TTL_SECS}s; expected: {}",
            expected(attack)
        );
        if self.running.is_none() && self.launch_error.is_none() {
            let left = self.launch_at.saturating_duration_since(Instant::now());
            if !left.is_zero() {
                let _ = writeln!(out, "  starts in {} s", left.as_secs() + 1);
                return out;
            }
            match launch(attack, target) {
                Ok(running) => self.running = Some(running),
                Err(error) => self.launch_error = Some(format!("{error:#}")),
            }
        }
        if let Some(error) = &self.launch_error {
            let _ = writeln!(out, "  could not start: {error}");
            return out;
        }
        let Some(running) = &self.running else {
            return out;
        };
        let progress = running.snapshot();
        for line in progress.lines.iter().filter(|l| !l.is_empty()) {
            let _ = writeln!(out, "  | {line}");
        }
        if let Some(error) = &progress.error {
            let _ = writeln!(out, "  | stopped: {error}");
        }
        let origin = progress.first_packet.or(progress.started);
        let since = |at: SystemTime| match origin.and_then(|o| at.duration_since(o).ok()) {
            Some(d) => format!("+{:.1} s", d.as_secs_f64()),
            None => "the start".to_owned(),
        };
        let now = SystemTime::now();

        out += "  at the collector (vantage-fleet alerts):\n";
        match detections(fleet) {
            Ok(stored) => {
                let ours = stored.iter().find(|d| is_ours(d, attack));
                if let (None, Some(detection)) = (self.stored, ours) {
                    self.stored = received_at(detection);
                }
                if stored.is_empty() {
                    out += "    no detection yet\n";
                }
                let skip = stored.len().saturating_sub(SHOWN);
                for detection in stored.iter().skip(skip) {
                    out += &detection_lines(detection);
                }
            }
            Err(error) => {
                let _ = writeln!(out, "    cannot read the collector: {error:#}");
            }
        }

        out += "  kernel blocks (vantage block list):\n";
        let table = dirs
            .vantage_ok(&["block", "list"])
            .unwrap_or_else(|e| format!("block list failed: {e:#}\n"));
        for line in table.lines() {
            let _ = writeln!(out, "    {line}");
        }
        if let Some(block_target) = attack.block_target() {
            let active = active_policy_block(dirs, block_target);
            match (active, self.blocked_seen, self.lapsed_seen) {
                (true, None, _) => self.blocked_seen = Some(now),
                (false, Some(_), None) => self.lapsed_seen = Some(now),
                _ => {}
            }
        }

        if let Some((addr, port)) = attack.probe() {
            let passes =
                connects(&running.attacker_ns, addr, port, Duration::from_secs(1)).unwrap_or(false);
            if self.probe.is_none_or(|(before, _)| before != passes) {
                self.probe = Some((passes, now));
            }
            let state = if passes {
                "passes"
            } else {
                "stopped (connect timed out)"
            };
            let changed = self.probe.map_or(String::new(), |(_, at)| since(at));
            let _ = writeln!(
                out,
                "  the attacker's traffic (TCP connect {} -> {addr}:{port}, every 2 s): {state} since {changed}",
                attack.attacker()
            );
        }

        out += if attack == Attack::KnownBad {
            "  timeline from the list's update:"
        } else {
            "  timeline from the first packet:"
        };
        match origin {
            Some(origin) => {
                let _ = write!(out, " {}", clock(origin));
            }
            None => out += " no packet yet",
        }
        for (what, at) in [
            ("detection stored at the collector", self.stored),
            ("block seen", self.blocked_seen),
            ("block lapsed", self.lapsed_seen),
        ] {
            if let Some(at) = at {
                let _ = write!(out, "; {what} {}", since(at));
            }
        }
        out.push('\n');
        out
    }
}

/// What the lab's policy should do with the attack.
fn expected(attack: Attack) -> String {
    match attack.block_target() {
        Some(target) if target == attack.attacker() => format!(
            "a {} detection of {}, which blocks it",
            attack.detector(),
            attack.attacker()
        ),
        Some(target) => format!(
            "a {} detection of {}, which blocks its peer {target}",
            attack.detector(),
            attack.attacker()
        ),
        None => format!(
            "a {} detection of {} that notifies (a new device is never blocked)",
            attack.detector(),
            attack.attacker()
        ),
    }
}

/// The attack's own detection: its detector, for its attacker.
fn is_ours(detection: &Value, attack: Attack) -> bool {
    super::live::is_detection(detection, attack.detector(), attack.attacker())
}

/// Whether `target` has an active block of origin `policy`.
fn active_policy_block(dirs: &SensorDirs, target: Ipv4Addr) -> bool {
    let Ok(text) = dirs.vantage_ok(&["block", "list", "--json"]) else {
        return false;
    };
    let rows: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
    rows.iter().any(|b| {
        b["target"] == target.to_string() && b["origin"] == "policy" && b["active"] == true
    })
}

/// Two lines of a stored detection: who, what score, what was done; then
/// its explanation in words.
fn detection_lines(d: &Value) -> String {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let subject = text(&d["domain"])
        .filter(|s| !s.is_empty())
        .or_else(|| text(&d["peer"]))
        .map_or(String::new(), |s| format!(" -> {s}"));
    let response = &d["response"];
    let ttl = response["ttl_secs"].as_u64().filter(|t| *t > 0);
    format!(
        "    {} {}{subject} score {} {} (revision {}): {}{} ({})\n      {}\n",
        d["detector"].as_str().unwrap_or("?"),
        d["host"].as_str().unwrap_or("?"),
        d["score"],
        d["severity"].as_str().unwrap_or("?"),
        d["revision"],
        response["action"].as_str().unwrap_or("?"),
        ttl.map_or(String::new(), |t| format!(" {t}s")),
        response["reason"].as_str().unwrap_or("?"),
        d["text"].as_str().unwrap_or(""),
    )
}

/// `HH:MM:SS.s` UTC of a time.
fn clock(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let day = secs % 86_400.0;
    format!(
        "{:02}:{:02}:{:04.1} UTC",
        (day / 3600.0) as u64,
        (day % 3600.0 / 60.0) as u64,
        day % 60.0
    )
}
