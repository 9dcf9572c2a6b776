//! The change feed's events (DESIGN section 11): typed values that the
//! application commands produce, stored in the same transaction as the
//! change that caused them, and rendered to JSON only when read.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{FirmId, MilestoneId, ProjectId, Timestamp};

/// Which door a change came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    WhatsApp,
    Api,
    Import,
    /// A person signed in to the web console (added last: stored by
    /// position).
    Console,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::WhatsApp => "whatsapp",
            Source::Api => "api",
            Source::Import => "import",
            Source::Console => "console",
        }
    }
}

/// What happened. New variants are added at the end (stored positionally).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    MilestoneReady {
        project: ProjectId,
        milestone: MilestoneId,
        title: String,
    },
    MilestoneApproved {
        project: ProjectId,
        milestone: MilestoneId,
        title: String,
    },
    ProjectStatusChanged {
        project: ProjectId,
        from: String,
        to: String,
    },
    /// A reply or notification given up for good.
    MessageFailed {
        outbox_seq: u64,
        to: String,
        error_code: Option<i64>,
    },
    /// A stranger wrote to the firm's own number: a lead.
    ContactUnknown { from: String },
    /// A notification outside the 24-hour window with no template: kept
    /// until the person writes again.
    MessageHeld {
        outbox_seq: u64,
        to: String,
        kind: String,
    },
    /// The firm's event webhook answered 410 Gone: no more pushes go to it
    /// until its URL is set again (DESIGN section 11).
    WebhookDisabled { url: String, status: u16 },
}

impl Change {
    /// The event type of DESIGN section 11.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::MilestoneReady { .. } => "milestone.ready",
            Change::MilestoneApproved { .. } => "milestone.approved",
            Change::ProjectStatusChanged { .. } => "project.status_changed",
            Change::MessageFailed { .. } => "message.failed",
            Change::ContactUnknown { .. } => "contact.unknown",
            Change::MessageHeld { .. } => "message.held",
            Change::WebhookDisabled { .. } => "webhook.disabled",
        }
    }

    fn data(&self) -> serde_json::Value {
        match self {
            Change::MilestoneReady {
                project,
                milestone,
                title,
            }
            | Change::MilestoneApproved {
                project,
                milestone,
                title,
            } => json!({
                "project_id": project.to_string(),
                "milestone_id": milestone.to_string(),
                "title": title,
            }),
            Change::ProjectStatusChanged { project, from, to } => json!({
                "project_id": project.to_string(),
                "from": from,
                "to": to,
            }),
            Change::MessageFailed {
                outbox_seq,
                to,
                error_code,
            } => json!({"message_seq": outbox_seq, "to": to, "error_code": error_code}),
            Change::ContactUnknown { from } => json!({"from": from}),
            Change::MessageHeld {
                outbox_seq,
                to,
                kind,
            } => json!({"message_seq": outbox_seq, "to": to, "template_kind": kind}),
            Change::WebhookDisabled { url, status } => json!({"url": url, "status": status}),
        }
    }
}

/// One event of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The feed's sequence number, the key it is stored under.
    #[serde(skip)]
    pub seq: u64,
    /// A UUIDv7, the same on every delivery of the event.
    pub id: u128,
    pub firm: FirmId,
    pub at: Timestamp,
    pub source: Source,
    pub change: Change,
}

impl Event {
    /// The JSON of DESIGN section 11.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "seq": self.seq,
            "id": uuid::Uuid::from_u128(self.id).to_string(),
            "type": self.change.kind(),
            "firm_id": self.firm.to_string(),
            "at": self.at.to_string(),
            "source": self.source.as_str(),
            "data": self.change.data(),
        })
    }
}

/// A firm's event webhook: where its events are pushed, and the secret
/// they are signed with (Standard Webhooks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    #[serde(skip)]
    pub firm: FirmId,
    pub url: String,
    pub secret: Vec<u8>,
}

impl Hook {
    /// A new hook for `firm` at `url` (checked: an http(s) URL of at most
    /// 2048 bytes) with a new random signing secret (244 bits).
    pub fn new(firm: FirmId, url: &str) -> Result<Self, String> {
        let url = url.trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
        let printable = url.bytes().all(|b| b.is_ascii_graphic());
        if host.is_none_or(str::is_empty) || !printable || url.len() > 2048 {
            return Err(format!("not an http(s) URL: {}", super::Clip(url)));
        }
        let secret: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
            .iter()
            .flat_map(|u| *u.as_bytes())
            .collect();
        Ok(Self {
            firm,
            url: url.to_owned(),
            secret,
        })
    }

    /// The secret as shown to the firm once: `whsec_` and base64.
    pub fn secret_text(&self) -> String {
        use base64::Engine;
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(&self.secret)
        )
    }
}

/// One event waiting to be pushed to its firm's webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    #[serde(skip)]
    pub seq: u64,
    pub firm: FirmId,
    /// The feed seq of the event.
    pub event: u64,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// Which way a logged message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// One message of a firm's message log: what came in from whom, and what
/// went out (whose delivery state lives in the outbox row `outbox`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logged {
    #[serde(skip)]
    pub firm: FirmId,
    #[serde(skip)]
    pub seq: u64,
    pub at: Timestamp,
    pub direction: Direction,
    /// The other party: a `wa_id` or a BSUID, as received or addressed.
    pub peer: String,
    /// `text`, `button` or `ignored` inbound; `text`, `buttons` or `list` outbound.
    pub kind: String,
    /// The text, or the button id tapped.
    pub text: String,
    pub outbox: Option<u64>,
}
