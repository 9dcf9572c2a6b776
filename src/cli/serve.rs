//! `firmhook serve`: the webhook server.
//!
//! Configuration comes from DESIGN section 7's environment variables, with
//! flags winning. Without `--dev`, the app secret, verify token and access
//! token must be set, or it exits 2 naming each one missing. `--dev` binds
//! loopback only, uses `dev-secret` / `dev-verify` unless set, loads
//! `data/demo/` into an empty database, and keeps replies instead of
//! sending them (`GET /dev/messages`). Only this command builds a tokio
//! runtime.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::app::{self, Options};
use crate::cli::DbArg;
use crate::import::project_statuses;
use crate::sender::{DEFAULT_PACE, Transport};
use crate::tls::{Acme, LETS_ENCRYPT, Source, Tls};
use crate::whatsapp::signature::Secret;
use crate::writer::DEFAULT_MAX_BATCH;

/// What `serve --help` lists after the flags: every variable `serve` reads.
const ENVIRONMENT: &str = "\
Environment (flags win over it):
  WHATSAPP_APP_SECRET        required without --dev: signs Meta's webhook POSTs
  WHATSAPP_VERIFY_TOKEN      required without --dev: the GET /webhook handshake
  WHATSAPP_ACCESS_TOKEN      required without --dev: sends replies (Graph API)
  WHATSAPP_GRAPH_URL         the Graph API (default https://graph.facebook.com/v25.0)
  WHATSAPP_PHONE_NUMBER_ID   the shared business number, for firms without their own
  FIRMHOOK_ADMIN_TOKEN       the operator's API and console token (at least 32 characters)
  FIRMHOOK_DB                the database file (--db)
  FIRMHOOK_LISTEN            the address (--listen)
  FIRMHOOK_METRICS_LISTEN    GET /metrics without a token here (--metrics-listen)
  FIRMHOOK_TLS_CERT, FIRMHOOK_TLS_KEY          HTTPS from files (--tls-cert, --tls-key)
  FIRMHOOK_ACME_DOMAINS, FIRMHOOK_ACME_EMAIL   HTTPS from Let's Encrypt (--acme, --acme-email)
  FIRMHOOK_ACME_DIRECTORY, FIRMHOOK_ACME_CA    another ACME server and its CA
  FIRMHOOK_TLS_RELOAD_SECS   how often certificate files are checked (2)
  FIRMHOOK_TLS_HANDSHAKE_TIMEOUT_SECS          the TLS handshake's time limit (10)
  FIRMHOOK_LOG               the log filter (info), FIRMHOOK_LOG_FORMAT text or json
  FIRMHOOK_CACHE_MB          the database's page cache
  FIRMHOOK_BODY_MEMORY_MB    request bodies held at once, all connections together
  FIRMHOOK_BODY_TIMEOUT_SECS time for a body after its headers
  FIRMHOOK_IMPORT_LIMIT_MB   the largest online import (256)
  FIRMHOOK_IMPORT_TIMEOUT_SECS                 time for an online import's upload
  FIRMHOOK_MAX_CONN_PER_IP   connections per client address (64; 0: no cap)
  FIRMHOOK_RETAIN_DAYS       the message log and sent replies kept (90)
  FIRMHOOK_EVENTS_RETAIN_DAYS                  the change feed kept (365)
  FIRMHOOK_FIRM_RECORDS_MAX  members, projects and milestones per firm (1000000; 0: none)
  FIRMHOOK_STRANGER_NOTIFICATIONS_PER_DAY      per firm, to phones that never wrote (1000)
  FIRMHOOK_ALLOW_PRIVATE_HOOKS=1               event webhooks may reach private addresses
docs/operations.md has each one.";

#[derive(Debug, clap::Args)]
#[command(after_help = ENVIRONMENT)]
pub struct Args {
    #[command(flatten)]
    pub db: DbArg,
    /// Address to listen on
    #[arg(long, env = "FIRMHOOK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Local development: loopback only, dev secrets, demo data, replies kept not sent
    #[arg(long)]
    pub dev: bool,
    /// Also serve GET /metrics without a token on this address (for a
    /// Prometheus on the same host or a private network); on the main
    /// address /metrics needs the operator token
    #[arg(long, env = "FIRMHOOK_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve HTTPS with this certificate chain (PEM); reloaded when it changes
    #[arg(
        long,
        env = "FIRMHOOK_TLS_CERT",
        requires = "tls_key",
        value_name = "PEM"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM)
    #[arg(
        long,
        env = "FIRMHOOK_TLS_KEY",
        requires = "tls_cert",
        value_name = "PEM"
    )]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with certificates for these domains, obtained and renewed over ACME
    #[arg(
        long,
        env = "FIRMHOOK_ACME_DOMAINS",
        value_delimiter = ',',
        num_args = 1..,
        value_name = "DOMAIN",
        conflicts_with = "tls_cert",
        requires = "acme_email"
    )]
    pub acme: Vec<String>,
    /// The contact address given to the ACME server
    #[arg(long, env = "FIRMHOOK_ACME_EMAIL", value_name = "EMAIL")]
    pub acme_email: Option<String>,
    /// The ACME server's directory URL
    #[arg(long, env = "FIRMHOOK_ACME_DIRECTORY", value_name = "URL", default_value = LETS_ENCRYPT)]
    pub acme_directory: String,
}

impl Args {
    /// The TLS settings the flags ask for, if any.
    fn tls(&self) -> anyhow::Result<Option<Tls>> {
        let source = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Source::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ if !self.acme.is_empty() => Source::Acme(Acme {
                domains: self.acme.clone(),
                email: self.acme_email.clone().unwrap_or_default(),
                directory: self.acme_directory.clone(),
                ca: std::env::var_os("FIRMHOOK_ACME_CA")
                    .filter(|ca| !ca.is_empty())
                    .map(PathBuf::from),
            }),
            _ => return Ok(None),
        };
        let mut tls = Tls::new(source);
        if let Some(secs) = env_number("FIRMHOOK_TLS_HANDSHAKE_TIMEOUT_SECS")? {
            tls.handshake_timeout = std::time::Duration::from_secs(secs.max(1));
        }
        if let Some(secs) = env_number("FIRMHOOK_TLS_RELOAD_SECS")? {
            tls.reload_every = std::time::Duration::from_secs(secs.max(1));
        }
        Ok(Some(tls))
    }
}

/// The secrets and endpoints, read from the environment.
struct Env {
    app_secret: Option<String>,
    verify_token: Option<String>,
    access_token: Option<String>,
    graph_url: String,
    admin_token: Option<String>,
    shared_number: Option<String>,
}

impl Env {
    fn read() -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Self {
            app_secret: var("WHATSAPP_APP_SECRET"),
            verify_token: var("WHATSAPP_VERIFY_TOKEN"),
            access_token: var("WHATSAPP_ACCESS_TOKEN"),
            graph_url: var("WHATSAPP_GRAPH_URL")
                .unwrap_or_else(|| "https://graph.facebook.com/v25.0".to_owned()),
            admin_token: var("FIRMHOOK_ADMIN_TOKEN"),
            shared_number: var("WHATSAPP_PHONE_NUMBER_ID"),
        }
    }
}

/// The shortest operator token accepted outside `--dev`.
const MIN_ADMIN_TOKEN: usize = 32;
/// The business number dev mode's notifications go from when their firm
/// has none.
const DEV_SHARED_NUMBER: &str = "100000000000000";

/// redb's page cache, in MiB (`FIRMHOOK_CACHE_MB`).
fn cache_bytes() -> anyhow::Result<usize> {
    match std::env::var("FIRMHOOK_CACHE_MB") {
        Ok(mb) => Ok(mb
            .parse::<usize>()
            .with_context(|| format!("FIRMHOOK_CACHE_MB {mb:?} is not a number of MiB"))?
            << 20),
        Err(_) => Ok(crate::store::DEFAULT_CACHE_BYTES),
    }
}

/// The HTTP limits, with `FIRMHOOK_BODY_MEMORY_MB` (bytes of request
/// bodies held at once, all connections together) and
/// `FIRMHOOK_BODY_TIMEOUT_SECS` (time for a body after its headers).
fn limits() -> anyhow::Result<crate::http::Limits> {
    let mut limits = crate::http::Limits::default();
    if let Some(mb) = env_number("FIRMHOOK_BODY_MEMORY_MB")? {
        limits.memory = usize::try_from(mb)?.max(4) << 20;
    }
    if let Some(mb) = env_number("FIRMHOOK_IMPORT_LIMIT_MB")? {
        limits.import = mb.max(1) << 20;
    }
    if let Some(secs) = env_number("FIRMHOOK_BODY_TIMEOUT_SECS")? {
        limits.deadline = std::time::Duration::from_secs(secs.max(1));
    }
    if let Some(n) = env_number("FIRMHOOK_MAX_CONN_PER_IP")? {
        limits.per_address = usize::try_from(n)?;
    }
    if let Some(secs) = env_number("FIRMHOOK_IMPORT_TIMEOUT_SECS")? {
        limits.import_deadline = std::time::Duration::from_secs(secs.max(1));
    }
    Ok(limits)
}

/// `FIRMHOOK_RETAIN_DAYS` (90) and `FIRMHOOK_EVENTS_RETAIN_DAYS` (365).
fn retention() -> anyhow::Result<crate::store::Retention> {
    use crate::store::{DAY, Retention};
    let mut retention = Retention::default();
    if let Some(days) = env_number("FIRMHOOK_RETAIN_DAYS")? {
        retention.messages = i64::try_from(days.max(1))? * DAY;
    }
    if let Some(days) = env_number("FIRMHOOK_EVENTS_RETAIN_DAYS")? {
        retention.events = i64::try_from(days.max(1))? * DAY;
    }
    Ok(retention)
}

/// `FIRMHOOK_FIRM_RECORDS_MAX` (0: no quota).
fn records_max() -> anyhow::Result<u64> {
    Ok(env_number("FIRMHOOK_FIRM_RECORDS_MAX")?.unwrap_or(crate::app::DEFAULT_RECORDS_MAX))
}

/// `FIRMHOOK_STRANGER_NOTIFICATIONS_PER_DAY`.
fn strangers_per_day() -> anyhow::Result<u32> {
    Ok(
        match env_number("FIRMHOOK_STRANGER_NOTIFICATIONS_PER_DAY")? {
            Some(n) => u32::try_from(n)?,
            None => crate::writer::DEFAULT_STRANGERS_PER_DAY,
        },
    )
}

fn env_number(name: &str) -> anyhow::Result<Option<u64>> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .with_context(|| format!("{name} {text:?} is not a whole number")),
        Err(_) => Ok(None),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    crate::cli::logging::init();
    let env = Env::read();
    if let Some(number) = &env.shared_number
        && crate::domain::BusinessNumber::parse(number).is_none()
    {
        bail!("WHATSAPP_PHONE_NUMBER_ID {number:?} is not a phone_number_id (digits only)");
    }
    let tls = args.tls()?;
    let options = if args.dev {
        if !args.listen.ip().is_loopback() {
            bail!("--dev listens on loopback only; {} is not", args.listen);
        }
        Options {
            clock: crate::clock::Clock::system(),
            db: args.db.path,
            app_secret: Secret::new(env.app_secret.unwrap_or_else(|| "dev-secret".into())),
            verify_token: Secret::new(env.verify_token.unwrap_or_else(|| "dev-verify".into())),
            transport: Transport::Dev,
            dev: true,
            seed_dir: Some(crate::demo::write_temp().context("writing the demo data")?),
            seed_remove: true,
            statuses: project_statuses(),
            cache_bytes: cache_bytes()?,
            max_batch: DEFAULT_MAX_BATCH,
            pace_per_second: DEFAULT_PACE,
            seen_keep_seconds: crate::store::SEEN_KEEP_SECONDS,
            retention: retention()?,
            limits: limits()?,
            shared_number: env.shared_number.or_else(|| Some(DEV_SHARED_NUMBER.into())),
            admin_token: Some(Secret::new(
                env.admin_token
                    .inspect(|token| {
                        // Production refuses it; a dev server says so.
                        if token.chars().count() < MIN_ADMIN_TOKEN {
                            tracing::warn!(
                                "FIRMHOOK_ADMIN_TOKEN has {} characters: serve without --dev \
                                 refuses fewer than {MIN_ADMIN_TOKEN} (`openssl rand -hex 32` \
                                 makes one)",
                                token.chars().count()
                            );
                        }
                    })
                    .unwrap_or_else(|| "dev-admin".into()),
            )),
            tls,
            hooks_reach: crate::push::Reach::Private,
            strangers_per_day: strangers_per_day()?,
            metrics_listen: args.metrics_listen,
            records_max: records_max()?,
        }
    } else {
        let missing: Vec<&str> = [
            ("WHATSAPP_APP_SECRET", env.app_secret.is_none()),
            ("WHATSAPP_VERIFY_TOKEN", env.verify_token.is_none()),
            ("WHATSAPP_ACCESS_TOKEN", env.access_token.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        if !missing.is_empty() {
            bail!(
                "serve needs {} set (or use --dev to try it locally)",
                missing.join(", ")
            );
        }
        Options {
            clock: crate::clock::Clock::system(),
            db: args.db.path,
            app_secret: Secret::new(env.app_secret.unwrap_or_default()),
            verify_token: Secret::new(env.verify_token.unwrap_or_default()),
            transport: Transport::Graph {
                base: env.graph_url,
                token: Secret::new(env.access_token.unwrap_or_default()),
                timeout: crate::sender::DEFAULT_TIMEOUT,
            },
            dev: false,
            seed_dir: None,
            seed_remove: false,
            statuses: project_statuses(),
            cache_bytes: cache_bytes()?,
            max_batch: DEFAULT_MAX_BATCH,
            pace_per_second: DEFAULT_PACE,
            seen_keep_seconds: crate::store::SEEN_KEEP_SECONDS,
            retention: retention()?,
            limits: limits()?,
            shared_number: env.shared_number,
            admin_token: match env.admin_token {
                Some(token) if token.chars().count() < MIN_ADMIN_TOKEN => bail!(
                    "FIRMHOOK_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN} characters \
                     (`openssl rand -hex 32` makes one)"
                ),
                token => token.map(Secret::new),
            },
            tls,
            strangers_per_day: strangers_per_day()?,
            metrics_listen: args.metrics_listen,
            records_max: records_max()?,
            hooks_reach: if std::env::var("FIRMHOOK_ALLOW_PRIVATE_HOOKS").as_deref() == Ok("1") {
                crate::push::Reach::Private
            } else {
                crate::push::Reach::PublicOnly
            },
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("firmhook-http")
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let seed_dir = options.seed_dir.clone();
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        if options.dev {
            let scheme = if options.tls.is_some() {
                "https"
            } else {
                "http"
            };
            let token = options.admin_token.as_ref().map_or("", |t| t.expose());
            // On stdout, not in the log: what a newcomer opens next.
            println!(
                "console: {scheme}://{}/console (sign in with the operator token {token:?})",
                listener.local_addr()?
            );
        }
        app::run(listener, options, shutdown_signal()).await
    });
    if let Some(dir) = seed_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

/// Resolves on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
