//! The policy: one [`Decision`] per alert, from its score, the thresholds
//! in force at `now` (see [`super::schedule`]), what may be blocked, and
//! the blocks the policy made.
//!
//! Block targets are fixed by detector, not configured:
//! - `port_scan`, `host_sweep`, `lateral_movement`, `dns_tunnel`: the
//!   protected host (a quarantine: all of its traffic), since the host is
//!   what misbehaves and its peers are many;
//! - `beacon`, `known_bad`: the remote peer, since the host may be
//!   innocent and the peer is what must not be reached (no peer: no block);
//! - `new_device`: never blocked (a new device is not an attack by itself;
//!   `block_at` does not apply to it, only `notify_at` and `digest_at`).
//!
//! In the order they are checked, a block the score calls for becomes:
//! `alert_only` mode: Notify; a target in `never_block`: Refused
//! (`never_block`); a sensor that cannot block (mirror mode) in `enforce`
//! mode: Refused (`mirror_mode`), never attempted; a target already
//! blocked: Notify (not a new block); a cap reached: Refused (`block_cap`)
//! and the policy says once that it switched to alert-only, then once that
//! it resumed when below both caps again. A refused block is notified.
//!
//! Shadow mode decides exactly as `enforce` on an inline sensor would,
//! drops nothing, and answers [`Action::ShadowBlock`] for each block it
//! would have made. Shadow blocks are kept in the same book as real ones
//! (TTL, caps, "already blocked"), so the shadow report shows the caps and
//! the switches to alert-only that `enforce` would have hit, and one
//! target is not reported again and again while its shadow block lasts.
//! Shadow mode ignores `can_block`: on a mirror port, it answers what an
//! inline sensor would block, which is what a trial deployment wants to
//! know.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    time::{Duration, SystemTime},
};

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::{
    schedule::{rule_at, LocalMoment},
    Action, Cap, Decision, DecisionInput, Refusal, Switch,
};
use crate::{
    config::response::{ResponseConfig, ResponseMode, TimeZoneError},
    detect::Detector,
    net::Cidr,
};

/// The window of `max_new_blocks_per_minute`, seconds.
pub const NEW_BLOCKS_WINDOW: Duration = Duration::from_secs(60);

/// What the agent knows beyond `[response]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyContext {
    /// Addresses never blocked besides `response.never_block`: the
    /// gateway, the resolvers, the collector, `blocks.allow`.
    pub never_block: Vec<Cidr>,
    /// False when the sensor cannot drop traffic (mirror mode).
    pub can_block: bool,
}

/// The policy's counters, since it was made, for `vantage status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStats {
    /// Blocks (or shadow blocks) made.
    pub blocks: u64,
    /// Blocks refused, by reason.
    pub refused_never_block: u64,
    pub refused_mirror_mode: u64,
    pub refused_block_cap: u64,
    /// Times the policy switched to alert-only.
    pub switches_to_alert_only: u64,
    /// Blocks (or shadow blocks) of the policy in force now.
    pub active_blocks: u32,
}

/// Where a detector's block goes.
enum Target {
    Host,
    Peer,
    Never,
}

fn target_of(detector: Detector) -> Target {
    match detector {
        Detector::PortScan
        | Detector::HostSweep
        | Detector::LateralMovement
        | Detector::DnsTunnel => Target::Host,
        Detector::Beacon | Detector::KnownBad => Target::Peer,
        Detector::NewDevice => Target::Never,
    }
}

/// The rules of engagement with their state: the blocks the policy made
/// (at most `max_active_blocks`, each until its TTL) and the times of the
/// new ones in the last 60 s (at most `max_new_blocks_per_minute`).
#[derive(Clone, Debug)]
pub struct Policy {
    config: ResponseConfig,
    tz: TimeZone,
    never_block: Vec<Cidr>,
    can_block: bool,
    /// Target -> when its block ends.
    active: HashMap<IpAddr, SystemTime>,
    /// When each recent new block was made, oldest first.
    recent: VecDeque<SystemTime>,
    /// The cap that switched the policy to alert-only, while it holds.
    capped: Option<Cap>,
    stats: PolicyStats,
}

impl Policy {
    /// A policy in `config.time_zone()` (reads the time zone database).
    pub fn new(config: &ResponseConfig, context: PolicyContext) -> Result<Policy, TimeZoneError> {
        Ok(Policy::with_time_zone(config, context, config.time_zone()?))
    }

    /// A policy in the time zone given (`config.timezone` is not read).
    pub fn with_time_zone(config: &ResponseConfig, context: PolicyContext, tz: TimeZone) -> Policy {
        let mut never_block = config.never_block.clone();
        never_block.extend(context.never_block);
        Policy {
            config: config.clone(),
            tz,
            never_block,
            can_block: context.can_block,
            active: HashMap::new(),
            recent: VecDeque::new(),
            capped: None,
            stats: PolicyStats::default(),
        }
    }

    /// Decides what to do with one alert at `now`.
    pub fn decide(&mut self, input: &DecisionInput, now: SystemTime) -> Decision {
        let mut switched = self.refresh(now);
        let rule = rule_at(&self.config, LocalMoment::at(now, &self.tz));
        let t = rule.thresholds;
        let score = input.score;
        let says = |key: &str, value: u8| format!("score {score} >= {key} {value} ({})", rule.name);
        let wants_block =
            !matches!(target_of(input.detector), Target::Never) && score >= t.block_at;
        let (action, reason) = if wants_block {
            let why = says("block_at", t.block_at);
            let target = match target_of(input.detector) {
                Target::Host => Some(input.host),
                Target::Peer | Target::Never => input.peer,
            };
            match target {
                None => (Action::Notify, format!("{why}; no_peer")),
                Some(target) => {
                    let (action, qualifier) = self.block(target, input, now, &mut switched);
                    match qualifier {
                        None => (action, why),
                        Some(code) => (action, format!("{why}; {code}")),
                    }
                }
            }
        } else if score >= t.notify_at {
            (Action::Notify, says("notify_at", t.notify_at))
        } else if score >= t.digest_at {
            (Action::Digest, says("digest_at", t.digest_at))
        } else {
            (
                Action::None,
                format!("score {score} < digest_at {} ({})", t.digest_at, rule.name),
            )
        };
        Decision {
            action,
            reason,
            switched,
        }
    }

    /// The block of `target` the score calls for, or what it becomes, with
    /// the qualifier of the reason when it is not made.
    fn block(
        &mut self,
        target: IpAddr,
        input: &DecisionInput,
        now: SystemTime,
        switched: &mut Option<Switch>,
    ) -> (Action, Option<&'static str>) {
        let shadow = self.config.mode == ResponseMode::Shadow;
        if self.config.mode == ResponseMode::AlertOnly {
            return (Action::Notify, Some("alert_only"));
        }
        let refused = |reason: Refusal| (Action::Refused { target, reason }, Some(reason.code()));
        if self.never_block.iter().any(|net| net.contains(target)) {
            self.stats.refused_never_block += 1;
            return refused(Refusal::NeverBlock);
        }
        if !self.can_block && !shadow {
            self.stats.refused_mirror_mode += 1;
            return refused(Refusal::MirrorMode);
        }
        if input.already_blocked || self.active.contains_key(&target) {
            return (Action::Notify, Some("already_blocked"));
        }
        if let Some(cap) = self.cap_reached() {
            self.stats.refused_block_cap += 1;
            if self.capped.is_none() {
                self.capped = Some(cap);
                self.stats.switches_to_alert_only += 1;
                *switched = Some(Switch::ToAlertOnly(cap));
            }
            return refused(Refusal::BlockCap);
        }
        let ttl = self.config.block_ttl.0;
        self.active
            .insert(target, now.checked_add(ttl).unwrap_or(now));
        self.recent.push_back(now);
        self.stats.blocks += 1;
        let action = if shadow {
            Action::ShadowBlock {
                target,
                ttl,
                blast_radius: input.blast_radius,
            }
        } else {
            Action::Block { target, ttl }
        };
        (action, None)
    }

    /// The first cap reached, if any.
    fn cap_reached(&self) -> Option<Cap> {
        if self.active.len() >= self.config.max_active_blocks as usize {
            Some(Cap::ActiveBlocks)
        } else if self.recent.len() >= self.config.max_new_blocks_per_minute as usize {
            Some(Cap::NewBlocksPerMinute)
        } else {
            None
        }
    }

    /// Forgets blocks past their TTL and new blocks older than 60 s (or
    /// later than `now`: the clock was stepped back); says `Resumed` when
    /// this brings an alert-only policy below both caps.
    fn refresh(&mut self, now: SystemTime) -> Option<Switch> {
        self.active.retain(|_, until| *until > now);
        self.recent.retain(|at| {
            now.duration_since(*at)
                .is_ok_and(|age| age < NEW_BLOCKS_WINDOW)
        });
        if self.capped.is_some() && self.cap_reached().is_none() {
            self.capped = None;
            return Some(Switch::Resumed);
        }
        None
    }

    /// Advances the policy to `now` without a decision (call it on every
    /// tick): `Some(Switch::Resumed)` when blocking resumes.
    pub fn poll(&mut self, now: SystemTime) -> Option<Switch> {
        self.refresh(now)
    }

    /// The agent's word that the block of `target` is gone before its TTL
    /// (an operator removed it, the datapath expired it): it no longer
    /// counts against `max_active_blocks`. False when the policy did not
    /// hold it.
    pub fn block_expired(&mut self, target: IpAddr) -> bool {
        self.active.remove(&target).is_some()
    }

    /// True while a cap holds the policy in alert-only.
    pub fn is_alert_only(&self) -> bool {
        self.capped.is_some()
    }

    /// Counters, with the number of active blocks.
    pub fn stats(&self) -> PolicyStats {
        PolicyStats {
            active_blocks: u32::try_from(self.active.len()).unwrap_or(u32::MAX),
            ..self.stats
        }
    }

    /// The settings the policy applies.
    pub fn config(&self) -> &ResponseConfig {
        &self.config
    }

    /// The time zone of its schedule.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }
}
