//! HTTPS: the certificate comes from a pair of PEM files (reloaded when
//! they change, `files.rs`) or from an ACME server (obtained and renewed by
//! the server itself over TLS-ALPN-01, `acme.rs`). Either way the HTTP
//! server sees one [`Acceptor`]: it turns a TCP stream into a TLS stream, or
//! into nothing, with the reason logged and counted.
//!
//! TLS 1.2 and 1.3 (rustls with ring), HTTP/1.1 only: Meta's webhook calls
//! are HTTP/1.1 and HTTP/2 would add a second code path for no gain here.
//!
//! What a connection can be refused for, each with its `reason` in
//! `firmhook_tls_refused_total`:
//! - `plain_http`: a plain HTTP request on the TLS port gets a plain
//!   `400` that says to use `https://`, then the connection closes;
//! - `handshake_timeout`: the handshake did not finish in time (a client
//!   that connects and says nothing holds a connection slot no longer);
//! - `handshake`: anything rustls refuses (TLS 1.0 or 1.1, no shared
//!   cipher, no certificate yet): the client gets rustls's alert.

mod acme;
mod files;

pub use acme::{Acme, LETS_ENCRYPT};
pub use files::{Pair, load_pair};

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::ServerConfig;
use rustls::server::ResolvesServerCert;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;

use crate::metrics::Metrics;

/// The ALPN protocol of ACME's TLS-ALPN-01 validation handshakes.
const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// How long a client has for its handshake, by default.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often certificate files are looked at for a change, by default.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// `--tls-cert` / `--tls-key`.
    Files { cert: PathBuf, key: PathBuf },
    /// `--acme DOMAIN…`.
    Acme(Acme),
}

#[derive(Debug, Clone)]
pub struct Tls {
    pub source: Source,
    pub handshake_timeout: Duration,
    /// How often certificate files are checked for a change (SIGHUP checks
    /// at once).
    pub reload_every: Duration,
}

impl Tls {
    pub fn new(source: Source) -> Self {
        Self {
            source,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            reload_every: RELOAD_EVERY,
        }
    }

    /// In words, without secrets (`serve --print-config`).
    pub fn describe(&self) -> String {
        let source = match &self.source {
            Source::Files { cert, key } => format!(
                "files {} and {}, checked every {} s",
                cert.display(),
                key.display(),
                self.reload_every.as_secs()
            ),
            Source::Acme(acme) => format!(
                "ACME for {} ({}) from {}",
                acme.domains.join(", "),
                acme.email,
                acme.directory
            ),
        };
        format!(
            "{source}; handshakes within {} s",
            self.handshake_timeout.as_secs()
        )
    }
}

/// Turns accepted TCP streams into TLS streams with the current
/// certificate. Cheap to clone.
#[derive(Clone)]
pub struct Acceptor {
    inner: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
}

/// The certificate's keeper (a file watcher or the ACME client), stopped
/// when this is dropped.
pub struct Keeper(JoinHandle<()>);

impl Drop for Keeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Loads or starts obtaining the certificate and returns the acceptor with
/// the task that keeps the certificate current. Files that cannot be used
/// are an error here, before anything listens; an ACME server that cannot
/// be reached is not (the server starts, logs, and retries).
///
/// `data_dir` is the database's directory: the ACME cache lives there.
pub fn start(
    tls: &Tls,
    data_dir: &Path,
    metrics: Arc<Metrics>,
) -> anyhow::Result<(Acceptor, Keeper)> {
    let (resolver, keeper): (Arc<dyn ResolvesServerCert>, JoinHandle<()>) = match &tls.source {
        Source::Files { cert, key } => {
            let (resolver, keeper) = files::watch(cert, key, tls.reload_every, metrics)?;
            (resolver, keeper)
        }
        Source::Acme(acme) => {
            let (resolver, keeper) =
                acme::start(acme, &data_dir.join("acme"), metrics).context("starting ACME")?;
            (resolver, keeper)
        }
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if matches!(tls.source, Source::Acme(_)) {
        config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    }
    let acceptor = Acceptor {
        inner: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        handshake_timeout: tls.handshake_timeout,
    };
    Ok((acceptor, Keeper(keeper)))
}

/// rustls's ring provider: the one crypto library in the tree.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Acceptor {
    /// The TLS stream of `stream`, or `None` (logged at debug and counted)
    /// when the client cannot be served: see the module's doc. ACME
    /// validation handshakes end here too, once they are complete.
    pub async fn accept(
        &self,
        stream: TcpStream,
        metrics: &Metrics,
    ) -> Option<TlsStream<TcpStream>> {
        match tokio::time::timeout(self.handshake_timeout, self.handshake(stream)).await {
            Ok(Ok(Some(stream))) => Some(stream),
            Ok(Ok(None)) => None,
            Ok(Err(Refused(reason, err))) => {
                tracing::debug!(reason, error = %err, "TLS connection refused");
                metrics.tls_refused(reason);
                None
            }
            Err(_elapsed) => {
                tracing::debug!("TLS handshake timed out");
                metrics.tls_refused("handshake_timeout");
                None
            }
        }
    }

    async fn handshake(
        &self,
        mut stream: TcpStream,
    ) -> Result<Option<TlsStream<TcpStream>>, Refused> {
        // A TLS connection starts with a handshake record (22); anything
        // printable is someone speaking plain HTTP to the TLS port.
        let mut first = [0u8; 1];
        let n = stream
            .peek(&mut first)
            .await
            .map_err(|err| Refused("handshake", err))?;
        if n == 0 {
            return Ok(None); // closed before a word: a port probe
        }
        if first[0].is_ascii_alphabetic() {
            let body = "this port speaks HTTPS: use https://\n";
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
            return Err(Refused(
                "plain_http",
                io::Error::other("plain HTTP on the TLS port"),
            ));
        }
        let mut tls = self
            .inner
            .accept(stream)
            .await
            .map_err(|err| Refused("handshake", err))?;
        if tls.get_ref().1.alpn_protocol() == Some(ACME_TLS_ALPN) {
            // The validation server only needed to see the certificate.
            tracing::info!("ACME validation handshake answered");
            let _ = tls.shutdown().await;
            return Ok(None);
        }
        Ok(Some(tls))
    }
}

struct Refused(&'static str, io::Error);
