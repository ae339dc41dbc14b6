//! What the sensor's rules of engagement did about a detection: the
//! [`Action`] taken (or refused), why ([`ActionReason`]), how long a block
//! lasts and how many other protected hosts it would touch. Carried by every
//! [`crate::Detection`] and counted in every [`crate::Digest`].
//!
//! Both enums are wire codes (postcard encodes the declaration index):
//! variants are only ever appended.

use serde::{Deserialize, Serialize};

/// What the sensor did with a detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    /// Nothing: below every threshold, or kept for the record only.
    None,
    /// A person is told now (the alert goes to the SOC's queue at once).
    Notify,
    /// Kept for the daily digest.
    Digest,
    /// The peer (or host) is blocked in the datapath for `ttl_secs`.
    Block,
    /// A block that would have been placed, recorded but not enforced
    /// (shadow, dry-run mode).
    ShadowBlock,
    /// A block was called for and refused (see the reason).
    Refused,
}

impl Action {
    /// Every action, in wire order.
    pub const ALL: &'static [Action] = <Action as strum::VariantArray>::VARIANTS;

    /// The stable snake_case name used on every interface.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The value with this name, if any.
    pub fn from_name(name: &str) -> Option<Action> {
        name.parse().ok()
    }
}

/// Why the rules of engagement chose the action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum ActionReason {
    /// The score reached the threshold of the action taken (or, for
    /// `none`, stayed below every threshold).
    ScoreThreshold,
    /// The host or peer is on the site's never-block list.
    NeverBlock,
    /// The peer is the site's own infrastructure (gateway, resolver,
    /// collector), which is never blocked.
    Infrastructure,
    /// On a mirror port a drop drops only a copy: blocking is impossible.
    MirrorMode,
    /// The cap on blocks in force was reached.
    BlockCap,
    /// The target is already blocked (the block was not extended).
    AlreadyBlocked,
    /// Blocking would touch more protected hosts than allowed
    /// (`blast_radius` over the limit).
    BlastRadius,
    /// The notification rate cap was reached: kept for the digest instead.
    RateCap,
    /// Blocks are configured in shadow mode: recorded, not enforced.
    ShadowMode,
}

impl ActionReason {
    /// Every reason, in wire order.
    pub const ALL: &'static [ActionReason] = <ActionReason as strum::VariantArray>::VARIANTS;

    /// The stable snake_case name used on every interface.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The value with this name, if any.
    pub fn from_name(name: &str) -> Option<ActionReason> {
        name.parse().ok()
    }
}

/// What the rules of engagement did, with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Response {
    pub action: Action,
    /// How long a block (or shadow block) lasts, seconds; 0 for the other
    /// actions.
    pub ttl_secs: u32,
    pub reason: ActionReason,
    /// Other protected hosts that talked to the target in the window: who
    /// else a block would cut off (0 when not measured).
    pub blast_radius: u16,
}

impl Response {
    /// No action: the score stayed below every threshold.
    pub fn none() -> Response {
        Response::of(Action::None)
    }

    /// `action` because the score reached its threshold; no TTL, no blast radius.
    pub fn of(action: Action) -> Response {
        Response {
            action,
            ttl_secs: 0,
            reason: ActionReason::ScoreThreshold,
            blast_radius: 0,
        }
    }
}

impl Default for Response {
    fn default() -> Response {
        Response::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_order_and_names_are_stable() -> Result<(), postcard::Error> {
        assert_eq!(Action::ShadowBlock.name(), "shadow_block");
        assert_eq!(Action::from_name("refused"), Some(Action::Refused));
        assert_eq!(ActionReason::BlockCap.name(), "block_cap");
        assert_eq!(
            ActionReason::from_name("never_block"),
            Some(ActionReason::NeverBlock)
        );
        // postcard writes the declaration index: these bytes are the wire.
        assert_eq!(postcard::to_allocvec(&Action::Refused)?, [5]);
        assert_eq!(postcard::to_allocvec(&ActionReason::ShadowMode)?, [8]);
        let block = Response {
            action: Action::Block,
            ttl_secs: 3600,
            reason: ActionReason::ScoreThreshold,
            blast_radius: 2,
        };
        assert_eq!(postcard::to_allocvec(&block)?, [3, 0x90, 0x1c, 0, 2]);
        Ok(())
    }
}
