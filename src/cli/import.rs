//! `firmhook import DIR`: load a directory of CSV files into the database
//! through the import engine ([`crate::import`]), offline.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cli::DbArg;
use crate::import::{ImportError, Mode, Options, import_dir, project_statuses};
use crate::store::{self, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory with firms.csv, firm_members.csv, projects.csv, milestones.csv
    pub dir: PathBuf,
    #[command(flatten)]
    pub db: DbArg,
    /// Check every row against the database, write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// An import that writes at least this many rows compacts the file after.
const COMPACT_AFTER_ROWS: u64 = 100_000;

pub fn run(args: Args) -> anyhow::Result<()> {
    let statuses = project_statuses();
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Apply
    };
    // A dry run against a database that does not exist yet checks against
    // an empty one instead of creating the file.
    let existed = args.db.path.exists();
    let mut store = if mode == Mode::DryRun && !existed {
        Store::in_memory()?
    } else {
        Store::open(&args.db.path, store::DEFAULT_CACHE_BYTES)?
    };
    let options = Options {
        progress: std::io::stderr().is_terminal(),
        ..Options::new(mode, &statuses)
    };
    let started = Instant::now();
    let report = match import_dir(&store, &args.dir, &options) {
        Ok(report) => report,
        Err(err) => {
            if !existed && mode == Mode::Apply {
                // Leave no empty database behind where there was none.
                drop(store);
                let _ = std::fs::remove_file(&args.db.path);
            }
            return Err(failure(err, &args.dir));
        }
    };
    for warning in &report.warnings {
        eprintln!("{warning}");
    }
    print!("{report}");
    let changed = report
        .files
        .iter()
        .map(|(_, c)| c.inserted + c.updated)
        .sum::<u64>();
    if mode == Mode::Apply && changed >= COMPACT_AFTER_ROWS {
        store.compact()?;
    }
    let verb = match mode {
        Mode::Apply => "imported",
        Mode::DryRun => "checked (dry run, nothing written)",
    };
    println!(
        "{verb} {} rows in {:.1}s",
        report.rows(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Prints every row error on stderr; the error says how many and that
/// nothing was written.
fn failure(err: ImportError, dir: &Path) -> anyhow::Error {
    match err {
        ImportError::Invalid(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            anyhow::anyhow!(
                "{} error(s) in {}; nothing was written",
                errors.len(),
                dir.display()
            )
        }
        ImportError::Store(err) => err.into(),
    }
}
