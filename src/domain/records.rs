//! The four records of DESIGN section 1 and their small value types.
//!
//! Records carry their own ids; they hold only already-validated values
//! (`Phone`, `Country`, statuses), so code that receives one never
//! re-checks it. The fields marked `serde(skip)` are the ones the store
//! keeps in the record's key, so they are not written twice.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Clip, Country, FirmId, Lang, MemberId, MilestoneId, Phone, ProjectId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firm {
    #[serde(skip)]
    pub id: FirmId,
    pub name: String,
    pub country: Country,
    /// The firm's own WhatsApp business number id (Meta's `phone_number_id`).
    pub phone_number_id: Option<u64>,
    /// The language the bot speaks for the firm; `None`: from its country.
    pub language: Option<Lang>,
}

impl Firm {
    /// The language the firm's people are written to in.
    pub fn lang(&self) -> Lang {
        self.language
            .unwrap_or_else(|| Lang::of_country(self.country))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    #[serde(skip)]
    pub id: MemberId,
    #[serde(skip)]
    pub firm_id: FirmId,
    pub name: String,
    pub role: String,
    /// The canonical designer identity; empty until backfilled.
    pub whatsapp_phone: Option<Phone>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    #[serde(skip)]
    pub id: ProjectId,
    #[serde(skip)]
    pub firm_id: FirmId,
    pub name: String,
    pub status: ProjectStatus,
    pub client_name: String,
    pub client_phone: Option<Phone>,
    pub designer_member_id: Option<MemberId>,
    /// Legacy designer identity, predating `Member::whatsapp_phone`.
    pub designer_phone: Option<Phone>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    #[serde(skip)]
    pub id: MilestoneId,
    #[serde(skip)]
    pub project_id: ProjectId,
    pub title: String,
    pub status: MilestoneStatus,
    pub position: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("unknown project status {} (expected one of: {allowed})", Clip(.value))]
    UnknownProject { value: String, allowed: String },
    #[error(
        "unknown milestone status {} (expected one of: pending, awaiting_approval, approved)",
        Clip(.0)
    )]
    UnknownMilestone(String),
    #[error(
        "not a timestamp {} (expected RFC 3339 like 2024-03-01T10:00:00Z, or 2024-03-01)",
        Clip(.0)
    )]
    BadTimestamp(String),
}

/// A project status in its canonical spelling, from the configured set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectStatus(String);

impl ProjectStatus {
    /// The statuses a project may have unless configured otherwise.
    pub const DEFAULT_SET: &[&str] = &["Lead", "Design", "Active", "On Hold", "Completed"];

    /// Matches `text` case-insensitively against `allowed` and keeps the
    /// canonical spelling.
    pub fn parse(text: &str, allowed: &[impl AsRef<str>]) -> Result<Self, StatusError> {
        let wanted = text.trim();
        allowed
            .iter()
            .map(AsRef::as_ref)
            .find(|status| status.eq_ignore_ascii_case(wanted))
            .map(|status| Self(status.to_owned()))
            .ok_or_else(|| StatusError::UnknownProject {
                value: text.to_owned(),
                allowed: allowed
                    .iter()
                    .map(AsRef::as_ref)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `pending` → `awaiting_approval` → `approved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MilestoneStatus {
    Pending,
    AwaitingApproval,
    Approved,
}

impl MilestoneStatus {
    pub const ALL: [MilestoneStatus; 3] = [Self::Pending, Self::AwaitingApproval, Self::Approved];

    pub fn parse(text: &str) -> Result<Self, StatusError> {
        let wanted = text.trim();
        Self::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| StatusError::UnknownMilestone(text.to_owned()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Approved => "approved",
        }
    }
}

impl fmt::Display for MilestoneStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A point in time, whole seconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Accepts RFC 3339 (`2024-03-01T10:00:00Z`, any offset) or a plain date
    /// (`2024-03-01`, taken as midnight UTC).
    pub fn parse(text: &str) -> Result<Self, StatusError> {
        let trimmed = text.trim();
        let bad = || StatusError::BadTimestamp(text.to_owned());
        if let Ok(ts) = trimmed.parse::<jiff::Timestamp>() {
            return Ok(Self(ts.as_second()));
        }
        let date: jiff::civil::Date = trimmed.parse().map_err(|_| bad())?;
        let ts = date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| bad())?
            .timestamp();
        Ok(Self(ts.as_second()))
    }

    pub fn from_unix_seconds(seconds: i64) -> Self {
        Self(seconds)
    }

    pub fn unix_seconds(self) -> i64 {
        self.0
    }

    /// An index key part that sorts newer timestamps first.
    pub fn newest_first_rank(self) -> u64 {
        // Flip the sign bit to map i64 order onto u64 order, then invert.
        !((self.0 as u64) ^ (1 << 63))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::Timestamp::from_second(self.0) {
            Ok(ts) => write!(f, "{ts}"),
            Err(_) => write!(f, "@{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_status_matches_case_insensitively_and_keeps_canonical_case() {
        let status = ProjectStatus::parse(" on hold ", ProjectStatus::DEFAULT_SET).unwrap();
        assert_eq!(status.as_str(), "On Hold");
        let err = ProjectStatus::parse("Done", ProjectStatus::DEFAULT_SET).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown project status "Done" (expected one of: Lead, Design, Active, On Hold, Completed)"#
        );
    }

    #[test]
    fn milestone_status_round_trips() {
        for status in MilestoneStatus::ALL {
            assert_eq!(MilestoneStatus::parse(status.as_str()).unwrap(), status);
        }
        assert!(MilestoneStatus::parse("done").is_err());
    }

    #[test]
    fn timestamps_accept_rfc3339_and_dates() {
        let ts = Timestamp::parse("2024-03-01T10:00:00+01:00").unwrap();
        assert_eq!(ts.to_string(), "2024-03-01T09:00:00Z");
        assert_eq!(
            Timestamp::parse("2024-03-01").unwrap().to_string(),
            "2024-03-01T00:00:00Z"
        );
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("2024-13-01").is_err());
    }
}
