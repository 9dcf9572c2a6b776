//! A certificate and key from PEM files (`--tls-cert`, `--tls-key`), read
//! again when either file changes (a certbot renewal) or on SIGHUP.
//!
//! A pair is used only when it is whole: the chain parses, the key parses,
//! the key is the certificate's, and the certificate is valid now. At
//! start a bad pair is an error (nothing listens); later, a bad new pair is
//! logged and the previous one keeps serving. Connections already open
//! keep the certificate they shook hands with.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;

/// A usable certificate chain with its key, and when it expires.
pub struct Pair {
    pub key: Arc<CertifiedKey>,
    /// The leaf certificate's notAfter, in Unix seconds.
    pub not_after: i64,
}

/// Reads and checks a pair; the error says which file and what is wrong.
pub fn load_pair(cert: &Path, key: &Path) -> Result<Pair, String> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|err| format!("{}: cannot read: {err}", path.display()))
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("{}: not a PEM certificate: {err}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{}: no \"BEGIN CERTIFICATE\" block in it",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|err| {
        format!(
            "{}: no private key in it (PKCS#8, PKCS#1 or SEC1 PEM): {err}",
            key.display()
        )
    })?;
    let validity = validity(&chain[0]).map_err(|err| format!("{}: {err}", cert.display()))?;
    let certified = CertifiedKey::from_der(chain, private, &super::provider()).map_err(|err| {
        format!(
            "{} does not go with the key in {}: {err}",
            cert.display(),
            key.display()
        )
    })?;
    // Certificates are judged by real time, never a test's moved clock.
    let now = (crate::clock::wall_ms() / 1000) as i64;
    let [not_before, not_after] = validity;
    if not_after < now {
        return Err(format!(
            "{}: expired on {}",
            cert.display(),
            date(not_after)
        ));
    }
    if not_before > now {
        return Err(format!(
            "{}: not valid before {}",
            cert.display(),
            date(not_before)
        ));
    }
    Ok(Pair {
        key: Arc::new(certified),
        not_after,
    })
}

/// The leaf's notBefore and notAfter, in Unix seconds.
pub(super) fn validity(der: &[u8]) -> Result<[i64; 2], String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(der)
        .map_err(|err| format!("not an X.509 certificate: {err}"))?;
    let validity = parsed.validity();
    Ok([
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    ])
}

pub(super) fn date(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| seconds.to_string())
}

/// The certificate handed to every new handshake.
#[derive(Debug)]
pub(super) struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().expect("certificate lock").clone())
    }
}

/// Loads the pair (an error if it is unusable) and starts the task that
/// reloads it when the files change.
pub(super) fn watch(
    cert: &Path,
    key: &Path,
    every: Duration,
    metrics: Arc<Metrics>,
) -> anyhow::Result<(Arc<Current>, JoinHandle<()>)> {
    let pair = load_pair(cert, key).map_err(anyhow::Error::msg)?;
    tracing::info!(cert = %cert.display(), expires = %date(pair.not_after), "TLS certificate loaded");
    metrics.tls_not_after(pair.not_after);
    let current = Arc::new(Current(RwLock::new(pair.key)));
    let files = [cert.to_owned(), key.to_owned()];
    let task = tokio::spawn(reload(files, every, current.clone(), metrics));
    Ok((current, task))
}

async fn reload(
    files: [PathBuf; 2],
    every: Duration,
    current: Arc<Current>,
    metrics: Arc<Metrics>,
) {
    let mut seen = stamps(&files);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let forced = tokio::select! {
            () = tokio::time::sleep(every) => false,
            () = next_hangup(&mut hangup) => true,
        };
        let now = stamps(&files);
        if now == seen && !forced {
            continue;
        }
        seen = now;
        match load_pair(&files[0], &files[1]) {
            Ok(pair) => {
                *current.0.write().expect("certificate lock") = pair.key;
                metrics.tls_not_after(pair.not_after);
                tracing::info!(cert = %files[0].display(), expires = %date(pair.not_after), "TLS certificate reloaded");
            }
            Err(err) => tracing::error!(
                error = %err,
                "new TLS certificate not loaded; still serving the previous one"
            ),
        }
    }
}

/// What tells a file changed: its modification time, size and inode (a
/// renewal that renames a new file over the old one changes the inode).
fn stamps(files: &[PathBuf; 2]) -> [Option<(SystemTime, u64, u64)>; 2] {
    use std::os::unix::fs::MetadataExt;
    files.each_ref().map(|path| {
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.modified().ok()?, meta.len(), meta.ino()))
    })
}

/// The next SIGHUP (`systemctl reload`); never, where there is none.
async fn next_hangup(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}
