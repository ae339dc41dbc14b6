//! Flows: one direction of a conversation (`tcp/10.0.0.5:*/203.0.113.7:443`),
//! as operators write them and as the flow block map keys them.

use std::{fmt, net::IpAddr, str::FromStr};

use sensor_common::FlowKey;

use super::{addr16, ip_from_addr16, NetError};

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
