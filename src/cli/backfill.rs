//! `firmhook backfill [--apply]`: move designers from the legacy
//! `projects.designer_phone` to `firm_members.whatsapp_phone`.
//!
//! For each project with a legacy phone and a known designer member who has
//! no phone yet, the member gets that phone. A member who already has a
//! different phone, or whose projects disagree about it, is a conflict and
//! is left alone. The report also lists every project pass 1.5 still has to
//! serve: pass 1.5 can go once that list is empty. A dry run unless
//! `--apply`; applying twice changes nothing the second time.

use crate::command::{Command, CommandError, Origin};
use crate::domain::event::Source;
use std::collections::BTreeMap;
use std::fmt;

use crate::cli::DbArg;
use crate::domain::{FirmId, MemberId, Phone, ProjectId};
use crate::resolve::{Directory, IndexRole};
use crate::store::{self, Reader, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub db: DbArg,
    /// Write the changes (without it, only report them)
    #[arg(long)]
    pub apply: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !args.db.path.exists() {
        return Err(store::Error::Missing(args.db.path).into());
    }
    let store = Store::open(&args.db.path, store::DEFAULT_CACHE_BYTES)?;
    let plan = plan(&store.read()?)?;
    print!("{plan}");
    if args.apply {
        let applied = apply(&store, &plan)?;
        println!("applied: {applied} member(s) updated");
    } else if !plan.changes.is_empty() {
        println!("dry run: nothing written; run with --apply to write");
    }
    Ok(())
}

/// A member who gets a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub firm: FirmId,
    pub member: MemberId,
    pub name: String,
    pub phone: Phone,
    pub projects: usize,
}

/// A project pass 1.5 still serves, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    pub project: ProjectId,
    pub reason: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub conflicts: Vec<String>,
    pub left: Vec<Left>,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.changes {
            writeln!(
                f,
                "set member {} ({}) of firm {}: whatsapp_phone = {} (from {} project(s))",
                c.member, c.name, c.firm, c.phone, c.projects
            )?;
        }
        for conflict in &self.conflicts {
            writeln!(f, "conflict: {conflict}")?;
        }
        for left in &self.left {
            writeln!(
                f,
                "left for pass 1.5: project {}: {}",
                left.project, left.reason
            )?;
        }
        writeln!(
            f,
            "summary: {} member(s) to update, {} conflict(s), {} project(s) left for pass 1.5",
            self.changes.len(),
            self.conflicts.len(),
            self.left.len()
        )
    }
}

/// Works out the changes from one snapshot.
pub fn plan(reader: &Reader) -> Result<Plan, store::Error> {
    let mut plan = Plan::default();
    // (firm, member) → (phone, projects proposing it, disagreement)
    let mut proposals: BTreeMap<(FirmId, MemberId), Proposal> = BTreeMap::new();
    let mut projects = Vec::new();
    reader.for_each_project(|p| {
        if let Some(phone) = p.designer_phone {
            projects.push((p.firm_id, p.id, p.designer_member_id, phone));
        }
        Ok::<_, store::Error>(())
    })?;

    for (firm, project, member_id, phone) in projects {
        let Some(member_id) = member_id else {
            if !is_member_phone(reader, firm, phone)? {
                plan.left.push(Left {
                    project,
                    reason: format!("{phone} has no designer_member_id and no member with it"),
                });
            }
            continue;
        };
        let Some(member) = reader.member(firm, member_id)? else {
            plan.left.push(Left {
                project,
                reason: format!("designer member {member_id} does not exist"),
            });
            continue;
        };
        match member.whatsapp_phone {
            Some(current) if current == phone => {}
            Some(current) => {
                plan.conflicts.push(format!(
                    "project {project} says designer {} but member {member_id} ({}) has {current}",
                    phone, member.name
                ));
                plan.left.push(Left {
                    project,
                    reason: format!("member {member_id} already has {current}"),
                });
            }
            None => {
                let entry = proposals.entry((firm, member_id)).or_insert(Proposal {
                    name: member.name,
                    phones: Vec::new(),
                });
                entry.phones.push((phone, project));
            }
        }
    }

    for ((firm, member), proposal) in proposals {
        let first = proposal.phones[0].0;
        if proposal.phones.iter().all(|(phone, _)| *phone == first) {
            plan.changes.push(Change {
                firm,
                member,
                name: proposal.name,
                phone: first,
                projects: proposal.phones.len(),
            });
        } else {
            let listed: Vec<String> = proposal
                .phones
                .iter()
                .map(|(phone, project)| format!("{phone} (project {project})"))
                .collect();
            plan.conflicts.push(format!(
                "member {member} ({}) has projects naming different phones: {}",
                proposal.name,
                listed.join(", ")
            ));
            for (_, project) in proposal.phones {
                plan.left.push(Left {
                    project,
                    reason: format!("its member {member} has projects that disagree"),
                });
            }
        }
    }
    Ok(plan)
}

struct Proposal {
    name: String,
    phones: Vec<(Phone, ProjectId)>,
}

fn is_member_phone(reader: &Reader, firm: FirmId, phone: Phone) -> Result<bool, store::Error> {
    Ok(reader
        .phone_roles(phone)?
        .iter()
        .any(|e| e.role == IndexRole::Member && e.firm == firm))
}

/// Writes the plan's changes in one transaction, re-checking each member:
/// a member who got a phone since the plan was made is left alone.
pub fn apply(store: &Store, plan: &Plan) -> Result<usize, store::Error> {
    let origin = Origin {
        import: true,
        ..Origin::new(Source::Import, crate::clock::Clock::system().now())
    };
    store.write(|w| {
        let mut applied = 0;
        for change in &plan.changes {
            if let Some(mut member) = w.member(change.firm, change.member)?
                && member.whatsapp_phone.is_none()
            {
                member.whatsapp_phone = Some(change.phone);
                // The same command an import or the API builds.
                match crate::command::apply(w, &Command::PutMember(member), origin) {
                    Ok(_) => applied += 1,
                    Err(CommandError::Store(err)) => return Err(err),
                    // Another firm's member already has this phone, say:
                    // left alone, as a member who got a phone meanwhile is.
                    Err(refused) => {
                        tracing::warn!(member = %change.member, %refused, "not backfilled")
                    }
                }
            }
        }
        Ok(applied)
    })
}
