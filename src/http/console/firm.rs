//! A firm's pages: projects, one project (with its forms), messages, "who
//! is this number?", settings. Every handler takes the [`FirmScope`] the
//! router made from the session, reads through one read transaction, and
//! changes data only by handing a [`Command`] to the writer.

use std::collections::HashMap;

use askama::Template;
use hyper::StatusCode;

use super::{Answer, Nav, Page, Problem, html, ok, redirect, words};
use crate::command::Command;
use crate::domain::event::Source;
use crate::domain::event::{Direction, Hook};
use crate::domain::{
    Firm, Lang, MilestoneId, MilestoneStatus, Phone, Project, ProjectId, ProjectStatus, Timestamp,
};
use crate::http::Query;
use crate::http::api::FirmScope;
use crate::import::fields::{self, FieldError, Reader};
use crate::notify::{Template as WaTemplate, TemplateKind};
use crate::resolve::{Outcome, WithinFirm, resolve};
use crate::writer::ChangeError;

/// Projects shown on one page of the list at most.
const PROJECT_ROWS: usize = 200;
/// Log entries the messages page reads at most.
const MESSAGE_ROWS: usize = 500;

/// A form that was refused, to be shown again with its values and the
/// error next to the field at fault.
pub(crate) struct FormProblem {
    /// Which form on the page (`add`, `edit-<id>`, `status`, …).
    form: String,
    field: &'static str,
    message: String,
    values: HashMap<String, String>,
}

impl FormProblem {
    fn new(form: impl Into<String>, err: FieldError, input: &Query) -> Self {
        Self {
            form: form.into(),
            field: err.field,
            message: err.reason,
            values: input.pairs().cloned().collect(),
        }
    }
}

/// What every page with forms offers its template.
trait Forms {
    fn problem(&self) -> Option<&FormProblem>;

    /// The value the person typed into `form`'s `field`, if it was refused.
    fn typed(&self, form: &str, field: &str) -> Option<&str> {
        self.problem()
            .filter(|p| p.form == form)
            .and_then(|p| p.values.get(field))
            .map(String::as_str)
    }

    /// The error of `form`'s `field`, if that is what was refused.
    fn error(&self, form: &str, field: &str) -> Option<&str> {
        self.problem()
            .filter(|p| p.form == form && p.field == field)
            .map(|p| p.message.as_str())
    }

    /// An error of `form` not tied to one of its fields.
    fn form_error(&self, form: &str) -> Option<&str> {
        self.problem()
            .filter(|p| p.form == form && p.field.is_empty())
            .map(|p| p.message.as_str())
    }
}

fn firm_of(reader: &crate::store::Reader, scope: &FirmScope) -> Result<Firm, Problem> {
    reader.firm(scope.firm())?.ok_or(Problem::NotFound)
}

/// Where a new milestone goes: after the last.
fn next_position(milestones: &[crate::domain::Milestone]) -> u32 {
    milestones.iter().map(|m| m.position + 1).max().unwrap_or(1)
}

/// 400 when the page shows an input it refused, 200 otherwise.
fn status(refused: bool) -> StatusCode {
    if refused {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

/// `?phone=` as typed, and the number it reads as with the firm's country
/// (`Ok(None)` when empty, `Err` with why it does not read).
fn phone_param(query: &Query, firm: &Firm) -> (String, Result<Option<Phone>, String>) {
    let typed = query.get("phone").unwrap_or("").trim().to_owned();
    let phone = match typed.as_str() {
        "" => Ok(None),
        text => Phone::parse(text, Some(firm.country))
            .map(|parsed| Some(parsed.phone))
            .map_err(|err| err.to_string()),
    };
    (typed, phone)
}

// ---------------------------------------------------------------- projects

/// Text as search compares it: lower case, without accents (`José` and
/// `jose` are the same), spaces collapsed.
fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The digit strings a phone search looks for: a whole number in the
/// firm's national format (`07911 123403`) as its E.164 digits, and a part
/// of one (3 digits or more) as typed, and without its trunk `0`.
fn phone_needles(query: &str, country: crate::domain::Country) -> Vec<String> {
    let digits: String = query.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 3 {
        return Vec::new();
    }
    let mut needles = vec![digits.clone()];
    if let Ok(parsed) = Phone::parse(query, Some(country)) {
        needles.push(parsed.phone.to_u64().to_string());
    }
    let trimmed = digits.trim_start_matches('0');
    if trimmed.len() >= 3 && trimmed.len() < digits.len() {
        needles.push(trimmed.to_owned());
    }
    needles
}

pub(crate) struct ProjectRow {
    id: String,
    name: String,
    client: String,
    phone: String,
    status: String,
    waiting: usize,
    milestones: usize,
}

#[derive(Template)]
#[template(path = "console/projects.html")]
pub(crate) struct Projects {
    nav: Nav,
    firm_id: String,
    q: String,
    status: String,
    statuses: Vec<String>,
    rows: Vec<ProjectRow>,
    total: usize,
    /// Not every project was looked at: the firm has more than `examined`.
    partial: bool,
    examined: usize,
}

/// `?q=` (a name, the client's name or digits of a phone) and `?status=`;
/// projects with approvals waiting first, then the newest.
pub fn projects(page: &Page, scope: &FirmScope, query: &Query) -> Answer {
    let reader = page.door.state.store.read()?;
    let firm = firm_of(&reader, scope)?;
    let q = query.get("q").unwrap_or("").trim().to_owned();
    let status = query.get("status").unwrap_or("").trim().to_owned();
    let needle = fold(&q);
    let numbers = phone_needles(&q, firm.country);
    let matches = |p: &Project| {
        let by_status = status.is_empty() || p.status.as_str() == status;
        let by_text = needle.is_empty()
            || fold(&p.name).contains(&needle)
            || fold(&p.client_name).contains(&needle)
            || p.client_phone.is_some_and(|phone| {
                let digits = phone.to_u64().to_string();
                numbers.iter().any(|n| digits.contains(n.as_str()))
            });
        by_status && by_text
    };
    // At most EXAMINED_MAX projects are looked at (a firm of 600,000 must
    // not stall the server for everyone); past that the page says so.
    let found = reader.projects_page(scope.firm(), None, usize::MAX, matches)?;
    let partial = found.next.is_some();
    let projects = found.items;
    let mut counts: HashMap<ProjectId, (usize, usize)> = HashMap::new();
    for project in &projects {
        let entry = counts.entry(project.id).or_default();
        for milestone in reader.milestones_of(scope.firm(), project.id)? {
            entry.1 += 1;
            if milestone.status == MilestoneStatus::AwaitingApproval {
                entry.0 += 1;
            }
        }
    }
    let mut rows: Vec<(Timestamp, ProjectRow)> = projects
        .into_iter()
        .map(|p| {
            let (waiting, milestones) = counts.get(&p.id).copied().unwrap_or_default();
            let row = ProjectRow {
                id: p.id.to_string(),
                name: p.name,
                client: p.client_name,
                phone: p.client_phone.map(|p| p.to_string()).unwrap_or_default(),
                status: p.status.as_str().to_owned(),
                waiting,
                milestones,
            };
            (p.created_at, row)
        })
        .collect();
    rows.sort_by(|(a_at, a), (b_at, b)| b.waiting.cmp(&a.waiting).then(b_at.cmp(a_at)));
    let total = rows.len();
    rows.truncate(PROJECT_ROWS);
    ok(&Projects {
        nav: page.nav(Some((&firm, "projects"))),
        firm_id: firm.id.to_string(),
        q,
        status,
        statuses: page.door.state.statuses.clone(),
        rows: rows.into_iter().map(|(_, row)| row).collect(),
        total,
        partial,
        examined: crate::store::EXAMINED_MAX,
    })
}

// ----------------------------------------------------------------- project

pub(crate) struct MilestoneRow {
    id: String,
    title: String,
    status: &'static str,
    position_text: String,
    pending: bool,
    /// The names of its forms, for errors shown next to them.
    edit_form: String,
    ready_form: String,
}

#[derive(Template)]
#[template(path = "console/project.html")]
pub(crate) struct ProjectPage {
    nav: Nav,
    firm_id: String,
    id: String,
    name: String,
    status: String,
    client: String,
    client_phone: String,
    designer: String,
    statuses: Vec<String>,
    milestones: Vec<MilestoneRow>,
    next_position: u32,
    done: Option<&'static str>,
    problem: Option<FormProblem>,
}

impl Forms for ProjectPage {
    fn problem(&self) -> Option<&FormProblem> {
        self.problem.as_ref()
    }
}

fn milestone_status(status: MilestoneStatus) -> &'static str {
    match status {
        MilestoneStatus::Pending => "in progress",
        MilestoneStatus::AwaitingApproval => "waiting for the client's approval",
        MilestoneStatus::Approved => "approved",
    }
}

pub fn project_page(
    page: &Page,
    scope: &FirmScope,
    project: ProjectId,
    query: &Query,
    problem: Option<FormProblem>,
) -> Answer {
    let reader = page.door.state.store.read()?;
    let firm = firm_of(&reader, scope)?;
    let Some(record) = reader.project(scope.firm(), project)? else {
        return Err(Problem::NotFound);
    };
    let designer = match record.designer_member_id {
        Some(member) => reader
            .member(scope.firm(), member)?
            .map(|m| m.name)
            .unwrap_or_default(),
        None => record
            .designer_phone
            .map(|p| p.to_string())
            .unwrap_or_default(),
    };
    let milestones = reader.milestones_of(scope.firm(), project)?;
    let next_position = next_position(&milestones);
    let done = match query.get("done") {
        Some("ready") => Some("Marked ready: the client has been asked on WhatsApp to approve it."),
        Some("ready-template") => Some(
            "Marked ready: the client has been asked on WhatsApp with the milestone_ready \
             template (they have not written in the last 24 hours).",
        ),
        Some("ready-held") => Some(
            "Marked ready, but the client's prompt is held: they have not written in the last \
             24 hours and there is no milestone_ready template. It goes when they next write. \
             Set a template in Settings to reach them now.",
        ),
        Some("status") => Some("Status changed. The client is told on WhatsApp."),
        Some("status-template") => Some(
            "Status changed. The client is told on WhatsApp with the status_changed template \
             (they have not written in the last 24 hours).",
        ),
        Some("status-held") => Some(
            "Status changed. The client's notice is held: they have not written in the last 24 \
             hours and there is no status_changed template. It goes when they next write. Set a \
             template in Settings to reach them now.",
        ),
        Some("status-nobody") => {
            Some("Status changed. The project has no client phone: nobody was told.")
        }
        Some("status-same") => {
            Some("The project already had that status: nothing changed and nobody was told.")
        }
        Some("added") => Some("Milestone added."),
        Some("saved") => Some("Milestone saved."),
        _ => None,
    };
    let status = status(problem.is_some());
    let view = ProjectPage {
        nav: page.nav(Some((&firm, "projects"))),
        firm_id: firm.id.to_string(),
        id: record.id.to_string(),
        name: record.name,
        status: record.status.as_str().to_owned(),
        client: record.client_name,
        client_phone: record
            .client_phone
            .map(|p| p.to_string())
            .unwrap_or_default(),
        designer,
        statuses: page.door.state.statuses.clone(),
        milestones: milestones
            .into_iter()
            .map(|m| MilestoneRow {
                id: m.id.to_string(),
                title: m.title,
                status: milestone_status(m.status),
                position_text: m.position.to_string(),
                pending: m.status == MilestoneStatus::Pending,
                edit_form: format!("edit-{}", m.id),
                ready_form: format!("ready-{}", m.id),
            })
            .collect(),
        next_position,
        done,
        problem,
    };
    Ok(html(status, &view))
}

/// The project page's forms: `status`, `milestones` (add),
/// `milestones/{id}` (edit), `milestones/{id}/ready`.
pub async fn project_form(
    page: &Page<'_>,
    scope: &FirmScope,
    project: ProjectId,
    action: &[&str],
    form: &Query,
) -> Answer {
    let firm = scope.firm();
    let back = |done: &str| {
        Ok(redirect(&format!(
            "/console/firms/{firm}/projects/{project}?done={done}"
        )))
    };
    let milestones = {
        let reader = page.door.state.store.read()?;
        if reader.project(firm, project)?.is_none() {
            return Err(Problem::NotFound);
        }
        reader.milestones_of(firm, project)?
    };
    let refused = |name: String, err: FieldError| {
        project_page(
            page,
            scope,
            project,
            &Query::default(),
            Some(FormProblem::new(name, err, form)),
        )
    };
    match action {
        ["status"] => {
            let text = form.get("status").unwrap_or("");
            let status = match ProjectStatus::parse(text, &page.door.state.statuses) {
                Ok(status) => status,
                Err(err) => return refused("status".into(), FieldError::new("status", err)),
            };
            let command = Command::SetProjectStatus {
                firm,
                project,
                status,
            };
            let applied = page
                .door
                .state
                .writer
                .change_from(command, Source::Console)
                .await?;
            // The banner says what happened: nothing, or who is told how.
            if applied.events.is_empty() {
                back("status-same")
            } else if applied.outbound.is_empty() {
                back("status-nobody")
            } else {
                back(&told(page, firm, project, TemplateKind::StatusChanged)?.code("status"))
            }
        }
        ["milestones"] => {
            let position = next_position(&milestones);
            let mut values = HashMap::new();
            values.insert("title", form.get("title").unwrap_or("").to_owned());
            values.insert("status", "pending".to_owned());
            values.insert(
                "position",
                form.get("position")
                    .filter(|p| !p.trim().is_empty())
                    .map_or_else(|| position.to_string(), str::to_owned),
            );
            let record =
                match fields::milestone(&Reader::new(&values), MilestoneId::new_v7(), project) {
                    Ok(record) => record,
                    Err(err) => return refused("add".into(), err),
                };
            change(
                page,
                Command::PutMilestone {
                    firm,
                    milestone: record,
                },
            )
            .await?;
            back("added")
        }
        ["milestones", milestone] => {
            let id: MilestoneId = super::id(milestone)?;
            let Some(current) = milestones.iter().find(|m| m.id == id) else {
                return Err(Problem::NotFound);
            };
            let mut values = HashMap::new();
            values.insert("title", form.get("title").unwrap_or("").to_owned());
            values.insert("status", current.status.as_str().to_owned());
            values.insert("position", form.get("position").unwrap_or("").to_owned());
            let record = match fields::milestone(&Reader::new(&values), id, project) {
                Ok(record) => record,
                Err(err) => return refused(format!("edit-{id}"), err),
            };
            // Title and position only: an approval committed since this
            // page was read stays (DESIGN section 5).
            let command = if crate::mutation::on("bypass_commands") {
                // The record as read here, status and all, written back.
                Command::PutMilestone {
                    firm,
                    milestone: record,
                }
            } else {
                Command::EditMilestone {
                    firm,
                    project,
                    milestone: id,
                    title: record.title,
                    position: record.position,
                }
            };
            change(page, command).await?;
            back("saved")
        }
        ["milestones", milestone, "ready"] => {
            let id: MilestoneId = super::id(milestone)?;
            if !milestones.iter().any(|m| m.id == id) {
                return Err(Problem::NotFound);
            }
            match page
                .door
                .state
                .writer
                .change_from(
                    Command::MarkReady {
                        firm,
                        milestone: id,
                    },
                    Source::Console,
                )
                .await
            {
                Ok(_) => {
                    back(&told(page, firm, project, TemplateKind::MilestoneReady)?.code("ready"))
                }
                Err(ChangeError::Rejected(refusal)) => refused(
                    format!("ready-{id}"),
                    FieldError::new("", refusal.to_string()),
                ),
                Err(err) => Err(err.into()),
            }
        }
        _ => Err(Problem::NotFound),
    }
}

/// How the client of `project` hears of a notice of `kind` right now.
enum Told {
    FreeForm,
    Template,
    Held,
}

impl Told {
    /// The banner's code: `ready`, `ready-template`, `ready-held`, …
    fn code(&self, act: &str) -> String {
        match self {
            Told::FreeForm => act.to_owned(),
            Told::Template => format!("{act}-template"),
            Told::Held => format!("{act}-held"),
        }
    }
}

/// Read just after the change committed, as the sender will judge it: the
/// client's window on the number the notice goes from, else the firm's
/// template (its own or the default), else held.
fn told(
    page: &Page<'_>,
    firm: crate::domain::FirmId,
    project: ProjectId,
    kind: TemplateKind,
) -> Result<Told, Problem> {
    let state = &page.door.state;
    let reader = state.store.read()?;
    let (Some(record), Some(found)) = (reader.project(firm, project)?, reader.firm(firm)?) else {
        return Ok(Told::Held);
    };
    let Some(client) = record.client_phone else {
        return Ok(Told::Held);
    };
    let who = client.to_u64().to_string();
    let number = match found.phone_number_id {
        Some(own) => Some(own),
        None => reader
            .contact_number(firm, &who)?
            .or(state.shared_number.map(crate::domain::BusinessNumber::get)),
    };
    let last = match number {
        Some(number) => reader.last_inbound(number, &who)?,
        None => None,
    };
    if crate::notify::window_open(last, state.clock.now_seconds()) {
        return Ok(Told::FreeForm);
    }
    Ok(match reader.template_for(firm, kind)? {
        Some(_) => Told::Template,
        None => Told::Held,
    })
}

async fn change(page: &Page<'_>, command: Command) -> Result<(), Problem> {
    page.door
        .state
        .writer
        .change_from(command, Source::Console)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- messages

pub(crate) struct PeerRow {
    /// As the log has it: `wa_id` digits or a BSUID.
    peer: String,
    /// As shown and linked: E.164 with `+`, or the BSUID.
    phone: String,
    last: String,
    at: String,
}

pub(crate) struct MessageRow {
    at: String,
    inbound: bool,
    text: String,
    state: &'static str,
    reason: Option<String>,
}

#[derive(Template)]
#[template(path = "console/messages.html")]
pub(crate) struct Messages {
    nav: Nav,
    firm_id: String,
    phone: String,
    error: Option<String>,
    peers: Vec<PeerRow>,
    conversation: Vec<MessageRow>,
}

/// The people the firm talked with, newest first; with `?phone=`, the
/// conversation with one of them, oldest first, each reply's delivery state
/// and, for one that did not arrive, why.
pub fn messages(page: &Page, scope: &FirmScope, query: &Query) -> Answer {
    let reader = page.door.state.store.read()?;
    let firm = firm_of(&reader, scope)?;
    let (typed, phone) = phone_param(query, &firm);
    let (phone, error) = match phone {
        Ok(phone) => (phone, None),
        Err(why) => (None, Some(why)),
    };
    let (items, _) = reader.messages_page(scope.firm(), None, MESSAGE_ROWS, |logged| {
        phone.is_none_or(|p| Phone::from_wa_id(&logged.peer).ok() == Some(p))
    })?;
    let mut peers: Vec<PeerRow> = Vec::new();
    for (logged, _) in &items {
        if !peers.iter().any(|p| p.peer == logged.peer) {
            peers.push(PeerRow {
                peer: logged.peer.clone(),
                // A phone in E.164 with its `+`, so it is never read again
                // with the firm's country (a German number in a British
                // firm's list); a BSUID as it is.
                phone: match logged.peer.bytes().all(|b| b.is_ascii_digit()) {
                    true => format!("+{}", logged.peer),
                    false => logged.peer.clone(),
                },
                last: logged.text.chars().take(80).collect(),
                at: minute(logged.at),
            });
        }
    }
    let conversation = if phone.is_some() {
        items
            .iter()
            .rev()
            .map(|(logged, outbound)| {
                let (state, reason) = match (logged.direction, outbound) {
                    (Direction::Outbound, Some(o)) => words::delivery(o),
                    (Direction::Outbound, None) => ("", None),
                    (Direction::Inbound, _) => ("", None),
                };
                MessageRow {
                    at: minute(logged.at),
                    inbound: logged.direction == Direction::Inbound,
                    text: logged.text.clone(),
                    state,
                    reason,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(html(
        status(error.is_some()),
        &Messages {
            nav: page.nav(Some((&firm, "messages"))),
            firm_id: firm.id.to_string(),
            phone: typed,
            error,
            peers: if phone.is_some() { Vec::new() } else { peers },
            conversation,
        },
    ))
}

/// `2026-11-30 14:05 UTC`: the zone named, so nobody reads it as theirs.
fn minute(at: Timestamp) -> String {
    let text = at.to_string();
    format!("{} UTC", text.get(..16).unwrap_or(&text).replace('T', " "))
}

// --------------------------------------------------------------------- who

#[derive(Template)]
#[template(path = "console/who.html")]
pub(crate) struct Who {
    nav: Nav,
    firm_id: String,
    phone: String,
    error: Option<String>,
    /// The answer in words, first: who this is and where.
    summary: Option<String>,
    /// The projects it names, linked: (project id, its name).
    links: Vec<(String, String)>,
    explanation: Option<String>,
}

/// "Who is this number?": the resolver's explanation, within the firm.
pub fn who(page: &Page, scope: &FirmScope, query: &Query) -> Answer {
    let reader = page.door.state.store.read()?;
    let firm = firm_of(&reader, scope)?;
    let (typed, phone) = phone_param(query, &firm);
    let mut summary = None;
    let mut links = Vec::new();
    let (explanation, error) = match phone {
        Ok(None) => (None, None),
        Ok(Some(phone)) => {
            let within = WithinFirm {
                dir: &reader,
                firm: scope.firm(),
            };
            let resolution = resolve(&within, phone, firm.phone_number_id)?;
            let project = |id: ProjectId| reader.project(scope.firm(), id);
            summary = Some(match &resolution.outcome {
                Outcome::Client { project: id, .. } => match project(*id)? {
                    Some(p) => {
                        links.push((p.id.to_string(), p.name.clone()));
                        format!("{} — client on {} ({}).", p.client_name, p.name, p.status)
                    }
                    None => "A client of a project that is gone.".to_owned(),
                },
                Outcome::Designer { project: id, .. } => match project(*id)? {
                    Some(p) => {
                        let name = match p.designer_member_id {
                            Some(member) => reader
                                .member(scope.firm(), member)?
                                .map_or_else(|| "A designer".to_owned(), |m| m.name),
                            None => "The designer named by the project's designer phone".to_owned(),
                        };
                        links.push((p.id.to_string(), p.name.clone()));
                        format!(
                            "{name} — designer; the bot takes their most recent project, {} ({}).",
                            p.name, p.status
                        )
                    }
                    None => "A designer of a project that is gone.".to_owned(),
                },
                Outcome::DesignerNoProject { .. } => format!(
                    "A designer of {} with no project yet: the bot says so.",
                    firm.name
                ),
                Outcome::Ambiguous { matches } => {
                    for m in matches {
                        if let Some(id) = m.project {
                            links.push((id.to_string(), m.name.clone()));
                        }
                    }
                    format!(
                        "On {} projects of {}: the bot asks which one.",
                        matches.len(),
                        firm.name
                    )
                }
                Outcome::Unknown => format!(
                    "Nobody at {} has this number: the bot sends them the registration hint.",
                    firm.name
                ),
            });
            (Some(resolution.to_string()), None)
        }
        Err(why) => (None, Some(why)),
    };
    Ok(html(
        status(error.is_some()),
        &Who {
            nav: page.nav(Some((&firm, "who"))),
            firm_id: firm.id.to_string(),
            phone: typed,
            error,
            summary,
            links,
            explanation,
        },
    ))
}

// ---------------------------------------------------------------- settings

pub(crate) struct TemplateRow {
    kind: &'static str,
    /// The form's name, for errors shown next to its fields.
    form: String,
    label: &'static str,
    name: String,
    language: String,
}

pub(crate) struct TokenRow {
    label: String,
    created: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "console/settings.html")]
pub(crate) struct Settings {
    nav: Nav,
    firm_id: String,
    language: String,
    languages: Vec<(&'static str, &'static str)>,
    templates: Vec<TemplateRow>,
    hook_url: Option<String>,
    /// When the webhook was disabled (it answered 410 Gone), if it is.
    hook_disabled: Option<String>,
    /// A new webhook secret, shown this once.
    secret: Option<String>,
    tokens: Vec<TokenRow>,
    done: Option<String>,
    problem: Option<FormProblem>,
}

impl Forms for Settings {
    fn problem(&self) -> Option<&FormProblem> {
        self.problem.as_ref()
    }
}

fn kind_label(kind: TemplateKind) -> &'static str {
    match kind {
        TemplateKind::MilestoneReady => "A milestone is ready for approval",
        TemplateKind::MilestoneApproved => "The client approved a milestone",
        TemplateKind::StatusChanged => "A project's status changed",
    }
}

/// What a settings page shows besides the stored settings.
#[derive(Default)]
pub(crate) struct Shown {
    done: Option<String>,
    secret: Option<String>,
    problem: Option<FormProblem>,
}

pub fn settings(page: &Page, scope: &FirmScope, query: &Query, shown: Option<Shown>) -> Answer {
    let reader = page.door.state.store.read()?;
    let firm = firm_of(&reader, scope)?;
    let mut shown = shown.unwrap_or_default();
    if shown.done.is_none() {
        shown.done = match query.get("done") {
            Some("language") => Some("Language saved.".into()),
            Some("template") => Some("Template saved.".into()),
            Some("webhook-deleted") => Some("Event webhook removed.".into()),
            _ => None,
        };
    }
    let mut templates = Vec::new();
    for kind in TemplateKind::ALL {
        let set = reader.template(Some(scope.firm()), kind)?;
        templates.push(TemplateRow {
            kind: kind.as_str(),
            form: format!("template-{}", kind.as_str()),
            label: kind_label(kind),
            name: set.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
            language: set.map(|t| t.language).unwrap_or_default(),
        });
    }
    let tokens = reader
        .tokens_of(scope.firm())?
        .into_iter()
        .map(|t| TokenRow {
            label: t.label,
            created: minute(t.created_at),
            last_used: t.last_used.map(minute).unwrap_or_else(|| "never".into()),
        })
        .collect();
    let status = status(shown.problem.is_some());
    let view = Settings {
        nav: page.nav(Some((&firm, "settings"))),
        firm_id: firm.id.to_string(),
        language: firm.language.map(|l| l.code()).unwrap_or("").to_owned(),
        languages: Lang::ALL
            .iter()
            .map(|l| {
                (
                    l.code(),
                    match l {
                        Lang::En => "English",
                        Lang::PtBr => "Português (Brasil)",
                        Lang::Es => "Español",
                    },
                )
            })
            .collect(),
        templates,
        hook_url: reader.hook(scope.firm())?.map(|h| h.url),
        hook_disabled: reader.hook_disabled_at(scope.firm())?.map(|at| {
            crate::domain::Timestamp::from_unix_seconds(at)
                .to_string()
                .replace('T', " ")
                .replace('Z', " UTC")
        }),
        secret: shown.secret,
        tokens,
        done: shown.done,
        problem: shown.problem,
    };
    Ok(html(status, &view))
}

/// `language`, `templates/{kind}`, `webhook`, `webhook/delete`,
/// `webhook/test`.
pub async fn settings_form(
    page: &Page<'_>,
    scope: &FirmScope,
    action: &[&str],
    form: &Query,
) -> Answer {
    let firm_id = scope.firm();
    let back = |done: &str| {
        Ok(redirect(&format!(
            "/console/firms/{firm_id}/settings?done={done}"
        )))
    };
    let refused = |name: &str, err: FieldError| {
        settings(
            page,
            scope,
            &Query::default(),
            Some(Shown {
                problem: Some(FormProblem::new(name, err, form)),
                ..Shown::default()
            }),
        )
    };
    match action {
        ["language"] => {
            let firm = firm_of(&page.door.state.store.read()?, scope)?;
            let mut values = fields::as_fields(&firm);
            values.insert("language", form.get("language").unwrap_or("").to_owned());
            let record = match fields::firm(&Reader::new(&values), firm.id) {
                Ok(record) => record,
                Err(err) => return refused("language", err),
            };
            change(
                page,
                Command::SetFirmLanguage {
                    firm: firm.id,
                    language: record.language,
                },
            )
            .await?;
            back("language")
        }
        ["templates", kind] => {
            let kind = TemplateKind::parse(kind).ok_or(Problem::NotFound)?;
            let name = form.get("name").unwrap_or("").trim();
            let language = form.get("language").unwrap_or("").trim();
            if name.is_empty() && language.is_empty() {
                change(
                    page,
                    Command::DeleteTemplate {
                        firm: Some(firm_id),
                        kind,
                    },
                )
                .await?;
                return back("template");
            }
            let template = match WaTemplate::parse(name, language) {
                Ok(template) => template,
                Err((field, message)) => {
                    return refused(
                        &format!("template-{}", kind.as_str()),
                        FieldError::new(field, message),
                    );
                }
            };
            change(
                page,
                Command::SetTemplate {
                    firm: Some(firm_id),
                    kind,
                    template,
                },
            )
            .await?;
            back("template")
        }
        ["webhook"] => {
            let reach = page.door.state.hooks_reach;
            let hook = Hook::new(firm_id, form.get("url").unwrap_or(""))
                .and_then(|hook| crate::push::address::check_url(&hook.url, reach).map(|()| hook));
            let hook = match hook {
                Ok(hook) => hook,
                Err(why) => return refused("webhook", FieldError::new("url", why)),
            };
            let secret = hook.secret_text();
            change(page, Command::SetHook(hook)).await?;
            settings(
                page,
                scope,
                &Query::default(),
                Some(Shown {
                    done: Some("Event webhook saved. Copy its signing secret now: it is shown only this once.".into()),
                    secret: Some(secret),
                    problem: None,
                }),
            )
        }
        ["webhook", "delete"] => {
            change(page, Command::DeleteHook { firm: firm_id }).await?;
            back("webhook-deleted")
        }
        ["webhook", "test"] => {
            let hook = page.door.state.store.read()?.hook(firm_id)?;
            let Some(hook) = hook else {
                return refused("webhook", FieldError::new("url", "no event webhook is set"));
            };
            let delivered = crate::push::send_test(hook, page.door.state.hooks_reach).await;
            let said = if delivered {
                "delivered."
            } else {
                "not delivered."
            };
            settings(
                page,
                scope,
                &Query::default(),
                Some(Shown {
                    done: Some(format!("Test event sent: {said}")),
                    ..Shown::default()
                }),
            )
        }
        _ => Err(Problem::NotFound),
    }
}
