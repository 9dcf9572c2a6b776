//! The web console under `/console` (DESIGN §14): server-rendered pages
//! for a firm's people and the operator, over the admin API's rules.
//!
//! - **Who**: a person signs in by pasting a token, the operator's or a
//!   firm's; the session carries the same [`Scope`] a bearer token gives,
//!   and firm pages take a [`FirmScope`] made by `Scope::firm`, so a firm's
//!   session gets 404 on another firm's pages exactly as its token would.
//! - **Changes** are application commands handed to the writer thread,
//!   built by the same field builders as CSV rows and API bodies: there is
//!   no second way to change data.
//! - **Reads**: each page renders from one read transaction.
//! - **Sessions** (`session.rs`): an HttpOnly, SameSite=Strict cookie
//!   (`Secure` under TLS, or behind a proxy that says `X-Forwarded-Proto:
//!   https`), scoped to `/console`. Every form carries the session's CSRF
//!   token; the sign-in form, before any session, a double-submit one.
//! - **Headers**: a CSP with no inline script or style, no framing, no
//!   caching, no referrer.
//! - **Pages** are askama templates in `templates/console/`, checked at
//!   compile time; the CSS and the small script are embedded.

mod firm;
mod operator;
mod session;
mod words;

pub use session::Sessions;

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HeaderValue, LOCATION,
    REFERRER_POLICY, SET_COOKIE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode};

use super::api::{ApiError, Scope, hash, scope_of, still_valid};
use super::{Body, Door, Query};
use crate::domain::ids::Id;
use crate::writer::ChangeError;

use session::Session;

const SESSION_COOKIE: &str = "fh_session";
const SIGN_IN_COOKIE: &str = "fh_signin";
const CSS: &str = include_str!("../../../assets/console.css");
const JS: &str = include_str!("../../../assets/console.js");
/// The largest form body accepted.
const FORM_LIMIT: usize = 64 * 1024;

/// Answers every request under `/console`.
pub(super) async fn route(request: Request<Incoming>, door: &Door) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path
        .trim_start_matches("/console")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = request.method().clone();
    let secure = door.state.tls
        || request
            .headers()
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let answer = match (&method, segments.as_slice()) {
        (&Method::GET, ["static", "console.css"]) => {
            return asset(CSS, "text/css; charset=utf-8");
        }
        (&Method::GET, ["static", "console.js"]) => {
            return asset(JS, "text/javascript; charset=utf-8");
        }
        (&Method::GET, ["sign-in"]) => Ok(sign_in_page(None, secure)),
        (&Method::POST, ["sign-in"]) => sign_in(request, door, secure).await,
        _ => match signed_in(door, request.headers()) {
            Ok(Some((id, session))) => {
                let page = Page {
                    door,
                    session,
                    session_id: id,
                    secure,
                };
                dispatch(&page, request, &method, &segments).await
            }
            Ok(None) => Ok(redirect("/console/sign-in")),
            Err(err) => Err(err),
        },
    };
    answer.unwrap_or_else(|problem| problem.into_response())
}

/// What a signed-in request's handlers need.
pub(crate) struct Page<'a> {
    door: &'a Door,
    session: Session,
    session_id: String,
    secure: bool,
}

impl Page<'_> {
    /// The navigation every page shows.
    fn nav(&self, firm: Option<(&crate::domain::Firm, &'static str)>) -> Nav {
        Nav {
            operator: matches!(self.session.scope, Scope::Operator),
            csrf: self.session.csrf.clone(),
            firm: firm.map(|(f, _)| (f.id.to_string(), f.name.clone())),
            active: firm.map_or("", |(_, active)| active),
        }
    }
}

/// The header of every signed-in page.
pub(crate) struct Nav {
    operator: bool,
    csrf: String,
    /// (id, name) of the firm whose pages these are.
    firm: Option<(String, String)>,
    /// Which firm page is shown: `projects`, `messages`, `who`, `settings`.
    active: &'static str,
}

type Answer = Result<Response<Body>, Problem>;

async fn dispatch(
    page: &Page<'_>,
    request: Request<Incoming>,
    method: &Method,
    segments: &[&str],
) -> Answer {
    use Method as M;
    match (method, segments) {
        (&M::GET, []) => Ok(redirect(&match page.session.scope {
            Scope::Operator => "/console/firms".to_owned(),
            Scope::Firm { firm, .. } => format!("/console/firms/{firm}/projects"),
        })),
        (&M::POST, ["sign-out"]) => {
            form(page, request).await?;
            page.door.state.sessions.end(&page.session_id);
            let mut response = redirect("/console/sign-in");
            set_cookie(&mut response, SESSION_COOKIE, "", 0, page.secure);
            Ok(response)
        }
        (&M::GET, ["firms"]) => operator::firms(page, None),
        (&M::POST, ["firms"]) => {
            let form = form(page, request).await?;
            operator::create_firm(page, &form).await
        }
        (&M::GET, ["health"]) => operator::health(page),
        (&M::GET, ["events"]) => operator::events(page, &Query::of(&request)),
        (_, ["firms", firm, rest @ ..]) => {
            let scope = page.session.scope.firm(id(firm)?)?;
            let query = Query::of(&request);
            match (method, rest) {
                (&M::GET, ["projects"]) => firm::projects(page, &scope, &query),
                (&M::GET, ["projects", project]) => {
                    firm::project_page(page, &scope, id(project)?, &query, None)
                }
                (&M::POST, ["projects", project, action @ ..]) => {
                    let project = id(project)?;
                    let form = form(page, request).await?;
                    firm::project_form(page, &scope, project, action, &form).await
                }
                (&M::GET, ["messages"]) => firm::messages(page, &scope, &query),
                (&M::GET, ["who"]) => firm::who(page, &scope, &query),
                (&M::GET, ["settings"]) => firm::settings(page, &scope, &query, None),
                (&M::POST, ["settings", action @ ..]) => {
                    let form = form(page, request).await?;
                    firm::settings_form(page, &scope, action, &form).await
                }
                _ => Err(Problem::NotFound),
            }
        }
        _ => Err(Problem::NotFound),
    }
}

/// The session the request's cookie names, if it is live and its token
/// still valid.
fn signed_in(
    door: &Door,
    headers: &hyper::HeaderMap,
) -> Result<Option<(String, Session)>, Problem> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = door.state.sessions.get(&id) else {
        return Ok(None);
    };
    if !still_valid(door, &session.scope, &session.token_hash)? {
        door.state.sessions.end(&id);
        return Ok(None);
    }
    Ok(Some((id, session)))
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignIn {
    csrf: String,
    error: Option<&'static str>,
}

fn sign_in_page(error: Option<&'static str>, secure: bool) -> Response<Body> {
    let csrf = session::sign_in_token();
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let mut response = html(
        status,
        &SignIn {
            csrf: csrf.clone(),
            error,
        },
    );
    set_cookie(&mut response, SIGN_IN_COOKIE, &csrf, 600, secure);
    response
}

async fn sign_in(request: Request<Incoming>, door: &Door, secure: bool) -> Answer {
    let expected = cookie(request.headers(), SIGN_IN_COOKIE);
    let fields = read_form(door, request).await?;
    let given = fields.get("csrf").unwrap_or("");
    if !session::sign_in_token_valid(given)
        || expected.is_none_or(|expected| !session::same(&expected, given))
    {
        return Err(Problem::Csrf);
    }
    let token = fields.get("token").map(str::trim).filter(|t| !t.is_empty());
    let scope = match scope_of(door, token).await {
        Ok(scope) => scope,
        Err(refused) if refused.is_rate_limited() => {
            return Ok(sign_in_page(
                Some("Too many failed sign-ins from this address. Wait a minute and try again."),
                secure,
            ));
        }
        Err(_) => return Ok(sign_in_page(Some("That token is not known here."), secure)),
    };
    let Some(id) = door
        .state
        .sessions
        .start(scope, hash(token.unwrap_or_default()))
    else {
        return Ok(sign_in_page(
            Some("The console has too many people signed in. Try again later."),
            secure,
        ));
    };
    tracing::info!(?scope, "console: signed in");
    let mut response = redirect("/console");
    set_cookie(
        &mut response,
        SESSION_COOKIE,
        &id,
        session::SESSION_HOURS * 3600,
        secure,
    );
    set_cookie(&mut response, SIGN_IN_COOKIE, "", 0, secure);
    Ok(response)
}

/// A form body, its CSRF token checked against the session's.
async fn form(page: &Page<'_>, request: Request<Incoming>) -> Result<Query, Problem> {
    let fields = read_form(page.door, request).await?;
    if !session::same(&page.session.csrf, fields.get("csrf").unwrap_or("")) {
        return Err(Problem::Csrf);
    }
    Ok(fields)
}

async fn read_form(door: &Door, request: Request<Incoming>) -> Result<Query, Problem> {
    let mut limits = door.state.limits;
    limits.body = FORM_LIMIT;
    match door.read_body(request, &limits).await {
        Ok(held) => Ok(Query::parse(&String::from_utf8_lossy(&held.bytes))),
        Err(refusal) => Err(Problem::BadForm(format!("{refusal:?}"))),
    }
}

/// An id from the path; one that is not a UUID names nothing.
fn id<K>(text: &str) -> Result<Id<K>, Problem> {
    Id::parse(text).map_err(|_| Problem::NotFound)
}

/// A request that does not get its page.
#[derive(Debug)]
pub(crate) enum Problem {
    NotFound,
    /// A form without its session's CSRF token.
    Csrf,
    BadForm(String),
    /// A change refused for the record's state (already approved…).
    Conflict(String),
    Internal(String),
}

impl From<ApiError> for Problem {
    fn from(err: ApiError) -> Self {
        match err.status() {
            StatusCode::NOT_FOUND => Problem::NotFound,
            StatusCode::CONFLICT => Problem::Conflict(err.message().to_owned()),
            status if status.is_client_error() => Problem::BadForm(err.message().to_owned()),
            _ => Problem::Internal(err.message().to_owned()),
        }
    }
}

impl From<crate::store::Error> for Problem {
    fn from(err: crate::store::Error) -> Self {
        tracing::error!(error = %err, "console: reading failed");
        Problem::Internal("internal error".into())
    }
}

impl From<ChangeError> for Problem {
    fn from(err: ChangeError) -> Self {
        ApiError::from(err).into()
    }
}

impl From<askama::Error> for Problem {
    fn from(err: askama::Error) -> Self {
        tracing::error!(error = %err, "console: rendering failed");
        Problem::Internal("internal error".into())
    }
}

#[derive(Template)]
#[template(path = "console/problem.html")]
struct ProblemPage<'a> {
    title: &'a str,
    detail: &'a str,
}

impl Problem {
    fn into_response(self) -> Response<Body> {
        if let Problem::Internal(cause) = &self {
            tracing::error!(%cause, "console: request failed");
        }
        let (status, title, detail) = match &self {
            Problem::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it is not yours to see.",
            ),
            Problem::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was not sent from this session's page. Go back, reload the page and try again.",
            ),
            Problem::BadForm(why) => (StatusCode::BAD_REQUEST, "Bad form", why.as_str()),
            Problem::Conflict(why) => (StatusCode::CONFLICT, "Not done", why.as_str()),
            Problem::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not do this; it is in the server's log.",
            ),
        };
        html(status, &ProblemPage { title, detail })
    }
}

/// A rendered page with the console's headers.
fn html(status: StatusCode, page: &impl Template) -> Response<Body> {
    let text = page.render().unwrap_or_else(|err| {
        tracing::error!(error = %err, "console: rendering failed");
        "internal error".to_owned()
    });
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    headers(&mut response, "text/html; charset=utf-8");
    response
}

fn ok(page: &impl Template) -> Answer {
    Ok(html(StatusCode::OK, page))
}

fn asset(text: &'static str, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    headers(&mut response, content_type);
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn headers(response: &mut Response<Body>, content_type: &'static str) {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// 303 See Other: after a form, the page is fetched again with GET.
fn redirect(location: &str) -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    headers(&mut response, "text/plain; charset=utf-8");
    response
}

fn set_cookie(response: &mut Response<Body>, name: &str, value: &str, max_age: u64, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    if let Ok(value) = HeaderValue::from_str(&text) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

/// The value of cookie `name`, if the request has it.
fn cookie(headers: &hyper::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}
