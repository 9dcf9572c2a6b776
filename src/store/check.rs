//! Our own consistency check, beside redb's page-level one: every index
//! entry points at a live record that still has the indexed value, every
//! record is indexed, every record decodes, and every reference between
//! records resolves.
//!
//! Reads one snapshot; reports problems, never repairs.

use std::fmt;

use redb::ReadableTable;

use crate::domain::{Firm, Member, Milestone, Project};
use crate::resolve::IndexRole;

use super::codec;
use super::tables::*;
use super::write::{member_project_key, member_role_key, project_role_keys};
use super::{Error, Reader};

/// One inconsistency, as a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(pub String);

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Record counts of a checked database.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub firms: u64,
    pub members: u64,
    pub projects: u64,
    pub milestones: u64,
    pub index_entries: u64,
}

pub fn check(reader: &Reader) -> Result<(Totals, Vec<Problem>), Error> {
    let mut problems = Vec::new();
    let mut totals = Totals::default();
    let mut report = |text: String| problems.push(Problem(text));

    let firms = reader.table(FIRMS)?;
    let members = reader.table(MEMBERS)?;
    let projects = reader.table(PROJECTS)?;
    let milestones = reader.table(MILESTONES)?;
    let phone_roles = reader.table(PHONE_ROLES)?;
    let member_projects = reader.table(MEMBER_PROJECTS)?;
    let project_firm = reader.table(PROJECT_FIRM)?;
    let member_firm = reader.table(MEMBER_FIRM)?;
    let milestone_owner = reader.table(MILESTONE_OWNER)?;
    let firm_by_number = reader.table(FIRM_BY_NUMBER)?;

    // Records: decodable, under their own key, referenced records exist,
    // and indexed.
    for entry in firms.iter()? {
        let (key, value) = entry?;
        totals.firms += 1;
        let Some(firm) = decoded::<Firm>(&mut report, key.value(), value.value()) else {
            continue;
        };
        if let Some(number) = firm.phone_number_id
            && firm_by_number.get(number)?.map(|g| g.value()) != Some(firm.id.to_u128())
        {
            report(format!(
                "firm {}: phone_number_id {number} is not indexed",
                firm.id
            ));
        }
    }
    for entry in members.iter()? {
        let (key, value) = entry?;
        totals.members += 1;
        let Some(member) = decoded::<Member>(&mut report, key.value(), value.value()) else {
            continue;
        };
        let (f, m) = (member.firm_id.to_u128(), member.id.to_u128());
        if firms.get(f)?.is_none() {
            report(format!(
                "member {}: firm {} does not exist",
                member.id, member.firm_id
            ));
        }
        if member_firm.get(m)?.map(|g| g.value()) != Some(f) {
            report(format!("member {}: missing from member_firm", member.id));
        }
        if let Some(phone) = member.whatsapp_phone
            && phone_roles.get(member_role_key(phone, f, m))?.is_none()
        {
            report(format!(
                "member {}: whatsapp_phone {phone} is not indexed",
                member.id
            ));
        }
    }
    for entry in projects.iter()? {
        let (key, value) = entry?;
        totals.projects += 1;
        let Some(project) = decoded::<Project>(&mut report, key.value(), value.value()) else {
            continue;
        };
        let (f, p) = (project.firm_id.to_u128(), project.id.to_u128());
        if (f, p) != key.value() {
            report(format!(
                "project {} is stored under another key",
                project.id
            ));
        }
        if firms.get(f)?.is_none() {
            report(format!(
                "project {}: firm {} does not exist",
                project.id, project.firm_id
            ));
        }
        if project_firm.get(p)?.map(|g| g.value()) != Some(f) {
            report(format!("project {}: missing from project_firm", project.id));
        }
        if let Some(member) = project.designer_member_id
            && members.get((f, member.to_u128()))?.is_none()
        {
            report(format!(
                "project {}: designer member {member} is not a member of its firm",
                project.id
            ));
        }
        for role_key in project_role_keys(&project) {
            if phone_roles.get(role_key)?.is_none() {
                report(format!(
                    "project {}: phone +{} is not indexed",
                    project.id, role_key.0
                ));
            }
        }
        if let Some(mp) = member_project_key(&project)
            && member_projects.get(mp)?.is_none()
        {
            report(format!(
                "project {}: missing from member_projects",
                project.id
            ));
        }
    }
    for entry in milestones.iter()? {
        let (key, value) = entry?;
        totals.milestones += 1;
        let Some(milestone) = decoded::<Milestone>(&mut report, key.value(), value.value()) else {
            continue;
        };
        let (f, p, m) = key.value();
        if (p, m) != (milestone.project_id.to_u128(), milestone.id.to_u128()) {
            report(format!(
                "milestone {} is stored under another key",
                milestone.id
            ));
        }
        if projects.get((f, p))?.is_none() {
            report(format!(
                "milestone {}: project {} does not exist in its firm",
                milestone.id, milestone.project_id
            ));
        }
        if milestone_owner.get(m)?.map(|g| g.value()) != Some((f, p)) {
            report(format!(
                "milestone {}: missing from milestone_owner",
                milestone.id
            ));
        }
    }

    // Indexes: every entry points at a live record that still holds it.
    for entry in phone_roles.iter()? {
        let ((phone, role, f, rank, id), ()) = (entry?.0.value(), ());
        totals.index_entries += 1;
        let holds = match IndexRole::from_u8(role) {
            Some(IndexRole::Member) => members
                .get((f, id))?
                .and_then(|g| codec::decode::<Member>((f, id), g.value()).ok())
                .is_some_and(|m| m.whatsapp_phone.map(|p| p.to_u64()) == Some(phone)),
            Some(role) => projects
                .get((f, id))?
                .and_then(|g| codec::decode::<Project>((f, id), g.value()).ok())
                .is_some_and(|p| {
                    project_role_keys(&p).any(|k| k == (phone, role.to_u8(), f, rank, id))
                }),
            None => false,
        };
        if !holds {
            report(format!(
                "phone_roles entry (+{phone}, role {role}, firm {}, {}) points at nothing",
                uuid::Uuid::from_u128(f),
                uuid::Uuid::from_u128(id)
            ));
        }
    }
    for entry in member_projects.iter()? {
        let key = entry?.0.value();
        totals.index_entries += 1;
        let (f, _, _, p) = key;
        let holds = projects
            .get((f, p))?
            .and_then(|g| codec::decode::<Project>((f, p), g.value()).ok())
            .is_some_and(|project| member_project_key(&project) == Some(key));
        if !holds {
            report(format!(
                "member_projects entry for project {} points at nothing",
                uuid::Uuid::from_u128(p)
            ));
        }
    }
    for entry in project_firm.iter()? {
        let (p, f) = entry.map(|(k, v)| (k.value(), v.value()))?;
        totals.index_entries += 1;
        if projects.get((f, p))?.is_none() {
            report(format!(
                "project_firm entry for {} points at nothing",
                uuid::Uuid::from_u128(p)
            ));
        }
    }
    for entry in member_firm.iter()? {
        let (m, f) = entry.map(|(k, v)| (k.value(), v.value()))?;
        totals.index_entries += 1;
        if members.get((f, m))?.is_none() {
            report(format!(
                "member_firm entry for {} points at nothing",
                uuid::Uuid::from_u128(m)
            ));
        }
    }
    for entry in milestone_owner.iter()? {
        let (m, (f, p)) = entry.map(|(k, v)| (k.value(), v.value()))?;
        totals.index_entries += 1;
        if milestones.get((f, p, m))?.is_none() {
            report(format!(
                "milestone_owner entry for {} points at nothing",
                uuid::Uuid::from_u128(m)
            ));
        }
    }
    for entry in firm_by_number.iter()? {
        let (number, f) = entry.map(|(k, v)| (k.value(), v.value()))?;
        totals.index_entries += 1;
        let holds = firms
            .get(f)?
            .and_then(|g| codec::decode::<Firm>(f, g.value()).ok())
            .is_some_and(|firm| firm.phone_number_id == Some(number));
        if !holds {
            report(format!("firm_by_number entry {number} points at nothing"));
        }
    }
    // The webhook's tables (absent from files no server has opened yet):
    // the pending queue and the status index point at queued replies, and
    // every seen wamid is in the pruning index.
    if let (Some(outbox), Some(due), Some(by_wamid), Some(seen), Some(seen_by_time)) = (
        reader.table_if_exists(OUTBOX)?,
        reader.table_if_exists(OUTBOX_DUE)?,
        reader.table_if_exists(OUTBOUND_WAMID)?,
        reader.table_if_exists(SEEN)?,
        reader.table_if_exists(SEEN_BY_TIME)?,
    ) {
        for entry in due.iter()? {
            let (_, seq) = entry?.0.value();
            totals.index_entries += 1;
            if outbox.get(seq)?.is_none() {
                report(format!(
                    "outbox_due entry for reply {seq} points at nothing"
                ));
            }
        }
        let quarantine = reader.table_if_exists(QUARANTINE)?;
        for entry in by_wamid.iter()? {
            let (wamid, seq) = entry.map(|(k, v)| (k.value().to_owned(), v.value()))?;
            totals.index_entries += 1;
            // A quarantined row keeps its wamid entry: its bytes are kept.
            let quarantined = match &quarantine {
                Some(q) => q.get(seq)?.is_some(),
                None => false,
            };
            if outbox.get(seq)?.is_none() && !quarantined {
                report(format!("outbound_wamid entry {wamid} points at nothing"));
            }
        }
        for entry in seen.iter()? {
            let (wamid, at) = entry.map(|(k, v)| (k.value().to_owned(), v.value()))?;
            if seen_by_time.get((at, wamid.as_str()))?.is_none() {
                report(format!("seen message {wamid} is missing from seen_by_time"));
            }
        }
        for entry in seen_by_time.iter()? {
            let (at, wamid) = entry.map(|(k, _)| {
                let (at, wamid) = k.value();
                (at, wamid.to_owned())
            })?;
            totals.index_entries += 1;
            if seen.get(wamid.as_str())?.map(|g| g.value()) != Some(at) {
                report(format!("seen_by_time entry {wamid} points at nothing"));
            }
        }
    }
    // The admin API's tables: every feed index entry, token hash and due
    // push points at its record, and every token is findable by its hash.
    if let (Some(feed), Some(by_firm)) = (
        reader.table_if_exists(FEED)?,
        reader.table_if_exists(FEED_BY_FIRM)?,
    ) {
        for entry in by_firm.iter()? {
            let (firm, seq) = entry?.0.value();
            totals.index_entries += 1;
            let holds = feed
                .get(seq)?
                .and_then(|v| codec::decode::<crate::domain::event::Event>(seq, v.value()).ok())
                .is_some_and(|e| e.firm.to_u128() == firm);
            if !holds {
                report(format!("feed_by_firm entry {seq} points at nothing"));
            }
        }
    }
    if let (Some(tokens), Some(by_hash)) = (
        reader.table_if_exists(TOKENS)?,
        reader.table_if_exists(TOKEN_BY_HASH)?,
    ) {
        for entry in by_hash.iter()? {
            let key = entry?.1.value();
            totals.index_entries += 1;
            if tokens.get(key)?.is_none() {
                report("a token_by_hash entry points at nothing".to_owned());
            }
        }
        for entry in tokens.iter()? {
            let (key, value) = entry?;
            if let Some(token) =
                decoded::<crate::domain::Token>(&mut report, key.value(), value.value())
                && by_hash.get(token.hash.as_slice())?.map(|g| g.value()) != Some(key.value())
            {
                report(format!("token {} is missing from token_by_hash", token.id));
            }
        }
    }
    if let (Some(pushes), Some(due)) = (
        reader.table_if_exists(PUSHES)?,
        reader.table_if_exists(PUSH_DUE)?,
    ) {
        for entry in due.iter()? {
            let (_, seq) = entry?.0.value();
            totals.index_entries += 1;
            if pushes.get(seq)?.is_none() {
                report(format!("push_due entry for push {seq} points at nothing"));
            }
        }
    }
    // Each firm's record count, where one is kept, is exact.
    if let Some(counts) = reader.table_if_exists(FIRM_RECORDS)? {
        for entry in counts.iter()? {
            let (f, kept) = entry.map(|(k, v)| (k.value(), v.value()))?;
            totals.index_entries += 1;
            let counted = members.range((f, 0)..=(f, u128::MAX))?.count()
                + projects.range((f, 0)..=(f, u128::MAX))?.count()
                + milestones
                    .range((f, 0, 0)..=(f, u128::MAX, u128::MAX))?
                    .count();
            if counted as u64 != kept {
                report(format!(
                    "firm {}: firm_records says {kept} records, it has {counted}",
                    crate::domain::FirmId::from_u128(f)
                ));
            }
        }
    }
    // Hints recorded before the pruning index existed have no entry in it;
    // every entry it has must point at its hint.
    if let (Some(hints), Some(by_time)) = (
        reader.table_if_exists(HINTS)?,
        reader.table_if_exists(HINTS_BY_TIME)?,
    ) {
        for entry in by_time.iter()? {
            let (at, sender) = entry.map(|(k, _)| {
                let (at, sender) = k.value();
                (at, sender.to_owned())
            })?;
            totals.index_entries += 1;
            if hints.get(sender.as_str())?.map(|g| g.value()) != Some(at) {
                report(format!("hints_by_time entry {sender:?} points at nothing"));
            }
        }
    }
    Ok((totals, problems))
}

fn decoded<T: codec::Record>(
    report: &mut impl FnMut(String),
    key: T::Key,
    bytes: &[u8],
) -> Option<T> {
    match codec::decode(key, bytes) {
        Ok(record) => Some(record),
        Err(err) => {
            report(err.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Country, FirmId, Phone, ProjectId, ProjectStatus, Timestamp};
    use crate::store::Store;

    fn sample(store: &Store) -> Project {
        let firm = Firm {
            id: FirmId::new_v7(),
            name: "Alba".into(),
            country: Country::parse("GB").unwrap(),
            phone_number_id: Some(42),
            language: None,
        };
        let project = Project {
            id: ProjectId::new_v7(),
            firm_id: firm.id,
            name: "Kitchen".into(),
            status: ProjectStatus::parse("Active", ProjectStatus::DEFAULT_SET).unwrap(),
            client_name: "Ann".into(),
            client_phone: Some(Phone::from_wa_id("447911123456").unwrap()),
            designer_member_id: None,
            designer_phone: Some(Phone::from_wa_id("447911654321").unwrap()),
            created_at: Timestamp::from_unix_seconds(1_700_000_000),
        };
        store
            .write(|w| {
                w.put_firm(&firm)?;
                w.put_project(&project)
            })
            .unwrap();
        project
    }

    #[test]
    fn consistent_database_has_no_problems() {
        let store = Store::in_memory().unwrap();
        sample(&store);
        let (totals, problems) = check(&store.read().unwrap()).unwrap();
        assert_eq!(problems, vec![]);
        assert_eq!((totals.firms, totals.projects), (1, 1));
        // project_firm, two phone_roles, firm_by_number
        assert_eq!(totals.index_entries, 4);
    }

    #[test]
    fn record_counts_are_kept_exact_and_a_wrong_one_is_reported() {
        let store = Store::in_memory().unwrap();
        store.set_records_max(10);
        let project = sample(&store);
        let f = project.firm_id.to_u128();
        let kept = |store: &Store| {
            let reader = store.read().unwrap();
            let table = reader.table(FIRM_RECORDS).unwrap();
            table.get(f).unwrap().map(|g| g.value())
        };
        assert_eq!(kept(&store), Some(1));
        store
            .write(|w| w.delete_project(project.firm_id, project.id))
            .unwrap();
        assert_eq!(kept(&store), Some(0));
        assert_eq!(check(&store.read().unwrap()).unwrap().1, vec![]);
        let guard = store.db().unwrap();
        let txn = guard.as_ref().unwrap().begin_write().unwrap();
        txn.open_table(FIRM_RECORDS).unwrap().insert(f, 7).unwrap();
        txn.commit().unwrap();
        drop(guard);
        let (_, problems) = check(&store.read().unwrap()).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .to_string()
                .contains("firm_records says 7 records, it has 0")
        );
    }

    #[test]
    fn missing_and_dangling_index_entries_are_reported() {
        let store = Store::in_memory().unwrap();
        let project = sample(&store);
        let guard = store.db().unwrap();
        let txn = guard.as_ref().unwrap().begin_write().unwrap();
        {
            let mut roles = txn.open_table(PHONE_ROLES).unwrap();
            let key = project_role_keys(&project).next().unwrap();
            roles.remove(key).unwrap();
            roles.insert((447000000000, 3, 7, 0, 9), ()).unwrap();
            let mut owners = txn.open_table(MILESTONE_OWNER).unwrap();
            owners.insert(5, (7, 9)).unwrap();
        }
        txn.commit().unwrap();
        drop(guard);
        let (_, problems) = check(&store.read().unwrap()).unwrap();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:#?}");
        assert!(
            text[0].contains("phone +447911654321 is not indexed"),
            "{text:#?}"
        );
        assert!(
            text[1].starts_with("phone_roles entry (+447000000000, role 3"),
            "{text:#?}"
        );
        assert!(
            text[2].starts_with("milestone_owner entry for"),
            "{text:#?}"
        );
    }
}
