//! The writer thread: the one place the webhook writes, with group commit.
//!
//! HTTP handlers and the outbox sender hand it [`Job`]s. It takes whatever
//! is queued (up to `max_batch`) into one write transaction: for each
//! inbound message, skip it if its wamid was seen, resolve the sender, run
//! the flow, apply the effects, queue the replies, record the wamid and an
//! audit event; for each status, move the reply's delivery state forward;
//! for each send result, settle the reply. Then one commit (one fsync) and
//! every waiting request is answered: 200 only after the commit.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot, watch};

use crate::clock::Clock;
use crate::command::{self, Applied, Command, CommandError, Origin};
use crate::domain::Timestamp;
use crate::domain::event::{Change, Direction, Logged, Source};
use crate::import::{self, ImportError, Mode, Report};

use crate::domain::{BusinessNumber, FirmId, Phone};
use crate::flow::{self, Context, Effect, Input, Reply, To};
use crate::metrics::Metrics;
use crate::notify::Purpose;
use crate::store::{self, Attempt, Event, Link, Outbound, PushResult, State, Store, Writer};
use crate::whatsapp::inbound::{Content, Delivery, Message, Past};
use crate::whatsapp::outbound::{Body, Recipient};

/// How many jobs one commit takes at most.
pub const DEFAULT_MAX_BATCH: usize = 512;
/// Jobs that may wait for the writer before senders wait too.
const QUEUE: usize = 8192;
/// Seen-log rows and registration hints past their time are pruned in at
/// most one commit every [`PRUNE_EVERY`], at most this many of each, so
/// pruning never stalls a batch and most commits skip it (looking costs a
/// commit two more tables): 2,560 rows a second, and a seen-log row holds
/// a whole commit's wamids.
const PRUNE_PER_PASS: usize = 256;
const PRUNE_EVERY: Duration = Duration::from_millis(100);
/// How long a batch waits, once, for more jobs when the queue is empty and
/// the batch before it had at least [`GATHER_FROM`] jobs (never when idle).
const GATHER: Duration = Duration::from_micros(500);
const GATHER_FROM: usize = 4;
/// Retention runs in at most one commit a second, removing at most this
/// many rows from each table it prunes.
const RETAIN_PER_PASS: usize = 256;
const RETAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// Batches of log lines waiting for the log thread; beyond it the writer
/// writes them itself.
const LOG_BATCHES: usize = 1024;

pub struct Config {
    pub statuses: Vec<String>,
    /// The business number notifications go from when their firm has none
    /// of its own and no message says which (`WHATSAPP_PHONE_NUMBER_ID`).
    pub shared_number: Option<BusinessNumber>,
    /// How long seen wamids are kept ([`store::SEEN_KEEP_SECONDS`], 8 days,
    /// unless a test wants pruning sooner).
    pub seen_keep_seconds: u64,
    /// 1 turns group commit off (one transaction per job), for comparison.
    pub max_batch: usize,
    /// How long the message log, finished replies and events are kept.
    pub retention: store::Retention,
    /// Notifications a firm may send in a day to phones that never wrote
    /// to the number they would go from (DESIGN section 10); 0: none.
    pub strangers_per_day: u32,
    /// Today's count of those, per firm.
    pub strangers: Strangers,
    /// The time every change, window and retention decision is made at.
    pub clock: Clock,
}

/// Notifications a firm may send per day, by default, to phones that
/// never wrote to it.
pub const DEFAULT_STRANGERS_PER_DAY: u32 = 1_000;

/// Per firm, the day (days since 1970, UTC) and how many notifications to
/// phones that never wrote went out that day. Kept in memory: a restart
/// starts the day's count again.
#[derive(Debug, Default)]
pub struct Strangers(std::sync::Mutex<std::collections::HashMap<FirmId, (i64, u32)>>);

impl Strangers {
    /// Counts one for `firm` on `day`; false (nothing counted) past `cap`.
    pub fn admit(&self, firm: FirmId, day: i64, cap: u32) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(firm).or_insert((day, 0));
        if entry.0 != day {
            *entry = (day, 0);
        }
        if entry.1 >= cap {
            return false;
        }
        entry.1 += 1;
        true
    }
}

/// The delivery was not committed: answer 500 so Meta redelivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not committed")]
pub struct NotCommitted;

pub enum Job {
    /// A verified webhook POST; answered once committed.
    Deliver {
        delivery: Delivery,
        done: oneshot::Sender<Result<(), NotCommitted>>,
    },
    /// Results of send attempts: (seq, due_ms, attempt).
    Settle {
        results: Vec<(u64, u64, Attempt)>,
        done: oneshot::Sender<Result<(), NotCommitted>>,
    },
    /// Results of event pushes: (push seq, due_ms, result).
    Pushed {
        results: Vec<(u64, u64, PushResult)>,
        done: oneshot::Sender<Result<(), NotCommitted>>,
    },
    /// An application command from the admin API or the console, in the
    /// same group commit as deliveries; answered once committed.
    Change {
        command: Command,
        /// The door: `api` or `console`.
        source: Source,
        done: oneshot::Sender<Result<Applied, ChangeError>>,
    },
    /// Nothing to apply: a commit for retention to run in while no other
    /// work comes (sent every few seconds by the server).
    Tick,
    /// A CSV import: all or nothing, so it gets a transaction of its own,
    /// between two batches.
    Import {
        dir: PathBuf,
        mode: Mode,
        scope: Option<FirmId>,
        progress: import::Progress,
        done: oneshot::Sender<Result<Report, ImportError>>,
    },
}

/// Why a change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The command was refused; nothing was written.
    #[error(transparent)]
    Rejected(#[from] CommandError),
    /// The batch it was in failed to commit.
    #[error("not committed")]
    NotCommitted,
}

/// The handle HTTP handlers and the sender submit jobs through.
#[derive(Clone)]
pub struct Queue {
    jobs: mpsc::Sender<Job>,
    /// The newest seq of the change feed, as last committed.
    feed: watch::Receiver<u64>,
}

impl Queue {
    /// Whether the writer thread is gone: nothing can be written any more.
    pub fn is_closed(&self) -> bool {
        self.jobs.is_closed()
    }

    /// Submits a delivery and waits until it is committed (`Ok`) or the
    /// commit failed (`Err`: answer 500 so Meta redelivers).
    pub async fn deliver(&self, delivery: Delivery) -> Result<(), NotCommitted> {
        let (done, wait) = oneshot::channel();
        self.jobs
            .send(Job::Deliver { delivery, done })
            .await
            .map_err(|_| NotCommitted)?;
        wait.await.map_err(|_| NotCommitted)?
    }

    /// The pusher's report of its attempts; blocking, like `settle_blocking`.
    pub fn pushed_blocking(
        &self,
        results: Vec<(u64, u64, PushResult)>,
    ) -> Result<(), NotCommitted> {
        let (done, wait) = oneshot::channel();
        self.jobs
            .blocking_send(Job::Pushed { results, done })
            .map_err(|_| NotCommitted)?;
        wait.blocking_recv().map_err(|_| NotCommitted)?
    }

    /// Follows the newest committed seq of the change feed.
    pub fn feed(&self) -> watch::Receiver<u64> {
        self.feed.clone()
    }

    /// Applies a command from the API and waits for its commit.
    pub async fn change(&self, command: Command) -> Result<Applied, ChangeError> {
        self.change_from(command, Source::Api).await
    }

    /// Applies a command from the door `source` (its events say which)
    /// and waits for its commit.
    pub async fn change_from(
        &self,
        command: Command,
        source: Source,
    ) -> Result<Applied, ChangeError> {
        let (done, wait) = oneshot::channel();
        self.jobs
            .send(Job::Change {
                command,
                source,
                done,
            })
            .await
            .map_err(|_| ChangeError::NotCommitted)?;
        wait.await.map_err(|_| ChangeError::NotCommitted)?
    }

    /// Imports the CSV files of `dir` in the writer and waits for the result.
    pub async fn import(
        &self,
        dir: PathBuf,
        mode: Mode,
        scope: Option<FirmId>,
        progress: import::Progress,
    ) -> Result<Report, ImportError> {
        let (done, wait) = oneshot::channel();
        let gone = || ImportError::Store(store::Error::Closed);
        self.jobs
            .send(Job::Import {
                dir,
                mode,
                scope,
                progress,
                done,
            })
            .await
            .map_err(|_| gone())?;
        wait.await.map_err(|_| gone())?
    }

    /// Asks for a commit with nothing in it, for retention to run in; a
    /// full queue has commits enough already.
    pub fn tick(&self) {
        let _ = self.jobs.try_send(Job::Tick);
    }

    /// The sender's blocking counterpart of `deliver`.
    pub fn settle_blocking(&self, results: Vec<(u64, u64, Attempt)>) -> Result<(), NotCommitted> {
        let (done, wait) = oneshot::channel();
        self.jobs
            .blocking_send(Job::Settle { results, done })
            .map_err(|_| NotCommitted)?;
        wait.blocking_recv().map_err(|_| NotCommitted)?
    }
}

/// Starts the writer thread, after reading the seen log (a file it cannot
/// read is an error: without it, a redelivery could be applied twice). It
/// ends when every [`Queue`] handle is gone and the queue is drained.
pub fn spawn(
    store: Arc<Store>,
    config: Config,
    metrics: Arc<Metrics>,
    wake_sender: std::sync::mpsc::SyncSender<()>,
) -> Result<(Queue, std::thread::JoinHandle<()>), store::Error> {
    let seen = Seen::from_keys(store.write(|w| w.seen_keys())?);
    let (jobs, queue) = mpsc::channel(QUEUE);
    let last = store.read().and_then(|r| r.feed_last()).unwrap_or(0);
    let (feed, feed_rx) = watch::channel(last);
    let thread = std::thread::Builder::new()
        .name("firmhook-writer".into())
        .spawn(move || {
            // Each message's log line is formatted and written on a thread
            // of its own: the writer's time is for commits.
            let (lines, to_log) =
                std::sync::mpsc::sync_channel::<(Vec<MessageLog>, Duration)>(LOG_BATCHES);
            let logger = std::thread::Builder::new()
                .name("firmhook-log".into())
                .spawn(move || {
                    for (logs, took) in to_log {
                        for log in &logs {
                            log.emit(took);
                        }
                    }
                });
            let out = Outlets {
                wake: wake_sender,
                feed,
                lines,
            };
            run(&store, &config, &metrics, seen, queue, &out);
            // Every line is out before the writer is done (shutdown joins it).
            drop(out);
            if let Ok(logger) = logger {
                let _ = logger.join();
            }
        })
        .expect("spawning the writer thread");
    Ok((
        Queue {
            jobs,
            feed: feed_rx,
        },
        thread,
    ))
}

/// Where the writer tells others what it committed: the sender (a reply
/// to send), the feed's readers, and the log thread.
struct Outlets {
    wake: std::sync::mpsc::SyncSender<()>,
    feed: watch::Sender<u64>,
    lines: std::sync::mpsc::SyncSender<(Vec<MessageLog>, Duration)>,
}

fn run(
    store: &Store,
    config: &Config,
    metrics: &Metrics,
    mut seen: Seen,
    mut queue: mpsc::Receiver<Job>,
    out: &Outlets,
) {
    let (wake_sender, feed, lines) = (&out.wake, &out.feed, &out.lines);
    let max_batch = config.max_batch.max(1);
    let mut next = None;
    let mut retention = store::RetentionCursor::default();
    let mut last_batch = 0;
    let seen = &mut seen;
    let mut retain_next = Instant::now();
    let mut prune_next = Instant::now();
    while let Some(first) = next.take().or_else(|| queue.blocking_recv()) {
        if let Job::Import {
            dir,
            mode,
            scope,
            progress,
            done,
        } = first
        {
            let _ = done.send(import(store, config, &dir, mode, scope, progress));
            if let Ok(last) = store.read().and_then(|r| r.feed_last()) {
                publish_feed(feed, last);
            }
            continue;
        }
        let mut jobs = vec![first];
        // Under load (the last batch was not alone), wait a moment for
        // more before committing: a commit costs far more than a delivery
        // (its fsync and page writes), so fuller batches cost less each.
        let mut gather = last_batch >= GATHER_FROM;
        while jobs.len() < max_batch && next.is_none() {
            match queue.try_recv() {
                // An import waits for the batch before it to commit.
                Ok(job @ Job::Import { .. }) => next = Some(job),
                Ok(job) => jobs.push(job),
                // One nap, not a spin: a wakeup costs CPU too.
                Err(_) if gather => {
                    gather = false;
                    std::thread::sleep(GATHER);
                }
                Err(_) => break,
            }
        }
        last_batch = jobs.len();
        metrics
            .writer_busy_since_ms
            .store(crate::clock::wall_ms().max(1), Relaxed);
        let started = Instant::now();
        let retain = started >= retain_next;
        let prune = started >= prune_next;
        let mut cursor = retention.clone();
        let mut pruned = store::Pruned::default();
        let mut pruned_seen = Vec::new();
        let mut logs = Vec::new();
        let mut changes: Vec<Result<Applied, CommandError>> = Vec::new();
        let result = store.write(|w| {
            let mut queued = 0;
            for job in &jobs {
                match job {
                    Job::Deliver { delivery, .. } => {
                        queued += apply_delivery(w, delivery, config, metrics, seen, &mut logs)?;
                    }
                    Job::Settle { results, .. } => {
                        for (seq, due_ms, attempt) in results {
                            settle(w, *seq, *due_ms, attempt, &config.clock)?;
                        }
                    }
                    Job::Pushed { results, .. } => {
                        for (seq, due_ms, result) in results {
                            w.settle_push(*seq, *due_ms, result)?;
                            if let PushResult::Gone { firm, url } = result {
                                disable_hook(w, *firm, url, &config.clock)?;
                            }
                        }
                    }
                    Job::Change {
                        command, source, ..
                    } => {
                        let origin = Origin::new(*source, config.clock.now());
                        match command::apply(w, command, origin) {
                            Ok(applied) => {
                                for reply in &applied.outbound {
                                    enqueue(w, reply, None, config, "")?;
                                    queued += 1;
                                }
                                changes.push(Ok(applied));
                            }
                            // The disk failed: the whole batch fails.
                            Err(CommandError::Store(err)) => return Err(err),
                            Err(refused) => changes.push(Err(refused)),
                        }
                    }
                    Job::Tick => {}
                    Job::Import { .. } => unreachable!("imports are never batched"),
                }
            }
            let now = config.clock.now_seconds();
            w.log_seen(&seen.batch(), now as u64)?;
            if prune {
                pruned_seen = w.prune_seen(now as u64, config.seen_keep_seconds, PRUNE_PER_PASS)?;
                w.prune_hints(now - flow::HINT_EVERY_SECONDS, PRUNE_PER_PASS)?;
            }
            if retain {
                pruned = w.prune_retained(now, config.retention, &mut cursor, RETAIN_PER_PASS)?;
            }
            Ok::<_, store::Error>((queued, w.feed_appended()))
        });
        let took = started.elapsed();
        metrics.commit(jobs.len(), took);
        let ok = match result {
            Ok((queued, feed_appended)) => {
                seen.committed(&pruned_seen);
                if prune {
                    prune_next = started + PRUNE_EVERY;
                }
                if let Some(last) = feed_appended {
                    publish_feed(feed, last);
                }
                if retain {
                    retention = cursor;
                    retain_next = started + RETAIN_EVERY;
                    if pruned.total() > 0 {
                        metrics.pruned(&pruned);
                        tracing::debug!(?pruned, "retention: old rows removed");
                    }
                }
                metrics.commit_failures_in_row.store(0, Relaxed);
                if queued > 0 {
                    let _ = wake_sender.try_send(());
                }
                if !logs.is_empty() {
                    // A full (or gone) log thread: written here, never lost.
                    let batch = (std::mem::take(&mut logs), took);
                    if let Err(
                        std::sync::mpsc::TrySendError::Full((logs, took))
                        | std::sync::mpsc::TrySendError::Disconnected((logs, took)),
                    ) = lines.try_send(batch)
                    {
                        for log in &logs {
                            log.emit(took);
                        }
                    }
                }
                true
            }
            Err(err) => {
                seen.rolled_back();
                metrics.commit_failures.fetch_add(1, Relaxed);
                metrics.commit_failures_in_row.fetch_add(1, Relaxed);
                tracing::error!(error = %err, jobs = jobs.len(), "commit failed; answering 500");
                // redb refuses all work after an I/O error until the file is
                // opened again; do that now, so the next batch can succeed
                // as soon as the disk takes writes again.
                if matches!(err, store::Error::Redb(_) | store::Error::Closed) {
                    match store.reopen() {
                        Ok(()) => tracing::warn!("database reopened after a failed commit"),
                        Err(err) => {
                            tracing::error!(error = %err, "reopening the database failed; will retry")
                        }
                    }
                }
                false
            }
        };
        let mut changes = changes.into_iter();
        for job in jobs {
            match job {
                Job::Deliver { done, .. } => {
                    if ok {
                        metrics.deliveries.fetch_add(1, Relaxed);
                    }
                    let _ = done.send(if ok { Ok(()) } else { Err(NotCommitted) });
                }
                Job::Settle { done, .. } | Job::Pushed { done, .. } => {
                    let _ = done.send(if ok { Ok(()) } else { Err(NotCommitted) });
                }
                Job::Change { done, .. } => {
                    // A batch that failed before a change was applied (the
                    // file could not be opened, an earlier job hit a store
                    // error) has no outcome for it: not committed, and the
                    // writer goes on (DESIGN section 5).
                    let _ = done.send(change_answer(ok, changes.next()));
                }
                Job::Tick => {}
                Job::Import { .. } => unreachable!("imports are never batched"),
            }
        }
        metrics.writer_busy_since_ms.store(0, Relaxed);
    }
}

/// What a change's request hears once its batch is done: its outcome if
/// the batch committed; otherwise, or when the batch failed before the
/// change was applied (so it has no outcome), not committed. Never a
/// panic: the writer thread must outlive every failed batch.
fn change_answer(
    committed: bool,
    outcome: Option<Result<Applied, CommandError>>,
) -> Result<Applied, ChangeError> {
    match (committed, outcome) {
        (true, Some(outcome)) => outcome.map_err(ChangeError::Rejected),
        _ => Err(ChangeError::NotCommitted),
    }
}

/// An import in a transaction of its own, all or nothing.
fn import(
    store: &Store,
    config: &Config,
    dir: &Path,
    mode: Mode,
    scope: Option<FirmId>,
    progress: import::Progress,
) -> Result<Report, ImportError> {
    let options = import::Options {
        scope,
        milestones: progress,
        source: Source::Api,
        at: config.clock.now(),
        ..import::Options::new(mode, &config.statuses)
    };
    import::import_dir(store, dir, &options)
}

/// Tells long-polling readers of the feed that it grew to `last`.
fn publish_feed(feed: &watch::Sender<u64>, last: u64) {
    feed.send_if_modified(|seen| {
        let grew = last > *seen;
        *seen = last.max(*seen);
        grew
    });
}

/// One line per inbound message, written after the commit.
struct MessageLog {
    wamid: String,
    kind: &'static str,
    firm: Option<FirmId>,
    outcome: &'static str,
    text: Option<String>,
}

impl MessageLog {
    fn emit(&self, latency: Duration) {
        let firm = self.firm.map(|f| f.to_string()).unwrap_or_default();
        // Untrusted strings are logged with `?`: escaped, so a newline in
        // one cannot forge a log line.
        tracing::info!(
            wamid = ?self.wamid,
            kind = self.kind,
            firm = %firm,
            outcome = self.outcome,
            latency_us = latency.as_micros() as u64,
            "message"
        );
        if let Some(text) = &self.text {
            tracing::debug!(wamid = ?self.wamid, body = ?text, "message body");
        }
    }
}

/// Applies one delivery inside `w`'s transaction, exactly as the writer
/// thread does (for tests that drive it without HTTP); returns how many
/// replies it queued.
pub fn apply(
    w: &mut Writer,
    delivery: &Delivery,
    config: &Config,
    metrics: &Metrics,
) -> Result<usize, store::Error> {
    let mut seen = Seen::from_keys(w.seen_keys()?);
    let queued = apply_delivery(w, delivery, config, metrics, &mut seen, &mut Vec::new())?;
    w.log_seen(&seen.batch(), config.clock.now_seconds() as u64)?;
    Ok(queued)
}

/// The wamids processed in the last 8 days, answering "seen?" from
/// memory: the durable record is the seen log (`store::SEEN_BATCHES`, one
/// row per commit), written in the same transaction as the messages'
/// effects; this set is built from it when the writer starts and follows
/// its commits. Keys of a batch join the set only once the batch has
/// committed, so a failed commit forgets them with everything else. About
/// 40 bytes a message: 100,000 messages in 8 days take 4 MB.
pub struct Seen {
    committed: HashSet<u128, KeyHash>,
    batch: HashSet<u128, KeyHash>,
}

/// Hashes a seen-log key by folding its halves: a key is already the start
/// of a SHA-256, evenly spread, of a wamid that came in a signed body, so
/// SipHash (the default, against chosen keys) would only cost time.
#[derive(Clone, Copy, Default)]
struct KeyHash;

impl std::hash::BuildHasher for KeyHash {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn write_u128(&mut self, key: u128) {
        self.0 ^= (key as u64) ^ ((key >> 64) as u64);
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Seen {
    fn from_keys(keys: Vec<u128>) -> Self {
        Self {
            committed: keys.into_iter().collect(),
            batch: HashSet::default(),
        }
    }

    /// Notes `key` in the batch; false if it was processed before.
    fn first_sighting(&mut self, key: u128) -> bool {
        !self.committed.contains(&key) && self.batch.insert(key)
    }

    /// The keys noted since the last commit, for the seen log.
    fn batch(&self) -> Vec<u128> {
        self.batch.iter().copied().collect()
    }

    /// The batch committed; `pruned` left the log with it.
    fn committed(&mut self, pruned: &[u128]) {
        self.committed.extend(self.batch.drain());
        for key in pruned {
            self.committed.remove(key);
        }
    }

    fn rolled_back(&mut self) {
        self.batch.clear();
    }
}

/// Applies one delivery; returns how many replies it queued.
fn apply_delivery(
    w: &mut Writer,
    delivery: &Delivery,
    config: &Config,
    metrics: &Metrics,
    seen: &mut Seen,
    logs: &mut Vec<MessageLog>,
) -> Result<usize, store::Error> {
    let mut queued = 0;
    for message in &delivery.messages {
        queued += apply_message(w, message, config, metrics, seen, logs)?;
    }
    for past in &delivery.past {
        log_past(w, past, metrics, seen)?;
    }
    for status in &delivery.statuses {
        metrics.statuses.fetch_add(1, Relaxed);
        let now_ms = config.clock.now_ms();
        let retry =
            |code, attempts_before| crate::retry::failed_status(code, attempts_before, now_ms);
        w.delivery_status(
            &status.wamid,
            status.state,
            status.error_code,
            now_ms,
            &retry,
        )?;
    }
    Ok(queued)
}

fn apply_message(
    w: &mut Writer,
    message: &Message,
    config: &Config,
    metrics: &Metrics,
    seen: &mut Seen,
    logs: &mut Vec<MessageLog>,
) -> Result<usize, store::Error> {
    let now = config.clock.now_seconds();
    let key = store::wamid_key(&message.wamid);
    if !seen.first_sighting(key) {
        metrics.duplicates.fetch_add(1, Relaxed);
        return Ok(0);
    }

    // Who: the phone as received, or through a remembered BSUID link.
    let mut sender = message.sender.clone();
    let wa_phone = sender
        .wa_id
        .as_deref()
        .and_then(|wa| Phone::from_wa_id(wa).ok());
    if let (Some(bsuid), Some(phone)) = (&sender.bsuid, wa_phone)
        && let Link::Conflict(linked) = w.link_bsuid(bsuid, phone)?
    {
        // A link is never silently replaced. The message is taken by its
        // own ids: its own `from`, or else the BSUID's existing link (a
        // phone that only its contact entry named is not believed).
        metrics.dropped("identity_conflict");
        tracing::warn!(
            wamid = ?message.wamid,
            bsuid = ?bsuid,
            linked = %linked,
            received = %phone,
            "BSUID already linked to another phone; link kept"
        );
        if !sender.own_wa_id {
            sender.wa_id = None;
        }
    }
    let phone = match (&sender.wa_id, &sender.bsuid) {
        // Still the message's own `wa_id`, read above.
        (Some(_), _) => wa_phone,
        (None, Some(bsuid)) => w.bsuid_phone(bsuid)?,
        (None, None) => None,
    };
    let sender_key = sender
        .wa_id
        .clone()
        .or_else(|| sender.bsuid.clone())
        .unwrap_or_default();
    // The 24-hour window: this person wrote to this number now (by the
    // message's own timestamp); what was held for them goes out.
    let number: Option<u64> = Some(message.phone_number_id.get());
    let person = phone
        .map(|p| p.to_u64().to_string())
        .or_else(|| sender.bsuid.clone());
    let mut released = 0;
    if let (Some(number), Some(person)) = (number, &person) {
        let at = if message.timestamp > 0 {
            message.timestamp
        } else {
            now
        };
        w.record_inbound(number, person, at)?;
        released = w.release_held(number, person, config.clock.now_ms())?;
    }
    let input = match &message.content {
        Content::Text(text) => Input::Text(text),
        Content::Button { id, .. } => Input::Button(id),
        Content::Ignored(_) => {
            metrics.message("ignored");
            logs.push(MessageLog {
                wamid: message.wamid.clone(),
                kind: "ignored",
                firm: None,
                outcome: "ignored",
                text: None,
            });
            return Ok(released);
        }
    };
    // The firm whose own number this is, if any; the conversation is in its
    // language, else in the sender's country's.
    let number_firm = number.map(|n| w.firm_by_number(n)).transpose()?.flatten();
    let lang = match number_firm {
        Some(firm) => flow::Data::firm_lang(&*w, firm)?,
        None => phone.map_or(flow::text::Lang::En, flow::text::Lang::of_phone),
    };
    let cx = Context {
        sender: phone,
        sender_key: &sender_key,
        phone_number_id: number,
        now,
        statuses: &config.statuses,
        lang,
    };

    let handled = catch_unwind(AssertUnwindSafe(|| flow::handle(&*w, &cx, input)));
    let output = match handled {
        Ok(result) => result?,
        Err(_) => {
            // A bug, not the sender's fault: record it, answer 200, move on.
            metrics.failed_messages.fetch_add(1, Relaxed);
            w.record_event(&Event {
                seq: 0,
                at: now,
                firm: None,
                actor: sender_key.clone(),
                wamid: message.wamid.clone(),
                what: "processing failed".into(),
            })?;
            tracing::error!(wamid = ?message.wamid, "processing failed; recorded, not retried");
            return Ok(released);
        }
    };
    metrics.message(output.kind);
    if let Some(firm) = output.firm.or(number_firm) {
        log_inbound(w, firm, message, &sender_key, now)?;
    }
    // The number this person reaches a firm without its own number on:
    // the firm's notices to them go from it (DESIGN section 12).
    if let (Some(firm), Some(number), Some(person)) = (output.firm, number, &person)
        && number_firm != Some(firm)
    {
        w.record_contact_number(firm, person, number)?;
    }

    let mut notices = Vec::new();
    for effect in &output.effects {
        let (what, mut replies) = apply_effect(w, effect, number, now)?;
        notices.append(&mut replies);
        w.record_event(&Event {
            seq: 0,
            at: now,
            firm: output.firm,
            actor: sender_key.clone(),
            wamid: message.wamid.clone(),
            what,
        })?;
    }
    let sender_recipient = match (&sender.wa_id, &sender.bsuid) {
        (Some(wa_id), _) => Recipient::WaId(wa_id.clone()),
        (None, Some(bsuid)) => Recipient::Bsuid(bsuid.clone()),
        (None, None) => return Ok(0),
    };
    let inbound = Inbound {
        sender: &sender_recipient,
        number: message.phone_number_id,
    };
    for reply in output.replies.iter().chain(&notices) {
        enqueue(w, reply, Some(inbound), config, &message.wamid)?;
    }
    logs.push(MessageLog {
        wamid: message.wamid.clone(),
        kind: output.kind,
        firm: output.firm,
        outcome: output.outcome,
        text: match &message.content {
            Content::Text(text) => Some(text.clone()),
            Content::Button { id, .. } => Some(id.clone()),
            Content::Ignored(_) => None,
        },
    });
    Ok(output.replies.len() + notices.len() + released)
}

/// Where a message came from, for the replies to it.
#[derive(Clone, Copy)]
struct Inbound<'a> {
    sender: &'a Recipient,
    /// The business number it arrived on.
    number: BusinessNumber,
}

/// Queues one reply or notification. A reply goes back the way the message
/// came; a notification goes from its firm's own number, else the number
/// the recipient last wrote to about that firm, else the number the message
/// arrived on, else the shared number of the configuration.
fn enqueue(
    w: &mut Writer,
    reply: &Reply,
    inbound: Option<Inbound>,
    config: &Config,
    in_reply_to: &str,
) -> Result<(), store::Error> {
    let (to, from) = match (&reply.to, inbound) {
        (To::Sender, Some(inbound)) => (inbound.sender.clone(), inbound.number),
        (To::Sender, None) => return Ok(()),
        (To::Phone(phone), _) => {
            let firm_number = match reply.firm {
                Some(firm) => command::notice_number(w, firm, *phone)?,
                None => None,
            };
            let from = firm_number
                .map(BusinessNumber::new)
                .or(inbound.map(|i| i.number))
                .or(config.shared_number);
            // The commands refuse a change whose notice has no number
            // before anything is written; nothing is queued from none.
            let Some(from) = from else {
                tracing::warn!(
                    "a notification has no business number to go from (the firm has none \
                     and WHATSAPP_PHONE_NUMBER_ID is not set): not queued"
                );
                return Ok(());
            };
            // A firm's notes to phones that never wrote to it are capped
            // per day: a firm can name anyone as its client.
            if let Some(firm) = reply.firm {
                let wrote = w
                    .last_inbound(from.get(), &phone.to_u64().to_string())?
                    .is_some();
                let day = config.clock.now_seconds().div_euclid(86_400);
                if !wrote && !config.strangers.admit(firm, day, config.strangers_per_day) {
                    tracing::warn!(
                        %firm,
                        cap = config.strangers_per_day,
                        "notification not queued: the firm's daily cap of notifications to \
                         phones that never wrote to it is spent"
                    );
                    return Ok(());
                }
            }
            (Recipient::WaId(phone.to_u64().to_string()), from)
        }
    };
    let peer = to.as_str().to_owned();
    let seq = w.enqueue(
        &Outbound {
            seq: 0,
            phone_number_id: from.to_string(),
            to,
            body: reply.body.clone(),
            in_reply_to: in_reply_to.to_owned(),
            created_at: config.clock.now_seconds(),
            attempts: 0,
            state: State::Pending,
            wamid: None,
            last_error: None,
            purpose: match (&reply.to, reply.firm, &reply.notice) {
                (To::Phone(_), Some(firm), Some(notice)) => Purpose::Notification {
                    firm,
                    notice: notice.clone(),
                },
                _ => Purpose::Reply,
            },
            templated: false,
            firm: reply.firm,
        },
        config.clock.now_ms(),
    )?;
    if let Some(firm) = reply.firm {
        let kind = match &reply.body {
            Body::Text(_) => "text",
            Body::Buttons { .. } => "buttons",
            Body::List { .. } => "list",
        };
        w.log_message(&Logged {
            firm,
            seq: 0,
            at: config.clock.now(),
            direction: Direction::Outbound,
            peer,
            kind: kind.to_owned(),
            text: reply.body.render(),
            outbox: Some(seq),
        })?;
    }
    Ok(())
}

/// Records a message of a history sync or an echo in the log of the firm
/// whose own number it is on, as what it is: its direction, its own time,
/// and a kind of `history:<type>` or `echo:<type>`. Never answered, and it
/// opens no window. A number that is no firm's own has no log to put it in.
fn log_past(
    w: &mut Writer,
    past: &Past,
    metrics: &Metrics,
    seen: &mut Seen,
) -> Result<(), store::Error> {
    metrics.message(past.kind.as_str());
    if !seen.first_sighting(store::wamid_key(&past.wamid)) {
        metrics.duplicates.fetch_add(1, Relaxed);
        return Ok(());
    }
    let Some(firm) = w.firm_by_number(past.phone_number_id.get())? else {
        return Ok(());
    };
    w.log_message(&Logged {
        firm,
        seq: 0,
        at: Timestamp::from_unix_seconds(past.timestamp),
        direction: if past.outbound {
            Direction::Outbound
        } else {
            Direction::Inbound
        },
        peer: past.peer.clone(),
        kind: format!("{}:{}", past.kind.as_str(), past.message_type),
        text: past.text.clone(),
        outbox: None,
    })
}

/// Records an inbound message in its firm's log.
fn log_inbound(
    w: &mut Writer,
    firm: FirmId,
    message: &Message,
    peer: &str,
    now: i64,
) -> Result<(), store::Error> {
    let (kind, text) = match &message.content {
        Content::Text(text) => ("text", text.as_str()),
        Content::Button { id, .. } => ("button", id.as_str()),
        Content::Ignored(kind) => ("ignored", kind.as_str()),
    };
    w.log_message(&Logged {
        firm,
        seq: 0,
        at: Timestamp::from_unix_seconds(now),
        direction: Direction::Inbound,
        peer: peer.to_owned(),
        kind: kind.to_owned(),
        text: text.to_owned(),
        outbox: None,
    })
}

/// The firm's event webhook answered 410 Gone: disabled (its queued
/// pushes are dropped as their turn comes, no new ones are queued), and a
/// `webhook.disabled` event in its feed, which is not pushed.
fn disable_hook(
    w: &mut Writer,
    firm: FirmId,
    url: &str,
    clock: &Clock,
) -> Result<(), store::Error> {
    if w.disable_hook(firm, clock.now_seconds())? {
        let change = Change::WebhookDisabled {
            url: url.to_owned(),
            status: 410,
        };
        command::record(w, firm, Origin::new(Source::Api, clock.now()), change)?;
    }
    Ok(())
}

/// Settles one send attempt; a reply of a firm given up for good is a
/// `message.failed` event in its feed.
fn settle(
    w: &mut Writer,
    seq: u64,
    due_ms: u64,
    attempt: &Attempt,
    clock: &Clock,
) -> Result<(), store::Error> {
    w.settle(seq, due_ms, attempt)?;
    if let Attempt::Held = attempt
        && let Some(outbound) = w.outbound_row(seq)?
        && let Purpose::Notification { firm, notice } = &outbound.purpose
    {
        let origin = Origin::new(Source::WhatsApp, clock.now());
        let change = Change::MessageHeld {
            outbox_seq: seq,
            to: outbound.to.as_str().to_owned(),
            kind: notice.kind.to_string(),
        };
        command::record(w, *firm, origin, change)?;
    }
    if let Attempt::Failed { error } = attempt
        && let Some(firm) = w.outbox_firm(seq)?
    {
        let to = match w.outbound_row(seq)? {
            Some(outbound) => outbound.to.as_str().to_owned(),
            None => String::new(),
        };
        let origin = Origin::new(Source::WhatsApp, clock.now());
        command::record(
            w,
            firm,
            origin,
            Change::MessageFailed {
                outbox_seq: seq,
                to,
                error_code: error.code,
            },
        )?;
    }
    Ok(())
}

/// Applies one effect through the command layer (the one write path);
/// returns the audit text.
/// Applies one effect of a message as its command; what it did (for the
/// audit event) and the notifications the command gave.
fn apply_effect(
    w: &mut Writer,
    effect: &Effect,
    number: Option<u64>,
    now: i64,
) -> Result<(String, Vec<Reply>), store::Error> {
    let origin = Origin::new(Source::WhatsApp, Timestamp::from_unix_seconds(now));
    let (command, done) = match effect {
        Effect::Milestone {
            firm,
            project,
            milestone,
            status,
        } => {
            let from = w.milestone(*firm, *project, *milestone)?.map(|m| m.status);
            let command = Command::SetMilestoneStatus {
                firm: *firm,
                project: *project,
                milestone: *milestone,
                status: *status,
            };
            let done = match from {
                Some(from) => format!("milestone {milestone} {from} -> {status}"),
                None => format!("milestone {milestone} gone"),
            };
            (command, done)
        }
        Effect::ProjectStatus {
            firm,
            project,
            status,
        } => {
            let from = w.project(*firm, *project)?.map(|p| p.status);
            let command = Command::SetProjectStatus {
                firm: *firm,
                project: *project,
                status: status.clone(),
            };
            let done = match from {
                Some(from) => format!("project {project} status {from} -> {status}"),
                None => format!("project {project} gone"),
            };
            (command, done)
        }
        Effect::Hinted { sender, at } => {
            w.record_hint(sender, *at)?;
            // A stranger on a firm's own number is a lead for that firm.
            if let Some(firm) = number.map(|n| w.firm_by_number(n)).transpose()?.flatten() {
                command::record(
                    w,
                    firm,
                    origin,
                    Change::ContactUnknown {
                        from: sender.clone(),
                    },
                )?;
            }
            return Ok(("registration hint sent".into(), Vec::new()));
        }
    };
    match command::apply(w, &command, origin) {
        Ok(applied) => Ok((done, applied.outbound)),
        Err(CommandError::NotFound) => Ok((done, Vec::new())),
        Err(CommandError::Store(err)) => Err(err),
        Err(refused) => Ok((format!("{done} refused: {refused}"), Vec::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 21: a batch that failed before a change in it was applied left
    /// that change without an outcome, and `expect` killed the writer.
    #[test]
    fn a_change_without_an_outcome_is_not_committed_and_nothing_panics() {
        let applied = Applied::default;
        assert!(matches!(
            change_answer(false, None),
            Err(ChangeError::NotCommitted)
        ));
        assert!(matches!(
            change_answer(false, Some(Ok(applied()))),
            Err(ChangeError::NotCommitted)
        ));
        assert!(matches!(
            change_answer(true, None),
            Err(ChangeError::NotCommitted)
        ));
        assert!(change_answer(true, Some(Ok(applied()))).is_ok());
        assert!(matches!(
            change_answer(true, Some(Err(CommandError::NotFound))),
            Err(ChangeError::Rejected(CommandError::NotFound))
        ));
    }
}
