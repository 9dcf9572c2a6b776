//! `GET /api/v1/events` and `…/firms/{firm}/events`: the change feed,
//! oldest first after the cursor `after` (a seq). With `wait` (seconds, at
//! most 60) an empty answer is held open until an event commits.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Answer, ApiError, FirmScope, limit, ok};
use crate::http::{Door, Query};

const MAX_WAIT: u64 = 60;

pub async fn events(door: &Door, scope: Option<&FirmScope>, query: &Query) -> Answer {
    let after = match query.get("after") {
        None | Some("") => 0,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| ApiError::invalid("after", format!("not a seq: {text:?}")))?,
    };
    let wait = match query.get("wait") {
        None | Some("") => 0,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n <= MAX_WAIT => n,
            _ => {
                return Err(ApiError::invalid(
                    "wait",
                    format!("not a number of seconds from 0 to {MAX_WAIT}: {text:?}"),
                ));
            }
        },
    };
    let limit = limit(query)?;
    let firm = scope.map(FirmScope::firm);
    if let Some(firm) = firm
        && door.state.store.read()?.firm(firm)?.is_none()
    {
        return Err(ApiError::not_found());
    }
    // Long-polls have a cap of their own (DESIGN section 10): past it a
    // request answers at once, as if its wait had run out.
    let waiting = if wait > 0 {
        door.state.long_polls.clone().try_acquire_owned().ok()
    } else {
        None
    };
    let wait = if waiting.is_some() { wait } else { 0 };
    let _waiting = waiting;
    let mut committed = door.state.writer.feed();
    let until = tokio::time::Instant::now() + Duration::from_secs(wait);
    let mut closing = door.closing.clone();
    loop {
        // Seen before reading, so a commit in between wakes the wait below.
        committed.borrow_and_update();
        let found = door.state.store.read()?.feed_after(firm, after, limit)?;
        if !found.is_empty() || tokio::time::Instant::now() >= until {
            let next = found.last().map_or(after, |e| e.seq);
            let items: Vec<Value> = found.iter().map(|e| e.to_json()).collect();
            return ok(&json!({"items": items, "next": next.to_string()}));
        }
        tokio::select! {
            changed = committed.changed() => {
                if changed.is_err() {
                    return ok(&json!({"items": [], "next": after.to_string()}));
                }
            }
            () = tokio::time::sleep_until(until) => {}
            _ = closing.wait_for(|c| *c) => {
                return ok(&json!({"items": [], "next": after.to_string()}));
            }
        }
    }
}
