//! `PUT, GET, DELETE /api/v1/firms/{firm}/webhook`: where the firm's
//! events are pushed. PUT answers the signing secret (`whsec_…`), the
//! only time it is shown; a new PUT makes a new secret.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Value, json};

use super::{Answer, ApiError, FirmScope, json_body, no_content, ok, reply};
use crate::command::Command;
use crate::domain::event::Hook;
use crate::http::Door;

pub async fn put(door: &Door, scope: &FirmScope, request: Request<Incoming>) -> Answer {
    let body = json_body(request, door).await?;
    let url = match body.get("url") {
        Some(Value::String(url)) => url,
        Some(_) => return Err(ApiError::invalid("url", "must be a string")),
        None => return Err(ApiError::invalid("url", "is required")),
    };
    let hook = Hook::new(scope.firm(), url)
        .and_then(|hook| {
            crate::push::address::check_url(&hook.url, door.state.hooks_reach).map(|()| hook)
        })
        .map_err(|why| ApiError::invalid("url", why))?;
    door.state
        .writer
        .change(Command::SetHook(hook.clone()))
        .await?;
    reply(
        StatusCode::OK,
        &json!({"url": hook.url, "secret": hook.secret_text()}),
    )
}

pub fn get(door: &Door, scope: &FirmScope) -> Answer {
    let reader = door.state.store.read()?;
    match reader.hook(scope.firm())? {
        Some(hook) => {
            let disabled_at = reader
                .hook_disabled_at(scope.firm())?
                .map(|at| crate::domain::Timestamp::from_unix_seconds(at).to_string());
            ok(&json!({"url": hook.url, "disabled_at": disabled_at}))
        }
        None => Err(ApiError::not_found()),
    }
}

pub async fn delete(door: &Door, scope: &FirmScope) -> Answer {
    door.state
        .writer
        .change(Command::DeleteHook { firm: scope.firm() })
        .await?;
    no_content()
}
