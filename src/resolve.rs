//! Who is speaking: the ordered passes of DESIGN section 3, firm before
//! resource.
//!
//! Pure: the passes read through the [`Directory`] trait (implemented by the
//! store over one read transaction) and return a [`Resolution`]: the outcome
//! plus one [`Step`] per pass saying what was looked up and what was found,
//! which `resolve --explain` and `--json` print. Every read is an indexed
//! lookup; nothing here scans a table.

use std::fmt;

use crate::domain::{FirmId, MemberId, Phone, ProjectId};

/// Which field of which record made a phone index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IndexRole {
    /// `firm_members.whatsapp_phone` (pass 1). Entry id: the member.
    Member = 1,
    /// `projects.designer_phone`, the legacy field (pass 1.5). Entry id: the project.
    LegacyDesigner = 2,
    /// `projects.client_phone` (pass 2). Entry id: the project.
    Client = 3,
}

impl IndexRole {
    pub fn to_u8(self) -> u8 {
        self as u8
    }

    pub fn from_u8(raw: u8) -> Option<Self> {
        match raw {
            1 => Some(Self::Member),
            2 => Some(Self::LegacyDesigner),
            3 => Some(Self::Client),
            _ => None,
        }
    }
}

/// One entry of the phone index, as the store returns it: already in pass
/// order (role, then firm, then newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleEntry {
    pub role: IndexRole,
    pub firm: FirmId,
    /// Orders entries newest first (see [`crate::domain::Timestamp::newest_first_rank`]).
    pub rank: u64,
    /// A member id for [`IndexRole::Member`], a project id otherwise.
    pub id: u128,
}

/// The indexed reads the resolver needs. Implemented by the store over a
/// single read transaction, so one resolution sees one snapshot.
pub trait Directory {
    type Error;
    /// Pass 0: the firm that owns a WhatsApp business number.
    fn firm_by_number(&self, phone_number_id: u64) -> Result<Option<FirmId>, Self::Error>;
    /// Every role `phone` holds, in pass order: one range scan.
    fn phone_roles(&self, phone: Phone) -> Result<Vec<RoleEntry>, Self::Error>;
    /// The member's most recent project (by `designer_member_id`) as `(rank, id)`.
    fn latest_member_project(
        &self,
        firm: FirmId,
        member: MemberId,
    ) -> Result<Option<(u64, ProjectId)>, Self::Error>;
    fn project_name(&self, firm: FirmId, project: ProjectId)
    -> Result<Option<String>, Self::Error>;
    fn firm_name(&self, firm: FirmId) -> Result<Option<String>, Self::Error>;
}

/// The `--json` object (and the admin API's `GET /api/v1/resolve`): absent fields are `null`, `matches` is empty unless
/// the outcome is ambiguous.
impl Resolution {
    pub fn to_json(&self) -> serde_json::Value {
        let resolution = self;
        let (firm, project) = match &resolution.outcome {
            Outcome::Designer { firm, project } | Outcome::Client { firm, project } => {
                (Some(firm.to_string()), Some(project.to_string()))
            }
            Outcome::DesignerNoProject { firm } => (Some(firm.to_string()), None),
            Outcome::Ambiguous { .. } | Outcome::Unknown => (None, None),
        };
        let matches: Vec<serde_json::Value> = match &resolution.outcome {
            Outcome::Ambiguous { matches } => matches
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "project_id": m.project.map(|p| p.to_string()),
                        "firm_id": m.firm.to_string(),
                        "name": m.name,
                        "role": m.role.as_str(),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        let passes: Vec<serde_json::Value> = resolution
        .steps
        .iter()
        .map(|s| serde_json::json!({"pass": s.pass.label(), "looked_up": s.looked_up, "found": s.found}))
        .collect();
        serde_json::json!({
            "kind": resolution.outcome.kind(),
            "firm_id": firm,
            "project_id": project,
            "matches": matches,
            "passes": passes,
        })
    }
}

/// A directory seen from inside one firm: every other firm's records are
/// invisible, so a resolution through it can only name this firm (a firm
/// token's `GET /api/v1/resolve`).
pub struct WithinFirm<'a, D> {
    pub dir: &'a D,
    pub firm: FirmId,
}

impl<D: Directory> Directory for WithinFirm<'_, D> {
    type Error = D::Error;

    fn firm_by_number(&self, phone_number_id: u64) -> Result<Option<FirmId>, D::Error> {
        Ok(self
            .dir
            .firm_by_number(phone_number_id)?
            .filter(|firm| *firm == self.firm))
    }

    fn phone_roles(&self, phone: Phone) -> Result<Vec<RoleEntry>, D::Error> {
        let mut roles = self.dir.phone_roles(phone)?;
        roles.retain(|entry| entry.firm == self.firm);
        Ok(roles)
    }

    fn latest_member_project(
        &self,
        firm: FirmId,
        member: MemberId,
    ) -> Result<Option<(u64, ProjectId)>, D::Error> {
        if firm != self.firm {
            return Ok(None);
        }
        self.dir.latest_member_project(firm, member)
    }

    fn project_name(&self, firm: FirmId, project: ProjectId) -> Result<Option<String>, D::Error> {
        if firm != self.firm {
            return Ok(None);
        }
        self.dir.project_name(firm, project)
    }

    fn firm_name(&self, firm: FirmId) -> Result<Option<String>, D::Error> {
        if firm != self.firm {
            return Ok(None);
        }
        self.dir.firm_name(firm)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `project` is the designer's most recent project in that firm.
    Designer {
        firm: FirmId,
        project: ProjectId,
    },
    DesignerNoProject {
        firm: FirmId,
    },
    Client {
        firm: FirmId,
        project: ProjectId,
    },
    Ambiguous {
        matches: Vec<Match>,
    },
    Unknown,
}

impl Outcome {
    /// The name `resolve --json` uses for this kind of outcome.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Designer { .. } => "designer",
            Self::DesignerNoProject { .. } => "designer_no_project",
            Self::Client { .. } => "client",
            Self::Ambiguous { .. } => "ambiguous",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchRole {
    Designer,
    Client,
}

impl MatchRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Designer => "designer",
            Self::Client => "client",
        }
    }
}

/// One candidate of an ambiguous resolution. A designer is offered once per
/// firm, through their most recent project there (`project` is `None` when
/// they have none, and `name` is then the firm's name); a client once per
/// project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub project: Option<ProjectId>,
    pub firm: FirmId,
    pub name: String,
    pub role: MatchRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    FirmByNumber,
    Member,
    LegacyDesigner,
    Client,
    Unknown,
}

impl Pass {
    /// The pass number as DESIGN section 3 writes it.
    pub fn label(self) -> &'static str {
        match self {
            Self::FirmByNumber => "0",
            Self::Member => "1",
            Self::LegacyDesigner => "1.5",
            Self::Client => "2",
            Self::Unknown => "3",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub pass: Pass,
    pub looked_up: String,
    pub found: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub outcome: Outcome,
    pub steps: Vec<Step>,
}

impl fmt::Display for Resolution {
    /// The `--explain` text: one block per pass, then the outcome.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            writeln!(
                f,
                "pass {:<3} looked up: {}",
                step.pass.label(),
                step.looked_up
            )?;
            writeln!(f, "          found:     {}", step.found)?;
        }
        match &self.outcome {
            Outcome::Designer { firm, project } => {
                write!(f, "=> designer of firm {firm}, project {project}")
            }
            Outcome::DesignerNoProject { firm } => {
                write!(f, "=> designer of firm {firm}, no project")
            }
            Outcome::Client { firm, project } => {
                write!(f, "=> client of firm {firm}, project {project}")
            }
            Outcome::Ambiguous { matches } => {
                write!(f, "=> ambiguous, {} matches:", matches.len())?;
                for m in matches {
                    let project = m.project.map_or("no project".to_owned(), |p| p.to_string());
                    write!(
                        f,
                        "\n   {} of firm {}, {project} ({})",
                        m.role.as_str(),
                        m.firm,
                        m.name
                    )?;
                }
                Ok(())
            }
            Outcome::Unknown => write!(f, "=> unknown"),
        }
    }
}

/// Runs the passes for `phone`, arriving on `phone_number_id` if known, and
/// records what each pass looked up and found (`--explain`, `--json`).
pub fn resolve<D: Directory>(
    dir: &D,
    phone: Phone,
    phone_number_id: Option<u64>,
) -> Result<Resolution, D::Error> {
    run(dir, phone, phone_number_id, Trace::on())
}

/// The same passes, outcome only: what the webhook runs for every message,
/// without formatting a word of explanation.
pub fn decide<D: Directory>(
    dir: &D,
    phone: Phone,
    phone_number_id: Option<u64>,
) -> Result<Outcome, D::Error> {
    Ok(run(dir, phone, phone_number_id, Trace::off())?.outcome)
}

/// The steps being recorded, or nothing when only the outcome is wanted:
/// each step's text is built only if it is recorded.
struct Trace {
    steps: Option<Vec<Step>>,
}

impl Trace {
    fn on() -> Self {
        Self {
            steps: Some(Vec::with_capacity(5)),
        }
    }

    fn off() -> Self {
        Self { steps: None }
    }

    fn is_on(&self) -> bool {
        self.steps.is_some()
    }

    fn step(
        &mut self,
        pass: Pass,
        looked_up: impl FnOnce() -> String,
        found: impl FnOnce() -> String,
    ) {
        if let Some(steps) = &mut self.steps {
            steps.push(Step {
                pass,
                looked_up: looked_up(),
                found: found(),
            });
        }
    }

    /// Adds the passes after the deciding one, marked as not reached.
    fn finish(mut self, decided_by: Pass, outcome: Outcome) -> Resolution {
        let later = [
            Pass::Member,
            Pass::LegacyDesigner,
            Pass::Client,
            Pass::Unknown,
        ];
        for pass in later.into_iter().skip_while(|p| *p != decided_by).skip(1) {
            self.step(
                pass,
                || "-".to_owned(),
                || format!("not reached: decided by pass {}", decided_by.label()),
            );
        }
        Resolution {
            outcome,
            steps: self.steps.unwrap_or_default(),
        }
    }
}

fn run<D: Directory>(
    dir: &D,
    phone: Phone,
    phone_number_id: Option<u64>,
    mut trace: Trace,
) -> Result<Resolution, D::Error> {
    // Pass 0: a firm's own number scopes every later pass to that firm.
    let scope = match phone_number_id {
        None => {
            trace.step(
                Pass::FirmByNumber,
                || "no phone_number_id given".to_owned(),
                || "all firms are searched".to_owned(),
            );
            None
        }
        Some(number) => {
            let firm = dir.firm_by_number(number)?;
            let label = match firm {
                Some(firm) if trace.is_on() => firm_label(dir, firm)?,
                _ => String::new(),
            };
            trace.step(
                Pass::FirmByNumber,
                || format!("firm_by_number {number}"),
                || match firm {
                    Some(_) => format!("{label}: only that firm is searched"),
                    None => "no firm has this number: all firms are searched".to_owned(),
                },
            );
            firm
        }
    };

    let mut entries: Vec<RoleEntry> = dir.phone_roles(phone)?;
    if let Some(firm) = scope {
        entries.retain(|entry| entry.firm == firm);
    }
    let of_role = |role| entries.iter().filter(move |e| e.role == role);
    let where_ = || scope.map_or(String::new(), |firm| format!(" in firm {firm}"));
    let listed = |role, what: &str| {
        of_role(role)
            .map(|e| format!("{what} {} of firm {}", uuid_text(e.id), e.firm))
            .collect::<Vec<_>>()
            .join("; ")
    };

    // Pass 1: members whose whatsapp_phone is the sender.
    let looked_up = || format!("phone_roles member (whatsapp_phone) {phone}{}", where_());
    if of_role(IndexRole::Member).next().is_some() {
        let mut per_firm: Vec<(FirmId, Option<(u64, ProjectId)>)> = Vec::new();
        for entry in of_role(IndexRole::Member) {
            let member = MemberId::from_u128(entry.id);
            let latest = dir.latest_member_project(entry.firm, member)?;
            let legacy = of_role(IndexRole::LegacyDesigner)
                .find(|e| e.firm == entry.firm)
                .map(|e| (e.rank, ProjectId::from_u128(e.id)));
            let best = newest(newest(latest, legacy), firm_best(&per_firm, entry.firm));
            match per_firm.iter_mut().find(|(firm, _)| *firm == entry.firm) {
                Some(slot) => slot.1 = best,
                None => per_firm.push((entry.firm, best)),
            }
        }
        trace.step(Pass::Member, looked_up, || {
            listed(IndexRole::Member, "member")
        });
        let outcome = match per_firm.as_slice() {
            [(firm, Some((_, project)))] => Outcome::Designer {
                firm: *firm,
                project: *project,
            },
            [(firm, None)] => Outcome::DesignerNoProject { firm: *firm },
            _ => Outcome::Ambiguous {
                matches: designer_matches(dir, &per_firm)?,
            },
        };
        return Ok(trace.finish(Pass::Member, outcome));
    }
    trace.step(Pass::Member, looked_up, || "nothing".to_owned());

    // Pass 1.5: the legacy projects.designer_phone. Remove this pass only once
    // `firmhook backfill` reports nothing left for it.
    let looked_up = || {
        format!(
            "phone_roles legacy designer (projects.designer_phone) {phone}{}",
            where_()
        )
    };
    let mut per_firm: Vec<(FirmId, Option<(u64, ProjectId)>)> = Vec::new();
    for entry in of_role(IndexRole::LegacyDesigner) {
        // Entries come newest first within a firm: the first one wins.
        if !per_firm.iter().any(|(firm, _)| *firm == entry.firm) {
            per_firm.push((
                entry.firm,
                Some((entry.rank, ProjectId::from_u128(entry.id))),
            ));
        }
    }
    if !per_firm.is_empty() {
        trace.step(Pass::LegacyDesigner, looked_up, || {
            listed(IndexRole::LegacyDesigner, "project")
        });
        let outcome = match per_firm.as_slice() {
            [(firm, Some((_, project)))] => Outcome::Designer {
                firm: *firm,
                project: *project,
            },
            _ => Outcome::Ambiguous {
                matches: designer_matches(dir, &per_firm)?,
            },
        };
        return Ok(trace.finish(Pass::LegacyDesigner, outcome));
    }
    trace.step(Pass::LegacyDesigner, looked_up, || "nothing".to_owned());

    // Pass 2: projects whose client_phone is the sender, across all firms.
    let looked_up = || {
        format!(
            "phone_roles client (projects.client_phone) {phone}{}",
            where_()
        )
    };
    let clients: Vec<&RoleEntry> = of_role(IndexRole::Client).collect();
    if !clients.is_empty() {
        trace.step(Pass::Client, looked_up, || {
            listed(IndexRole::Client, "project")
        });
        let outcome = match clients.as_slice() {
            [only] => Outcome::Client {
                firm: only.firm,
                project: ProjectId::from_u128(only.id),
            },
            several => {
                let mut matches = Vec::with_capacity(several.len());
                for entry in several {
                    let project = ProjectId::from_u128(entry.id);
                    matches.push(Match {
                        project: Some(project),
                        firm: entry.firm,
                        name: dir.project_name(entry.firm, project)?.unwrap_or_default(),
                        role: MatchRole::Client,
                    });
                }
                Outcome::Ambiguous { matches }
            }
        };
        return Ok(trace.finish(Pass::Client, outcome));
    }
    trace.step(Pass::Client, looked_up, || "nothing".to_owned());

    // Pass 3: nobody we know.
    trace.step(
        Pass::Unknown,
        || "no pass matched".to_owned(),
        || "unknown sender: answer with the registration hint".to_owned(),
    );
    Ok(Resolution {
        outcome: Outcome::Unknown,
        steps: trace.steps.unwrap_or_default(),
    })
}

fn uuid_text(id: u128) -> String {
    ProjectId::from_u128(id).to_string()
}

fn newest(a: Option<(u64, ProjectId)>, b: Option<(u64, ProjectId)>) -> Option<(u64, ProjectId)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn firm_best(
    per_firm: &[(FirmId, Option<(u64, ProjectId)>)],
    firm: FirmId,
) -> Option<(u64, ProjectId)> {
    per_firm
        .iter()
        .find(|(f, _)| *f == firm)
        .and_then(|(_, best)| *best)
}

fn designer_matches<D: Directory>(
    dir: &D,
    per_firm: &[(FirmId, Option<(u64, ProjectId)>)],
) -> Result<Vec<Match>, D::Error> {
    let mut matches = Vec::with_capacity(per_firm.len());
    for &(firm, best) in per_firm {
        let project = best.map(|(_, project)| project);
        let name = match project {
            Some(project) => dir.project_name(firm, project)?,
            None => dir.firm_name(firm)?,
        };
        matches.push(Match {
            project,
            firm,
            name: name.unwrap_or_default(),
            role: MatchRole::Designer,
        });
    }
    Ok(matches)
}

fn firm_label<D: Directory>(dir: &D, firm: FirmId) -> Result<String, D::Error> {
    Ok(match dir.firm_name(firm)? {
        Some(name) => format!("firm {firm} ({name})"),
        None => format!("firm {firm}"),
    })
}
