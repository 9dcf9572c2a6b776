//! What live management needs from the store: pages of records in key
//! order, deletes that take their index entries (and what hangs below)
//! with them, the change feed, and API tokens.
//!
//! Every read of firm data takes the firm; the only lookup without one is
//! a token's hash, which exists to find the firm.

use redb::ReadableTable;

use super::codec;
use super::outbox::last_key;
use super::read::{Reader, get, member_projects_in};
use super::tables::*;
use super::write::{Next, member_project_key, member_role_key, project_role_keys};
use super::{Error, Writer};
use crate::domain::event::{Event, Hook, Logged, Push};
use crate::domain::{
    Firm, FirmId, Member, MemberId, MilestoneId, Project, ProjectId, Token, TokenId,
};

/// Records after a cursor, and the cursor of the next page, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Why a delete did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not found")]
    NotFound,
    /// Something still depends on the record.
    #[error("{0}")]
    InUse(String),
}

/// What became of one push attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushResult {
    Delivered,
    RetryAt {
        due_ms: u64,
        error: String,
    },
    GaveUp {
        error: String,
    },
    /// Not tried yet: its firm has a push in flight (or every slot is
    /// taken). Due again at `due_ms`, no attempt counted.
    Waiting {
        due_ms: u64,
    },
    /// The endpoint answered 410 Gone: the push is dropped and the firm's
    /// webhook disabled (`Writer::disable_hook`).
    Gone {
        firm: FirmId,
        url: String,
    },
}

impl Writer<'_> {
    /// Appends an event to the feed, and queues its push when the firm has
    /// a webhook; returns its seq.
    pub fn record_change(&mut self, event: &Event, now_ms: u64) -> Result<u64, Error> {
        let seq = Next::take(&mut self.next.feed, || last_key(&self.feed))?;
        self.feed_appends += 1;
        self.feed
            .write()?
            .insert(seq, codec::encode(event).as_slice())?;
        self.feed_by_firm
            .write()?
            .insert((event.firm.to_u128(), seq), ())?;
        let f = event.firm.to_u128();
        if self.hooks.read()?.get(f)?.is_some() && self.hook_disabled.read()?.get(f)?.is_none() {
            let push = Next::take(&mut self.next.pushes, || last_key(&self.pushes))?;
            let record = Push {
                seq: push,
                firm: event.firm,
                event: seq,
                attempts: 0,
                last_error: None,
            };
            self.pushes
                .write()?
                .insert(push, codec::encode(&record).as_slice())?;
            self.push_due.write()?.insert((now_ms, push), ())?;
        }
        Ok(seq)
    }

    /// Appends a message to its firm's log.
    pub fn log_message(&mut self, entry: &Logged) -> Result<(), Error> {
        let f = entry.firm.to_u128();
        let tails = &mut self.next.message_log;
        let tail = match tails.iter().position(|(firm, _)| *firm == f) {
            Some(at) => at,
            None => {
                tails.push((f, None));
                tails.len() - 1
            }
        };
        let seq = Next::take(&mut tails[tail].1, || {
            let last = self
                .message_log
                .read()?
                .range((f, 0)..=(f, u64::MAX))?
                .next_back()
                .transpose()?;
            Ok(last.map(|(k, _)| k.value().1))
        })?;
        self.message_log
            .write()?
            .insert((f, seq), codec::encode(entry).as_slice())?;
        Ok(())
    }

    /// The firm a queued reply belongs to, if it was logged under one: in
    /// its row, or for a row of an earlier format in `outbox_firm`.
    pub fn outbox_firm(&self, outbox: u64) -> Result<Option<FirmId>, Error> {
        if let Some(firm) = self.outbound_row(outbox)?.and_then(|o| o.firm) {
            return Ok(Some(firm));
        }
        Ok(self
            .outbox_firm
            .read()?
            .get(outbox)?
            .map(|g| FirmId::from_u128(g.value())))
    }

    pub fn put_hook(&mut self, hook: &Hook) -> Result<(), Error> {
        // Setting the URL again enables a disabled webhook.
        self.hook_disabled.write()?.remove(hook.firm.to_u128())?;
        self.hooks
            .write()?
            .insert(hook.firm.to_u128(), codec::encode(hook).as_slice())?;
        Ok(())
    }

    pub fn hook(&self, firm: FirmId) -> Result<Option<Hook>, Error> {
        get(self.hooks.read()?, firm.to_u128())
    }

    /// Removes the firm's webhook; pushes still queued are dropped when
    /// their turn comes.
    pub fn delete_hook(&mut self, firm: FirmId) -> Result<bool, Error> {
        self.hook_disabled.write()?.remove(firm.to_u128())?;
        Ok(self.hooks.write()?.remove(firm.to_u128())?.is_some())
    }

    /// Disables the firm's webhook (it answered 410 Gone) at `at`, Unix
    /// seconds; `false` if it was disabled already or there is none.
    pub fn disable_hook(&mut self, firm: FirmId, at: i64) -> Result<bool, Error> {
        let f = firm.to_u128();
        if self.hooks.read()?.get(f)?.is_none() || self.hook_disabled.read()?.get(f)?.is_some() {
            return Ok(false);
        }
        self.hook_disabled.write()?.insert(f, at)?;
        Ok(true)
    }

    /// Applies one push attempt's result to the push due at `due_ms`.
    pub fn settle_push(&mut self, seq: u64, due_ms: u64, result: &PushResult) -> Result<(), Error> {
        self.push_due.write()?.remove((due_ms, seq))?;
        if let PushResult::Waiting { due_ms } = result {
            if get::<_, Push>(self.pushes.read()?, seq)?.is_some() {
                self.push_due.write()?.insert((*due_ms, seq), ())?;
            }
            return Ok(());
        }
        let Some(mut push): Option<Push> = get(self.pushes.read()?, seq)? else {
            return Ok(());
        };
        match result {
            PushResult::Delivered | PushResult::GaveUp { .. } | PushResult::Gone { .. } => {
                self.pushes.write()?.remove(seq)?;
            }
            PushResult::Waiting { .. } => unreachable!("handled above"),
            PushResult::RetryAt { due_ms, error } => {
                push.attempts += 1;
                push.last_error = Some(error.clone());
                self.pushes
                    .write()?
                    .insert(seq, codec::encode(&push).as_slice())?;
                self.push_due.write()?.insert((*due_ms, seq), ())?;
            }
        }
        Ok(())
    }

    /// Deletes a milestone; `false` if there was none.
    pub fn delete_milestone(
        &mut self,
        firm: FirmId,
        project: ProjectId,
        milestone: MilestoneId,
    ) -> Result<bool, Error> {
        let key = (firm.to_u128(), project.to_u128(), milestone.to_u128());
        if self.milestones.write()?.remove(key)?.is_none() {
            return Ok(false);
        }
        self.milestone_owner.write()?.remove(milestone.to_u128())?;
        self.milestone_moved.write()?.remove(milestone.to_u128())?;
        self.count_gone(key.0, 1)?;
        Ok(true)
    }

    /// Deletes a project with its milestones and every index entry.
    pub fn delete_project(&mut self, firm: FirmId, project: ProjectId) -> Result<bool, Error> {
        let (f, p) = (firm.to_u128(), project.to_u128());
        let Some(old): Option<Project> = get(self.projects.read()?, (f, p))? else {
            return Ok(false);
        };
        let milestones: Vec<u128> = self
            .milestones
            .read()?
            .range((f, p, 0)..=(f, p, u128::MAX))?
            .map(|entry| entry.map(|(k, _)| k.value().2))
            .collect::<Result<_, _>>()?;
        self.count_gone(f, 1 + milestones.len() as u64)?;
        for m in milestones {
            self.milestones.write()?.remove((f, p, m))?;
            self.milestone_owner.write()?.remove(m)?;
            self.milestone_moved.write()?.remove(m)?;
        }
        for key in project_role_keys(&old) {
            self.phone_roles.write()?.remove(key)?;
        }
        if let Some(key) = member_project_key(&old) {
            self.member_projects.write()?.remove(key)?;
        }
        self.project_firm.write()?.remove(p)?;
        self.projects.write()?.remove((f, p))?;
        Ok(true)
    }

    /// Deletes a member; refused while a project names them its designer.
    pub fn delete_member(
        &mut self,
        firm: FirmId,
        member: MemberId,
    ) -> Result<Result<(), Refusal>, Error> {
        let (f, m) = (firm.to_u128(), member.to_u128());
        let Some(old): Option<Member> = get(self.members.read()?, (f, m))? else {
            return Ok(Err(Refusal::NotFound));
        };
        let projects = member_projects_in(self.member_projects.read()?, firm, member, usize::MAX)?;
        if let Some((_, project)) = projects.first() {
            return Ok(Err(Refusal::InUse(format!(
                "member {member} is the designer of {} project(s), such as {project}; \
                 change or delete those first",
                projects.len()
            ))));
        }
        if let Some(phone) = old.whatsapp_phone {
            self.phone_roles
                .write()?
                .remove(member_role_key(phone, f, m))?;
        }
        self.member_firm.write()?.remove(m)?;
        self.members.write()?.remove((f, m))?;
        self.count_gone(f, 1)?;
        Ok(Ok(()))
    }

    /// Deletes a firm; with `cascade`, its members, projects, milestones
    /// and tokens too, otherwise refused while it has members or projects.
    pub fn delete_firm(
        &mut self,
        firm: FirmId,
        cascade: bool,
    ) -> Result<Result<(), Refusal>, Error> {
        let f = firm.to_u128();
        let Some(old): Option<Firm> = get(self.firms.read()?, f)? else {
            return Ok(Err(Refusal::NotFound));
        };
        let projects: Vec<u128> = self
            .projects
            .read()?
            .range((f, 0)..=(f, u128::MAX))?
            .map(|entry| entry.map(|(k, _)| k.value().1))
            .collect::<Result<_, _>>()?;
        let members: Vec<u128> = self
            .members
            .read()?
            .range((f, 0)..=(f, u128::MAX))?
            .map(|entry| entry.map(|(k, _)| k.value().1))
            .collect::<Result<_, _>>()?;
        if !cascade && (!projects.is_empty() || !members.is_empty()) {
            return Ok(Err(Refusal::InUse(format!(
                "firm {firm} has {} member(s) and {} project(s); delete them first or pass \
                 cascade=true",
                members.len(),
                projects.len()
            ))));
        }
        for p in projects {
            self.delete_project(firm, ProjectId::from_u128(p))?;
        }
        for m in members {
            // The firm's projects, and so every designer reference, are
            // gone: nothing can refuse. Were it to, nothing is committed.
            if let Err(refusal) = self.delete_member(firm, MemberId::from_u128(m))? {
                return Ok(Err(refusal));
            }
        }
        let tokens: Vec<u128> = self
            .tokens
            .read()?
            .range((f, 0)..=(f, u128::MAX))?
            .map(|entry| entry.map(|(k, _)| k.value().1))
            .collect::<Result<_, _>>()?;
        for t in tokens {
            self.delete_token(firm, TokenId::from_u128(t))?;
        }
        if let Some(number) = old.phone_number_id {
            self.firm_by_number.write()?.remove(number)?;
        }
        self.firms.write()?.remove(f)?;
        self.firm_records.write()?.remove(f)?;
        self.hooks.write()?.remove(f)?;
        self.hook_disabled.write()?.remove(f)?;
        let mut contacts: Vec<String> = Vec::new();
        for entry in self.contact_number.read()?.range((f, "")..)? {
            let (key, _) = entry?;
            let (firm_key, who) = key.value();
            if firm_key != f {
                break;
            }
            contacts.push(who.to_owned());
        }
        for who in contacts {
            self.contact_number.write()?.remove((f, who.as_str()))?;
        }
        Ok(Ok(()))
    }

    pub fn put_token(&mut self, token: &Token) -> Result<(), Error> {
        let key = (token.firm.to_u128(), token.id.to_u128());
        self.tokens
            .write()?
            .insert(key, codec::encode(token).as_slice())?;
        self.token_by_hash
            .write()?
            .insert(token.hash.as_slice(), key)?;
        Ok(())
    }

    pub fn token(&self, firm: FirmId, id: TokenId) -> Result<Option<Token>, Error> {
        get(self.tokens.read()?, (firm.to_u128(), id.to_u128()))
    }

    /// Revokes a token; `false` if the firm has no such token.
    pub fn delete_token(&mut self, firm: FirmId, id: TokenId) -> Result<bool, Error> {
        let Some(token): Option<Token> = get(self.tokens.read()?, (firm.to_u128(), id.to_u128()))?
        else {
            return Ok(false);
        };
        self.token_by_hash.write()?.remove(token.hash.as_slice())?;
        self.tokens
            .write()?
            .remove((firm.to_u128(), id.to_u128()))?;
        Ok(true)
    }
}

/// Records one page request may look at (DESIGN section 10: no request
/// scans a whole firm). A filter that matches little gives a short page
/// whose `next` continues after the last record looked at.
pub const EXAMINED_MAX: usize = 20_000;

/// Up to `limit` values of a table from the key after `after`, and the next
/// cursor when more follow.
fn page<K: super::read::PlainKey, T: codec::Record<Key = K>>(
    table: &impl ReadableTable<K, Bytes>,
    range: impl std::ops::RangeBounds<K>,
    limit: usize,
    cursor: impl Fn(&T) -> String,
    keep: impl Fn(&T) -> bool,
) -> Result<Page<T>, Error> {
    let mut items = Vec::new();
    let mut next = None;
    // The last record looked at and left out, while it is the last looked at.
    let mut skipped: Option<T> = None;
    for (examined, entry) in table.range(range)?.enumerate() {
        if examined == EXAMINED_MAX {
            // Records not looked at follow: go on after the last one that was.
            next = skipped.as_ref().or(items.last()).map(&cursor);
            break;
        }
        let (key, value) = entry?;
        let record: T = codec::decode(key.value(), value.value())?;
        if !keep(&record) {
            skipped = Some(record);
            continue;
        }
        skipped = None;
        if items.len() == limit {
            next = items.last().map(&cursor);
            break;
        }
        items.push(record);
    }
    Ok(Page { items, next })
}

fn after_u128(after: Option<u128>) -> std::ops::Bound<u128> {
    match after {
        Some(id) => std::ops::Bound::Excluded(id),
        None => std::ops::Bound::Unbounded,
    }
}

impl Reader {
    pub fn firms_page(&self, after: Option<FirmId>, limit: usize) -> Result<Page<Firm>, Error> {
        let range = (
            after_u128(after.map(FirmId::to_u128)),
            std::ops::Bound::Unbounded,
        );
        page(
            &self.table(FIRMS)?,
            range,
            limit,
            |f: &Firm| f.id.to_string(),
            |_| true,
        )
    }

    pub fn members_page(
        &self,
        firm: FirmId,
        after: Option<MemberId>,
        limit: usize,
    ) -> Result<Page<Member>, Error> {
        let f = firm.to_u128();
        let start = after.map_or(std::ops::Bound::Included((f, 0)), |m| {
            std::ops::Bound::Excluded((f, m.to_u128()))
        });
        let range = (start, std::ops::Bound::Included((f, u128::MAX)));
        page(
            &self.table(MEMBERS)?,
            range,
            limit,
            |m: &Member| m.id.to_string(),
            |_| true,
        )
    }

    /// A firm's projects in id order, those that `keep` accepts.
    pub fn projects_page(
        &self,
        firm: FirmId,
        after: Option<ProjectId>,
        limit: usize,
        keep: impl Fn(&Project) -> bool,
    ) -> Result<Page<Project>, Error> {
        let f = firm.to_u128();
        let start = after.map_or(std::ops::Bound::Included((f, 0)), |p| {
            std::ops::Bound::Excluded((f, p.to_u128()))
        });
        let range = (start, std::ops::Bound::Included((f, u128::MAX)));
        page(
            &self.table(PROJECTS)?,
            range,
            limit,
            |p: &Project| p.id.to_string(),
            keep,
        )
    }

    /// The feed after `after`, oldest first: every firm's, or one firm's.
    pub fn feed_after(
        &self,
        firm: Option<FirmId>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, Error> {
        let (Some(feed), Some(by_firm)) = (
            self.table_if_exists(FEED)?,
            self.table_if_exists(FEED_BY_FIRM)?,
        ) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        match firm {
            None => {
                for entry in feed.range(after.saturating_add(1)..)?.take(limit) {
                    let (seq, value) = entry?;
                    out.push(codec::decode(seq.value(), value.value())?);
                }
            }
            Some(firm) => {
                let f = firm.to_u128();
                for entry in by_firm
                    .range((f, after.saturating_add(1))..=(f, u64::MAX))?
                    .take(limit)
                {
                    let (_, seq) = entry?.0.value();
                    if let Some(value) = feed.get(seq)? {
                        out.push(codec::decode(seq, value.value())?);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Pushes due by `now_ms`, soonest first, each with its event and the
    /// firm's webhook (`None` when it was removed since).
    #[allow(clippy::type_complexity)]
    pub fn pushes_due(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Push, Option<Event>, Option<Hook>)>, Error> {
        let (Some(due), Some(pushes), Some(feed), Some(hooks)) = (
            self.table_if_exists(PUSH_DUE)?,
            self.table_if_exists(PUSHES)?,
            self.table_if_exists(FEED)?,
            self.table_if_exists(HOOKS)?,
        ) else {
            return Ok(Vec::new());
        };
        let disabled = self.table_if_exists(HOOK_DISABLED)?;
        let mut out = Vec::new();
        for entry in due.range((0, 0)..=(now_ms, u64::MAX))?.take(limit) {
            let (due_ms, seq) = entry?.0.value();
            let Some(push): Option<Push> = get(&pushes, seq)? else {
                continue;
            };
            let event = feed
                .get(push.event)?
                .map(|v| codec::decode(push.event, v.value()))
                .transpose()?;
            // A disabled webhook reads as none: its pushes are dropped.
            let disabled = match &disabled {
                Some(table) => table.get(push.firm.to_u128())?.is_some(),
                None => false,
            };
            let hook = match disabled {
                true => None,
                false => get(&hooks, push.firm.to_u128())?,
            };
            out.push((due_ms, push, event, hook));
        }
        Ok(out)
    }

    /// When the firm's webhook was disabled (410 Gone), if it is.
    pub fn hook_disabled_at(&self, firm: FirmId) -> Result<Option<i64>, Error> {
        match self.table_if_exists(HOOK_DISABLED)? {
            Some(table) => Ok(table.get(firm.to_u128())?.map(|g| g.value())),
            None => Ok(None),
        }
    }

    pub fn hook(&self, firm: FirmId) -> Result<Option<Hook>, Error> {
        match self.table_if_exists(HOOKS)? {
            Some(hooks) => get(&hooks, firm.to_u128()),
            None => Ok(None),
        }
    }

    /// Pushes still waiting.
    pub fn pushes_waiting(&self) -> Result<u64, Error> {
        use redb::ReadableTableMetadata;
        match self.table_if_exists(PUSHES)? {
            Some(pushes) => Ok(pushes.len()?),
            None => Ok(0),
        }
    }

    /// A firm's messages, newest first, before the cursor `before` (a
    /// seq), those `keep` accepts; outbound ones with their outbox row.
    #[allow(clippy::type_complexity)]
    pub fn messages_page(
        &self,
        firm: FirmId,
        before: Option<u64>,
        limit: usize,
        keep: impl Fn(&Logged) -> bool,
    ) -> Result<(Vec<(Logged, Option<super::Outbound>)>, Option<u64>), Error> {
        let Some(log) = self.table_if_exists(MESSAGE_LOG)? else {
            return Ok((Vec::new(), None));
        };
        let f = firm.to_u128();
        let end = before.unwrap_or(u64::MAX);
        let mut items = Vec::new();
        let mut next = None;
        for entry in log.range((f, 0)..(f, end))?.rev() {
            let (key, value) = entry?;
            let logged: Logged = codec::decode(key.value(), value.value())?;
            if !keep(&logged) {
                continue;
            }
            if items.len() == limit {
                next = items.last().map(|(l, _): &(Logged, _)| l.seq);
                break;
            }
            // A reply whose row was quarantined shows without its state.
            let outbound = logged
                .outbox
                .and_then(|seq| self.outbound(seq).ok())
                .flatten();
            items.push((logged, outbound));
        }
        Ok((items, next))
    }

    /// The newest seq of the feed (0 when empty).
    pub fn feed_last(&self) -> Result<u64, Error> {
        match self.table_if_exists(FEED)? {
            Some(feed) => Ok(feed.last()?.map_or(0, |(k, _)| k.value())),
            None => Ok(0),
        }
    }

    /// The token with this hash, if any: how a request finds its firm.
    pub fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<Token>, Error> {
        let (Some(by_hash), Some(tokens)) = (
            self.table_if_exists(TOKEN_BY_HASH)?,
            self.table_if_exists(TOKENS)?,
        ) else {
            return Ok(None);
        };
        match by_hash.get(hash.as_slice())? {
            Some(key) => get(&tokens, key.value()),
            None => Ok(None),
        }
    }

    pub fn tokens_of(&self, firm: FirmId) -> Result<Vec<Token>, Error> {
        let Some(tokens) = self.table_if_exists(TOKENS)? else {
            return Ok(Vec::new());
        };
        let f = firm.to_u128();
        let mut out = Vec::new();
        for entry in tokens.range((f, 0)..=(f, u128::MAX))? {
            let (key, value) = entry?;
            out.push(codec::decode(key.value(), value.value())?);
        }
        Ok(out)
    }
}
