//! Shared test helpers: a tiny fixture language for resolver cases, the
//! built binary, and temporary directories of CSV files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use firmhook::domain::{
    Country, Firm, FirmId, Member, MemberId, Phone, Project, ProjectId, ProjectStatus, Timestamp,
};
use firmhook::store::Store;

/// The repository's demo data.
pub fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo")
}

/// Runs the built `firmhook` binary.
pub fn firmhook(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_firmhook"))
        .args(args)
        .env_remove("FIRMHOOK_DB")
        .output()
        .expect("the firmhook binary runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes `files` (name, contents) into a fresh temporary directory.
pub fn csv_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    dir
}

/// A small world described line by line, with names instead of ids:
///
/// ```text
/// firm alba GB number=111
/// member alba olivia +447911123456        (phone optional)
/// project alba kitchen at=2026-01-10 client=+44… designer=olivia legacy=+44…
/// ```
///
/// Ids are made from the line number so they are stable, and [`Names`]
/// turns them back into names in output.
pub fn world(text: &str) -> (Store, Names) {
    let store = Store::in_memory().unwrap();
    let mut names = Names::default();
    let mut firms: HashMap<String, (FirmId, Country)> = HashMap::new();
    let mut members: HashMap<String, MemberId> = HashMap::new();
    store
        .write(|w| {
            for (n, line) in text.lines().map(str::trim).enumerate() {
                let words: Vec<&str> = line.split_whitespace().collect();
                let id = 0x1000 + n as u128;
                match words.as_slice() {
                    [] => {}
                    ["firm", name, country, rest @ ..] => {
                        let firm = FirmId::from_u128(id);
                        let country = Country::parse(country).unwrap();
                        let number = option(rest, "number").map(|n| n.parse().unwrap());
                        w.put_firm(&Firm {
                            id: firm,
                            name: name.to_string(),
                            country,
                            phone_number_id: number,
                        })?;
                        firms.insert(name.to_string(), (firm, country));
                        names.add(id, name);
                    }
                    ["member", firm, name, rest @ ..] => {
                        let (firm_id, country) = firms[*firm];
                        let member = MemberId::from_u128(id);
                        w.put_member(&Member {
                            id: member,
                            firm_id,
                            name: name.to_string(),
                            role: String::new(),
                            whatsapp_phone: rest.first().map(|p| phone(p, country)),
                        })?;
                        members.insert(name.to_string(), member);
                        names.add(id, name);
                    }
                    ["project", firm, name, rest @ ..] => {
                        let (firm_id, country) = firms[*firm];
                        w.put_project(&Project {
                            id: ProjectId::from_u128(id),
                            firm_id,
                            name: name.to_string(),
                            status: ProjectStatus::parse("Active", ProjectStatus::DEFAULT_SET)
                                .unwrap(),
                            client_name: String::new(),
                            client_phone: option(rest, "client").map(|p| phone(p, country)),
                            designer_member_id: option(rest, "designer").map(|m| members[m]),
                            designer_phone: option(rest, "legacy").map(|p| phone(p, country)),
                            created_at: Timestamp::parse(
                                option(rest, "at").unwrap_or("2026-01-01"),
                            )
                            .unwrap(),
                        })?;
                        names.add(id, name);
                    }
                    other => panic!("fixture line {}: cannot read {other:?}", n + 1),
                }
            }
            Ok::<_, firmhook::store::Error>(())
        })
        .unwrap();
    (store, names)
}

fn option<'a>(words: &[&'a str], key: &str) -> Option<&'a str> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

fn phone(text: &str, country: Country) -> Phone {
    Phone::parse(text, Some(country)).unwrap_or_else(|e| panic!("fixture phone: {e}"))
}

/// Maps fixture ids back to the names the fixture gave them.
#[derive(Default)]
pub struct Names(Vec<(String, String)>);

impl Names {
    fn add(&mut self, id: u128, name: &str) {
        self.0
            .push((uuid::Uuid::from_u128(id).to_string(), name.to_owned()));
    }

    /// Replaces every fixture id in `text` with its name.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (id, name) in &self.0 {
            out = out.replace(id, name);
        }
        out
    }
}
