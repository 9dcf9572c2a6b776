//! The webhook body: every entry, change, message and status of one POST.
//!
//! Read in two steps. The body's structure (entries, changes, values) is
//! walked first, leaving each item as raw JSON, which checks only its
//! syntax; each message, status and contact is then parsed on its own. So an item with a field of an unexpected type, a
//! lone surrogate in its text, a number out of range or an identifier over
//! its length cap is dropped (and named in [`Delivery::dropped`]) while the
//! items beside it are processed: Meta retries anything that is not a 200
//! for days. Only a body that is not JSON at all is an error.
//!
//! The structure is read in one pass when it has the shape Meta sends, and
//! walked value by value, skipping parts of the wrong shape, when it does
//! not ([`parse_lenient`]): walking it value by value took a quarter of
//! the HTTP workers' CPU per delivery, the one pass about a sixth.
//!
//! Identity is never guessed: a contact entry is used only when its ids
//! agree with the message's own (`from`, `from_user_id`).

use std::collections::HashMap;

use serde_json::Value;

use crate::domain::BusinessNumber;
use serde_json::value::RawValue;

/// Length caps on identifiers, in bytes, applied at parse time. Real ones
/// are far shorter (a wamid is about 60 bytes, a `wa_id` at most 15
/// digits); an item over a cap is dropped, never stored or logged.
pub mod caps {
    pub const WAMID: usize = 256;
    pub const WA_ID: usize = 20;
    pub const BSUID: usize = 64;
    pub const PHONE_NUMBER_ID: usize = 32;
    /// WhatsApp's own limit on a reply button id.
    pub const BUTTON_ID: usize = 256;
}

/// Who sent a message: a phone (`wa_id`, exactly as received), a
/// business-scoped user id, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub wa_id: Option<String>,
    pub bsuid: Option<String>,
    /// Whether `wa_id` is the message's own `from` rather than taken from
    /// its contact entry (which matched by the message's own BSUID).
    pub own_wa_id: bool,
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
    pub phone_number_id: BusinessNumber,
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

/// Why an item of a delivery was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Not readable on its own: a lone surrogate, a number out of range.
    BadItem,
    /// An identifier over its cap in [`caps`].
    OversizedId,
    /// A message with no id of its own to say who sent it.
    NoSender,
}

impl Dropped {
    pub fn as_str(self) -> &'static str {
        match self {
            Dropped::BadItem => "bad_item",
            Dropped::OversizedId => "oversized_id",
            Dropped::NoSender => "no_sender",
        }
    }
}

/// Where a message that is not live comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PastKind {
    /// `field: history`: the number's chat history, synced when it joined
    /// the Cloud API (messages up to 180 days old, both directions).
    History,
    /// `field: smb_message_echoes`: what the business sent from the
    /// WhatsApp Business app on the same number.
    Echo,
}

impl PastKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PastKind::History => "history",
            PastKind::Echo => "echo",
        }
    }
}

/// A message that happened elsewhere or earlier: recorded in the message
/// log as what it is (its direction, its own time), never answered and
/// never opening the 24-hour window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Past {
    pub kind: PastKind,
    pub wamid: String,
    /// The business number (`metadata.phone_number_id`).
    pub phone_number_id: BusinessNumber,
    /// The person on the other side (their `wa_id`).
    pub peer: String,
    /// Sent by the business (an echo, or the business's own message in the
    /// history), rather than by the person.
    pub outbound: bool,
    /// Unix seconds, Meta's clock.
    pub timestamp: i64,
    /// The message type (`text`, `image`, …).
    pub message_type: String,
    /// The text, a button's title, or empty.
    pub text: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub messages: Vec<Message>,
    pub statuses: Vec<Status>,
    /// History and echoes: logged, never answered.
    pub past: Vec<Past>,
    /// Items left out, one entry each (for metrics and logs).
    pub dropped: Vec<Dropped>,
}

#[derive(Debug, thiserror::Error)]
#[error("body is not JSON: {0}")]
pub struct NotJson(#[from] serde_json::Error);

/// Reads a webhook body. A body of the shape Meta sends is read in one
/// pass over its envelope (entries, changes, values); anything else (a
/// field of another type, a key given twice, an unreadable key) is read by
/// [`parse_lenient`], which takes any JSON. Both read the items the same
/// way, and give the same result for every body the first one takes
/// (a property test and the fuzz target hold them to that).
pub fn parse(body: &[u8]) -> Result<Delivery, NotJson> {
    // Mutation `parser_panic`: a parser that panics on longer bodies.
    if crate::mutation::on("parser_panic") && body.len() > 100 {
        panic!("mutation parser_panic");
    }
    parse_strict(body).or_else(|_| parse_lenient(body))
}

/// The one-pass reading of [`parse`]: refuses a body whose envelope is not
/// of the shape Meta sends.
fn parse_strict(body: &[u8]) -> Result<Delivery, serde_json::Error> {
    let envelope::Obj(root) = serde_json::from_slice::<envelope::Obj<envelope::Root>>(body)?;
    let mut delivery = Delivery::default();
    for envelope::Obj(entry) in root.entry {
        for envelope::Obj(change) in entry.changes {
            let past = past_kind(change.field.as_deref());
            if !is_live(change.field.as_deref()) && past.is_none() {
                continue;
            }
            let Some(envelope::Obj(value)) = change.value else {
                continue;
            };
            if let Some(kind) = past {
                read_past(
                    &mut delivery,
                    kind,
                    value.metadata,
                    value.messages.into_iter(),
                    value.history,
                    value.message_echoes.into_iter(),
                );
                continue;
            }
            // Mutation `strict_statuses`: the one-pass reading loses the
            // statuses the lenient one keeps.
            let statuses = if crate::mutation::on("strict_statuses") {
                Vec::new()
            } else {
                value.statuses
            };
            read_value(
                &mut delivery,
                value.metadata,
                value.contacts.into_iter(),
                value.messages.into_iter(),
                statuses.into_iter(),
            );
        }
    }
    Ok(delivery)
}

/// The shape Meta sends, every item left raw to be read on its own.
/// Strict: a field of another type fails the whole body, which
/// [`parse`] then reads with [`parse_lenient`].
mod envelope {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::Deserialize;
    use serde::de::value::MapAccessDeserializer;
    use serde::de::{Deserializer, MapAccess, Visitor};
    use serde_json::value::RawValue;

    /// A `T` read from a JSON object only: a derived struct would also
    /// take an array of its fields, which the lenient reading skips.
    pub struct Obj<T>(pub T);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Fields<T>(PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for Fields<T> {
                type Value = T;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                    T::deserialize(MapAccessDeserializer::new(map))
                }
            }
            deserializer.deserialize_map(Fields(PhantomData)).map(Obj)
        }
    }

    #[derive(Deserialize)]
    pub struct Root<'a> {
        #[serde(borrow, default)]
        pub entry: Vec<Obj<Entry<'a>>>,
    }

    #[derive(Deserialize)]
    pub struct Entry<'a> {
        #[serde(borrow, default)]
        pub changes: Vec<Obj<Change<'a>>>,
    }

    #[derive(Deserialize)]
    pub struct Change<'a> {
        #[serde(default)]
        pub field: Option<String>,
        #[serde(borrow, default)]
        pub value: Option<Obj<Value<'a>>>,
    }

    #[derive(Deserialize)]
    pub struct Value<'a> {
        #[serde(borrow, default)]
        pub metadata: Option<&'a RawValue>,
        #[serde(borrow, default)]
        pub contacts: Vec<&'a RawValue>,
        #[serde(borrow, default)]
        pub messages: Vec<&'a RawValue>,
        #[serde(borrow, default)]
        pub statuses: Vec<&'a RawValue>,
        /// `field: history`: chunks of threads of messages.
        #[serde(borrow, default)]
        pub history: Option<&'a RawValue>,
        /// `field: smb_message_echoes`.
        #[serde(borrow, default)]
        pub message_echoes: Vec<&'a RawValue>,
    }
}

/// Whether a change of this `field` carries live messages to answer: only
/// `messages` (DESIGN section 12). `history` (a number's old messages,
/// synced when it joins the Cloud API), `smb_message_echoes` (what the
/// business sent from the WhatsApp Business app) and every other field are
/// never answered; a change without a field is read as `messages`.
fn is_live(field: Option<&str>) -> bool {
    field.is_none_or(|field| field == "messages")
}

/// The change's business number: digits. A number over its cap, or one
/// that is not digits, leaves the change's items out.
fn business_number(delivery: &mut Delivery, metadata: Option<&Value>) -> Option<BusinessNumber> {
    let text = text(&metadata?["phone_number_id"])?;
    if text.len() > caps::PHONE_NUMBER_ID {
        delivery.dropped.push(Dropped::OversizedId);
        return None;
    }
    let number = BusinessNumber::parse(&text);
    if number.is_none() {
        delivery.dropped.push(Dropped::BadItem);
    }
    number
}

/// The changes whose messages are logged but never answered.
fn past_kind(field: Option<&str>) -> Option<PastKind> {
    match field? {
        "history" => Some(PastKind::History),
        "smb_message_echoes" => Some(PastKind::Echo),
        _ => None,
    }
}

/// The messages of a `history` or `smb_message_echoes` change: under
/// `history[].threads[].messages[]` (a thread's `id` is the person), under
/// `messages[]`, or under `message_echoes[]` (`from` the business, `to`
/// the person). A message is the business's own when its `from` is the
/// business's number (`metadata.display_phone_number`) or it has a `to`
/// that is not the business.
fn read_past<'a>(
    delivery: &mut Delivery,
    kind: PastKind,
    metadata: Option<&RawValue>,
    messages: impl Iterator<Item = &'a RawValue>,
    history: Option<&RawValue>,
    echoes: impl Iterator<Item = &'a RawValue>,
) {
    let metadata = item(metadata);
    let Some(number) = business_number(delivery, metadata.as_ref()) else {
        return;
    };
    let business: String = metadata
        .as_ref()
        .and_then(|m| text(&m["display_phone_number"]))
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let mut one = |raw: &RawValue, thread: Option<&str>| {
        let Ok(message) = serde_json::from_str::<Value>(raw.get()) else {
            delivery.dropped.push(Dropped::BadItem);
            return;
        };
        match parse_past(&message, kind, number, &business, thread) {
            Ok(Some(past)) => delivery.past.push(past),
            Ok(None) => {}
            Err(dropped) => delivery.dropped.push(dropped),
        }
    };
    for message in messages.chain(echoes) {
        one(message, None);
    }
    let history: Option<Value> = history.and_then(|raw| serde_json::from_str(raw.get()).ok());
    if let Some(Value::Array(chunks)) = history {
        for chunk in &chunks {
            for thread in chunk["threads"].as_array().into_iter().flatten() {
                let person = text(&thread["id"]);
                for message in thread["messages"].as_array().into_iter().flatten() {
                    let Ok(raw) = serde_json::value::to_raw_value(message) else {
                        continue;
                    };
                    one(&raw, person.as_deref());
                }
            }
        }
    }
}

fn parse_past(
    message: &Value,
    kind: PastKind,
    number: BusinessNumber,
    business: &str,
    thread: Option<&str>,
) -> Result<Option<Past>, Dropped> {
    let Some(wamid) = id(&message["id"], caps::WAMID)? else {
        return Ok(None);
    };
    let from = id(&message["from"], caps::WA_ID)?;
    let to = id(&message["to"], caps::WA_ID)?;
    let by_business = |who: &Option<String>| {
        who.as_deref()
            .is_some_and(|w| !business.is_empty() && w == business)
    };
    let outbound = kind == PastKind::Echo
        || by_business(&from)
        || (to.is_some() && !by_business(&to) && thread.is_none_or(|t| from.as_deref() != Some(t)));
    let peer = match (outbound, thread) {
        (_, Some(thread)) => Some(thread.to_owned()),
        (true, None) => to,
        (false, None) => from,
    };
    let Some(peer) = peer else {
        return Err(Dropped::NoSender);
    };
    let message_type = message["type"].as_str().unwrap_or("unknown");
    let text = match message_type {
        "text" => message["text"]["body"].as_str(),
        "button" => message["button"]["text"].as_str(),
        "interactive" => message["interactive"]["button_reply"]["title"]
            .as_str()
            .or(message["interactive"]["list_reply"]["title"].as_str()),
        media @ ("image" | "video" | "document") => message[media]["caption"].as_str(),
        _ => None,
    };
    Ok(Some(Past {
        kind,
        wamid,
        phone_number_id: number,
        peer,
        outbound,
        timestamp: seconds(&message["timestamp"]),
        message_type: message_type.chars().take(32).collect(),
        text: text.unwrap_or_default().to_owned(),
    }))
}

/// Reads any JSON body: its structure is walked as raw JSON values, and a
/// part of the wrong shape is skipped (see the module's documentation).
pub fn parse_lenient(body: &[u8]) -> Result<Delivery, NotJson> {
    // Syntax only: strings and numbers are checked when their item is read.
    let root: &RawValue = serde_json::from_slice(body)?;
    let mut delivery = Delivery::default();
    for entry in array(object(root).remove("entry")) {
        for change in array(object(entry).remove("changes")) {
            let mut change = object(change);
            let field = change
                .remove("field")
                .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok());
            let past = past_kind(field.as_deref());
            if !is_live(field.as_deref()) && past.is_none() {
                continue;
            }
            let Some(value) = change.remove("value") else {
                continue;
            };
            let mut value = object(value);
            if let Some(kind) = past {
                read_past(
                    &mut delivery,
                    kind,
                    value.remove("metadata"),
                    array(value.remove("messages")),
                    value.remove("history"),
                    array(value.remove("message_echoes")),
                );
                continue;
            }
            read_value(
                &mut delivery,
                value.remove("metadata"),
                array(value.remove("contacts")),
                array(value.remove("messages")),
                array(value.remove("statuses")),
            );
        }
    }
    Ok(delivery)
}

/// The messages and statuses of one change's value, each read on its own.
fn read_value<'a>(
    delivery: &mut Delivery,
    metadata: Option<&RawValue>,
    contacts: impl Iterator<Item = &'a RawValue>,
    messages: impl Iterator<Item = &'a RawValue>,
    statuses: impl Iterator<Item = &'a RawValue>,
) {
    let metadata = item(metadata);
    let Some(number) = business_number(delivery, metadata.as_ref()) else {
        return;
    };
    let contacts: Vec<Value> = contacts
        .filter_map(|c| serde_json::from_str(c.get()).ok())
        .collect();
    for message in messages {
        match serde_json::from_str::<Value>(message.get()) {
            Ok(message) => match parse_message(&message, number, &contacts) {
                Ok(Some(parsed)) => delivery.messages.push(parsed),
                Ok(None) => {}
                Err(dropped) => delivery.dropped.push(dropped),
            },
            Err(_) => delivery.dropped.push(Dropped::BadItem),
        }
    }
    for status in statuses {
        match serde_json::from_str::<Value>(status.get()) {
            Ok(status) => match parse_status(&status) {
                Ok(Some(parsed)) => delivery.statuses.push(parsed),
                Ok(None) => {}
                Err(dropped) => delivery.dropped.push(dropped),
            },
            Err(_) => delivery.dropped.push(Dropped::BadItem),
        }
    }
}

/// The fields of a raw object; none if it is not one (or its keys cannot
/// be read).
fn object(raw: &RawValue) -> HashMap<String, &RawValue> {
    serde_json::from_str(raw.get()).unwrap_or_default()
}

/// The elements of a raw array; nothing if it is not one.
fn array(raw: Option<&RawValue>) -> impl Iterator<Item = &RawValue> {
    raw.and_then(|raw| serde_json::from_str::<Vec<&RawValue>>(raw.get()).ok())
        .into_iter()
        .flatten()
}

/// A raw value read in full, if it can be.
fn item(raw: Option<&RawValue>) -> Option<Value> {
    serde_json::from_str(raw?.get()).ok()
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

/// An identifier field: `Ok(None)` when absent, `Err` when over its cap.
fn id(value: &Value, cap: usize) -> Result<Option<String>, Dropped> {
    match text(value) {
        Some(id) if id.len() > cap => Err(Dropped::OversizedId),
        found => Ok(found),
    }
}

fn seconds(value: &Value) -> i64 {
    match value {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// The sender of a message from its own ids, completed by the contact
/// entry whose ids agree with them: a contact naming the message's `from`
/// may add the BSUID, one naming its `from_user_id` may add the phone, and
/// a contact that contradicts either is not used. Contacts never supply an
/// identity the message itself does not carry.
fn sender(message: &Value, contacts: &[Value]) -> Result<Option<Sender>, Dropped> {
    let wa_id = id(&message["from"], caps::WA_ID)?;
    let bsuid = id(&message["from_user_id"], caps::BSUID)?;
    if wa_id.is_none() && bsuid.is_none() {
        return Ok(None);
    }
    let agrees = |contact: &Value| {
        let (c_wa, c_user) = (text(&contact["wa_id"]), text(&contact["user_id"]));
        let same_wa = wa_id.is_some() && c_wa == wa_id;
        let same_user = bsuid.is_some() && c_user == bsuid;
        let clash_wa = wa_id.is_some() && c_wa.is_some() && c_wa != wa_id;
        let clash_user = bsuid.is_some() && c_user.is_some() && c_user != bsuid;
        (same_wa || same_user) && !clash_wa && !clash_user
    };
    let contact = contacts.iter().find(|c| agrees(c));
    let mut sender = Sender {
        own_wa_id: wa_id.is_some(),
        wa_id,
        bsuid,
    };
    if let Some(contact) = contact {
        if sender.wa_id.is_none() {
            sender.wa_id = id(&contact["wa_id"], caps::WA_ID)?;
        }
        if sender.bsuid.is_none() {
            sender.bsuid = id(&contact["user_id"], caps::BSUID)?;
        }
    }
    Ok(Some(sender))
}

fn parse_message(
    message: &Value,
    number: BusinessNumber,
    contacts: &[Value],
) -> Result<Option<Message>, Dropped> {
    let Some(wamid) = id(&message["id"], caps::WAMID)? else {
        return Ok(None);
    };
    let Some(sender) = sender(message, contacts)? else {
        return Err(Dropped::NoSender);
    };
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
            match picked {
                Some(p) => match id(&p["id"], caps::BUTTON_ID)? {
                    Some(id) => Content::Button {
                        id,
                        title: p["title"].as_str().unwrap_or_default().to_owned(),
                    },
                    None => Content::Ignored("interactive".into()),
                },
                None => Content::Ignored("interactive".into()),
            }
        }
        "button" => match id(&message["button"]["payload"], caps::BUTTON_ID)? {
            Some(id) => Content::Button {
                id,
                title: message["button"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            },
            None => Content::Ignored("button".into()),
        },
        other => Content::Ignored(other.chars().take(32).collect()),
    };
    Ok(Some(Message {
        wamid,
        phone_number_id: number,
        sender,
        timestamp: seconds(&message["timestamp"]),
        content,
    }))
}

fn parse_status(status: &Value) -> Result<Option<Status>, Dropped> {
    let state = match status["status"].as_str() {
        Some("sent") => DeliveryState::Sent,
        Some("delivered") => DeliveryState::Delivered,
        Some("read") => DeliveryState::Read,
        Some("failed") => DeliveryState::Failed,
        _ => return Ok(None),
    };
    let Some(wamid) = id(&status["id"], caps::WAMID)? else {
        return Ok(None);
    };
    Ok(Some(Status {
        wamid,
        state,
        error_code: each(status, "errors").find_map(|e| e["code"].as_i64()),
        timestamp: seconds(&status["timestamp"]),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 22: a message under `field: history` (a 22-month-old message
    /// synced when the number joined) was answered as if it had just come.
    #[test]
    fn only_the_messages_field_is_live() {
        let body = |field: &str| {
            let field = if field.is_empty() {
                String::new()
            } else {
                format!(r#""field":"{field}","#)
            };
            format!(
                r#"{{"entry":[{{"changes":[{{{field}"value":{{"metadata":{{"phone_number_id":"1"}},
                "messages":[{{"from":"447911123403","id":"wamid.H","type":"text","text":{{"body":"hi"}}}}]}}}}]}}]}}"#
            )
        };
        for (field, live) in [
            ("messages", true),
            ("", true),
            ("history", false),
            ("smb_message_echoes", false),
            ("account_update", false),
            ("message_template_status_update", false),
        ] {
            let body = body(field);
            for (reading, delivery) in [
                ("one pass", parse(body.as_bytes()).unwrap()),
                ("lenient", parse_lenient(body.as_bytes()).unwrap()),
            ] {
                assert_eq!(
                    delivery.messages.len(),
                    usize::from(live),
                    "{field:?}, {reading}"
                );
            }
        }
    }

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
        // Meta's shape is read in one pass, as the lenient reading reads it.
        assert_eq!(parse_strict(body.as_bytes()).unwrap(), d);
        assert_eq!(parse_lenient(body.as_bytes()).unwrap(), d);
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
                bsuid: Some("US.13491208655302741918".into()),
                own_wa_id: false,
            }
        );
        assert_eq!(d.messages[3].phone_number_id.get(), 222);
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
            let d = parse(body.as_bytes()).unwrap();
            assert!(d.messages.is_empty() && d.statuses.is_empty(), "{body}");
        }
        assert!(parse(b"{\"entry\":").is_err());
        assert!(parse(b"\xff\xfe").is_err());
    }

    #[test]
    fn bodies_the_one_pass_reading_refuses_are_read_leniently() {
        let message =
            r#"{"from":"447911123401","id":"wamid.A","type":"text","text":{"body":"hi"}}"#;
        let value = format!(r#"{{"metadata":{{"phone_number_id":"111"}},"messages":[{message}]}}"#);
        for (body, messages) in [
            // A key given twice: the last one counts.
            (
                format!(r#"{{"entry":[],"entry":[{{"changes":[{{"value":{value}}}]}}]}}"#),
                1,
            ),
            (
                format!(r#"{{"entry":[{{"changes":[{{"value":{value},"value":{{}}}}]}}]}}"#),
                0,
            ),
            // Arrays where objects belong are skipped, not read as fields.
            (format!(r#"[[{{"changes":[{{"value":{value}}}]}}]]"#), 0),
            (format!(r#"{{"entry":[[[{{"value":{value}}}]]]}}"#), 0),
            (format!(r#"{{"entry":[{{"changes":[[{value}]]}}]}}"#), 0),
            // A part of another type is skipped; its neighbours are read.
            (
                format!(
                    r#"{{"entry":[7,{{"changes":[{{"value":{value}}},null]}},{{"changes":{{}}}}]}}"#
                ),
                1,
            ),
            (
                format!(
                    r#"{{"entry":[{{"changes":[{{"value":{{"metadata":{{"phone_number_id":"111"}},"contacts":null,"messages":[{message}]}}}}]}}]}}"#
                ),
                1,
            ),
            // An escaped key is the same key.
            (
                format!(r#"{{"entr\u0079":[{{"changes":[{{"value":{value}}}]}}]}}"#),
                1,
            ),
        ] {
            let read = parse(body.as_bytes()).unwrap();
            assert_eq!(read, parse_lenient(body.as_bytes()).unwrap(), "{body}");
            assert_eq!(read.messages.len(), messages, "{body}");
        }
    }

    fn change(messages: &str, contacts: &str) -> String {
        format!(
            r#"{{"entry":[{{"changes":[{{"value":{{"metadata":{{"phone_number_id":"111"}},
               "contacts":{contacts},"messages":{messages}}}}}]}}]}}"#
        )
    }

    #[test]
    fn one_unreadable_item_is_dropped_and_the_rest_processed() {
        let body = change(
            r#"[{"from":"447911123401","id":"wamid.A","type":"text","text":{"body":"bad \ud83d here"}},
                {"from":"447911123401","id":"wamid.B","timestamp":1e400,"type":"text","text":{"body":"x"}},
                {"from":"447911123401","id":"wamid.C","type":"text","text":{"body":"good \ud83d\ude00"}}]"#,
            "[]",
        );
        let d = parse(body.as_bytes()).unwrap();
        let ids: Vec<&str> = d.messages.iter().map(|m| m.wamid.as_str()).collect();
        assert_eq!(ids, ["wamid.C"]);
        assert_eq!(d.messages[0].content, Content::Text("good 😀".into()));
        assert_eq!(d.dropped, [Dropped::BadItem, Dropped::BadItem]);
    }

    #[test]
    fn identifiers_over_their_caps_drop_the_item() {
        let long = "9".repeat(caps::WA_ID + 1);
        let wamid = "w".repeat(caps::WAMID + 1);
        let button = "b".repeat(caps::BUTTON_ID + 1);
        let body = change(
            &format!(
                r#"[{{"from":"{long}","id":"wamid.A","type":"text","text":{{"body":"x"}}}},
                    {{"from":"447911123401","id":"{wamid}","type":"text","text":{{"body":"x"}}}},
                    {{"from":"447911123401","id":"wamid.B","type":"interactive",
                      "interactive":{{"type":"button_reply","button_reply":{{"id":"{button}","title":"t"}}}}}},
                    {{"from":"447911123401","id":"wamid.C","type":"text","text":{{"body":"ok"}}}}]"#
            ),
            "[]",
        );
        let d = parse(body.as_bytes()).unwrap();
        let ids: Vec<&str> = d.messages.iter().map(|m| m.wamid.as_str()).collect();
        assert_eq!(ids, ["wamid.C"]);
        assert_eq!(d.dropped, [Dropped::OversizedId; 3]);
    }

    #[test]
    fn a_contact_is_used_only_when_its_ids_agree_with_the_message() {
        let sender_of = |message: &str, contacts: &str| {
            let d = parse(change(&format!("[{message}]"), contacts).as_bytes()).unwrap();
            d.messages.first().map(|m| m.sender.clone())
        };
        // A BSUID-only message whose lone contact is someone else.
        let mallory = sender_of(
            r#"{"from_user_id":"US.MALLORY","id":"w1","type":"text","text":{"body":"hi"}}"#,
            r#"[{"wa_id":"447911123456","user_id":"US.OLIVIA"}]"#,
        );
        assert_eq!(
            mallory,
            Some(Sender {
                wa_id: None,
                bsuid: Some("US.MALLORY".into()),
                own_wa_id: false
            })
        );
        // The same contact with a phone that contradicts the message's own.
        let clash = sender_of(
            r#"{"from":"14155552671","from_user_id":"US.MALLORY","id":"w2","type":"text","text":{"body":"hi"}}"#,
            r#"[{"wa_id":"447911123456","user_id":"US.MALLORY"}]"#,
        );
        assert_eq!(clash.unwrap().wa_id.as_deref(), Some("14155552671"));
        // Meta's real shapes: the contact of a username user adds nothing
        // but confirms the BSUID; the contact of a phone user adds its BSUID.
        let username = sender_of(
            r#"{"from_user_id":"US.1349","id":"w3","type":"text","text":{"body":"hi"}}"#,
            r#"[{"profile":{"name":"A"},"user_id":"US.1349"}]"#,
        );
        assert_eq!(
            username,
            Some(Sender {
                wa_id: None,
                bsuid: Some("US.1349".into()),
                own_wa_id: false
            })
        );
        let both = sender_of(
            r#"{"from":"447911123401","id":"w4","type":"text","text":{"body":"hi"}}"#,
            r#"[{"wa_id":"447911123999","user_id":"GB.9"},{"wa_id":"447911123401","user_id":"GB.1"}]"#,
        );
        assert_eq!(
            both,
            Some(Sender {
                wa_id: Some("447911123401".into()),
                bsuid: Some("GB.1".into()),
                own_wa_id: true
            })
        );
        // A BSUID-only message whose own contact carries the phone.
        let linked = sender_of(
            r#"{"from_user_id":"GB.1","id":"w5","type":"text","text":{"body":"hi"}}"#,
            r#"[{"wa_id":"447911123401","user_id":"GB.1"}]"#,
        );
        assert_eq!(
            linked,
            Some(Sender {
                wa_id: Some("447911123401".into()),
                bsuid: Some("GB.1".into()),
                own_wa_id: false
            })
        );
        // A message with no id of its own is not answered at all.
        let d = parse(
            change(
                r#"[{"id":"w6","type":"text","text":{"body":"hi"}}]"#,
                r#"[{"wa_id":"447911123401","user_id":"GB.1"}]"#,
            )
            .as_bytes(),
        )
        .unwrap();
        assert!(d.messages.is_empty());
        assert_eq!(d.dropped, [Dropped::NoSender]);
    }
}
