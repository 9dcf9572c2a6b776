//! What a Graph API answer means for a message, and when to try it again
//! (DESIGN section 9): pure functions of the answer and the time, used by
//! the sender for the answer to a send and by the writer for a `failed`
//! status that comes later. Retries are data ([`RETRY_SCHEDULE`],
//! [`SPAM_SCHEDULE`]); the error code decides, not the HTTP status.

use std::time::Duration;

use crate::store::{Attempt, SendError};

/// Waits after the 1st, 2nd, … failed attempt; past the last, the reply
/// fails for good.
pub const RETRY_SCHEDULE: &[Duration] = &[
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(16),
    Duration::from_secs(64),
    Duration::from_secs(256),
    Duration::from_secs(1024),
];

/// How a Graph API answer is treated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Sent(String),
    Retry(SendError),
    Final(SendError),
    /// 190: the access token expired. Nothing more can be sent.
    Halt(SendError),
    /// 131056: too many messages to this person from this number; Meta
    /// allows one every 6 s.
    PairLimit(SendError),
    /// 131048: the number is limited for spam; retried over hours.
    SpamLimit(SendError),
}

/// The least wait after a 131056 (pair rate limit).
pub const PAIR_WAIT: Duration = Duration::from_secs(6);
/// Waits after the 1st, 2nd, … 131048 (spam rate limit): minutes to hours,
/// 30 hours in all, then given up.
pub const SPAM_SCHEDULE: &[Duration] = &[
    Duration::from_secs(5 * 60),
    Duration::from_secs(15 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(3 * 3600),
    Duration::from_secs(6 * 3600),
    Duration::from_secs(8 * 3600),
    Duration::from_secs(12 * 3600),
];
/// Error codes worth retrying (throughput, pair rate, transient).
const RETRYABLE: &[i64] = &[130429, 131057, 131000, 131016, 2, 4, 80007];

/// Reads one Graph API answer: HTTP status and body.
pub fn classify(status: u16, body: &str) -> Verdict {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    if (200..300).contains(&status) {
        return match json["messages"][0]["id"].as_str() {
            Some(id) => Verdict::Sent(id.to_owned()),
            None => Verdict::Retry(SendError::other(format!(
                "HTTP {status} without a message id"
            ))),
        };
    }
    let code = json["error"]["code"].as_i64();
    let message = json["error"]["message"].as_str().unwrap_or("").to_owned();
    let what = match code {
        Some(code) => SendError::graph(code, &message),
        None => SendError::other(format!("HTTP {status}")),
    };
    match code {
        Some(code) => verdict_of(code, what),
        None if status >= 500 || status == 429 => Verdict::Retry(what),
        None => Verdict::Final(what),
    }
}

/// What a Graph API error code means for the message, whether it came in
/// the answer to the send or later, in a `failed` status.
pub fn verdict_of(code: i64, error: SendError) -> Verdict {
    match code {
        190 => Verdict::Halt(error),
        131056 => Verdict::PairLimit(error),
        131048 => Verdict::SpamLimit(error),
        code if RETRYABLE.contains(&code) => Verdict::Retry(error),
        _ => Verdict::Final(error),
    }
}

/// What a `failed` status with `code` does to a message sent after
/// `attempts_before` earlier attempts (the writer applies it).
pub fn failed_status(code: i64, attempts_before: u32, now_ms: u64) -> Attempt {
    let error = SendError::graph(code, "delivery failed");
    next_step(verdict_of(code, error), attempts_before, now_ms, 0.5)
}

/// What to record after `attempts_before + 1` attempts ended in `verdict`.
pub fn next_step(verdict: Verdict, attempts_before: u32, now_ms: u64, jitter: f64) -> Attempt {
    match verdict {
        Verdict::Sent(wamid) => Attempt::Sent { wamid },
        Verdict::Final(error) => Attempt::Failed { error },
        // The message is not at fault: no attempt is used up, and it is
        // due at once. A halted sender tries nothing more, so it goes as
        // soon as a restart with a good token lets it (in its turn).
        Verdict::Halt(_) => Attempt::Paced { at_ms: now_ms },
        Verdict::Retry(error) => retry(
            RETRY_SCHEDULE,
            Duration::ZERO,
            error,
            attempts_before,
            now_ms,
            jitter,
        ),
        Verdict::PairLimit(error) => retry(
            RETRY_SCHEDULE,
            PAIR_WAIT,
            error,
            attempts_before,
            now_ms,
            jitter,
        ),
        Verdict::SpamLimit(error) => retry(
            SPAM_SCHEDULE,
            Duration::ZERO,
            error,
            attempts_before,
            now_ms,
            jitter,
        ),
    }
}

/// The next try from `schedule` (at least `least` away), or given up.
fn retry(
    schedule: &[Duration],
    least: Duration,
    error: SendError,
    attempts_before: u32,
    now_ms: u64,
    jitter: f64,
) -> Attempt {
    match schedule.get(attempts_before as usize) {
        Some(wait) => {
            // Up to ±20% so retries of many replies spread out.
            let ms = (wait.as_millis() as f64 * (1.0 + 0.4 * (jitter - 0.5)))
                .max(least.as_millis() as f64);
            Attempt::RetryAt {
                at_ms: now_ms + ms as u64,
                error,
            }
        }
        None => Attempt::Failed {
            error: SendError {
                code: error.code,
                text: format!("gave up after {} attempts: {error}", attempts_before + 1),
            },
        },
    }
}
