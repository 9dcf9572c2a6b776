//! Console sessions: made by signing in with a token, kept in memory.
//!
//! The cookie holds a random session id (244 bits); the server keeps, per
//! session, who signed in (the same [`Scope`] an API token gives), the
//! SHA-256 of the token used (checked again on every request, so revoking
//! a token ends its sessions), the CSRF token its forms carry, and when it
//! ends. Sessions end [`SESSION_HOURS`] after sign-in, at sign-out, on
//! revocation, and at a restart (they are not stored: signing in again is
//! pasting the token again). At most [`MAX_SESSIONS`] exist; past that the
//! oldest goes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::http::api::Scope;

/// How long a session lasts after sign-in.
pub const SESSION_HOURS: u64 = 12;
const LIFETIME: Duration = Duration::from_secs(SESSION_HOURS * 3600);
/// Sessions kept at most (each is a few hundred bytes).
const MAX_SESSIONS: usize = 10_000;

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
    /// A new session; returns its id (the cookie's value).
    pub fn start(&self, scope: Scope, token_hash: [u8; 32]) -> String {
        let id = random_id();
        let session = Session {
            scope,
            token_hash,
            csrf: random_id(),
            started: Instant::now(),
        };
        let mut map = self.0.lock().expect("sessions lock");
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.started.elapsed() < LIFETIME);
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.started)
                    .map(|(id, _)| id.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(id.clone(), session);
        id
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

/// Compares two secrets in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
