//! The demo data (`data/demo/`), built into the binary so `serve --dev`
//! works from any directory.

use std::path::{Path, PathBuf};

const FILES: [(&str, &str); 5] = [
    ("firms.csv", include_str!("../data/demo/firms.csv")),
    (
        "firm_members.csv",
        include_str!("../data/demo/firm_members.csv"),
    ),
    ("projects.csv", include_str!("../data/demo/projects.csv")),
    (
        "milestones.csv",
        include_str!("../data/demo/milestones.csv"),
    ),
    ("templates.csv", include_str!("../data/demo/templates.csv")),
];

/// Writes the demo CSV files into a fresh directory under the system's
/// temporary directory and returns it; the caller removes it.
///
/// The folder's name is random and it is made new (`0700`, failing if
/// anything is already there), and its files are made new (`0600`): a
/// folder or link planted in the temporary directory is never followed.
pub fn write_temp() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    remove_stale();
    let dir = std::env::temp_dir().join(format!("firmhook-demo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::DirBuilder::new()
        .mode(crate::private::DIR_MODE)
        .create(&dir)?;
    std::fs::set_permissions(
        &dir,
        std::os::unix::fs::PermissionsExt::from_mode(crate::private::DIR_MODE),
    )?;
    write_to(&dir)?;
    Ok(dir)
}

/// Removes demo folders that servers of earlier versions left behind when
/// killed: `firmhook-demo-*` in the temporary directory, owned by this
/// user, untouched for an hour. (This version removes its copy as soon as
/// it is loaded.)
fn remove_stale() {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let me = own_uid();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("firmhook-demo-") {
            continue;
        }
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(3600));
        if meta.is_dir() && Some(meta.uid()) == me && old {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// This process's user id, read from a file it owns (no `unsafe`).
fn own_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Writes the demo files into `dir`, each created new and owner-only.
pub fn write_to(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    for (name, contents) in FILES {
        let path = dir.join(name);
        if !crate::private::create_if_missing(&path)? {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists already", path.display()),
            ));
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)?
            .write_all(contents.as_bytes())?;
    }
    Ok(())
}
