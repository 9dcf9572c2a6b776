//! Logs through tracing: `FIRMHOOK_LOG` is the filter (default `info`),
//! `FIRMHOOK_LOG_FORMAT=json` writes JSON lines. Message bodies are logged
//! at debug level only. Text logs are coloured only on a terminal, and
//! never when `NO_COLOR` is set: a file or journald gets plain text.

use std::ffi::OsStr;
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("FIRMHOOK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("FIRMHOOK_LOG_FORMAT").is_ok_and(|f| f == "json");
    let ansi = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Whether to colour: on a terminal, unless `NO_COLOR` is set to anything
/// but the empty string (<https://no-color.org>).
fn colour(terminal: bool, no_color: Option<&OsStr>) -> bool {
    terminal && no_color.is_none_or(OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
    }
}
