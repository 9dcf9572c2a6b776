//! Untrusted values quoted in error messages, at most [`QUOTED_CHARS`]
//! characters of them: a bad 100 MiB cell must not become a 100 MiB error
//! (DESIGN section 10).

use std::fmt;

/// The most characters of a value an error message quotes.
pub const QUOTED_CHARS: usize = 80;

/// Prints `value` as `{:?}` does, cut to [`QUOTED_CHARS`] characters on a
/// character boundary, with the full length said when it was cut:
/// `"aaaa…"… (100000 characters)`.
pub struct Clip<'a>(pub &'a str);

impl fmt::Display for Clip<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(QUOTED_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => write!(
                f,
                "{:?}… ({} characters)",
                &self.0[..cut],
                self.0.chars().count()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_quoted_in_part_with_their_length() {
        assert_eq!(Clip("abc").to_string(), "\"abc\"");
        let long = "é".repeat(100_000);
        let quoted = Clip(&long).to_string();
        assert_eq!(
            quoted,
            format!("{:?}… (100000 characters)", "é".repeat(QUOTED_CHARS))
        );
        let exact = "x".repeat(QUOTED_CHARS);
        assert_eq!(Clip(&exact).to_string(), format!("{exact:?}"));
    }
}
