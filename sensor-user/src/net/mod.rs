//! Addresses as the agent speaks of them: prefixes ([`Cidr`]), flows
//! ([`FlowSpec`]) and block targets ([`BlockTarget`]), parsed from and printed
//! as the text operators type, and converted to and from the 16-byte keys
//! of the kernel maps (IPv4 stored IPv4-mapped).

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

mod block;
pub mod dns;
mod flow;
#[cfg(test)]
mod tests;

pub use block::{BlockOrigin, BlockTarget};
pub use flow::FlowSpec;
use sensor_common::{v4_mapped, v4_unmapped, Addr16, V4_MAPPED_PREFIX_BITS};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("invalid address {input:?}")]
    Address { input: String },
    #[error("invalid prefix length in {input:?}: {max} at most")]
    PrefixLength { input: String, max: u8 },
    #[error("{input:?} has host bits set; the network is {canonical}")]
    HostBits { input: String, canonical: String },
    #[error("invalid flow {input:?}: {reason} (expected PROTO/SRC:PORT/DST:PORT, e.g. tcp/10.0.0.5:*/203.0.113.7:443)")]
    Flow { input: String, reason: &'static str },
}

/// An IPv4 or IPv6 prefix. A bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

pub(crate) fn max_len(addr: &IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask_bits(addr: IpAddr, prefix_len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let mask = if prefix_len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix_len))
            };
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = if prefix_len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix_len))
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

impl Cidr {
    /// The prefix holding exactly `addr`.
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr {
            addr,
            prefix_len: max_len(&addr),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let same_family = matches!(
            (self.addr, ip),
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_))
        );
        same_family && mask_bits(ip, self.prefix_len) == self.addr
    }

    /// Prefix length and address as the kernel's tries store them (IPv4 mapped).
    pub fn lpm_key(&self) -> (u32, Addr16) {
        match self.addr {
            IpAddr::V4(v4) => (
                V4_MAPPED_PREFIX_BITS + u32::from(self.prefix_len),
                v4_mapped(v4.octets()),
            ),
            IpAddr::V6(v6) => (u32::from(self.prefix_len), v6.octets()),
        }
    }

    /// The inverse of [`Cidr::lpm_key`].
    pub fn from_lpm_key(prefix_len: u32, addr: Addr16) -> Cidr {
        match v4_unmapped(&addr) {
            Some(octets) if prefix_len >= V4_MAPPED_PREFIX_BITS => Cidr {
                addr: IpAddr::V4(Ipv4Addr::from(octets)),
                prefix_len: (prefix_len - V4_MAPPED_PREFIX_BITS).min(32) as u8,
            },
            _ => Cidr {
                addr: IpAddr::V6(Ipv6Addr::from(addr)),
                prefix_len: prefix_len.min(128) as u8,
            },
        }
    }
}

impl FromStr for Cidr {
    type Err = NetError;

    fn from_str(input: &str) -> Result<Cidr, NetError> {
        let text = input.trim();
        let (addr_text, len_text) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| NetError::Address {
            input: input.to_owned(),
        })?;
        let max = max_len(&addr);
        let prefix_len = match len_text {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => {
                    return Err(NetError::PrefixLength {
                        input: input.to_owned(),
                        max,
                    })
                }
            },
        };
        let network = mask_bits(addr, prefix_len);
        if network != addr {
            return Err(NetError::HostBits {
                input: input.to_owned(),
                canonical: format!("{network}/{prefix_len}"),
            });
        }
        Ok(Cidr { addr, prefix_len })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Cidr, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The 16-byte key form of an address (IPv4 mapped).
pub fn addr16(ip: IpAddr) -> Addr16 {
    match ip {
        IpAddr::V4(v4) => v4_mapped(v4.octets()),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The address a 16-byte key holds (IPv4-mapped keys become IPv4).
pub fn ip_from_addr16(addr: &Addr16) -> IpAddr {
    match v4_unmapped(addr) {
        Some(octets) => IpAddr::V4(Ipv4Addr::from(octets)),
        None => IpAddr::V6(Ipv6Addr::from(*addr)),
    }
}
