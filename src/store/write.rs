//! Upserts inside one write transaction, each keeping its indexes in step.
//!
//! Every `put_*` reads the record's previous version, removes the index
//! entries that version made, writes the record and adds the new entries,
//! all in the caller's transaction: an index never disagrees with its record
//! in any committed state. Ids never move between firms (or milestones
//! between projects); such a write is refused with [`Error::Conflict`].

use std::cell::OnceCell;

use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};

use crate::domain::{
    Firm, FirmId, Member, MemberId, Milestone, MilestoneId, Phone, Project, ProjectId,
};
use crate::flow::Data;
use crate::resolve::{Directory, IndexRole, RoleEntry};

use super::Error;
use super::codec;
use super::read;
use super::tables::*;

/// A table of a write transaction, opened on first use: a transaction
/// opens only the tables it touches (a delivery touches about ten of the
/// thirty-odd), and redb updates the table tree only for those.
pub(super) struct Lazy<'txn, K: redb::Key + 'static, V: redb::Value + 'static> {
    txn: &'txn WriteTransaction,
    def: TableDefinition<'static, K, V>,
    table: OnceCell<Table<'txn, K, V>>,
}

impl<'txn, K: redb::Key + 'static, V: redb::Value + 'static> Lazy<'txn, K, V> {
    fn new(txn: &'txn WriteTransaction, def: TableDefinition<'static, K, V>) -> Self {
        Self {
            txn,
            def,
            table: OnceCell::new(),
        }
    }

    /// The table, to read.
    pub(super) fn read(&self) -> Result<&Table<'txn, K, V>, Error> {
        if self.table.get().is_none() {
            let _ = self.table.set(self.txn.open_table(self.def)?);
        }
        Ok(self.table.get().expect("just opened"))
    }

    /// The table, to change.
    pub(super) fn write(&mut self) -> Result<&mut Table<'txn, K, V>, Error> {
        self.read()?;
        Ok(self.table.get_mut().expect("just opened"))
    }
}

/// The writer's handle on every table of [`every_table!`], each opened on
/// first use, and their creation: generated from the one list.
macro_rules! writer {
    ($($(#[$doc:meta])* $konst:ident $field:ident: $k:ty => $v:ty = $name:literal;)*) => {
        /// The tables of one write transaction, each opened on first use.
        pub struct Writer<'txn> {
            $(pub(super) $field: Lazy<'txn, $k, $v>,)*
            /// Only in an import's transaction ([`Store::import`](super::Store)).
            pub(super) import_ids: Option<Table<'txn, (u8, u128), ()>>,
            /// The next seq of the tables appended to by seq, and of each firm's
            /// message log: looked up once per transaction, then counted, so a
            /// batch appending many rows seeks each table's end once.
            pub(super) next: Next,
            /// The shared business number, which no firm may take as its own.
            pub(super) shared_number: Option<u64>,
            /// Members, projects and milestones one firm may have; `None`: no
            /// quota.
            pub(super) records_max: Option<u64>,
            /// Events this transaction has appended to the feed so far.
            pub(super) feed_appends: u64,
        }

        impl<'txn> Writer<'txn> {
            pub(super) fn open(txn: &'txn WriteTransaction, import: bool) -> Result<Self, Error> {
                Ok(Self {
                    $($field: Lazy::new(txn, $konst),)*
                    import_ids: if import {
                        Some(txn.open_table(IMPORT_IDS)?)
                    } else {
                        None
                    },
                    next: Next::default(),
                    shared_number: None,
                    records_max: None,
                    feed_appends: 0,
                })
            }

            /// Opens, and so creates, every table: done once when a writer opens
            /// the file, so readers can open any table unconditionally.
            pub(super) fn create_tables(&self) -> Result<(), Error> {
                $(self.$field.read()?;)*
                Ok(())
            }
        }
    };
}
every_table!(writer);

/// See [`Writer::next`].
#[derive(Default)]
pub(super) struct Next {
    pub(super) outbox: Option<u64>,
    pub(super) events: Option<u64>,
    pub(super) feed: Option<u64>,
    pub(super) pushes: Option<u64>,
    /// (firm, the next seq of its message log)
    pub(super) message_log: Vec<(u128, Option<u64>)>,
}

impl Next {
    /// Takes the next seq of `cached`, seeking the table's last key
    /// (`last`) only the first time.
    pub(super) fn take(
        cached: &mut Option<u64>,
        last: impl FnOnce() -> Result<Option<u64>, Error>,
    ) -> Result<u64, Error> {
        let next = match *cached {
            Some(next) => next,
            None => last()?.map_or(1, |last| last + 1),
        };
        *cached = Some(next + 1);
        Ok(next)
    }
}

/// What a `put_*` did, for import counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Inserted,
    Updated,
    Unchanged,
}

impl<'txn> Writer<'txn> {
    /// The seq of the last event this transaction appended to the feed,
    /// if it appended any (so the feed's readers hear of it without a read
    /// transaction after the commit).
    pub fn feed_appended(&self) -> Option<u64> {
        self.next.feed.map(|next| next - 1)
    }

    /// How many events this transaction has appended to the feed.
    pub fn feed_appends(&self) -> u64 {
        self.feed_appends
    }

    /// The shared business number (`WHATSAPP_PHONE_NUMBER_ID`), if the
    /// server has one.
    pub fn shared_number(&self) -> Option<u64> {
        self.shared_number
    }

    /// Notes that this import used `id` of `kind`; false if it already
    /// had. Only in an import's transaction.
    pub fn import_first_use(&mut self, kind: u8, id: u128) -> Result<bool, Error> {
        // Only the import engine calls this, inside `Store::import`, whose
        // transaction always has the table; anywhere else it is refused.
        let Some(ids) = self.import_ids.as_mut() else {
            return Err(Error::Conflict(
                "ids are tracked only inside an import's transaction".into(),
            ));
        };
        Ok(ids.insert((kind, id), ())?.is_none())
    }

    /// Whether this import used `id` of `kind` (false outside an import).
    pub fn import_used(&self, kind: u8, id: u128) -> Result<bool, Error> {
        match &self.import_ids {
            Some(ids) => Ok(ids.get((kind, id))?.is_some()),
            None => Ok(false),
        }
    }

    /// Refuses a file of a newer format; marks an older (or new) one as
    /// this build's, whose writes it is about to make.
    pub(super) fn claim_format(&mut self) -> Result<(), Error> {
        let txn_meta = self.meta.write()?;
        let found = txn_meta.get("format")?.map(|g| g.value());
        match found {
            Some(found) if found > super::FORMAT => Err(Error::NewerFormat { found }),
            Some(found) if found == super::FORMAT => Ok(()),
            _ => {
                txn_meta.insert("format", super::FORMAT)?;
                Ok(())
            }
        }
    }

    pub fn firm(&self, firm: FirmId) -> Result<Option<Firm>, Error> {
        get(self.firms.read()?, firm.to_u128())
    }

    /// Every firm's id, in key order.
    pub fn firm_ids(&self) -> Result<Vec<FirmId>, Error> {
        let mut out = Vec::new();
        for entry in self.firms.read()?.iter()? {
            out.push(FirmId::from_u128(entry?.0.value()));
        }
        Ok(out)
    }

    pub fn member(&self, firm: FirmId, member: MemberId) -> Result<Option<Member>, Error> {
        get(self.members.read()?, (firm.to_u128(), member.to_u128()))
    }

    pub fn project(&self, firm: FirmId, project: ProjectId) -> Result<Option<Project>, Error> {
        get(self.projects.read()?, (firm.to_u128(), project.to_u128()))
    }

    pub fn milestone(
        &self,
        firm: FirmId,
        project: ProjectId,
        milestone: MilestoneId,
    ) -> Result<Option<Milestone>, Error> {
        let key = (firm.to_u128(), project.to_u128(), milestone.to_u128());
        get(self.milestones.read()?, key)
    }

    pub fn project_firm(&self, project: ProjectId) -> Result<Option<FirmId>, Error> {
        let found = self.project_firm.read()?.get(project.to_u128())?;
        Ok(found.map(|g| FirmId::from_u128(g.value())))
    }

    pub fn member_firm(&self, member: MemberId) -> Result<Option<FirmId>, Error> {
        let found = self.member_firm.read()?.get(member.to_u128())?;
        Ok(found.map(|g| FirmId::from_u128(g.value())))
    }

    pub fn firm_by_number(&self, number: u64) -> Result<Option<FirmId>, Error> {
        let found = self.firm_by_number.read()?.get(number)?;
        Ok(found.map(|g| FirmId::from_u128(g.value())))
    }

    pub fn put_firm(&mut self, firm: &Firm) -> Result<Put, Error> {
        let key = firm.id.to_u128();
        let old: Option<Firm> = get(self.firms.read()?, key)?;
        if old.as_ref() == Some(firm) {
            return Ok(Put::Unchanged);
        }
        if firm.phone_number_id.is_some() && firm.phone_number_id == self.shared_number {
            return Err(Error::Conflict(format!(
                "phone_number_id {} is the shared business number (WHATSAPP_PHONE_NUMBER_ID) \
                 and cannot be one firm's own",
                self.shared_number.unwrap_or_default()
            )));
        }
        if let Some(number) = firm.phone_number_id
            && let Some(owner) = self.firm_by_number(number)?
            && owner != firm.id
        {
            return Err(Error::Conflict(format!(
                "phone_number_id {number} already belongs to another firm"
            )));
        }
        if let Some(number) = old.as_ref().and_then(|f| f.phone_number_id) {
            self.firm_by_number.write()?.remove(number)?;
        }
        self.firms
            .write()?
            .insert(key, codec::encode(firm).as_slice())?;
        if let Some(number) = firm.phone_number_id {
            self.firm_by_number.write()?.insert(number, key)?;
        }
        Ok(if old.is_some() {
            Put::Updated
        } else {
            Put::Inserted
        })
    }

    pub fn put_member(&mut self, member: &Member) -> Result<Put, Error> {
        let (f, m) = (member.firm_id.to_u128(), member.id.to_u128());
        self.claim(&self.member_firm(member.id)?, member.firm_id, "member", m)?;
        let old: Option<Member> = get(self.members.read()?, (f, m))?;
        if old.as_ref() == Some(member) {
            return Ok(Put::Unchanged);
        }
        if old.is_none() {
            self.count_new(member.firm_id)?;
        }
        if let Some(phone) = old.as_ref().and_then(|m| m.whatsapp_phone) {
            self.phone_roles
                .write()?
                .remove(member_role_key(phone, f, m))?;
        }
        self.members
            .write()?
            .insert((f, m), codec::encode(member).as_slice())?;
        self.member_firm.write()?.insert(m, f)?;
        if let Some(phone) = member.whatsapp_phone {
            self.phone_roles
                .write()?
                .insert(member_role_key(phone, f, m), ())?;
        }
        Ok(if old.is_some() {
            Put::Updated
        } else {
            Put::Inserted
        })
    }

    pub fn put_project(&mut self, project: &Project) -> Result<Put, Error> {
        let (f, p) = (project.firm_id.to_u128(), project.id.to_u128());
        self.claim(
            &self.project_firm(project.id)?,
            project.firm_id,
            "project",
            p,
        )?;
        let old: Option<Project> = get(self.projects.read()?, (f, p))?;
        if old.as_ref() == Some(project) {
            return Ok(Put::Unchanged);
        }
        if old.is_none() {
            self.count_new(project.firm_id)?;
        }
        if let Some(old) = &old {
            for key in project_role_keys(old) {
                self.phone_roles.write()?.remove(key)?;
            }
            if let Some(key) = member_project_key(old) {
                self.member_projects.write()?.remove(key)?;
            }
        }
        self.projects
            .write()?
            .insert((f, p), codec::encode(project).as_slice())?;
        self.project_firm.write()?.insert(p, f)?;
        for key in project_role_keys(project) {
            self.phone_roles.write()?.insert(key, ())?;
        }
        if let Some(key) = member_project_key(project) {
            self.member_projects.write()?.insert(key, ())?;
        }
        Ok(if old.is_some() {
            Put::Updated
        } else {
            Put::Inserted
        })
    }

    /// `firm` is the firm of the milestone's project, found by the caller.
    /// Records when and through which door a milestone's status last
    /// changed.
    pub fn milestone_moved(
        &mut self,
        milestone: MilestoneId,
        at: crate::domain::Timestamp,
        source: crate::domain::event::Source,
    ) -> Result<(), Error> {
        self.milestone_moved
            .write()?
            .insert(milestone.to_u128(), (at.unix_seconds(), source.as_str()))?;
        Ok(())
    }

    /// When and through which door (`whatsapp`, `api`, …) the milestone's
    /// status last changed, if that was recorded.
    pub fn milestone_moved_at(
        &self,
        milestone: MilestoneId,
    ) -> Result<Option<(crate::domain::Timestamp, String)>, Error> {
        Ok(self
            .milestone_moved
            .read()?
            .get(milestone.to_u128())?
            .map(|g| {
                let (at, source) = g.value();
                (
                    crate::domain::Timestamp::from_unix_seconds(at),
                    source.to_owned(),
                )
            }))
    }

    pub fn put_milestone(&mut self, firm: FirmId, milestone: &Milestone) -> Result<Put, Error> {
        let (f, p, m) = (
            firm.to_u128(),
            milestone.project_id.to_u128(),
            milestone.id.to_u128(),
        );
        if let Some(owner) = self.milestone_owner.read()?.get(m)? {
            let (of, op) = owner.value();
            if (of, op) != (f, p) {
                return Err(Error::Conflict(format!(
                    "milestone {} belongs to another project and cannot move to project {}",
                    milestone.id, milestone.project_id
                )));
            }
        }
        let old: Option<Milestone> = get(self.milestones.read()?, (f, p, m))?;
        if old.as_ref() == Some(milestone) {
            return Ok(Put::Unchanged);
        }
        if old.is_none() {
            self.count_new(firm)?;
        }
        self.milestones
            .write()?
            .insert((f, p, m), codec::encode(milestone).as_slice())?;
        self.milestone_owner.write()?.insert(m, (f, p))?;
        Ok(if old.is_some() {
            Put::Updated
        } else {
            Put::Inserted
        })
    }

    /// Counts one more record of `firm`, refusing it past the quota. Without
    /// a quota, a firm's count is kept only if it has one already.
    fn count_new(&mut self, firm: FirmId) -> Result<(), Error> {
        let f = firm.to_u128();
        let held = self.firm_records.read()?.get(f)?.map(|g| g.value());
        let count = match (held, self.records_max) {
            (Some(count), _) => count,
            (None, None) => return Ok(()),
            (None, Some(_)) => self.count_records(f)?,
        };
        if let Some(max) = self.records_max
            && count >= max
        {
            return Err(Error::Quota(format!(
                "firm {firm} has reached its quota of {max} members, projects and milestones \
                 (FIRMHOOK_FIRM_RECORDS_MAX)"
            )));
        }
        self.firm_records.write()?.insert(f, count + 1)?;
        Ok(())
    }

    /// `n` records of the firm `f` are gone.
    pub(super) fn count_gone(&mut self, f: u128, n: u64) -> Result<(), Error> {
        let held = self.firm_records.read()?.get(f)?.map(|g| g.value());
        if let Some(count) = held {
            self.firm_records
                .write()?
                .insert(f, count.saturating_sub(n))?;
        }
        Ok(())
    }

    /// The members, projects and milestones of the firm `f`, counted.
    fn count_records(&self, f: u128) -> Result<u64, Error> {
        let members = self.members.read()?.range((f, 0)..=(f, u128::MAX))?.count();
        let projects = self
            .projects
            .read()?
            .range((f, 0)..=(f, u128::MAX))?
            .count();
        let milestones = self
            .milestones
            .read()?
            .range((f, 0, 0)..=(f, u128::MAX, u128::MAX))?
            .count();
        Ok((members + projects + milestones) as u64)
    }

    /// Refuses to let an id that already belongs to one firm move to another.
    fn claim(
        &self,
        owner: &Option<FirmId>,
        firm: FirmId,
        kind: &str,
        id: u128,
    ) -> Result<(), Error> {
        match owner {
            Some(owner) if *owner != firm => Err(Error::Conflict(format!(
                "{kind} {} belongs to another firm and cannot move to firm {firm}",
                uuid::Uuid::from_u128(id)
            ))),
            _ => Ok(()),
        }
    }
}

use super::read::get;

impl Directory for Writer<'_> {
    type Error = Error;

    fn firm_by_number(&self, phone_number_id: u64) -> Result<Option<FirmId>, Error> {
        Writer::firm_by_number(self, phone_number_id)
    }

    fn phone_roles(&self, phone: Phone) -> Result<Vec<RoleEntry>, Error> {
        read::phone_roles_in(self.phone_roles.read()?, phone)
    }

    fn latest_member_project(
        &self,
        firm: FirmId,
        member: MemberId,
    ) -> Result<Option<(u64, ProjectId)>, Error> {
        read::member_projects_in(self.member_projects.read()?, firm, member, 1)
            .map(|v| v.first().copied())
    }

    fn project_name(&self, firm: FirmId, project: ProjectId) -> Result<Option<String>, Error> {
        Ok(self.project(firm, project)?.map(|p| p.name))
    }

    fn firm_name(&self, firm: FirmId) -> Result<Option<String>, Error> {
        Ok(self.firm(firm)?.map(|f| f.name))
    }
}

impl Data for Writer<'_> {
    fn project(&self, firm: FirmId, project: ProjectId) -> Result<Option<Project>, Error> {
        Writer::project(self, firm, project)
    }

    fn project_firm(&self, project: ProjectId) -> Result<Option<FirmId>, Error> {
        Writer::project_firm(self, project)
    }

    fn member(&self, firm: FirmId, member: MemberId) -> Result<Option<Member>, Error> {
        Writer::member(self, firm, member)
    }

    fn milestone_owner(
        &self,
        milestone: MilestoneId,
    ) -> Result<Option<(FirmId, ProjectId)>, Error> {
        Ok(self
            .milestone_owner
            .read()?
            .get(milestone.to_u128())?
            .map(|g| {
                let (firm, project) = g.value();
                (FirmId::from_u128(firm), ProjectId::from_u128(project))
            }))
    }

    fn milestone(
        &self,
        firm: FirmId,
        project: ProjectId,
        milestone: MilestoneId,
    ) -> Result<Option<Milestone>, Error> {
        Writer::milestone(self, firm, project, milestone)
    }

    fn milestones_of(&self, firm: FirmId, project: ProjectId) -> Result<Vec<Milestone>, Error> {
        read::milestones_in(self.milestones.read()?, firm, project)
    }

    fn member_projects(
        &self,
        firm: FirmId,
        member: MemberId,
        limit: usize,
    ) -> Result<Vec<ProjectId>, Error> {
        let found = read::member_projects_in(self.member_projects.read()?, firm, member, limit)?;
        Ok(found.into_iter().map(|(_, project)| project).collect())
    }

    fn last_hint(&self, sender: &str) -> Result<Option<i64>, Error> {
        Ok(self.hints.read()?.get(sender)?.map(|g| g.value()))
    }

    fn firm_lang(&self, firm: FirmId) -> Result<crate::flow::text::Lang, Error> {
        Ok(self
            .firm(firm)?
            .map_or(crate::flow::text::Lang::En, |f| f.lang()))
    }
}

pub(super) fn member_role_key(phone: Phone, firm: u128, member: u128) -> RoleKey {
    (phone.to_u64(), IndexRole::Member.to_u8(), firm, 0, member)
}

/// The phone index entries a project makes: legacy designer and client.
pub(super) fn project_role_keys(project: &Project) -> impl Iterator<Item = RoleKey> + use<> {
    let (f, p) = (project.firm_id.to_u128(), project.id.to_u128());
    let rank = project.created_at.newest_first_rank();
    [
        project
            .designer_phone
            .map(|phone| (phone, IndexRole::LegacyDesigner)),
        project.client_phone.map(|phone| (phone, IndexRole::Client)),
    ]
    .into_iter()
    .flatten()
    .map(move |(phone, role)| (phone.to_u64(), role.to_u8(), f, rank, p))
}

pub(super) fn member_project_key(project: &Project) -> Option<MemberProjectKey> {
    project.designer_member_id.map(|member| {
        (
            project.firm_id.to_u128(),
            member.to_u128(),
            project.created_at.newest_first_rank(),
            project.id.to_u128(),
        )
    })
}
