//! UUID ids, one type per record kind, so a member id can never be passed
//! where a project id is expected.
//!
//! Ids are kept exactly as imported (other systems and button ids refer to
//! them); ids the system creates itself are UUIDv7 so they sort by time.
//! One generic `Id<K>` with a marker per kind, rather than four copies.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::str::FromStr;

use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a UUID: {}", super::Clip(.value))]
pub struct IdError {
    pub value: String,
}

/// What kind of record an [`Id`] names; only the name is used, in `Debug`.
pub trait IdKind {
    const NAME: &'static str;
}

pub struct Id<K>(u128, PhantomData<fn() -> K>);

#[derive(Debug)]
pub enum FirmKind {}
#[derive(Debug)]
pub enum MemberKind {}
#[derive(Debug)]
pub enum ProjectKind {}
#[derive(Debug)]
pub enum MilestoneKind {}
#[derive(Debug)]
pub enum TokenKind {}

impl IdKind for FirmKind {
    const NAME: &'static str = "FirmId";
}
impl IdKind for MemberKind {
    const NAME: &'static str = "MemberId";
}
impl IdKind for ProjectKind {
    const NAME: &'static str = "ProjectId";
}
impl IdKind for MilestoneKind {
    const NAME: &'static str = "MilestoneId";
}
impl IdKind for TokenKind {
    const NAME: &'static str = "TokenId";
}

/// A firm (tenant). Every read of firm data is scoped by one.
pub type FirmId = Id<FirmKind>;
/// A firm member (designer).
pub type MemberId = Id<MemberKind>;
/// A project of one firm.
pub type ProjectId = Id<ProjectKind>;
/// A milestone of one project.
pub type MilestoneId = Id<MilestoneKind>;
/// An API token of one firm.
pub type TokenId = Id<TokenKind>;

impl<K> Id<K> {
    /// A fresh, time-ordered id (UUIDv7).
    pub fn new_v7() -> Self {
        Self::from_u128(Uuid::now_v7().as_u128())
    }

    pub fn parse(text: &str) -> Result<Self, IdError> {
        Uuid::try_parse(text.trim())
            .map(|uuid| Self::from_u128(uuid.as_u128()))
            .map_err(|_| IdError {
                value: text.to_owned(),
            })
    }

    /// The fixed-width form used in storage keys.
    pub fn to_u128(self) -> u128 {
        self.0
    }

    pub fn from_u128(raw: u128) -> Self {
        Self(raw, PhantomData)
    }
}

/// The nil UUID; only a placeholder until the real id is filled in (the
/// store fills record ids from their keys).
impl<K> Default for Id<K> {
    fn default() -> Self {
        Self::from_u128(0)
    }
}

// Written by hand: derives would demand `K: Clone`, `K: Eq`, … of the marker.
impl<K> Clone for Id<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Id<K> {}
impl<K> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<K> Eq for Id<K> {}
impl<K> PartialOrd for Id<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Id<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}
impl<K> Hash for Id<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl<K> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Uuid::from_u128(self.0).hyphenated(), f)
    }
}

impl<K: IdKind> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({self})", K::NAME)
    }
}

impl<K> FromStr for Id<K> {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        Self::parse(text)
    }
}

impl<K> serde::Serialize for Id<K> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u128(self.0)
    }
}

impl<'de, K> serde::Deserialize<'de> for Id<K> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u128::deserialize(deserializer).map(Self::from_u128)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_u128() {
        let text = "0191c3a4-7b1e-7cc0-9d1a-5e8f2b3c4d5e";
        let id = ProjectId::parse(text).unwrap();
        assert_eq!(id.to_string(), text);
        assert_eq!(ProjectId::from_u128(id.to_u128()), id);
        assert_eq!(format!("{id:?}"), format!("ProjectId({text})"));
    }

    #[test]
    fn garbage_is_not_an_id() {
        let err = FirmId::parse("firm-1").unwrap_err();
        assert_eq!(err.to_string(), r#"not a UUID: "firm-1""#);
    }

    #[test]
    fn new_ids_sort_by_creation_time() {
        let a = MemberId::new_v7();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = MemberId::new_v7();
        assert!(a < b);
    }
}
