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
use std::time::Duration;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::notify::{Purpose, Template, window_open};
use crate::store::WINDOW_CLOSED;
use crate::store::{Attempt, Outbound, SendError, Store};
use crate::whatsapp::outbound::Recipient;
use crate::whatsapp::signature::Secret;
use crate::writer::Queue;

pub use crate::retry::{
    PAIR_WAIT, RETRY_SCHEDULE, SPAM_SCHEDULE, Verdict, classify, failed_status, next_step,
    verdict_of,
};

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
    /// What "due" and the 24-hour window are decided by.
    pub clock: Clock,
}

/// How a due message goes out.
enum How {
    FreeForm,
    Template(Template),
    /// A notification outside the window with no template.
    Hold,
}

/// A firm may use this share of its number's pace (DESIGN section 10:
/// one firm's queue cannot hold up another's replies on a shared number).
pub const FIRM_SHARE: u32 = 4;

/// When each business number and each firm may send next: a number every
/// `1 / pace` seconds, a firm every `FIRM_SHARE / pace`.
#[derive(Debug)]
pub struct Pacing {
    gap_ms: u64,
    numbers: HashMap<String, u64>,
    firms: HashMap<Option<crate::domain::FirmId>, u64>,
    /// The time handed to each firm's last deferred row: deferred rows are
    /// spread at the firm's pace, not all due again at once.
    tails: HashMap<Option<crate::domain::FirmId>, u64>,
    /// Each firm's messages moved later and not sent yet, by seq.
    waiting: HashMap<Option<crate::domain::FirmId>, std::collections::BTreeSet<u64>>,
}

impl Pacing {
    pub fn new(pace_per_second: u32) -> Self {
        Self {
            gap_ms: 1000 / u64::from(pace_per_second.max(1)),
            numbers: HashMap::new(),
            firms: HashMap::new(),
            tails: HashMap::new(),
            waiting: HashMap::new(),
        }
    }

    /// Takes a send for `outbound` at `now_ms`, or says when to try again.
    ///
    /// A firm's messages keep their order: a message never overtakes an
    /// earlier one of its firm that was moved later (a client told "On
    /// Hold" then "Active" must not read them the other way round).
    pub fn try_take(&mut self, outbound: &Outbound, now_ms: u64) -> Result<(), u64> {
        let firm_gap = self.gap_ms * u64::from(FIRM_SHARE);
        let firm_free = self.firms.get(&outbound.firm).copied().unwrap_or(0);
        let behind = self
            .waiting
            .get(&outbound.firm)
            .and_then(|seqs| seqs.first())
            .is_some_and(|first| *first < outbound.seq);
        let was_waiting = self
            .waiting
            .get(&outbound.firm)
            .is_some_and(|seqs| seqs.contains(&outbound.seq));
        if firm_free > now_ms || behind {
            if was_waiting {
                // It holds a place already: keep it, without a new one at
                // the end of the line.
                return Err(firm_free.max(now_ms + 1));
            }
            let tail = self.tails.entry(outbound.firm).or_insert(0);
            *tail = (*tail).max(firm_free).max(now_ms) + firm_gap;
            self.waiting
                .entry(outbound.firm)
                .or_default()
                .insert(outbound.seq);
            return Err(*tail);
        }
        let number_free = self
            .numbers
            .get(&outbound.phone_number_id)
            .copied()
            .unwrap_or(0);
        if number_free > now_ms {
            self.waiting
                .entry(outbound.firm)
                .or_default()
                .insert(outbound.seq);
            return Err(number_free);
        }
        if let Some(seqs) = self.waiting.get_mut(&outbound.firm) {
            seqs.remove(&outbound.seq);
            if seqs.is_empty() {
                self.waiting.remove(&outbound.firm);
            }
        }
        self.numbers
            .insert(outbound.phone_number_id.clone(), now_ms + self.gap_ms);
        // Replies with no firm (strangers' hints) share one slot of their own.
        self.firms
            .insert(outbound.firm, now_ms + self.gap_ms * u64::from(FIRM_SHARE));
        // Forget what is long free, so the maps stay small.
        if self.numbers.len() + self.firms.len() > 4096 {
            self.numbers.retain(|_, at| *at > now_ms);
            self.firms.retain(|_, at| *at > now_ms);
            self.tails.retain(|_, at| *at > now_ms);
        }
        Ok(())
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
        let mut pacing = Pacing::new(self.pace_per_second);
        let mut halted = false;
        let mut seed = crate::clock::wall_ms() | 1;
        while !self.stop.load(Relaxed) {
            let due = match self
                .store
                .read()
                .and_then(|r| r.due(self.clock.now_ms(), BATCH))
            {
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
                        Duration::from_millis(at.saturating_sub(self.clock.now_ms()))
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
                // Paced by moving the row later, never by sleeping: one
                // number's or one firm's queue holds up no one else's.
                if let Err(at_ms) = pacing.try_take(&outbound, self.clock.now_ms()) {
                    results.push((outbound.seq, due_ms, Attempt::Paced { at_ms }));
                    continue;
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
                let mut step = next_step(verdict, outbound.attempts, self.clock.now_ms(), jitter);
                match (&step, &outbound.purpose, template) {
                    // Refused for the closed window: once more, as its template.
                    (Attempt::Failed { error }, Purpose::Notification { .. }, None)
                        if error.code == Some(WINDOW_CLOSED) =>
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
                    Attempt::Paced { .. } => "paced",
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
        // A row with no business number has no window to be inside.
        if !outbound.templated
            && let Some(number) = crate::domain::BusinessNumber::parse(&outbound.phone_number_id)
        {
            let last = reader.last_inbound(number.get(), outbound.to.as_str())?;
            if window_open(last, (self.clock.now_ms() / 1000) as i64) {
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
                    Err(err) => Verdict::Retry(SendError::other(format!("network: {err}"))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19, finding 6: one firm's 3,000 notifications held another
    /// firm's reply for 37.8 s, because the sender slept inline per number.
    #[test]
    fn one_firms_flood_holds_up_no_other_firms_reply() {
        use crate::domain::FirmId;
        let mut pacing = Pacing::new(DEFAULT_PACE);
        let flooder = FirmId::from_u128(1);
        let other = FirmId::from_u128(2);
        let seq = std::cell::Cell::new(0);
        let row = |firm, number: &str| {
            seq.set(seq.get() + 1);
            Outbound {
                seq: seq.get(),
                firm: Some(firm),
                phone_number_id: number.into(),
                ..Outbound::test_reply(0)
            }
        };
        let now = 1_000_000;
        // The flood, all due now on the shared number: one goes, the rest
        // are spread at the firm's share of the pace, never slept on.
        assert_eq!(pacing.try_take(&row(flooder, "1"), now), Ok(()));
        let firm_gap = 1000 / u64::from(DEFAULT_PACE) * u64::from(FIRM_SHARE);
        let deferred: Vec<u64> = (0..3000)
            .map(|_| pacing.try_take(&row(flooder, "1"), now).unwrap_err())
            .collect();
        assert_eq!(deferred[0], now + 2 * firm_gap);
        assert!(deferred.windows(2).all(|w| w[1] == w[0] + firm_gap));
        // Another firm on the same number waits one number gap at most.
        let number_gap = 1000 / u64::from(DEFAULT_PACE);
        let reply = row(other, "1");
        assert_eq!(pacing.try_take(&reply, now), Err(now + number_gap));
        assert_eq!(pacing.try_take(&reply, now + number_gap), Ok(()));
        // A firm on a number of its own does not wait at all.
        assert_eq!(
            pacing.try_take(&row(FirmId::from_u128(3), "2"), now),
            Ok(())
        );
    }

    /// A firm's messages keep their order when some are moved later: a
    /// new one never overtakes one that waits.
    #[test]
    fn a_firms_messages_keep_their_order_when_paced() {
        let mut pacing = Pacing::new(DEFAULT_PACE);
        let firm = Some(crate::domain::FirmId::from_u128(1));
        let row = |seq| Outbound {
            seq,
            firm,
            ..Outbound::test_reply(0)
        };
        let now = 1_000_000;
        assert_eq!(pacing.try_take(&row(1), now), Ok(()));
        // 2 is moved later; 3 comes when the firm's slot is free again, but
        // 2 still waits: 3 waits behind it.
        let at2 = pacing.try_take(&row(2), now).unwrap_err();
        let at3 = pacing.try_take(&row(3), at2 - 1).unwrap_err();
        assert!(at3 > at2, "{at3} ≤ {at2}");
        // 2 goes at its time; then 3 at its own.
        assert_eq!(pacing.try_take(&row(2), at2), Ok(()));
        assert_eq!(pacing.try_take(&row(3), at3), Ok(()));
    }

    fn error(code: i64) -> String {
        format!(r#"{{"error":{{"message":"m","type":"OAuthException","code":{code}}}}}"#)
    }

    #[test]
    fn answers_are_classified_by_error_code_not_http_status() {
        let ok = r#"{"messaging_product":"whatsapp","messages":[{"id":"wamid.OUT"}]}"#;
        assert_eq!(classify(200, ok), Verdict::Sent("wamid.OUT".into()));
        for code in [130429, 131057, 131000, 131016] {
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
            classify(400, &error(131056)),
            Verdict::PairLimit(_)
        ));
        assert!(matches!(
            classify(400, &error(131048)),
            Verdict::SpamLimit(_)
        ));
        assert!(matches!(
            classify(502, "<html>bad gateway</html>"),
            Verdict::Retry(_)
        ));
        assert!(matches!(classify(404, ""), Verdict::Final(_)));
        assert!(matches!(classify(200, "{}"), Verdict::Retry(_)));
    }

    #[test]
    fn retries_follow_the_schedule_then_fail() {
        let retry = || Verdict::Retry(SendError::graph(130429, ""));
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
            next_step(Verdict::Final(SendError::graph(131047, "")), 0, 0, 0.5),
            Attempt::Failed { .. }
        ));
    }

    /// Issue 22, DESIGN section 9: 131056 waits at least 6 s; 131048 is
    /// retried over hours, not given up; 190 uses up no attempt.
    #[test]
    fn rate_limits_and_an_expired_token_are_waited_out() {
        for attempts in 0..3 {
            let step = next_step(
                Verdict::PairLimit(SendError::graph(131056, "")),
                attempts,
                1_000,
                0.0,
            );
            let Attempt::RetryAt { at_ms, .. } = step else {
                panic!("{step:?}")
            };
            assert!(at_ms >= 1_000 + 6_000, "after {attempts} attempts: {at_ms}");
        }
        let spam = |attempts| {
            next_step(
                Verdict::SpamLimit(SendError::graph(131048, "")),
                attempts,
                0,
                0.5,
            )
        };
        let Attempt::RetryAt { at_ms, .. } = spam(0) else {
            panic!()
        };
        assert_eq!(at_ms, 5 * 60 * 1000, "minutes, not seconds");
        let Attempt::RetryAt { at_ms, .. } = spam(SPAM_SCHEDULE.len() as u32 - 1) else {
            panic!()
        };
        assert_eq!(at_ms, 12 * 3600 * 1000, "hours");
        let total: Duration = SPAM_SCHEDULE.iter().sum();
        assert!(total >= Duration::from_secs(24 * 3600), "{total:?}");
        assert!(matches!(
            spam(SPAM_SCHEDULE.len() as u32),
            Attempt::Failed { .. }
        ));
        // 190: due again later, no attempt counted, however many came before.
        assert_eq!(
            next_step(Verdict::Halt(SendError::graph(190, "")), 5, 1_000, 0.5),
            Attempt::Paced { at_ms: 1_000 }
        );
    }
}
