//! firmhook: one WhatsApp webhook serving many firms from one redb file.
//!
//! Layout: `domain` holds validated plain types; `resolve` is the pure
//! resolver (who is speaking), which reads through the [`resolve::Directory`]
//! trait and never touches storage itself; `store` owns every redb type and
//! implements that trait; `cli` has one file per subcommand. See
//! ARCHITECTURE.md for the invariants.

pub mod cli;
pub mod domain;
pub mod flow;
pub mod resolve;
pub mod store;
pub mod whatsapp;
