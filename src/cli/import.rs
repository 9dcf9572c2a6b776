//! `firmhook import DIR`: load the CSV layout of DESIGN section 7.
//!
//! All or nothing: every row of every file is parsed, checked and written in
//! one write transaction, which commits only if no row had an error. Every
//! error is reported as `file:line: field: reason`; with any, nothing is
//! written and the exit code is 2. Rows are streamed, never held: memory
//! grows only with the sets of ids seen (to report duplicates) and redb's
//! dirty pages. Re-importing the same files changes nothing (upsert by id).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;

use crate::cli::DbArg;
use crate::domain::{
    Country, Firm, FirmId, Member, MemberId, Milestone, MilestoneId, MilestoneStatus, Phone,
    Project, ProjectId, ProjectStatus, Timestamp,
};
use crate::store::{self, Put, Store, Writer};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory with firms.csv, firm_members.csv, projects.csv, milestones.csv
    pub dir: PathBuf,
    #[command(flatten)]
    pub db: DbArg,
    /// Check every row against the database, write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// An import that writes at least this many rows compacts the file after.
const COMPACT_AFTER_ROWS: u64 = 100_000;

/// Environment variable with the allowed project statuses, comma-separated.
pub const STATUSES_ENV: &str = "FIRMHOOK_PROJECT_STATUSES";

pub fn run(args: Args) -> anyhow::Result<()> {
    let statuses = project_statuses();
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Apply
    };
    // A dry run against a database that does not exist yet checks against
    // an empty one instead of creating the file.
    let mut store = if mode == Mode::DryRun && !args.db.path.exists() {
        Store::in_memory()?
    } else {
        Store::open(&args.db.path, store::DEFAULT_CACHE_BYTES)?
    };
    let options = Options {
        mode,
        statuses: &statuses,
        progress: std::io::stderr().is_terminal(),
    };
    let started = Instant::now();
    match import_dir(&store, &args.dir, &options) {
        Ok(report) => {
            print!("{report}");
            let changed = report
                .files
                .iter()
                .map(|(_, c)| c.inserted + c.updated)
                .sum::<u64>();
            if mode == Mode::Apply && changed >= COMPACT_AFTER_ROWS {
                store.compact()?;
            }
            let verb = match mode {
                Mode::Apply => "imported",
                Mode::DryRun => "checked (dry run, nothing written)",
            };
            println!(
                "{verb} {} rows in {:.1}s",
                report.rows(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Err(ImportError::Invalid(errors)) => {
            for error in &errors {
                eprintln!("{error}");
            }
            bail!(
                "{} error(s) in {}; nothing was written",
                errors.len(),
                args.dir.display()
            )
        }
        Err(ImportError::Store(err)) => Err(err.into()),
    }
}

/// The configured project statuses, or the default set.
pub fn project_statuses() -> Vec<String> {
    match std::env::var(STATUSES_ENV) {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        _ => ProjectStatus::DEFAULT_SET
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    DryRun,
}

pub struct Options<'a> {
    pub mode: Mode,
    pub statuses: &'a [String],
    /// Print a running row count on stderr.
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{} invalid row(s)", .0.len())]
    Invalid(Vec<RowError>),
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// One bad row: where, which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub path: PathBuf,
    pub line: u64,
    pub field: Option<&'static str>,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.path.display(), self.line)?;
        if let Some(field) = self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// Counts per file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub files: Vec<(&'static str, Counts)>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl Counts {
    fn add(&mut self, put: Put) {
        match put {
            Put::Inserted => self.inserted += 1,
            Put::Updated => self.updated += 1,
            Put::Unchanged => self.unchanged += 1,
        }
    }

    pub fn rows(&self) -> u64 {
        self.inserted + self.updated + self.unchanged
    }
}

impl Report {
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|(_, c)| c.rows()).sum()
    }

    pub fn counts(&self, file: &str) -> Counts {
        self.files
            .iter()
            .find(|(name, _)| *name == file)
            .map_or_else(Counts::default, |(_, c)| *c)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (file, c) in &self.files {
            writeln!(
                f,
                "{file:<18} {:>9} new {:>9} updated {:>9} unchanged",
                c.inserted, c.updated, c.unchanged
            )?;
        }
        Ok(())
    }
}

pub const FIRMS: &str = "firms.csv";
pub const MEMBERS: &str = "firm_members.csv";
pub const PROJECTS: &str = "projects.csv";
pub const MILESTONES: &str = "milestones.csv";

/// Imports every file of `dir` in dependency order, in one transaction.
pub fn import_dir(store: &Store, dir: &Path, options: &Options) -> Result<Report, ImportError> {
    let work = |w: &mut Writer| Import::new(dir, options).run(w);
    match options.mode {
        Mode::Apply => store.write(work),
        Mode::DryRun => store.rehearse(work),
    }
}

/// Why one row failed.
enum Fail {
    /// A reportable problem with the row.
    Row(Option<&'static str>, String),
    /// The row refers to a row of this import that itself failed: its
    /// error is already reported, so this one stays quiet.
    Quiet,
    /// The database failed; the import stops.
    Store(store::Error),
}

impl From<store::Error> for Fail {
    fn from(err: store::Error) -> Self {
        match err {
            store::Error::Conflict(reason) => Fail::Row(Some("id"), reason),
            other => Fail::Store(other),
        }
    }
}

fn field(name: &'static str, reason: impl fmt::Display) -> Fail {
    Fail::Row(Some(name), reason.to_string())
}

struct Import<'a> {
    dir: &'a Path,
    options: &'a Options<'a>,
    errors: Vec<RowError>,
    report: Report,
    countries: HashMap<FirmId, Country>,
    /// Ids each file has used so far, to report duplicates and to keep
    /// references to a failed row quiet.
    firm_ids: HashSet<FirmId>,
    member_ids: HashSet<MemberId>,
    project_ids: HashSet<ProjectId>,
    milestone_ids: HashSet<MilestoneId>,
}

/// One CSV row with its columns looked up by name.
struct Row<'r> {
    record: &'r csv::StringRecord,
    columns: &'r HashMap<&'static str, usize>,
}

impl Row<'_> {
    /// The trimmed value, empty when the column is absent.
    fn get(&self, name: &'static str) -> &str {
        self.columns
            .get(name)
            .and_then(|&i| self.record.get(i))
            .map_or("", str::trim)
    }

    fn required(&self, name: &'static str) -> Result<&str, Fail> {
        match self.get(name) {
            "" => Err(field(name, "is required")),
            value => Ok(value),
        }
    }

    fn id<K>(&self, name: &'static str) -> Result<crate::domain::ids::Id<K>, Fail> {
        crate::domain::ids::Id::parse(self.required(name)?).map_err(|err| field(name, err))
    }

    fn optional_id<K>(
        &self,
        name: &'static str,
    ) -> Result<Option<crate::domain::ids::Id<K>>, Fail> {
        match self.get(name) {
            "" => Ok(None),
            text => crate::domain::ids::Id::parse(text)
                .map(Some)
                .map_err(|err| field(name, err)),
        }
    }

    fn phone(&self, name: &'static str, country: Country) -> Result<Option<Phone>, Fail> {
        match self.get(name) {
            "" => Ok(None),
            text => Phone::parse(text, Some(country))
                .map(Some)
                .map_err(|err| field(name, format!("{err} (read with country {country})"))),
        }
    }
}

impl<'a> Import<'a> {
    fn new(dir: &'a Path, options: &'a Options<'a>) -> Self {
        Self {
            dir,
            options,
            errors: Vec::new(),
            report: Report::default(),
            countries: HashMap::new(),
            firm_ids: HashSet::new(),
            member_ids: HashSet::new(),
            project_ids: HashSet::new(),
            milestone_ids: HashSet::new(),
        }
    }

    fn run(mut self, w: &mut Writer) -> Result<Report, ImportError> {
        self.sheet(
            w,
            FIRMS,
            &["id", "name", "country"],
            &["phone_number_id"],
            Self::firm,
        )?;
        self.sheet(
            w,
            MEMBERS,
            &["id", "firm_id", "name"],
            &["role", "whatsapp_phone"],
            Self::member,
        )?;
        self.sheet(
            w,
            PROJECTS,
            &["id", "firm_id", "name", "status", "created_at"],
            &[
                "client_name",
                "client_phone",
                "designer_member_id",
                "designer_phone",
            ],
            Self::project,
        )?;
        self.sheet(
            w,
            MILESTONES,
            &["id", "project_id", "title", "status", "position"],
            &[],
            Self::milestone,
        )?;
        if self.errors.is_empty() {
            Ok(self.report)
        } else {
            Err(ImportError::Invalid(self.errors))
        }
    }

    /// Streams one file through `each`, collecting row errors.
    fn sheet(
        &mut self,
        w: &mut Writer,
        file: &'static str,
        required: &[&'static str],
        optional: &[&'static str],
        each: fn(&mut Self, &mut Writer, &Row) -> Result<Put, Fail>,
    ) -> Result<(), ImportError> {
        let path = self.dir.join(file);
        let mut counts = Counts::default();
        let reader = match File::open(&path) {
            Ok(file) => file,
            // A missing file means none of that kind.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => {
                self.error(&path, 0, None, format!("cannot read: {err}"));
                return Ok(());
            }
        };
        let mut csv = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(std::io::BufReader::with_capacity(1 << 16, reader));
        let header = match csv.headers() {
            Ok(header) => header.clone(),
            Err(err) => {
                self.error(&path, 1, None, format!("unreadable header: {err}"));
                return Ok(());
            }
        };
        let mut columns = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let name = name.trim().trim_start_matches('\u{feff}');
            if let Some(known) = required.iter().chain(optional).find(|c| **c == name) {
                columns.entry(*known).or_insert(i);
            }
        }
        let missing: Vec<_> = required
            .iter()
            .filter(|c| !columns.contains_key(*c))
            .collect();
        if !missing.is_empty() {
            for column in missing {
                self.error(&path, 1, None, format!("missing column {column:?}"));
            }
            return Ok(());
        }

        let mut record = csv::StringRecord::new();
        let mut rows = 0u64;
        loop {
            let line = csv.position().line();
            match csv.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(err) => {
                    let line = err.position().map_or(line, |p| p.line());
                    self.error(&path, line, None, format!("unreadable row: {err}"));
                    // A UTF-8 error leaves the reader at the next record; any
                    // other error (I/O) would repeat, so stop this file.
                    if matches!(err.kind(), csv::ErrorKind::Utf8 { .. }) {
                        continue;
                    }
                    break;
                }
            }
            let line = record.position().map_or(line, |p| p.line());
            if record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            let row = Row {
                record: &record,
                columns: &columns,
            };
            match each(self, w, &row) {
                Ok(put) => counts.add(put),
                Err(Fail::Row(field, reason)) => self.error(&path, line, field, reason),
                Err(Fail::Quiet) => {}
                Err(Fail::Store(err)) => return Err(err.into()),
            }
            rows += 1;
            if self.options.progress && rows.is_multiple_of(100_000) {
                eprint!("\r{file}: {rows} rows");
                let _ = std::io::stderr().flush();
            }
        }
        if self.options.progress && rows >= 100_000 {
            eprintln!("\r{file}: {rows} rows");
        }
        self.report.files.push((file, counts));
        Ok(())
    }

    fn error(&mut self, path: &Path, line: u64, field: Option<&'static str>, reason: String) {
        self.errors.push(RowError {
            path: path.to_owned(),
            line,
            field,
            reason,
        });
    }

    fn country(&mut self, w: &Writer, firm: FirmId) -> Result<Country, Fail> {
        if let Some(country) = self.countries.get(&firm) {
            return Ok(*country);
        }
        match w.firm(firm)? {
            Some(found) => {
                self.countries.insert(firm, found.country);
                Ok(found.country)
            }
            None if self.firm_ids.contains(&firm) => Err(Fail::Quiet),
            None => Err(field("firm_id", format!("unknown firm {firm}"))),
        }
    }

    fn firm(&mut self, w: &mut Writer, row: &Row) -> Result<Put, Fail> {
        let id: FirmId = row.id("id")?;
        if !self.firm_ids.insert(id) {
            return Err(field("id", format!("duplicate firm id {id} in this file")));
        }
        let country = Country::parse(row.required("country")?).map_err(|e| field("country", e))?;
        let phone_number_id = match row.get("phone_number_id") {
            "" => None,
            text => Some(text.parse::<u64>().map_err(|_| {
                field(
                    "phone_number_id",
                    format!("not a WhatsApp phone_number_id (digits only): {text:?}"),
                )
            })?),
        };
        let firm = Firm {
            id,
            name: row.required("name")?.to_owned(),
            country,
            phone_number_id,
        };
        let put = w.put_firm(&firm)?;
        self.countries.insert(id, country);
        Ok(put)
    }

    fn member(&mut self, w: &mut Writer, row: &Row) -> Result<Put, Fail> {
        let id: MemberId = row.id("id")?;
        if !self.member_ids.insert(id) {
            return Err(field(
                "id",
                format!("duplicate member id {id} in this file"),
            ));
        }
        let firm_id: FirmId = row.id("firm_id")?;
        let country = self.country(w, firm_id)?;
        let member = Member {
            id,
            firm_id,
            name: row.required("name")?.to_owned(),
            role: row.get("role").to_owned(),
            whatsapp_phone: row.phone("whatsapp_phone", country)?,
        };
        Ok(w.put_member(&member)?)
    }

    fn project(&mut self, w: &mut Writer, row: &Row) -> Result<Put, Fail> {
        let id: ProjectId = row.id("id")?;
        if !self.project_ids.insert(id) {
            return Err(field(
                "id",
                format!("duplicate project id {id} in this file"),
            ));
        }
        let firm_id: FirmId = row.id("firm_id")?;
        let country = self.country(w, firm_id)?;
        let designer_member_id: Option<MemberId> = row.optional_id("designer_member_id")?;
        if let Some(member) = designer_member_id {
            match w.member_firm(member)? {
                Some(firm) if firm == firm_id => {}
                Some(firm) => {
                    return Err(field(
                        "designer_member_id",
                        format!("member {member} belongs to firm {firm}, not {firm_id}"),
                    ));
                }
                None if self.member_ids.contains(&member) => return Err(Fail::Quiet),
                None => {
                    return Err(field(
                        "designer_member_id",
                        format!("unknown member {member}"),
                    ));
                }
            }
        }
        let project = Project {
            id,
            firm_id,
            name: row.required("name")?.to_owned(),
            status: ProjectStatus::parse(row.required("status")?, self.options.statuses)
                .map_err(|e| field("status", e))?,
            client_name: row.get("client_name").to_owned(),
            client_phone: row.phone("client_phone", country)?,
            designer_member_id,
            designer_phone: row.phone("designer_phone", country)?,
            created_at: Timestamp::parse(row.required("created_at")?)
                .map_err(|e| field("created_at", e))?,
        };
        Ok(w.put_project(&project)?)
    }

    fn milestone(&mut self, w: &mut Writer, row: &Row) -> Result<Put, Fail> {
        let id: MilestoneId = row.id("id")?;
        if !self.milestone_ids.insert(id) {
            return Err(field(
                "id",
                format!("duplicate milestone id {id} in this file"),
            ));
        }
        let project_id: ProjectId = row.id("project_id")?;
        let firm = match w.project_firm(project_id)? {
            Some(firm) => firm,
            None if self.project_ids.contains(&project_id) => return Err(Fail::Quiet),
            None => return Err(field("project_id", format!("unknown project {project_id}"))),
        };
        let position = row.required("position")?;
        let milestone = Milestone {
            id,
            project_id,
            title: row.required("title")?.to_owned(),
            status: MilestoneStatus::parse(row.required("status")?)
                .map_err(|e| field("status", e))?,
            position: position
                .parse()
                .map_err(|_| field("position", format!("not a whole number ≥ 0: {position:?}")))?,
        };
        Ok(w.put_milestone(firm, &milestone)?)
    }
}
