//! `…/firms/{firm}/tokens`: the operator creates a firm's tokens (shown
//! once, stored as SHA-256 only), lists them without secrets, revokes them.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Value, json};

use super::auth::hash;
use super::{Answer, ApiError, FirmScope, json_body, no_content, ok, reply};
use crate::command::Command;
use crate::domain::{Token, TokenId};
use crate::http::Door;

/// A new token: `fh_` and 64 hex digits from two random UUIDs (244 random
/// bits).
pub fn new_token() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("fh_{a}{b}")
}

pub async fn create(door: &Door, scope: &FirmScope, request: Request<Incoming>) -> Answer {
    let body = json_body(request, door).await?;
    let label = match body.get("label") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.chars().count() <= 200 => s.trim().to_owned(),
        Some(_) => {
            return Err(ApiError::invalid(
                "label",
                "must be a string of at most 200 characters",
            ));
        }
    };
    if door.state.store.read()?.firm(scope.firm())?.is_none() {
        return Err(ApiError::not_found());
    }
    let secret = new_token();
    let token = Token {
        firm: scope.firm(),
        id: TokenId::new_v7(),
        label,
        hash: hash(&secret),
        created_at: door.state.clock.now(),
        last_used: None,
    };
    door.state
        .writer
        .change(Command::CreateToken(token.clone()))
        .await?;
    reply(
        StatusCode::CREATED,
        &json!({"id": token.id.to_string(), "token": secret, "label": token.label}),
    )
}

pub fn list(door: &Door, scope: &FirmScope) -> Answer {
    let reader = door.state.store.read()?;
    if reader.firm(scope.firm())?.is_none() {
        return Err(ApiError::not_found());
    }
    let items: Vec<Value> = reader
        .tokens_of(scope.firm())?
        .iter()
        .map(|t| {
            json!({
                "id": t.id.to_string(),
                "label": t.label,
                "created_at": t.created_at.to_string(),
                "last_used": t.last_used.map(|at| at.to_string()),
            })
        })
        .collect();
    ok(&json!({"items": items, "next": null}))
}

pub async fn revoke(door: &Door, scope: &FirmScope, token: TokenId) -> Answer {
    door.state
        .writer
        .change(Command::RevokeToken {
            firm: scope.firm(),
            token,
        })
        .await?;
    no_content()
}
