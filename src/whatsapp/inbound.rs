//! The webhook body: every entry, change, message and status of one POST.
//!
//! Parsed from a `serde_json::Value` by walking it, so a field of an
//! unexpected type or an unknown message type drops only that item, never
//! the whole delivery (Meta retries anything that is not a 200 for days).
//! Only a body that is not JSON at all is an error.

use serde_json::Value;

/// Who sent a message: a phone (`wa_id`, exactly as received), a
/// business-scoped user id, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub wa_id: Option<String>,
    pub bsuid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    /// An interactive button or list reply, or a template quick-reply
    /// button: the id we gave it (the payload) and what it showed.
    Button {
        id: String,
        title: String,
    },
    /// Reactions, media, location, unsupported, system, and types we do
    /// not know: recorded as seen, not answered.
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub wamid: String,
    /// The business number it arrived on (`metadata.phone_number_id`).
    pub phone_number_id: String,
    pub sender: Sender,
    pub timestamp: i64,
    pub content: Content,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryState {
    Sent,
    Delivered,
    Read,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The wamid of our outbound message.
    pub wamid: String,
    pub state: DeliveryState,
    pub error_code: Option<i64>,
    pub timestamp: i64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub messages: Vec<Message>,
    pub statuses: Vec<Status>,
}

#[derive(Debug, thiserror::Error)]
#[error("body is not JSON: {0}")]
pub struct NotJson(#[from] serde_json::Error);

pub fn parse(body: &[u8]) -> Result<Delivery, NotJson> {
    let root: Value = serde_json::from_slice(body)?;
    let mut delivery = Delivery::default();
    for change in each(&root, "entry").flat_map(|entry| each(entry, "changes")) {
        let value = &change["value"];
        let Some(number) = text(&value["metadata"]["phone_number_id"]) else {
            continue;
        };
        let contacts: Vec<&Value> = each(value, "contacts").collect();
        for message in each(value, "messages") {
            if let Some(parsed) = parse_message(message, &number, &contacts) {
                delivery.messages.push(parsed);
            }
        }
        for status in each(value, "statuses") {
            if let Some(parsed) = parse_status(status) {
                delivery.statuses.push(parsed);
            }
        }
    }
    Ok(delivery)
}

fn each<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value[key].as_array().into_iter().flatten()
}

/// A string field; numbers are accepted too (ids sometimes arrive as such).
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn seconds(value: &Value) -> i64 {
    match value {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn parse_message(message: &Value, number: &str, contacts: &[&Value]) -> Option<Message> {
    let wamid = text(&message["id"])?;
    let mut sender = Sender {
        wa_id: text(&message["from"]),
        bsuid: text(&message["from_user_id"]),
    };
    // With a username, `from` may be absent; the contact may still carry
    // the phone, and always carries the user id.
    let contact = contacts.iter().find(|c| {
        let wa = text(&c["wa_id"]);
        let user = text(&c["user_id"]);
        (wa.is_some() && wa == sender.wa_id) || (user.is_some() && user == sender.bsuid)
    });
    let contact = contact.or(if contacts.len() == 1 {
        contacts.first()
    } else {
        None
    });
    if let Some(contact) = contact {
        sender.wa_id = sender.wa_id.or_else(|| text(&contact["wa_id"]));
        sender.bsuid = sender.bsuid.or_else(|| text(&contact["user_id"]));
    }
    if sender.wa_id.is_none() && sender.bsuid.is_none() {
        return None;
    }
    let kind = message["type"].as_str().unwrap_or("unknown");
    let content = match kind {
        "text" => match message["text"]["body"].as_str() {
            Some(body) => Content::Text(body.to_owned()),
            None => Content::Ignored("text without body".into()),
        },
        "interactive" => {
            let reply = &message["interactive"];
            let picked = match reply["type"].as_str() {
                Some("button_reply") => Some(&reply["button_reply"]),
                Some("list_reply") => Some(&reply["list_reply"]),
                _ => None,
            };
            match picked.and_then(|p| Some((text(&p["id"])?, p))) {
                Some((id, p)) => Content::Button {
                    id,
                    title: p["title"].as_str().unwrap_or_default().to_owned(),
                },
                None => Content::Ignored("interactive".into()),
            }
        }
        "button" => match text(&message["button"]["payload"]) {
            Some(id) => Content::Button {
                id,
                title: message["button"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            },
            None => Content::Ignored("button".into()),
        },
        other => Content::Ignored(other.to_owned()),
    };
    Some(Message {
        wamid,
        phone_number_id: number.to_owned(),
        sender,
        timestamp: seconds(&message["timestamp"]),
        content,
    })
}

fn parse_status(status: &Value) -> Option<Status> {
    let state = match status["status"].as_str()? {
        "sent" => DeliveryState::Sent,
        "delivered" => DeliveryState::Delivered,
        "read" => DeliveryState::Read,
        "failed" => DeliveryState::Failed,
        _ => return None,
    };
    Some(Status {
        wamid: text(&status["id"])?,
        state,
        error_code: each(status, "errors").find_map(|e| e["code"].as_i64()),
        timestamp: seconds(&status["timestamp"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_change_message_and_status_is_read() {
        let body = r#"{"object":"whatsapp_business_account","entry":[
          {"id":"1","changes":[
            {"field":"messages","value":{"metadata":{"display_phone_number":"15550001","phone_number_id":"111"},
              "contacts":[{"profile":{"name":"Emma"},"wa_id":"447911123401","user_id":"GB.1"}],
              "messages":[
                {"from":"447911123401","id":"wamid.A","timestamp":"1700000000","type":"text","text":{"body":"caf\u00e9"}},
                {"from":"447911123401","id":"wamid.B","timestamp":"1700000001","type":"interactive",
                 "interactive":{"type":"button_reply","button_reply":{"id":"sel:abc","title":"Kitchen"}}},
                {"from":"447911123401","id":"wamid.C","timestamp":"1700000002","type":"reaction","reaction":{"emoji":"x"}}
              ]}},
            {"field":"messages","value":{"metadata":{"phone_number_id":"222"},
              "statuses":[{"id":"wamid.OUT","status":"failed","timestamp":"1700000003","recipient_id":"1",
                           "errors":[{"code":131047,"title":"Re-engagement message"}]}]}}]},
          {"id":"2","changes":[
            {"field":"messages","value":{"metadata":{"phone_number_id":"222"},
              "contacts":[{"user_id":"US.13491208655302741918"}],
              "messages":[{"from_user_id":"US.13491208655302741918","id":"wamid.D","timestamp":"1700000004",
                           "type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"mil:x","title":"Tiles","description":"d"}}},
                          {"id":"wamid.E","from":"447911123401","type":"button","button":{"payload":"do_approve:p","text":"Approve"}},
                          {"id":"wamid.F","from":"447911123401","type":"hologram"},
                          {"from":"447911123401","type":"text","text":{"body":"no id"}}]}}]}]}"#;
        let d = parse(body.as_bytes()).unwrap();
        let ids: Vec<&str> = d.messages.iter().map(|m| m.wamid.as_str()).collect();
        assert_eq!(
            ids,
            [
                "wamid.A", "wamid.B", "wamid.C", "wamid.D", "wamid.E", "wamid.F"
            ]
        );
        assert_eq!(d.messages[0].content, Content::Text("café".into()));
        assert_eq!(d.messages[0].sender.bsuid.as_deref(), Some("GB.1"));
        assert_eq!(d.messages[0].timestamp, 1_700_000_000);
        assert_eq!(
            d.messages[1].content,
            Content::Button {
                id: "sel:abc".into(),
                title: "Kitchen".into()
            }
        );
        assert_eq!(d.messages[2].content, Content::Ignored("reaction".into()));
        assert_eq!(
            d.messages[3].sender,
            Sender {
                wa_id: None,
                bsuid: Some("US.13491208655302741918".into())
            }
        );
        assert_eq!(d.messages[3].phone_number_id, "222");
        assert!(
            matches!(&d.messages[4].content, Content::Button { id, .. } if id == "do_approve:p")
        );
        assert_eq!(d.messages[5].content, Content::Ignored("hologram".into()));
        assert_eq!(
            d.statuses,
            [Status {
                wamid: "wamid.OUT".into(),
                state: DeliveryState::Failed,
                error_code: Some(131047),
                timestamp: 1_700_000_003
            }]
        );
    }

    #[test]
    fn wrong_shapes_are_skipped_and_only_non_json_fails() {
        for body in [
            "{}",
            "[]",
            r#"{"entry":"x"}"#,
            r#"{"entry":[{"changes":[{"value":{"messages":[{"id":"w"}]}}]}]}"#,
            r#"{"entry":[{"changes":[{"value":{"metadata":{"phone_number_id":[1]},"messages":[]}}]}]}"#,
            r#"{"entry":[{"changes":[{"value":{"metadata":{"phone_number_id":"1"},"messages":[{"id":5,"from":{}}],"statuses":[{"status":"weird","id":"x"}]}}]}]}"#,
        ] {
            assert_eq!(
                parse(body.as_bytes()).unwrap(),
                Delivery::default(),
                "{body}"
            );
        }
        assert!(parse(b"{\"entry\":").is_err());
        assert!(parse(b"\xff\xfe").is_err());
    }
}
