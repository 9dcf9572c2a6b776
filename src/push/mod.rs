//! Event webhooks: the pusher thread POSTs each firm's events to the URL
//! the firm registered, signed by the Standard Webhooks scheme, from a
//! durable queue beside the outbox (DESIGN section 11).
//!
//! At least once: a push leaves the queue only when the receiver answered
//! 2xx (or after [`RETRY_SCHEDULE`], more than a day). Its own thread, its
//! own short timeout and a cap per round, so a dead endpoint can never slow
//! WhatsApp replies; results go back through the writer thread.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub mod address;

pub use address::Reach;

use crate::clock::Clock;
use crate::domain::event::Hook;
use crate::metrics::Metrics;
use crate::store::{PushResult, Store};
use crate::writer::Queue;

/// Waits after the 1st, 2nd, … failed attempt: 32 hours in all.
pub const RETRY_SCHEDULE: &[Duration] = &[
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(60 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(4 * 3600),
    Duration::from_secs(8 * 3600),
    Duration::from_secs(8 * 3600),
    Duration::from_secs(8 * 3600),
];
/// One receiver gets this long to answer (DESIGN section 11).
const TIMEOUT: Duration = Duration::from_secs(15);
/// Pushes tried per round at most.
const BATCH: usize = 32;
const IDLE: Duration = Duration::from_millis(250);

/// The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256 of
/// `"{id}.{timestamp}.{body}"`, keyed with the secret's bytes.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// When to try again after `attempts` failures, or `None` to give up.
pub fn next_try(attempts: u32, now_ms: u64) -> Option<u64> {
    RETRY_SCHEDULE
        .get(attempts as usize)
        .map(|wait| now_ms + wait.as_millis() as u64)
}

/// Why a push failed: the answer's status, if there was one.
struct Failed {
    status: Option<u16>,
    error: String,
}

/// One signed POST of `body` to the hook; why, if it failed. Any 2xx is
/// success; a redirect is a failure (never followed).
fn post(agent: &ureq::Agent, hook: &Hook, id: &str, body: &str) -> Result<(), Failed> {
    // The receiver checks this against its own clock (Standard Webhooks'
    // replay tolerance): the wall clock, never a test's moved one.
    let timestamp = (crate::clock::wall_ms() / 1000) as i64;
    let answer = agent
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", &timestamp.to_string())
        .header(
            "webhook-signature",
            &sign(&hook.secret, id, timestamp, body),
        )
        .send(body.as_bytes());
    match answer {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => {
            let status = response.status().as_u16();
            Err(Failed {
                status: Some(status),
                error: format!("HTTP {status}"),
            })
        }
        Err(err) => Err(Failed {
            status: None,
            error: err.to_string(),
        }),
    }
}

/// The console's "send a test event": one signed `webhook.test` event,
/// sent now, not stored and not retried; says only whether it was
/// delivered, so the form cannot be used to scan the server's network.
pub async fn send_test(hook: Hook, reach: Reach) -> bool {
    let body = serde_json::json!({
        "type": "webhook.test",
        "firm_id": hook.firm.to_string(),
        "at": crate::domain::Timestamp::from_unix_seconds((crate::clock::wall_ms() / 1000) as i64)
            .to_string(),
        "data": {},
    })
    .to_string();
    let id = uuid::Uuid::now_v7().to_string();
    let sent = tokio::task::spawn_blocking(move || {
        let agent = address::agent(reach, TEST_TIMEOUT);
        post(&agent, &hook, &id, &body)
    })
    .await;
    matches!(sent, Ok(Ok(())))
}

/// The test event's wait for an answer: the console page waits with it.
const TEST_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Pusher {
    pub store: Arc<Store>,
    pub writer: Queue,
    pub metrics: Arc<Metrics>,
    pub stop: Arc<AtomicBool>,
    pub reach: Reach,
    /// What "due" and the retry schedule are decided by.
    pub clock: Clock,
}

/// Pushes in flight at once, each to a different firm's endpoint.
const IN_FLIGHT: usize = 8;
/// How long a push waits while its firm has one in flight.
const WAIT: Duration = Duration::from_secs(1);

/// One attempt's outcome, from its thread.
struct Done {
    seq: u64,
    due_ms: u64,
    firm: crate::domain::FirmId,
    result: PushResult,
}

impl Pusher {
    /// Each firm's endpoint gets one push at a time, on a thread of its
    /// own (at most [`IN_FLIGHT`]): a silent endpoint holds its own firm's
    /// pushes for its timeout, never another firm's (DESIGN section 11).
    pub fn run(self) {
        let agent = address::agent(self.reach, TIMEOUT);
        let (report, finished) = std::sync::mpsc::channel::<Done>();
        let mut flying: HashMap<u64, crate::domain::FirmId> = HashMap::new();
        while !self.stop.load(Relaxed) {
            let mut results = Vec::new();
            while let Ok(done) = finished.try_recv() {
                flying.remove(&done.seq);
                self.record(&done);
                results.push((done.seq, done.due_ms, done.result));
            }
            let now = self.clock.now_ms();
            let due = match self
                .store
                .read()
                .and_then(|r| r.pushes_due(now, BATCH + flying.len()))
            {
                Ok(due) => due,
                Err(err) => {
                    tracing::error!(error = %err, "reading the push queue failed");
                    std::thread::sleep(IDLE);
                    continue;
                }
            };
            let mut started = 0;
            for (due_ms, push, event, hook) in due {
                if flying.contains_key(&push.seq) {
                    continue;
                }
                let (event, hook) = match (event, hook) {
                    // The webhook was removed, or the event pruned: drop it.
                    (None, _) | (_, None) => {
                        let error = "no webhook or no event any more".to_owned();
                        self.metrics.push("failed");
                        results.push((push.seq, due_ms, PushResult::GaveUp { error }));
                        continue;
                    }
                    (Some(event), Some(hook)) => (event, hook),
                };
                let busy = flying.values().any(|firm| *firm == push.firm);
                if busy || flying.len() >= IN_FLIGHT {
                    let later = now + WAIT.as_millis() as u64;
                    results.push((push.seq, due_ms, PushResult::Waiting { due_ms: later }));
                    continue;
                }
                flying.insert(push.seq, push.firm);
                started += 1;
                let (agent, report, clock) = (agent.clone(), report.clone(), self.clock.clone());
                let spawned = std::thread::Builder::new()
                    .name("firmhook-push".into())
                    .spawn(move || {
                        let body = event.to_json().to_string();
                        let id = uuid::Uuid::from_u128(event.id).to_string();
                        let result = match post(&agent, &hook, &id, &body) {
                            Ok(()) => PushResult::Delivered,
                            // 410 Gone: the receiver says the endpoint is no more.
                            Err(Failed {
                                status: Some(410), ..
                            }) => PushResult::Gone {
                                firm: push.firm,
                                url: hook.url.clone(),
                            },
                            Err(Failed { error, .. }) => {
                                match next_try(push.attempts, clock.now_ms()) {
                                    Some(due_ms) => PushResult::RetryAt { due_ms, error },
                                    None => PushResult::GaveUp { error },
                                }
                            }
                        };
                        let _ = report.send(Done {
                            seq: push.seq,
                            due_ms,
                            firm: push.firm,
                            result,
                        });
                    });
                if spawned.is_err() {
                    flying.remove(&push.seq);
                }
            }
            if !results.is_empty() && self.writer.pushed_blocking(results).is_err() {
                tracing::error!("recording push results failed; they will be tried again");
                std::thread::sleep(IDLE);
            }
            if started == 0 {
                // Nothing new to start: wait for an attempt to end, or a while.
                if let Ok(done) = finished.recv_timeout(IDLE) {
                    flying.remove(&done.seq);
                    self.record(&done);
                    let results = vec![(done.seq, done.due_ms, done.result)];
                    if self.writer.pushed_blocking(results).is_err() {
                        tracing::error!("recording push results failed; they will be tried again");
                    }
                }
            }
        }
    }

    fn record(&self, done: &Done) {
        self.metrics.push(match &done.result {
            PushResult::Delivered => "delivered",
            PushResult::RetryAt { .. } => "retry",
            PushResult::GaveUp { .. } => "failed",
            PushResult::Waiting { .. } => "waiting",
            PushResult::Gone { .. } => "gone",
        });
        if let PushResult::Gone { url, .. } = &done.result {
            tracing::warn!(firm = %done.firm, %url,
                "event webhook answered 410 Gone: disabled until its URL is set again");
        }
        if let PushResult::GaveUp { error } = &done.result {
            tracing::warn!(push = done.seq, firm = %done.firm, ?error, "event push given up");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn signatures_match_the_standard_webhooks_example() {
        let secret = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn retries_span_more_than_a_day_then_stop() {
        let total: Duration = RETRY_SCHEDULE.iter().sum();
        assert!(total >= Duration::from_secs(24 * 3600), "{total:?}");
        assert_eq!(next_try(0, 1000), Some(6000));
        assert_eq!(next_try(RETRY_SCHEDULE.len() as u32, 0), None);
    }
}
