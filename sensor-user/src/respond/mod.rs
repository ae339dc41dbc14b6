//! Response: the rules of engagement, pure Rust over the time passed in.
//! What the agent does with an alert's score, by `[response]`:
//!
//! - [`Policy::decide`] turns one alert ([`DecisionInput`]) into a
//!   [`Decision`]: block the target for a while, notify a person now, put
//!   it in the daily digest, or nothing; with a stable reason code naming
//!   the threshold and the schedule entry that applied. The thresholds
//!   follow the local time ([`schedule`]); some targets are never blocked;
//!   caps on active and new blocks switch the policy to alert-only.
//! - [`DigestBook`] counts every decision and, once a day at
//!   `digest_at_time` local time, hands back the day's [`DigestReport`].
//!
//! Nothing here reads a clock, a file or the network, except the time
//! zone database when a [`Policy`] or [`DigestBook`] is made from the
//! configuration ([`crate::config::ResponseConfig::time_zone`]).

pub mod digest;
pub mod policy;
pub mod schedule;
#[cfg(test)]
mod tests;

use std::{net::IpAddr, time::Duration};

use serde::{Deserialize, Serialize};

pub use digest::{DigestBook, DigestReport, HostCount};
pub use policy::{Policy, PolicyContext, PolicyStats};
pub use schedule::{ActiveRule, LocalMoment, Thresholds};

use crate::detect::Detector;

/// One alert to decide on: which detector, about which host, how serious.
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionInput {
    pub detector: Detector,
    /// The protected host concerned (the scanner, the beaconing client).
    pub host: IpAddr,
    /// The remote peer (beacons, known-bad peers), when there is one.
    pub peer: Option<IpAddr>,
    /// The registered domain, when there is one (not used to decide; kept
    /// for the reports).
    pub domain: Option<String>,
    /// 0 to 100.
    pub score: u8,
    /// How many other protected hosts talk to the block target's peer
    /// (computed by the caller; carried into shadow blocks for the report).
    pub blast_radius: u32,
    /// The target is already blocked (by an operator or an earlier
    /// decision), as the caller's block table says.
    pub already_blocked: bool,
}

/// Why a block the policy wanted was not made. The alert is notified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Refusal {
    /// The target is covered by `never_block` (or the site's own
    /// infrastructure and `blocks.allow`, added by the agent).
    NeverBlock,
    /// The sensor sees copies (mirror mode): it cannot drop anything, so
    /// the block is not even attempted.
    MirrorMode,
    /// `max_active_blocks` or `max_new_blocks_per_minute` is reached: the
    /// policy is alert-only until it is below both again.
    BlockCap,
}

impl Refusal {
    /// The stable code (`never_block`, `mirror_mode`, `block_cap`).
    pub fn code(self) -> &'static str {
        self.into()
    }
}

/// What to do with one alert.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Drop `target`'s traffic for `ttl` (a protected host: all of its
    /// traffic, a quarantine; a remote peer: traffic to and from it).
    Block { target: IpAddr, ttl: Duration },
    /// Shadow mode: the block `enforce` would have made; nothing dropped.
    /// Notify, and report it with its blast radius.
    ShadowBlock {
        target: IpAddr,
        ttl: Duration,
        blast_radius: u32,
    },
    /// Tell a person now.
    Notify,
    /// Put it in the daily digest.
    Digest,
    /// A block was wanted and refused for `reason`; notify instead.
    Refused { target: IpAddr, reason: Refusal },
    /// Below every threshold.
    None,
}

/// The kind of an [`Action`], for counting.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ActionKind {
    Block,
    ShadowBlock,
    Notify,
    Digest,
    Refused,
    None,
}

impl ActionKind {
    /// Every kind, in order.
    pub const ALL: &'static [ActionKind] = <ActionKind as strum::VariantArray>::VARIANTS;

    /// The stable snake_case name.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Block { .. } => ActionKind::Block,
            Action::ShadowBlock { .. } => ActionKind::ShadowBlock,
            Action::Notify => ActionKind::Notify,
            Action::Digest => ActionKind::Digest,
            Action::Refused { .. } => ActionKind::Refused,
            Action::None => ActionKind::None,
        }
    }

    /// True when a person is told now: every action but `Digest` and `None`.
    pub fn notifies(&self) -> bool {
        !matches!(self, Action::Digest | Action::None)
    }
}

/// Which cap switched the policy to alert-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Cap {
    /// `max_active_blocks`.
    ActiveBlocks,
    /// `max_new_blocks_per_minute`.
    NewBlocksPerMinute,
}

/// A change of the policy's state, said once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Switch {
    /// A cap was reached: no new block until below the caps again.
    ToAlertOnly(Cap),
    /// Below the caps again: blocking resumed.
    Resumed,
}

/// The policy's answer for one alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub action: Action,
    /// A stable code: `score S >= KEY T (RULE)` or `score S < digest_at T
    /// (RULE)`, where KEY is the threshold that decided and RULE the
    /// schedule entry's name or `no schedule`; followed by `; QUALIFIER` when a
    /// block was wanted and not made (`alert_only`, `never_block`,
    /// `mirror_mode`, `already_blocked`, `block_cap`, `no_peer`).
    /// Example: `score 92 >= block_at 90 (night); never_block`.
    pub reason: String,
    /// Set on the decision during which the policy switched to alert-only
    /// or resumed (said once per change; also returned by
    /// [`Policy::poll`]).
    pub switched: Option<Switch>,
}
