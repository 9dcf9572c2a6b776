//! The 24-hour window's records: each person's last message per business
//! number, the notifications held while their window is closed, and the
//! template settings that reach them anyway (DESIGN section 12).

use redb::ReadableTable;

use super::codec::{self, Record};
use super::outbox::{Outbound, State};
use super::read::Reader;
use super::tables::*;
use super::{Error, Writer};
use crate::domain::{BusinessNumber, FirmId};
use crate::notify::{Template, TemplateKind};

impl Record for Template {
    const VERSION: u8 = 1;
    const NAME: &'static str = "template setting";
    type Key = (u128, u8);
    fn fill_key(&mut self, _key: (u128, u8)) {}
}

/// The key of a template setting: the firm, or 0 for the default.
fn template_key(firm: Option<FirmId>, kind: TemplateKind) -> (u128, u8) {
    (firm.map_or(0, FirmId::to_u128), kind.to_u8())
}

/// How much newer a person's message must be than the time kept for them
/// before it is written (see [`Writer::record_inbound`]).
pub const INBOUND_REFRESH_SECONDS: i64 = 60;

impl Writer<'_> {
    /// Records that `who` wrote to `number` at `at` (the message's own
    /// timestamp); an older, redelivered message never moves it back.
    ///
    /// A time less than [`INBOUND_REFRESH_SECONDS`] newer than the one
    /// kept is not written: the messages of a conversation cost one write
    /// a minute, not one each (a row keyed by person is a page of its own
    /// in most commits). The kept time trails the last message by less
    /// than that, and the window is closed 10 minutes early anyway
    /// (`notify::WINDOW_MARGIN_SECONDS`), so it never looks open late.
    pub fn record_inbound(&mut self, number: u64, who: &str, at: i64) -> Result<(), Error> {
        let before = self
            .last_inbound
            .read()?
            .get((number, who))?
            .map(|g| g.value());
        if before.is_none_or(|b| at >= b + INBOUND_REFRESH_SECONDS) {
            self.last_inbound.write()?.insert((number, who), at)?;
        }
        Ok(())
    }

    pub fn last_inbound(&self, number: u64, who: &str) -> Result<Option<i64>, Error> {
        Ok(self
            .last_inbound
            .read()?
            .get((number, who))?
            .map(|g| g.value()))
    }

    /// Records that `who` last wrote to `number` in a message that reached
    /// `firm` (written only when it changed: one read per message, rarely
    /// a write).
    pub fn record_contact_number(
        &mut self,
        firm: FirmId,
        who: &str,
        number: u64,
    ) -> Result<(), Error> {
        let key = (firm.to_u128(), who);
        let before = self.contact_number.read()?.get(key)?.map(|g| g.value());
        if before != Some(number) {
            self.contact_number.write()?.insert(key, number)?;
        }
        Ok(())
    }

    /// The business number `who` last wrote to about `firm`, if any.
    pub fn contact_number(&self, firm: FirmId, who: &str) -> Result<Option<u64>, Error> {
        Ok(self
            .contact_number
            .read()?
            .get((firm.to_u128(), who))?
            .map(|g| g.value()))
    }

    /// Puts a notification on hold: out of the due queue, remembered under
    /// its recipient and number.
    ///
    /// A row with no business number to go from (written by releases that
    /// queued notifications from an empty number) could never be released:
    /// it fails instead, saying why.
    pub fn hold(&mut self, outbound: &mut Outbound, due_ms: u64) -> Result<(), Error> {
        self.outbox_due.write()?.remove((due_ms, outbound.seq))?;
        let Some(number) = BusinessNumber::parse(&outbound.phone_number_id) else {
            outbound.state = State::Failed;
            outbound.last_error = Some(format!(
                "no business number to send from ({:?})",
                outbound.phone_number_id
            ));
            return Ok(());
        };
        outbound.state = State::Held;
        self.held
            .write()?
            .insert((number.get(), outbound.to.as_str(), outbound.seq), ())?;
        Ok(())
    }

    /// Releases what was held for `who` on `number`, oldest first, due
    /// now; returns how many.
    pub fn release_held(&mut self, number: u64, who: &str, now_ms: u64) -> Result<usize, Error> {
        // Nothing held anywhere, the usual case: a count, not a seek.
        if redb::ReadableTableMetadata::is_empty(self.held.read()?)? {
            return Ok(0);
        }
        let seqs: Vec<u64> = self
            .held
            .read()?
            .range((number, who, 0)..=(number, who, u64::MAX))?
            .map(|entry| entry.map(|(k, _)| k.value().2))
            .collect::<Result<_, _>>()?;
        for &seq in &seqs {
            self.held.write()?.remove((number, who, seq))?;
            if let Some(mut outbound) = self.outbound_row(seq)? {
                outbound.state = State::Pending;
                self.outbox
                    .write()?
                    .insert(seq, codec::encode(&outbound).as_slice())?;
                self.outbox_due.write()?.insert((now_ms, seq), ())?;
            }
        }
        Ok(seqs.len())
    }

    pub fn put_template(
        &mut self,
        firm: Option<FirmId>,
        kind: TemplateKind,
        template: &Template,
    ) -> Result<super::Put, Error> {
        let key = template_key(firm, kind);
        let old: Option<Template> = self
            .templates
            .read()?
            .get(key)?
            .map(|g| codec::decode(key, g.value()))
            .transpose()?;
        if old.as_ref() == Some(template) {
            return Ok(super::Put::Unchanged);
        }
        self.templates
            .write()?
            .insert(key, codec::encode(template).as_slice())?;
        Ok(if old.is_some() {
            super::Put::Updated
        } else {
            super::Put::Inserted
        })
    }

    pub fn delete_template(
        &mut self,
        firm: Option<FirmId>,
        kind: TemplateKind,
    ) -> Result<bool, Error> {
        Ok(self
            .templates
            .write()?
            .remove(template_key(firm, kind))?
            .is_some())
    }
}

impl Reader {
    /// The business number `who` last wrote to about `firm`, if any.
    pub fn contact_number(&self, firm: FirmId, who: &str) -> Result<Option<u64>, Error> {
        match self.table_if_exists(CONTACT_NUMBER)? {
            Some(table) => Ok(table.get((firm.to_u128(), who))?.map(|g| g.value())),
            None => Ok(None),
        }
    }

    pub fn last_inbound(&self, number: u64, who: &str) -> Result<Option<i64>, Error> {
        match self.table_if_exists(LAST_INBOUND)? {
            Some(table) => Ok(table.get((number, who))?.map(|g| g.value())),
            None => Ok(None),
        }
    }

    /// The setting for exactly this firm (or the default, `None`).
    pub fn template(
        &self,
        firm: Option<FirmId>,
        kind: TemplateKind,
    ) -> Result<Option<Template>, Error> {
        let Some(table) = self.table_if_exists(TEMPLATES)? else {
            return Ok(None);
        };
        let key = template_key(firm, kind);
        table
            .get(key)?
            .map(|g| codec::decode(key, g.value()))
            .transpose()
    }

    /// The template a firm's notification goes out as: the firm's own
    /// setting, else the operator's default.
    pub fn template_for(
        &self,
        firm: FirmId,
        kind: TemplateKind,
    ) -> Result<Option<Template>, Error> {
        match self.template(Some(firm), kind)? {
            Some(own) => Ok(Some(own)),
            None => self.template(None, kind),
        }
    }

    /// Every setting: (firm or `None` for the default, kind, template).
    #[allow(clippy::type_complexity)]
    pub fn templates(&self) -> Result<Vec<(Option<FirmId>, TemplateKind, Template)>, Error> {
        let Some(table) = self.table_if_exists(TEMPLATES)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            let (firm, kind) = key.value();
            let Some(kind) = TemplateKind::from_u8(kind) else {
                continue;
            };
            let firm = (firm != 0).then(|| FirmId::from_u128(firm));
            out.push((firm, kind, codec::decode(key.value(), value.value())?));
        }
        Ok(out)
    }

    /// Notifications held, all numbers and people.
    pub fn held_count(&self) -> Result<u64, Error> {
        use redb::ReadableTableMetadata;
        match self.table_if_exists(HELD)? {
            Some(table) => Ok(table.len()?),
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_persons_time_moves_forward_at_most_once_a_minute() {
        let store = Store::in_memory().unwrap();
        let kept = |at: i64| {
            store
                .write(|w| {
                    w.record_inbound(15550001, "447911123401", at)?;
                    Ok::<_, Error>(())
                })
                .unwrap();
            store
                .read()
                .unwrap()
                .last_inbound(15550001, "447911123401")
                .unwrap()
        };
        assert_eq!(kept(1_000), Some(1_000));
        // The same conversation: not written again…
        assert_eq!(kept(1_000 + INBOUND_REFRESH_SECONDS - 1), Some(1_000));
        // …until the kept time is a minute old.
        let later = 1_000 + INBOUND_REFRESH_SECONDS;
        assert_eq!(kept(later), Some(later));
        // A redelivered older message never moves it back.
        assert_eq!(kept(500), Some(later));
        // Another person, another number: their own rows.
        store
            .write(|w| w.record_inbound(15550002, "447911123401", 7))
            .unwrap();
        let reader = store.read().unwrap();
        assert_eq!(
            reader.last_inbound(15550002, "447911123401").unwrap(),
            Some(7)
        );
        assert_eq!(reader.last_inbound(15550001, "447911123499").unwrap(), None);
    }
}
