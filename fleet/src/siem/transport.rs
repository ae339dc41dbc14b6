//! Sending exported lines: one UDP datagram per message, or TCP with
//! octet-counting framing (RFC 6587 §3.4.1: `LENGTH SP MESSAGE`), which is
//! safe for messages that contain newlines. A broken TCP connection is
//! re-established once per message.

use std::{
    io::{self, Write as _},
    net::{SocketAddr, TcpStream, ToSocketAddrs as _, UdpSocket},
    str::FromStr,
};

/// Where to send: `udp://HOST:PORT` or `tcp://HOST:PORT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    Udp(SocketAddr),
    Tcp(SocketAddr),
}

impl FromStr for Destination {
    type Err = String;

    fn from_str(text: &str) -> Result<Destination, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("{text:?}: expected udp://HOST:PORT or tcp://HOST:PORT"))?;
        let addr = rest
            .to_socket_addrs()
            .map_err(|e| format!("{text:?}: {e}"))?
            .next()
            .ok_or_else(|| format!("{text:?}: no address"))?;
        match scheme {
            "udp" => Ok(Destination::Udp(addr)),
            "tcp" => Ok(Destination::Tcp(addr)),
            other => Err(format!("{text:?}: unknown scheme {other:?} (udp or tcp)")),
        }
    }
}

/// An open sender.
#[derive(Debug)]
pub enum Sender {
    Udp(UdpSocket, SocketAddr),
    Tcp(Option<TcpStream>, SocketAddr),
}

impl Sender {
    pub fn connect(destination: Destination) -> io::Result<Sender> {
        match destination {
            Destination::Udp(addr) => {
                let bind: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                Ok(Sender::Udp(UdpSocket::bind(bind)?, addr))
            }
            Destination::Tcp(addr) => Ok(Sender::Tcp(Some(TcpStream::connect(addr)?), addr)),
        }
    }

    pub fn send(&mut self, message: &str) -> io::Result<()> {
        match self {
            Sender::Udp(socket, addr) => socket.send_to(message.as_bytes(), *addr).map(|_| ()),
            Sender::Tcp(stream, addr) => {
                let framed = format!("{} {message}", message.len());
                let first = match stream.as_mut() {
                    Some(s) => s.write_all(framed.as_bytes()).and_then(|()| s.flush()),
                    None => Err(io::ErrorKind::NotConnected.into()),
                };
                if first.is_ok() {
                    return Ok(());
                }
                let mut fresh = TcpStream::connect(*addr)?;
                fresh.write_all(framed.as_bytes())?;
                fresh.flush()?;
                *stream = Some(fresh);
                Ok(())
            }
        }
    }
}
