//! Logs through tracing: `FIRMHOOK_LOG` is the filter (default `info`),
//! `FIRMHOOK_LOG_FORMAT=json` writes JSON lines. Message bodies are logged
//! at debug level only.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("FIRMHOOK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("FIRMHOOK_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
