//! Application commands: every change to firm data, whatever the door
//! (a WhatsApp tap, the admin API, the console, an import), is one of
//! these, applied by the writer thread inside its group commit
//! (DESIGN section 5). One write path: the record `put_*` and `delete_*`
//! of the store keep the indexes; this layer adds what a change means —
//! the feed events of status transitions and the notifications it sends.
//!
//! Commands hold values that are already valid (built through
//! `import::fields` or the flow handler); `apply` checks only what needs
//! the database: that ids exist in the firm and never move between firms.

use crate::domain::event::{Change, Event, Hook, Source};
use crate::domain::{
    Firm, FirmId, Member, MemberId, Milestone, MilestoneId, MilestoneStatus, Phone, Project,
    ProjectId, ProjectStatus, Timestamp, Token, TokenId,
};
use crate::flow::{self, Reply};
use crate::notify::{Template, TemplateKind};
use crate::store::{self, Put, Refusal, Writer};

#[derive(Debug, Clone)]
pub enum Command {
    PutFirm(Firm),
    PutMember(Member),
    PutProject(Project),
    /// A PATCH: the columns named in `given` take their values from
    /// `project`; every other column keeps what is stored when the writer
    /// applies it (not what a handler read before), so a change committed
    /// meanwhile (a client's `/status`, say) is never written over.
    PatchProject {
        project: Project,
        given: Vec<&'static str>,
    },
    /// The console's milestone edit: title and position, never the status
    /// (which only the approval flow and the API's PUT set).
    EditMilestone {
        firm: FirmId,
        project: ProjectId,
        milestone: MilestoneId,
        title: String,
        position: u32,
    },
    /// The firm's language, nothing else of the firm.
    SetFirmLanguage {
        firm: FirmId,
        language: Option<crate::domain::Lang>,
    },
    /// The milestone's project must belong to `firm`.
    PutMilestone {
        firm: FirmId,
        milestone: Milestone,
    },
    DeleteFirm {
        firm: FirmId,
        cascade: bool,
    },
    DeleteMember {
        firm: FirmId,
        member: MemberId,
    },
    DeleteProject {
        firm: FirmId,
        project: ProjectId,
    },
    DeleteMilestone {
        firm: FirmId,
        project: ProjectId,
        milestone: MilestoneId,
    },
    /// What a designer's `rdy:` tap does: `pending` → `awaiting_approval`,
    /// and the client gets the approval prompt.
    MarkReady {
        firm: FirmId,
        milestone: MilestoneId,
    },
    SetMilestoneStatus {
        firm: FirmId,
        project: ProjectId,
        milestone: MilestoneId,
        status: MilestoneStatus,
    },
    SetProjectStatus {
        firm: FirmId,
        project: ProjectId,
        status: ProjectStatus,
    },
    CreateToken(Token),
    RevokeToken {
        firm: FirmId,
        token: TokenId,
    },
    /// A template setting of a firm, or the default (`firm: None`).
    SetTemplate {
        firm: Option<FirmId>,
        kind: TemplateKind,
        template: Template,
    },
    DeleteTemplate {
        firm: Option<FirmId>,
        kind: TemplateKind,
    },
    /// Sets where the firm's events are pushed.
    SetHook(Hook),
    DeleteHook {
        firm: FirmId,
    },
    /// Records a token's use (at most once a minute per token).
    TouchToken {
        firm: FirmId,
        token: TokenId,
        at: Timestamp,
    },
}

/// What a command did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// For a put: whether it inserted, updated or changed nothing.
    pub put: Option<Put>,
    /// The feed events it appended (their seqs), in the same transaction.
    pub events: Vec<u64>,
    /// The notifications it causes, each with its `Notice`: the writer
    /// queues them in the same transaction.
    pub outbound: Vec<Reply>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("not found")]
    NotFound,
    /// An id that belongs to another firm (or project), or a business
    /// number claimed twice.
    #[error("{0}")]
    Conflict(String),
    /// The firm is at its quota.
    #[error("{0}")]
    Quota(String),
    /// The record is still needed by others.
    #[error("{0}")]
    InUse(String),
    /// The change does not apply in the record's state.
    #[error("{0}")]
    State(String),
    #[error(transparent)]
    Store(store::Error),
}

impl From<store::Error> for CommandError {
    fn from(err: store::Error) -> Self {
        match err {
            store::Error::Conflict(reason) => CommandError::Conflict(reason),
            store::Error::Quota(reason) => CommandError::Quota(reason),
            other => CommandError::Store(other),
        }
    }
}

impl From<Refusal> for CommandError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotFound => CommandError::NotFound,
            Refusal::InUse(reason) => CommandError::InUse(reason),
        }
    }
}

/// Who applies a change, and when.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub source: Source,
    pub at: Timestamp,
    /// The change loads a file (offline or online import): it is recorded
    /// like any other (events included) but tells nobody (DESIGN section 7).
    pub import: bool,
}

impl Origin {
    pub fn new(source: Source, at: Timestamp) -> Self {
        Self {
            source,
            at,
            import: false,
        }
    }
}

/// Applies one command inside the writer's transaction. A command that
/// fails has written nothing: every check comes before the first write.
pub fn apply(w: &mut Writer, command: &Command, origin: Origin) -> Result<Applied, CommandError> {
    let before = w.feed_appends();
    let mut applied = apply_one(w, command, origin)?;
    let appended = w.feed_appends() - before;
    if let Some(last) = w.feed_appended().filter(|_| appended > 0) {
        applied.events = (last + 1 - appended..=last).collect();
    }
    Ok(applied)
}

fn apply_one(w: &mut Writer, command: &Command, origin: Origin) -> Result<Applied, CommandError> {
    let put = |put| Applied {
        put: Some(put),
        ..Applied::default()
    };
    match command {
        Command::PutFirm(firm) => Ok(put(w.put_firm(firm)?)),
        Command::PutMember(member) => {
            if w.firm(member.firm_id)?.is_none() {
                return Err(CommandError::NotFound);
            }
            Ok(put(w.put_member(member)?))
        }
        Command::PutProject(project) => {
            if w.firm(project.firm_id)?.is_none() {
                return Err(CommandError::NotFound);
            }
            if let Some(member) = project.designer_member_id {
                check_designer(project.firm_id, member, w.member_firm(member)?)
                    .map_err(|err| CommandError::Conflict(err.to_string()))?;
            }
            let before = w.project(project.firm_id, project.id)?.map(|p| p.status);
            can_notify(w, project, before.as_ref(), origin)?;
            let mut applied = put(put_project(w, project, origin)?);
            if !origin.import {
                applied.outbound = status_notices(w, project, before.as_ref())?;
            }
            Ok(applied)
        }
        Command::PutMilestone { firm, milestone } => {
            match w.project_firm(milestone.project_id)? {
                Some(owner) if owner == *firm => {}
                Some(_) => {
                    return Err(CommandError::Conflict(format!(
                        "project {} belongs to another firm",
                        milestone.project_id
                    )));
                }
                None => return Err(CommandError::NotFound),
            }
            Ok(put(put_milestone(w, *firm, milestone, origin)?))
        }
        Command::DeleteFirm { firm, cascade } => {
            w.delete_firm(*firm, *cascade)??;
            Ok(Applied::default())
        }
        Command::DeleteMember { firm, member } => {
            w.delete_member(*firm, *member)??;
            Ok(Applied::default())
        }
        Command::DeleteProject { firm, project } => match w.delete_project(*firm, *project)? {
            true => Ok(Applied::default()),
            false => Err(CommandError::NotFound),
        },
        Command::DeleteMilestone {
            firm,
            project,
            milestone,
        } => match w.delete_milestone(*firm, *project, *milestone)? {
            true => Ok(Applied::default()),
            false => Err(CommandError::NotFound),
        },
        Command::MarkReady { firm, milestone } => mark_ready(w, *firm, *milestone, origin),
        Command::PatchProject { project, given } => {
            let Some(current) = w.project(project.firm_id, project.id)? else {
                return Err(CommandError::NotFound);
            };
            let merged = patched(&current, project, given);
            apply_one(w, &Command::PutProject(merged), origin)
        }
        Command::EditMilestone {
            firm,
            project,
            milestone,
            title,
            position,
        } => {
            let Some(mut record) = w.milestone(*firm, *project, *milestone)? else {
                return Err(CommandError::NotFound);
            };
            record.title = title.clone();
            record.position = *position;
            Ok(put(put_milestone(w, *firm, &record, origin)?))
        }
        Command::SetFirmLanguage { firm, language } => {
            let Some(mut record) = w.firm(*firm)? else {
                return Err(CommandError::NotFound);
            };
            record.language = *language;
            Ok(put(w.put_firm(&record)?))
        }
        Command::SetMilestoneStatus {
            firm,
            project,
            milestone,
            status,
        } => {
            let Some(mut record) = w.milestone(*firm, *project, *milestone)? else {
                return Err(CommandError::NotFound);
            };
            record.status = *status;
            Ok(put(put_milestone(w, *firm, &record, origin)?))
        }
        Command::SetProjectStatus {
            firm,
            project,
            status,
        } => {
            let Some(mut record) = w.project(*firm, *project)? else {
                return Err(CommandError::NotFound);
            };
            let before = record.status.clone();
            record.status = status.clone();
            can_notify(w, &record, Some(&before), origin)?;
            let mut applied = put(put_project(w, &record, origin)?);
            applied.outbound = status_notices(w, &record, Some(&before))?;
            Ok(applied)
        }
        Command::CreateToken(token) => {
            w.put_token(token)?;
            Ok(Applied::default())
        }
        Command::RevokeToken { firm, token } => match w.delete_token(*firm, *token)? {
            true => Ok(Applied::default()),
            false => Err(CommandError::NotFound),
        },
        Command::SetTemplate {
            firm,
            kind,
            template,
        } => {
            if let Some(firm) = firm
                && w.firm(*firm)?.is_none()
            {
                return Err(CommandError::NotFound);
            }
            Ok(put(w.put_template(*firm, *kind, template)?))
        }
        Command::DeleteTemplate { firm, kind } => match w.delete_template(*firm, *kind)? {
            true => Ok(Applied::default()),
            false => Err(CommandError::NotFound),
        },
        Command::SetHook(hook) => {
            if w.firm(hook.firm)?.is_none() {
                return Err(CommandError::NotFound);
            }
            w.put_hook(hook)?;
            Ok(Applied::default())
        }
        Command::DeleteHook { firm } => match w.delete_hook(*firm)? {
            true => Ok(Applied::default()),
            false => Err(CommandError::NotFound),
        },
        Command::TouchToken { firm, token, at } => {
            if let Some(mut stored) = w.token(*firm, *token)? {
                stored.last_used = Some(*at);
                w.put_token(&stored)?;
            }
            Ok(Applied::default())
        }
    }
}

/// The rule that a project's designer is a member of the project's firm,
/// written once for every door (API, console, import, commands):
/// `member_firm` is the member's firm as the caller found it. Another
/// firm's member reads as no member (DESIGN section 10).
pub fn check_designer(
    firm: FirmId,
    member: MemberId,
    member_firm: Option<FirmId>,
) -> Result<(), crate::import::fields::FieldError> {
    match member_firm {
        Some(found) if found == firm => Ok(()),
        _ => Err(crate::import::fields::FieldError::new(
            "designer_member_id",
            format!("unknown member {member}"),
        )),
    }
}

/// `current` with the columns in `given` taken from `new`.
fn patched(current: &Project, new: &Project, given: &[&'static str]) -> Project {
    let mut out = current.clone();
    for column in given {
        match *column {
            "name" => out.name = new.name.clone(),
            "status" => out.status = new.status.clone(),
            "client_name" => out.client_name = new.client_name.clone(),
            "client_phone" => out.client_phone = new.client_phone,
            "designer_member_id" => out.designer_member_id = new.designer_member_id,
            "designer_phone" => out.designer_phone = new.designer_phone,
            "created_at" => out.created_at = new.created_at,
            // `id` and `firm_id` are the path's, checked by the door.
            _ => {}
        }
    }
    out
}

/// Refuses, before anything is written, a change from the API or the
/// console whose client notice would have no business number to go from:
/// the firm has none of its own and the server no shared one
/// (`WHATSAPP_PHONE_NUMBER_ID`). A change on WhatsApp came in on a number,
/// which the notice goes from.
fn can_notify(
    w: &Writer,
    project: &Project,
    before: Option<&ProjectStatus>,
    origin: Origin,
) -> Result<(), CommandError> {
    let notifies =
        before.is_some_and(|before| *before != project.status) && project.client_phone.is_some();
    if notifies && origin.source != Source::WhatsApp && !origin.import {
        has_number(w, project.firm_id, project.client_phone)?;
    }
    Ok(())
}

/// The number a firm's notice to `to` goes from, before the shared one:
/// the firm's own number, else the number `to` last wrote to in a message
/// that reached the firm (DESIGN section 12).
pub fn notice_number(w: &Writer, firm: FirmId, to: Phone) -> Result<Option<u64>, store::Error> {
    if let Some(own) = w.firm(firm)?.and_then(|f| f.phone_number_id) {
        return Ok(Some(own));
    }
    w.contact_number(firm, &to.to_u64().to_string())
}

/// A firm's notice to `to` has a business number to go from: the firm's
/// own, the one `to` wrote to about the firm, or the shared one.
fn has_number(w: &Writer, firm: FirmId, to: Option<Phone>) -> Result<(), CommandError> {
    let found = match to {
        Some(to) => notice_number(w, firm, to)?,
        None => w.firm(firm)?.and_then(|f| f.phone_number_id),
    };
    if found.is_none() && w.shared_number().is_none() {
        return Err(CommandError::State(format!(
            "firm {firm} has no business number of its own and WHATSAPP_PHONE_NUMBER_ID is not \
             set, so the client could not be told: give the firm a phone_number_id, or set \
             WHATSAPP_PHONE_NUMBER_ID"
        )));
    }
    Ok(())
}

/// The client's notice of a status change, when `project` (as written) has
/// a status other than `before`: the same through every door but import,
/// which loads data rather than acting on it. A new project is no change.
fn status_notices(
    w: &Writer,
    project: &Project,
    before: Option<&ProjectStatus>,
) -> Result<Vec<Reply>, store::Error> {
    match before {
        Some(before) if *before != project.status => {
            let lang = flow::Data::firm_lang(w, project.firm_id)?;
            Ok(flow::status_notice(project, &project.status, lang)
                .into_iter()
                .collect())
        }
        _ => Ok(Vec::new()),
    }
}

fn mark_ready(
    w: &mut Writer,
    firm: FirmId,
    milestone: MilestoneId,
    origin: Origin,
) -> Result<Applied, CommandError> {
    let Some((owner, project_id)) = flow::Data::milestone_owner(&*w, milestone)? else {
        return Err(CommandError::NotFound);
    };
    if owner != firm {
        return Err(CommandError::NotFound);
    }
    let (Some(project), Some(mut record)) = (
        w.project(firm, project_id)?,
        w.milestone(firm, project_id, milestone)?,
    ) else {
        return Err(CommandError::NotFound);
    };
    if record.status != MilestoneStatus::Pending {
        return Err(CommandError::State(format!(
            "milestone {milestone} is {}, not pending",
            record.status
        )));
    }
    if origin.source != Source::WhatsApp {
        has_number(w, firm, project.client_phone)?;
    }
    let lang = flow::Data::firm_lang(&*w, firm)?;
    let Some(prompt) = flow::approval_prompt(&project, &record, lang) else {
        return Err(CommandError::State(format!(
            "project {project_id} has no client phone to send the approval prompt to"
        )));
    };
    record.status = MilestoneStatus::AwaitingApproval;
    let put = put_milestone(w, firm, &record, origin)?;
    Ok(Applied {
        put: Some(put),
        outbound: vec![prompt],
        ..Applied::default()
    })
}

/// Writes a project; a change of status is a `project.status_changed`
/// event in the same transaction.
pub fn put_project(w: &mut Writer, project: &Project, origin: Origin) -> Result<Put, store::Error> {
    let before = w.project(project.firm_id, project.id)?.map(|p| p.status);
    let put = w.put_project(project)?;
    if let Some(from) = before
        && from != project.status
    {
        record(
            w,
            project.firm_id,
            origin,
            Change::ProjectStatusChanged {
                project: project.id,
                from: from.to_string(),
                to: project.status.to_string(),
            },
        )?;
    }
    Ok(put)
}

/// Writes a milestone; becoming `awaiting_approval` or `approved` is a
/// `milestone.ready` or `milestone.approved` event in the same transaction.
pub fn put_milestone(
    w: &mut Writer,
    firm: FirmId,
    milestone: &Milestone,
    origin: Origin,
) -> Result<Put, store::Error> {
    let before = w
        .milestone(firm, milestone.project_id, milestone.id)?
        .map(|m| m.status);
    let put = w.put_milestone(firm, milestone)?;
    // Transitions of a milestone that existed: one imported as approved
    // did not just become so.
    if before.is_some_and(|status| status != milestone.status) {
        let (project, id, title) = (milestone.project_id, milestone.id, milestone.title.clone());
        let change = match milestone.status {
            MilestoneStatus::AwaitingApproval => Some(Change::MilestoneReady {
                project,
                milestone: id,
                title,
            }),
            MilestoneStatus::Approved => Some(Change::MilestoneApproved {
                project,
                milestone: id,
                title,
            }),
            MilestoneStatus::Pending => None,
        };
        if let Some(change) = change {
            record(w, firm, origin, change)?;
        }
        w.milestone_moved(milestone.id, origin.at, origin.source)?;
    }
    Ok(put)
}

/// Appends one event to the feed.
pub fn record(
    w: &mut Writer,
    firm: FirmId,
    origin: Origin,
    change: Change,
) -> Result<u64, store::Error> {
    w.record_change(
        &Event {
            seq: 0,
            id: uuid::Uuid::now_v7().as_u128(),
            firm,
            at: origin.at,
            source: origin.source,
            change,
        },
        // Due for pushing from the change's own time (its second).
        origin.at.unix_seconds().max(0) as u64 * 1000,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Country, Phone};
    use crate::store::Store;

    fn origin() -> Origin {
        Origin::new(Source::Api, Timestamp::from_unix_seconds(1_700_000_000))
    }

    /// A store with one firm, which has a number of its own (so a status
    /// change notifies the client), and its project with a client phone.
    fn kitchen() -> (Store, Firm, Project) {
        let store = Store::in_memory().unwrap();
        let firm = Firm {
            id: FirmId::new_v7(),
            name: "Alba".into(),
            country: Country::parse("GB").unwrap(),
            phone_number_id: Some(106540352242922),
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
            designer_phone: None,
            created_at: Timestamp::from_unix_seconds(1_700_000_000),
        };
        store
            .write(|w| {
                w.put_firm(&firm)?;
                w.put_project(&project)
            })
            .unwrap();
        (store, firm, project)
    }

    /// Issue 21: a PATCH built from a record read before a client's change
    /// committed wrote the old status back. The command merges the columns
    /// it was given into what is stored when it applies.
    #[test]
    fn a_patch_keeps_what_was_committed_after_its_read() {
        let (store, firm, project) = kitchen();
        // A handler reads the project and builds a rename from it…
        let read = project.clone();
        // …while a designer's /status commits.
        let on_hold = ProjectStatus::parse("On Hold", ProjectStatus::DEFAULT_SET).unwrap();
        store
            .write(|w| {
                apply(
                    w,
                    &Command::SetProjectStatus {
                        firm: firm.id,
                        project: project.id,
                        status: on_hold.clone(),
                    },
                    origin(),
                )
            })
            .unwrap();
        let renamed = Project {
            name: "Kitchen and pantry".into(),
            ..read
        };
        store
            .write(|w| {
                apply(
                    w,
                    &Command::PatchProject {
                        project: renamed,
                        given: vec!["name"],
                    },
                    origin(),
                )
            })
            .unwrap();
        let stored = store
            .read()
            .unwrap()
            .project(firm.id, project.id)
            .unwrap()
            .unwrap();
        assert_eq!(stored.name, "Kitchen and pantry");
        assert_eq!(
            stored.status, on_hold,
            "the status committed meanwhile stays"
        );
    }

    /// What a command did comes back whole: its record, the feed events it
    /// appended, and the notifications it causes.
    #[test]
    fn a_command_returns_its_events_and_its_outbound_messages() {
        let (store, firm, project) = kitchen();
        let status = |name: &str| ProjectStatus::parse(name, ProjectStatus::DEFAULT_SET).unwrap();
        let set = |name: &str| Command::SetProjectStatus {
            firm: firm.id,
            project: project.id,
            status: status(name),
        };
        let first = store
            .write(|w| apply(w, &set("On Hold"), origin()))
            .unwrap();
        assert_eq!(first.put, Some(Put::Updated));
        assert_eq!(first.events, [1]);
        assert_eq!(first.outbound.len(), 1, "the client is told");
        let second = store.write(|w| apply(w, &set("Active"), origin())).unwrap();
        assert_eq!(second.events, [2]);
        // The same status again: no event, nobody told.
        let same = store.write(|w| apply(w, &set("Active"), origin())).unwrap();
        assert!(
            same.events.is_empty() && same.outbound.is_empty(),
            "{same:?}"
        );
        let feed = store.read().unwrap().feed_last().unwrap();
        assert_eq!(feed, 2);
    }
}
