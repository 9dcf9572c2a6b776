//! Records built from named text fields: the one validation path for a CSV
//! row, a JSON body of the admin API and a console form (DESIGN section 5).
//!
//! A door hands its input over as [`Fields`] (name → text); the builders
//! here parse every field with the domain's own `parse` functions and the
//! phone rule, and say which field is at fault. What needs the database
//! (the firm's country, whether an id is taken) is looked up by the caller
//! and passed in; nothing here reads or writes storage.
//!
//! The reverse, [`columns`], gives a record's fields as the CSV columns of
//! DESIGN section 7, for export and the API's JSON.

use std::collections::HashMap;
use std::fmt;

use crate::domain::ids::Id;
use crate::domain::{
    Clip, Country, Firm, FirmId, Lang, Member, MemberId, Milestone, MilestoneId, MilestoneStatus,
    Phone, Project, ProjectId, ProjectStatus, Timestamp,
};

/// The columns of each record kind, required first (DESIGN section 7).
pub const FIRM_COLUMNS: &[&str] = &["id", "name", "country", "phone_number_id", "language"];
pub const MEMBER_COLUMNS: &[&str] = &["id", "firm_id", "name", "role", "whatsapp_phone"];
pub const PROJECT_COLUMNS: &[&str] = &[
    "id",
    "firm_id",
    "name",
    "status",
    "client_name",
    "client_phone",
    "designer_member_id",
    "designer_phone",
    "created_at",
];
pub const MILESTONE_COLUMNS: &[&str] = &["id", "project_id", "title", "status", "position"];

/// The most characters a name or title may have (DESIGN section 10).
pub const NAME_MAX: usize = 200;
/// The most characters any other free-text field may have.
pub const TEXT_MAX: usize = 1_000;

/// The free-text columns: the only ones whose cells could start like a
/// spreadsheet formula (the others are ids, phones, numbers and times).
pub const FREE_TEXT: &[&str] = &["name", "client_name", "role", "title"];

/// Whether a cell starting with `c` would be read as a formula by a
/// spreadsheet (OWASP's CSV injection list).
fn formula_start(c: char) -> bool {
    matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r')
}

/// A free-text cell as export writes it: one that a spreadsheet would run
/// as a formula gets a leading `'`, which spreadsheets show as text.
/// A value already starting with that `'` gets one more, so that import
/// gives back exactly what was stored.
pub fn escape_cell(column: &str, value: String) -> String {
    if FREE_TEXT.contains(&column) && needs_escape(&value) {
        format!("'{value}")
    } else {
        value
    }
}

/// The reverse of [`escape_cell`], as import reads a cell.
pub fn unescape_cell<'v>(column: &str, value: &'v str) -> &'v str {
    match value.strip_prefix('\'') {
        Some(rest) if FREE_TEXT.contains(&column) && needs_escape(rest) => rest,
        _ => value,
    }
}

fn needs_escape(value: &str) -> bool {
    value.starts_with(formula_start)
        || value
            .strip_prefix('\'')
            .is_some_and(|rest| rest.starts_with(formula_start))
}

/// Named text values of one record, from wherever they came.
pub trait Fields {
    /// The trimmed value, empty when absent.
    fn get(&self, name: &'static str) -> &str;
}

impl Fields for HashMap<&'static str, String> {
    fn get(&self, name: &'static str) -> &str {
        HashMap::get(self, name).map_or("", |v| v.trim())
    }
}

/// One field at fault, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &'static str, reason: impl fmt::Display) -> Self {
        Self {
            field,
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Reads the fields of one record, collecting the phone warnings.
pub struct Reader<'a> {
    fields: &'a (dyn Fields + Sync),
    /// (field, warning) for numbers accepted outside the known ranges.
    pub warnings: Vec<(&'static str, String)>,
}

impl<'a> Reader<'a> {
    pub fn new(fields: &'a (dyn Fields + Sync)) -> Self {
        Self {
            fields,
            warnings: Vec::new(),
        }
    }

    pub fn get(&self, name: &'static str) -> &str {
        self.fields.get(name)
    }

    pub fn required(&self, name: &'static str) -> Result<&str, FieldError> {
        match self.get(name) {
            "" => Err(FieldError::new(name, "is required")),
            value => Ok(value),
        }
    }

    /// Free text of at most `max` characters, empty when absent.
    pub fn text(&self, name: &'static str, max: usize) -> Result<&str, FieldError> {
        let value = self.get(name);
        within(name, value, max)
    }

    /// Required free text of at most `max` characters.
    pub fn required_text(&self, name: &'static str, max: usize) -> Result<&str, FieldError> {
        within(name, self.required(name)?, max)
    }

    pub fn id<K>(&self, name: &'static str) -> Result<Id<K>, FieldError> {
        Id::parse(self.required(name)?).map_err(|err| FieldError::new(name, err))
    }

    pub fn optional_id<K>(&self, name: &'static str) -> Result<Option<Id<K>>, FieldError> {
        match self.get(name) {
            "" => Ok(None),
            text => Id::parse(text)
                .map(Some)
                .map_err(|err| FieldError::new(name, err)),
        }
    }

    /// A phone read with `country` as the default region, by the phone
    /// rule: errors for what cannot be a number, warnings for numbers
    /// outside the known ranges.
    pub fn phone(
        &mut self,
        name: &'static str,
        country: Country,
    ) -> Result<Option<Phone>, FieldError> {
        match self.get(name) {
            "" => Ok(None),
            text => {
                let parsed =
                    Phone::parse(text, Some(country)).map_err(|err| FieldError::new(name, err))?;
                if let Some(warning) = parsed.warning {
                    self.warnings.push((name, format!("warning: {warning}")));
                }
                Ok(Some(parsed.phone))
            }
        }
    }
}

/// `value` if it has at most `max` characters.
pub fn within<'v>(name: &'static str, value: &'v str, max: usize) -> Result<&'v str, FieldError> {
    // Bytes bound characters from above: only long values are counted.
    if value.len() > max && value.chars().count() > max {
        return Err(FieldError::new(
            name,
            format!("longer than {max} characters: {}", Clip(value)),
        ));
    }
    Ok(value)
}

pub fn firm(r: &Reader, id: FirmId) -> Result<Firm, FieldError> {
    let country =
        Country::parse(r.required("country")?).map_err(|e| FieldError::new("country", e))?;
    let phone_number_id = match r.get("phone_number_id") {
        "" => None,
        text => Some(text.parse::<u64>().map_err(|_| {
            FieldError::new(
                "phone_number_id",
                format!(
                    "not a WhatsApp phone_number_id (digits only): {}",
                    Clip(text)
                ),
            )
        })?),
    };
    let language = match r.get("language") {
        "" => None,
        code => Some(Lang::parse(code).ok_or_else(|| {
            FieldError::new(
                "language",
                format!(
                    "unknown language {} (expected one of: en, pt_BR, es)",
                    Clip(code)
                ),
            )
        })?),
    };
    Ok(Firm {
        id,
        name: r.required_text("name", NAME_MAX)?.to_owned(),
        country,
        phone_number_id,
        language,
    })
}

pub fn member(
    r: &mut Reader,
    id: MemberId,
    firm_id: FirmId,
    country: Country,
) -> Result<Member, FieldError> {
    let name = r.required_text("name", NAME_MAX)?.to_owned();
    Ok(Member {
        id,
        firm_id,
        name,
        role: r.text("role", TEXT_MAX)?.to_owned(),
        whatsapp_phone: r.phone("whatsapp_phone", country)?,
    })
}

/// `designer_member_id` is read and checked (same firm) by the caller.
pub fn project(
    r: &mut Reader,
    id: ProjectId,
    firm_id: FirmId,
    country: Country,
    designer_member_id: Option<MemberId>,
    statuses: &[String],
) -> Result<Project, FieldError> {
    let name = r.required_text("name", NAME_MAX)?.to_owned();
    let status = ProjectStatus::parse(r.required("status")?, statuses)
        .map_err(|e| FieldError::new("status", e))?;
    Ok(Project {
        id,
        firm_id,
        name,
        status,
        client_name: r.text("client_name", NAME_MAX)?.to_owned(),
        client_phone: r.phone("client_phone", country)?,
        designer_member_id,
        designer_phone: r.phone("designer_phone", country)?,
        created_at: Timestamp::parse(r.required("created_at")?)
            .map_err(|e| FieldError::new("created_at", e))?,
    })
}

pub fn milestone(
    r: &Reader,
    id: MilestoneId,
    project_id: ProjectId,
) -> Result<Milestone, FieldError> {
    let title = r.required_text("title", NAME_MAX)?.to_owned();
    let status =
        MilestoneStatus::parse(r.required("status")?).map_err(|e| FieldError::new("status", e))?;
    let position = r.required("position")?;
    Ok(Milestone {
        id,
        project_id,
        title,
        status,
        position: position.parse().map_err(|_| {
            FieldError::new(
                "position",
                format!("not a whole number ≥ 0: {}", Clip(position)),
            )
        })?,
    })
}

/// A record as its CSV columns, in column order; an absent optional value
/// is `None`.
pub trait Columns {
    fn columns(&self) -> Vec<(&'static str, Option<String>)>;
}

fn phone(phone: Option<Phone>) -> Option<String> {
    phone.map(|p| p.to_string())
}

impl Columns for Firm {
    fn columns(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("id", Some(self.id.to_string())),
            ("name", Some(self.name.clone())),
            ("country", Some(self.country.to_string())),
            (
                "phone_number_id",
                self.phone_number_id.map(|n| n.to_string()),
            ),
            ("language", self.language.map(|l| l.code().to_owned())),
        ]
    }
}

impl Columns for Member {
    fn columns(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("id", Some(self.id.to_string())),
            ("firm_id", Some(self.firm_id.to_string())),
            ("name", Some(self.name.clone())),
            ("role", Some(self.role.clone()).filter(|r| !r.is_empty())),
            ("whatsapp_phone", phone(self.whatsapp_phone)),
        ]
    }
}

impl Columns for Project {
    fn columns(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("id", Some(self.id.to_string())),
            ("firm_id", Some(self.firm_id.to_string())),
            ("name", Some(self.name.clone())),
            ("status", Some(self.status.to_string())),
            (
                "client_name",
                Some(self.client_name.clone()).filter(|n| !n.is_empty()),
            ),
            ("client_phone", phone(self.client_phone)),
            (
                "designer_member_id",
                self.designer_member_id.map(|m| m.to_string()),
            ),
            ("designer_phone", phone(self.designer_phone)),
            ("created_at", Some(self.created_at.to_string())),
        ]
    }
}

impl Columns for Milestone {
    fn columns(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("id", Some(self.id.to_string())),
            ("project_id", Some(self.project_id.to_string())),
            ("title", Some(self.title.clone())),
            ("status", Some(self.status.to_string())),
            ("position", Some(self.position.to_string())),
        ]
    }
}

/// A record's columns as fields, for a change of some of them (PATCH).
pub fn as_fields(record: &impl Columns) -> HashMap<&'static str, String> {
    record
        .columns()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_escaped_on_export_and_read_back_as_typed() {
        for value in [
            "=HYPERLINK(\"x\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "'=x",
        ] {
            let escaped = escape_cell("name", value.to_owned());
            assert!(escaped.starts_with('\''), "{value:?} → {escaped:?}");
            assert_eq!(unescape_cell("name", &escaped), value);
        }
        for plain in ["Lucy", "O'Brien", "'quoted'", ""] {
            assert_eq!(escape_cell("title", plain.to_owned()), plain);
            assert_eq!(unescape_cell("title", plain), plain);
        }
        // Phones and other structured columns are never touched.
        assert_eq!(
            escape_cell("client_phone", "+447911123403".into()),
            "+447911123403"
        );
    }
}
