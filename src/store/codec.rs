//! Record values on disk: one version byte, then postcard.
//!
//! The ids a record's key already holds are not repeated in its value
//! (they are `serde(skip)` in the domain types); [`decode`] takes the key
//! and puts them back, so a decoded record is always whole.
//!
//! A record type's layout is frozen once released; a change gets a new
//! version number here and `decode` keeps reading the old one, so old files
//! stay readable (the fixture under `tests/fixtures/` proves it).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::event::Event;
use crate::domain::{
    Firm, FirmId, Member, MemberId, Milestone, MilestoneId, Project, ProjectId, Token, TokenId,
};

use super::Error;

/// A record stored in a table, with the version its layout has.
pub trait Record: Serialize + DeserializeOwned {
    const VERSION: u8;
    const NAME: &'static str;
    /// The key of the record's table.
    type Key;
    /// Puts back the fields the key holds.
    fn fill_key(&mut self, key: Self::Key);
    /// Reads a layout of an older version, for a type that changed.
    fn decode_older(_version: u8, _bytes: &[u8]) -> Option<Result<Self, postcard::Error>> {
        None
    }
}

impl Record for Firm {
    /// 2 added `language`.
    const VERSION: u8 = 2;
    const NAME: &'static str = "firm";
    type Key = u128;
    fn fill_key(&mut self, firm: u128) {
        self.id = FirmId::from_u128(firm);
    }
    fn decode_older(version: u8, bytes: &[u8]) -> Option<Result<Self, postcard::Error>> {
        /// Version 1, as the first release wrote it.
        #[derive(serde::Deserialize)]
        struct FirmV1 {
            name: String,
            country: crate::domain::Country,
            phone_number_id: Option<u64>,
        }
        (version == 1).then(|| {
            postcard::from_bytes::<FirmV1>(bytes).map(|v1| Firm {
                id: FirmId::default(),
                name: v1.name,
                country: v1.country,
                phone_number_id: v1.phone_number_id,
                language: None,
            })
        })
    }
}
impl Record for Member {
    const VERSION: u8 = 1;
    const NAME: &'static str = "member";
    type Key = (u128, u128);
    fn fill_key(&mut self, (firm, member): (u128, u128)) {
        self.firm_id = FirmId::from_u128(firm);
        self.id = MemberId::from_u128(member);
    }
}
impl Record for Project {
    const VERSION: u8 = 1;
    const NAME: &'static str = "project";
    type Key = (u128, u128);
    fn fill_key(&mut self, (firm, project): (u128, u128)) {
        self.firm_id = FirmId::from_u128(firm);
        self.id = ProjectId::from_u128(project);
    }
}
impl Record for Milestone {
    const VERSION: u8 = 1;
    const NAME: &'static str = "milestone";
    type Key = (u128, u128, u128);
    fn fill_key(&mut self, (_firm, project, milestone): (u128, u128, u128)) {
        self.project_id = ProjectId::from_u128(project);
        self.id = MilestoneId::from_u128(milestone);
    }
}

impl Record for Event {
    const VERSION: u8 = 1;
    const NAME: &'static str = "event";
    type Key = u64;
    fn fill_key(&mut self, seq: u64) {
        self.seq = seq;
    }
}
impl Record for crate::domain::event::Hook {
    const VERSION: u8 = 1;
    const NAME: &'static str = "hook";
    type Key = u128;
    fn fill_key(&mut self, firm: u128) {
        self.firm = FirmId::from_u128(firm);
    }
}
impl Record for crate::domain::event::Logged {
    const VERSION: u8 = 1;
    const NAME: &'static str = "logged message";
    type Key = (u128, u64);
    fn fill_key(&mut self, (firm, seq): (u128, u64)) {
        self.firm = FirmId::from_u128(firm);
        self.seq = seq;
    }
}
impl Record for crate::domain::event::Push {
    const VERSION: u8 = 1;
    const NAME: &'static str = "push";
    type Key = u64;
    fn fill_key(&mut self, seq: u64) {
        self.seq = seq;
    }
}
impl Record for Token {
    const VERSION: u8 = 1;
    const NAME: &'static str = "token";
    type Key = (u128, u128);
    fn fill_key(&mut self, (firm, token): (u128, u128)) {
        self.firm = FirmId::from_u128(firm);
        self.id = TokenId::from_u128(token);
    }
}

pub fn encode<T: Record>(record: &T) -> Vec<u8> {
    postcard::to_extend(record, vec![T::VERSION]).expect("serializing into a Vec cannot fail")
}

pub fn decode<T: Record>(key: T::Key, bytes: &[u8]) -> Result<T, Error> {
    match bytes.split_first() {
        Some((&version, rest)) if version == T::VERSION => {
            let mut record: T = postcard::from_bytes(rest).map_err(|err| {
                Error::Corrupt(format!("{} record does not decode: {err}", T::NAME))
            })?;
            record.fill_key(key);
            Ok(record)
        }
        Some((&version, rest)) => match T::decode_older(version, rest) {
            Some(Ok(mut record)) => {
                record.fill_key(key);
                Ok(record)
            }
            Some(Err(err)) => Err(Error::Corrupt(format!(
                "{} record (version {version}) does not decode: {err}",
                T::NAME
            ))),
            None => Err(Error::Corrupt(format!(
                "{} record has unknown version {version} (this build reads {})",
                T::NAME,
                T::VERSION
            ))),
        },
        None => Err(Error::Corrupt(format!("{} record is empty", T::NAME))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Country;

    #[test]
    fn records_round_trip_and_unknown_versions_are_refused() {
        let firm = Firm {
            id: FirmId::new_v7(),
            name: "Studio Ñandú".into(),
            country: Country::parse("AR").unwrap(),
            phone_number_id: Some(106540352242922),
            language: Some(crate::domain::Lang::Es),
        };
        let bytes = encode(&firm);
        assert_eq!(bytes[0], 2);
        assert_eq!(decode::<Firm>(firm.id.to_u128(), &bytes).unwrap(), firm);

        let mut future = bytes.clone();
        future[0] = 9;
        let err = decode::<Firm>(firm.id.to_u128(), &future).unwrap_err();
        assert_eq!(
            err.to_string(),
            "database is damaged: firm record has unknown version 9 (this build reads 2)"
        );
    }
}
