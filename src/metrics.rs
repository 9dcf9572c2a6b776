//! Counters for `GET /metrics`, in the Prometheus text format.
//!
//! Plain atomics and one small map for labelled counters; rendering reads
//! them without stopping anyone. Nothing here knows about HTTP.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

#[derive(Default)]
pub struct Metrics {
    pub deliveries: AtomicU64,
    pub duplicates: AtomicU64,
    pub failed_messages: AtomicU64,
    pub signature_failures: AtomicU64,
    /// Outbox rows that could not be decoded and were set aside.
    pub quarantined: AtomicU64,
    /// Admin API requests without a valid token.
    pub api_auth_failures: AtomicU64,
    pub statuses: AtomicU64,
    pub commit_batches: AtomicU64,
    pub commit_failures: AtomicU64,
    /// Commits that failed in a row, 0 after a commit succeeds.
    pub commit_failures_in_row: AtomicU64,
    /// When the writer took the batch it is working on (Unix ms), 0 while
    /// it waits for work: a batch this old means the writer is stuck.
    pub writer_busy_since_ms: AtomicU64,
    pub commit_jobs: AtomicU64,
    pub commit_micros: AtomicU64,
    pub commit_micros_max: AtomicU64,
    /// 1 while sending is stopped by an expired token (error 190).
    pub sending_halted: AtomicU64,
    /// Rows removed by retention.
    pub pruned_rows: AtomicU64,
    /// The serving certificate's notAfter (Unix seconds; 0 without TLS).
    tls_not_after: AtomicU64,
    messages: Labelled,
    sends: Labelled,
    refused: Labelled,
    dropped: Labelled,
    pushes: Labelled,
    notifications: Labelled,
    tls_refused: Labelled,
}

/// A counter with one label, by label value.
#[derive(Default)]
struct Labelled(Mutex<BTreeMap<&'static str, u64>>);

impl Labelled {
    fn add(&self, label: &'static str) {
        *self
            .0
            .lock()
            .expect("metrics lock")
            .entry(label)
            .or_default() += 1;
    }

    fn get(&self, label: &str) -> u64 {
        self.0
            .lock()
            .expect("metrics lock")
            .get(label)
            .copied()
            .unwrap_or(0)
    }

    fn render(&self, out: &mut String, name: &str, label: &str, help: &str) {
        let _ = writeln!(
            out,
            "# HELP firmhook_{name} {help}\n# TYPE firmhook_{name} counter"
        );
        for (value, n) in self.0.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "firmhook_{name}{{{label}=\"{value}\"}} {n}");
        }
    }
}

impl Metrics {
    pub fn message(&self, kind: &'static str) {
        self.messages.add(kind);
    }

    /// One send attempt: `sent`, `retry` or `failed`.
    pub fn send(&self, result: &'static str) {
        self.sends.add(result);
    }

    pub fn sends(&self, result: &str) -> u64 {
        self.sends.get(result)
    }

    /// A request refused before its body was processed: `too_large`,
    /// `busy` (memory budget spent), `timed_out`, `closing`, `unreadable`,
    /// `connection_limit`.
    pub fn refused(&self, reason: &'static str) {
        self.refused.add(reason);
    }

    /// A notification about to go out: `free_form`, `template` or `held`.
    pub fn notification(&self, how: &'static str) {
        self.notifications.add(how);
    }

    /// One event push attempt: `delivered`, `retry` or `failed`.
    pub fn push(&self, result: &'static str) {
        self.pushes.add(result);
    }

    pub fn refusals(&self, reason: &str) -> u64 {
        self.refused.get(reason)
    }

    /// A part of a signed delivery left out: an item that could not be
    /// read (`bad_item`), an identifier over its length cap
    /// (`oversized_id`), a contact whose ids disagree with its message
    /// (`contact_mismatch`), a BSUID already linked to another phone
    /// (`identity_conflict`).
    pub fn dropped(&self, what: &'static str) {
        self.dropped.add(what);
    }

    pub fn drops(&self, what: &str) -> u64 {
        self.dropped.get(what)
    }

    /// A TLS connection not served: `plain_http`, `handshake`,
    /// `handshake_timeout`.
    pub fn tls_refused(&self, reason: &'static str) {
        self.tls_refused.add(reason);
    }

    pub fn tls_refusals(&self, reason: &str) -> u64 {
        self.tls_refused.get(reason)
    }

    pub fn pruned(&self, pruned: &crate::store::Pruned) {
        self.pruned_rows.fetch_add(pruned.total() as u64, Relaxed);
    }

    pub fn tls_not_after(&self, unix_seconds: i64) {
        self.tls_not_after
            .store(u64::try_from(unix_seconds).unwrap_or(0), Relaxed);
    }

    pub fn commit(&self, jobs: usize, took: Duration) {
        let micros = took.as_micros() as u64;
        self.commit_batches.fetch_add(1, Relaxed);
        self.commit_jobs.fetch_add(jobs as u64, Relaxed);
        self.commit_micros.fetch_add(micros, Relaxed);
        self.commit_micros_max.fetch_max(micros, Relaxed);
    }

    /// The text for `GET /metrics`; `outbox_depth` is read by the caller.
    pub fn render(&self, outbox_depth: u64) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP firmhook_{name} {help}\n# TYPE firmhook_{name} counter\nfirmhook_{name} {value}"
            );
        };
        counter(
            "deliveries_total",
            "Signed webhook POSTs committed.",
            self.deliveries.load(Relaxed),
        );
        counter(
            "duplicate_messages_total",
            "Inbound messages already processed (by wamid).",
            self.duplicates.load(Relaxed),
        );
        counter(
            "failed_messages_total",
            "Inbound messages whose processing failed (recorded, answered 200).",
            self.failed_messages.load(Relaxed),
        );
        counter(
            "signature_failures_total",
            "POSTs refused for a missing or wrong signature.",
            self.signature_failures.load(Relaxed),
        );
        counter(
            "outbox_quarantined_total",
            "Outbox rows that could not be decoded, set aside (table quarantine).",
            self.quarantined.load(Relaxed),
        );
        counter(
            "api_auth_failures_total",
            "Admin API requests refused for a missing or unknown token.",
            self.api_auth_failures.load(Relaxed),
        );
        counter(
            "statuses_total",
            "Delivery status updates received.",
            self.statuses.load(Relaxed),
        );
        counter(
            "commit_failures_total",
            "Group commits that failed (answered 500).",
            self.commit_failures.load(Relaxed),
        );
        self.messages.render(
            &mut out,
            "messages_total",
            "kind",
            "Inbound messages by resolved kind.",
        );
        self.sends.render(
            &mut out,
            "send_attempts_total",
            "result",
            "Graph API send attempts by result.",
        );
        self.refused.render(
            &mut out,
            "requests_refused_total",
            "reason",
            "Requests refused before their body was processed, by reason.",
        );
        self.notifications.render(
            &mut out,
            "notifications_total",
            "how",
            "Notifications by how they went: free-form in the window, as a template, or held.",
        );
        self.pushes.render(
            &mut out,
            "event_pushes_total",
            "result",
            "Event webhook push attempts by result.",
        );
        self.dropped.render(
            &mut out,
            "inbound_dropped_total",
            "what",
            "Parts of signed deliveries left out, by what was wrong.",
        );
        let _ = writeln!(
            out,
            "# HELP firmhook_retention_pruned_rows_total Rows removed for being older than their retention.\n# TYPE firmhook_retention_pruned_rows_total counter\nfirmhook_retention_pruned_rows_total {}",
            self.pruned_rows.load(Relaxed)
        );
        self.tls_refused.render(
            &mut out,
            "tls_refused_total",
            "reason",
            "TLS connections not served, by reason.",
        );
        let not_after = self.tls_not_after.load(Relaxed);
        if not_after > 0 {
            let _ = writeln!(
                out,
                "# HELP firmhook_tls_certificate_expiry_seconds When the serving certificate expires (Unix time).\n# TYPE firmhook_tls_certificate_expiry_seconds gauge\nfirmhook_tls_certificate_expiry_seconds {not_after}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP firmhook_outbox_depth Replies waiting to be sent.\n# TYPE firmhook_outbox_depth gauge\nfirmhook_outbox_depth {outbox_depth}"
        );
        let _ = writeln!(
            out,
            "# HELP firmhook_sending_halted 1 while sending is stopped by an expired access token.\n# TYPE firmhook_sending_halted gauge\nfirmhook_sending_halted {}",
            self.sending_halted.load(Relaxed)
        );
        let batches = self.commit_batches.load(Relaxed);
        let _ = writeln!(
            out,
            "# HELP firmhook_commit_batch_size Jobs per group commit.\n# TYPE firmhook_commit_batch_size summary\nfirmhook_commit_batch_size_sum {}\nfirmhook_commit_batch_size_count {batches}",
            self.commit_jobs.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP firmhook_commit_seconds Time per group commit, fsync included.\n# TYPE firmhook_commit_seconds summary\nfirmhook_commit_seconds_sum {:.6}\nfirmhook_commit_seconds_count {batches}",
            self.commit_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "# HELP firmhook_commit_seconds_max Longest group commit so far.\n# TYPE firmhook_commit_seconds_max gauge\nfirmhook_commit_seconds_max {:.6}",
            self.commit_micros_max.load(Relaxed) as f64 / 1e6
        );
        out
    }
}
