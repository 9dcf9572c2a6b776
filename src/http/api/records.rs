//! Firms, members, projects and milestones over JSON, and the `ready`
//! action and `resolve`. A record's JSON has exactly its CSV columns;
//! a request body goes through the same field builders as a CSV row
//! (`import::fields`), so a rule is written once.

use std::collections::HashMap;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Map, Value, json};

use super::{Answer, ApiError, FirmScope, Scope, id, json_body, limit, no_content, ok, reply};
use crate::command::{Applied, Command};
use crate::domain::{
    Country, FirmId, MemberId, MilestoneId, Phone, Project, ProjectId, ProjectStatus,
};
use crate::http::{Door, Query};
use crate::import::fields::{self, Columns, FieldError, Reader};
use crate::resolve::{WithinFirm, resolve as run_resolve};
use crate::store::{self, Put};

/// A record as the JSON of DESIGN section 11: its CSV columns, absent
/// values `null`, `position` a number.
fn record_json(record: &impl Columns) -> Value {
    let mut out = Map::new();
    for (name, value) in record.columns() {
        let value = match (name, value) {
            ("position", Some(v)) => v.parse::<u64>().map_or(Value::String(v), Value::from),
            (_, Some(v)) => Value::String(v),
            (_, None) => Value::Null,
        };
        out.insert(name.to_owned(), value);
    }
    Value::Object(out)
}

/// The most bytes of records one list answer carries, whatever `limit`
/// says (DESIGN section 10): past it the page ends early and `next`
/// continues after its last record.
pub const PAGE_BYTES: usize = 1024 * 1024;

fn page_json<T: Columns>(page: store::Page<T>) -> Value {
    let mut items = Vec::with_capacity(page.items.len());
    let mut bytes = 0;
    let mut next = page.next;
    for (i, record) in page.items.iter().enumerate() {
        let item = record_json(record);
        bytes += item.to_string().len();
        if bytes > PAGE_BYTES && i > 0 {
            next = items
                .last()
                .and_then(|last: &Value| last["id"].as_str())
                .map(str::to_owned);
            break;
        }
        items.push(item);
    }
    json!({"items": items, "next": next})
}

/// A JSON body's fields as text for the field builders: strings as they
/// are, numbers written out, `null` as absent; any other type is an error
/// on that field. Fields that are not columns are ignored.
fn body_fields(
    body: &Map<String, Value>,
    columns: &[&'static str],
) -> Result<HashMap<&'static str, String>, FieldError> {
    let mut out = HashMap::new();
    for &column in columns {
        let text = match body.get(column) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(FieldError::new(column, "must be a string")),
        };
        out.insert(column, text);
    }
    Ok(out)
}

/// A field of the body that names an id must agree with the path.
fn agrees(
    fields: &HashMap<&'static str, String>,
    name: &'static str,
    path: impl std::fmt::Display,
) -> Result<(), ApiError> {
    match fields.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(()),
        Some(value) if value.eq_ignore_ascii_case(&path.to_string()) => Ok(()),
        Some(value) => Err(ApiError::invalid(
            name,
            format!("{value:?} does not match the path ({path})"),
        )),
    }
}

fn created(applied: &Applied) -> StatusCode {
    match applied.put {
        Some(Put::Inserted) => StatusCode::CREATED,
        _ => StatusCode::OK,
    }
}

fn country_of(door: &Door, firm: FirmId) -> Result<Country, ApiError> {
    match door.state.store.read()?.firm(firm)? {
        Some(firm) => Ok(firm.country),
        None => Err(ApiError::not_found()),
    }
}

pub fn list_firms(door: &Door, scope: &Scope, query: &Query) -> Answer {
    let reader = door.state.store.read()?;
    let page = match scope.limited_to() {
        None => {
            let after = query.get("after").map(id).transpose()?;
            reader.firms_page(after, limit(query)?)?
        }
        Some(firm) => store::Page {
            items: reader.firm(firm)?.into_iter().collect(),
            next: None,
        },
    };
    ok(&page_json(page))
}

pub fn get_firm(door: &Door, scope: &FirmScope) -> Answer {
    match door.state.store.read()?.firm(scope.firm())? {
        Some(firm) => ok(&record_json(&firm)),
        None => Err(ApiError::not_found()),
    }
}

pub async fn put_firm(door: &Door, firm: FirmId, request: Request<Incoming>) -> Answer {
    let body = json_body(request, door).await?;
    let fields = body_fields(&body, fields::FIRM_COLUMNS)?;
    agrees(&fields, "id", firm)?;
    let record = fields::firm(&Reader::new(&fields), firm)?;
    let applied = door
        .state
        .writer
        .change(Command::PutFirm(record.clone()))
        .await?;
    reply(created(&applied), &record_json(&record))
}

pub async fn delete_firm(door: &Door, firm: FirmId, query: &Query) -> Answer {
    let cascade = query.get("cascade") == Some("true");
    door.state
        .writer
        .change(Command::DeleteFirm { firm, cascade })
        .await?;
    no_content()
}

pub fn list_members(door: &Door, scope: &FirmScope, query: &Query) -> Answer {
    let reader = door.state.store.read()?;
    if reader.firm(scope.firm())?.is_none() {
        return Err(ApiError::not_found());
    }
    let after = query.get("after").map(id).transpose()?;
    ok(&page_json(reader.members_page(
        scope.firm(),
        after,
        limit(query)?,
    )?))
}

pub fn get_member(door: &Door, scope: &FirmScope, member: MemberId) -> Answer {
    match door.state.store.read()?.member(scope.firm(), member)? {
        Some(member) => ok(&record_json(&member)),
        None => Err(ApiError::not_found()),
    }
}

pub async fn put_member(
    door: &Door,
    scope: &FirmScope,
    member: MemberId,
    request: Request<Incoming>,
) -> Answer {
    let body = json_body(request, door).await?;
    let fields = body_fields(&body, fields::MEMBER_COLUMNS)?;
    agrees(&fields, "id", member)?;
    agrees(&fields, "firm_id", scope.firm())?;
    let country = country_of(door, scope.firm())?;
    let mut reader = Reader::new(&fields);
    let record = fields::member(&mut reader, member, scope.firm(), country)?;
    let applied = door
        .state
        .writer
        .change(Command::PutMember(record.clone()))
        .await
        .map_err(|err| scope.refusal(err))?;
    reply(
        created(&applied),
        &with_warnings(record_json(&record), &reader),
    )
}

pub async fn delete_member(door: &Door, scope: &FirmScope, member: MemberId) -> Answer {
    door.state
        .writer
        .change(Command::DeleteMember {
            firm: scope.firm(),
            member,
        })
        .await?;
    no_content()
}

pub fn list_projects(door: &Door, scope: &FirmScope, query: &Query) -> Answer {
    let reader = door.state.store.read()?;
    let Some(firm) = reader.firm(scope.firm())? else {
        return Err(ApiError::not_found());
    };
    let status = match query.get("status") {
        None | Some("") => None,
        Some(text) => Some(
            ProjectStatus::parse(text, &door.state.statuses)
                .map_err(|e| ApiError::invalid("status", e.to_string()))?,
        ),
    };
    let phone = phone_param(query, firm.country)?;
    let keep = |p: &Project| {
        status.as_ref().is_none_or(|s| &p.status == s)
            && phone.is_none_or(|ph| p.client_phone == Some(ph) || p.designer_phone == Some(ph))
    };
    let after = query.get("after").map(id).transpose()?;
    ok(&page_json(reader.projects_page(
        scope.firm(),
        after,
        limit(query)?,
        keep,
    )?))
}

pub fn get_project(door: &Door, scope: &FirmScope, project: ProjectId) -> Answer {
    let reader = door.state.store.read()?;
    let Some(record) = reader.project(scope.firm(), project)? else {
        return Err(ApiError::not_found());
    };
    let milestones: Vec<Value> = reader
        .milestones_of(scope.firm(), project)?
        .iter()
        .map(record_json)
        .collect();
    let mut out = record_json(&record);
    out["milestones"] = Value::Array(milestones);
    ok(&out)
}

/// PUT (every column) or PATCH (the columns given, over the stored ones).
pub async fn put_project(
    door: &Door,
    scope: &FirmScope,
    project: ProjectId,
    request: Request<Incoming>,
    patch: bool,
) -> Answer {
    let body = json_body(request, door).await?;
    let given = body_fields(&body, fields::PROJECT_COLUMNS)?;
    agrees(&given, "id", project)?;
    agrees(&given, "firm_id", scope.firm())?;
    let given_columns: Vec<&'static str> = given.keys().copied().collect();
    let (stored, country) = {
        let reader = door.state.store.read()?;
        let Some(firm) = reader.firm(scope.firm())? else {
            return Err(ApiError::not_found());
        };
        (reader.project(scope.firm(), project)?, firm.country)
    };
    let mut fields = match (&stored, patch) {
        (Some(stored), true) => fields::as_fields(stored),
        (None, true) => return Err(ApiError::not_found()),
        (_, false) => HashMap::new(),
    };
    fields.extend(given);
    // A project created through the API without a date starts now.
    if fields.get("created_at").is_none_or(|v| v.trim().is_empty()) {
        let at = stored
            .as_ref()
            .map_or_else(|| door.state.clock.now(), |p| p.created_at);
        fields.insert("created_at", at.to_string());
    }
    let mut reader = Reader::new(&fields);
    let designer: Option<MemberId> = reader.optional_id("designer_member_id")?;
    if let Some(member) = designer {
        let found = door.state.store.read()?.member_firm(member)?;
        crate::command::check_designer(scope.firm(), member, found)?;
    }
    let record = fields::project(
        &mut reader,
        project,
        scope.firm(),
        country,
        designer,
        &door.state.statuses,
    )?;
    // A PATCH is applied over what is stored when the writer gets to it,
    // not over what was read here (DESIGN section 5).
    let command = if patch && !crate::mutation::on("bypass_commands") {
        Command::PatchProject {
            project: record.clone(),
            given: given_columns,
        }
    } else {
        Command::PutProject(record.clone())
    };
    let applied = door
        .state
        .writer
        .change(command)
        .await
        .map_err(|err| scope.refusal(err))?;
    let record = if patch {
        door.state
            .store
            .read()?
            .project(scope.firm(), project)?
            .unwrap_or(record)
    } else {
        record
    };
    reply(
        created(&applied),
        &with_warnings(record_json(&record), &reader),
    )
}

pub async fn delete_project(door: &Door, scope: &FirmScope, project: ProjectId) -> Answer {
    door.state
        .writer
        .change(Command::DeleteProject {
            firm: scope.firm(),
            project,
        })
        .await?;
    no_content()
}

pub fn list_milestones(door: &Door, scope: &FirmScope, project: ProjectId) -> Answer {
    let reader = door.state.store.read()?;
    if reader.project(scope.firm(), project)?.is_none() {
        return Err(ApiError::not_found());
    }
    let items: Vec<Value> = reader
        .milestones_of(scope.firm(), project)?
        .iter()
        .map(record_json)
        .collect();
    ok(&json!({"items": items, "next": null}))
}

pub fn get_milestone(
    door: &Door,
    scope: &FirmScope,
    project: ProjectId,
    milestone: MilestoneId,
) -> Answer {
    match door
        .state
        .store
        .read()?
        .milestone(scope.firm(), project, milestone)?
    {
        Some(record) => ok(&record_json(&record)),
        None => Err(ApiError::not_found()),
    }
}

pub async fn put_milestone(
    door: &Door,
    scope: &FirmScope,
    project: ProjectId,
    milestone: MilestoneId,
    request: Request<Incoming>,
) -> Answer {
    let body = json_body(request, door).await?;
    let fields = body_fields(&body, fields::MILESTONE_COLUMNS)?;
    agrees(&fields, "id", milestone)?;
    agrees(&fields, "project_id", project)?;
    if door
        .state
        .store
        .read()?
        .project(scope.firm(), project)?
        .is_none()
    {
        return Err(ApiError::not_found());
    }
    let record = fields::milestone(&Reader::new(&fields), milestone, project)?;
    let applied = door
        .state
        .writer
        .change(Command::PutMilestone {
            firm: scope.firm(),
            milestone: record.clone(),
        })
        .await
        .map_err(|err| scope.refusal(err))?;
    reply(created(&applied), &record_json(&record))
}

pub async fn delete_milestone(
    door: &Door,
    scope: &FirmScope,
    project: ProjectId,
    milestone: MilestoneId,
) -> Answer {
    door.state
        .writer
        .change(Command::DeleteMilestone {
            firm: scope.firm(),
            project,
            milestone,
        })
        .await?;
    no_content()
}

/// `POST …/milestones/{id}/ready`: what a designer's `rdy:` tap does.
pub async fn ready(door: &Door, scope: &FirmScope, milestone: MilestoneId) -> Answer {
    door.state
        .writer
        .change(Command::MarkReady {
            firm: scope.firm(),
            milestone,
        })
        .await?;
    let reader = door.state.store.read()?;
    let found = reader
        .milestone_owner(milestone)?
        .filter(|(firm, _)| *firm == scope.firm())
        .map(|(firm, project)| reader.milestone(firm, project, milestone))
        .transpose()?
        .flatten();
    match found {
        Some(record) => ok(&record_json(&record)),
        None => Err(ApiError::not_found()),
    }
}

/// `GET /api/v1/resolve?phone=&phone_number_id=`: what `resolve --json`
/// prints; a firm token sees its own firm only.
pub fn resolve(door: &Door, scope: &Scope, query: &Query) -> Answer {
    let text = query
        .get("phone")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid("phone", "is required"))?;
    let phone =
        Phone::parse_international(text).map_err(|e| ApiError::invalid("phone", e.to_string()))?;
    let number =
        match query.get("phone_number_id") {
            None | Some("") => None,
            Some(text) => Some(text.parse::<u64>().map_err(|_| {
                ApiError::invalid("phone_number_id", format!("not digits: {text:?}"))
            })?),
        };
    let reader = door.state.store.read()?;
    let resolution = match scope.limited_to() {
        None => run_resolve(&reader, phone, number)?,
        Some(firm) => run_resolve(&WithinFirm { dir: &reader, firm }, phone, number)?,
    };
    ok(&resolution.to_json())
}

/// Adds the phone warnings of a request to its answer.
fn with_warnings(mut value: Value, reader: &Reader) -> Value {
    if !reader.warnings.is_empty() {
        let warnings: Vec<String> = reader
            .warnings
            .iter()
            .map(|(field, warning)| format!("{field}: {warning}"))
            .collect();
        value["warnings"] = json!(warnings);
    }
    value
}

/// The `phone` filter of a list, read by the phone rule with the firm's
/// country as the default region.
pub fn phone_param(query: &Query, country: Country) -> Result<Option<Phone>, ApiError> {
    match query.get("phone") {
        None | Some("") => Ok(None),
        Some(text) => Phone::parse(text, Some(country))
            .map(|parsed| Some(parsed.phone))
            .map_err(|e| ApiError::invalid("phone", e.to_string())),
    }
}
