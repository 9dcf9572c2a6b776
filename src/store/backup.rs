//! A consistent copy of the database as a plain redb file.
//!
//! Every table is copied from one read transaction (so it is safe while
//! another process writes) into a temporary file beside the destination,
//! which is then verified — redb's integrity check, our `check`, and the
//! same entry count in every table as the snapshot — synced, and renamed
//! into place. A failure leaves the destination untouched. Restoring is
//! copying the file back.

use std::path::{Path, PathBuf};

use redb::{Database, ReadTransaction, ReadableTableMetadata, TableDefinition, WriteTransaction};

use super::tables::*;
use super::{Error, Reader, Store, Totals, check};

/// What a verified backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backup {
    pub totals: Totals,
    pub bytes: u64,
}

pub fn backup(source: &Reader, dest: &Path) -> Result<Backup, Error> {
    let temp = temp_path(dest);
    let result = write_and_verify(source, &temp);
    match result {
        Ok(backup) => {
            std::fs::rename(&temp, dest).map_err(io)?;
            if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
                // Make the rename itself durable.
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io)?;
            }
            Ok(backup)
        }
        Err(err) => {
            let _ = std::fs::remove_file(&temp);
            Err(err)
        }
    }
}

fn temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map_or("backup".into(), |n| n.to_string_lossy());
    dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn io(err: std::io::Error) -> Error {
    Error::Redb(redb::StorageError::from(err).into())
}

fn write_and_verify(source: &Reader, temp: &Path) -> Result<Backup, Error> {
    let _ = std::fs::remove_file(temp);
    crate::private::create_if_missing(temp).map_err(io)?;
    {
        let db = Database::create(temp)?;
        let txn = db.begin_write()?;
        copy_all(source.txn(), &txn)?;
        txn.commit()?;
    }
    let mut copy = Store::open(temp, super::DEFAULT_CACHE_BYTES)?;
    if !copy.check_integrity()? {
        return Err(Error::Corrupt(
            "the copy failed redb's integrity check".into(),
        ));
    }
    let reader = copy.read()?;
    let (totals, problems) = check(&reader)?;
    if let Some(first) = problems.first() {
        return Err(Error::Corrupt(format!(
            "the copy failed the consistency check ({} problems, first: {first})",
            problems.len()
        )));
    }
    for handle in source.txn().list_tables()? {
        let name = redb::TableHandle::name(&handle).to_owned();
        let want = source.txn().open_untyped_table(handle)?.len()?;
        let have = match reader
            .txn()
            .list_tables()?
            .find(|h| redb::TableHandle::name(h) == name)
        {
            Some(h) => reader.txn().open_untyped_table(h)?.len()?,
            None => 0,
        };
        if want != have {
            return Err(Error::Corrupt(format!(
                "table {name}: {have} entries copied of {want}"
            )));
        }
    }
    drop(reader);
    drop(copy);
    std::fs::File::open(temp)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    let bytes = std::fs::metadata(temp).map_err(io)?.len();
    Ok(Backup { totals, bytes })
}

/// Copies every table of the one list ([`every_table!`]).
macro_rules! copy_all {
    ($($(#[$doc:meta])* $konst:ident $field:ident: $k:ty => $v:ty = $name:literal;)*) => {
        fn copy_all(src: &ReadTransaction, dst: &WriteTransaction) -> Result<(), Error> {
            $(copy(src, dst, $konst)?;)*
            Ok(())
        }
    };
}
every_table!(copy_all);

fn copy<K: redb::Key + 'static, V: redb::Value + 'static>(
    src: &ReadTransaction,
    dst: &WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<(), Error> {
    let from = match src.open_table(def) {
        Ok(table) => table,
        // A file written before this table existed.
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(err) => return Err(err.into()),
    };
    let mut to = dst.open_table(def)?;
    for entry in redb::ReadableTable::iter(&from)? {
        let (key, value) = entry?;
        to.insert(key.value(), value.value())?;
    }
    Ok(())
}
