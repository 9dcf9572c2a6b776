//! Record values on disk: one version byte, then postcard.
//!
//! A record type's layout is frozen once released; a change gets a new
//! version number here and `decode` keeps reading the old one, so old files
//! stay readable (the fixture under `tests/fixtures/` proves it).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::{Firm, Member, Milestone, Project};

use super::Error;

/// A record stored in a table, with the version its layout has.
pub trait Record: Serialize + DeserializeOwned {
    const VERSION: u8;
    const NAME: &'static str;
}

impl Record for Firm {
    const VERSION: u8 = 1;
    const NAME: &'static str = "firm";
}
impl Record for Member {
    const VERSION: u8 = 1;
    const NAME: &'static str = "member";
}
impl Record for Project {
    const VERSION: u8 = 1;
    const NAME: &'static str = "project";
}
impl Record for Milestone {
    const VERSION: u8 = 1;
    const NAME: &'static str = "milestone";
}

pub fn encode<T: Record>(record: &T) -> Vec<u8> {
    let mut out = vec![T::VERSION];
    postcard::to_io(record, &mut out).expect("serializing into a Vec cannot fail");
    out
}

pub fn decode<T: Record>(bytes: &[u8]) -> Result<T, Error> {
    match bytes.split_first() {
        Some((&version, rest)) if version == T::VERSION => postcard::from_bytes(rest)
            .map_err(|err| Error::Corrupt(format!("{} record does not decode: {err}", T::NAME))),
        Some((&version, _)) => Err(Error::Corrupt(format!(
            "{} record has unknown version {version} (this build reads {})",
            T::NAME,
            T::VERSION
        ))),
        None => Err(Error::Corrupt(format!("{} record is empty", T::NAME))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Country, FirmId};

    #[test]
    fn records_round_trip_and_unknown_versions_are_refused() {
        let firm = Firm {
            id: FirmId::new_v7(),
            name: "Studio Ñandú".into(),
            country: Country::parse("AR").unwrap(),
            phone_number_id: Some(106540352242922),
        };
        let bytes = encode(&firm);
        assert_eq!(bytes[0], 1);
        assert_eq!(decode::<Firm>(&bytes).unwrap(), firm);

        let mut future = bytes.clone();
        future[0] = 9;
        let err = decode::<Firm>(&future).unwrap_err();
        assert_eq!(
            err.to_string(),
            "database is damaged: firm record has unknown version 9 (this build reads 1)"
        );
    }
}
