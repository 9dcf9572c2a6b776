//! Certificates from an ACME server (Let's Encrypt by default), obtained
//! and renewed by the server itself with TLS-ALPN-01 on its own listening
//! port. The protocol is rustls-acme's; this file configures it, keeps its
//! cache in owner-only files and logs what it does.
//!
//! - The cache is `acme/` beside the database (`0700`): the account key
//!   (`account-*.key`) and the certificate with its key
//!   (`certificate-*.pem`), `0600` each. A restart serves the
//!   cached certificate at once and asks the ACME server for nothing.
//! - Renewal starts when two thirds of the certificate's lifetime have
//!   passed (30 days before expiry for Let's Encrypt's 90-day ones). A
//!   failed order is retried with a doubling wait (1 s up to 18 h) while
//!   the current certificate keeps serving.
//! - Until a first certificate exists, handshakes fail (logged at debug)
//!   and the webhook is not reachable over HTTPS; each failed order is
//!   logged at error with the ACME server's answer.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{Context, bail};
use futures_core::Stream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use rustls_acme::{AccountCache, AcmeConfig, CertCache, EventOk, ResolvesServerCertAcme};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use crate::metrics::Metrics;

pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// `--acme`, `--acme-email`, `--acme-directory` and `FIRMHOOK_ACME_CA`.
#[derive(Debug, Clone)]
pub struct Acme {
    pub domains: Vec<String>,
    pub email: String,
    pub directory: String,
    /// Extra roots to trust for the ACME server itself (a test server).
    pub ca: Option<PathBuf>,
}

impl Acme {
    /// Checks what can be checked before any network call.
    fn validate(&self) -> anyhow::Result<()> {
        if self.domains.is_empty() {
            bail!("--acme needs at least one domain");
        }
        for domain in &self.domains {
            match ServerName::try_from(domain.as_str()) {
                Ok(ServerName::DnsName(_)) if !domain.contains(':') => {}
                _ => bail!("--acme: {domain:?} is not a domain name (no scheme, port or address)"),
            }
        }
        if !self.email.contains('@') || self.email.contains(char::is_whitespace) {
            bail!("--acme-email: {:?} is not an email address", self.email);
        }
        if !self.directory.starts_with("https://") {
            bail!(
                "--acme-directory: {:?} is not an https:// URL",
                self.directory
            );
        }
        Ok(())
    }

    /// The TLS client configuration for talking to the ACME server.
    fn client(&self) -> anyhow::Result<Arc<ClientConfig>> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &self.ca {
            let pem = std::fs::read(path)
                .with_context(|| format!("FIRMHOOK_ACME_CA: cannot read {}", path.display()))?;
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.with_context(|| {
                    format!(
                        "FIRMHOOK_ACME_CA: {}: not a PEM certificate",
                        path.display()
                    )
                })?;
                roots.add(cert).with_context(|| {
                    format!("FIRMHOOK_ACME_CA: {}: not a usable root", path.display())
                })?;
                added += 1;
            }
            if added == 0 {
                bail!(
                    "FIRMHOOK_ACME_CA: {}: no \"BEGIN CERTIFICATE\" block in it",
                    path.display()
                );
            }
        }
        let config = ClientConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// Starts the ACME client: the resolver serves the cached certificate (if
/// any) and answers validation handshakes; the task orders and renews.
pub(super) fn start(
    acme: &Acme,
    cache_dir: &Path,
    metrics: Arc<Metrics>,
) -> anyhow::Result<(Arc<ResolvesServerCertAcme>, JoinHandle<()>)> {
    acme.validate()?;
    crate::private::create_dir_all(cache_dir)
        .with_context(|| format!("creating {}", cache_dir.display()))?;
    let cache = Cache {
        dir: cache_dir.to_owned(),
        metrics,
    };
    let mut state = AcmeConfig::new_with_client_config(&acme.domains, acme.client()?)
        .directory(&acme.directory)
        .contact_push(format!("mailto:{}", acme.email))
        .cache(cache)
        .state();
    let resolver = state.resolver();
    let domains = acme.domains.join(",");
    tracing::info!(%domains, directory = %acme.directory, "ACME: starting");
    let task = tokio::spawn(async move {
        loop {
            let event = std::future::poll_fn(|cx| Pin::new(&mut state).poll_next(cx)).await;
            match event {
                None => break,
                Some(Ok(EventOk::DeployedCachedCert)) => {
                    tracing::info!(%domains, "ACME: serving the cached certificate");
                }
                Some(Ok(EventOk::DeployedNewCert)) => {
                    tracing::info!(%domains, "ACME: new certificate obtained and serving");
                }
                Some(Ok(stored)) => tracing::debug!(?stored, "ACME: cache written"),
                Some(Err(err)) => tracing::error!(
                    %domains,
                    error = %err,
                    "ACME: failed; will retry, and the current certificate (if any) keeps serving"
                ),
            }
        }
    });
    Ok((resolver, task))
}

/// The account key and certificates, as owner-only files in `dir`.
struct Cache {
    dir: PathBuf,
    metrics: Arc<Metrics>,
}

impl Cache {
    /// `kind-HASH.extension`, the hash over what the entry is for (the domains or
    /// the contact, and the directory URL): another domain list or ACME
    /// server gets its own entry.
    fn path(&self, kind: &str, extension: &str, parts: &[String], directory: &str) -> PathBuf {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hash.update(directory.as_bytes());
        let digest = hash.finalize();
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{kind}-{hex}.{extension}"))
    }

    fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Written to a temporary file first: a crash leaves the old entry.
    fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let temporary = path.with_extension("tmp");
        let mut file = crate::private::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    }

    /// Puts the certificate's expiry into `/metrics`.
    fn note_expiry(&self, pem: &[u8]) {
        let leaf = CertificateDer::pem_slice_iter(pem).next();
        if let Some(Ok(leaf)) = leaf
            && let Ok([_, not_after]) = super::files::validity(&leaf)
        {
            self.metrics.tls_not_after(not_after);
            tracing::info!(expires = %super::files::date(not_after), "ACME certificate");
        }
    }
}

#[async_trait::async_trait]
impl CertCache for Cache {
    type EC = io::Error;

    async fn load_cert(&self, domains: &[String], directory: &str) -> io::Result<Option<Vec<u8>>> {
        let pem = Self::read(&self.path("certificate", "pem", domains, directory))?;
        if let Some(pem) = &pem {
            self.note_expiry(pem);
        }
        Ok(pem)
    }

    async fn store_cert(&self, domains: &[String], directory: &str, pem: &[u8]) -> io::Result<()> {
        self.note_expiry(pem);
        Self::write(&self.path("certificate", "pem", domains, directory), pem)
    }
}

#[async_trait::async_trait]
impl AccountCache for Cache {
    type EA = io::Error;

    async fn load_account(
        &self,
        contact: &[String],
        directory: &str,
    ) -> io::Result<Option<Vec<u8>>> {
        Self::read(&self.path("account", "key", contact, directory))
    }

    async fn store_account(
        &self,
        contact: &[String],
        directory: &str,
        key: &[u8],
    ) -> io::Result<()> {
        Self::write(&self.path("account", "key", contact, directory), key)
    }
}
