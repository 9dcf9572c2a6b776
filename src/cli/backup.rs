//! `firmhook backup DEST`: a verified, consistent copy of the database.
//!
//! Read-only on the source, so it runs beside a live server. The copy is a
//! plain redb file; restoring is copying it back over the database while
//! the server is stopped.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::DbArg;
use crate::store::{self, Snapshot};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// File to write the copy to (replaced only once the copy is verified),
    /// or a folder to write `firmhook-<UTC time>.redb` in; missing folders
    /// are created owner-only
    pub dest: PathBuf,
    #[command(flatten)]
    pub db: DbArg,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let snapshot = Snapshot::open(&args.db.path)?;
    let dest = destination(&args.dest)?;
    let done = store::backup(&snapshot.read()?, &dest)
        .with_context(|| format!("writing the backup {}", dest.display()))?;
    let t = done.totals;
    println!(
        "backup {} verified: {} firms, {} members, {} projects, {} milestones, {} bytes",
        dest.display(),
        t.firms,
        t.members,
        t.projects,
        t.milestones,
        done.bytes
    );
    Ok(())
}

/// The file a backup goes to: `dest`, or inside the folder `dest` a file
/// named by the time (`firmhook-20261208T010203Z.redb`). The folder it
/// goes in is created, owner-only, if it is missing.
fn destination(dest: &Path) -> anyhow::Result<PathBuf> {
    if dest.is_dir() {
        let now = crate::clock::Clock::system().now();
        let stamp = jiff::Timestamp::from_second(now.unix_seconds())
            .map(|t| t.strftime("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_default();
        return Ok(dest.join(format!("firmhook-{stamp}.redb")));
    }
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::private::create_dir_all(parent)
            .with_context(|| format!("creating the folder {}", parent.display()))?;
    }
    Ok(dest.to_owned())
}
