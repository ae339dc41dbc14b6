//! The real `vantage-fleet` binary for the tests of this crate: a private
//! directory with its TLS identity and database, commands run against it,
//! a `serve` process on loopback, and a sensor's TLS connection that pins
//! the collector's key and sends signed envelopes through
//! `vantage_protocol::codec::SensorSide`.

#![allow(dead_code, reason = "each test file uses part of it")]

pub mod sensor;

use std::{
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use anyhow::{bail, Context as _};
use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
    pki_types::{CertificateDer, ServerName, UnixTime},
    CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::{client::TlsStream, TlsConnector};
use vantage_protocol::{codec::SensorSide, Ack, KeyPin};

/// The `vantage-fleet` binary cargo built for these tests.
pub const FLEET: &str = env!("CARGO_BIN_EXE_vantage-fleet");

/// A collector directory (key, certificate, database), removed on drop.
pub struct FleetDir {
    /// The directory.
    pub dir: PathBuf,
    /// The collector key's pin, as `init` printed it.
    pub pin: KeyPin,
}

impl FleetDir {
    /// `vantage-fleet init` into a directory private to this process and `tag`.
    pub fn init(tag: &str) -> anyhow::Result<FleetDir> {
        let dir =
            std::env::temp_dir().join(format!("vantage-fleet-it-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(FLEET)
            .arg("--dir")
            .arg(&dir)
            .args(["init", "--name", "vantage-fleet"])
            .output()?;
        if !out.status.success() {
            bail!("init: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8(out.stdout)?;
        let pin = text
            .lines()
            .find_map(|line| line.strip_prefix("pin "))
            .and_then(KeyPin::parse)
            .with_context(|| format!("init printed no pin: {text}"))?;
        Ok(FleetDir { dir, pin })
    }

    /// Runs a command: its exit success, stdout and stderr.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<(bool, String, String)> {
        let out = Command::new(FLEET)
            .arg("--dir")
            .arg(&self.dir)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()?;
        Ok((
            out.status.success(),
            String::from_utf8(out.stdout)?,
            String::from_utf8(out.stderr)?,
        ))
    }

    /// Runs a command that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let (success, stdout, stderr) = self.run(args)?;
        if !success {
            bail!("vantage-fleet {}: {stderr}", args.join(" "));
        }
        Ok(stdout)
    }

    /// Runs a command that must fail; its stderr.
    pub fn refused(&self, args: &[&str]) -> anyhow::Result<String> {
        let (success, stdout, stderr) = self.run(args)?;
        if success {
            bail!("vantage-fleet {} succeeded: {stdout}", args.join(" "));
        }
        Ok(stderr)
    }

    /// A command's stdout as JSON.
    pub fn json(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        serde_json::from_str(&self.ok(args)?).with_context(|| args.join(" "))
    }
}

impl Drop for FleetDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `vantage-fleet serve` on loopback, killed on drop.
pub struct Collector {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Collector {
    /// Starts `serve` on a free loopback port and waits for its first line.
    pub fn start(fleet: &FleetDir) -> anyhow::Result<Collector> {
        let mut child = Command::new(FLEET)
            .arg("--dir")
            .arg(&fleet.dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting vantage-fleet serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(15))
            .context("serve did not start within 15 s")?;
        let addr = line
            .split_whitespace()
            .nth(3)
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("unexpected first line {line:?}"))?;
        Ok(Collector { child, addr })
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Trusts exactly the collector key with this pin, as the sensor does.
#[derive(Debug)]
struct Pinned {
    pin: KeyPin,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if KeyPin::of_certificate(end_entity) == Some(self.pin) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A sensor's connection to the collector at `addr` with key `pin`.
pub async fn connect(
    addr: SocketAddr,
    pin: KeyPin,
) -> anyhow::Result<SensorSide<TlsStream<TcpStream>>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { pin, provider }))
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("vantage-fleet")?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    Ok(SensorSide::new(tls))
}

/// Sends one envelope and waits for its ack.
pub async fn send(side: &mut SensorSide<TlsStream<TcpStream>>, wire: &[u8]) -> anyhow::Result<Ack> {
    side.send_envelope(wire).await?;
    side.recv_ack()
        .await?
        .context("the collector closed the connection")
}
