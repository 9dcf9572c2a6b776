//! `firmhook export DIR`: every record as CSV, in the import layout.
//!
//! Reads one snapshot (read-only, so it works beside a running server).
//! Each file is written to a temporary name and renamed into place only
//! when all four are complete, so a failed export leaves no half-written
//! file. `export`, `import` into an empty database, `export` again gives
//! the same bytes.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::DbArg;
use crate::import::fields::{self, Columns};
use crate::import::{FIRMS, MEMBERS, MILESTONES, PROJECTS, TEMPLATES};
use crate::store::{Reader, Snapshot};

#[derive(Debug, clap::Args)]
#[command(after_help = crate::cli::import::FILES_HELP)]
pub struct Args {
    /// Directory to write firms.csv, firm_members.csv, projects.csv,
    /// milestones.csv and templates.csv into
    pub dir: PathBuf,
    #[command(flatten)]
    pub db: DbArg,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let snapshot = Snapshot::open(&args.db.path)?;
    let counts = export_dir(&snapshot.read()?, &args.dir)?;
    println!(
        "exported {} firms, {} members, {} projects, {} milestones to {}",
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        args.dir.display()
    );
    Ok(())
}

/// Writes the four files; returns the row count of each, in file order.
pub fn export_dir(reader: &Reader, dir: &Path) -> anyhow::Result<[u64; 4]> {
    crate::private::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut counts = [0u64; 4];
    let mut written = Vec::new();

    // Each file's header and rows come from the one column layout that
    // import reads (`import::fields`).
    let mut sheet = Sheet::create(dir, FIRMS, fields::FIRM_COLUMNS)?;
    reader.for_each_firm(|f| sheet.record(&f))?;
    counts[0] = sheet.rows;
    written.push(sheet.finish()?);

    let mut sheet = Sheet::create(dir, MEMBERS, fields::MEMBER_COLUMNS)?;
    reader.for_each_member(|m| sheet.record(&m))?;
    counts[1] = sheet.rows;
    written.push(sheet.finish()?);

    let mut sheet = Sheet::create(dir, PROJECTS, fields::PROJECT_COLUMNS)?;
    reader.for_each_project(|p| sheet.record(&p))?;
    counts[2] = sheet.rows;
    written.push(sheet.finish()?);

    let mut sheet = Sheet::create(dir, MILESTONES, fields::MILESTONE_COLUMNS)?;
    reader.for_each_milestone(|m| sheet.record(&m))?;
    counts[3] = sheet.rows;
    written.push(sheet.finish()?);

    let mut sheet = Sheet::create(dir, TEMPLATES, &["firm_id", "kind", "name", "language"])?;
    for (firm, kind, template) in reader.templates()? {
        let firm = firm.map(|f| f.to_string()).unwrap_or_default();
        sheet.row(&[&firm, kind.as_str(), &template.name, &template.language])?;
    }
    written.push(sheet.finish()?);

    for (temp, path) in written {
        std::fs::rename(&temp, &path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(counts)
}

/// One CSV file being written under a temporary name.
struct Sheet {
    writer: csv::Writer<BufWriter<File>>,
    temp: PathBuf,
    path: PathBuf,
    rows: u64,
}

impl Sheet {
    fn create(dir: &Path, file: &str, header: &[&str]) -> anyhow::Result<Self> {
        let path = dir.join(file);
        let temp = dir.join(format!(".{file}.tmp"));
        let out = crate::private::create(&temp)
            .with_context(|| format!("creating {}", temp.display()))?;
        let mut writer = csv::Writer::from_writer(BufWriter::with_capacity(1 << 16, out));
        writer.write_record(header)?;
        Ok(Self {
            writer,
            temp,
            path,
            rows: 0,
        })
    }

    /// A record as a row of its columns; an absent value is empty.
    fn record(&mut self, record: &impl Columns) -> anyhow::Result<()> {
        let values: Vec<String> = record
            .columns()
            .into_iter()
            .map(|(name, v)| crate::import::fields::escape_cell(name, v.unwrap_or_default()))
            .collect();
        let cells: Vec<&str> = values.iter().map(String::as_str).collect();
        self.row(&cells)
    }

    fn row(&mut self, fields: &[&str]) -> anyhow::Result<()> {
        self.rows += 1;
        self.writer
            .write_record(fields)
            .with_context(|| format!("writing {}", self.temp.display()))
    }

    /// Flushes to disk; returns (temporary, final) paths for the rename.
    fn finish(self) -> anyhow::Result<(PathBuf, PathBuf)> {
        let out = self
            .writer
            .into_inner()
            .map_err(|err| anyhow::anyhow!("writing {}: {}", self.temp.display(), err.error()))?;
        out.into_inner()
            .map_err(|err| anyhow::anyhow!("writing {}: {}", self.temp.display(), err.error()))?
            .sync_all()?;
        Ok((self.temp, self.path))
    }
}
