//! Retention (DESIGN §13): the message log and finished outbox rows are
//! kept `FIRMHOOK_RETAIN_DAYS` (90), the change feed and the audit events
//! `FIRMHOOK_EVENTS_RETAIN_DAYS` (365). The writer prunes a little at a
//! time ([`Writer::prune_retained`]), inside an ordinary commit, so no
//! commit stalls however much is due.
//!
//! Every table pruned here is keyed by a sequence that grows with time, so
//! the oldest rows are the first keys: a pass reads from the front and
//! stops at the first row young enough to keep. Two rules keep sequences
//! meaning what they meant:
//! - the newest row of each table (of each firm, for the message log) is
//!   never pruned, so a sequence is never handed out twice (the next one
//!   is the last plus one) and API cursors stay valid;
//! - outbox rows still pending or held are never pruned, however old.
//!
//! Where a pass got to is kept in [`Cursor`], in the writer's memory: rows
//! passed over (pending then) are looked at again after a restart.

use redb::{ReadableTable, ReadableTableMetadata};

use super::Error;
use super::codec;
use super::outbox::{Event as AuditEvent, Outbound, State};
use super::write::Writer;
use crate::domain::event::{Event, Logged};

/// How long rows are kept, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The message log and finished outbox rows.
    pub messages: i64,
    /// The change feed and the audit events.
    pub events: i64,
}

pub const DAY: i64 = 86_400;

impl Default for Retention {
    fn default() -> Self {
        Self {
            messages: 90 * DAY,
            events: 365 * DAY,
        }
    }
}

/// Where the next pass starts.
#[derive(Debug, Default, Clone)]
pub struct Cursor {
    /// The next firm whose message log is looked at.
    firm: u128,
    /// The first outbox seq not yet looked at.
    outbox: u64,
}

/// What one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub messages: usize,
    pub outbox: usize,
    pub feed: usize,
    pub events: usize,
}

impl Pruned {
    pub fn total(&self) -> usize {
        self.messages + self.outbox + self.feed + self.events
    }
}

/// Firms whose message log one pass looks at, at most.
const FIRMS_PER_PASS: usize = 16;

impl Writer<'_> {
    /// Removes rows older than `retention` at `now` (Unix seconds), at most
    /// `limit` from each table.
    pub fn prune_retained(
        &mut self,
        now: i64,
        retention: Retention,
        cursor: &mut Cursor,
        limit: usize,
    ) -> Result<Pruned, Error> {
        Ok(Pruned {
            messages: self.prune_message_log(now - retention.messages, cursor, limit)?,
            outbox: self.prune_outbox(now - retention.messages, cursor, limit)?,
            feed: self.prune_feed(now - retention.events, limit)?,
            events: self.prune_audit(now - retention.events, limit)?,
        })
    }

    /// A few firms' oldest log entries, round-robin over the firms.
    fn prune_message_log(
        &mut self,
        cutoff: i64,
        cursor: &mut Cursor,
        limit: usize,
    ) -> Result<usize, Error> {
        let mut removed = 0;
        for _ in 0..FIRMS_PER_PASS {
            // The next firm with a log, from the cursor on (wrapping).
            let next = match self.message_log.read()?.range((cursor.firm, 0)..)?.next() {
                Some(entry) => Some(entry?.0.value().0),
                None if cursor.firm == 0 => None,
                None => {
                    cursor.firm = 0;
                    continue;
                }
            };
            let Some(firm) = next else { break };
            let Some(last) = self
                .message_log
                .read()?
                .range((firm, 0)..=(firm, u64::MAX))?
                .next_back()
                .transpose()?
                .map(|(k, _)| k.value().1)
            else {
                break;
            };
            let mut old = Vec::new();
            for entry in self.message_log.read()?.range((firm, 0)..(firm, last))? {
                let (key, value) = entry?;
                let (_, seq) = key.value();
                let logged: Logged = codec::decode(key.value(), value.value())?;
                if logged.at.unix_seconds() >= cutoff || removed + old.len() >= limit {
                    break;
                }
                old.push(seq);
            }
            for seq in &old {
                self.message_log.write()?.remove((firm, *seq))?;
            }
            removed += old.len();
            if removed >= limit {
                cursor.firm = firm; // more may be due here
                break;
            }
            cursor.firm = firm.wrapping_add(1);
        }
        Ok(removed)
    }

    /// Finished outbox rows, oldest first; pending and held ones stay.
    fn prune_outbox(
        &mut self,
        cutoff: i64,
        cursor: &mut Cursor,
        limit: usize,
    ) -> Result<usize, Error> {
        let Some(last) = self.outbox.read()?.last()?.map(|(k, _)| k.value()) else {
            return Ok(0);
        };
        let mut old: Vec<(u64, Option<String>)> = Vec::new();
        let mut next = cursor.outbox;
        for entry in self.outbox.read()?.range(cursor.outbox..last)?.take(limit) {
            let (key, value) = entry?;
            let seq = key.value();
            // A row that does not decode is the sender's to quarantine.
            let Ok(row) = codec::decode::<Outbound>(seq, value.value()) else {
                next = seq + 1;
                continue;
            };
            if row.created_at >= cutoff {
                break;
            }
            next = seq + 1;
            if matches!(row.state, State::Pending | State::Held) {
                continue;
            }
            old.push((seq, row.wamid));
        }
        cursor.outbox = next;
        for (seq, wamid) in &old {
            self.outbox.write()?.remove(*seq)?;
            self.outbox_firm.write()?.remove(*seq)?;
            if let Some(wamid) = wamid {
                self.outbound_wamid.write()?.remove(wamid.as_str())?;
            }
        }
        Ok(old.len())
    }

    /// The change feed's oldest events.
    fn prune_feed(&mut self, cutoff: i64, limit: usize) -> Result<usize, Error> {
        let Some(last) = self.feed.read()?.last()?.map(|(k, _)| k.value()) else {
            return Ok(0);
        };
        let mut old = Vec::new();
        for entry in self.feed.read()?.range(..last)?.take(limit) {
            let (key, value) = entry?;
            let event: Event = codec::decode(key.value(), value.value())?;
            if event.at.unix_seconds() >= cutoff {
                break;
            }
            old.push((event.firm.to_u128(), key.value()));
        }
        for (firm, seq) in &old {
            self.feed.write()?.remove(*seq)?;
            self.feed_by_firm.write()?.remove((*firm, *seq))?;
        }
        Ok(old.len())
    }

    /// The audit trail's oldest events.
    fn prune_audit(&mut self, cutoff: i64, limit: usize) -> Result<usize, Error> {
        let Some(last) = self.events.read()?.last()?.map(|(k, _)| k.value()) else {
            return Ok(0);
        };
        let mut old = Vec::new();
        for entry in self.events.read()?.range(..last)?.take(limit) {
            let (key, value) = entry?;
            let event: AuditEvent = codec::decode(key.value(), value.value())?;
            if event.at >= cutoff {
                break;
            }
            old.push(key.value());
        }
        for seq in &old {
            self.events.write()?.remove(*seq)?;
        }
        Ok(old.len())
    }

    /// Rows in the tables retention prunes (for tests and `/metrics`).
    pub fn retained_rows(&self) -> Result<[u64; 4], Error> {
        Ok([
            self.message_log.read()?.len()?,
            self.outbox.read()?.len()?,
            self.feed.read()?.len()?,
            self.events.read()?.len()?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Attempt, Store};

    #[test]
    fn a_pruned_reply_takes_its_older_formats_firm_row_with_it() {
        let store = Store::in_memory().unwrap();
        let now = 1_000 * DAY;
        store
            .write(|w| {
                for at in [now - 100 * DAY, now] {
                    let seq = w.enqueue(&Outbound::test_reply(at), 0)?;
                    w.settle(
                        seq,
                        0,
                        &Attempt::Sent {
                            wamid: format!("wamid.{seq}"),
                        },
                    )?;
                    // Where formats before 4 kept a reply's firm.
                    w.outbox_firm.write()?.insert(seq, 7)?;
                }
                Ok::<_, Error>(())
            })
            .unwrap();
        let pruned = store
            .write(|w| w.prune_retained(now, Retention::default(), &mut Cursor::default(), 256))
            .unwrap();
        assert_eq!(pruned.outbox, 1);
        store
            .write(|w| {
                assert_eq!(w.outbox_firm(1)?, None, "gone with its row");
                assert_eq!(w.outbox_firm(2)?.map(|f| f.to_u128()), Some(7));
                Ok::<_, Error>(())
            })
            .unwrap();
    }
}
