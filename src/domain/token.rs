//! A firm's API token as stored: never the token itself, only its SHA-256.

use serde::{Deserialize, Serialize};

use super::{FirmId, Timestamp, TokenId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    #[serde(skip)]
    pub firm: FirmId,
    #[serde(skip)]
    pub id: TokenId,
    pub label: String,
    /// SHA-256 of the token's text.
    pub hash: [u8; 32],
    pub created_at: Timestamp,
    pub last_used: Option<Timestamp>,
}
