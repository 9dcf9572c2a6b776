//! Reads over one read transaction: record getters scoped by firm, ordered
//! iteration for `export` and `check`, and the resolver's [`Directory`].
//!
//! Every getter of firm data takes the firm id; the only lookups that cross
//! firms are the id and phone indexes the resolver and button taps use to
//! find the firm in the first place.

use std::cell::OnceCell;

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, TableDefinition};

use crate::domain::{
    Firm, FirmId, Member, MemberId, Milestone, MilestoneId, Phone, Project, ProjectId,
};
use crate::resolve::{Directory, IndexRole, RoleEntry};

use super::Error;
use super::codec::{self, Record};
use super::tables::*;

pub struct Reader {
    txn: ReadTransaction,
    // The tables a resolution reads, opened once per transaction (opening
    // a table costs more than a lookup in it).
    phone_roles: OnceCell<ReadOnlyTable<RoleKey, ()>>,
    member_projects: OnceCell<ReadOnlyTable<MemberProjectKey, ()>>,
    projects: OnceCell<ReadOnlyTable<(u128, u128), Bytes>>,
    firms: OnceCell<ReadOnlyTable<u128, Bytes>>,
    firm_by_number: OnceCell<ReadOnlyTable<u64, u128>>,
}

/// The table in `cell`, opening it on first use.
fn cached<'c, K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    cell: &'c OnceCell<ReadOnlyTable<K, V>>,
    def: TableDefinition<K, V>,
) -> Result<&'c ReadOnlyTable<K, V>, Error> {
    if let Some(table) = cell.get() {
        return Ok(table);
    }
    let _ = cell.set(txn.open_table(def)?);
    Ok(cell.get().expect("just set"))
}

impl Reader {
    pub(super) fn new(txn: ReadTransaction) -> Self {
        Self {
            txn,
            phone_roles: OnceCell::new(),
            member_projects: OnceCell::new(),
            projects: OnceCell::new(),
            firms: OnceCell::new(),
            firm_by_number: OnceCell::new(),
        }
    }

    pub(super) fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<ReadOnlyTable<K, V>, Error> {
        Ok(self.txn.open_table(def)?)
    }

    /// A table that files written before it existed do not have yet (a
    /// writer creates every table when it opens the file).
    pub(super) fn table_if_exists<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<Option<ReadOnlyTable<K, V>>, Error> {
        match self.txn.open_table(def) {
            Ok(table) => Ok(Some(table)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    pub(super) fn txn(&self) -> &ReadTransaction {
        &self.txn
    }

    /// Every table of [`NAMES`] with its number of entries (0 for one an
    /// older file lacks), then any other table the file has.
    pub fn table_sizes(&self) -> Result<Vec<(String, u64)>, Error> {
        use redb::ReadableTableMetadata;
        let mut found = std::collections::HashMap::new();
        for handle in self.txn.list_tables()? {
            let name = redb::TableHandle::name(&handle).to_owned();
            let len = self.txn.open_untyped_table(handle)?.len()?;
            found.insert(name, len);
        }
        let mut out: Vec<(String, u64)> = NAMES
            .iter()
            .map(|name| (name.to_string(), found.remove(*name).unwrap_or(0)))
            .collect();
        let mut others: Vec<(String, u64)> = found.into_iter().collect();
        others.sort();
        out.extend(others);
        Ok(out)
    }

    /// The file's format, if marked (files of the first release are not).
    pub fn format(&self) -> Result<Option<u32>, Error> {
        match self.table_if_exists(META)? {
            Some(meta) => Ok(meta.get("format")?.map(|g| g.value())),
            None => Ok(None),
        }
    }

    /// Refuses to read a file of a newer format than this build's.
    pub(super) fn check_format(&self) -> Result<(), Error> {
        match self.format()? {
            Some(found) if found > super::FORMAT => Err(Error::NewerFormat { found }),
            _ => Ok(()),
        }
    }

    pub fn has_firms(&self) -> Result<bool, Error> {
        Ok(!redb::ReadableTableMetadata::is_empty(&self.table(FIRMS)?)?)
    }

    pub fn firm(&self, firm: FirmId) -> Result<Option<Firm>, Error> {
        get(cached(&self.txn, &self.firms, FIRMS)?, firm.to_u128())
    }

    pub fn member(&self, firm: FirmId, member: MemberId) -> Result<Option<Member>, Error> {
        get(&self.table(MEMBERS)?, (firm.to_u128(), member.to_u128()))
    }

    pub fn project(&self, firm: FirmId, project: ProjectId) -> Result<Option<Project>, Error> {
        let table = cached(&self.txn, &self.projects, PROJECTS)?;
        get(table, (firm.to_u128(), project.to_u128()))
    }

    pub fn milestone(
        &self,
        firm: FirmId,
        project: ProjectId,
        milestone: MilestoneId,
    ) -> Result<Option<Milestone>, Error> {
        let key = (firm.to_u128(), project.to_u128(), milestone.to_u128());
        get(&self.table(MILESTONES)?, key)
    }

    /// The firm a project belongs to: how a tap finds the firm first.
    pub fn project_firm(&self, project: ProjectId) -> Result<Option<FirmId>, Error> {
        let table = self.table(PROJECT_FIRM)?;
        Ok(table
            .get(project.to_u128())?
            .map(|g| FirmId::from_u128(g.value())))
    }

    pub fn member_firm(&self, member: MemberId) -> Result<Option<FirmId>, Error> {
        let table = self.table(MEMBER_FIRM)?;
        Ok(table
            .get(member.to_u128())?
            .map(|g| FirmId::from_u128(g.value())))
    }

    pub fn milestone_owner(
        &self,
        milestone: MilestoneId,
    ) -> Result<Option<(FirmId, ProjectId)>, Error> {
        let table = self.table(MILESTONE_OWNER)?;
        Ok(table.get(milestone.to_u128())?.map(|g| {
            let (firm, project) = g.value();
            (FirmId::from_u128(firm), ProjectId::from_u128(project))
        }))
    }

    /// The milestones of one project, in key order.
    pub fn milestones_of(&self, firm: FirmId, project: ProjectId) -> Result<Vec<Milestone>, Error> {
        milestones_in(&self.table(MILESTONES)?, firm, project)
    }

    /// Calls `each` for every record of a table in key order (firm first).
    pub fn for_each_firm<E: From<Error>>(
        &self,
        each: impl FnMut(Firm) -> Result<(), E>,
    ) -> Result<(), E> {
        for_each(&self.table(FIRMS)?, each)
    }

    pub fn for_each_member<E: From<Error>>(
        &self,
        each: impl FnMut(Member) -> Result<(), E>,
    ) -> Result<(), E> {
        for_each(&self.table(MEMBERS)?, each)
    }

    pub fn for_each_project<E: From<Error>>(
        &self,
        each: impl FnMut(Project) -> Result<(), E>,
    ) -> Result<(), E> {
        for_each(&self.table(PROJECTS)?, each)
    }

    pub fn for_each_milestone<E: From<Error>>(
        &self,
        each: impl FnMut(Milestone) -> Result<(), E>,
    ) -> Result<(), E> {
        for_each(&self.table(MILESTONES)?, each)
    }
}

/// A key type whose stored form is itself (ids and tuples of ids).
pub(super) trait PlainKey:
    redb::Key + for<'a> redb::Value<SelfType<'a> = Self> + Copy + 'static
{
}
impl<K: redb::Key + for<'a> redb::Value<SelfType<'a> = K> + Copy + 'static> PlainKey for K {}

pub(super) fn get<K: PlainKey, T: Record<Key = K>>(
    table: &impl ReadableTable<K, Bytes>,
    key: K,
) -> Result<Option<T>, Error> {
    table
        .get(key)?
        .map(|guard| codec::decode(key, guard.value()))
        .transpose()
}

fn for_each<K: PlainKey, T: Record<Key = K>, E: From<Error>>(
    table: &ReadOnlyTable<K, Bytes>,
    mut each: impl FnMut(T) -> Result<(), E>,
) -> Result<(), E> {
    for entry in table.iter().map_err(Error::from)? {
        let (key, value) = entry.map_err(Error::from)?;
        each(codec::decode(key.value(), value.value())?)?;
    }
    Ok(())
}

impl Directory for Reader {
    type Error = Error;

    fn firm_by_number(&self, phone_number_id: u64) -> Result<Option<FirmId>, Error> {
        let table = cached(&self.txn, &self.firm_by_number, FIRM_BY_NUMBER)?;
        Ok(table
            .get(phone_number_id)?
            .map(|g| FirmId::from_u128(g.value())))
    }

    fn phone_roles(&self, phone: Phone) -> Result<Vec<RoleEntry>, Error> {
        phone_roles_in(cached(&self.txn, &self.phone_roles, PHONE_ROLES)?, phone)
    }

    fn latest_member_project(
        &self,
        firm: FirmId,
        member: MemberId,
    ) -> Result<Option<(u64, ProjectId)>, Error> {
        let table = cached(&self.txn, &self.member_projects, MEMBER_PROJECTS)?;
        Ok(member_projects_in(table, firm, member, 1)?.first().copied())
    }

    fn project_name(&self, firm: FirmId, project: ProjectId) -> Result<Option<String>, Error> {
        Ok(self.project(firm, project)?.map(|p| p.name))
    }

    fn firm_name(&self, firm: FirmId) -> Result<Option<String>, Error> {
        Ok(self.firm(firm)?.map(|f| f.name))
    }
}

// Reads shared by `Reader` (read transaction) and `Writer` (the writer's
// own transaction, which sees its uncommitted changes).

pub(super) fn phone_roles_in(
    table: &impl ReadableTable<RoleKey, ()>,
    phone: Phone,
) -> Result<Vec<RoleEntry>, Error> {
    let p = phone.to_u64();
    let mut out = Vec::new();
    for entry in table.range((p, 0, 0, 0, 0)..=(p, u8::MAX, u128::MAX, u64::MAX, u128::MAX))? {
        let (_, role, firm, rank, id) = entry?.0.value();
        let role = IndexRole::from_u8(role)
            .ok_or_else(|| Error::Corrupt(format!("phone_roles entry has role {role}")))?;
        out.push(RoleEntry {
            role,
            firm: FirmId::from_u128(firm),
            rank,
            id,
        });
    }
    Ok(out)
}

/// A member's projects by `designer_member_id`, newest first: (rank, id).
pub(super) fn member_projects_in(
    table: &impl ReadableTable<MemberProjectKey, ()>,
    firm: FirmId,
    member: MemberId,
    limit: usize,
) -> Result<Vec<(u64, ProjectId)>, Error> {
    let (f, m) = (firm.to_u128(), member.to_u128());
    let mut out = Vec::new();
    for entry in table
        .range((f, m, 0, 0)..=(f, m, u64::MAX, u128::MAX))?
        .take(limit)
    {
        let (_, _, rank, project) = entry?.0.value();
        out.push((rank, ProjectId::from_u128(project)));
    }
    Ok(out)
}

/// A project's milestones in position order.
pub(super) fn milestones_in(
    table: &impl ReadableTable<(u128, u128, u128), Bytes>,
    firm: FirmId,
    project: ProjectId,
) -> Result<Vec<Milestone>, Error> {
    let (f, p) = (firm.to_u128(), project.to_u128());
    let mut out: Vec<Milestone> = Vec::new();
    for entry in table.range((f, p, 0)..=(f, p, u128::MAX))? {
        let (key, value) = entry?;
        out.push(codec::decode(key.value(), value.value())?);
    }
    out.sort_by_key(|m| (m.position, m.id));
    Ok(out)
}
