//! Ids in a spreadsheet: a UUID, or a key of the user's own (DESIGN
//! section 7). A key is 1 to 64 letters, digits, `-`, `_` or `.`, and
//! stands for a UUID v5 under [`NAMESPACE`]:
//!
//! - a firm key for the name `firms/<key>`;
//! - a member, project or milestone key for `<firm uuid>/<file>/<key>`,
//!   where `<file>` is `firm_members`, `projects` or `milestones` and the
//!   firm is the row's `firm_id` (for milestones, the firm of the project).
//!
//! So re-importing the same file gives the same records, references by key
//! work across files, and two firms may use the same keys. Export writes
//! the UUIDs, which import takes as they are.

use uuid::Uuid;

use crate::domain::ids::Id;
use crate::domain::{Clip, FirmId};
use crate::import::fields::FieldError;

/// The namespace every key's UUID is made under.
pub const NAMESPACE: Uuid = uuid::uuid!("6f1c2a9e-8d4b-5e3a-9c7f-0b1d2e3f4a5b");

/// The most characters a key may have.
pub const KEY_MAX: usize = 64;

/// What an id cell holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdText<'a> {
    Uuid(u128),
    Key(&'a str),
}

impl<'a> IdText<'a> {
    /// Reads the cell of column `name`.
    pub fn parse(name: &'static str, text: &'a str) -> Result<Self, FieldError> {
        let text = text.trim();
        if let Ok(uuid) = Uuid::try_parse(text) {
            return Ok(IdText::Uuid(uuid.as_u128()));
        }
        if is_key(text) {
            return Ok(IdText::Key(text));
        }
        Err(FieldError::new(
            name,
            format!(
                "neither a UUID nor a key (1 to {KEY_MAX} letters, digits, '-', '_' or '.'): {}",
                Clip(text)
            ),
        ))
    }

    /// The id of a firm.
    pub fn firm(self) -> FirmId {
        match self {
            IdText::Uuid(id) => FirmId::from_u128(id),
            IdText::Key(key) => FirmId::from_u128(v5(&format!("firms/{key}"))),
        }
    }

    /// The id of a record of `firm` in `file` (`firm_members`, `projects`
    /// or `milestones`).
    pub fn within<K>(self, firm: FirmId, file: &str) -> Id<K> {
        match self {
            IdText::Uuid(id) => Id::from_u128(id),
            IdText::Key(key) => Id::from_u128(v5(&format!("{firm}/{file}/{key}"))),
        }
    }
}

fn is_key(text: &str) -> bool {
    (1..=KEY_MAX).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn v5(name: &str) -> u128 {
    Uuid::new_v5(&NAMESPACE, name.as_bytes()).as_u128()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProjectId;

    /// The rule of DESIGN section 7, computed here independently of the
    /// code above: `uuid5(NAMESPACE, "firms/alba")` and
    /// `uuid5(NAMESPACE, "<firm>/projects/p-1")`.
    #[test]
    fn keys_stand_for_v5_uuids_under_the_fixed_namespace() {
        let firm = IdText::parse("id", "alba").unwrap().firm();
        let expected = Uuid::new_v5(&NAMESPACE, b"firms/alba");
        assert_eq!(firm.to_string(), expected.to_string());
        let project: ProjectId = IdText::parse("id", "p-1").unwrap().within(firm, "projects");
        let expected = Uuid::new_v5(&NAMESPACE, format!("{expected}/projects/p-1").as_bytes());
        assert_eq!(project.to_string(), expected.to_string());
        // A UUID is itself, in any case.
        let uuid = "0195A000-0000-7000-8000-0000000000F1";
        assert_eq!(
            IdText::parse("id", uuid).unwrap().firm().to_string(),
            uuid.to_lowercase()
        );
        // Another firm's key of the same name is another project.
        let other = IdText::parse("id", "casa").unwrap().firm();
        let theirs: ProjectId = IdText::parse("id", "p-1")
            .unwrap()
            .within(other, "projects");
        assert_ne!(project, theirs);
    }

    #[test]
    fn a_key_is_1_to_64_safe_characters() {
        for good in ["a", "firm-1", "Kitchen_2.b", &"k".repeat(64)] {
            assert!(
                matches!(IdText::parse("id", good), Ok(IdText::Key(_))),
                "{good}"
            );
        }
        for bad in ["", "two words", "ä", "a/b", &"k".repeat(65), "semi;colon"] {
            let err = IdText::parse("id", bad).unwrap_err().to_string();
            assert!(
                err.starts_with("id: neither a UUID nor a key"),
                "{bad}: {err}"
            );
        }
    }
}
