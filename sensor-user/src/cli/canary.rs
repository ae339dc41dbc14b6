//! `vantage canary`: run on a protected host, it looks up a recognisable
//! name (`vantage-canary-<unix seconds>-<nonce>.<suffix>`) through the
//! host's resolver, or a given one; the sensor that sees the lookup raises a
//! canary alert and the collector shows how long the path took.

use std::{
    net::{SocketAddr, ToSocketAddrs as _, UdpSocket},
    time::{Duration, SystemTime},
};

use anyhow::Context as _;
use vantage_protocol::canary;

use super::args::CanaryArgs;

pub(super) fn send(args: &CanaryArgs) -> anyhow::Result<()> {
    let now = SystemTime::now();
    let nonce = u64::from(now.duration_since(SystemTime::UNIX_EPOCH)?.subsec_nanos())
        ^ u64::from(std::process::id()) << 32;
    let name = canary::name(
        now.duration_since(SystemTime::UNIX_EPOCH)?.as_secs(),
        nonce,
        &args.suffix,
    );
    match args.resolver {
        Some(resolver) => {
            let wire = vantage::net::dns::a_query(&name, nonce as u16)?;
            let socket = UdpSocket::bind(if resolver.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            })?;
            socket.set_read_timeout(Some(Duration::from_secs(2)))?;
            socket
                .send_to(&wire, SocketAddr::new(resolver, 53))
                .with_context(|| format!("sending the lookup to {resolver}"))?;
            let mut answer = [0u8; 512];
            let answered = socket.recv_from(&mut answer).is_ok();
            println!(
                "looked up {name} at {resolver}{}",
                if answered {
                    " (answered)"
                } else {
                    " (no answer: the sensor still saw the query if it crossed it)"
                }
            );
        }
        None => {
            // Through the host's own resolver, as any client would.
            let result = (name.as_str(), 0).to_socket_addrs();
            println!(
                "looked up {name} through this host's resolver ({})",
                match result {
                    Ok(_) => "answered".to_owned(),
                    Err(error) => format!("{error}: expected, the name does not exist"),
                }
            );
        }
    }
    println!(
        "the sensor raises a canary alert for it; `vantage-fleet alerts` at the MSSP shows it with its latency"
    );
    Ok(())
}
