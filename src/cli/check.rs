//! `firmhook check`: redb's integrity check plus our own index check.
//!
//! redb's page-level check needs the writer's lock. When another process
//! (a running server) holds it, `check` says so and runs our consistency
//! check over a read-only snapshot instead; run it again with the server
//! stopped, or check a `backup`, for the page-level check too.

use crate::cli::{DbArg, EXIT_PROBLEMS};
use crate::store::{self, Snapshot, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub db: DbArg,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let path = &args.db.path;
    if !path.exists() {
        return Err(store::Error::Missing(path.clone()).into());
    }
    let mut problems = Vec::new();
    let (totals, found) = match Store::open(path, store::DEFAULT_CACHE_BYTES) {
        Ok(mut store) => {
            if !store.check_integrity()? {
                problems.push("redb integrity check failed and repaired the file".to_owned());
            }
            store::check(&store.read()?)?
        }
        Err(store::Error::Locked(_)) => {
            println!(
                "note: another process writes {}; redb's page check skipped",
                path.display()
            );
            store::check(&Snapshot::open(path)?.read()?)?
        }
        Err(err) => return Err(err.into()),
    };
    problems.extend(found.into_iter().map(|p| p.0));
    if let Some(mode) = crate::private::exposed_mode(path)? {
        problems.push(format!(
            "{} has mode {mode:03o}: it holds names and phone numbers and should be readable \
             by its owner only (chmod 600 {})",
            path.display(),
            path.display()
        ));
    }
    println!(
        "{} firms, {} members, {} projects, {} milestones, {} index entries",
        totals.firms, totals.members, totals.projects, totals.milestones, totals.index_entries
    );
    if problems.is_empty() {
        println!("ok");
        return Ok(0);
    }
    for problem in &problems {
        println!("problem: {problem}");
    }
    println!("{} problem(s)", problems.len());
    Ok(EXIT_PROBLEMS)
}
