//! The collector's TLS identity: `vantage-fleet init` makes a key and a
//! self-signed certificate; sensors pin the key (see
//! [`vantage_protocol::KeyPin`]) instead of trusting a CA, so the collector
//! needs no public PKI and a look-alike collector with another key is refused.

use std::{
    fs::{self, OpenOptions},
    io::Write as _,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    pki_types::{pem::PemObject as _, CertificateDer, PrivateKeyDer},
    ServerConfig,
};
use vantage_protocol::KeyPin;

pub const KEY_FILE: &str = "collector.key";
pub const CERT_FILE: &str = "collector.crt";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("generating the collector key or certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: not a PEM {what}")]
    Pem { path: PathBuf, what: &'static str },
    #[error("{path}: the certificate holds no readable public key")]
    NoKey { path: PathBuf },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

fn write_new(path: &Path, mode: u32, contents: &[u8]) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Creates `dir/collector.key` (0600) and a self-signed `dir/collector.crt`
/// for `server_name`, returning the pin sensors must be configured with.
/// Refuses to overwrite either file.
pub fn init(dir: &Path, server_name: &str) -> Result<KeyPin, TlsError> {
    fs::create_dir_all(dir).map_err(|source| TlsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(vec![server_name.to_owned()])?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, server_name);
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2074, 1, 1);
    let certificate = params.self_signed(&key)?;
    write_new(&dir.join(KEY_FILE), 0o600, key.serialize_pem().as_bytes())?;
    write_new(&dir.join(CERT_FILE), 0o644, certificate.pem().as_bytes())?;
    pin(dir)
}

fn load_certificate(dir: &Path) -> Result<CertificateDer<'static>, TlsError> {
    let path = dir.join(CERT_FILE);
    CertificateDer::from_pem_file(&path).map_err(|_| TlsError::Pem {
        path,
        what: "certificate",
    })
}

/// The pin of the collector's current key.
pub fn pin(dir: &Path) -> Result<KeyPin, TlsError> {
    let certificate = load_certificate(dir)?;
    KeyPin::of_certificate(&certificate).ok_or_else(|| TlsError::NoKey {
        path: dir.join(CERT_FILE),
    })
}

/// The server configuration: TLS 1.3 only, no client certificates (sensors
/// prove who they are by signing every envelope).
pub fn server_config(dir: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certificate = load_certificate(dir)?;
    let key_path = dir.join(KEY_FILE);
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|_| TlsError::Pem {
        path: key_path,
        what: "private key",
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)?;
    Ok(Arc::new(config))
}
