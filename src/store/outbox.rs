//! The outbox, seen messages, BSUID links, hints and the audit trail: the
//! records the webhook writes beside the firm data.
//!
//! A reply is queued in the same transaction as the inbound message that
//! caused it and stays in `OUTBOX_DUE` until the Graph API accepts it or it
//! fails for good; its delivery state then only moves forward (a late
//! `sent` never overwrites `read`).

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::domain::{FirmId, Phone};
use crate::whatsapp::inbound::DeliveryState;

use super::codec::{self, Record};
pub use super::stored::{Outbound, State};
use super::tables::*;
use super::write::{Lazy, Next};
use super::{Error, Reader, Writer};
use crate::notify::Purpose;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(skip)]
    pub seq: u64,
    pub at: i64,
    pub firm: Option<FirmId>,
    /// Who caused it: the sender as received.
    pub actor: String,
    pub wamid: String,
    pub what: String,
}

impl Record for Event {
    const VERSION: u8 = 1;
    const NAME: &'static str = "event";
    type Key = u64;
    fn fill_key(&mut self, seq: u64) {
        self.seq = seq;
    }
}

/// What became of one send attempt, as the sender reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Sent {
        wamid: String,
    },
    RetryAt {
        at_ms: u64,
        error: SendError,
    },
    Failed {
        error: SendError,
    },
    /// The row could not be decoded: move it out of the queue.
    Quarantine {
        error: String,
    },
    /// A notification outside the window with no template: hold it until
    /// the person writes again.
    Held,
    /// A free-form notification refused with 131047: send it as its
    /// template instead (or hold it), now.
    Switch {
        error: SendError,
    },
    /// Accepted as its template.
    SentTemplate {
        wamid: String,
    },
    /// Not tried: its business number or its firm has used its pace for
    /// now. Due again at `at_ms`; no attempt is counted.
    Paced {
        at_ms: u64,
    },
}

/// Why a send did not go: the Graph API's error code when it gave one (a
/// field, never read back out of the text), and the text kept on the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub code: Option<i64>,
    pub text: String,
}

impl SendError {
    /// An error with no Graph API code (the network, an HTTP status).
    pub fn other(text: impl Into<String>) -> Self {
        Self {
            code: None,
            text: text.into(),
        }
    }

    /// The Graph API's error `code`, with its message.
    pub fn graph(code: i64, message: &str) -> Self {
        Self {
            code: Some(code),
            text: format!("error {code}: {message}"),
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The Graph API's error for a free-form message outside the window.
pub const WINDOW_CLOSED: i64 = 131047;

/// Seen wamids are kept at least this long (Meta retries for 7 days).
pub const SEEN_KEEP_SECONDS: u64 = 8 * 24 * 3600;

/// What [`Writer::link_bsuid`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    New,
    Known,
    /// The BSUID is linked to this other phone; the link was kept.
    Conflict(Phone),
}

/// A wamid's key in the seen log: the first 16 bytes of its SHA-256 (two
/// different wamids share one with a chance of 2^-128).
pub fn wamid_key(wamid: &str) -> u128 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(wamid.as_bytes());
    u128::from_be_bytes(digest[..16].try_into().expect("16 of 32 bytes"))
}

/// The keys of one row of the seen log (a trailing part shorter than a
/// key, which no build writes, is ignored).
fn batch_keys(bytes: &[u8]) -> impl Iterator<Item = u128> + '_ {
    bytes
        .chunks_exact(16)
        .map(|key| u128::from_be_bytes(key.try_into().expect("16 bytes")))
}

impl Writer<'_> {
    /// Appends the keys ([`wamid_key`]) of the wamids one commit processed
    /// to the seen log as one row, at `at` or, if the clock went back, at
    /// the log's last time: the log only ever grows at its end.
    pub fn log_seen(&mut self, keys: &[u128], at: u64) -> Result<(), Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let last = self.seen_batches.read()?.last()?.map(|(k, _)| k.value());
        let (at, seq) = match last {
            Some((last_at, seq)) => (at.max(last_at), seq + 1),
            None => (at, 0),
        };
        let bytes: Vec<u8> = keys.iter().flat_map(|key| key.to_be_bytes()).collect();
        self.seen_batches
            .write()?
            .insert((at, seq), bytes.as_slice())?;
        Ok(())
    }

    /// [`log_seen`](Self::log_seen) of one wamid (tests and tools).
    pub fn mark_seen(&mut self, wamid: &str, at: u64) -> Result<(), Error> {
        self.log_seen(&[wamid_key(wamid)], at)
    }

    /// Every processed wamid's key still kept: the seen log's and the older
    /// formats' (read once, by the writer thread, when it starts).
    pub fn seen_keys(&self) -> Result<Vec<u128>, Error> {
        let mut keys = Vec::new();
        for entry in self.seen_batches.read()?.iter()? {
            keys.extend(batch_keys(entry?.1.value()));
        }
        for entry in self.seen_log.read()?.iter()? {
            keys.push(entry?.1.value());
        }
        for entry in self.seen.read()?.iter()? {
            keys.push(wamid_key(entry?.0.value()));
        }
        Ok(keys)
    }

    /// Forgets processed wamids older than `keep` seconds, at most `limit`
    /// rows from the log and from each older format's tables; returns
    /// their keys.
    pub fn prune_seen(&mut self, now: u64, keep: u64, limit: usize) -> Result<Vec<u128>, Error> {
        let cutoff = now.saturating_sub(keep);
        let mut batches: Vec<(u64, u64)> = Vec::new();
        let mut keys: Vec<u128> = Vec::new();
        for entry in self.seen_batches.read()?.range(..(cutoff, 0))?.take(limit) {
            let (key, value) = entry?;
            batches.push(key.value());
            keys.extend(batch_keys(value.value()));
        }
        for key in batches {
            self.seen_batches.write()?.remove(key)?;
        }
        // Format 3's log, until it is empty.
        let mut old: Vec<((u64, u64), u128)> = Vec::new();
        for entry in self.seen_log.read()?.range(..(cutoff, 0))?.take(limit) {
            let (key, value) = entry?;
            old.push((key.value(), value.value()));
        }
        for (key, _) in &old {
            self.seen_log.write()?.remove(*key)?;
        }
        keys.extend(old.into_iter().map(|(_, key)| key));
        // The first formats' tables, until they are empty.
        let mut legacy: Vec<(u64, String)> = Vec::new();
        for entry in self
            .seen_by_time
            .read()?
            .range((0, "")..(cutoff, ""))?
            .take(limit)
        {
            let key = entry?.0;
            let (at, wamid) = key.value();
            legacy.push((at, wamid.to_owned()));
        }
        for (at, wamid) in &legacy {
            self.seen_by_time.write()?.remove((*at, wamid.as_str()))?;
            self.seen.write()?.remove(wamid.as_str())?;
            keys.push(wamid_key(wamid));
        }
        Ok(keys)
    }

    /// Remembers that `bsuid` is `phone`, unless it is already linked to
    /// another phone: a link is never silently replaced (identity is never
    /// guessed), and the caller hears of the conflict.
    pub fn link_bsuid(&mut self, bsuid: &str, phone: Phone) -> Result<Link, Error> {
        let current = self.bsuid_phone.read()?.get(bsuid)?.map(|g| g.value());
        match current {
            Some(linked) if linked == phone.to_u64() => Ok(Link::Known),
            Some(linked) => Ok(Link::Conflict(Phone::from_u64(linked))),
            None => {
                self.bsuid_phone.write()?.insert(bsuid, phone.to_u64())?;
                Ok(Link::New)
            }
        }
    }

    pub fn bsuid_phone(&self, bsuid: &str) -> Result<Option<Phone>, Error> {
        Ok(self
            .bsuid_phone
            .read()?
            .get(bsuid)?
            .map(|g| Phone::from_u64(g.value())))
    }

    pub fn record_hint(&mut self, sender: &str, at: i64) -> Result<(), Error> {
        if let Some(before) = self.hints.write()?.insert(sender, at)?.map(|g| g.value()) {
            self.hints_by_time.write()?.remove((before, sender))?;
        }
        self.hints_by_time.write()?.insert((at, sender), ())?;
        Ok(())
    }

    /// Forgets registration hints sent before `cutoff` (they no longer hold
    /// anything back), at most `limit` of them; returns how many went.
    pub fn prune_hints(&mut self, cutoff: i64, limit: usize) -> Result<usize, Error> {
        let mut old: Vec<(i64, String)> = Vec::new();
        for entry in self
            .hints_by_time
            .read()?
            .range((i64::MIN, "")..(cutoff, ""))?
            .take(limit)
        {
            let key = entry?.0;
            let (at, sender) = key.value();
            old.push((at, sender.to_owned()));
        }
        for (at, sender) in &old {
            self.hints_by_time.write()?.remove((*at, sender.as_str()))?;
            self.hints.write()?.remove(sender.as_str())?;
        }
        Ok(old.len())
    }

    /// Queues a reply, due now; returns its seq.
    pub fn enqueue(&mut self, outbound: &Outbound, now_ms: u64) -> Result<u64, Error> {
        let seq = Next::take(&mut self.next.outbox, || last_key(&self.outbox))?;
        self.outbox
            .write()?
            .insert(seq, codec::encode(outbound).as_slice())?;
        self.outbox_due.write()?.insert((now_ms, seq), ())?;
        Ok(seq)
    }

    pub fn record_event(&mut self, event: &Event) -> Result<u64, Error> {
        let seq = Next::take(&mut self.next.events, || last_key(&self.events))?;
        self.events
            .write()?
            .insert(seq, codec::encode(event).as_slice())?;
        Ok(seq)
    }

    /// Moves an outbox row that cannot be decoded out of the way: its bytes
    /// to `QUARANTINE`, its due entry gone, so it never stalls the queue.
    pub fn quarantine(&mut self, seq: u64, due_ms: Option<u64>, why: &str) -> Result<(), Error> {
        tracing::error!(seq, error = why, "outbox row does not decode; quarantined");
        if let Some(due_ms) = due_ms {
            self.outbox_due.write()?.remove((due_ms, seq))?;
        }
        let raw = self
            .outbox
            .write()?
            .remove(seq)?
            .map(|g| g.value().to_vec());
        if let Some(raw) = raw {
            self.quarantine.write()?.insert(seq, raw.as_slice())?;
        }
        Ok(())
    }

    /// A row that decodes, `None` if missing; an undecodable one is
    /// quarantined and read as missing.
    fn outbound_or_quarantine(
        &mut self,
        seq: u64,
        due_ms: Option<u64>,
    ) -> Result<Option<Outbound>, Error> {
        match self.outbound(seq) {
            Err(Error::Corrupt(why)) => {
                self.quarantine(seq, due_ms, &why)?;
                Ok(None)
            }
            other => other,
        }
    }

    /// Applies one send attempt's result to the reply that was due at `due_ms`.
    pub fn settle(&mut self, seq: u64, due_ms: u64, attempt: &Attempt) -> Result<(), Error> {
        if let Attempt::Quarantine { error } = attempt {
            return self.quarantine(seq, Some(due_ms), error);
        }
        let Some(mut outbound) = self.outbound_or_quarantine(seq, Some(due_ms))? else {
            return Ok(());
        };
        if let Attempt::Paced { at_ms } = attempt {
            let due = self.outbox_due.write()?;
            due.remove((due_ms, seq))?;
            due.insert((*at_ms, seq), ())?;
            return Ok(());
        }
        if let Attempt::Held = attempt {
            self.hold(&mut outbound, due_ms)?;
            self.outbox
                .write()?
                .insert(seq, codec::encode(&outbound).as_slice())?;
            return Ok(());
        }
        self.outbox_due.write()?.remove((due_ms, seq))?;
        outbound.attempts += 1;
        match attempt {
            Attempt::Sent { wamid } | Attempt::SentTemplate { wamid } => {
                if let Attempt::SentTemplate { .. } = attempt {
                    outbound.templated = true;
                }
                outbound.state = outbound.state.max(State::Sent);
                outbound.wamid = Some(wamid.clone());
                outbound.last_error = None;
                self.outbound_wamid.write()?.insert(wamid.as_str(), seq)?;
            }
            Attempt::RetryAt { at_ms, error } => {
                outbound.last_error = Some(error.text.clone());
                self.outbox_due.write()?.insert((*at_ms, seq), ())?;
            }
            Attempt::Failed { error } => {
                outbound.state = State::Failed;
                outbound.last_error = Some(error.text.clone());
            }
            Attempt::Switch { error } => {
                outbound.templated = true;
                outbound.last_error = Some(error.text.clone());
                self.outbox_due.write()?.insert((due_ms, seq), ())?;
            }
            // Each of these returned above, before the row was touched.
            Attempt::Quarantine { .. } | Attempt::Held | Attempt::Paced { .. } => {
                unreachable!("handled above")
            }
        }
        self.outbox
            .write()?
            .insert(seq, codec::encode(&outbound).as_slice())?;
        Ok(())
    }

    /// A status webhook: moves the reply's state forward only. Returns
    /// whether the wamid was one of ours.
    ///
    /// A `failed` status with an error code is a send attempt that ended
    /// late: `retry(code, attempts_before)` says what the sender would do
    /// had the Graph API answered it at once (DESIGN section 9), and the
    /// row is queued again at that time (`RetryAt`; `Paced`, for 190, uses
    /// up no attempt), or stays failed.
    pub fn delivery_status(
        &mut self,
        wamid: &str,
        state: DeliveryState,
        error_code: Option<i64>,
        now_ms: u64,
        retry: &dyn Fn(i64, u32) -> Attempt,
    ) -> Result<bool, Error> {
        let Some(seq) = self.outbound_wamid.read()?.get(wamid)?.map(|g| g.value()) else {
            return Ok(false);
        };
        let Some(mut outbound) = self.outbound_or_quarantine(seq, None)? else {
            return Ok(false);
        };
        // A status of a send this row has moved on from (the free-form
        // attempt before its template): nothing to do.
        if outbound.wamid.as_deref() != Some(wamid) {
            return Ok(true);
        }
        // A free-form notification refused for the closed window: once, as
        // its template (or held), however often the status is redelivered.
        if state == DeliveryState::Failed
            && error_code == Some(WINDOW_CLOSED)
            && !outbound.templated
            && matches!(outbound.purpose, Purpose::Notification { .. })
        {
            outbound.templated = true;
            self.requeue(seq, &mut outbound, WINDOW_CLOSED, now_ms)?;
            return Ok(true);
        }
        if state == DeliveryState::Failed
            && let Some(code) = error_code
            && code != WINDOW_CLOSED
        {
            let (at_ms, used) = match retry(code, outbound.attempts.saturating_sub(1)) {
                Attempt::RetryAt { at_ms, .. } => (Some(at_ms), true),
                Attempt::Paced { at_ms } => (Some(at_ms), false),
                _ => (None, true),
            };
            if let Some(at_ms) = at_ms {
                if !used {
                    outbound.attempts = outbound.attempts.saturating_sub(1);
                }
                self.requeue(seq, &mut outbound, code, at_ms)?;
                return Ok(true);
            }
        }
        let next = State::from_delivery(state);
        if next > outbound.state {
            outbound.state = next;
            if let Some(code) = error_code {
                outbound.last_error = Some(format!("delivery failed: error {code}"));
            }
            self.outbox
                .write()?
                .insert(seq, codec::encode(&outbound).as_slice())?;
        }
        Ok(true)
    }

    /// A send that failed later (a `failed` status with `code`) goes back
    /// in the queue, due at `due_ms`, to be sent anew.
    fn requeue(
        &mut self,
        seq: u64,
        outbound: &mut Outbound,
        code: i64,
        due_ms: u64,
    ) -> Result<(), Error> {
        outbound.state = State::Pending;
        outbound.wamid = None;
        outbound.last_error = Some(format!("delivery failed: error {code}"));
        self.outbox
            .write()?
            .insert(seq, codec::encode(&*outbound).as_slice())?;
        self.outbox_due.write()?.insert((due_ms, seq), ())?;
        Ok(())
    }

    /// A queued reply as the writer's transaction sees it.
    pub fn outbound_row(&self, seq: u64) -> Result<Option<Outbound>, Error> {
        self.outbound(seq)
    }

    fn outbound(&self, seq: u64) -> Result<Option<Outbound>, Error> {
        self.outbox
            .read()?
            .get(seq)?
            .map(|g| codec::decode(seq, g.value()))
            .transpose()
    }
}

/// The last key of a table keyed by seq.
pub(super) fn last_key(table: &Lazy<u64, Bytes>) -> Result<Option<u64>, Error> {
    Ok(table.read()?.last()?.map(|(k, _)| k.value()))
}

impl Reader {
    /// Replies due at or before `now_ms`, soonest first: (due_ms, reply).
    /// A row that does not decode comes back as `Err((seq, why))`, for the
    /// sender to have it quarantined: one bad row never stalls the queue.
    #[allow(clippy::type_complexity)]
    pub fn due(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Result<Outbound, (u64, String)>)>, Error> {
        let due = self.table(OUTBOX_DUE)?;
        let outbox = self.table(OUTBOX)?;
        let mut out = Vec::new();
        for entry in due.range((0, 0)..=(now_ms, u64::MAX))?.take(limit) {
            let (at, seq) = entry?.0.value();
            match outbox.get(seq)? {
                Some(g) => match codec::decode(seq, g.value()) {
                    Ok(outbound) => out.push((at, Ok(outbound))),
                    Err(Error::Corrupt(why)) => out.push((at, Err((seq, why)))),
                    Err(err) => return Err(err),
                },
                // A due entry whose row is gone: settle it away.
                None => out.push((at, Err((seq, "no outbox row".to_owned())))),
            }
        }
        Ok(out)
    }

    /// When the next reply falls due, if any (Unix ms).
    pub fn next_due(&self) -> Result<Option<u64>, Error> {
        Ok(self.table(OUTBOX_DUE)?.first()?.map(|(k, _)| k.value().0))
    }

    /// How many replies wait to be sent.
    pub fn outbox_depth(&self) -> Result<u64, Error> {
        Ok(redb::ReadableTableMetadata::len(&self.table(OUTBOX_DUE)?)?)
    }

    /// Replies after `after` (a seq), for `to` if given, oldest first.
    pub fn outbox_after(
        &self,
        after: u64,
        to: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Outbound>, Error> {
        let outbox = self.table(OUTBOX)?;
        let mut out = Vec::new();
        for entry in outbox.range(after.saturating_add(1)..)? {
            let (seq, value) = entry?;
            // An undecodable row is skipped here; the sender sets it aside.
            let Ok(outbound) = codec::decode::<Outbound>(seq.value(), value.value()) else {
                continue;
            };
            if to.is_none_or(|to| outbound.to.as_str() == to) {
                out.push(outbound);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The newest `limit` replies, newest first (undecodable rows skipped).
    pub fn recent_outbound(&self, limit: usize) -> Result<Vec<Outbound>, Error> {
        let mut out = Vec::new();
        for entry in self.table(OUTBOX)?.iter()?.rev().take(limit) {
            let (seq, value) = entry?;
            if let Ok(outbound) = codec::decode::<Outbound>(seq.value(), value.value()) {
                out.push(outbound);
            }
        }
        Ok(out)
    }

    pub fn outbound(&self, seq: u64) -> Result<Option<Outbound>, Error> {
        self.table(OUTBOX)?
            .get(seq)?
            .map(|g| codec::decode(seq, g.value()))
            .transpose()
    }

    pub fn bsuid_phone(&self, bsuid: &str) -> Result<Option<Phone>, Error> {
        Ok(self
            .table(BSUID_PHONE)?
            .get(bsuid)?
            .map(|g| Phone::from_u64(g.value())))
    }

    /// Whether `wamid` was processed (a scan of the seen log: for tests
    /// and tools; the writer answers from memory).
    pub fn is_seen(&self, wamid: &str) -> Result<bool, Error> {
        if let Some(old) = self.table_if_exists(SEEN)?
            && old.get(wamid)?.is_some()
        {
            return Ok(true);
        }
        let key = wamid_key(wamid);
        if let Some(log) = self.table_if_exists(SEEN_LOG)? {
            for entry in log.iter()? {
                if entry?.1.value() == key {
                    return Ok(true);
                }
            }
        }
        if let Some(log) = self.table_if_exists(SEEN_BATCHES)? {
            for entry in log.iter()? {
                if batch_keys(entry?.1.value()).any(|k| k == key) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The audit trail, oldest first.
    pub fn events(&self) -> Result<Vec<Event>, Error> {
        let mut out = Vec::new();
        for entry in self.table(EVENTS)?.iter()? {
            let (seq, value) = entry?;
            out.push(codec::decode(seq.value(), value.value())?);
        }
        Ok(out)
    }
}

#[cfg(test)]
impl Outbound {
    /// A pending reply to 447911123401 created at `created_at`, for the
    /// store's unit tests.
    pub(crate) fn test_reply(created_at: i64) -> Self {
        Outbound {
            seq: 0,
            phone_number_id: "1".into(),
            to: crate::whatsapp::outbound::Recipient::WaId("447911123401".into()),
            body: crate::whatsapp::outbound::Body::text("hi"),
            in_reply_to: "wamid.in".into(),
            created_at,
            attempts: 0,
            state: State::Pending,
            wamid: None,
            last_error: None,
            purpose: Purpose::Reply,
            templated: false,
            firm: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::whatsapp::outbound::Body;

    #[test]
    fn seen_wamids_are_kept_eight_days_then_pruned() {
        let store = Store::in_memory().unwrap();
        let day = 24 * 3600;
        let now = 100 * day;
        store
            .write(|w| {
                // One commit's batch: one row, pruned as one.
                let batch = [wamid_key("wamid.old"), wamid_key("wamid.old.2")];
                w.log_seen(&batch, now - 9 * day)?;
                w.mark_seen("wamid.week", now - 7 * day)?;
                w.mark_seen("wamid.new", now)?;
                // The clock went back: logged at the last time, not before.
                w.mark_seen("wamid.late", now - 20 * day)?;
                // Nothing processed, nothing logged.
                w.log_seen(&[], now)?;
                // Format 3's log and the first formats' tables, as an
                // upgraded file has them.
                for (i, (wamid, at)) in [("wamid.v3.old", now - 9 * day), ("wamid.v3.new", now)]
                    .into_iter()
                    .enumerate()
                {
                    w.seen_log
                        .write()?
                        .insert((at, i as u64), wamid_key(wamid))?;
                }
                for (wamid, at) in [("wamid.v2.old", now - 9 * day), ("wamid.v2.new", now)] {
                    w.seen.write()?.insert(wamid, at)?;
                    w.seen_by_time.write()?.insert((at, wamid), ())?;
                }
                Ok::<_, Error>(())
            })
            .unwrap();
        let keys = store.write(|w| w.seen_keys()).unwrap();
        assert_eq!(keys.len(), 9);
        assert!(keys.contains(&wamid_key("wamid.v2.new")));
        assert!(keys.contains(&wamid_key("wamid.v3.new")));
        let rows = store
            .write(|w| {
                use redb::ReadableTableMetadata;
                Ok::<_, Error>(w.seen_batches.read()?.len()?)
            })
            .unwrap();
        assert_eq!(rows, 4, "one row per batch");
        let pruned = store
            .write(|w| w.prune_seen(now, SEEN_KEEP_SECONDS, 100))
            .unwrap();
        assert_eq!(
            pruned,
            [
                wamid_key("wamid.old"),
                wamid_key("wamid.old.2"),
                wamid_key("wamid.v3.old"),
                wamid_key("wamid.v2.old")
            ]
        );
        let reader = store.read().unwrap();
        for gone in ["wamid.old", "wamid.old.2", "wamid.v3.old", "wamid.v2.old"] {
            assert!(!reader.is_seen(gone).unwrap(), "{gone}");
        }
        for kept in [
            "wamid.week",
            "wamid.new",
            "wamid.late",
            "wamid.v3.new",
            "wamid.v2.new",
        ] {
            assert!(reader.is_seen(kept).unwrap(), "{kept}");
        }
        let (_, problems) = crate::store::check(&reader).unwrap();
        assert_eq!(problems, vec![]);
    }

    #[test]
    fn registration_hints_are_pruned_once_they_hold_nothing_back() {
        use crate::flow::Data;
        use redb::ReadableTableMetadata;
        let store = Store::in_memory().unwrap();
        store
            .write(|w| {
                w.record_hint("447911000001", 1_000)?;
                w.record_hint("447911000002", 1_000)?;
                // Hinted again later: only the newer time counts.
                w.record_hint("447911000002", 5_000)?;
                w.record_hint("US.3", 9_000)
            })
            .unwrap();
        let pruned = store.write(|w| w.prune_hints(6_000, 100)).unwrap();
        assert_eq!(pruned, 2);
        store
            .write(|w| {
                assert_eq!(w.last_hint("447911000001")?, None);
                assert_eq!(w.last_hint("447911000002")?, None);
                assert_eq!(w.last_hint("US.3")?, Some(9_000));
                assert_eq!(w.hints_by_time.read()?.len()?, 1);
                Ok::<_, Error>(())
            })
            .unwrap();
    }

    #[test]
    fn a_reply_names_its_firm_in_its_row_and_older_rows_in_outbox_firm() {
        let store = Store::in_memory().unwrap();
        let firm = FirmId::from_u128(7);
        let reply = |firm| Outbound {
            firm,
            ..Outbound::test_reply(0)
        };
        let (own, none, old) = store
            .write(|w| {
                let own = w.enqueue(&reply(Some(firm)), 5)?;
                let none = w.enqueue(&reply(None), 5)?;
                // A row as format 3 wrote it: version 2, its firm beside it.
                let old = 100;
                let v2 = crate::store::stored::Outbound2::from(reply(None));
                let mut bytes = vec![2];
                bytes.extend(postcard::to_allocvec(&v2).unwrap());
                w.outbox.write()?.insert(old, bytes.as_slice())?;
                w.outbox_firm.write()?.insert(old, firm.to_u128())?;
                Ok::<_, Error>((own, none, old))
            })
            .unwrap();
        store
            .write(|w| {
                assert_eq!(w.outbox_firm(own)?, Some(firm));
                assert_eq!(w.outbox_firm(none)?, None);
                assert_eq!(w.outbox_firm(old)?, Some(firm));
                assert_eq!(w.outbound_row(old)?.unwrap().body, Body::text("hi"));
                use redb::ReadableTableMetadata;
                assert_eq!(
                    w.outbox_firm.read()?.len()?,
                    1,
                    "new rows need no side table"
                );
                Ok::<_, Error>(())
            })
            .unwrap();
    }

    #[test]
    fn delivery_state_never_moves_backwards() {
        let store = Store::in_memory().unwrap();
        let outbound = Outbound::test_reply(0);
        let seq = store.write(|w| w.enqueue(&outbound, 5)).unwrap();
        store
            .write(|w| {
                w.settle(
                    seq,
                    5,
                    &Attempt::Sent {
                        wamid: "wamid.out".into(),
                    },
                )?;
                let never = |_, _| Attempt::Held;
                w.delivery_status("wamid.out", DeliveryState::Read, None, 0, &never)?;
                w.delivery_status("wamid.out", DeliveryState::Delivered, None, 0, &never)?;
                w.delivery_status("wamid.out", DeliveryState::Sent, None, 0, &never)
            })
            .unwrap();
        let reader = store.read().unwrap();
        let stored = reader.outbound(seq).unwrap().unwrap();
        assert_eq!((stored.state, stored.attempts), (State::Read, 1));
        assert_eq!(reader.outbox_depth().unwrap(), 0);
    }
}
