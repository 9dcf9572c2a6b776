//! Who is asking: the operator (`FIRMHOOK_ADMIN_TOKEN`) or one firm (a
//! token the operator created, stored as its SHA-256 only).
//!
//! The token comes from `Authorization: Bearer …` and nowhere else (a
//! token in a query string ends up in logs). A [`FirmScope`] can only be
//! made here, after the token was checked against the firm in the path;
//! handlers of firm data take one, so none can forget the check. Outside
//! its firm a token gets 404, never 403: existence is not disclosed.

use std::sync::atomic::Ordering::Relaxed;

use hyper::header::AUTHORIZATION;
use hyper::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::command::Command;
use crate::domain::{FirmId, TokenId};
use crate::http::Door;

/// How often a token's last-used time is written at most.
const TOUCH_EVERY_SECONDS: i64 = 60;

/// Who the request is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Operator,
    Firm { firm: FirmId, token: TokenId },
}

/// Proof that the request may read and change one firm's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmScope {
    firm: FirmId,
    /// Whether the operator asked (who may see every firm).
    by_operator: bool,
}

impl FirmScope {
    pub fn firm(&self) -> FirmId {
        self.firm
    }

    /// A refused change as this scope may hear of it: to a firm token, an
    /// id of another firm answers exactly as an unknown one (404), so a
    /// firm cannot learn which ids exist elsewhere (DESIGN section 10);
    /// the operator hears the conflict (409).
    pub fn refusal(&self, err: crate::writer::ChangeError) -> ApiError {
        use crate::command::CommandError;
        use crate::writer::ChangeError;
        match err {
            ChangeError::Rejected(CommandError::Conflict(_)) if !self.by_operator => {
                ApiError::not_found()
            }
            other => other.into(),
        }
    }
}

impl Scope {
    /// The scope of `requested`, if this token may see it; 404 otherwise.
    pub fn firm(&self, requested: FirmId) -> Result<FirmScope, ApiError> {
        match self {
            Scope::Operator => Ok(FirmScope {
                firm: requested,
                by_operator: true,
            }),
            // Mutation `firm_scope`: a firm token let into every firm.
            Scope::Firm { firm, .. } if *firm == requested || crate::mutation::on("firm_scope") => {
                Ok(FirmScope {
                    firm: requested,
                    by_operator: false,
                })
            }
            Scope::Firm { .. } => Err(ApiError::not_found()),
        }
    }

    /// Only the operator may go on; a firm token gets 404.
    pub fn operator(&self) -> Result<(), ApiError> {
        match self {
            Scope::Operator => Ok(()),
            Scope::Firm { .. } => Err(ApiError::not_found()),
        }
    }

    /// The firm a firm token is limited to.
    pub fn limited_to(&self) -> Option<FirmId> {
        match self {
            Scope::Operator => None,
            Scope::Firm { firm, .. } => Some(*firm),
        }
    }
}

/// SHA-256 of a token's text: what the store keeps.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub async fn authorize(door: &Door, headers: &HeaderMap) -> Result<Scope, ApiError> {
    scope_of(door, bearer(headers)).await
}

/// The token of an `Authorization: Bearer …` header, if there is one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Whether a session started with the token of SHA-256 `token_hash` for
/// `scope` may still go on: the operator token is unchanged, or the firm
/// token is not revoked.
pub fn still_valid(door: &Door, scope: &Scope, token_hash: &[u8; 32]) -> Result<bool, ApiError> {
    Ok(match scope {
        Scope::Operator => door
            .state
            .admin_token
            .as_ref()
            .is_some_and(|admin| hash(admin.expose()) == *token_hash),
        Scope::Firm { firm, token } => door
            .state
            .store
            .read()?
            .token_by_hash(token_hash)?
            .is_some_and(|found| found.firm == *firm && found.id == *token),
    })
}

/// The scope of a token, wherever it came from (a bearer header, the
/// console's sign-in form); `None` or an unknown token is 401.
pub async fn scope_of(door: &Door, token: Option<&str>) -> Result<Scope, ApiError> {
    let state = &door.state;
    let refuse = |why: &str| {
        state.metrics.api_auth_failures.fetch_add(1, Relaxed);
        tracing::info!(reason = why, "authentication failed");
        ApiError::unauthorized()
    };
    let Some(token) = token else {
        return Err(refuse("no bearer token"));
    };
    // Guessing tokens is slow: an address that failed too often waits.
    if !door.client.may_authenticate() {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many failed sign-ins or unknown tokens from this address; wait a minute",
        ));
    }
    if let Some(admin) = &state.admin_token
        && admin.matches(token.as_bytes())
    {
        return Ok(Scope::Operator);
    }
    let found = state.store.read()?.token_by_hash(&hash(token))?;
    let Some(found) = found else {
        door.client.authentication_failed();
        return Err(refuse("unknown token"));
    };
    let now = state.clock.now();
    let stale = found
        .last_used
        .is_none_or(|at| now.unix_seconds() - at.unix_seconds() >= TOUCH_EVERY_SECONDS);
    if stale {
        // Recorded in the background: a read need not wait for a commit.
        let writer = state.writer.clone();
        let (firm, token) = (found.firm, found.id);
        tokio::spawn(async move {
            let _ = writer
                .change(Command::TouchToken {
                    firm,
                    token,
                    at: now,
                })
                .await;
        });
    }
    Ok(Scope::Firm {
        firm: found.firm,
        token: found.id,
    })
}
