//! `PUT, GET, DELETE /api/v1/firms/{firm}/templates/{kind}` (operator, the
//! firm) and `/api/v1/templates/{kind}` (the operator's defaults for every
//! firm): the template a notification goes out as when the person's
//! 24-hour window is closed (DESIGN section 12).

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Value, json};

use super::{Answer, ApiError, json_body, no_content, ok, reply};
use crate::command::Command;
use crate::domain::FirmId;
use crate::http::Door;
use crate::notify::{Template, TemplateKind};

/// The kind from the path; an unknown one names nothing.
pub fn kind(text: &str) -> Result<TemplateKind, ApiError> {
    TemplateKind::parse(text).ok_or_else(ApiError::not_found)
}

pub async fn put(
    door: &Door,
    firm: Option<FirmId>,
    kind: TemplateKind,
    request: Request<Incoming>,
) -> Answer {
    let body = json_body(request, door).await?;
    let text = |field: &'static str| match body.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(ApiError::invalid(field, "is required")),
        Some(_) => Err(ApiError::invalid(field, "must be a string")),
    };
    let template = Template::parse(&text("name")?, &text("language")?)
        .map_err(|(field, message)| ApiError::invalid(field, message))?;
    door.state
        .writer
        .change(Command::SetTemplate {
            firm,
            kind,
            template: template.clone(),
        })
        .await?;
    reply(StatusCode::OK, &setting(kind, &template))
}

pub fn get(door: &Door, firm: Option<FirmId>, kind: TemplateKind) -> Answer {
    let reader = door.state.store.read()?;
    if let Some(firm) = firm
        && reader.firm(firm)?.is_none()
    {
        return Err(ApiError::not_found());
    }
    match reader.template(firm, kind)? {
        Some(template) => ok(&setting(kind, &template)),
        None => Err(ApiError::not_found()),
    }
}

pub async fn delete(door: &Door, firm: Option<FirmId>, kind: TemplateKind) -> Answer {
    door.state
        .writer
        .change(Command::DeleteTemplate { firm, kind })
        .await?;
    no_content()
}

fn setting(kind: TemplateKind, template: &Template) -> Value {
    json!({"kind": kind.as_str(), "name": template.name, "language": template.language})
}
