//! The redb file: every redb type in the program lives under this module.
//!
//! [`Store`] is the one writer (redb `SingleWriter` mode, so other processes
//! may open the same file read-only while it runs); [`Snapshot`] is a
//! read-only handle for `resolve`, `export`, `backup` and `check`. Both hand
//! out a [`Reader`] over one read transaction. Writes go through
//! [`Store::write`], which gives a [`Writer`] that keeps every index in the
//! same transaction as the record it indexes.

mod admin;
mod backup;
mod check;
mod codec;
mod faulty;
mod layouts;
mod outbox;
mod read;
mod retention;
mod stored;
mod tables;
mod window;
mod write;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use redb::{ConcurrencyMode, Database, ReadOnlyDatabase, ReadableDatabase};

pub use admin::{EXAMINED_MAX, Page, PushResult, Refusal};
pub use backup::{Backup, backup};
pub use check::{Problem, Totals, check};
pub use outbox::{
    Attempt, Event, Link, Outbound, SEEN_KEEP_SECONDS, SendError, State, WINDOW_CLOSED, wamid_key,
};
pub use read::Reader;
pub use retention::{Cursor as RetentionCursor, DAY, Pruned, Retention};
pub use stored::error_code;
pub use write::{Put, Writer};

/// The file format this build writes: raised whenever a stored layout
/// gains a version (2: firm language, outbox purpose; 3: a seen log of
/// hashed wamids; 4: that log one row per commit, and an outbox row names
/// its firm). Older files are read
/// and upgraded row by row; a newer file is refused, never misread.
pub const FORMAT: u32 = 4;

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
    #[error(
        "database {} was not closed cleanly and needs recovery, which a read-only open cannot do; \
         start the server or run `firmhook check` (either recovers it) first",
        .0.display()
    )]
    NeedsRecovery(PathBuf),
    /// An I/O error closed the database and opening it again failed so far.
    #[error("database is closed after an I/O error and could not be opened again yet")]
    Closed,
    #[error(
        "database was written by a newer firmhook (file format {found}; this build reads up to \
         {FORMAT}): upgrade firmhook, or restore a backup made by this version"
    )]
    NewerFormat { found: u32 },
    /// A write that would break an invariant (an id moving between firms,
    /// a business number claimed twice). Nothing of the transaction is kept.
    #[error("{0}")]
    Conflict(String),
    /// A firm at its quota (DESIGN section 10). Nothing of the
    /// transaction is kept.
    #[error("{0}")]
    Quota(String),
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
///
/// After an I/O error redb refuses further work until the file is closed and
/// opened again; [`Store::reopen`] does that in place, so the writer thread
/// recovers by itself once the disk takes writes again.
pub struct Store {
    /// `None` after a failed reopen: every operation fails (and retries the
    /// reopen) until the file can be opened again.
    db: RwLock<Option<Database>>,
    /// Opens the same file again (for `reopen`); `None` in memory.
    opener: Option<Opener>,
    /// The shared business number (`WHATSAPP_PHONE_NUMBER_ID`), which no
    /// firm may have as its own; 0: none.
    shared_number: std::sync::atomic::AtomicU64,
    /// Members, projects and milestones one firm may have; 0: no quota.
    records_max: std::sync::atomic::AtomicU64,
}

type Opener = Box<dyn Fn() -> Result<Database, Error> + Send + Sync>;

impl Store {
    /// Opens `path` for writing, creating it (and its directory) if needed.
    /// Fails at once with [`Error::Locked`] if another process writes it.
    /// A new file (and any new directory) is readable by its owner only.
    pub fn open(path: &Path, cache_bytes: usize) -> Result<Self, Error> {
        create_private(path)?;
        let path = path.to_owned();
        let opener: Opener = Box::new(move || {
            builder(cache_bytes).create(&path).map_err(|err| match err {
                redb::DatabaseError::DatabaseAlreadyOpen => Error::Locked(path.clone()),
                other => other.into(),
            })
        });
        Self::init(opener(), Some(opener))
    }

    /// Like [`Store::open`], over a disk that fails every write while the
    /// returned switch is on: for tests of a full disk.
    pub fn open_faulty(path: &Path, cache_bytes: usize) -> Result<(Self, FaultSwitch), Error> {
        let switch = FaultSwitch::default();
        create_private(path)?;
        let path = path.to_owned();
        let failing = switch.0.clone();
        let opener: Opener = Box::new(move || {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|err| Error::Redb(redb::StorageError::from(err).into()))?;
            let backend = faulty::Disk::new(file, failing.clone());
            let mut builder = Database::builder();
            builder.set_cache_size(cache_bytes);
            Ok(builder.create_with_backend(backend)?)
        });
        Ok((Self::init(opener(), Some(opener))?, switch))
    }

    /// A database that lives in memory only, for tests and benches.
    pub fn in_memory() -> Result<Self, Error> {
        // No other process can share memory: the default (exclusive) mode.
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new());
        Self::init(db.map_err(Error::from), None)
    }

    /// Creates every table, so readers can open them all unconditionally,
    /// and marks the file with this build's format (refusing a newer one).
    fn init(db: Result<Database, Error>, opener: Option<Opener>) -> Result<Self, Error> {
        let store = Self {
            db: RwLock::new(Some(db?)),
            opener,
            shared_number: std::sync::atomic::AtomicU64::new(0),
            records_max: std::sync::atomic::AtomicU64::new(0),
        };
        store.write(|w| {
            w.create_tables()?;
            w.claim_format()
        })?;
        Ok(store)
    }

    /// The open database, reopening it first if an earlier reopen failed.
    fn db(&self) -> Result<std::sync::RwLockReadGuard<'_, Option<Database>>, Error> {
        let guard = self
            .db
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_some() {
            return Ok(guard);
        }
        drop(guard);
        self.reopen()?;
        Ok(self
            .db
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    pub fn read(&self) -> Result<Reader, Error> {
        let guard = self.db()?;
        let db = guard.as_ref().ok_or(Error::Closed)?;
        Ok(Reader::new(db.begin_read()?))
    }

    /// Reserves the shared business number: from now on no firm may take
    /// it as its own (DESIGN section 10). Not a number: nothing reserved.
    pub fn reserve_shared_number(&self, number: &str) {
        if let Ok(number) = number.trim().parse::<u64>() {
            self.shared_number.store(number, Ordering::Relaxed);
        }
    }

    /// Sets the quota of members, projects and milestones per firm
    /// (`FIRMHOOK_FIRM_RECORDS_MAX`); 0: none.
    pub fn set_records_max(&self, max: u64) {
        self.records_max.store(max, Ordering::Relaxed);
    }

    /// The firm that holds the shared number as its own, if one does (a
    /// file written before the number was reserved).
    pub fn shared_number_holder(&self) -> Result<Option<(u64, crate::domain::FirmId)>, Error> {
        let number = self.shared_number.load(Ordering::Relaxed);
        if number == 0 {
            return Ok(None);
        }
        use crate::resolve::Directory;
        Ok(self
            .read()?
            .firm_by_number(number)?
            .map(|firm| (number, firm)))
    }

    /// Closes and opens the file again, dropping whatever state an I/O error
    /// left behind; redb recovers the last committed transaction. If the
    /// open fails, the store stays closed and the next use tries again.
    pub fn reopen(&self) -> Result<(), Error> {
        let Some(opener) = &self.opener else {
            return Err(Error::Closed);
        };
        let mut db = self
            .db
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Close the old handle first: the file lock must be free to reopen.
        drop(db.take());
        *db = Some(opener()?);
        Ok(())
    }

    /// Runs `work` in one write transaction: commits if it returns `Ok`,
    /// and leaves nothing behind if it returns `Err`.
    pub fn write<T, E: From<Error>>(
        &self,
        work: impl FnOnce(&mut Writer) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transact(Ending::CommitIfOk, false, work)
    }

    /// [`write`](Self::write) for an import: the transaction also has the
    /// table of the ids the import used ([`Writer::import_first_use`]),
    /// deleted before the commit.
    pub fn import<T, E: From<Error>>(
        &self,
        dry_run: bool,
        work: impl FnOnce(&mut Writer) -> Result<T, E>,
    ) -> Result<T, E> {
        let ending = if dry_run {
            Ending::Abort
        } else {
            Ending::CommitIfOk
        };
        self.transact(ending, true, work)
    }

    /// Runs `work` in one write transaction and then throws it away, for
    /// `--dry-run`: every check a real write makes, nothing kept.
    pub fn rehearse<T, E: From<Error>>(
        &self,
        work: impl FnOnce(&mut Writer) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transact(Ending::Abort, false, work)
    }

    fn transact<T, E: From<Error>>(
        &self,
        ending: Ending,
        import: bool,
        work: impl FnOnce(&mut Writer) -> Result<T, E>,
    ) -> Result<T, E> {
        let guard = self.db()?;
        let db = guard.as_ref().ok_or(Error::Closed)?;
        let txn = db.begin_write().map_err(Error::from)?;
        let result = {
            let mut writer = Writer::open(&txn, import)?;
            writer.shared_number =
                Some(self.shared_number.load(Ordering::Relaxed)).filter(|n| *n != 0);
            writer.records_max = Some(self.records_max.load(Ordering::Relaxed)).filter(|n| *n != 0);
            work(&mut writer)
        };
        if import {
            txn.delete_table(tables::IMPORT_IDS)
                .map_err(|err| Error::Redb(err.into()))?;
        }
        match (ending, result) {
            (Ending::CommitIfOk, Ok(value)) => {
                txn.commit().map_err(Error::from)?;
                Ok(value)
            }
            // Mutation `import_partial`: an import that failed keeps the
            // rows it wrote before failing.
            (Ending::CommitIfOk, Err(err)) if import && crate::mutation::on("import_partial") => {
                txn.commit().map_err(Error::from)?;
                Err(err)
            }
            (_, result) => {
                txn.abort().map_err(Error::from)?;
                result
            }
        }
    }

    /// Gives the file's free pages back to the filesystem (after a large
    /// import, a third of a fresh file can be free space). Needs no other
    /// transaction open in this process.
    pub fn compact(&mut self) -> Result<(), Error> {
        let db = self
            .db
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let db = db.as_mut().ok_or(Error::Closed)?;
        while db.compact().map_err(|err| Error::Redb(err.into()))? {}
        Ok(())
    }

    /// redb's own check of the file: page checksums and allocator state.
    pub fn check_integrity(&mut self) -> Result<bool, Error> {
        let db = self
            .db
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let db = db.as_mut().ok_or(Error::Closed)?;
        Ok(db.check_integrity()?)
    }
}

/// How a transaction of [`Store::transact`] ends.
#[derive(Clone, Copy)]
enum Ending {
    CommitIfOk,
    Abort,
}

/// Turns the faulty disk's failures on and off.
#[derive(Clone, Default)]
pub struct FaultSwitch(Arc<AtomicBool>);

impl FaultSwitch {
    pub fn fail_writes(&self, on: bool) {
        self.0.store(on, Ordering::SeqCst);
    }
}

/// What the doors (HTTP handlers, the console) hold of the store: reads
/// only. Every change goes to the writer as a command (DESIGN section 5),
/// so a handler cannot write back a record it read earlier: it has no
/// write method to call.
#[derive(Clone)]
pub struct Reads(Arc<Store>);

impl Reads {
    pub fn new(store: Arc<Store>) -> Self {
        Self(store)
    }

    pub fn read(&self) -> Result<Reader, Error> {
        self.0.read()
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
        let db = builder(DEFAULT_CACHE_BYTES)
            .open_read_only(path)
            .map_err(|err| match err {
                redb::DatabaseError::RepairAborted => Error::NeedsRecovery(path.to_owned()),
                other => other.into(),
            })?;
        Ok(Self { db })
    }

    pub fn read(&self) -> Result<Reader, Error> {
        let reader = Reader::new(self.db.begin_read()?);
        reader.check_format()?;
        Ok(reader)
    }
}

/// Creates the file's directory and the file itself, owner-only, if they
/// are missing; redb then initialises the empty file.
fn create_private(path: &Path) -> Result<(), Error> {
    let io = |err| Error::Redb(redb::StorageError::from(err).into());
    if let Some(dir) = path.parent() {
        crate::private::create_dir_all(dir).map_err(io)?;
    }
    crate::private::create_if_missing(path).map_err(io)?;
    Ok(())
}

fn builder(cache_bytes: usize) -> redb::Builder {
    let mut builder = Database::builder();
    builder
        .set_cache_size(cache_bytes)
        .set_concurrency_mode(ConcurrencyMode::SingleWriter);
    builder
}
