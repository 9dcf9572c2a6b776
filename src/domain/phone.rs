//! Phone numbers as canonical E.164 digits in a `u64`.
//!
//! Numbers typed by people are parsed once, with the firm's country as the
//! default region ([`Phone::parse`]); numbers WhatsApp sends (`wa_id`) are
//! already international ([`Phone::from_wa_id`]). Both go through the same
//! canonicalisation, so the lookup key of one person is the same whichever
//! way their number reached us:
//!
//! - Brazil (55): a mobile may arrive without the ninth digit after the
//!   two-digit area code; the canonical form has it.
//! - Mexico (52): `521` + 10 digits becomes `52` + 10 digits.
//! - Argentina (54): `549` + 10 digits becomes `54` + 10 digits.
//!
//! Replies still go to the `wa_id` exactly as received; this type is a lookup
//! key, not an address. A business-scoped user id (BSUID) is never a `Phone`.

use std::fmt;
use std::str::FromStr;

use phonenumber::Mode;

use super::Clip;

/// ISO 3166 alpha-2 region used to read numbers written in national format.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country(phonenumber::country::Id);

impl Country {
    /// An ISO 3166 alpha-2 code, in either case. Every stored firm record
    /// holds one, so this is a table lookup, not a search of the 245 codes.
    pub fn parse(text: &str) -> Result<Self, PhoneError> {
        let unknown = || PhoneError::UnknownCountry(text.to_owned());
        let &[a, b] = text.trim().as_bytes() else {
            return Err(unknown());
        };
        let letter = |c: u8| {
            let c = c.to_ascii_uppercase();
            c.is_ascii_uppercase().then(|| usize::from(c - b'A'))
        };
        let (Some(a), Some(b)) = (letter(a), letter(b)) else {
            return Err(unknown());
        };
        Self::codes()[a * 26 + b].map(Self).ok_or_else(unknown)
    }

    /// Every pair of letters → its country, if it names one.
    fn codes() -> &'static [Option<phonenumber::country::Id>; 26 * 26] {
        static CODES: std::sync::OnceLock<[Option<phonenumber::country::Id>; 26 * 26]> =
            std::sync::OnceLock::new();
        CODES.get_or_init(|| {
            std::array::from_fn(|i| {
                let code = [b'A' + (i / 26) as u8, b'A' + (i % 26) as u8];
                let code = std::str::from_utf8(&code).expect("ASCII letters");
                phonenumber::country::Id::from_str(code).ok()
            })
        })
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_ref())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({})", self.0.as_ref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("empty phone number")]
    Empty,
    #[error("not a phone number: {}{}", Clip(.text), ReadWith(*.region))]
    Unparseable {
        text: String,
        /// The default region, when the number was written without a
        /// country code and so was read with it.
        region: Option<Country>,
    },
    #[error("not a possible number for its country (wrong length): {}{}", Clip(.text), ReadWith(*.region))]
    ImpossibleLength {
        text: String,
        region: Option<Country>,
    },
    #[error("not a WhatsApp id (7 to 15 digits with a country code): {}", Clip(.0))]
    NotWaId(String),
    #[error("unknown country code {} (expected ISO 3166 alpha-2, like GB)", Clip(.0))]
    UnknownCountry(String),
}

/// `" (read with country GB)"` when a default region was used, else nothing.
struct ReadWith(Option<Country>);

impl fmt::Display for ReadWith {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(country) => write!(f, " (read with country {country})"),
            None => Ok(()),
        }
    }
}

/// A number that is possible for its country (its length fits) but lies
/// outside every range the phone metadata knows: a new allocation, or a
/// range reserved for fiction and testing such as the UK's 07700 900xxx.
/// WhatsApp is the judge of what exists, so such a number is accepted and
/// the person who typed it is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneWarning {
    pub text: String,
    pub phone: Phone,
}

impl fmt::Display for PhoneWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not in a range the phone metadata knows (new or reserved); accepted as {}",
            self.text, self.phone
        )
    }
}

/// What [`Phone::parse`] read: the phone, and a warning when the number is
/// possible but not known to be allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub phone: Phone,
    pub warning: Option<PhoneWarning>,
}

/// How many digits a full international number has, country code included.
const WA_ID_DIGITS: std::ops::RangeInclusive<usize> = 7..=15;

/// A canonical E.164 number, digits only, country code first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Phone(u64);

impl Phone {
    /// Parses a number as a person wrote it. `region` reads national
    /// notation (`07911 123456` in GB); international notation needs none.
    ///
    /// The rule (DESIGN section 2): a number that does not parse, or whose
    /// length is impossible for its country, is an error; a possible number
    /// outside the ranges the metadata knows is accepted with a warning.
    pub fn parse(text: &str, region: Option<Country>) -> Result<Parsed, PhoneError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        // The region is only consulted for a number without a `+`.
        let region = region.filter(|_| !trimmed.starts_with('+'));
        let unparseable = || PhoneError::Unparseable {
            text: text.to_owned(),
            region,
        };
        let parsed = phonenumber::parse(region.map(|c| c.0), trimmed).map_err(|_| unparseable())?;
        if parsed.extension().is_some() {
            return Err(unparseable());
        }
        let e164 = parsed.format().mode(Mode::E164).to_string();
        let code = parsed.code().value();
        let canonical = canonical_digits(code, &e164[1..]);
        // Judged on the canonical form (a Brazilian mobile without its ninth
        // digit is not valid as written); most numbers are already canonical
        // and need no second parse.
        let known = if canonical == e164[1..] {
            parsed.is_valid()
        } else {
            phonenumber::parse(None, format!("+{canonical}")).is_ok_and(|p| p.is_valid())
        };
        // The same shape rule as a wa_id, so every stored phone can also
        // arrive from WhatsApp (the metadata accepts some 6-digit numbers).
        let national_len = canonical.len() - decimal_len(code);
        if !WA_ID_DIGITS.contains(&canonical.len()) || !(known || is_possible(code, national_len)) {
            return Err(PhoneError::ImpossibleLength {
                text: text.to_owned(),
                region,
            });
        }
        let phone = Self(digits_to_u64(&canonical));
        let warning = (!known).then(|| PhoneWarning {
            text: trimmed.to_owned(),
            phone,
        });
        Ok(Parsed { phone, warning })
    }

    /// Reads a `wa_id` (international digits, no `+`, as WhatsApp sends
    /// them; a leading `+` is tolerated). Lenient on purpose: a number
    /// WhatsApp delivers from exists even if our metadata does not know its
    /// range yet, so only the shape and the country code are checked.
    pub fn from_wa_id(text: &str) -> Result<Self, PhoneError> {
        let digits = text.trim().strip_prefix('+').unwrap_or(text.trim());
        // No country code starts with 0 (a leading 0 would also vanish in the u64).
        if !WA_ID_DIGITS.contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(PhoneError::NotWaId(text.to_owned()));
        }
        // Country codes are prefix-free: the first 1 to 3 digits that name
        // one are it. A table lookup, not a parse: this runs for every
        // message.
        let code = (1..=3)
            .filter_map(|len| digits[..len].parse::<u16>().ok())
            .find(|&code| calling_codes()[usize::from(code)])
            .ok_or_else(|| PhoneError::NotWaId(text.to_owned()))?;
        let canonical = canonical_digits(code, digits);
        Ok(Self(digits_to_u64(&canonical)))
    }

    /// Reads text that may be a `wa_id` or a number in international
    /// notation: digits alone are taken as a `wa_id`.
    pub fn parse_international(text: &str) -> Result<Self, PhoneError> {
        // Mutation `phone_canonical`: the canonical form read back one
        // digit short.
        let text = match text.strip_suffix(|c: char| c.is_ascii_digit()) {
            Some(short) if crate::mutation::on("phone_canonical") && short.len() > 8 => short,
            _ => text,
        };
        let trimmed = text.trim();
        let bare = trimmed.strip_prefix('+').unwrap_or(trimmed);
        if !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_digit()) {
            Self::from_wa_id(trimmed)
        } else {
            Self::parse(trimmed, None).map(|parsed| parsed.phone)
        }
    }

    /// The fixed-width storage key.
    pub fn to_u64(self) -> u64 {
        self.0
    }

    /// Rebuilds a phone from a storage key written by [`Phone::to_u64`].
    pub fn from_u64(raw: u64) -> Self {
        Self(raw)
    }
}

/// Whether each number below 1000 is a country calling code.
fn calling_codes() -> &'static [bool; 1000] {
    static CODES: std::sync::OnceLock<[bool; 1000]> = std::sync::OnceLock::new();
    CODES.get_or_init(|| {
        std::array::from_fn(|code| {
            phonenumber::metadata::DATABASE
                .by_code(&(code as u16))
                .is_some()
        })
    })
}

/// Applies the Brazil / Mexico / Argentina rules to E.164 digits.
fn canonical_digits(country_code: u16, e164_digits: &str) -> String {
    let cc = country_code.to_string();
    let national = &e164_digits[cc.len()..];
    match country_code {
        // Area code (2) + 8-digit mobile (starts 6-9): insert the ninth digit.
        55 if national.len() == 10 && matches!(national.as_bytes()[2], b'6'..=b'9') => {
            format!("55{}9{}", &national[..2], &national[2..])
        }
        52 if national.len() == 11 && national.starts_with('1') => format!("52{}", &national[1..]),
        54 if national.len() == 11 && national.starts_with('9') => format!("54{}", &national[1..]),
        _ => e164_digits.to_owned(),
    }
}

/// Whether some region of `country_code` has numbers of this many national
/// digits: the possible lengths of every kind of number a person could
/// have (fixed, mobile, VoIP, …), allocated or not.
fn is_possible(country_code: u16, national_len: usize) -> bool {
    use phonenumber::Type;
    const KINDS: [Type; 11] = [
        Type::Unknown, // the general description
        Type::FixedLine,
        Type::Mobile,
        Type::TollFree,
        Type::PremiumRate,
        Type::SharedCost,
        Type::PersonalNumber,
        Type::Voip,
        Type::Pager,
        Type::Uan,
        Type::Voicemail,
    ];
    phonenumber::metadata::DATABASE
        .by_code(&country_code)
        .into_iter()
        .flatten()
        .flat_map(|meta| {
            KINDS
                .iter()
                .filter_map(|&kind| meta.descriptors().get(kind))
        })
        .any(|desc| {
            desc.possible_length()
                .iter()
                .any(|&n| usize::from(n) == national_len)
        })
}

fn decimal_len(n: u16) -> usize {
    n.to_string().len()
}

fn digits_to_u64(digits: &str) -> u64 {
    digits
        .parse()
        .expect("E.164 numbers have at most 15 digits, which fit a u64")
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone(+{})", self.0)
    }
}

// Stored as the canonical digits; only ever read back from our own storage.
impl serde::Serialize for Phone {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Phone {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u64::deserialize(deserializer).map(Self)
    }
}

impl serde::Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_ref())
    }
}

impl<'de> serde::Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Code;
        impl serde::de::Visitor<'_> for Code {
            type Value = Country;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an ISO 3166 alpha-2 country code")
            }
            fn visit_str<E: serde::de::Error>(self, code: &str) -> Result<Country, E> {
                Country::parse(code).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, default region, expected canonical E.164 or None for rejected)
    const CASES: &[(&str, &str, Option<&str>)] = &[
        // GB
        ("+44 7911 123456", "GB", Some("+447911123456")),
        ("07911 123456", "GB", Some("+447911123456")),
        ("07911123456", "GB", Some("+447911123456")),
        ("+44 (0)20 7946 0958", "GB", Some("+442079460958")),
        ("020 7946 0958", "GB", Some("+442079460958")),
        ("00 44 7911 123456", "DE", Some("+447911123456")),
        // US
        ("+1 (415) 555-2671", "US", Some("+14155552671")),
        ("(415) 555-2671", "US", Some("+14155552671")),
        ("415.555.2671", "US", Some("+14155552671")),
        ("1-415-555-2671", "US", Some("+14155552671")),
        // BR: with and without the ninth digit, international and national
        ("+55 11 98765-4321", "BR", Some("+5511987654321")),
        ("+55 11 8765-4321", "BR", Some("+5511987654321")),
        ("(11) 98765-4321", "BR", Some("+5511987654321")),
        ("011 98765-4321", "BR", Some("+5511987654321")),
        ("+55 21 2555-1234", "BR", Some("+552125551234")),
        // MX: 521 + 10 digits and 52 + 10 digits are the same person
        ("+52 1 55 1234 5678", "MX", Some("+525512345678")),
        ("+52 55 1234 5678", "MX", Some("+525512345678")),
        ("55 1234 5678", "MX", Some("+525512345678")),
        // AR: 549 + 10 digits and 54 + 10 digits are the same person
        ("+54 9 11 4555-1234", "AR", Some("+541145551234")),
        ("+54 11 4555-1234", "AR", Some("+541145551234")),
        ("(011) 4555-1234", "AR", Some("+541145551234")),
        ("011 15 4555-1234", "AR", Some("+541145551234")),
        // DE
        ("+49 30 901820", "DE", Some("+4930901820")),
        ("030 901820", "DE", Some("+4930901820")),
        ("+49 151 23456789", "DE", Some("+4915123456789")),
        ("0151 23456789", "DE", Some("+4915123456789")),
        // IN
        ("+91 98765 43210", "IN", Some("+919876543210")),
        ("098765 43210", "IN", Some("+919876543210")),
        ("98765 43210", "IN", Some("+919876543210")),
        // garbage
        ("", "GB", None),
        ("   ", "GB", None),
        ("not a number", "GB", None),
        ("+44", "GB", None),
        ("12", "GB", None),
        ("+44 7911 123456 ext. 5", "GB", None),
        ("+999 1234 5678", "GB", None),
        ("07911 1234564567890", "GB", None),
        ("+1 (415) 555-2671; DROP TABLE", "US", None),
        // Found by the fuzzer: valid to the metadata, too short for WhatsApp.
        ("0404004", "GB", None),
    ];

    #[test]
    fn parses_real_world_formats_and_rejects_garbage() {
        let mut failures = Vec::new();
        for &(input, region, expected) in CASES {
            let region = Country::parse(region).unwrap();
            let got = Phone::parse(input, Some(region))
                .ok()
                .map(|p| p.phone.to_string());
            if got.as_deref() != expected {
                failures.push(format!(
                    "{input:?} in {region}: got {got:?}, expected {expected:?}"
                ));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn possible_numbers_outside_known_ranges_are_accepted_with_a_warning() {
        let gb = Country::parse("GB").unwrap();
        // The UK's range for fiction and testing is not in the metadata; to
        // a person it is the same kind of number as any other mobile.
        for (text, known) in [
            ("+44 7911 123456", true),
            ("+44 7700 900103", false),
            ("+44 7700 900001", false),
            ("07700 900400", false),
        ] {
            let parsed = Phone::parse(text, Some(gb)).unwrap();
            assert_eq!(parsed.warning.is_none(), known, "{text}");
            let digits = text.replace(' ', "").replace("+44", "").replace("07", "7");
            assert_eq!(parsed.phone.to_string(), format!("+44{digits}"));
        }
        let warning = Phone::parse("+44 7700 900001", None)
            .unwrap()
            .warning
            .unwrap();
        assert_eq!(
            warning.to_string(),
            r#""+44 7700 900001" is not in a range the phone metadata knows (new or reserved); accepted as +447700900001"#
        );
    }

    #[test]
    fn errors_name_the_region_only_when_it_was_used() {
        let br = Country::parse("BR").unwrap();
        let gb = Country::parse("GB").unwrap();
        assert_eq!(
            Phone::parse("+44 7700 9004", Some(br))
                .unwrap_err()
                .to_string(),
            r#"not a possible number for its country (wrong length): "+44 7700 9004""#
        );
        assert_eq!(
            Phone::parse("07700 9004001", Some(gb))
                .unwrap_err()
                .to_string(),
            r#"not a possible number for its country (wrong length): "07700 9004001" (read with country GB)"#
        );
        assert_eq!(
            Phone::parse("call me", Some(br)).unwrap_err().to_string(),
            r#"not a phone number: "call me" (read with country BR)"#
        );
    }

    #[test]
    fn wa_ids_canonicalise_like_typed_numbers() {
        let cases = [
            ("447911123456", "+447911123456"),
            ("551187654321", "+5511987654321"),
            ("5511987654321", "+5511987654321"),
            ("5215512345678", "+525512345678"),
            ("5491145551234", "+541145551234"),
            ("+14155552671", "+14155552671"),
        ];
        for (wa_id, expected) in cases {
            assert_eq!(
                Phone::from_wa_id(wa_id).unwrap().to_string(),
                expected,
                "{wa_id}"
            );
        }
        for bad in [
            "",
            "abc",
            "123",
            "+",
            "4479111234561234567",
            "US.13491208655302741918",
        ] {
            assert!(Phone::from_wa_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn countries_are_iso_alpha_2() {
        assert_eq!(Country::parse("gb").unwrap().to_string(), "GB");
        assert_eq!(Country::parse(" Br ").unwrap().to_string(), "BR");
        assert_eq!(
            Country::parse("UK").unwrap_err().to_string(),
            r#"unknown country code "UK" (expected ISO 3166 alpha-2, like GB)"#
        );
        for bad in ["", "G", "GBR", "G1", "é", "[A"] {
            assert!(Country::parse(bad).is_err(), "{bad:?}");
        }
        // The table agrees with the library on every pair of letters.
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                let code = String::from_utf8(vec![a, b]).unwrap();
                assert_eq!(
                    Country::parse(&code).ok().map(|c| c.0),
                    phonenumber::country::Id::from_str(&code).ok(),
                    "{code}"
                );
            }
        }
    }
}
