//! The redb file: every redb type in the program lives under this module.
//!
//! [`Store`] is the one writer (redb `SingleWriter` mode, so other processes
//! may open the same file read-only while it runs); [`Snapshot`] is a
//! read-only handle for `resolve`, `export`, `backup` and `check`. Both hand
//! out a [`Reader`] over one read transaction. Writes go through
//! [`Store::write`], which gives a [`Writer`] that keeps every index in the
//! same transaction as the record it indexes.

mod backup;
mod check;
mod codec;
mod outbox;
mod read;
mod tables;
mod write;

use std::path::{Path, PathBuf};

use redb::{ConcurrencyMode, Database, ReadOnlyDatabase, ReadableDatabase};

pub use backup::{Backup, backup};
pub use check::{Problem, Totals, check};
pub use outbox::{Attempt, Event, Outbound, SEEN_KEEP_SECONDS, State};
pub use read::Reader;
pub use write::{Put, Writer};

/// The page cache a writer gets unless told otherwise: small enough for a
/// 1 GB VPS, large enough to keep the indexes' upper levels hot.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database {} does not exist", .0.display())]
    Missing(PathBuf),
    #[error(
        "database {} is open for writing by another process (a running `firmhook serve`?); \
         stop it or use a read-only command",
        .0.display()
    )]
    Locked(PathBuf),
    #[error("database is damaged: {0}")]
    Corrupt(String),
    /// A write that would break an invariant (an id moving between firms,
    /// a business number claimed twice). Nothing of the transaction is kept.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Redb(#[from] redb::Error),
}

macro_rules! from_redb {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Error {
            fn from(err: $ty) -> Self {
                Error::Redb(err.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The writable database. One per file at a time, across processes.
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens `path` for writing, creating it (and its directory) if needed.
    /// Fails at once with [`Error::Locked`] if another process writes it.
    pub fn open(path: &Path, cache_bytes: usize) -> Result<Self, Error> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|err| Error::Redb(redb::StorageError::from(err).into()))?;
        }
        let db = builder(cache_bytes).create(path).map_err(|err| match err {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::Locked(path.to_owned()),
            other => other.into(),
        })?;
        Self::init(db)
    }

    /// A database that lives in memory only, for tests and benches.
    pub fn in_memory() -> Result<Self, Error> {
        // No other process can share memory: the default (exclusive) mode.
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        Self::init(db)
    }

    /// Creates every table, so readers can open them all unconditionally.
    fn init(db: Database) -> Result<Self, Error> {
        let store = Self { db };
        store.write(|_| Ok::<_, Error>(()))?;
        Ok(store)
    }

    pub fn read(&self) -> Result<Reader, Error> {
        Ok(Reader::new(self.db.begin_read()?))
    }

    /// Runs `work` in one write transaction: commits if it returns `Ok`,
    /// and leaves nothing behind if it returns `Err`.
    pub fn write<T, E: From<Error>>(
        &self,
        work: impl FnOnce(&mut Writer) -> Result<T, E>,
    ) -> Result<T, E> {
        let txn = self.db.begin_write().map_err(Error::from)?;
        let result = {
            let mut writer = Writer::open(&txn)?;
            work(&mut writer)
        };
        match result {
            Ok(value) => {
                txn.commit().map_err(Error::from)?;
                Ok(value)
            }
            Err(err) => {
                txn.abort().map_err(Error::from)?;
                Err(err)
            }
        }
    }

    /// Runs `work` in one write transaction and then throws it away, for
    /// `--dry-run`: every check a real write makes, nothing kept.
    pub fn rehearse<T, E: From<Error>>(
        &self,
        work: impl FnOnce(&mut Writer) -> Result<T, E>,
    ) -> Result<T, E> {
        let txn = self.db.begin_write().map_err(Error::from)?;
        let result = {
            let mut writer = Writer::open(&txn)?;
            work(&mut writer)
        };
        txn.abort().map_err(Error::from)?;
        result
    }

    /// Gives the file's free pages back to the filesystem (after a large
    /// import, a third of a fresh file can be free space). Needs no other
    /// transaction open in this process.
    pub fn compact(&mut self) -> Result<(), Error> {
        while self.db.compact().map_err(|err| Error::Redb(err.into()))? {}
        Ok(())
    }

    /// redb's own check of the file: page checksums and allocator state.
    pub fn check_integrity(&mut self) -> Result<bool, Error> {
        Ok(self.db.check_integrity()?)
    }
}

/// A read-only handle that may share the file with a running writer.
pub struct Snapshot {
    db: ReadOnlyDatabase,
}

impl Snapshot {
    pub fn open(path: &Path) -> Result<Self, Error> {
        if !path.exists() {
            return Err(Error::Missing(path.to_owned()));
        }
        let db = builder(DEFAULT_CACHE_BYTES).open_read_only(path)?;
        Ok(Self { db })
    }

    pub fn read(&self) -> Result<Reader, Error> {
        Ok(Reader::new(self.db.begin_read()?))
    }
}

fn builder(cache_bytes: usize) -> redb::Builder {
    let mut builder = Database::builder();
    builder
        .set_cache_size(cache_bytes)
        .set_concurrency_mode(ConcurrencyMode::SingleWriter);
    builder
}
