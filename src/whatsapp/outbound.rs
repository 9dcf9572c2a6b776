//! Outbound messages and the Cloud API JSON they become.
//!
//! Every WhatsApp length and count limit is enforced here, when a message
//! is built, so nothing we queue can be rejected for its shape: at most 3
//! reply buttons (title ≤ 20, unique, id ≤ 256, body ≤ 1024); a list of at
//! most 10 rows (title ≤ 24, description ≤ 72, id ≤ 200, button ≤ 20, body
//! ≤ 4096); text ≤ 4096. Lengths count characters, and a cut never falls
//! inside one: a long text ends in `…`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const TEXT_MAX: usize = 4096;
pub const BUTTONS_MAX: usize = 3;
pub const BUTTON_TITLE_MAX: usize = 20;
pub const BUTTON_ID_MAX: usize = 256;
pub const BUTTONS_BODY_MAX: usize = 1024;
pub const LIST_ROWS_MAX: usize = 10;
pub const ROW_TITLE_MAX: usize = 24;
pub const ROW_DESCRIPTION_MAX: usize = 72;
pub const ROW_ID_MAX: usize = 200;
pub const LIST_BUTTON_MAX: usize = 20;
pub const LIST_BODY_MAX: usize = 4096;
/// Rows per page when choices do not fit one list: 9 and a "More…" row.
pub const PAGE: usize = LIST_ROWS_MAX - 1;

/// The words a list adds of its own: the "More…" row and the button that
/// opens the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub more: String,
    pub button: String,
}

impl Default for Labels {
    fn default() -> Self {
        Self {
            more: "More…".into(),
            button: "Choose".into(),
        }
    }
}

/// One thing to pick: a button, or a list row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub id: String,
    pub title: String,
    pub description: String,
}

impl Choice {
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            description: String::new(),
        }
    }

    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
}

/// A message body, already within every limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    Text(String),
    Buttons {
        body: String,
        buttons: Vec<Choice>,
    },
    List {
        body: String,
        button: String,
        rows: Vec<Choice>,
    },
}

impl Body {
    pub fn text(text: &str) -> Self {
        Self::Text(clip(text, TEXT_MAX))
    }

    /// Up to 3 choices as reply buttons, 4 to 10 as a list. More than 10
    /// shows the page starting at `offset` (9 rows) and a "More…" row whose
    /// id `more_id(next_offset)` makes.
    pub fn choices(
        text: &str,
        choices: &[Choice],
        offset: usize,
        more_id: impl Fn(usize) -> String,
    ) -> Self {
        Self::choices_labelled(text, choices, offset, more_id, &Labels::default())
    }

    /// [`Body::choices`] with the list's own words in the reader's language.
    pub fn choices_labelled(
        text: &str,
        choices: &[Choice],
        offset: usize,
        more_id: impl Fn(usize) -> String,
        labels: &Labels,
    ) -> Self {
        let usable: Vec<&Choice> = choices
            .iter()
            .filter(|c| c.id.chars().count() <= ROW_ID_MAX)
            .collect();
        match usable.len() {
            0 => Self::text(text),
            1..=BUTTONS_MAX => {
                let mut titles = Titles::default();
                let buttons = usable
                    .iter()
                    .map(|c| Choice {
                        id: c.id.clone(),
                        title: titles.unique(&c.title, BUTTON_TITLE_MAX),
                        description: String::new(),
                    })
                    .collect();
                Self::Buttons {
                    body: clip(text, BUTTONS_BODY_MAX),
                    buttons,
                }
            }
            n => {
                let paged = n > LIST_ROWS_MAX;
                let start = if paged { offset.min(n - 1) } else { 0 };
                let end = if paged { (start + PAGE).min(n) } else { n };
                let mut titles = Titles::default();
                let mut rows: Vec<Choice> = usable[start..end]
                    .iter()
                    .map(|c| Choice {
                        id: c.id.clone(),
                        title: titles.unique(&c.title, ROW_TITLE_MAX),
                        description: clip(&c.description, ROW_DESCRIPTION_MAX),
                    })
                    .collect();
                if paged && end < n {
                    rows.push(Choice {
                        id: more_id(end),
                        title: titles.unique(&labels.more, ROW_TITLE_MAX),
                        description: format!("+{}", n - end),
                    });
                }
                let body = if paged {
                    format!("{text}\n({}–{} of {n})", start + 1, end)
                } else {
                    text.to_owned()
                };
                Self::List {
                    body: clip(&body, LIST_BODY_MAX),
                    button: clip(&labels.button, LIST_BUTTON_MAX),
                    rows,
                }
            }
        }
    }

    /// The Cloud API `POST /{phone_number_id}/messages` body for `to`.
    pub fn to_json(&self, to: &Recipient) -> Value {
        let mut message = json!({"messaging_product": "whatsapp", "recipient_type": "individual"});
        match to {
            Recipient::WaId(wa_id) => message["to"] = json!(wa_id),
            Recipient::Bsuid(bsuid) => message["recipient"] = json!(bsuid),
        }
        match self {
            Body::Text(text) => {
                message["type"] = json!("text");
                message["text"] = json!({"body": text});
            }
            Body::Buttons { body, buttons } => {
                message["type"] = json!("interactive");
                let buttons: Vec<Value> = buttons
                    .iter()
                    .map(|b| json!({"type": "reply", "reply": {"id": b.id, "title": b.title}}))
                    .collect();
                message["interactive"] = json!({
                    "type": "button",
                    "body": {"text": body},
                    "action": {"buttons": buttons},
                });
            }
            Body::List { body, button, rows } => {
                message["type"] = json!("interactive");
                let rows: Vec<Value> = rows
                    .iter()
                    .map(|r| {
                        let mut row = json!({"id": r.id, "title": r.title});
                        if !r.description.is_empty() {
                            row["description"] = json!(r.description);
                        }
                        row
                    })
                    .collect();
                message["interactive"] = json!({
                    "type": "list",
                    "body": {"text": body},
                    // One section needs no title (a title would need a language).
                    "action": {"button": button, "sections": [{"rows": rows}]},
                });
            }
        }
        message
    }

    /// Plain text for logs and `simulate`: the body, then each choice with
    /// its id.
    pub fn render(&self) -> String {
        match self {
            Body::Text(text) => text.clone(),
            Body::Buttons { body, buttons } => {
                let mut out = body.clone();
                for b in buttons {
                    out.push_str(&format!("\n  [{}]  {}", b.title, b.id));
                }
                out
            }
            Body::List { body, button, rows } => {
                let mut out = format!("{body}\n  ({button})");
                for r in rows {
                    out.push_str(&format!("\n  - {}  {}", r.title, r.id));
                    if !r.description.is_empty() {
                        out.push_str(&format!("\n      {}", r.description));
                    }
                }
                out
            }
        }
    }
}

/// Where a reply goes: the `wa_id` exactly as received, or the BSUID when
/// the sender showed no phone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Recipient {
    WaId(String),
    Bsuid(String),
}

impl Recipient {
    pub fn as_str(&self) -> &str {
        match self {
            Recipient::WaId(s) | Recipient::Bsuid(s) => s,
        }
    }
}

/// Cuts `text` to at most `max` characters, ending in `…` if cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Makes titles unique within one message: a repeat gets " 2", " 3", …
/// (clipped so the suffix still fits).
#[derive(Default)]
struct Titles(Vec<String>);

impl Titles {
    fn unique(&mut self, title: &str, max: usize) -> String {
        let base = if title.trim().is_empty() {
            "…"
        } else {
            title.trim()
        };
        let mut candidate = clip(base, max);
        let mut n = 2;
        while self.0.contains(&candidate) {
            let suffix = format!(" {n}");
            candidate = format!("{}{suffix}", clip(base, max - suffix.chars().count()));
            n += 1;
        }
        self.0.push(candidate.clone());
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choices(n: usize, title: &str) -> Vec<Choice> {
        (0..n)
            .map(|i| Choice::new(format!("sel:{i}"), title))
            .collect()
    }

    fn more(offset: usize) -> String {
        format!("more:projects:{offset}")
    }

    #[test]
    fn three_choices_are_buttons_four_to_ten_a_list() {
        assert!(
            matches!(Body::choices("b", &choices(3, "t"), 0, more), Body::Buttons { ref buttons, .. } if buttons.len() == 3)
        );
        assert!(
            matches!(Body::choices("b", &choices(4, "t"), 0, more), Body::List { ref rows, .. } if rows.len() == 4)
        );
        assert!(
            matches!(Body::choices("b", &choices(10, "t"), 0, more), Body::List { ref rows, .. } if rows.len() == 10)
        );
        assert_eq!(
            Body::choices("just text", &[], 0, more),
            Body::Text("just text".into())
        );
    }

    #[test]
    fn more_than_ten_choices_page_by_nine_with_a_more_row() {
        let all = choices(23, "Project");
        let Body::List { rows, body, .. } = Body::choices("Pick", &all, 0, more) else {
            panic!("not a list")
        };
        assert_eq!(rows.len(), 10);
        assert_eq!(rows[9].id, "more:projects:9");
        assert_eq!(rows[9].title, "More…");
        assert!(body.ends_with("(1–9 of 23)"), "{body}");
        let Body::List { rows, .. } = Body::choices("Pick", &all, 18, more) else {
            panic!("not a list")
        };
        assert_eq!(rows.len(), 5, "the last page has no More row");
        assert_eq!(rows[0].id, "sel:18");
    }

    #[test]
    fn titles_are_clipped_by_characters_and_made_unique() {
        let long = "Cozinha e área de serviço do apartamento";
        let Body::Buttons { buttons, .. } = Body::choices("b", &choices(3, long), 0, more) else {
            panic!()
        };
        let titles: Vec<&str> = buttons.iter().map(|b| b.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Cozinha e área de s…",
                "Cozinha e área de… 2",
                "Cozinha e área de… 3"
            ]
        );
        assert!(titles.iter().all(|t| t.chars().count() <= BUTTON_TITLE_MAX));

        let emoji = "🏠".repeat(30);
        let Body::List { rows, .. } = Body::choices("b", &choices(5, &emoji), 0, more) else {
            panic!()
        };
        for row in &rows {
            assert!(row.title.chars().count() <= ROW_TITLE_MAX, "{}", row.title);
        }
        let unique: std::collections::HashSet<_> = rows.iter().map(|r| &r.title).collect();
        assert_eq!(unique.len(), rows.len());
    }

    #[test]
    fn bodies_are_clipped_to_their_limits() {
        let huge = "é".repeat(5000);
        let Body::Text(text) = Body::text(&huge) else {
            panic!()
        };
        assert_eq!(text.chars().count(), TEXT_MAX);
        assert!(text.ends_with('…'));
        let Body::Buttons { body, .. } = Body::choices(&huge, &choices(2, "t"), 0, more) else {
            panic!()
        };
        assert_eq!(body.chars().count(), BUTTONS_BODY_MAX);
    }

    #[test]
    fn json_goes_to_the_wa_id_or_the_bsuid() {
        let body = Body::choices("Pick", &choices(1, "Kitchen"), 0, more);
        let to_phone = body.to_json(&Recipient::WaId("447911123401".into()));
        assert_eq!(to_phone["to"], "447911123401");
        assert_eq!(
            to_phone["interactive"]["action"]["buttons"][0]["reply"]["id"],
            "sel:0"
        );
        let to_user = Body::text("hi").to_json(&Recipient::Bsuid("US.1".into()));
        assert_eq!(to_user["recipient"], "US.1");
        assert!(to_user.get("to").is_none());
        assert_eq!(to_user["text"]["body"], "hi");
    }
}
