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
use crate::config::Settings;
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
  FIRMHOOK_CACHE_MB          the database's page cache (64)
  FIRMHOOK_PROJECT_STATUSES  the project statuses (Lead,Design,Active,On Hold,Completed)
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
docs/operations.md has each one; --print-config shows what they resolve to.";

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
    /// Print the configuration this would run with (secrets only as set or
    /// not) and exit
    #[arg(long)]
    pub print_config: bool,
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
    fn tls(&self, settings: &Settings) -> Option<Tls> {
        let source = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Source::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ if !self.acme.is_empty() => Source::Acme(Acme {
                domains: self.acme.clone(),
                email: self.acme_email.clone().unwrap_or_default(),
                directory: self.acme_directory.clone(),
                ca: settings.acme_ca.clone(),
            }),
            _ => return None,
        };
        let mut tls = Tls::new(source);
        if let Some(timeout) = settings.tls_handshake {
            tls.handshake_timeout = timeout;
        }
        if let Some(every) = settings.tls_reload {
            tls.reload_every = every;
        }
        Some(tls)
    }
}

/// The business number dev mode's notifications go from when their firm
/// has none.
const DEV_SHARED_NUMBER: &str = "100000000000000";

pub fn run(args: Args) -> anyhow::Result<()> {
    crate::cli::logging::init();
    let settings = match Settings::read(args.dev) {
        Ok(settings) => settings,
        Err(problems) => bail!("{}", problems.join("\n")),
    };
    let tls = args.tls(&settings);
    let reach = if args.dev || settings.allow_private_hooks {
        crate::push::Reach::Private
    } else {
        crate::push::Reach::PublicOnly
    };
    let options = if args.dev {
        if !args.listen.ip().is_loopback() {
            bail!("--dev listens on loopback only; {} is not", args.listen);
        }
        Options {
            clock: crate::clock::Clock::system(),
            db: args.db.path,
            app_secret: settings
                .app_secret
                .unwrap_or_else(|| Secret::new("dev-secret")),
            verify_token: settings
                .verify_token
                .unwrap_or_else(|| Secret::new("dev-verify")),
            transport: Transport::Dev,
            dev: true,
            seed_dir: match args.print_config {
                true => None,
                false => Some(crate::demo::write_temp().context("writing the demo data")?),
            },
            seed_remove: true,
            statuses: project_statuses(),
            cache_bytes: settings.cache_bytes,
            max_batch: DEFAULT_MAX_BATCH,
            pace_per_second: DEFAULT_PACE,
            seen_keep_seconds: crate::store::SEEN_KEEP_SECONDS,
            retention: settings.retention,
            limits: settings.limits,
            shared_number: Some(
                settings
                    .shared_number
                    .map_or_else(|| DEV_SHARED_NUMBER.into(), |n| n.to_string()),
            ),
            admin_token: Some(
                settings
                    .admin_token
                    .unwrap_or_else(|| Secret::new("dev-admin")),
            ),
            tls,
            hooks_reach: reach,
            strangers_per_day: settings.strangers_per_day,
            metrics_listen: args.metrics_listen,
            records_max: settings.records_max,
        }
    } else {
        let missing: Vec<&str> = [
            ("WHATSAPP_APP_SECRET", settings.app_secret.is_none()),
            ("WHATSAPP_VERIFY_TOKEN", settings.verify_token.is_none()),
            ("WHATSAPP_ACCESS_TOKEN", settings.access_token.is_none()),
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
            app_secret: settings.app_secret.unwrap_or_else(|| Secret::new("")),
            verify_token: settings.verify_token.unwrap_or_else(|| Secret::new("")),
            transport: Transport::Graph {
                base: settings.graph_url,
                token: settings.access_token.unwrap_or_else(|| Secret::new("")),
                timeout: crate::sender::DEFAULT_TIMEOUT,
            },
            dev: false,
            seed_dir: None,
            seed_remove: false,
            statuses: project_statuses(),
            cache_bytes: settings.cache_bytes,
            max_batch: DEFAULT_MAX_BATCH,
            pace_per_second: DEFAULT_PACE,
            seen_keep_seconds: crate::store::SEEN_KEEP_SECONDS,
            retention: settings.retention,
            limits: settings.limits,
            shared_number: settings.shared_number.map(|n| n.to_string()),
            admin_token: settings.admin_token,
            tls,
            strangers_per_day: settings.strangers_per_day,
            metrics_listen: args.metrics_listen,
            records_max: settings.records_max,
            hooks_reach: reach,
        }
    };
    if args.print_config {
        print!("{}", crate::config::describe(&options, args.listen));
        return Ok(());
    }
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
