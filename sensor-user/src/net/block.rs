//! Block targets (a host, a prefix or a flow) and who made a block.

use std::{fmt, net::IpAddr, str::FromStr};

use super::{max_len, Cidr, FlowSpec, NetError};

/// What a block applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum BlockTarget {
    Host(IpAddr),
    Prefix(Cidr),
    Flow(FlowSpec),
}

impl BlockTarget {
    /// `host`, `prefix` or `flow`.
    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

/// Who made a block, as the kernel's block entries record it.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::FromRepr)]
#[strum(serialize_all = "snake_case")]
pub enum BlockOrigin {
    /// By hand, with `vantage block add`.
    Operator = sensor_common::policy::BLOCK_ORIGIN_OPERATOR,
    /// By the agent's response policy.
    Policy = sensor_common::policy::BLOCK_ORIGIN_POLICY,
}

impl BlockOrigin {
    /// The name of a stored origin value (`unknown` for values this build does not know).
    pub fn name_of(value: u32) -> &'static str {
        BlockOrigin::from_repr(value).map_or("unknown", <&str>::from)
    }
}

impl FromStr for BlockTarget {
    type Err = NetError;

    fn from_str(input: &str) -> Result<BlockTarget, NetError> {
        let text = input.trim();
        if text.matches('/').count() >= 2 {
            return Ok(BlockTarget::Flow(text.parse()?));
        }
        let cidr: Cidr = text.parse()?;
        if cidr.prefix_len == max_len(&cidr.addr) {
            Ok(BlockTarget::Host(cidr.addr))
        } else {
            Ok(BlockTarget::Prefix(cidr))
        }
    }
}

impl fmt::Display for BlockTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockTarget::Host(ip) => write!(f, "{ip}"),
            BlockTarget::Prefix(net) => write!(f, "{net}"),
            BlockTarget::Flow(flow) => write!(f, "{flow}"),
        }
    }
}
