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
pub fn write_temp() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("firmhook-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    write_to(&dir)?;
    Ok(dir)
}

pub fn write_to(dir: &Path) -> std::io::Result<()> {
    for (name, contents) in FILES {
        std::fs::write(dir.join(name), contents)?;
    }
    Ok(())
}
