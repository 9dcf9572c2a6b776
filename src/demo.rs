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
