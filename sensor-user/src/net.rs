//! Addresses as the agent speaks of them: prefixes ([`Cidr`]), flows
//! ([`FlowSpec`]) and block targets ([`BlockTarget`]), parsed from and printed
//! as the text operators type, and converted to and from the 16-byte keys
//! of the kernel maps (IPv4 stored IPv4-mapped).

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

use sensor_common::{v4_mapped, v4_unmapped, Addr16, FlowKey, V4_MAPPED_PREFIX_BITS};

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

fn max_len(addr: &IpAddr) -> u8 {
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

/// One direction of a conversation; blocks match it both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowSpec {
    pub protocol: u8,
    pub src: IpAddr,
    /// `None`: any source port.
    pub src_port: Option<u16>,
    pub dst: IpAddr,
    pub dst_port: u16,
}

impl FlowSpec {
    pub fn key(&self) -> FlowKey {
        FlowKey {
            src: addr16(self.src),
            dst: addr16(self.dst),
            src_port: self.src_port.unwrap_or(0),
            dst_port: self.dst_port,
            protocol: self.protocol,
            _pad: [0; 3],
        }
    }

    pub fn from_key(key: &FlowKey) -> FlowSpec {
        FlowSpec {
            protocol: key.protocol,
            src: ip_from_addr16(&key.src),
            src_port: if key.src_port == 0 {
                None
            } else {
                Some(key.src_port)
            },
            dst: ip_from_addr16(&key.dst),
            dst_port: key.dst_port,
        }
    }
}

fn protocol_name(protocol: u8) -> String {
    match protocol {
        6 => "tcp".to_owned(),
        17 => "udp".to_owned(),
        other => other.to_string(),
    }
}

/// Splits `addr:port`, with IPv6 in brackets (`[fd00::1]:443`).
fn split_endpoint<'a>(text: &'a str, input: &str) -> Result<(IpAddr, &'a str), NetError> {
    let bad = |reason| NetError::Flow {
        input: input.to_owned(),
        reason,
    };
    let (addr_text, port_text) = if let Some(rest) = text.strip_prefix('[') {
        let (addr, tail) = rest
            .split_once(']')
            .ok_or(bad("unclosed '[' around an IPv6 address"))?;
        (
            addr,
            tail.strip_prefix(':').ok_or(bad("missing :PORT after ]"))?,
        )
    } else {
        text.rsplit_once(':').ok_or(bad("missing :PORT"))?
    };
    let addr = addr_text.parse().map_err(|_| bad("bad address"))?;
    Ok((addr, port_text))
}

impl FromStr for FlowSpec {
    type Err = NetError;

    fn from_str(input: &str) -> Result<FlowSpec, NetError> {
        let bad = |reason| NetError::Flow {
            input: input.to_owned(),
            reason,
        };
        let mut parts = input.trim().splitn(3, '/');
        let (Some(proto), Some(src), Some(dst)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected three parts separated by '/'"));
        };
        let protocol = match proto.to_ascii_lowercase().as_str() {
            "tcp" => 6,
            "udp" => 17,
            number => number
                .parse::<u8>()
                .map_err(|_| bad("protocol must be tcp, udp or 0-255"))?,
        };
        let (src, src_port) = split_endpoint(src, input)?;
        let src_port = match src_port {
            "*" => None,
            p => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or(bad("source port must be 1-65535 or *"))?,
            ),
        };
        let (dst, dst_port) = split_endpoint(dst, input)?;
        let dst_port = dst_port
            .parse::<u16>()
            .map_err(|_| bad("destination port must be 0-65535"))?;
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(bad(
                "source and destination must be the same address family",
            ));
        }
        Ok(FlowSpec {
            protocol,
            src,
            src_port,
            dst,
            dst_port,
        })
    }
}

fn endpoint(addr: IpAddr, port: String) -> String {
    match addr {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

impl fmt::Display for FlowSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let src_port = self
            .src_port
            .map_or_else(|| "*".to_owned(), |p| p.to_string());
        write!(
            f,
            "{}/{}/{}",
            protocol_name(self.protocol),
            endpoint(self.src, src_port),
            endpoint(self.dst, self.dst_port.to_string())
        )
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T, E: fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn cidr_parses_and_prints() {
        let net: Cidr = ok("10.0.0.0/8".parse());
        assert_eq!(net.to_string(), "10.0.0.0/8");
        assert_eq!(ok("192.0.2.7".parse::<Cidr>()).prefix_len, 32);
        assert_eq!(ok("fd00::/8".parse::<Cidr>()).to_string(), "fd00::/8");
        assert!(net.contains(
            "10.1.2.3"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        ));
        assert!(!net.contains(
            "11.0.0.1"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        ));
    }

    #[test]
    fn cidr_rejects_host_bits_and_bad_lengths() {
        assert_eq!(
            "10.0.0.1/8".parse::<Cidr>(),
            Err(NetError::HostBits {
                input: "10.0.0.1/8".into(),
                canonical: "10.0.0.0/8".into()
            })
        );
        assert!(matches!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(NetError::PrefixLength { max: 32, .. })
        ));
        assert!(matches!(
            "fd00::/129".parse::<Cidr>(),
            Err(NetError::PrefixLength { max: 128, .. })
        ));
        assert!(matches!(
            "10.0.0/8".parse::<Cidr>(),
            Err(NetError::Address { .. })
        ));
    }

    #[test]
    fn lpm_keys_use_the_mapped_form() {
        let (len, addr) = ok("10.0.0.0/8".parse::<Cidr>()).lpm_key();
        assert_eq!(len, 104);
        assert_eq!(addr, v4_mapped([10, 0, 0, 0]));
        let (len, addr) = ok("fc00::/7".parse::<Cidr>()).lpm_key();
        assert_eq!(len, 7);
        assert_eq!(addr[0], 0xfc);
        for text in ["10.0.0.0/8", "fc00::/7", "192.0.2.1/32", "::/0"] {
            let net: Cidr = ok(text.parse());
            let (len, addr) = net.lpm_key();
            assert_eq!(Cidr::from_lpm_key(len, addr), net, "{text}");
        }
    }

    #[test]
    fn block_targets_round_trip() {
        for text in [
            "203.0.113.7",
            "203.0.113.0/24",
            "2001:db8::/32",
            "tcp/10.0.0.5:*/203.0.113.7:443",
            "udp/10.0.0.5:5353/203.0.113.53:53",
            "tcp/[fd00::2]:40000/[2001:db8::1]:443",
            "1/10.0.0.5:*/203.0.113.7:0",
        ] {
            let target: BlockTarget = ok(text.parse());
            assert_eq!(target.to_string(), text);
        }
        assert_eq!(
            ok("203.0.113.7/32".parse::<BlockTarget>()),
            BlockTarget::Host(
                "203.0.113.7"
                    .parse()
                    .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
            )
        );
    }

    #[test]
    fn flows_reject_mixed_families_and_bad_ports() {
        for text in [
            "tcp/10.0.0.5:*/[2001:db8::1]:443",
            "tcp/10.0.0.5:0/203.0.113.7:443",
            "tcp/10.0.0.5/203.0.113.7:443",
            "gre/10.0.0.5:*/203.0.113.7:1",
            "tcp/[fd00::1:40000/[fd00::2]:1",
        ] {
            assert!(
                matches!(text.parse::<BlockTarget>(), Err(NetError::Flow { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn flow_keys_round_trip() {
        let flow: FlowSpec = ok("tcp/10.0.0.5:*/203.0.113.7:443".parse());
        let key = flow.key();
        assert_eq!(key.src_port, 0);
        assert_eq!(key.dst_port, 443);
        assert_eq!(key.protocol, 6);
        assert_eq!(FlowSpec::from_key(&key), flow);
    }
}
