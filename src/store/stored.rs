//! A queued message, and its stored layouts, frozen per version.
//!
//! An outbox row is a storage format, not a wire type: `Body`, `Choice`
//! and `Recipient` may change with the Cloud API, these may not. Version 1
//! was the wire types themselves in postcard (positional), so its layout is
//! copied here as it was; version 2 adds why the message goes (reply or
//! notification, with its template intent) and the `held` state; version 3
//! adds the firm whose message log has it. A new layout is a new version
//! beside these, never an edit of one.

use serde::{Deserialize, Serialize};

use crate::domain::FirmId;
use crate::notify::{Notice, Purpose, TemplateKind};
use crate::whatsapp::outbound::{Body, Choice, Recipient};

use super::codec::Record;
use crate::whatsapp::inbound::DeliveryState;

/// Where a queued reply stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum State {
    Pending,
    Sent,
    Delivered,
    Read,
    /// Refused for good (the Graph API error code, if any), or out of tries.
    Failed,
    /// A notification outside the 24-hour window with no template: kept
    /// until the person next writes to that number.
    Held,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Sent => "sent",
            State::Delivered => "delivered",
            State::Read => "read",
            State::Failed => "failed",
            State::Held => "held",
        }
    }

    pub(super) fn from_delivery(state: DeliveryState) -> Self {
        match state {
            DeliveryState::Sent => State::Sent,
            DeliveryState::Delivered => State::Delivered,
            DeliveryState::Read => State::Read,
            DeliveryState::Failed => State::Failed,
        }
    }
}

/// A queued message. Stored through the frozen layouts of `stored.rs`
/// (version 2; version 1 rows still decode), never as the wire types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Outbound3", try_from = "Outbound3")]
pub struct Outbound {
    #[serde(skip)]
    pub seq: u64,
    /// The business number it goes out from.
    pub phone_number_id: String,
    pub to: Recipient,
    pub body: Body,
    /// The inbound wamid that caused it.
    pub in_reply_to: String,
    pub created_at: i64,
    pub attempts: u32,
    pub state: State,
    /// The Graph API's id for it once accepted.
    pub wamid: Option<String>,
    pub last_error: Option<String>,
    /// A reply, or a notification with its template intent.
    pub purpose: Purpose,
    /// Switched to its template (the window was closed, or a free-form
    /// send was refused with 131047): never sent free-form again.
    pub templated: bool,
    /// The firm whose message log has it, if any: its feed hears of the
    /// message if it is given up.
    pub firm: Option<FirmId>,
}

impl Record for Outbound {
    const VERSION: u8 = 3;
    const NAME: &'static str = "outbound message";
    type Key = u64;
    fn fill_key(&mut self, seq: u64) {
        self.seq = seq;
    }
    fn decode_older(version: u8, bytes: &[u8]) -> Option<Result<Self, postcard::Error>> {
        match version {
            1 => Some(postcard::from_bytes::<Outbound1>(bytes).map(Outbound::from)),
            2 => Some(postcard::from_bytes::<FromOutbound2>(bytes).map(|v2| v2.0)),
            _ => None,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct Choice1 {
    pub id: String,
    pub title: String,
    pub description: String,
}

#[derive(Serialize, Deserialize)]
pub enum Body1 {
    Text(String),
    Buttons {
        body: String,
        buttons: Vec<Choice1>,
    },
    List {
        body: String,
        button: String,
        rows: Vec<Choice1>,
    },
}

#[derive(Serialize, Deserialize)]
pub enum Recipient1 {
    WaId(String),
    Bsuid(String),
}

#[derive(Serialize, Deserialize)]
pub enum State1 {
    Pending,
    Sent,
    Delivered,
    Read,
    Failed,
}

/// Version 1, as the first releases wrote it.
#[derive(Serialize, Deserialize)]
pub struct Outbound1 {
    pub phone_number_id: String,
    pub to: Recipient1,
    pub body: Body1,
    pub in_reply_to: String,
    pub created_at: i64,
    pub attempts: u32,
    pub state: State1,
    pub wamid: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub enum State2 {
    Pending,
    Sent,
    Delivered,
    Read,
    Failed,
    Held,
}

#[derive(Serialize, Deserialize)]
pub struct Notice2 {
    /// `TemplateKind::to_u8`.
    pub kind: u8,
    pub params: Vec<String>,
    pub button: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub enum Purpose2 {
    Reply,
    Notification { firm: u128, notice: Notice2 },
}

/// Version 2.
#[derive(Serialize, Deserialize)]
pub struct Outbound2 {
    pub phone_number_id: String,
    pub to: Recipient1,
    pub body: Body1,
    pub in_reply_to: String,
    pub created_at: i64,
    pub attempts: u32,
    pub state: State2,
    pub wamid: Option<String>,
    pub last_error: Option<String>,
    pub purpose: Purpose2,
    /// Sent (or to be sent) as its template rather than free-form.
    pub templated: bool,
}

/// Version 3: version 2's fields, then the firm whose message log has the
/// message (its feed hears if it is given up). Earlier versions kept that
/// in the `outbox_firm` table, still read for their rows.
#[derive(Serialize, Deserialize)]
pub struct Outbound3 {
    pub v2: Outbound2,
    pub firm: Option<u128>,
}

/// Reads a version 2 row as an [`Outbound`] (its firm, if any, is in
/// the `outbox_firm` table).
#[derive(Deserialize)]
#[serde(try_from = "Outbound2")]
pub struct FromOutbound2(pub Outbound);

impl TryFrom<Outbound2> for FromOutbound2 {
    type Error = String;
    fn try_from(v2: Outbound2) -> Result<Self, String> {
        Outbound::try_from(v2).map(FromOutbound2)
    }
}

impl TryFrom<Outbound3> for Outbound {
    type Error = String;
    fn try_from(v3: Outbound3) -> Result<Self, String> {
        let mut outbound = Outbound::try_from(v3.v2)?;
        outbound.firm = v3.firm.map(FirmId::from_u128);
        Ok(outbound)
    }
}

impl From<Outbound> for Outbound3 {
    fn from(o: Outbound) -> Self {
        let firm = o.firm.map(|f| f.to_u128());
        Outbound3 {
            v2: Outbound2::from(o),
            firm,
        }
    }
}

fn choices_in(choices: Vec<Choice1>) -> Vec<Choice> {
    choices
        .into_iter()
        .map(|c| Choice::new(c.id, c.title).describe(c.description))
        .collect()
}

fn choices_out(choices: &[Choice]) -> Vec<Choice1> {
    choices
        .iter()
        .map(|c| Choice1 {
            id: c.id.clone(),
            title: c.title.clone(),
            description: c.description.clone(),
        })
        .collect()
}

fn body_in(body: Body1) -> Body {
    match body {
        Body1::Text(text) => Body::Text(text),
        Body1::Buttons { body, buttons } => Body::Buttons {
            body,
            buttons: choices_in(buttons),
        },
        Body1::List { body, button, rows } => Body::List {
            body,
            button,
            rows: choices_in(rows),
        },
    }
}

fn body_out(body: &Body) -> Body1 {
    match body {
        Body::Text(text) => Body1::Text(text.clone()),
        Body::Buttons { body, buttons } => Body1::Buttons {
            body: body.clone(),
            buttons: choices_out(buttons),
        },
        Body::List { body, button, rows } => Body1::List {
            body: body.clone(),
            button: button.clone(),
            rows: choices_out(rows),
        },
    }
}

fn recipient_in(to: Recipient1) -> Recipient {
    match to {
        Recipient1::WaId(id) => Recipient::WaId(id),
        Recipient1::Bsuid(id) => Recipient::Bsuid(id),
    }
}

fn recipient_out(to: &Recipient) -> Recipient1 {
    match to {
        Recipient::WaId(id) => Recipient1::WaId(id.clone()),
        Recipient::Bsuid(id) => Recipient1::Bsuid(id.clone()),
    }
}

impl From<Outbound1> for Outbound {
    fn from(v1: Outbound1) -> Self {
        Outbound {
            seq: 0,
            phone_number_id: v1.phone_number_id,
            to: recipient_in(v1.to),
            body: body_in(v1.body),
            in_reply_to: v1.in_reply_to,
            created_at: v1.created_at,
            attempts: v1.attempts,
            state: match v1.state {
                State1::Pending => State::Pending,
                State1::Sent => State::Sent,
                State1::Delivered => State::Delivered,
                State1::Read => State::Read,
                State1::Failed => State::Failed,
            },
            wamid: v1.wamid,
            last_error: v1.last_error,
            // Version 1 knew replies only: whatever it queued is sent as is.
            purpose: Purpose::Reply,
            templated: false,
            firm: None,
        }
    }
}

impl TryFrom<Outbound2> for Outbound {
    type Error = String;

    fn try_from(v2: Outbound2) -> Result<Self, String> {
        let purpose = match v2.purpose {
            Purpose2::Reply => Purpose::Reply,
            Purpose2::Notification { firm, notice } => Purpose::Notification {
                firm: FirmId::from_u128(firm),
                notice: Notice {
                    kind: TemplateKind::from_u8(notice.kind)
                        .ok_or_else(|| format!("unknown template kind {}", notice.kind))?,
                    params: notice.params,
                    button: notice.button,
                },
            },
        };
        Ok(Outbound {
            seq: 0,
            phone_number_id: v2.phone_number_id,
            to: recipient_in(v2.to),
            body: body_in(v2.body),
            in_reply_to: v2.in_reply_to,
            created_at: v2.created_at,
            attempts: v2.attempts,
            state: match v2.state {
                State2::Pending => State::Pending,
                State2::Sent => State::Sent,
                State2::Delivered => State::Delivered,
                State2::Read => State::Read,
                State2::Failed => State::Failed,
                State2::Held => State::Held,
            },
            wamid: v2.wamid,
            last_error: v2.last_error,
            purpose,
            templated: v2.templated,
            firm: None,
        })
    }
}

impl From<Outbound> for Outbound2 {
    fn from(o: Outbound) -> Self {
        Outbound2 {
            phone_number_id: o.phone_number_id,
            to: recipient_out(&o.to),
            body: body_out(&o.body),
            in_reply_to: o.in_reply_to,
            created_at: o.created_at,
            attempts: o.attempts,
            state: match o.state {
                State::Pending => State2::Pending,
                State::Sent => State2::Sent,
                State::Delivered => State2::Delivered,
                State::Read => State2::Read,
                State::Failed => State2::Failed,
                State::Held => State2::Held,
            },
            wamid: o.wamid,
            last_error: o.last_error,
            purpose: match o.purpose {
                Purpose::Reply => Purpose2::Reply,
                Purpose::Notification { firm, notice } => Purpose2::Notification {
                    firm: firm.to_u128(),
                    notice: Notice2 {
                        kind: notice.kind.to_u8(),
                        params: notice.params,
                        button: notice.button,
                    },
                },
            },
            templated: o.templated,
        }
    }
}

/// The Graph API error code kept in a stored row's `last_error` text
/// (`error 131047: …`). A send reports its code as a field
/// ([`super::SendError`]); layout 3 of a row keeps only the text, so what
/// reads a stored row back (the API's message log, the console) finds the
/// code here.
pub fn error_code(last_error: &str) -> Option<i64> {
    let at = last_error.find("error ")?;
    let digits: String = last_error[at + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}
