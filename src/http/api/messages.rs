//! `GET /api/v1/firms/{firm}/messages?phone=&after=&limit=`: the firm's
//! inbound and outbound messages, newest first, with each reply's delivery
//! state and the error that stopped it.

use serde_json::{Value, json};

use super::{Answer, ApiError, FirmScope, limit, ok};
use crate::domain::Phone;
use crate::domain::event::Direction;
use crate::http::{Door, Query};
use crate::store::error_code;

pub fn list(door: &Door, scope: &FirmScope, query: &Query) -> Answer {
    let reader = door.state.store.read()?;
    let Some(firm) = reader.firm(scope.firm())? else {
        return Err(ApiError::not_found());
    };
    let phone = super::records::phone_param(query, firm.country)?;
    let before = match query.get("after") {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<u64>()
                .map_err(|_| ApiError::invalid("after", format!("not a cursor: {text:?}")))?,
        ),
    };
    let (items, next) = reader.messages_page(scope.firm(), before, limit(query)?, |logged| {
        phone.is_none_or(|p| Phone::from_wa_id(&logged.peer).ok() == Some(p))
    })?;
    let items: Vec<Value> = items
        .iter()
        .map(|(logged, outbound)| {
            let (state, error) = match (logged.direction, outbound) {
                (Direction::Outbound, Some(o)) => (Some(o.state.as_str()), o.last_error.clone()),
                _ => (None, None),
            };
            json!({
                "seq": logged.seq,
                "at": logged.at.to_string(),
                "direction": match logged.direction {
                    Direction::Inbound => "inbound",
                    Direction::Outbound => "outbound",
                },
                "phone": logged.peer,
                "kind": logged.kind,
                "text": logged.text,
                "state": state,
                "error_code": error.as_deref().and_then(error_code),
                "error": error,
            })
        })
        .collect();
    ok(&json!({"items": items, "next": next.map(|n| n.to_string())}))
}
