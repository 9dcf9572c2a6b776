//! firmhook: one WhatsApp webhook serving many firms from one redb file.
//!
//! Layout: `domain` holds validated plain types; `resolve` is the pure
//! resolver (who is speaking), which reads through the [`resolve::Directory`]
//! trait and never touches storage itself; `store` owns every redb type and
//! implements that trait; `cli` has one file per subcommand. See
//! ARCHITECTURE.md for the invariants.

pub mod app;
pub mod cli;
pub mod clock;
pub mod command;
pub mod config;
pub mod demo;
pub mod domain;
pub mod flow;
pub mod http;
pub mod import;
pub mod metrics;
pub mod mutation;
pub mod notify;
pub mod private;
pub mod push;
pub mod resolve;
pub mod retry;
pub mod sender;
pub mod store;
pub mod tls;
pub mod whatsapp;
pub mod writer;

/// mimalloc: the writer and the HTTP workers allocate small, short-lived
/// buffers on every delivery, which it serves faster than the system
/// allocator (ARCHITECTURE.md, "Where the writer's time goes").
/// Off for the fuzz targets, whose sanitizers must see every allocation.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
