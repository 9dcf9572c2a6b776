//! The outbox sender: its own thread, sending due replies to the Graph API
//! with ureq, and handing each result back to the writer thread.
//!
//! Retries are data ([`RETRY_SCHEDULE`]); [`classify`] turns one Graph API
//! answer into an [`Attempt`], keyed on `error.code` rather than the HTTP
//! status (DESIGN section 9). Error 190 (expired token) stops all sending
//! until restart and says so loudly. Each business number is paced.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::metrics::Metrics;
use crate::notify::{Purpose, Template, window_open};
use crate::store::WINDOW_CLOSED;
use crate::store::{Attempt, Outbound, Store};
use crate::whatsapp::outbound::Recipient;
use crate::whatsapp::signature::Secret;
use crate::writer::{Queue, now_ms};

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
/// How long one Graph API request may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Messages per second per business number.
pub const DEFAULT_PACE: u32 = 80;
const BATCH: usize = 64;
const IDLE: Duration = Duration::from_millis(500);

/// Where replies go.
pub enum Transport {
    /// The Graph API at `base` (`{base}/{phone_number_id}/messages`); a
    /// request that takes longer than `timeout` counts as a network error.
    Graph {
        base: String,
        token: Secret,
        timeout: Duration,
    },
    /// `serve --dev`: log and keep; nothing leaves the machine.
    Dev,
}

pub struct Sender {
    pub store: Arc<Store>,
    pub writer: Queue,
    pub metrics: Arc<Metrics>,
    pub transport: Transport,
    pub pace_per_second: u32,
    pub wake: std::sync::mpsc::Receiver<()>,
    pub stop: Arc<AtomicBool>,
}

/// How a due message goes out.
enum How {
    FreeForm,
    Template(Template),
    /// A notification outside the window with no template.
    Hold,
}

/// How a Graph API answer is treated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Sent(String),
    Retry(String),
    Final(String),
    /// 190: the access token expired. Nothing more can be sent.
    Halt(String),
}

/// Error codes worth retrying (throughput, pair rate, transient).
const RETRYABLE: &[i64] = &[130429, 131056, 131057, 131000, 131016, 2, 4, 80007];

/// Reads one Graph API answer: HTTP status and body.
pub fn classify(status: u16, body: &str) -> Verdict {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    if (200..300).contains(&status) {
        return match json["messages"][0]["id"].as_str() {
            Some(id) => Verdict::Sent(id.to_owned()),
            None => Verdict::Retry(format!("HTTP {status} without a message id")),
        };
    }
    let code = json["error"]["code"].as_i64();
    let message = json["error"]["message"].as_str().unwrap_or("").to_owned();
    let what = match code {
        Some(code) => format!("error {code}: {message}"),
        None => format!("HTTP {status}"),
    };
    match code {
        Some(190) => Verdict::Halt(what),
        Some(code) if RETRYABLE.contains(&code) => Verdict::Retry(what),
        Some(_) => Verdict::Final(what),
        None if status >= 500 || status == 429 => Verdict::Retry(what),
        None => Verdict::Final(what),
    }
}

/// What to record after `attempts_before + 1` attempts ended in `verdict`.
pub fn next_step(verdict: Verdict, attempts_before: u32, now_ms: u64, jitter: f64) -> Attempt {
    match verdict {
        Verdict::Sent(wamid) => Attempt::Sent { wamid },
        Verdict::Final(error) => Attempt::Failed { error },
        Verdict::Retry(error) | Verdict::Halt(error) => {
            match RETRY_SCHEDULE.get(attempts_before as usize) {
                Some(wait) => {
                    // Up to ±20% so retries of many replies spread out.
                    let ms = wait.as_millis() as f64 * (1.0 + 0.4 * (jitter - 0.5));
                    Attempt::RetryAt {
                        at_ms: now_ms + ms as u64,
                        error,
                    }
                }
                None => Attempt::Failed {
                    error: format!("gave up after {} attempts: {error}", attempts_before + 1),
                },
            }
        }
    }
}

impl Sender {
    pub fn run(self) {
        let timeout = match &self.transport {
            Transport::Graph { timeout, .. } => *timeout,
            Transport::Dev => DEFAULT_TIMEOUT,
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let mut last_send: HashMap<String, Instant> = HashMap::new();
        let gap = Duration::from_secs(1) / self.pace_per_second.max(1);
        let mut halted = false;
        let mut seed = now_ms() | 1;
        while !self.stop.load(Relaxed) {
            let due = match self.store.read().and_then(|r| r.due(now_ms(), BATCH)) {
                Ok(due) => due,
                Err(err) => {
                    tracing::error!(error = %err, "reading the outbox failed");
                    std::thread::sleep(IDLE);
                    continue;
                }
            };
            if due.is_empty() || halted {
                let wait = self
                    .store
                    .read()
                    .and_then(|r| r.next_due())
                    .ok()
                    .flatten()
                    .map_or(IDLE, |at| {
                        Duration::from_millis(at.saturating_sub(now_ms()))
                    })
                    .min(IDLE);
                let _ = self.wake.recv_timeout(wait);
                continue;
            }
            let mut results = Vec::with_capacity(due.len());
            for (due_ms, row) in due {
                let outbound = match row {
                    Ok(outbound) => outbound,
                    Err((seq, error)) => {
                        self.metrics.quarantined.fetch_add(1, Relaxed);
                        results.push((seq, due_ms, Attempt::Quarantine { error }));
                        continue;
                    }
                };
                if self.stop.load(Relaxed) {
                    break;
                }
                if let Some(last) = last_send.get(&outbound.phone_number_id) {
                    let since = last.elapsed();
                    if since < gap {
                        std::thread::sleep(gap - since);
                    }
                }
                let how = match self.how(&outbound) {
                    Ok(how) => how,
                    Err(err) => {
                        tracing::error!(error = %err, "reading the window failed");
                        break;
                    }
                };
                let template = match &how {
                    How::Hold => {
                        self.metrics.notification("held");
                        results.push((outbound.seq, due_ms, Attempt::Held));
                        continue;
                    }
                    How::FreeForm => None,
                    How::Template(template) => Some(template),
                };
                if let Purpose::Notification { notice, .. } = &outbound.purpose {
                    self.metrics.notification(if template.is_some() {
                        "template"
                    } else {
                        "free_form"
                    });
                    if let Some(template) = template {
                        tracing::info!(seq = outbound.seq, kind = %notice.kind, template = %template.name,
                            "notification outside the window: sent as its template");
                    }
                }
                last_send.insert(outbound.phone_number_id.clone(), Instant::now());
                let verdict = self.send(&agent, &outbound, template);
                if let Verdict::Halt(error) = &verdict {
                    halted = true;
                    self.metrics.sending_halted.store(1, Relaxed);
                    tracing::error!(
                        %error,
                        "ACCESS TOKEN EXPIRED (error 190): sending stopped; replies stay queued. \
                         Set a new WHATSAPP_ACCESS_TOKEN and restart"
                    );
                }
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let jitter = (seed % 1000) as f64 / 1000.0;
                let mut step = next_step(verdict, outbound.attempts, now_ms(), jitter);
                match (&step, &outbound.purpose, template) {
                    // Refused for the closed window: once more, as its template.
                    (Attempt::Failed { error }, Purpose::Notification { .. }, None)
                        if crate::writer::error_code(error) == Some(WINDOW_CLOSED) =>
                    {
                        step = Attempt::Switch {
                            error: error.clone(),
                        };
                    }
                    (Attempt::Sent { wamid }, _, Some(_)) => {
                        step = Attempt::SentTemplate {
                            wamid: wamid.clone(),
                        };
                    }
                    _ => {}
                }
                self.metrics.send(match &step {
                    Attempt::Sent { .. } | Attempt::SentTemplate { .. } => "sent",
                    Attempt::RetryAt { .. } => "retry",
                    Attempt::Failed { .. } => "failed",
                    Attempt::Switch { .. } => "window_closed",
                    Attempt::Quarantine { .. } | Attempt::Held => "quarantined",
                });
                match &step {
                    Attempt::Failed { error } => {
                        tracing::warn!(seq = outbound.seq, ?error, "reply failed for good")
                    }
                    Attempt::RetryAt { error, .. } => {
                        tracing::info!(seq = outbound.seq, ?error, "reply will be retried")
                    }
                    _ => {}
                }
                results.push((outbound.seq, due_ms, step));
                if halted {
                    break;
                }
            }
            if self.writer.settle_blocking(results).is_err() {
                tracing::error!("recording send results failed; they will be sent again");
                std::thread::sleep(IDLE);
            }
        }
    }

    /// How a due message goes out: free-form, as its template, or not yet.
    fn how(&self, outbound: &Outbound) -> Result<How, crate::store::Error> {
        let Purpose::Notification { firm, notice } = &outbound.purpose else {
            return Ok(How::FreeForm);
        };
        let reader = self.store.read()?;
        if !outbound.templated {
            let number = outbound.phone_number_id.parse::<u64>().unwrap_or(0);
            let last = reader.last_inbound(number, outbound.to.as_str())?;
            if window_open(last, (now_ms() / 1000) as i64) {
                return Ok(How::FreeForm);
            }
        }
        Ok(match reader.template_for(*firm, notice.kind)? {
            Some(template) => How::Template(template),
            None => How::Hold,
        })
    }

    fn send(
        &self,
        agent: &ureq::Agent,
        outbound: &Outbound,
        template: Option<&Template>,
    ) -> Verdict {
        let json = match (template, &outbound.purpose) {
            (Some(template), Purpose::Notification { notice, .. }) => {
                let to = match &outbound.to {
                    Recipient::WaId(id) => ("to", id.as_str()),
                    Recipient::Bsuid(id) => ("recipient", id.as_str()),
                };
                template.message(notice, to)
            }
            _ => outbound.body.to_json(&outbound.to),
        };
        match &self.transport {
            Transport::Dev => {
                tracing::info!(
                    seq = outbound.seq,
                    to = outbound.to.as_str(),
                    from = %outbound.phone_number_id,
                    "dev: message kept, not sent:\n{}",
                    match template {
                        Some(t) => format!("[template {} ({})]", t.name, t.language),
                        None => outbound.body.render(),
                    }
                );
                Verdict::Sent(format!("dev.{}", outbound.seq))
            }
            Transport::Graph { base, token, .. } => {
                let url = format!(
                    "{}/{}/messages",
                    base.trim_end_matches('/'),
                    outbound.phone_number_id
                );
                let response = agent
                    .post(&url)
                    .header("Authorization", &format!("Bearer {}", token.expose()))
                    .header("Content-Type", "application/json")
                    .send(json.to_string());
                match response {
                    Ok(mut response) => {
                        let status = response.status().as_u16();
                        let body = response
                            .body_mut()
                            .with_config()
                            .limit(64 * 1024)
                            .read_to_string()
                            .unwrap_or_default();
                        classify(status, &body)
                    }
                    Err(err) => Verdict::Retry(format!("network: {err}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: i64) -> String {
        format!(r#"{{"error":{{"message":"m","type":"OAuthException","code":{code}}}}}"#)
    }

    #[test]
    fn answers_are_classified_by_error_code_not_http_status() {
        let ok = r#"{"messaging_product":"whatsapp","messages":[{"id":"wamid.OUT"}]}"#;
        assert_eq!(classify(200, ok), Verdict::Sent("wamid.OUT".into()));
        for code in [130429, 131056, 131057, 131000, 131016] {
            assert!(
                matches!(classify(400, &error(code)), Verdict::Retry(_)),
                "{code}"
            );
        }
        for code in [131047, 131026, 131050, 130403, 100] {
            assert!(
                matches!(classify(400, &error(code)), Verdict::Final(_)),
                "{code}"
            );
        }
        assert!(matches!(classify(401, &error(190)), Verdict::Halt(_)));
        assert!(matches!(
            classify(502, "<html>bad gateway</html>"),
            Verdict::Retry(_)
        ));
        assert!(matches!(classify(404, ""), Verdict::Final(_)));
        assert!(matches!(classify(200, "{}"), Verdict::Retry(_)));
    }

    #[test]
    fn retries_follow_the_schedule_then_fail() {
        let retry = || Verdict::Retry("error 130429".into());
        let Attempt::RetryAt { at_ms, .. } = next_step(retry(), 0, 1_000, 0.5) else {
            panic!()
        };
        assert_eq!(at_ms, 2_000, "first retry after 1 s (no jitter at 0.5)");
        let Attempt::RetryAt { at_ms, .. } = next_step(retry(), 1, 1_000, 0.0) else {
            panic!()
        };
        assert_eq!(at_ms, 1_000 + 3_200, "4 s less 20%");
        let last = RETRY_SCHEDULE.len() as u32;
        assert!(matches!(
            next_step(retry(), last, 0, 0.5),
            Attempt::Failed { .. }
        ));
        assert!(matches!(
            next_step(Verdict::Final("error 131047".into()), 0, 0, 0.5),
            Attempt::Failed { .. }
        ));
    }
}
