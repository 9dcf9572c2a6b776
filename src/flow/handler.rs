//! One message in, replies and effects out. Roles are derived from the
//! (sender, resource) pair on every tap, never from the button id.

use super::text::{self, Lang, Text};
use crate::domain::{
    FirmId, Milestone, MilestoneId, MilestoneStatus, Phone, Project, ProjectId, ProjectStatus,
};
use crate::notify::{Notice, TemplateKind};
use crate::resolve::{IndexRole, MatchRole, Outcome, decide};
use crate::whatsapp::outbound::Labels;
use crate::whatsapp::outbound::{Body, Choice};

use super::{Action, Data, List};

/// The registration hint goes to one sender at most once per hour.
pub const HINT_EVERY_SECONDS: i64 = 3600;
/// How many projects a picker lists at most (in pages of 9).
const MAX_PROJECTS: usize = 100;

pub struct Context<'a> {
    /// The sender's canonical phone, when known (directly or via a BSUID).
    pub sender: Option<Phone>,
    /// The sender as received (wa_id or BSUID): the registration-hint key.
    pub sender_key: &'a str,
    /// The business number the message arrived on.
    pub phone_number_id: Option<u64>,
    pub now: i64,
    /// The allowed project statuses.
    pub statuses: &'a [String],
    /// The language of the conversation: the firm's whose number it is,
    /// else the sender's country's. Notifications use their firm's.
    pub lang: Lang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    Text(&'a str),
    Button(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum To {
    /// Whoever sent the message, at the address it came from.
    Sender,
    /// Someone else (the other party of a project), by phone.
    Phone(Phone),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub to: To,
    /// The firm the reply is about: a notification goes out from its number.
    pub firm: Option<FirmId>,
    pub body: Body,
    /// For a notification: what it says as a template, for when the
    /// person's 24-hour window is closed.
    pub notice: Option<Notice>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Milestone {
        firm: FirmId,
        project: ProjectId,
        milestone: MilestoneId,
        status: MilestoneStatus,
    },
    ProjectStatus {
        firm: FirmId,
        project: ProjectId,
        status: ProjectStatus,
    },
    /// The registration hint was sent to this sender now.
    Hinted { sender: String, at: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The resolved kind of sender (for logs and metrics).
    pub kind: &'static str,
    pub firm: Option<FirmId>,
    /// What happened, in a word or two (for logs).
    pub outcome: &'static str,
    pub replies: Vec<Reply>,
    pub effects: Vec<Effect>,
}

impl Output {
    fn new(kind: &'static str, firm: Option<FirmId>) -> Self {
        Self {
            kind,
            firm,
            outcome: "answered",
            replies: Vec::new(),
            effects: Vec::new(),
        }
    }

    fn say(mut self, body: Body) -> Self {
        self.replies.push(Reply {
            to: To::Sender,
            firm: self.firm,
            body,
            notice: None,
        });
        self
    }

    fn outcome(mut self, outcome: &'static str) -> Self {
        self.outcome = outcome;
        self
    }
}

// A refusal says what a stale id says (`Text::Gone`), so that a forged
// tap cannot tell an id that exists in another firm from one that exists
// nowhere.

/// `text` in the conversation's language, as a message body.
fn say(cx: &Context, text: Text) -> Body {
    Body::text(&text::say(cx.lang, text))
}

/// The list words (the "More…" row, the list button) in `lang`.
fn labels(lang: Lang) -> Labels {
    Labels {
        more: text::say(lang, Text::MoreRow),
        button: text::say(lang, Text::ListButton),
    }
}

pub fn handle<D: Data>(data: &D, cx: &Context, input: Input) -> Result<Output, D::Error> {
    match input {
        Input::Button(id) => match Action::parse(id) {
            Ok(action) => tap(data, cx, action),
            // A typed or stale id we never made: refuse without detail.
            Err(_) => Ok(Output::new("tap", None)
                .say(say(cx, Text::Gone))
                .outcome("bad button id")),
        },
        Input::Text(text) => text_message(data, cx, text),
    }
}

/// The sender's roles on one project, derived fresh.
#[derive(Debug, Clone, Copy, Default)]
struct Roles {
    designer: bool,
    client: bool,
}

fn roles<D: Data>(data: &D, sender: Option<Phone>, project: &Project) -> Result<Roles, D::Error> {
    let Some(phone) = sender else {
        return Ok(Roles::default());
    };
    let member = data
        .phone_roles(phone)?
        .iter()
        .any(|e| e.role == IndexRole::Member && e.firm == project.firm_id);
    Ok(Roles {
        designer: member || project.designer_phone == Some(phone),
        client: project.client_phone == Some(phone),
    })
}

/// Finds a project by id alone: the firm first (`project_firm`), then the
/// record under that firm. On a firm's own business number, another
/// firm's project is not found, exactly as if it did not exist.
fn find_project<D: Data>(
    data: &D,
    cx: &Context,
    id: ProjectId,
) -> Result<Option<Project>, D::Error> {
    match data.project_firm(id)? {
        Some(firm) if in_scope(data, cx, firm)? => data.project(firm, id),
        _ => Ok(None),
    }
}

/// Whether a resource of `firm` may be acted on from the business number
/// the message arrived on: any firm on a shared number, only its own on a
/// firm's number (pass 0 of the resolver, applied to taps).
fn in_scope<D: Data>(data: &D, cx: &Context, firm: FirmId) -> Result<bool, D::Error> {
    Ok(scope(data, cx)?.is_none_or(|own| own == firm))
}

fn tap<D: Data>(data: &D, cx: &Context, action: Action) -> Result<Output, D::Error> {
    match action {
        Action::Select(id) => {
            let Some(project) = find_project(data, cx, id)? else {
                return Ok(Output::new("tap", None)
                    .say(say(cx, Text::Gone))
                    .outcome("stale"));
            };
            let roles = roles(data, cx.sender, &project)?;
            let out = Output::new(kind_of(roles), Some(project.firm_id));
            if !roles.designer && !roles.client {
                return Ok(out.say(say(cx, Text::Gone)).outcome("refused"));
            }
            Ok(out.say(summary(data, cx, &project, roles)?))
        }
        Action::ListAwaiting(id) => awaiting_list(data, cx, id, 0),
        Action::More {
            list: List::Awaiting(id),
            offset,
        } => awaiting_list(data, cx, id, offset),
        Action::More {
            list: List::Pending(id),
            offset,
        } => pending_list(data, cx, id, offset),
        Action::More {
            list: List::Projects,
            offset,
        } => {
            let Some(phone) = cx.sender else {
                return Ok(Output::new("unknown", None)
                    .say(say(cx, Text::Gone))
                    .outcome("refused"));
            };
            let projects = my_projects(data, phone, scope(data, cx)?)?;
            Ok(Output::new("tap", None).say(project_picker(
                data,
                cx,
                Text::YourProjects,
                &projects,
                offset,
            )?))
        }
        Action::Approve(id) => approve(data, cx, id),
        Action::Ready(id) => ready(data, cx, id),
    }
}

fn kind_of(roles: Roles) -> &'static str {
    match (roles.designer, roles.client) {
        (true, _) => "designer",
        (false, true) => "client",
        _ => "refused",
    }
}

fn awaiting_list<D: Data>(
    data: &D,
    cx: &Context,
    id: ProjectId,
    offset: usize,
) -> Result<Output, D::Error> {
    let Some(project) = find_project(data, cx, id)? else {
        return Ok(Output::new("tap", None)
            .say(say(cx, Text::Gone))
            .outcome("stale"));
    };
    let roles = roles(data, cx.sender, &project)?;
    let out = Output::new(kind_of(roles), Some(project.firm_id));
    if !roles.client {
        return Ok(out.say(say(cx, Text::Gone)).outcome("refused"));
    }
    let choices: Vec<Choice> = data
        .milestones_of(project.firm_id, project.id)?
        .into_iter()
        .filter(|m| m.status == MilestoneStatus::AwaitingApproval)
        .map(|m| Choice::new(Action::Approve(m.id).to_string(), m.title))
        .collect();
    if choices.is_empty() {
        return Ok(out.say(say(
            cx,
            Text::NoneAwaiting {
                project: &project.name,
            },
        )));
    }
    let text = text::say(
        cx.lang,
        Text::TapToApprove {
            project: &project.name,
        },
    );
    Ok(out.say(Body::choices_labelled(
        &text,
        &choices,
        offset,
        |o| {
            Action::More {
                list: List::Awaiting(project.id),
                offset: o,
            }
            .to_string()
        },
        &labels(cx.lang),
    )))
}

fn pending_list<D: Data>(
    data: &D,
    cx: &Context,
    id: ProjectId,
    offset: usize,
) -> Result<Output, D::Error> {
    let Some(project) = find_project(data, cx, id)? else {
        return Ok(Output::new("tap", None)
            .say(say(cx, Text::Gone))
            .outcome("stale"));
    };
    let roles = roles(data, cx.sender, &project)?;
    let out = Output::new(kind_of(roles), Some(project.firm_id));
    if !roles.designer {
        return Ok(out.say(say(cx, Text::Gone)).outcome("refused"));
    }
    Ok(out.say(pending_choices(data, cx, &project, offset)?))
}

fn pending_choices<D: Data>(
    data: &D,
    cx: &Context,
    project: &Project,
    offset: usize,
) -> Result<Body, D::Error> {
    let choices: Vec<Choice> = data
        .milestones_of(project.firm_id, project.id)?
        .into_iter()
        .filter(|m| m.status == MilestoneStatus::Pending)
        .map(|m| Choice::new(Action::Ready(m.id).to_string(), m.title))
        .collect();
    if choices.is_empty() {
        return Ok(say(
            cx,
            Text::NoPendingToReady {
                project: &project.name,
            },
        ));
    }
    let text = text::say(
        cx.lang,
        Text::TapToReady {
            project: &project.name,
        },
    );
    Ok(Body::choices_labelled(
        &text,
        &choices,
        offset,
        |o| {
            Action::More {
                list: List::Pending(project.id),
                offset: o,
            }
            .to_string()
        },
        &labels(cx.lang),
    ))
}

/// A milestone and its project, found firm first.
fn find_milestone<D: Data>(
    data: &D,
    cx: &Context,
    id: MilestoneId,
) -> Result<Option<(Project, crate::domain::Milestone)>, D::Error> {
    let Some((firm, project_id)) = data.milestone_owner(id)? else {
        return Ok(None);
    };
    if !in_scope(data, cx, firm)? {
        return Ok(None);
    }
    let Some(project) = data.project(firm, project_id)? else {
        return Ok(None);
    };
    let milestone = data.milestone(firm, project_id, id)?;
    Ok(milestone.map(|m| (project, m)))
}

/// Which role a tap needs on the resource.
#[derive(Clone, Copy)]
enum Needs {
    Designer,
    Client,
}

/// A tap the sender may make: the answer so far, the project, the milestone.
type Allowed = (Output, Project, crate::domain::Milestone);

/// The milestone of a tap, found firm first, if the sender holds the role
/// it needs; otherwise the answer to send instead.
fn milestone_for<D: Data>(
    data: &D,
    cx: &Context,
    id: MilestoneId,
    needs: Needs,
) -> Result<Result<Allowed, Output>, D::Error> {
    let Some((project, milestone)) = find_milestone(data, cx, id)? else {
        return Ok(Err(Output::new("tap", None)
            .say(say(cx, Text::Gone))
            .outcome("stale")));
    };
    let roles = roles(data, cx.sender, &project)?;
    let out = Output::new(kind_of(roles), Some(project.firm_id));
    let allowed = match needs {
        Needs::Designer => roles.designer,
        Needs::Client => roles.client,
    } || crate::mutation::on("tap_role");
    if !allowed {
        return Ok(Err(out.say(say(cx, Text::Gone)).outcome("refused")));
    }
    Ok(Ok((out, project, milestone)))
}

fn approve<D: Data>(data: &D, cx: &Context, id: MilestoneId) -> Result<Output, D::Error> {
    let (out, project, milestone) = match milestone_for(data, cx, id, Needs::Client)? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let title = &milestone.title;
    match milestone.status {
        MilestoneStatus::Approved => Ok(out
            .say(say(cx, Text::AlreadyApproved { title }))
            .outcome("already approved")),
        MilestoneStatus::Pending => Ok(out
            .say(say(cx, Text::NotReadyYet { title }))
            .outcome("not ready")),
        MilestoneStatus::AwaitingApproval => {
            let mut out = out
                .say(say(
                    cx,
                    Text::Approved {
                        title,
                        project: &project.name,
                    },
                ))
                .outcome("approved");
            if crate::mutation::on("ignore_taps") {
                return Ok(out);
            }
            out.effects.push(Effect::Milestone {
                firm: project.firm_id,
                project: project.id,
                milestone: milestone.id,
                status: MilestoneStatus::Approved,
            });
            // The designer hears of it in the firm's language.
            let lang = data.firm_lang(project.firm_id)?;
            let the_client = text::say(lang, Text::TheClient);
            let client = if project.client_name.is_empty() {
                the_client.as_str()
            } else {
                &project.client_name
            };
            for phone in designer_phones(data, &project)? {
                out.replies.push(Reply {
                    to: To::Phone(phone),
                    firm: Some(project.firm_id),
                    body: Body::text(&text::say(
                        lang,
                        Text::ClientApproved {
                            client,
                            title,
                            project: &project.name,
                        },
                    )),
                    notice: Some(Notice {
                        kind: TemplateKind::MilestoneApproved,
                        params: vec![client.to_owned(), title.clone(), project.name.clone()],
                        button: None,
                    }),
                });
            }
            Ok(out)
        }
    }
}

fn ready<D: Data>(data: &D, cx: &Context, id: MilestoneId) -> Result<Output, D::Error> {
    let (out, project, milestone) = match milestone_for(data, cx, id, Needs::Designer)? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let title = &milestone.title;
    match milestone.status {
        MilestoneStatus::Approved => Ok(out
            .say(say(cx, Text::AlreadyApproved { title }))
            .outcome("already approved")),
        MilestoneStatus::AwaitingApproval => Ok(out
            .say(say(cx, Text::AlreadyWaiting { title }))
            .outcome("already ready")),
        MilestoneStatus::Pending => {
            let lang = data.firm_lang(project.firm_id)?;
            let Some(prompt) = approval_prompt(&project, &milestone, lang) else {
                return Ok(out
                    .say(say(
                        cx,
                        Text::NoClientPhone {
                            project: &project.name,
                            title,
                        },
                    ))
                    .outcome("no client"));
            };
            let mut out = out
                .say(say(
                    cx,
                    Text::SentForApproval {
                        title,
                        project: &project.name,
                    },
                ))
                .outcome("ready");
            out.effects.push(Effect::Milestone {
                firm: project.firm_id,
                project: project.id,
                milestone: milestone.id,
                status: MilestoneStatus::AwaitingApproval,
            });
            out.replies.push(prompt);
            Ok(out)
        }
    }
}

/// The client's prompt to approve a milestone that is ready, with its
/// `mil:` button; `None` when the project has no client phone. The same
/// for a designer's `rdy:` tap and the admin API's `…/ready`.
/// What the client of `project` is told when its status becomes `status`,
/// whatever door changed it (DESIGN section 5): `None` without a client
/// phone.
pub fn status_notice(project: &Project, status: &ProjectStatus, lang: Lang) -> Option<Reply> {
    let client = project.client_phone?;
    Some(Reply {
        to: To::Phone(client),
        firm: Some(project.firm_id),
        body: Body::text(&text::say(
            lang,
            Text::YourProjectNow {
                project: &project.name,
                status: status.as_str(),
            },
        )),
        notice: Some(Notice {
            kind: TemplateKind::StatusChanged,
            params: vec![project.name.clone(), status.to_string()],
            button: None,
        }),
    })
}

pub fn approval_prompt(project: &Project, milestone: &Milestone, lang: Lang) -> Option<Reply> {
    let client = project.client_phone?;
    let prompt = text::say(
        lang,
        Text::ReadyForApproval {
            project: &project.name,
            title: &milestone.title,
        },
    );
    Some(Reply {
        to: To::Phone(client),
        firm: Some(project.firm_id),
        body: Body::choices(
            &prompt,
            &[Choice::new(
                Action::Approve(milestone.id).to_string(),
                text::say(lang, Text::ApproveButton),
            )],
            0,
            |_| String::new(),
        ),
        notice: Some(Notice {
            kind: TemplateKind::MilestoneReady,
            params: vec![project.name.clone(), milestone.title.clone()],
            button: Some(Action::Approve(milestone.id).to_string()),
        }),
    })
}

/// Who hears about a client's approval: the assigned member's WhatsApp
/// phone, and the legacy designer phone if it differs.
fn designer_phones<D: Data>(data: &D, project: &Project) -> Result<Vec<Phone>, D::Error> {
    let mut phones = Vec::new();
    if let Some(member) = project.designer_member_id
        && let Some(phone) = data
            .member(project.firm_id, member)?
            .and_then(|m| m.whatsapp_phone)
    {
        phones.push(phone);
    }
    if let Some(phone) = project.designer_phone
        && !phones.contains(&phone)
    {
        phones.push(phone);
    }
    Ok(phones)
}

/// The project, its progress, and the actions of the sender's roles.
fn summary<D: Data>(
    data: &D,
    cx: &Context,
    project: &Project,
    roles: Roles,
) -> Result<Body, D::Error> {
    let milestones = data.milestones_of(project.firm_id, project.id)?;
    let count = |s| milestones.iter().filter(|m| m.status == s).count();
    let (approved, awaiting, pending) = (
        count(MilestoneStatus::Approved),
        count(MilestoneStatus::AwaitingApproval),
        count(MilestoneStatus::Pending),
    );
    let mut text = format!("{} — {}", project.name, project.status);
    if milestones.is_empty() {
        text.push('\n');
        text.push_str(&text::say(cx.lang, Text::NoMilestonesYet));
    } else {
        text.push('\n');
        text.push_str(&text::say(
            cx.lang,
            Text::Progress {
                approved,
                awaiting,
                pending,
                total: milestones.len(),
            },
        ));
        for m in &milestones {
            let mark = match m.status {
                MilestoneStatus::Approved => "✓",
                MilestoneStatus::AwaitingApproval => "…",
                MilestoneStatus::Pending => "·",
            };
            text.push_str(&format!("\n{mark} {}", m.title));
        }
    }
    let mut actions = Vec::new();
    if roles.client && awaiting > 0 {
        actions.push(Choice::new(
            Action::ListAwaiting(project.id).to_string(),
            text::say(cx.lang, Text::ApproveMilestonesButton),
        ));
    }
    if roles.designer && pending > 0 {
        actions.push(Choice::new(
            Action::More {
                list: List::Pending(project.id),
                offset: 0,
            }
            .to_string(),
            text::say(cx.lang, Text::MarkReadyButton),
        ));
    }
    Ok(Body::choices(&text, &actions, 0, |_| String::new()))
}

/// The firm a business number scopes the sender to, if any.
fn scope<D: Data>(data: &D, cx: &Context) -> Result<Option<FirmId>, D::Error> {
    match cx.phone_number_id {
        Some(number) => data.firm_by_number(number),
        None => Ok(None),
    }
}

/// Every project the phone is designer or client of (scoped to a firm if
/// given), newest first per role, at most [`MAX_PROJECTS`].
fn my_projects<D: Data>(
    data: &D,
    phone: Phone,
    scope: Option<FirmId>,
) -> Result<Vec<(FirmId, ProjectId)>, D::Error> {
    let mut out: Vec<(FirmId, ProjectId)> = Vec::new();
    let mut push = |firm, project| {
        if !out.contains(&(firm, project)) && out.len() < MAX_PROJECTS {
            out.push((firm, project));
        }
    };
    for entry in data.phone_roles(phone)? {
        if scope.is_some_and(|firm| firm != entry.firm) {
            continue;
        }
        match entry.role {
            IndexRole::Member => {
                let member = crate::domain::MemberId::from_u128(entry.id);
                for project in data.member_projects(entry.firm, member, MAX_PROJECTS)? {
                    push(entry.firm, project);
                }
            }
            IndexRole::LegacyDesigner | IndexRole::Client => {
                push(entry.firm, ProjectId::from_u128(entry.id));
            }
        }
    }
    Ok(out)
}

fn project_picker<D: Data>(
    data: &D,
    cx: &Context,
    text: Text,
    projects: &[(FirmId, ProjectId)],
    offset: usize,
) -> Result<Body, D::Error> {
    if projects.is_empty() {
        return Ok(say(cx, Text::NoProjectsYet));
    }
    let text = text::say(cx.lang, text);
    let text = text.as_str();
    let mut choices = Vec::with_capacity(projects.len());
    for &(firm, project) in projects {
        let name = data.project_name(firm, project)?.unwrap_or_default();
        let firm_name = data.firm_name(firm)?.unwrap_or_default();
        choices.push(Choice::new(Action::Select(project).to_string(), name).describe(firm_name));
    }
    Ok(Body::choices_labelled(
        text,
        &choices,
        offset,
        |o| {
            Action::More {
                list: List::Projects,
                offset: o,
            }
            .to_string()
        },
        &labels(cx.lang),
    ))
}

/// A free-text command, case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command<'a> {
    Help,
    Status(&'a str),
    Projects,
    Milestones,
    Ready,
    Other,
}

impl<'a> Command<'a> {
    fn parse(text: &'a str) -> Self {
        let text = text.trim();
        let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        match word.to_lowercase().as_str() {
            "help" | "/help" => Self::Help,
            "/status" => Self::Status(rest.trim()),
            "/projects" => Self::Projects,
            "/milestones" => Self::Milestones,
            "/ready" => Self::Ready,
            _ => Self::Other,
        }
    }

    fn is_designer_only(&self) -> bool {
        matches!(
            self,
            Self::Status(_) | Self::Projects | Self::Milestones | Self::Ready
        )
    }
}

fn text_message<D: Data>(data: &D, cx: &Context, text: &str) -> Result<Output, D::Error> {
    let Some(phone) = cx.sender else {
        return registration_hint(data, cx);
    };
    let outcome = decide(data, phone, cx.phone_number_id)?;
    let command = Command::parse(text);
    match outcome {
        Outcome::Unknown => registration_hint(data, cx),
        Outcome::Designer { firm, project } => {
            designer_text(data, cx, phone, firm, Some(project), command)
        }
        Outcome::DesignerNoProject { firm } => designer_text(data, cx, phone, firm, None, command),
        Outcome::Client { firm, project } => {
            let out = Output::new("client", Some(firm));
            if command.is_designer_only() {
                return Ok(out.say(say(cx, Text::OnlyDesigner)).outcome("refused"));
            }
            let Some(project) = data.project(firm, project)? else {
                return Ok(out.say(say(cx, Text::Gone)).outcome("stale"));
            };
            let roles = Roles {
                designer: false,
                client: true,
            };
            let mut out = out.say(summary(data, cx, &project, roles)?);
            if command == Command::Help {
                out = out.say(say(cx, Text::ClientHelp));
            }
            Ok(out)
        }
        Outcome::Ambiguous { matches } => {
            let designer = matches.iter().any(|m| m.role == MatchRole::Designer);
            let kind = if designer { "designer" } else { "client" };
            let out = Output::new(kind, None);
            if command.is_designer_only() && !designer {
                return Ok(out.say(say(cx, Text::OnlyDesigner)).outcome("refused"));
            }
            let projects = my_projects(data, phone, scope(data, cx)?)?;
            Ok(out.say(project_picker(data, cx, Text::WhichStudio, &projects, 0)?))
        }
    }
}

fn designer_text<D: Data>(
    data: &D,
    cx: &Context,
    phone: Phone,
    firm: FirmId,
    current: Option<ProjectId>,
    command: Command,
) -> Result<Output, D::Error> {
    let out = Output::new("designer", Some(firm));
    let current = match current {
        Some(id) => data.project(firm, id)?,
        None => None,
    };
    let designer = Roles {
        designer: true,
        client: false,
    };
    let mut out = match (command, &current) {
        (Command::Help, _) => out.say(say(
            cx,
            Text::DesignerHelp {
                statuses: &cx.statuses.join(", "),
            },
        )),
        (Command::Projects, _) => {
            // The same list a `more:projects` tap pages through.
            let projects = my_projects(data, phone, scope(data, cx)?)?;
            out.say(project_picker(data, cx, Text::YourProjects, &projects, 0)?)
        }
        (Command::Status(_) | Command::Milestones | Command::Ready, None) => {
            out.say(say(cx, Text::NoProjectsYet)).outcome("no project")
        }
        (Command::Status(wanted), Some(project)) => {
            match ProjectStatus::parse(wanted, cx.statuses) {
                Err(_) => out
                    .say(say(
                        cx,
                        Text::UnknownStatus {
                            wanted,
                            statuses: &cx.statuses.join(", "),
                        },
                    ))
                    .outcome("bad status"),
                Ok(status) if status == project.status => out.say(say(
                    cx,
                    Text::AlreadyStatus {
                        project: &project.name,
                        status: status.as_str(),
                    },
                )),
                Ok(status) => {
                    let mut out = out
                        .say(say(
                            cx,
                            Text::NowStatus {
                                project: &project.name,
                                status: status.as_str(),
                            },
                        ))
                        .outcome("status changed");
                    // The client hears of it from the command, as from
                    // every other door.
                    out.effects.push(Effect::ProjectStatus {
                        firm,
                        project: project.id,
                        status,
                    });
                    out
                }
            }
        }
        (Command::Milestones, Some(project)) => out.say(summary(data, cx, project, designer)?),
        (Command::Ready, Some(project)) => out.say(pending_choices(data, cx, project, 0)?),
        (Command::Other, Some(project)) => out.say(summary(data, cx, project, designer)?),
        (Command::Other, None) => out.say(say(
            cx,
            Text::DesignerHelp {
                statuses: &cx.statuses.join(", "),
            },
        )),
    };
    // A designer who is also a client elsewhere gets those projects offered.
    let client_projects: Vec<(FirmId, ProjectId)> = data
        .phone_roles(phone)?
        .into_iter()
        .filter(|e| e.role == IndexRole::Client && e.firm != firm)
        .map(|e| (e.firm, ProjectId::from_u128(e.id)))
        .collect();
    if !client_projects.is_empty() && matches!(command, Command::Other | Command::Help) {
        out = out.say(project_picker(
            data,
            cx,
            Text::AlsoClientOn,
            &client_projects,
            0,
        )?);
    }
    Ok(out)
}

fn registration_hint<D: Data>(data: &D, cx: &Context) -> Result<Output, D::Error> {
    let out = Output::new("unknown", None);
    let recent = data
        .last_hint(cx.sender_key)?
        .is_some_and(|at| cx.now - at < HINT_EVERY_SECONDS);
    if recent {
        return Ok(out.outcome("hint already sent"));
    }
    let mut out = out.say(say(cx, Text::Hint)).outcome("registration hint");
    out.effects.push(Effect::Hinted {
        sender: cx.sender_key.to_owned(),
        at: cx.now,
    });
    Ok(out)
}
