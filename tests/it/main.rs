//! The one integration-test binary: every module runs against real parts
//! (a redb file or in-memory database, the real `firmhook` binary).

mod acme;
mod api;
mod api_crash;
mod api_isolation;
mod commands;
mod concurrency;
mod console;
mod console_browser;
mod crash;
mod deploy;
mod docs;
mod door;
mod fixture_file;
mod flow;
mod hooks;
mod hostile;
mod identity;
mod import;
mod isolation;
mod language;
mod meta_errors;
mod one_write_path;
mod parsers;
mod replay;
mod resolve;
mod retention;
mod security;
mod server;
mod soak;
mod storage;
mod support;
mod tls;
mod window;
