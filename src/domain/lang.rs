//! The languages the bot speaks (DESIGN section 12), and how a firm's or a
//! person's is found when none is set: from the country, or from the phone's
//! calling code. Stored in a firm's record: new variants go at the end.

use super::{Country, Phone};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Lang {
    En,
    PtBr,
    Es,
}

/// ISO 3166 codes of the countries whose firms speak Spanish by default.
const SPANISH: &[&str] = &[
    "ES", "MX", "AR", "CO", "CL", "PE", "VE", "EC", "GT", "CU", "BO", "DO", "HN", "PY", "SV", "NI",
    "CR", "PA", "UY",
];
/// Their calling codes (1-809 and the like are left to English).
const SPANISH_CODES: &[&str] = &[
    "34", "52", "54", "57", "56", "51", "58", "593", "502", "53", "591", "504", "595", "503",
    "505", "506", "507", "598",
];

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::En, Lang::PtBr, Lang::Es];

    /// The WhatsApp language code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::PtBr => "pt_BR",
            Lang::Es => "es",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.code() == code.trim())
    }

    pub fn of_country(country: Country) -> Self {
        let code = country.to_string();
        match code.as_str() {
            "BR" | "PT" => Lang::PtBr,
            c if SPANISH.contains(&c) => Lang::Es,
            _ => Lang::En,
        }
    }

    /// By the phone's country calling code.
    pub fn of_phone(phone: Phone) -> Self {
        let digits = phone.to_u64().to_string();
        if digits.starts_with("55") || digits.starts_with("351") {
            return Lang::PtBr;
        }
        if SPANISH_CODES.iter().any(|code| digits.starts_with(code)) {
            return Lang::Es;
        }
        Lang::En
    }
}
