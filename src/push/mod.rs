//! Event webhooks: the pusher thread POSTs each firm's events to the URL
//! the firm registered, signed by the Standard Webhooks scheme, from a
//! durable queue beside the outbox (DESIGN section 11).
//!
//! At least once: a push leaves the queue only when the receiver answered
//! 2xx (or after [`RETRY_SCHEDULE`], more than a day). Its own thread, its
//! own short timeout and a cap per round, so a dead endpoint can never slow
//! WhatsApp replies; results go back through the writer thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub mod address;

pub use address::Reach;

use crate::domain::event::Hook;
use crate::metrics::Metrics;
use crate::store::{PushResult, Store};
use crate::writer::{Queue, now_ms};

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

/// One signed POST of `body` to the hook; the error, if it failed.
fn post(agent: &ureq::Agent, hook: &Hook, id: &str, body: &str) -> Option<String> {
    let timestamp = (now_ms() / 1000) as i64;
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
        Ok(response) if response.status().is_success() => None,
        Ok(response) => Some(format!("HTTP {}", response.status().as_u16())),
        Err(err) => Some(err.to_string()),
    }
}

/// The console's "send a test event": one signed `webhook.test` event,
/// sent now, not stored and not retried; says only whether it was
/// delivered, so the form cannot be used to scan the server's network.
pub async fn send_test(hook: Hook, reach: Reach) -> bool {
    let body = serde_json::json!({
        "type": "webhook.test",
        "firm_id": hook.firm.to_string(),
        "at": crate::domain::Timestamp::now().to_string(),
        "data": {},
    })
    .to_string();
    let id = uuid::Uuid::now_v7().to_string();
    let sent = tokio::task::spawn_blocking(move || {
        let agent = address::agent(reach, TEST_TIMEOUT);
        post(&agent, &hook, &id, &body)
    })
    .await;
    matches!(sent, Ok(None))
}

/// The test event's wait for an answer: the console page waits with it.
const TEST_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Pusher {
    pub store: Arc<Store>,
    pub writer: Queue,
    pub metrics: Arc<Metrics>,
    pub stop: Arc<AtomicBool>,
    pub reach: Reach,
}

impl Pusher {
    pub fn run(self) {
        let agent = address::agent(self.reach, TIMEOUT);
        while !self.stop.load(Relaxed) {
            let now = now_ms();
            let due = match self.store.read().and_then(|r| r.pushes_due(now, BATCH)) {
                Ok(due) => due,
                Err(err) => {
                    tracing::error!(error = %err, "reading the push queue failed");
                    std::thread::sleep(IDLE);
                    continue;
                }
            };
            if due.is_empty() {
                std::thread::sleep(IDLE);
                continue;
            }
            let mut results = Vec::with_capacity(due.len());
            for (due_ms, push, event, hook) in due {
                let result = match (event, hook) {
                    // The webhook was removed, or the event pruned: drop it.
                    (None, _) | (_, None) => PushResult::GaveUp {
                        error: "no webhook or no event any more".into(),
                    },
                    (Some(event), Some(hook)) => {
                        let body = event.to_json().to_string();
                        let id = uuid::Uuid::from_u128(event.id).to_string();
                        match post(&agent, &hook, &id, &body) {
                            None => PushResult::Delivered,
                            Some(error) => match next_try(push.attempts, now_ms()) {
                                Some(due_ms) => PushResult::RetryAt { due_ms, error },
                                None => PushResult::GaveUp { error },
                            },
                        }
                    }
                };
                self.metrics.push(match &result {
                    PushResult::Delivered => "delivered",
                    PushResult::RetryAt { .. } => "retry",
                    PushResult::GaveUp { .. } => "failed",
                });
                if let PushResult::GaveUp { error } = &result {
                    tracing::warn!(push = push.seq, firm = %push.firm, ?error, "event push given up");
                }
                results.push((push.seq, due_ms, result));
                if self.stop.load(Relaxed) {
                    break;
                }
            }
            if self.writer.pushed_blocking(results).is_err() {
                tracing::error!("recording push results failed; they will be tried again");
                std::thread::sleep(IDLE);
            }
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
