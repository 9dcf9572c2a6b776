//! The admin API under `/api/v1` (DESIGN section 11): one match on the
//! path's segments, authorization first on every route, and errors turned
//! into status codes and the JSON error body in one place ([`ApiError`]).
//!
//! Every change is an application command handed to the writer thread
//! (the same group commits as webhook deliveries) and answered after its
//! commit. Reads use one read transaction each.

pub(crate) mod auth;
mod feed;
mod hooks;
mod import;
mod messages;
mod records;
mod templates;
mod tokens;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::body::Refusal;
use super::{Body, Door, Query, json as json_response};
use crate::command::CommandError;
use crate::domain::ids::Id;
use crate::import::fields::FieldError;
use crate::writer::ChangeError;

pub use auth::{FirmScope, Scope, bearer, hash, scope_of, still_valid};
pub use tokens::new_token;

/// An answer other than success: its status, code, words and field.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<&'static str>,
}

impl ApiError {
    /// Whether this refusal is the rate limit on failed authentications.
    pub fn is_rate_limited(&self) -> bool {
        self.status == StatusCode::TOO_MANY_REQUESTS
    }

    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid token is required: Authorization: Bearer <token>",
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid", message)
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not allowed here",
        )
    }

    /// A failure of ours: the cause is logged, the answer says nothing.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "admin API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    fn into_response(self) -> Response<Body> {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = field.into();
        }
        let mut response = json_response(&json!({ "error": error }));
        *response.status_mut() = self.status;
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<FieldError> for ApiError {
    fn from(err: FieldError) -> Self {
        ApiError::invalid(err.field, err.reason)
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(err: crate::store::Error) -> Self {
        match err {
            // The disk failed, or the file is being opened again after
            // that: nothing is lost, and the same request may be sent
            // again once it is back.
            crate::store::Error::Closed | crate::store::Error::Redb(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("the database cannot be used just now ({err}); try again"),
            ),
            other => ApiError::internal(other),
        }
    }
}

impl From<ChangeError> for ApiError {
    fn from(err: ChangeError) -> Self {
        match err {
            ChangeError::Rejected(CommandError::NotFound) => ApiError::not_found(),
            ChangeError::Rejected(CommandError::Conflict(reason)) => ApiError::conflict(reason),
            ChangeError::Rejected(CommandError::Quota(reason)) => {
                ApiError::new(StatusCode::CONFLICT, "quota_exceeded", reason)
            }
            ChangeError::Rejected(CommandError::InUse(reason)) => ApiError::conflict(reason),
            ChangeError::Rejected(CommandError::State(reason)) => ApiError::conflict(reason),
            ChangeError::Rejected(CommandError::Store(err)) => ApiError::internal(err),
            // The database could not write it (a failing disk): nothing
            // was kept, and the same request may be sent again.
            ChangeError::NotCommitted => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_committed",
                "the change was not committed (the database could not write); try again",
            ),
        }
    }
}

type Answer = Result<Response<Body>, ApiError>;

/// Answers every request under `/api/v1/`.
pub(super) async fn route(request: Request<Incoming>, door: &Door) -> Response<Body> {
    let answer = dispatch(request, door).await;
    answer.unwrap_or_else(ApiError::into_response)
}

async fn dispatch(request: Request<Incoming>, door: &Door) -> Answer {
    let scope = auth::authorize(door, request.headers()).await?;
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path
        .trim_start_matches("/api/v1/")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = request.method().clone();
    let query = Query::of(&request);
    use Method as M;
    match (&method, segments.as_slice()) {
        (&M::GET, ["firms"]) => records::list_firms(door, &scope, &query),
        (_, ["firms", firm]) => {
            let firm = id(firm)?;
            match method {
                M::GET => records::get_firm(door, &scope.firm(firm)?),
                M::PUT => {
                    scope.operator()?;
                    records::put_firm(door, firm, request).await
                }
                M::DELETE => {
                    scope.operator()?;
                    records::delete_firm(door, firm, &query).await
                }
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (&M::GET, ["firms", firm, "members"]) => {
            records::list_members(door, &scope.firm(id(firm)?)?, &query)
        }
        (_, ["firms", firm, "members", member]) => {
            let scope = scope.firm(id(firm)?)?;
            let member = id(member)?;
            match method {
                M::GET => records::get_member(door, &scope, member),
                M::PUT => records::put_member(door, &scope, member, request).await,
                M::DELETE => records::delete_member(door, &scope, member).await,
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (&M::GET, ["firms", firm, "projects"]) => {
            records::list_projects(door, &scope.firm(id(firm)?)?, &query)
        }
        (_, ["firms", firm, "projects", project]) => {
            let scope = scope.firm(id(firm)?)?;
            let project = id(project)?;
            match method {
                M::GET => records::get_project(door, &scope, project),
                M::PUT => records::put_project(door, &scope, project, request, false).await,
                M::PATCH => records::put_project(door, &scope, project, request, true).await,
                M::DELETE => records::delete_project(door, &scope, project).await,
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (&M::GET, ["firms", firm, "projects", project, "milestones"]) => {
            records::list_milestones(door, &scope.firm(id(firm)?)?, id(project)?)
        }
        (_, ["firms", firm, "projects", project, "milestones", milestone]) => {
            let scope = scope.firm(id(firm)?)?;
            let (project, milestone) = (id(project)?, id(milestone)?);
            match method {
                M::GET => records::get_milestone(door, &scope, project, milestone),
                M::PUT => records::put_milestone(door, &scope, project, milestone, request).await,
                M::DELETE => records::delete_milestone(door, &scope, project, milestone).await,
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (&M::POST, ["firms", firm, "milestones", milestone, "ready"]) => {
            records::ready(door, &scope.firm(id(firm)?)?, id(milestone)?).await
        }
        (_, ["firms", firm, "tokens"]) => {
            scope.operator()?;
            let scope = scope.firm(id(firm)?)?;
            match method {
                M::GET => tokens::list(door, &scope),
                M::POST => tokens::create(door, &scope, request).await,
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (&M::DELETE, ["firms", firm, "tokens", token]) => {
            scope.operator()?;
            tokens::revoke(door, &scope.firm(id(firm)?)?, id(token)?).await
        }
        (_, ["firms", firm, "webhook"]) => {
            let scope = scope.firm(id(firm)?)?;
            match method {
                M::PUT => hooks::put(door, &scope, request).await,
                M::GET => hooks::get(door, &scope),
                M::DELETE => hooks::delete(door, &scope).await,
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (&M::GET, ["firms", firm, "messages"]) => {
            messages::list(door, &scope.firm(id(firm)?)?, &query)
        }
        (_, ["firms", firm, "templates", kind]) => {
            let scope = scope.firm(id(firm)?)?;
            let kind = templates::kind(kind)?;
            let firm = Some(scope.firm());
            match method {
                M::PUT => templates::put(door, firm, kind, request).await,
                M::GET => templates::get(door, firm, kind),
                M::DELETE => templates::delete(door, firm, kind).await,
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (_, ["templates", kind]) => {
            scope.operator()?;
            let kind = templates::kind(kind)?;
            match method {
                M::PUT => templates::put(door, None, kind, request).await,
                M::GET => templates::get(door, None, kind),
                M::DELETE => templates::delete(door, None, kind).await,
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (&M::GET, ["events"]) => {
            scope.operator()?;
            feed::events(door, None, &query).await
        }
        (&M::GET, ["firms", firm, "events"]) => {
            let scope = scope.firm(id(firm)?)?;
            feed::events(door, Some(&scope), &query).await
        }
        (&M::GET, ["resolve"]) => records::resolve(door, &scope, &query),
        (&M::POST, ["import"]) => import::post(door, &scope, request, &query).await,
        _ => Err(ApiError::not_found()),
    }
}

/// An id from the path; one that is not a UUID names nothing.
fn id<K>(text: &str) -> Result<Id<K>, ApiError> {
    Id::parse(text).map_err(|_| ApiError::not_found())
}

/// `limit` (default 100, at most 1000).
fn limit(query: &Query) -> Result<usize, ApiError> {
    match query.get("limit") {
        None | Some("") => Ok(100),
        Some(text) => match text.parse::<usize>() {
            Ok(n @ 1..=1000) => Ok(n),
            _ => Err(ApiError::invalid(
                "limit",
                format!("not a whole number from 1 to 1000: {text:?}"),
            )),
        },
    }
}

/// A JSON body: the right content type, within the size limit, an object.
async fn json_body(
    request: Request<Incoming>,
    door: &Door,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let is_json = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json",
        ));
    }
    let held = match door.read_body(request, &door.state.limits).await {
        Ok(held) => held,
        Err(Refusal::TooLarge) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "body over 3 MiB",
            ));
        }
        Err(Refusal::Busy) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "busy, retry later",
            ));
        }
        Err(refusal) => {
            return Err(ApiError::bad_request(format!(
                "unreadable body: {refusal:?}"
            )));
        }
    };
    match serde_json::from_slice::<Value>(&held.bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(err) => Err(ApiError::bad_request(format!("malformed JSON: {err}"))),
    }
}

/// `status` with a JSON body.
fn reply(status: StatusCode, value: &Value) -> Answer {
    let mut response = json_response(value);
    *response.status_mut() = status;
    Ok(response)
}

fn ok(value: &Value) -> Answer {
    reply(StatusCode::OK, value)
}

fn no_content() -> Answer {
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}
