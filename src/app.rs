//! The assembled server: the store, the writer thread, the outbox sender
//! and the HTTP server, started and stopped in the right order.
//!
//! `cli/serve.rs` fills [`Options`] from flags and the environment; tests
//! build them directly and pass their own listener and shutdown future.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use anyhow::Context;
use tokio::net::TcpListener;

use crate::http::{self, State};
use crate::import::{Mode, Options as ImportOptions, import_dir};
use crate::metrics::Metrics;
use crate::push::Pusher;
use crate::sender::{Sender, Transport};
use crate::store::Store;
use crate::whatsapp::signature::Secret;
use crate::writer::{self, Config};

/// How long shutdown waits for the writer and sender to finish.
/// Members, projects and milestones one firm may have unless the operator
/// says otherwise.
pub const DEFAULT_RECORDS_MAX: u64 = 1_000_000;

/// With the HTTP drain (3 s), SIGTERM ends the process within 5 s.
const WORKERS_GRACE: std::time::Duration = std::time::Duration::from_millis(1500);

pub struct Options {
    pub db: PathBuf,
    pub app_secret: Secret,
    pub verify_token: Secret,
    pub transport: Transport,
    /// Enables `GET /dev/messages`.
    pub dev: bool,
    /// Imported into the database first if it has no firms (`--dev`).
    pub seed_dir: Option<PathBuf>,
    /// Remove `seed_dir` once read (`--dev`'s temporary copy).
    pub seed_remove: bool,
    pub statuses: Vec<String>,
    pub cache_bytes: usize,
    pub max_batch: usize,
    pub pace_per_second: u32,
    /// How long seen wamids are kept (8 days in production).
    pub seen_keep_seconds: u64,
    /// How long the message log, finished replies and events are kept.
    pub retention: crate::store::Retention,
    /// Body size, deadline and memory limits of the HTTP server.
    pub limits: http::Limits,
    /// The shared business number (`WHATSAPP_PHONE_NUMBER_ID`), for
    /// notifications of firms without a number of their own.
    pub shared_number: Option<String>,
    /// The operator's API token (`FIRMHOOK_ADMIN_TOKEN`); `None`: no
    /// operator access.
    pub admin_token: Option<Secret>,
    /// HTTPS on the listener; `None`: plain HTTP (behind a proxy).
    pub tls: Option<crate::tls::Tls>,
    /// Members, projects and milestones one firm may have
    /// (`FIRMHOOK_FIRM_RECORDS_MAX`); 0: no quota.
    pub records_max: u64,
    /// `--metrics-listen`: a second address serving only `GET /metrics`,
    /// without a token.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Notifications per firm and day to phones that never wrote to it
    /// (`FIRMHOOK_STRANGER_NOTIFICATIONS_PER_DAY`, default 1,000).
    pub strangers_per_day: u32,
    /// Whether event webhooks may reach private addresses
    /// (`FIRMHOOK_ALLOW_PRIVATE_HOOKS=1`; dev mode).
    pub hooks_reach: crate::push::Reach,
    /// The time the server runs on: the system clock, which a test moves
    /// forward instead of sleeping.
    pub clock: crate::clock::Clock,
}

/// Runs the server on `listener` until `shutdown` resolves, then drains:
/// requests in flight finish and commit, the sender stops, the writer
/// empties its queue.
pub async fn run(
    listener: TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let existed = options.db.exists();
    let store = Store::open(&options.db, options.cache_bytes)
        .with_context(|| format!("opening {}", options.db.display()))?;
    if !existed {
        // A mistyped --db would otherwise serve an empty database unseen.
        let at = std::fs::canonicalize(&options.db).unwrap_or_else(|_| options.db.clone());
        tracing::info!(path = %at.display(), "created a new, empty database");
    }
    run_with_store(listener, Arc::new(store), options, shutdown).await
}

/// [`run`] over a store the caller opened (tests use a faulty disk).
pub async fn run_with_store(
    listener: TcpListener,
    store: Arc<Store>,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let data_dir = options
        .db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let metrics = Arc::new(Metrics::default());
    // Unusable certificate files stop the start before anything runs.
    let (acceptor, keeper) = match &options.tls {
        Some(tls) => {
            let (acceptor, keeper) = crate::tls::start(tls, &data_dir, metrics.clone())?;
            (Some(acceptor), Some(keeper))
        }
        None => (None, None),
    };
    store.set_records_max(options.records_max);
    if let Some(number) = &options.shared_number {
        store.reserve_shared_number(number);
        if let Some((number, firm)) = store.shared_number_holder()? {
            tracing::error!(
                %number, %firm,
                "firm {firm} holds the shared business number {number} as its own: every message \
                 to that number goes to that firm alone; give the firm another number (or none) \
                 with the operator token"
            );
        }
    }
    if options.shared_number.is_none() {
        let mut without = 0u64;
        store.read()?.for_each_firm(|firm| {
            without += u64::from(firm.phone_number_id.is_none());
            Ok::<_, crate::store::Error>(())
        })?;
        if without > 0 {
            tracing::warn!(
                firms = without,
                "{without} firm(s) have no business number of their own and \
                 WHATSAPP_PHONE_NUMBER_ID is not set: their clients cannot be notified, and \
                 the API and console refuse changes that would notify them"
            );
        }
    }
    if let Some(dir) = &options.seed_dir {
        let seeded = seed(&store, dir, &options.statuses);
        if options.seed_remove {
            // The demo files' copy is needed only now: gone before the
            // server runs, so a killed server leaves nothing behind.
            let _ = std::fs::remove_dir_all(dir);
        }
        seeded?;
    }
    let (wake, woken) = std::sync::mpsc::sync_channel(1);
    let (queue, writer) = writer::spawn(
        store.clone(),
        Config {
            statuses: options.statuses.clone(),
            shared_number: options
                .shared_number
                .as_deref()
                .and_then(crate::domain::BusinessNumber::parse),
            seen_keep_seconds: options.seen_keep_seconds,
            retention: options.retention,
            max_batch: options.max_batch,
            strangers_per_day: options.strangers_per_day,
            strangers: Default::default(),
            clock: options.clock.clone(),
        },
        metrics.clone(),
        wake,
    )
    .context("reading the seen log")?;
    let stop = Arc::new(AtomicBool::new(false));
    let sender = Sender {
        store: store.clone(),
        writer: queue.clone(),
        metrics: metrics.clone(),
        transport: options.transport,
        pace_per_second: options.pace_per_second,
        wake: woken,
        stop: stop.clone(),
        clock: options.clock.clone(),
    };
    let sender = std::thread::Builder::new()
        .name("firmhook-sender".into())
        .spawn(move || sender.run())
        .context("starting the sender thread")?;
    let pusher = Pusher {
        store: store.clone(),
        writer: queue.clone(),
        metrics: metrics.clone(),
        stop: stop.clone(),
        reach: options.hooks_reach,
        clock: options.clock.clone(),
    };
    let pusher = std::thread::Builder::new()
        .name("firmhook-pusher".into())
        .spawn(move || pusher.run())
        .context("starting the pusher thread")?;

    // While nothing else commits, retention still gets a commit to run in.
    let ticks = {
        let queue = queue.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                queue.tick();
            }
        })
    };
    let state = Arc::new(State {
        app_secret: options.app_secret,
        verify_token: options.verify_token,
        writer: queue,
        store: crate::store::Reads::new(store.clone()),
        clock: options.clock.clone(),
        shared_number: options
            .shared_number
            .as_deref()
            .and_then(crate::domain::BusinessNumber::parse),
        metrics,
        dev: options.dev,
        limits: options.limits,
        admin_token: options.admin_token,
        statuses: options.statuses.clone(),
        db_path: options.db.clone(),
        data_dir,
        tls: options.tls.is_some(),
        sessions: Default::default(),
        hooks_reach: options.hooks_reach,
        long_polls: Arc::new(tokio::sync::Semaphore::new(http::MAX_LONG_POLLS)),
    });
    tracing::info!(
        addr = %listener.local_addr()?,
        dev = options.dev,
        tls = acceptor.is_some(),
        "listening"
    );
    let metrics_task = match options.metrics_listen {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr} (--metrics-listen)"))?;
            tracing::info!(%addr, "serving /metrics without a token");
            Some(tokio::spawn(http::serve_metrics(listener, state.clone())))
        }
        None => None,
    };
    let served = http::serve(listener, state, acceptor, shutdown).await;
    if let Some(task) = metrics_task {
        task.abort();
    }
    drop(keeper);
    ticks.abort();
    tracing::info!("shutting down: stopping the sender, draining the writer");
    stop.store(true, Relaxed);
    let joined = tokio::task::spawn_blocking(move || {
        let _ = sender.join();
        let _ = pusher.join();
        let _ = writer.join();
    });
    // The writer ends once every request holding a handle to it is gone; a
    // connection still stuck after the drain must not keep the process up.
    // Whatever it carried was never answered 200, so Meta redelivers it.
    match tokio::time::timeout(WORKERS_GRACE, joined).await {
        Ok(joined) => joined.context("joining the worker threads")?,
        Err(_) => tracing::warn!("worker threads still busy after shutdown; exiting anyway"),
    }
    served.context("serving")?;
    Ok(())
}

/// Loads `dir` into an empty database (dev mode's demo data).
fn seed(store: &Store, dir: &std::path::Path, statuses: &[String]) -> anyhow::Result<()> {
    if store.read()?.has_firms()? {
        return Ok(());
    }
    let options = ImportOptions::new(Mode::Apply, statuses);
    let report = import_dir(store, dir, &options)
        .map_err(|err| anyhow::anyhow!("loading {}: {err}", dir.display()))?;
    tracing::info!(rows = report.rows(), dir = %dir.display(), "loaded demo data into the empty database");
    Ok(())
}
