//! The operator's pages: firms (and creating one with its first token),
//! health, every firm's events. A firm's session gets 404 here.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use askama::Template;
use hyper::StatusCode;

use super::{Answer, Nav, Page, Problem, html, ok};
use crate::command::Command;
use crate::domain::event::Source;
use crate::domain::{Firm, FirmId, Token, TokenId};
use crate::http::Query;
use crate::http::api::{Scope, hash};
use crate::import::fields::{self, FieldError, Reader};
use crate::store::State;
use crate::store::error_code;

fn operator(page: &Page) -> Result<(), Problem> {
    match page.session.scope {
        Scope::Operator => Ok(()),
        Scope::Firm { .. } => Err(Problem::NotFound),
    }
}

pub(crate) struct FirmRow {
    id: String,
    name: String,
    country: String,
    number: String,
    language: String,
}

#[derive(Template)]
#[template(path = "console/firms.html")]
pub(crate) struct Firms {
    nav: Nav,
    firms: Vec<FirmRow>,
    /// A firm just created and its first token, shown this once.
    created: Option<(String, String, String)>,
    /// The create form's values and the error, when it was refused.
    values: BTreeMap<String, String>,
    field: &'static str,
    error: String,
    inputs: &'static [(&'static str, &'static str, &'static str)],
}

/// The new-firm form's fields: (name, label, placeholder).
const INPUTS: &[(&str, &str, &str)] = &[
    ("name", "Name", ""),
    ("country", "Country (two letters)", "GB"),
    ("phone_number_id", "WhatsApp phone_number_id (optional)", ""),
    ("language", "Language (optional: en, pt_BR, es)", ""),
];

impl Firms {
    fn value(&self, field: &str) -> &str {
        self.values.get(field).map_or("", String::as_str)
    }
}

pub fn firms(page: &Page, refused: Option<(&Query, FieldError)>) -> Answer {
    operator(page)?;
    list(page, None, refused)
}

fn list(
    page: &Page,
    created: Option<(String, String, String)>,
    refused: Option<(&Query, FieldError)>,
) -> Answer {
    let reader = page.door.state.store.read()?;
    let firms = reader
        .firms_page(None, usize::MAX)?
        .items
        .into_iter()
        .map(|f: Firm| FirmRow {
            id: f.id.to_string(),
            name: f.name,
            country: f.country.to_string(),
            number: f.phone_number_id.map(|n| n.to_string()).unwrap_or_default(),
            language: f.language.map(|l| l.code()).unwrap_or("").to_owned(),
        })
        .collect();
    let status = match (&refused, &created) {
        (Some(_), _) => StatusCode::BAD_REQUEST,
        (None, Some(_)) => StatusCode::CREATED,
        (None, None) => StatusCode::OK,
    };
    let (values, field, error) = match refused {
        Some((form, err)) => (form.pairs().cloned().collect(), err.field, err.reason),
        None => (BTreeMap::new(), "", String::new()),
    };
    Ok(html(
        status,
        &Firms {
            nav: page.nav(None),
            firms,
            created,
            values,
            field,
            error,
            inputs: INPUTS,
        },
    ))
}

/// A new firm and its first token; the token is shown once.
pub async fn create_firm(page: &Page<'_>, form: &Query) -> Answer {
    operator(page)?;
    let mut values = std::collections::HashMap::new();
    for name in ["name", "country", "phone_number_id", "language"] {
        values.insert(name, form.get(name).unwrap_or("").to_owned());
    }
    let id = FirmId::new_v7();
    let firm = match fields::firm(&Reader::new(&values), id) {
        Ok(firm) => firm,
        Err(err) => return firms(page, Some((form, err))),
    };
    let writer = &page.door.state.writer;
    if let Err(err) = writer
        .change_from(Command::PutFirm(firm.clone()), Source::Console)
        .await
    {
        let problem = Problem::from(err);
        return match problem {
            Problem::Conflict(why) => {
                firms(page, Some((form, FieldError::new("phone_number_id", why))))
            }
            other => Err(other),
        };
    }
    let secret = crate::http::api::new_token();
    writer
        .change_from(
            Command::CreateToken(Token {
                firm: id,
                id: TokenId::new_v7(),
                label: "first token (console)".into(),
                hash: hash(&secret),
                created_at: page.door.state.clock.now(),
                last_used: None,
            }),
            Source::Console,
        )
        .await?;
    list(page, Some((id.to_string(), firm.name, secret)), None)
}

#[derive(Template)]
#[template(path = "console/health.html")]
pub(crate) struct Health {
    nav: Nav,
    outbox_depth: u64,
    halted: bool,
    held: u64,
    failed: Vec<(String, usize)>,
    recent: usize,
    file_mib: String,
    tables: Vec<(String, u64)>,
}

/// Replies looked at for failures by code.
const RECENT_REPLIES: usize = 10_000;

pub fn health(page: &Page) -> Answer {
    operator(page)?;
    let reader = page.door.state.store.read()?;
    let tables = reader.table_sizes()?;
    let held = tables
        .iter()
        .find(|(name, _)| name == "held")
        .map_or(0, |(_, n)| *n);
    let recent = reader.recent_outbound(RECENT_REPLIES)?;
    let mut failed: BTreeMap<String, usize> = BTreeMap::new();
    for reply in recent.iter().filter(|r| r.state == State::Failed) {
        let code = reply
            .last_error
            .as_deref()
            .and_then(error_code)
            .map_or_else(|| "no code".to_owned(), |c| c.to_string());
        *failed.entry(code).or_default() += 1;
    }
    let bytes = std::fs::metadata(&page.door.state.db_path).map_or(0, |m| m.len());
    ok(&Health {
        nav: page.nav(None),
        outbox_depth: reader.outbox_depth()?,
        halted: page.door.state.metrics.sending_halted.load(Relaxed) == 1,
        held,
        failed: failed.into_iter().collect(),
        recent: recent.len(),
        file_mib: format!("{:.1}", bytes as f64 / (1024.0 * 1024.0)),
        tables,
    })
}

pub(crate) struct EventRow {
    seq: u64,
    at: String,
    firm: String,
    kind: &'static str,
    source: &'static str,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/events.html")]
pub(crate) struct Events {
    nav: Nav,
    events: Vec<EventRow>,
    older: Option<u64>,
}

/// Events shown on one page.
const EVENT_ROWS: u64 = 100;

/// Every firm's events, newest first, a page at a time (`?before=seq`).
pub fn events(page: &Page, query: &Query) -> Answer {
    operator(page)?;
    let reader = page.door.state.store.read()?;
    let last = reader.feed_last()?;
    let before = query
        .get("before")
        .and_then(|b| b.parse::<u64>().ok())
        .unwrap_or(last + 1)
        .min(last + 1);
    let after = before.saturating_sub(EVENT_ROWS + 1);
    let mut names = BTreeMap::new();
    let mut rows = Vec::new();
    for event in reader.feed_after(None, after, EVENT_ROWS as usize)? {
        if event.seq >= before {
            break;
        }
        let firm = match names.get(&event.firm) {
            Some(name) => String::clone(name),
            None => {
                let name = reader
                    .firm(event.firm)?
                    .map_or_else(|| event.firm.to_string(), |f| f.name);
                names.insert(event.firm, name.clone());
                name
            }
        };
        rows.push(EventRow {
            seq: event.seq,
            at: event.at.to_string(),
            firm,
            kind: event.change.kind(),
            source: event.source.as_str(),
            detail: event.to_json()["data"].to_string(),
        });
    }
    rows.reverse();
    ok(&Events {
        nav: page.nav(None),
        older: (after > 0).then_some(after + 1),
        events: rows,
    })
}
