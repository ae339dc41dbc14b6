//! Tiny real services and clients, each on a thread inside a namespace: a DNS
//! responder, an HTTP server, and the clients that use them.

use std::{
    io::{Read as _, Write as _},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::{bail, Context as _};

use crate::{netns::Namespace, packet::dns_message};

/// A running service; stops when dropped.
pub struct Service {
    stop: Arc<AtomicBool>,
    /// Requests answered so far.
    pub served: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Service {
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}

/// Answers every DNS query on `addr:53` with one A record (192.0.2.1).
pub fn dns_responder(ns: &Namespace, addr: Ipv4Addr) -> anyhow::Result<Service> {
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let (s, c) = (stop.clone(), served.clone());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = ns.spawn(move || -> anyhow::Result<()> {
        let socket = UdpSocket::bind((addr, 53)).context("binding the DNS responder")?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let _ = ready_tx.send(());
        let mut buf = [0u8; 512];
        while !s.load(Ordering::SeqCst) {
            let Ok((len, peer)) = socket.recv_from(&mut buf) else {
                continue;
            };
            if len < 12 {
                continue;
            }
            let mut answer = buf[..len].to_vec();
            answer[2] = 0x81;
            answer[3] = 0x80;
            answer[7] = 1;
            answer.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
            // Count before answering: a client that has its answer must
            // already see the count.
            c.fetch_add(1, Ordering::SeqCst);
            socket.send_to(&answer, peer)?;
        }
        Ok(())
    });
    let thread = wait_ready(ready_rx, thread)?;
    Ok(Service {
        stop,
        served,
        thread: Some(thread),
    })
}

/// Serves `HTTP/1.0 200 OK` on `addr:80`, one connection at a time.
pub fn http_server(ns: &Namespace, addr: Ipv4Addr) -> anyhow::Result<Service> {
    http_server_on(ns, addr, 80)
}

/// Like [`http_server`], on `addr:port`.
pub fn http_server_on(ns: &Namespace, addr: Ipv4Addr, port: u16) -> anyhow::Result<Service> {
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let (s, c) = (stop.clone(), served.clone());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = ns.spawn(move || -> anyhow::Result<()> {
        let listener = TcpListener::bind((addr, port)).context("binding the HTTP server")?;
        listener.set_nonblocking(true)?;
        let _ = ready_tx.send(());
        while !s.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false)?;
                    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
                    let mut request = [0u8; 1024];
                    let _ = stream.read(&mut request);
                    c.fetch_add(1, Ordering::SeqCst);
                    let _ =
                        stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        Ok(())
    });
    let thread = wait_ready(ready_rx, thread)?;
    Ok(Service {
        stop,
        served,
        thread: Some(thread),
    })
}

fn wait_ready(
    ready: std::sync::mpsc::Receiver<()>,
    thread: std::thread::JoinHandle<anyhow::Result<anyhow::Result<()>>>,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
    if ready.recv_timeout(Duration::from_secs(5)).is_err() {
        let result = thread
            .join()
            .map_err(|_| anyhow::anyhow!("service thread panicked"))?;
        result??;
        bail!("service did not start");
    }
    Ok(std::thread::spawn(move || match thread.join() {
        Ok(result) => result?,
        Err(_) => bail!("service thread panicked"),
    }))
}

/// Sends one DNS query for `name` to `server:53` and waits for the answer.
pub fn dns_query(ns: &Namespace, server: Ipv4Addr, name: &str, id: u16) -> anyhow::Result<()> {
    let query = dns_message(id, false, name);
    ns.run(move || -> anyhow::Result<()> {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        socket.set_read_timeout(Some(Duration::from_secs(2)))?;
        socket.send_to(&query, (server, 53))?;
        let mut buf = [0u8; 512];
        let (len, _) = socket
            .recv_from(&mut buf)
            .context("waiting for the DNS answer")?;
        if len < 12 || buf[..2] != id.to_be_bytes() || buf[2] & 0x80 == 0 {
            bail!("not an answer to query {id}");
        }
        Ok(())
    })?
}

/// Opens a TCP connection, sends an HTTP request, reads the reply, closes.
pub fn http_get(ns: &Namespace, server: Ipv4Addr, timeout: Duration) -> anyhow::Result<String> {
    http_get_on(ns, server, 80, timeout)
}

/// Like [`http_get`], to `server:port`.
pub fn http_get_on(
    ns: &Namespace,
    server: Ipv4Addr,
    port: u16,
    timeout: Duration,
) -> anyhow::Result<String> {
    ns.run(move || -> anyhow::Result<String> {
        let mut stream = TcpStream::connect_timeout(&SocketAddr::from((server, port)), timeout)
            .context("connecting")?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        Ok(reply)
    })?
}

/// Pings `addr` `count` times from `ns`; returns the replies received.
pub fn ping(ns: &Namespace, addr: Ipv4Addr, count: u32) -> anyhow::Result<u32> {
    let out = ns
        .command("ping")
        .args([
            "-n",
            "-q",
            "-c",
            &count.to_string(),
            "-i",
            "0.2",
            "-W",
            "1",
            &addr.to_string(),
        ])
        .output()
        .context("running ping")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let received = text
        .lines()
        .find(|l| l.contains("received"))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|part| part.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Ok(received)
}
