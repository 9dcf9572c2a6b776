//! WhatsApp Cloud API edges: the webhook signature, the inbound payload,
//! outbound message builders (every length and count limit enforced here)
//! and the Graph API client.

pub mod inbound;
pub mod outbound;
pub mod signature;
