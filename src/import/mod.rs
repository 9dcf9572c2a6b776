//! The CSV import engine (DESIGN section 7), shared by `firmhook import`,
//! the admin API's online import and dev mode's demo data.
//!
//! All or nothing: every row of every file is parsed, checked and written in
//! one write transaction, which commits only if no row had an error. Every
//! error is reported as `file:line: field: reason`; with any, nothing is
//! written and the exit code is 2. Rows are streamed, never held: memory
//! grows only with the sets of ids seen (to report duplicates) and redb's
//! dirty pages. Re-importing the same files changes nothing (upsert by id).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::command::{self, Command, CommandError, Origin};
use crate::domain::event::Source;
use crate::domain::{
    Country, FirmId, MemberId, MilestoneId, MilestoneStatus, ProjectId, ProjectStatus, Timestamp,
};
use crate::notify::{Template, TemplateKind};
use crate::store::{self, Put, Store, Writer};
use fields::{FieldError, Fields};
use keys::IdText;

pub mod fields;
pub mod keys;

/// Environment variable with the allowed project statuses, comma-separated.
pub const STATUSES_ENV: &str = "FIRMHOOK_PROJECT_STATUSES";

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

/// What a file's milestone status does to a milestone that has moved on
/// since (approved by its client, asked for approval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The stored status stays; the row gets a warning.
    Keep,
    /// `--overwrite-status`: the file's status is written, and the change
    /// is an event.
    Overwrite,
}

pub struct Options<'a> {
    pub mode: Mode,
    pub statuses: &'a [String],
    /// Print a running row count on stderr.
    pub progress: bool,
    /// A firm token's import: rows of other firms are errors.
    pub scope: Option<FirmId>,
    /// The door, for the events of the changes the import makes.
    pub source: Source,
    /// What a file's milestone status does to a milestone that moved on.
    pub milestones: Progress,
    /// When the import happens: the time of its events.
    pub at: Timestamp,
}

impl<'a> Options<'a> {
    /// An import of every firm's rows, as `firmhook import` does, quiet.
    pub fn new(mode: Mode, statuses: &'a [String]) -> Self {
        Self {
            mode,
            statuses,
            progress: false,
            scope: None,
            source: Source::Import,
            milestones: Progress::Keep,
            at: crate::clock::Clock::system().now(),
        }
    }
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

impl RowError {
    /// `file.csv:line: field: reason`, without the directory.
    pub fn relative(&self) -> String {
        let file = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut out = match self.line {
            0 => format!("{file}: "),
            line => format!("{file}:{line}: "),
        };
        if let Some(field) = self.field {
            out.push_str(field);
            out.push_str(": ");
        }
        out.push_str(&self.reason);
        out
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: ", self.path.display())?,
            line => write!(f, "{}:{line}: ", self.path.display())?,
        }
        if let Some(field) = self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// Counts per file, and the warnings of rows that were imported anyway.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub files: Vec<(&'static str, Counts)>,
    /// `file:line: field: warning: …`, in file and line order.
    pub warnings: Vec<RowError>,
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
        if !self.warnings.is_empty() {
            writeln!(f, "{} warning(s)", self.warnings.len())?;
        }
        Ok(())
    }
}

pub const FIRMS: &str = "firms.csv";
pub const MEMBERS: &str = "firm_members.csv";
pub const PROJECTS: &str = "projects.csv";
pub const MILESTONES: &str = "milestones.csv";
/// Template settings (DESIGN section 12): `firm_id` empty for the defaults.
pub const TEMPLATES: &str = "templates.csv";
/// Every file an import reads, in the order it reads them.
pub const FILES: &[&str] = &[FIRMS, MEMBERS, PROJECTS, MILESTONES, TEMPLATES];

/// Imports every file of `dir` in dependency order, in one transaction.
pub fn import_dir(store: &Store, dir: &Path, options: &Options) -> Result<Report, ImportError> {
    let (files, warnings) = files_of(dir)?;
    let work = |w: &mut Writer| {
        let mut import = Import::new(files, options);
        import.report.warnings = warnings;
        import.run(w)
    };
    store.import(options.mode == Mode::DryRun, work)
}

/// The files of `dir` an import reads, by their known names. A name in
/// another case (`Firms.csv`) is read, with a warning. A missing folder,
/// a file given as the folder, a folder with none of the known files, and
/// an unknown `.csv` name are errors that list the known names (DESIGN
/// section 7): a mistyped name never imports nothing in silence.
fn files_of(dir: &Path) -> Result<(HashMap<&'static str, PathBuf>, Vec<RowError>), ImportError> {
    let known = FILES.join(", ");
    let fail = |reason: String| {
        ImportError::Invalid(vec![RowError {
            path: dir.to_owned(),
            line: 0,
            field: None,
            reason,
        }])
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(fail(format!(
                "no such folder (an import reads a folder holding {known})"
            )));
        }
        Err(_) if dir.is_file() => {
            return Err(fail(format!(
                "is a file, not a folder: give the folder that holds it (an import reads {known})"
            )));
        }
        Err(err) => return Err(fail(format!("cannot read the folder: {err}"))),
    };
    let mut files = HashMap::new();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| fail(format!("cannot read the folder: {err}")))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.to_ascii_lowercase().ends_with(".csv") || !path.is_file() {
            continue;
        }
        match FILES.iter().find(|known| known.eq_ignore_ascii_case(&name)) {
            Some(known) if *known == name => {
                files.insert(*known, path);
            }
            Some(known) => {
                if files.contains_key(known) {
                    continue;
                }
                warnings.push(RowError {
                    path: path.clone(),
                    line: 0,
                    field: None,
                    reason: format!("warning: read as {known} (the names are lower case)"),
                });
                files.insert(*known, path);
            }
            None => errors.push(RowError {
                path,
                line: 0,
                field: None,
                reason: format!("not a file an import reads (expected one of: {known})"),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Invalid(errors));
    }
    if files.is_empty() {
        return Err(fail(format!(
            "none of the files an import reads is here (expected one or more of: {known})"
        )));
    }
    // A file named exactly wins over one in another case.
    warnings.retain(|w| files.get(known_name(&w.path)).is_some_and(|p| *p == w.path));
    Ok((files, warnings))
}

/// The known name a path's file name stands for, in any case.
fn known_name(path: &Path) -> &'static str {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    FILES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(&name))
        .copied()
        .unwrap_or("")
}

/// The delimiter a file uses, from its header line: `;` (as Excel writes
/// CSV where the decimal mark is a comma) when the line has more of them
/// than commas, else `,`.
fn delimiter(file: &mut File) -> std::io::Result<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut head = vec![0; 64 * 1024];
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..])? {
            0 => break,
            n => filled += n,
        }
        if head[..filled].contains(&b'\n') {
            break;
        }
    }
    file.seek(SeekFrom::Start(0))?;
    let line = head[..filled].split(|b| *b == b'\n').next().unwrap_or(&[]);
    let count = |c: u8| line.iter().filter(|b| **b == c).count();
    Ok(if count(b';') > count(b',') {
        b';'
    } else {
        b','
    })
}

/// What a row or header that is not UTF-8 gets.
const NOT_UTF8: &str = "not UTF-8 text (saved in another encoding, such as Windows-1252?): \
                        save it as CSV UTF-8";

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

impl From<CommandError> for Fail {
    fn from(err: CommandError) -> Self {
        match err {
            CommandError::Store(err) => Fail::from(err),
            CommandError::Conflict(reason) => Fail::Row(Some("id"), reason),
            CommandError::NotFound => Fail::Row(None, "not found".into()),
            CommandError::Quota(reason)
            | CommandError::InUse(reason)
            | CommandError::State(reason) => Fail::Row(None, reason),
        }
    }
}

impl From<store::Error> for Fail {
    fn from(err: store::Error) -> Self {
        match err {
            store::Error::Conflict(reason) => Fail::Row(Some("id"), reason),
            store::Error::Quota(reason) => Fail::Row(None, reason),
            other => Fail::Store(other),
        }
    }
}

fn field(name: &'static str, reason: impl fmt::Display) -> Fail {
    Fail::Row(Some(name), reason.to_string())
}

struct Import<'a> {
    /// The files to read, by their known names ([`files_of`]).
    files: HashMap<&'static str, PathBuf>,
    options: &'a Options<'a>,
    errors: Vec<RowError>,
    /// Who changes what, for the events of status changes.
    origin: Origin,
    /// Warnings of the row being read, given their line once it is known.
    row_warnings: Vec<(&'static str, String)>,
    report: Report,
    countries: HashMap<FirmId, Country>,
    /// Row errors past [`ERRORS_MAX`], counted, not kept.
    unlisted: u64,
}

/// The kinds of ids an import keeps track of, in the transaction's id
/// table (`Writer::import_first_use`): to report an id given twice and to
/// keep references to a failed row quiet, in bounded memory.
const FIRM: u8 = 0;
const MEMBER: u8 = 1;
const PROJECT: u8 = 2;
const MILESTONE: u8 = 3;

/// A file's known columns and where each is: at most nine, looked up by
/// a scan on every cell (hashing each name cost more than the scan).
#[derive(Default)]
struct Columns(Vec<(&'static str, usize)>);

impl Columns {
    fn get(&self, name: &str) -> Option<usize> {
        self.0
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, at)| *at)
    }

    fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn iter(&self) -> impl Iterator<Item = (&&'static str, &usize)> {
        self.0.iter().map(|(name, at)| (name, at))
    }
}

/// One CSV row with its columns looked up by name.
struct Row<'r> {
    record: &'r csv::StringRecord,
    columns: &'r Columns,
}

impl Fields for Row<'_> {
    /// The trimmed value, empty when the column is absent.
    fn get(&self, name: &'static str) -> &str {
        let cell = self
            .columns
            .get(name)
            .and_then(|i| self.record.get(i))
            .map_or("", str::trim);
        fields::unescape_cell(name, cell)
    }
}

impl From<FieldError> for Fail {
    fn from(err: FieldError) -> Self {
        Fail::Row(Some(err.field), err.reason)
    }
}

impl<'a> Import<'a> {
    fn new(files: HashMap<&'static str, PathBuf>, options: &'a Options<'a>) -> Self {
        Self {
            files,
            options,
            errors: Vec::new(),
            origin: Origin {
                import: true,
                ..Origin::new(options.source, options.at)
            },
            row_warnings: Vec::new(),
            report: Report::default(),
            countries: HashMap::new(),
            unlisted: 0,
        }
    }

    fn run(mut self, w: &mut Writer) -> Result<Report, ImportError> {
        self.sheet(
            w,
            FIRMS,
            &["id", "name", "country"],
            &["phone_number_id", "language"],
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
        self.sheet(
            w,
            TEMPLATES,
            &["kind", "name", "language"],
            &["firm_id"],
            Self::template,
        )?;
        if self.unlisted > 0 {
            let path = self
                .errors
                .last()
                .map(|e| e.path.clone())
                .unwrap_or_default();
            self.errors.push(RowError {
                path,
                line: 0,
                field: None,
                reason: format!("and {} more row errors, not listed", self.unlisted),
            });
        }
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
        // A missing file means none of that kind.
        let Some(path) = self.files.get(file).cloned() else {
            return Ok(());
        };
        let mut counts = Counts::default();
        let opened = File::open(&path).and_then(|mut reader| {
            let delimiter = delimiter(&mut reader)?;
            Ok((reader, delimiter))
        });
        let (reader, delimiter) = match opened {
            Ok(opened) => opened,
            Err(err) => {
                self.error(&path, 0, None, format!("cannot read: {err}"));
                return Ok(());
            }
        };
        let mut csv = csv::ReaderBuilder::new()
            .flexible(true)
            .delimiter(delimiter)
            .buffer_capacity(1 << 16)
            .from_reader(Lines::new(reader));
        let header = match csv.headers() {
            Ok(header) => header.clone(),
            Err(err) if matches!(err.kind(), csv::ErrorKind::Utf8 { .. }) => {
                self.error(&path, 1, None, NOT_UTF8.to_owned());
                return Ok(());
            }
            Err(err) => {
                self.error(&path, 1, None, format!("unreadable header: {err}"));
                return Ok(());
            }
        };
        let end = csv.position().byte();
        let header_line = csv.get_mut().record_start(end, newlines(&header));
        let mut columns = Columns::default();
        for (i, name) in header.iter().enumerate() {
            let name = name.trim().trim_start_matches('\u{feff}');
            if let Some(known) = required.iter().chain(optional).find(|c| **c == name)
                && !columns.contains_key(known)
            {
                columns.0.push((*known, i));
            }
        }
        let missing: Vec<_> = required
            .iter()
            .filter(|c| !columns.contains_key(c))
            .collect();
        if !missing.is_empty() {
            for column in missing {
                self.error(
                    &path,
                    header_line,
                    None,
                    format!("missing column {column:?}"),
                );
            }
            return Ok(());
        }

        let mut record = csv::StringRecord::new();
        let mut rows = 0u64;
        loop {
            let read = csv.read_record(&mut record);
            let end = csv.position().byte();
            match read {
                Ok(false) => break,
                Ok(true) => {}
                Err(err) => {
                    let line = csv.get_mut().record_start(end, 0);
                    // A file in another encoding fails on most rows: said
                    // once, at the first. Any other error (I/O) would repeat.
                    if matches!(err.kind(), csv::ErrorKind::Utf8 { .. }) {
                        self.error(&path, line, None, NOT_UTF8.to_owned());
                    } else {
                        self.error(&path, line, None, format!("unreadable row: {err}"));
                    }
                    break;
                }
            }
            let line = csv.get_mut().record_start(end, newlines(&record));
            if record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            if let Some((i, cell)) = record.iter().enumerate().find(|(_, f)| f.len() > FIELD_MAX) {
                let name = columns
                    .iter()
                    .find(|(_, at)| **at == i)
                    .map(|(name, _)| *name);
                self.error(
                    &path,
                    line,
                    name,
                    format!(
                        "a cell of {} bytes (at most {} KiB): {}",
                        cell.len(),
                        FIELD_MAX >> 10,
                        crate::domain::Clip(cell)
                    ),
                );
                continue;
            }
            let row = Row {
                record: &record,
                columns: &columns,
            };
            let outcome = each(self, w, &row);
            for (field, reason) in std::mem::take(&mut self.row_warnings) {
                self.report.warnings.push(RowError {
                    path: path.clone(),
                    line,
                    field: Some(field),
                    reason,
                });
            }
            match outcome {
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

    fn template(&mut self, w: &mut Writer, row: &Row) -> Result<Put, Fail> {
        let r = fields::Reader::new(row);
        let kind = r.required("kind")?;
        let kind = TemplateKind::parse(kind).ok_or_else(|| {
            field(
                "kind",
                format!(
                    "unknown template kind {} (expected one of: milestone_ready, \
                     milestone_approved, status_changed)",
                    crate::domain::Clip(kind)
                ),
            )
        })?;
        let firm: Option<FirmId> = match r.get("firm_id").trim() {
            "" => None,
            text => Some(IdText::parse("firm_id", text)?.firm()),
        };
        match (firm, self.options.scope) {
            (None, Some(_)) => {
                return Err(field(
                    "firm_id",
                    "is required: only the operator sets the default templates",
                ));
            }
            (Some(firm), _) => {
                self.in_scope("firm_id", firm)?;
                self.country(w, firm)?;
            }
            (None, None) => {}
        }
        let template = Template::parse(r.required("name")?, r.required("language")?)
            .map_err(|(name, reason)| field(name, reason))?;
        self.apply(
            w,
            Command::SetTemplate {
                firm,
                kind,
                template,
            },
        )
    }

    /// Applies one row as the same command the API would build: one
    /// write path, one set of rules (DESIGN section 5).
    fn apply(&self, w: &mut Writer, command: Command) -> Result<Put, Fail> {
        let applied = command::apply(w, &command, self.origin)?;
        Ok(applied.put.unwrap_or(Put::Unchanged))
    }

    /// The project a milestone row names: its UUID, or a key, which stands
    /// for a project of one of the firms a row could mean (the token's
    /// firm, or every firm: one lookup each). A key that names projects of
    /// two firms is refused without naming them.
    fn project_ref(&self, w: &Writer, id: IdText) -> Result<ProjectId, Fail> {
        let key = match id {
            IdText::Uuid(_) => return Ok(id.within(FirmId::from_u128(0), "projects")),
            IdText::Key(key) => key,
        };
        let firms = match self.options.scope {
            Some(firm) => vec![firm],
            None => w.firm_ids()?,
        };
        let mut found = None;
        let mut failed_here = false;
        for firm in firms {
            let candidate: ProjectId = id.within(firm, "projects");
            if w.project_firm(candidate)? == Some(firm) {
                if found.is_some() {
                    return Err(field(
                        "project_id",
                        format!(
                            "the key {} names projects of more than one firm: give the \
                             project's UUID",
                            crate::domain::Clip(key)
                        ),
                    ));
                }
                found = Some(candidate);
            } else if w.import_used(PROJECT, candidate.to_u128())? {
                failed_here = true;
            }
        }
        match found {
            Some(project) => Ok(project),
            // The project's own row failed: its error is enough.
            None if failed_here => Err(Fail::Quiet),
            None => Err(field(
                "project_id",
                format!("unknown project {}", crate::domain::Clip(key)),
            )),
        }
    }

    /// A firm token imports its own firm's rows only.
    fn in_scope(&self, name: &'static str, firm: FirmId) -> Result<(), Fail> {
        match self.options.scope {
            // Answered as for an unknown firm: whether it exists is not
            // the token's business.
            Some(scope) if scope != firm => Err(field(name, format!("unknown firm {firm}"))),
            _ => Ok(()),
        }
    }

    fn error(&mut self, path: &Path, line: u64, field: Option<&'static str>, reason: String) {
        if self.errors.len() >= ERRORS_MAX {
            self.unlisted += 1;
            return;
        }
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
            None if w.import_used(FIRM, firm.to_u128())? => Err(Fail::Quiet),
            None => Err(field("firm_id", format!("unknown firm {firm}"))),
        }
    }

    fn firm(&mut self, w: &mut Writer, row: &Row) -> Result<Put, Fail> {
        let r = fields::Reader::new(row);
        let id: FirmId = IdText::parse("id", r.required("id")?)?.firm();
        if !w.import_first_use(FIRM, id.to_u128())? {
            return Err(field("id", format!("duplicate firm id {id} in this file")));
        }
        self.in_scope("id", id)?;
        let mut firm = fields::firm(&r, id)?;
        if self.options.scope.is_some() {
            // Business numbers are the operator's (DESIGN section 10): a
            // firm's own import keeps the number it has.
            let held = w.firm(id)?.and_then(|f| f.phone_number_id);
            match firm.phone_number_id {
                None => firm.phone_number_id = held,
                Some(number) if Some(number) == held => {}
                Some(_) => {
                    return Err(field(
                        "phone_number_id",
                        "only the operator assigns business numbers",
                    ));
                }
            }
        }
        let country = firm.country;
        let put = self.apply(w, Command::PutFirm(firm))?;
        self.countries.insert(id, country);
        Ok(put)
    }

    fn member(&mut self, w: &mut Writer, row: &Row) -> Result<Put, Fail> {
        let mut r = fields::Reader::new(row);
        let firm_id: FirmId = IdText::parse("firm_id", r.required("firm_id")?)?.firm();
        let id: MemberId = IdText::parse("id", r.required("id")?)?.within(firm_id, "firm_members");
        if !w.import_first_use(MEMBER, id.to_u128())? {
            return Err(field(
                "id",
                format!("duplicate member id {} in this file", r.get("id").trim()),
            ));
        }
        self.in_scope("firm_id", firm_id)?;
        let country = self.country(w, firm_id)?;
        let member = fields::member(&mut r, id, firm_id, country);
        self.row_warnings.append(&mut r.warnings);
        self.apply(w, Command::PutMember(member?))
    }

    fn project(&mut self, w: &mut Writer, row: &Row) -> Result<Put, Fail> {
        let mut r = fields::Reader::new(row);
        let firm_id: FirmId = IdText::parse("firm_id", r.required("firm_id")?)?.firm();
        let id: ProjectId = IdText::parse("id", r.required("id")?)?.within(firm_id, "projects");
        if !w.import_first_use(PROJECT, id.to_u128())? {
            return Err(field(
                "id",
                format!("duplicate project id {} in this file", r.get("id").trim()),
            ));
        }
        self.in_scope("firm_id", firm_id)?;
        let country = self.country(w, firm_id)?;
        let designer_member_id: Option<MemberId> = match r.get("designer_member_id").trim() {
            "" => None,
            text => {
                Some(IdText::parse("designer_member_id", text)?.within(firm_id, "firm_members"))
            }
        };
        if let Some(member) = designer_member_id {
            match w.member_firm(member)? {
                // A member whose own row failed: that row's error is enough.
                None if w.import_used(MEMBER, member.to_u128())? => return Err(Fail::Quiet),
                found => command::check_designer(firm_id, member, found)?,
            }
        }
        let project = fields::project(
            &mut r,
            id,
            firm_id,
            country,
            designer_member_id,
            self.options.statuses,
        );
        self.row_warnings.append(&mut r.warnings);
        self.apply(w, Command::PutProject(project?))
    }

    fn milestone(&mut self, w: &mut Writer, row: &Row) -> Result<Put, Fail> {
        let r = fields::Reader::new(row);
        let project_id =
            self.project_ref(w, IdText::parse("project_id", r.required("project_id")?)?)?;
        let id_text = IdText::parse("id", r.required("id")?)?;
        let firm = match w.project_firm(project_id)? {
            // Another firm's project reads, to a firm token, as no project.
            Some(firm) if self.options.scope.is_some_and(|scope| scope != firm) => {
                return Err(field("project_id", format!("unknown project {project_id}")));
            }
            Some(firm) => firm,
            None if w.import_used(PROJECT, project_id.to_u128())? => return Err(Fail::Quiet),
            None => return Err(field("project_id", format!("unknown project {project_id}"))),
        };
        let id: MilestoneId = id_text.within(firm, "milestones");
        if !w.import_first_use(MILESTONE, id.to_u128())? {
            return Err(field(
                "id",
                format!("duplicate milestone id {} in this file", r.get("id").trim()),
            ));
        }
        let mut milestone = fields::milestone(&r, id, project_id)?;
        // A file never takes a milestone back: what the client approved
        // (or was asked to) since the file was written stays, and the row
        // says so (issue 21).
        if let Some(current) = w.milestone(firm, project_id, id)?
            && current.status > milestone.status
            && self.options.milestones == Progress::Keep
            && !crate::mutation::on("bypass_commands")
        {
            let why = match w.milestone_moved_at(id)? {
                Some((at, source)) => moved_by(current.status, &source, at),
                None => "the milestone moved on since the file was written".to_owned(),
            };
            self.row_warnings.push((
                "status",
                format!(
                    "warning: kept \"{}\" ({why}); the file says \"{}\" (--overwrite-status \
                     writes it)",
                    current.status, milestone.status
                ),
            ));
            milestone.status = current.status;
        }
        self.apply(w, Command::PutMilestone { firm, milestone })
    }
}

/// Who moved a milestone to `status`, and when, in words: "approved by the
/// client on WhatsApp 2026-12-01 10:02 UTC".
fn moved_by(status: MilestoneStatus, source: &str, at: Timestamp) -> String {
    let what = match (status, source) {
        (MilestoneStatus::Approved, "whatsapp") => "approved by the client on WhatsApp",
        (MilestoneStatus::AwaitingApproval, "whatsapp") => "marked ready on WhatsApp",
        (MilestoneStatus::Approved, "console") => "set to approved in the console",
        (MilestoneStatus::AwaitingApproval, "console") => "marked ready in the console",
        (MilestoneStatus::Approved, "import") => "set to approved by an import",
        (MilestoneStatus::AwaitingApproval, "import") => "set to awaiting approval by an import",
        (MilestoneStatus::Approved, _) => "set to approved through the API",
        (_, _) => "marked ready through the API",
    };
    let when = jiff::Timestamp::from_second(at.unix_seconds())
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    format!("{what} {when}")
}

/// Counts the lines of a file as an editor shows them while the CSV reader
/// pulls bytes through it. (The csv crate's own line numbers skip blank
/// lines and the line breaks inside quoted fields.) Memory is bounded by
/// the reader's buffer: only newlines not yet passed by a record are kept.
struct Lines<R> {
    inner: R,
    /// Bytes read so far.
    read: u64,
    /// Offsets of newlines read but not yet passed by a record.
    pending: VecDeque<u64>,
    /// Newlines passed so far, and the offset of the last one.
    passed: u64,
    last_passed: Option<u64>,
    /// The offset just past the last record read: a row that runs on past
    /// [`ROW_MAX`] from here is refused before the CSV reader holds it.
    record_end: u64,
}

/// The most bytes one cell may have (DESIGN section 7).
pub const FIELD_MAX: usize = 64 * 1024;
/// The most bytes one row may have: its cells are read into memory whole.
pub const ROW_MAX: u64 = 1024 * 1024;
/// Row errors listed at most; the rest are counted.
pub const ERRORS_MAX: usize = 1_000;

impl<R> Lines<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            read: 0,
            pending: VecDeque::new(),
            passed: 0,
            last_passed: None,
            record_end: 0,
        }
    }

    /// The line (1-based) on which a record starts, given the byte offset
    /// just past it and how many line breaks its quoted fields hold.
    fn record_start(&mut self, end: u64, inner_newlines: u64) -> u64 {
        self.record_end = end;
        while let Some(&at) = self.pending.front().filter(|&&at| at < end) {
            self.pending.pop_front();
            self.passed += 1;
            self.last_passed = Some(at);
        }
        // The record's last byte is its terminator when that is a newline;
        // then it lies on the line that newline ends.
        let last_line = if end > 0 && self.last_passed == Some(end - 1) {
            self.passed
        } else {
            self.passed + 1
        };
        last_line.saturating_sub(inner_newlines).max(1)
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read.saturating_sub(self.record_end) > ROW_MAX {
            return Err(std::io::Error::other(format!(
                "a row runs on for more than {} MiB (a cell is at most {} KiB; an unclosed quote?)",
                ROW_MAX >> 20,
                FIELD_MAX >> 10
            )));
        }
        let n = self.inner.read(buf)?;
        let start = self.read;
        self.pending.extend(
            buf[..n]
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| start + i as u64),
        );
        self.read += n as u64;
        Ok(n)
    }
}

/// Line breaks inside a record's (quoted) fields.
fn newlines(record: &csv::StringRecord) -> u64 {
    record
        .iter()
        .map(|field| field.bytes().filter(|b| *b == b'\n').count() as u64)
        .sum()
}
