//! Files that hold personal data (the database, backups, exports, later
//! certificates and keys) are created readable by their owner only:
//! files `0600`, directories `0700`, whatever the process umask.
//!
//! Existing directories are left as they are (they may be shared, like a
//! home directory); an existing file that is opened for rewriting is
//! narrowed to `0600`.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const FILE_MODE: u32 = 0o600;
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and any missing parents, each new one `0700`.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    // The umask may have narrowed the mode further, never widened it; but
    // a umask of 0 is no reason to trust it: set it exactly.
    std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
}

/// Creates (or truncates) `path` for writing, `0600`.
pub fn create(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Creates `path` empty and `0600` if it does not exist yet; returns
/// whether it did. An existing file is left as it is.
pub fn create_if_missing(path: &Path) -> io::Result<bool> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        Ok(file) => {
            file.set_permissions(Permissions::from_mode(FILE_MODE))?;
            Ok(true)
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(err),
    }
}

/// The permission bits that let the group or others read or write `path`,
/// if any (`None` when it is private).
pub fn exposed_mode(path: &Path) -> io::Result<Option<u32>> {
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    Ok((mode & 0o077 != 0).then_some(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_directories_are_owner_only_whatever_the_umask() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, Permissions::from_mode(0o666)).unwrap();
        assert_eq!(exposed_mode(&file).unwrap(), Some(0o666));
        create(&file).unwrap();
        assert_eq!(exposed_mode(&file).unwrap(), None);
        for path in [tmp.path().join("a"), dir] {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, DIR_MODE, "{}", path.display());
        }
        let new = tmp.path().join("new");
        assert!(create_if_missing(&new).unwrap());
        assert!(!create_if_missing(&new).unwrap());
        assert_eq!(exposed_mode(&new).unwrap(), None);
    }
}
