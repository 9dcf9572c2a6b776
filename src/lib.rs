//! firmhook: one WhatsApp webhook serving many firms from one redb file.
//!
//! Layout: `domain` holds validated plain types; `resolve` is the pure
//! resolver (who is speaking), which reads through the [`resolve::Directory`]
//! trait and never touches storage itself; `store` owns every redb type and
//! implements that trait; `cli` has one file per subcommand. See
//! ARCHITECTURE.md for the invariants.

pub mod app;
pub mod cli;
pub mod command;
pub mod demo;
pub mod domain;
pub mod flow;
pub mod http;
pub mod import;
pub mod metrics;
pub mod notify;
pub mod private;
pub mod push;
pub mod resolve;
pub mod sender;
pub mod store;
pub mod tls;
pub mod whatsapp;
pub mod writer;
