//! Console sessions: made by signing in with a token, kept in memory.
//!
//! The cookie holds a random session id (244 bits); the server keeps, per
//! session, who signed in (the same [`Scope`] an API token gives), the
//! SHA-256 of the token used (checked again on every request, so revoking
//! a token ends its sessions), the CSRF token its forms carry, and when it
//! ends. Sessions end [`SESSION_HOURS`] after sign-in, at sign-out, on
//! revocation, and at a restart (they are not stored: signing in again is
//! pasting the token again). One token has at most [`MAX_PER_TOKEN`]
//! sessions (its own oldest goes past that), and at most [`MAX_SESSIONS`]
//! exist: a sign-in past that is refused, so no token's sign-ins end
//! another's sessions.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::http::api::Scope;

/// How long a session lasts after sign-in.
pub const SESSION_HOURS: u64 = 12;
const LIFETIME: Duration = Duration::from_secs(SESSION_HOURS * 3600);
/// Sessions kept at most (each is a few hundred bytes).
const MAX_SESSIONS: usize = 10_000;
/// Sessions one token may have at once: past it, that token's own oldest
/// session ends, never another token's (DESIGN section 10).
pub const MAX_PER_TOKEN: usize = 20;

#[derive(Debug, Clone)]
pub struct Session {
    pub scope: Scope,
    /// SHA-256 of the token signed in with.
    pub token_hash: [u8; 32],
    /// What every form of this session carries.
    pub csrf: String,
    pub started: Instant,
}

#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

/// 244 random bits, as 64 hex digits.
pub fn random_id() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{b}")
}

impl Sessions {
    /// A new session; returns its id (the cookie's value), or `None` when
    /// every session slot is taken by live sessions of other tokens.
    pub fn start(&self, scope: Scope, token_hash: [u8; 32]) -> Option<String> {
        let id = random_id();
        let session = Session {
            scope,
            token_hash,
            csrf: random_id(),
            started: Instant::now(),
        };
        let mut map = self.0.lock().expect("sessions lock");
        let own = |map: &HashMap<String, Session>| {
            map.iter()
                .filter(|(_, s)| s.token_hash == token_hash)
                .map(|(id, s)| (id.clone(), s.started))
                .collect::<Vec<_>>()
        };
        let mut mine = own(&map);
        if mine.len() >= MAX_PER_TOKEN {
            mine.sort_by_key(|(_, started)| *started);
            for (id, _) in &mine[..=mine.len() - MAX_PER_TOKEN] {
                map.remove(id);
            }
        }
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.started.elapsed() < LIFETIME);
            if map.len() >= MAX_SESSIONS {
                return None;
            }
        }
        map.insert(id.clone(), session);
        Some(id)
    }

    /// The live session with this id, if any.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.0.lock().expect("sessions lock");
        match map.get(id) {
            Some(session) if session.started.elapsed() < LIFETIME => Some(session.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, id: &str) {
        self.0.lock().expect("sessions lock").remove(id);
    }
}

/// The sign-in form's CSRF token: a random nonce and its HMAC under a key
/// this process drew at start. The double-submit cookie alone would take
/// any value an attacker could plant in the browser; this one must also
/// have been issued by this server.
pub fn sign_in_token() -> String {
    let nonce = random_id();
    let mac = sign_in_mac(&nonce);
    format!("{nonce}.{mac}")
}

/// Whether `token` was issued by [`sign_in_token`] in this process.
pub fn sign_in_token_valid(token: &str) -> bool {
    token
        .split_once('.')
        .is_some_and(|(nonce, mac)| same(&sign_in_mac(nonce), mac))
}

fn sign_in_mac(nonce: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(random_id);
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(nonce.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
