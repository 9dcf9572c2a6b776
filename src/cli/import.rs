//! `firmhook import DIR`: load a directory of CSV files into the database
//! through the import engine ([`crate::import`]), offline.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::cli::DbArg;
use crate::import::{ImportError, Mode, Options, import_dir, project_statuses};
use crate::store::{self, Store};

/// What `import --help` and `export --help` list after the flags.
pub const FILES_HELP: &str = "\
Files (CSV with a header row, comma or semicolon, UTF-8; each optional):
  firms.csv          id, name, country, phone_number_id, language
  firm_members.csv   id, firm_id, name, role, whatsapp_phone
  projects.csv       id, firm_id, name, status, client_name, client_phone,
                     designer_member_id, designer_phone, created_at
  milestones.csv     id, project_id, title, status, position
  templates.csv      firm_id, kind, name, language
Ids are UUIDs or keys of your own (1-64 letters, digits, -, _, .).
docs/import.md has the rules.";

#[derive(Debug, clap::Args)]
#[command(after_help = FILES_HELP)]
pub struct Args {
    /// Directory with firms.csv, firm_members.csv, projects.csv,
    /// milestones.csv and templates.csv (any of them)
    pub dir: PathBuf,
    #[command(flatten)]
    pub db: DbArg,
    /// Check every row against the database, write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Write each milestone's status as the file has it, even where the
    /// milestone has moved on (approved by its client) since the file was
    /// written; without it that status stays and the row gets a warning
    #[arg(long)]
    pub overwrite_status: bool,
    /// Import into a running server (`POST /api/v1/import`) with the token
    /// in FIRMHOOK_TOKEN, instead of into a database file
    #[arg(long)]
    pub url: Option<String>,
}

/// An import that writes at least this many rows compacts the file after.
const COMPACT_AFTER_ROWS: u64 = 100_000;

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(url) = &args.url {
        return remote(&args.dir, url, args.dry_run, args.overwrite_status);
    }
    let statuses = project_statuses();
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Apply
    };
    // A dry run against a database that does not exist yet checks against
    // an empty one instead of creating the file.
    let existed = args.db.path.exists();
    let mut store = if mode == Mode::DryRun && !existed {
        Store::in_memory()?
    } else {
        Store::open(&args.db.path, store::DEFAULT_CACHE_BYTES)?
    };
    // The operator's import too may not give a firm the shared number.
    if let Ok(number) = std::env::var("WHATSAPP_PHONE_NUMBER_ID") {
        store.reserve_shared_number(&number);
    }
    // The operator's offline import has no quota unless one is set.
    if let Ok(max) = std::env::var("FIRMHOOK_FIRM_RECORDS_MAX") {
        store.set_records_max(
            max.trim().parse::<u64>().with_context(|| {
                format!("FIRMHOOK_FIRM_RECORDS_MAX {max:?} is not a whole number")
            })?,
        );
    }
    let options = Options {
        progress: std::io::stderr().is_terminal(),
        milestones: if args.overwrite_status {
            crate::import::Progress::Overwrite
        } else {
            crate::import::Progress::Keep
        },
        ..Options::new(mode, &statuses)
    };
    let started = Instant::now();
    let report = match import_dir(&store, &args.dir, &options) {
        Ok(report) => report,
        Err(err) => {
            if !existed && mode == Mode::Apply {
                // Leave no empty database behind where there was none.
                drop(store);
                let _ = std::fs::remove_file(&args.db.path);
            }
            return Err(failure(err, &args.dir));
        }
    };
    for warning in &report.warnings {
        eprintln!("{warning}");
    }
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

/// Prints every row error on stderr; the error says how many and that
/// nothing was written.
fn failure(err: ImportError, dir: &Path) -> anyhow::Error {
    match err {
        ImportError::Invalid(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            anyhow::anyhow!(
                "{} error(s) in {}; nothing was written",
                errors.len(),
                dir.display()
            )
        }
        ImportError::Store(err) => err.into(),
    }
}

/// `import DIR --url URL`: the same files to a running server, streamed as
/// `multipart/form-data`; the same output and exit codes as offline.
fn remote(dir: &Path, url: &str, dry_run: bool, overwrite_status: bool) -> anyhow::Result<()> {
    use std::io::Read;

    let token = std::env::var("FIRMHOOK_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| anyhow::anyhow!("import --url needs the API token in FIRMHOOK_TOKEN"))?;
    let boundary = format!("firmhook-{}", uuid::Uuid::new_v4().simple());
    let mut body: Box<dyn Read + Send + Sync> = Box::new(std::io::empty());
    for name in crate::import::FILES {
        let path = dir.join(name);
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(anyhow::anyhow!("reading {}: {err}", path.display())),
        };
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; \
             filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n"
        );
        body = Box::new(
            body.chain(std::io::Cursor::new(head))
                .chain(file)
                .chain(std::io::Cursor::new("\r\n")),
        );
    }
    let body = body.chain(std::io::Cursor::new(format!("--{boundary}--\r\n")));
    let query: Vec<&str> = [
        dry_run.then_some("dry_run=true"),
        overwrite_status.then_some("overwrite_status=true"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let endpoint = format!(
        "{}/api/v1/import{}{}",
        url.trim_end_matches('/'),
        if query.is_empty() { "" } else { "?" },
        query.join("&")
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(&endpoint)
        .header("Authorization", &format!("Bearer {token}"))
        .header(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        )
        .send(ureq::SendBody::from_owned_reader(body))
        .map_err(|err| anyhow::anyhow!("posting to {endpoint}: {err}"))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let lines = |key: &str| -> Vec<String> {
        answer[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    match status {
        200 => {
            for warning in lines("warnings") {
                eprintln!("{warning}");
            }
            let mut rows = 0;
            for name in crate::import::FILES {
                let c = &answer["counts"][*name];
                if c.is_null() {
                    continue;
                }
                let n = |k: &str| c[k].as_u64().unwrap_or(0);
                rows += n("new") + n("updated") + n("unchanged");
                println!(
                    "{name:<18} {:>9} new {:>9} updated {:>9} unchanged",
                    n("new"),
                    n("updated"),
                    n("unchanged")
                );
            }
            let warnings = lines("warnings").len();
            if warnings > 0 {
                println!("{warnings} warning(s)");
            }
            let verb = if dry_run {
                "checked (dry run, nothing written)"
            } else {
                "imported"
            };
            println!("{verb} {rows} rows into {url}");
            Ok(())
        }
        422 => {
            let errors = lines("errors");
            for error in &errors {
                eprintln!("{}/{error}", dir.display());
            }
            bail!(
                "{} error(s) in {}; nothing was written",
                errors.len(),
                dir.display()
            )
        }
        _ => {
            let message = answer["error"]["message"].as_str().unwrap_or(&text);
            bail!("{endpoint} answered {status}: {message}")
        }
    }
}
