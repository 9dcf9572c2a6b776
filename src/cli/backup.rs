//! `firmhook backup DEST`: a verified, consistent copy of the database.
//!
//! Read-only on the source, so it runs beside a live server. The copy is a
//! plain redb file; restoring is copying it back over the database while
//! the server is stopped.

use std::path::PathBuf;

use crate::cli::DbArg;
use crate::store::{self, Snapshot};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// File to write the copy to (replaced only once the copy is verified)
    pub dest: PathBuf,
    #[command(flatten)]
    pub db: DbArg,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let snapshot = Snapshot::open(&args.db.path)?;
    let done = store::backup(&snapshot.read()?, &args.dest)?;
    let t = done.totals;
    println!(
        "backup {} verified: {} firms, {} members, {} projects, {} milestones, {} bytes",
        args.dest.display(),
        t.firms,
        t.members,
        t.projects,
        t.milestones,
        done.bytes
    );
    Ok(())
}
