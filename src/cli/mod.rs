//! The command line: one `Command` enum, one `match`, one file per
//! subcommand with a `run` function. clap lives here and nowhere else.
//!
//! Flags win over environment variables (clap's `env`), which win over the
//! defaults of DESIGN section 7.

pub mod backfill;
pub mod backup;
pub mod check;
pub mod compact;
pub mod export;
pub mod import;
mod logging;
pub mod resolve;
pub mod serve;
pub mod simulate;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// `firmhook --version`: the release and the file format it writes.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (file format 4)");

/// Exit code for `check` when it finds problems.
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit code for bad usage or any error.
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "firmhook",
    version = VERSION,
    about = "One WhatsApp webhook for many firms"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where the database file is.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArg {
    /// Database file
    #[arg(long = "db", env = "FIRMHOOK_DB", default_value = "data/firmhook.redb")]
    pub path: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load firms, members, projects and milestones from CSV files (all or nothing)
    Import(import::Args),
    /// Write every record as CSV files in the import layout
    Export(export::Args),
    /// Copy legacy projects.designer_phone into members' whatsapp_phone
    Backfill(backfill::Args),
    /// Show who a phone number resolves to, pass by pass
    Resolve(resolve::Args),
    /// Write a consistent, verified copy of the database
    Backup(backup::Args),
    /// Verify the file and every index; exit 1 listing any problem
    Check(check::Args),
    /// Give free space in the file back to the filesystem (server stopped)
    Compact(compact::Args),
    /// Run the webhook server
    Serve(serve::Args),
    /// Send a signed test message to a running server and print the answer
    Simulate(simulate::Args),
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Import(args) => import::run(args).map(|()| 0),
        Command::Export(args) => export::run(args).map(|()| 0),
        Command::Backfill(args) => backfill::run(args).map(|()| 0),
        Command::Resolve(args) => resolve::run(args).map(|()| 0),
        Command::Backup(args) => backup::run(args).map(|()| 0),
        Command::Check(args) => check::run(args),
        Command::Compact(args) => compact::run(args).map(|()| 0),
        Command::Serve(args) => serve::run(args).map(|()| 0),
        Command::Simulate(args) => simulate::run(args).map(|()| 0),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_names_the_file_format_this_build_writes() {
        let format = format!("(file format {})", crate::store::FORMAT);
        assert!(super::VERSION.ends_with(&format), "{}", super::VERSION);
    }
}
