//! Who may be reached how (DESIGN section 12): a message is a reply (to
//! the person who just wrote) or a notification (to the other party of a
//! project). WhatsApp takes free-form messages only within 24 hours of the
//! person's last message to that business number; outside it, only a
//! template. A notification carries its [`Notice`]: the template kind and
//! its parameters, so it can go out as the template when the window is
//! closed, or be held when there is none.
//!
//! Pure: the window is judged from times the caller reads.

use std::fmt;

use serde_json::{Value, json};

use crate::domain::FirmId;

/// The window lasts 24 hours from the person's last message…
pub const WINDOW_SECONDS: i64 = 24 * 3600;
/// …and is treated as closed this much early (clocks and queues drift).
pub const WINDOW_MARGIN_SECONDS: i64 = 10 * 60;

/// Whether a free-form message may go to someone whose last message to the
/// business number was at `last_inbound` (Unix seconds, Meta's clock).
pub fn window_open(last_inbound: Option<i64>, now: i64) -> bool {
    last_inbound.is_some_and(|at| now < at + WINDOW_SECONDS - WINDOW_MARGIN_SECONDS)
}

/// The template kinds of DESIGN section 12 (fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TemplateKind {
    MilestoneReady,
    MilestoneApproved,
    StatusChanged,
}

impl TemplateKind {
    pub const ALL: [TemplateKind; 3] = [
        TemplateKind::MilestoneReady,
        TemplateKind::MilestoneApproved,
        TemplateKind::StatusChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::MilestoneReady => "milestone_ready",
            TemplateKind::MilestoneApproved => "milestone_approved",
            TemplateKind::StatusChanged => "status_changed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text.trim())
    }

    pub fn to_u8(self) -> u8 {
        match self {
            TemplateKind::MilestoneReady => 1,
            TemplateKind::MilestoneApproved => 2,
            TemplateKind::StatusChanged => 3,
        }
    }

    pub fn from_u8(n: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.to_u8() == n)
    }
}

impl fmt::Display for TemplateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a notification says, as a template would say it: the kind, its
/// body parameters in order, and the quick-reply payload if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: TemplateKind,
    pub params: Vec<String>,
    /// `mil:<milestone-id>` for `milestone_ready`.
    pub button: Option<String>,
}

/// Why a message goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// To the person who just wrote: their window is open.
    Reply,
    /// To the other party of a project of `firm`.
    Notification { firm: FirmId, notice: Notice },
}

/// A template setting: its name in Meta's manager and its language code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Template {
    pub name: String,
    /// A WhatsApp language code such as `pt_BR`.
    pub language: String,
}

impl Template {
    /// A setting as a person gives it: the name as in Meta's manager
    /// (lowercase letters, digits, `_`), the language a WhatsApp code
    /// (`en`, `pt_BR`, `es_MX`).
    pub fn parse(name: &str, language: &str) -> Result<Self, (&'static str, String)> {
        let name = name.trim();
        let language = language.trim();
        let name_ok = !name.is_empty()
            && name.len() <= 512
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return Err((
                "name",
                format!(
                    "not a template name (lowercase letters, digits and _): {}",
                    crate::domain::Clip(name)
                ),
            ));
        }
        let (lang, region) = language.split_once('_').unwrap_or((language, ""));
        let language_ok = (2..=3).contains(&lang.len())
            && lang.bytes().all(|b| b.is_ascii_lowercase())
            && (region.is_empty()
                || (region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase())));
        if !language_ok {
            return Err((
                "language",
                format!(
                    "not a WhatsApp language code (like en, pt_BR, es_MX): {}",
                    crate::domain::Clip(language)
                ),
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            language: language.to_owned(),
        })
    }

    /// The Cloud API message sending `notice` as this template to `to`
    /// (`to` for a phone, `recipient` for a BSUID).
    pub fn message(&self, notice: &Notice, to: (&str, &str)) -> Value {
        let parameters: Vec<Value> = notice
            .params
            .iter()
            .map(|p| json!({"type": "text", "text": template_parameter(p)}))
            .collect();
        let mut components = vec![json!({"type": "body", "parameters": parameters})];
        if let Some(payload) = &notice.button {
            components.push(json!({
                "type": "button",
                "sub_type": "quick_reply",
                "index": "0",
                "parameters": [{"type": "payload", "payload": payload}],
            }));
        }
        let mut message = json!({
            "messaging_product": "whatsapp",
            "type": "template",
            "template": {
                "name": self.name,
                "language": {"code": self.language},
                "components": components,
            },
        });
        message[to.0] = Value::String(to.1.to_owned());
        message
    }
}

/// The most characters of one template body parameter.
pub const PARAMETER_MAX: usize = 1_024;

/// A template body parameter as Meta accepts it (DESIGN section 12):
/// newlines and tabs become spaces, runs of spaces become one (Meta refuses
/// a parameter with a newline, a tab or more than four spaces in a row, and
/// takes the refusal as final), and the text is cut to [`PARAMETER_MAX`]
/// characters on a character boundary.
pub fn template_parameter(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(PARAMETER_MAX * 4));
    let mut count = 0;
    let mut last_space = false;
    for c in text.chars() {
        let c = if matches!(c, '\n' | '\r' | '\t') {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        if count == PARAMETER_MAX {
            break;
        }
        last_space = c == ' ';
        out.push(c);
        count += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parameters_are_made_to_fit_metas_rules() {
        assert_eq!(
            template_parameter("Line one\nLine two\twith tab     and five spaces"),
            "Line one Line two with tab and five spaces"
        );
        assert_eq!(template_parameter("a\r\n\r\nb"), "a b");
        assert_eq!(template_parameter("plain"), "plain");
        let long = "é".repeat(2000);
        let cut = template_parameter(&long);
        assert_eq!(cut.chars().count(), PARAMETER_MAX);
        assert!(cut.chars().all(|c| c == 'é'), "cut on a character boundary");
        // The exact JSON sent.
        let template = Template {
            name: "status_changed".into(),
            language: "en".into(),
        };
        let notice = Notice {
            kind: TemplateKind::StatusChanged,
            params: vec![
                "Line one\nLine two\twith tab     and five spaces".into(),
                "On\tHold".into(),
            ],
            button: None,
        };
        assert_eq!(
            template.message(&notice, ("to", "447911123403"))["template"]["components"],
            json!([{"type": "body", "parameters": [
                {"type": "text", "text": "Line one Line two with tab and five spaces"},
                {"type": "text", "text": "On Hold"}]}])
        );
    }

    #[test]
    fn the_window_closes_ten_minutes_early() {
        let last = 1_000_000;
        let edge = last + WINDOW_SECONDS - WINDOW_MARGIN_SECONDS;
        assert!(window_open(Some(last), edge - 1));
        assert!(!window_open(Some(last), edge));
        assert!(!window_open(None, last));
    }

    #[test]
    fn a_milestone_ready_template_carries_its_quick_reply_payload() {
        let template = Template {
            name: "milestone_ready".into(),
            language: "pt_BR".into(),
        };
        let notice = Notice {
            kind: TemplateKind::MilestoneReady,
            params: vec!["Casa de Praia".into(), "Marcenaria".into()],
            button: Some("mil:0195a000-0000-7000-8000-0000000000c8".into()),
        };
        assert_eq!(
            template.message(&notice, ("to", "5511987654321")),
            json!({
                "messaging_product": "whatsapp",
                "to": "5511987654321",
                "type": "template",
                "template": {
                    "name": "milestone_ready",
                    "language": {"code": "pt_BR"},
                    "components": [
                        {"type": "body", "parameters": [
                            {"type": "text", "text": "Casa de Praia"},
                            {"type": "text", "text": "Marcenaria"}]},
                        {"type": "button", "sub_type": "quick_reply", "index": "0",
                         "parameters": [{"type": "payload", "payload": "mil:0195a000-0000-7000-8000-0000000000c8"}]}
                    ]
                }
            })
        );
    }
}
