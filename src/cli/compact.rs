//! `firmhook compact`: gives the file's free pages back to the filesystem,
//! with the server stopped (it needs the file to itself), and reports the
//! size before and after.

use crate::cli::DbArg;
use crate::store::{self, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub db: DbArg,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let path = &args.db.path;
    if !path.exists() {
        return Err(store::Error::Missing(path.clone()).into());
    }
    let size = || std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let before = size();
    {
        let mut store = Store::open(path, store::DEFAULT_CACHE_BYTES)?;
        store.compact()?;
    }
    let after = size();
    println!(
        "compacted {}: {} → {} ({} freed)",
        path.display(),
        bytes(before),
        bytes(after),
        bytes(before.saturating_sub(after))
    );
    Ok(())
}

fn bytes(n: u64) -> String {
    if n >= 10 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{} KiB", n >> 10)
    }
}
