//! The server's configuration from the environment, read in one place and
//! checked at start: every bad value is named, all at once, before
//! anything runs. (`cli/serve.rs` adds the flags, which win.)
//!
//! [`VARIABLES`] lists every variable with its default; `serve --help`,
//! `serve --print-config` and docs/operations.md are checked against it.

use std::fmt::Write as _;
use std::time::Duration;

use crate::domain::BusinessNumber;
use crate::whatsapp::signature::Secret;

/// One variable the server reads.
pub struct Variable {
    pub name: &'static str,
    /// Its default, as docs/operations.md writes it (empty: none).
    pub default: &'static str,
}

/// Every variable `serve` reads, flags' own ones included.
pub const VARIABLES: &[Variable] = &[
    var("FIRMHOOK_DB", "data/firmhook.redb"),
    var("FIRMHOOK_LISTEN", "127.0.0.1:8080"),
    var("FIRMHOOK_METRICS_LISTEN", ""),
    var("WHATSAPP_APP_SECRET", ""),
    var("WHATSAPP_VERIFY_TOKEN", ""),
    var("WHATSAPP_ACCESS_TOKEN", ""),
    var("WHATSAPP_GRAPH_URL", GRAPH_URL),
    var("WHATSAPP_PHONE_NUMBER_ID", ""),
    var("FIRMHOOK_ADMIN_TOKEN", ""),
    var("FIRMHOOK_LOG", "info"),
    var("FIRMHOOK_LOG_FORMAT", "text"),
    var("FIRMHOOK_CACHE_MB", "64"),
    var(
        "FIRMHOOK_PROJECT_STATUSES",
        "Lead,Design,Active,On Hold,Completed",
    ),
    var("FIRMHOOK_BODY_MEMORY_MB", "64"),
    var("FIRMHOOK_BODY_TIMEOUT_SECS", "30"),
    var("FIRMHOOK_IMPORT_LIMIT_MB", "256"),
    var("FIRMHOOK_IMPORT_TIMEOUT_SECS", "600"),
    var("FIRMHOOK_MAX_CONN_PER_IP", "64"),
    var("FIRMHOOK_RETAIN_DAYS", "90"),
    var("FIRMHOOK_EVENTS_RETAIN_DAYS", "365"),
    var("FIRMHOOK_FIRM_RECORDS_MAX", "1000000"),
    var("FIRMHOOK_STRANGER_NOTIFICATIONS_PER_DAY", "1000"),
    var("FIRMHOOK_ALLOW_PRIVATE_HOOKS", ""),
    var("FIRMHOOK_TLS_CERT", ""),
    var("FIRMHOOK_TLS_KEY", ""),
    var("FIRMHOOK_TLS_RELOAD_SECS", "2"),
    var("FIRMHOOK_TLS_HANDSHAKE_TIMEOUT_SECS", "10"),
    var("FIRMHOOK_ACME_DOMAINS", ""),
    var("FIRMHOOK_ACME_EMAIL", ""),
    var("FIRMHOOK_ACME_DIRECTORY", "Let's Encrypt production"),
    var("FIRMHOOK_ACME_CA", ""),
];

const fn var(name: &'static str, default: &'static str) -> Variable {
    Variable { name, default }
}

/// The Graph API, unless `WHATSAPP_GRAPH_URL` says otherwise.
pub const GRAPH_URL: &str = "https://graph.facebook.com/v25.0";
/// The shortest operator token accepted outside `--dev`.
pub const MIN_ADMIN_TOKEN: usize = 32;

/// What the environment says, checked.
pub struct Settings {
    pub app_secret: Option<Secret>,
    pub verify_token: Option<Secret>,
    pub access_token: Option<Secret>,
    pub graph_url: String,
    pub shared_number: Option<BusinessNumber>,
    pub admin_token: Option<Secret>,
    pub cache_bytes: usize,
    pub limits: crate::http::Limits,
    pub retention: crate::store::Retention,
    pub records_max: u64,
    pub strangers_per_day: u32,
    pub allow_private_hooks: bool,
    pub tls_reload: Option<Duration>,
    pub tls_handshake: Option<Duration>,
    pub acme_ca: Option<std::path::PathBuf>,
}

impl Settings {
    /// Reads every variable; `Err` lists every bad value.
    pub fn read(dev: bool) -> Result<Self, Vec<String>> {
        Self::from(|name| std::env::var(name).ok(), dev)
    }

    /// Reads the variables from `get` (the environment, or a test's map).
    pub fn from(get: impl Fn(&str) -> Option<String>, dev: bool) -> Result<Self, Vec<String>> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mut problems = Vec::new();
        let mut number = |name: &str| -> Option<u64> {
            let text = get(name)?;
            match text.trim().parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    problems.push(format!("{name} {text:?} is not a whole number"));
                    None
                }
            }
        };
        let cache_mb = number("FIRMHOOK_CACHE_MB");
        let body_memory_mb = number("FIRMHOOK_BODY_MEMORY_MB");
        let import_limit_mb = number("FIRMHOOK_IMPORT_LIMIT_MB");
        let body_timeout = number("FIRMHOOK_BODY_TIMEOUT_SECS");
        let per_address = number("FIRMHOOK_MAX_CONN_PER_IP");
        let import_timeout = number("FIRMHOOK_IMPORT_TIMEOUT_SECS");
        let retain_days = number("FIRMHOOK_RETAIN_DAYS");
        let events_days = number("FIRMHOOK_EVENTS_RETAIN_DAYS");
        let records_max = number("FIRMHOOK_FIRM_RECORDS_MAX");
        let strangers = number("FIRMHOOK_STRANGER_NOTIFICATIONS_PER_DAY");
        let tls_reload = number("FIRMHOOK_TLS_RELOAD_SECS");
        let tls_handshake = number("FIRMHOOK_TLS_HANDSHAKE_TIMEOUT_SECS");

        let shared_number = get("WHATSAPP_PHONE_NUMBER_ID").and_then(|text| {
            let parsed = BusinessNumber::parse(&text);
            if parsed.is_none() {
                problems.push(format!(
                    "WHATSAPP_PHONE_NUMBER_ID {text:?} is not a phone_number_id (digits only)"
                ));
            }
            parsed
        });
        let admin_token = get("FIRMHOOK_ADMIN_TOKEN");
        if let Some(token) = &admin_token
            && token.chars().count() < MIN_ADMIN_TOKEN
        {
            if dev {
                // Production refuses it; a dev server says so.
                tracing::warn!(
                    "FIRMHOOK_ADMIN_TOKEN has {} characters: serve without --dev refuses \
                     fewer than {MIN_ADMIN_TOKEN} (`openssl rand -hex 32` makes one)",
                    token.chars().count()
                );
            } else {
                problems.push(format!(
                    "FIRMHOOK_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN} characters \
                     (`openssl rand -hex 32` makes one)"
                ));
            }
        }
        let strangers_per_day = match strangers.map(u32::try_from) {
            None => crate::writer::DEFAULT_STRANGERS_PER_DAY,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                problems.push("FIRMHOOK_STRANGER_NOTIFICATIONS_PER_DAY is too large".into());
                0
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }

        let mut limits = crate::http::Limits::default();
        if let Some(mb) = body_memory_mb {
            limits.memory = (mb.max(4) as usize) << 20;
        }
        if let Some(mb) = import_limit_mb {
            limits.import = mb.max(1) << 20;
        }
        if let Some(secs) = body_timeout {
            limits.deadline = Duration::from_secs(secs.max(1));
        }
        if let Some(n) = per_address {
            limits.per_address = n as usize;
        }
        if let Some(secs) = import_timeout {
            limits.import_deadline = Duration::from_secs(secs.max(1));
        }
        let mut retention = crate::store::Retention::default();
        if let Some(days) = retain_days {
            retention.messages = days.max(1) as i64 * crate::store::DAY;
        }
        if let Some(days) = events_days {
            retention.events = days.max(1) as i64 * crate::store::DAY;
        }
        let secret = |name: &str| get(name).map(Secret::new);
        Ok(Self {
            app_secret: secret("WHATSAPP_APP_SECRET"),
            verify_token: secret("WHATSAPP_VERIFY_TOKEN"),
            access_token: secret("WHATSAPP_ACCESS_TOKEN"),
            graph_url: get("WHATSAPP_GRAPH_URL").unwrap_or_else(|| GRAPH_URL.to_owned()),
            shared_number,
            admin_token: admin_token.map(Secret::new),
            cache_bytes: cache_mb
                .map_or(crate::store::DEFAULT_CACHE_BYTES, |mb| (mb as usize) << 20),
            limits,
            retention,
            records_max: records_max.unwrap_or(crate::app::DEFAULT_RECORDS_MAX),
            strangers_per_day,
            allow_private_hooks: get("FIRMHOOK_ALLOW_PRIVATE_HOOKS").as_deref() == Some("1"),
            tls_reload: tls_reload.map(|s| Duration::from_secs(s.max(1))),
            tls_handshake: tls_handshake.map(|s| Duration::from_secs(s.max(1))),
            acme_ca: get("FIRMHOOK_ACME_CA").map(std::path::PathBuf::from),
        })
    }
}

/// The resolved configuration as `serve --print-config` shows it: every
/// setting, secrets only as set or not.
pub fn describe(options: &crate::app::Options, listen: std::net::SocketAddr) -> String {
    let set = |secret: bool| if secret { "(set)" } else { "(not set)" };
    let mut out = String::new();
    let mut line = |name: &str, value: String| {
        let _ = writeln!(out, "{name:<40} {value}");
    };
    line(
        "mode",
        if options.dev { "dev" } else { "production" }.into(),
    );
    line("FIRMHOOK_DB", options.db.display().to_string());
    line("FIRMHOOK_LISTEN", listen.to_string());
    line(
        "FIRMHOOK_METRICS_LISTEN",
        options
            .metrics_listen
            .map_or_else(|| "(none)".into(), |a| a.to_string()),
    );
    line("WHATSAPP_APP_SECRET", set(true).into());
    line("WHATSAPP_VERIFY_TOKEN", set(true).into());
    let graph = match &options.transport {
        crate::sender::Transport::Graph { base, .. } => base.clone(),
        crate::sender::Transport::Dev => "(dev: replies kept, not sent)".into(),
    };
    line(
        "WHATSAPP_ACCESS_TOKEN",
        set(matches!(
            options.transport,
            crate::sender::Transport::Graph { .. }
        ))
        .into(),
    );
    line("WHATSAPP_GRAPH_URL", graph);
    line(
        "WHATSAPP_PHONE_NUMBER_ID",
        options
            .shared_number
            .clone()
            .unwrap_or_else(|| "(none)".into()),
    );
    line(
        "FIRMHOOK_ADMIN_TOKEN",
        set(options.admin_token.is_some()).into(),
    );
    line("FIRMHOOK_CACHE_MB", (options.cache_bytes >> 20).to_string());
    line("FIRMHOOK_PROJECT_STATUSES", options.statuses.join(","));
    line(
        "FIRMHOOK_BODY_MEMORY_MB",
        (options.limits.memory >> 20).to_string(),
    );
    line(
        "FIRMHOOK_BODY_TIMEOUT_SECS",
        options.limits.deadline.as_secs().to_string(),
    );
    line(
        "FIRMHOOK_IMPORT_LIMIT_MB",
        (options.limits.import >> 20).to_string(),
    );
    line(
        "FIRMHOOK_IMPORT_TIMEOUT_SECS",
        options.limits.import_deadline.as_secs().to_string(),
    );
    line(
        "FIRMHOOK_MAX_CONN_PER_IP",
        options.limits.per_address.to_string(),
    );
    line(
        "FIRMHOOK_RETAIN_DAYS",
        (options.retention.messages / crate::store::DAY).to_string(),
    );
    line(
        "FIRMHOOK_EVENTS_RETAIN_DAYS",
        (options.retention.events / crate::store::DAY).to_string(),
    );
    line("FIRMHOOK_FIRM_RECORDS_MAX", options.records_max.to_string());
    line(
        "FIRMHOOK_STRANGER_NOTIFICATIONS_PER_DAY",
        options.strangers_per_day.to_string(),
    );
    line(
        "FIRMHOOK_ALLOW_PRIVATE_HOOKS",
        (options.hooks_reach == crate::push::Reach::Private).to_string(),
    );
    line(
        "TLS",
        match &options.tls {
            None => "(none: plain HTTP)".into(),
            Some(tls) => tls.describe(),
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every bad value is named at once, before anything starts.
    #[test]
    fn every_bad_value_is_named_at_once() {
        let env = |name: &str| match name {
            "FIRMHOOK_CACHE_MB" => Some("lots".to_owned()),
            "FIRMHOOK_RETAIN_DAYS" => Some("-3".to_owned()),
            "WHATSAPP_PHONE_NUMBER_ID" => Some("+44 7911".to_owned()),
            "FIRMHOOK_ADMIN_TOKEN" => Some("short".to_owned()),
            _ => None,
        };
        let Err(problems) = Settings::from(env, false) else {
            panic!("accepted");
        };
        assert_eq!(
            problems,
            [
                "FIRMHOOK_CACHE_MB \"lots\" is not a whole number",
                "FIRMHOOK_RETAIN_DAYS \"-3\" is not a whole number",
                "WHATSAPP_PHONE_NUMBER_ID \"+44 7911\" is not a phone_number_id (digits only)",
                "FIRMHOOK_ADMIN_TOKEN must be at least 32 characters (`openssl rand -hex 32` \
                 makes one)",
            ]
        );
        // In dev a short token is a warning, not a refusal.
        let dev = Settings::from(
            |name| (name == "FIRMHOOK_ADMIN_TOKEN").then(|| "short".to_owned()),
            true,
        );
        assert!(dev.is_ok());
    }

    #[test]
    fn defaults_are_what_variables_says() {
        let settings = Settings::from(|_| None, false).ok().unwrap();
        assert_eq!(settings.graph_url, GRAPH_URL);
        assert_eq!(settings.limits.per_address, 64);
        assert_eq!(settings.retention.messages / crate::store::DAY, 90);
        assert_eq!(settings.records_max, 1_000_000);
        let default = |name: &str| VARIABLES.iter().find(|v| v.name == name).unwrap().default;
        assert_eq!(default("FIRMHOOK_MAX_CONN_PER_IP"), "64");
        assert_eq!(default("FIRMHOOK_RETAIN_DAYS"), "90");
        assert_eq!(
            (settings.cache_bytes >> 20).to_string(),
            default("FIRMHOOK_CACHE_MB")
        );
        assert_eq!(
            (settings.limits.memory >> 20).to_string(),
            default("FIRMHOOK_BODY_MEMORY_MB")
        );
        assert_eq!(
            settings.limits.deadline.as_secs().to_string(),
            default("FIRMHOOK_BODY_TIMEOUT_SECS")
        );
        assert_eq!(
            settings.limits.import_deadline.as_secs().to_string(),
            default("FIRMHOOK_IMPORT_TIMEOUT_SECS")
        );
    }
}
