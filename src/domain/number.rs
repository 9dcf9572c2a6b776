//! A WhatsApp business phone number id: `metadata.phone_number_id` of a
//! webhook, a firm's own number, `WHATSAPP_PHONE_NUMBER_ID`, what a reply
//! goes out from. Digits, kept as a number, parsed once at the edge.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BusinessNumber(u64);

impl BusinessNumber {
    pub fn new(number: u64) -> Self {
        Self(number)
    }

    /// Digits only (1 to 20 of them), not 0; `None` otherwise.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().filter(|n| *n != 0).map(Self)
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for BusinessNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digits_are_a_business_number() {
        assert_eq!(
            BusinessNumber::parse(" 106540352242922 ").map(BusinessNumber::get),
            Some(106540352242922)
        );
        for bad in ["", "0", "+44", "12a", "1 2", &"9".repeat(21)] {
            assert_eq!(BusinessNumber::parse(bad), None, "{bad:?}");
        }
        assert_eq!(BusinessNumber::new(7).to_string(), "7");
    }
}
