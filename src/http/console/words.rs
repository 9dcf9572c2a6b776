//! What a reply's delivery state and error mean, in words a studio
//! manager reads without a table of WhatsApp error codes.

use crate::store::error_code;
use crate::store::{Outbound, State};

/// A reply's state in words, and, for one that did not arrive, why.
pub fn delivery(outbound: &Outbound) -> (&'static str, Option<String>) {
    match outbound.state {
        State::Pending if outbound.attempts == 0 => ("waiting to be sent", None),
        State::Pending => (
            "not sent yet, will try again",
            outbound.last_error.as_deref().map(reason),
        ),
        State::Sent => ("sent", None),
        State::Delivered => ("delivered", None),
        State::Read => ("read", None),
        State::Held => (
            "held",
            Some(
                "outside the 24-hour window, no template: it goes out when they next write"
                    .to_owned(),
            ),
        ),
        State::Failed => (
            "failed",
            Some(
                outbound
                    .last_error
                    .as_deref()
                    .map_or_else(|| "gave up".to_owned(), reason),
            ),
        ),
    }
}

/// The reason behind a Graph API error, by its code.
pub fn reason(error: &str) -> String {
    let words = match error_code(error) {
        Some(131047) => "outside the 24-hour window: only a template may be sent",
        Some(131026) => "the number cannot receive it (not on WhatsApp, or an old app)",
        Some(131050) => "the person stopped marketing messages from this business",
        Some(130403) => "WhatsApp does not allow this number",
        Some(130429) | Some(131056) => "too many messages at once: WhatsApp asked to slow down",
        Some(131000) | Some(131016) => "WhatsApp had a problem on its side",
        Some(132000..=132999) => "the template does not match what WhatsApp approved",
        Some(190) => "the access token expired: sending stopped until a restart",
        Some(100) => "WhatsApp refused the request as invalid",
        _ => return error.to_owned(),
    };
    match error_code(error) {
        Some(code) => format!("{words} (error {code})"),
        None => words.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::reason;

    #[test]
    fn known_codes_are_said_in_words_and_others_as_they_came() {
        assert_eq!(
            reason("delivery failed: error 131047"),
            "outside the 24-hour window: only a template may be sent (error 131047)"
        );
        assert_eq!(reason("connection refused"), "connection refused");
        assert_eq!(reason("error 999"), "error 999");
    }
}
