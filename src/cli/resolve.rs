//! `firmhook resolve PHONE`: who a number is, as the webhook would see it.
//!
//! Opens the database read-only, so it works beside a running server. The
//! plain output is one line; `--explain` prints every pass; `--json` prints
//! the object DESIGN section 7 fixes. Any outcome, `unknown` included, is a
//! success (exit 0).

use anyhow::Context;

use crate::cli::DbArg;
use crate::domain::Phone;
use crate::resolve::{Outcome, resolve};
use crate::store::{Reader, Snapshot};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sender: a wa_id (digits) or a number in international notation
    pub phone: String,
    #[command(flatten)]
    pub db: DbArg,
    /// The business number the message arrived on (scopes the search to its firm)
    #[arg(long)]
    pub phone_number_id: Option<u64>,
    /// Print every pass: what it looked up and what it found
    #[arg(long)]
    pub explain: bool,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let phone = Phone::parse_international(&args.phone)
        .with_context(|| format!("PHONE {:?}", args.phone))?;
    let snapshot = Snapshot::open(&args.db.path)?;
    let reader = snapshot.read()?;
    let resolution = resolve(&reader, phone, args.phone_number_id)?;
    if args.json {
        println!("{}", resolution.to_json());
    } else if args.explain {
        println!("resolving {phone}");
        println!("{resolution}");
    } else {
        println!("{}", summary(&reader, &resolution.outcome)?);
    }
    Ok(())
}

/// One line naming the firm and project.
fn summary(reader: &Reader, outcome: &Outcome) -> anyhow::Result<String> {
    let firm_name = |firm| -> anyhow::Result<String> {
        Ok(reader.firm(firm)?.map(|f| f.name).unwrap_or_default())
    };
    let project_name = |firm, project| -> anyhow::Result<String> {
        Ok(reader
            .project(firm, project)?
            .map(|p| p.name)
            .unwrap_or_default())
    };
    Ok(match outcome {
        Outcome::Designer { firm, project } => format!(
            "designer of firm {firm} ({}), project {project} ({})",
            firm_name(*firm)?,
            project_name(*firm, *project)?
        ),
        Outcome::DesignerNoProject { firm } => {
            format!(
                "designer of firm {firm} ({}), no project",
                firm_name(*firm)?
            )
        }
        Outcome::Client { firm, project } => format!(
            "client of firm {firm} ({}), project {project} ({})",
            firm_name(*firm)?,
            project_name(*firm, *project)?
        ),
        Outcome::Ambiguous { matches } => {
            let mut out = format!("ambiguous, {} matches:", matches.len());
            for m in matches {
                let project = m.project.map_or("no project".to_owned(), |p| p.to_string());
                out.push_str(&format!(
                    "\n  {} of firm {} ({}), {project} ({})",
                    m.role.as_str(),
                    m.firm,
                    firm_name(m.firm)?,
                    m.name
                ));
            }
            out
        }
        Outcome::Unknown => "unknown".to_owned(),
    })
}
