//! Resolver latency at 10,000, 100,000 and 1,000,000 projects, for every
//! outcome, side by side with SQLite doing the same passes over the same
//! data (WAL, an index on every looked-up column, prepared statements, one
//! read transaction per resolution, as firmhook uses one redb read
//! transaction). `cargo bench --bench resolve`; without `--bench`, a smoke
//! run on 2,000 projects.

#[path = "support/synth.rs"]
mod synth;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use firmhook::domain::Phone;
use firmhook::import::{Mode, Options, import_dir, project_statuses};
use firmhook::resolve::{Outcome, Pass, decide, resolve};
use firmhook::store::{self, Reader, Store};
use rusqlite::{Connection, params};

const SEED: u64 = 0x5eed_0001;
const KINDS: [&str; 5] = ["designer", "legacy", "client", "ambiguous", "unknown"];

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<u64> = match std::env::var("FIRMHOOK_BENCH_SIZES") {
        Ok(list) => list.split(',').map(|s| s.trim().parse().unwrap()).collect(),
        Err(_) if full => vec![10_000, 100_000, 1_000_000],
        Err(_) => vec![2_000],
    };
    let lookups = if full { 20_000 } else { 300 };
    if full {
        // What a read transaction alone costs on this machine.
        let store = Store::in_memory().unwrap();
        println!(
            "read transaction begin+end: p50 {} ns",
            read_txn_p50(&store)
        );
    }
    let mut table: BTreeMap<(u64, &str), Figures> = BTreeMap::new();
    for &size in &sizes {
        let tmp = tempfile::tempdir().unwrap();
        let csv = tmp.path().join("csv");
        std::fs::create_dir(&csv).unwrap();
        let (written, samples) =
            synth::write_csv(&csv, size, SEED, synth::Milestones::Without).unwrap();
        let store =
            Store::open(&tmp.path().join("bench.redb"), store::DEFAULT_CACHE_BYTES).unwrap();
        let statuses = project_statuses();
        let options = Options::new(Mode::Apply, &statuses);
        import_dir(&store, &csv, &options).unwrap();
        let sqlite = sqlite_copy(&store.read().unwrap(), &tmp.path().join("bench.sqlite"));
        println!(
            "size {size}: {} firms, {} members, {} projects",
            written.firms, written.members, written.projects
        );

        let phones = by_kind(&store.read().unwrap(), &samples);
        println!(
            "size {size}: read transaction begin+end on the file: p50 {} ns",
            read_txn_p50(&store)
        );
        for kind in KINDS {
            let list = &phones[kind];
            assert!(!list.is_empty(), "no {kind} sample at size {size}");
            // Like for like: SQLite reaches the same outcome for every phone.
            let reader = store.read().unwrap();
            for phone in list {
                let outcome = resolve(&reader, *phone, None).unwrap().outcome;
                assert_eq!(
                    sqlite.resolve(phone.to_u64()),
                    Kind::of(&outcome),
                    "SQLite and firmhook disagree on {phone}"
                );
            }
            drop(reader);
            let redb_ns = time(lookups, list, |phone| {
                let reader = store.read().unwrap();
                black_box(decide(&reader, phone, None).unwrap());
            });
            let sqlite_ns = time(lookups, list, |phone| {
                black_box(sqlite.resolve(phone.to_u64()));
            });
            // As the webhook's writer runs it: inside a transaction that is
            // already open, tables already opened.
            let reader = store.read().unwrap();
            let open_ns = time(lookups, list, |phone| {
                black_box(decide(&reader, phone, None).unwrap());
            });
            drop(reader);
            let mut figures = Figures::new(&redb_ns, &sqlite_ns);
            figures.open_p50 = percentile(&open_ns, 50);
            println!(
                "resolve/{size}/{kind:<9} firmhook p50 {:>6} ns p99 {:>6} ns (in an open transaction: p50 {:>5} ns) | sqlite p50 {:>6} ns p99 {:>6} ns | sqlite/firmhook {:.2}x",
                figures.p50,
                figures.p99,
                figures.open_p50,
                figures.sqlite_p50,
                figures.sqlite_p99,
                figures.ratio()
            );
            table.insert((size, kind), figures);
        }
    }

    println!();
    println!(
        "| projects | outcome | firmhook p50 | firmhook p99 | p50 in an open txn | SQLite p50 | SQLite p99 | SQLite / firmhook |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for ((size, kind), f) in &table {
        println!(
            "| {size} | {kind} | {} ns | {} ns | {} ns | {} ns | {} ns | {:.2}× |",
            f.p50,
            f.p99,
            f.open_p50,
            f.sqlite_p50,
            f.sqlite_p99,
            f.ratio()
        );
    }
    let (small, large) = (sizes[0], *sizes.last().unwrap());
    if small != large {
        println!();
        println!("| outcome | p50 at {large} / p50 at {small} |");
        println!("|---|---|");
        for kind in KINDS {
            let ratio = table[&(large, kind)].p50 as f64 / table[&(small, kind)].p50 as f64;
            println!("| {kind} | {ratio:.2}× |");
        }
    }
}

struct Figures {
    open_p50: u64,
    p50: u64,
    p99: u64,
    sqlite_p50: u64,
    sqlite_p99: u64,
}

impl Figures {
    fn new(redb: &[u64], sqlite: &[u64]) -> Self {
        Self {
            open_p50: 0,
            p50: percentile(redb, 50),
            p99: percentile(redb, 99),
            sqlite_p50: percentile(sqlite, 50),
            sqlite_p99: percentile(sqlite, 99),
        }
    }

    fn ratio(&self) -> f64 {
        self.sqlite_p50 as f64 / self.p50 as f64
    }
}

/// p50 of beginning and ending a read transaction, in ns.
fn read_txn_p50(store: &Store) -> u64 {
    let mut ns: Vec<u64> = (0..20_000)
        .map(|_| {
            let started = Instant::now();
            black_box(store.read().unwrap());
            started.elapsed().as_nanos() as u64
        })
        .collect();
    ns.sort_unstable();
    percentile(&ns, 50)
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Runs `f` `n` times over `phones` (cycled) after a warm-up; sorted ns.
#[inline(never)]
fn time(n: usize, phones: &[Phone], mut f: impl FnMut(Phone)) -> Vec<u64> {
    for &phone in phones.iter().cycle().take(n / 10) {
        f(phone);
    }
    let mut out = Vec::with_capacity(n);
    for &phone in phones.iter().cycle().take(n) {
        let started = Instant::now();
        f(phone);
        out.push(started.elapsed().as_nanos() as u64);
    }
    out.sort_unstable();
    out
}

/// The sample phones sorted by what they actually resolve to.
fn by_kind(reader: &Reader, samples: &synth::Samples) -> BTreeMap<&'static str, Vec<Phone>> {
    let mut out: BTreeMap<&'static str, Vec<Phone>> =
        KINDS.iter().map(|k| (*k, Vec::new())).collect();
    let candidates = samples
        .designers
        .iter()
        .chain(&samples.legacy_designers)
        .chain(&samples.clients)
        .chain(&samples.ambiguous);
    for wa_id in candidates {
        let phone = Phone::from_wa_id(wa_id).unwrap();
        let resolution = resolve(reader, phone, None).unwrap();
        let kind = match resolution.outcome {
            Outcome::Designer { .. } if decided_by(&resolution, Pass::LegacyDesigner) => "legacy",
            Outcome::Designer { .. } => "designer",
            Outcome::Client { .. } => "client",
            Outcome::Ambiguous { .. } => "ambiguous",
            _ => continue,
        };
        out.get_mut(kind).unwrap().push(phone);
    }
    // Unknown: numbers beyond any the generator handed out.
    for n in 0..2_000u64 {
        let phone = Phone::from_wa_id(&format!("4474009{:05}", n)).unwrap();
        assert!(matches!(
            resolve(reader, phone, None).unwrap().outcome,
            Outcome::Unknown
        ));
        out.get_mut("unknown").unwrap().push(phone);
    }
    out
}

fn decided_by(resolution: &firmhook::resolve::Resolution, pass: Pass) -> bool {
    resolution.steps.iter().any(|s| {
        s.pass == pass && !s.found.starts_with("nothing") && !s.found.starts_with("not reached")
    })
}

/// The same data in SQLite, with the same passes.
struct Sqlite {
    conn: Connection,
}

fn sqlite_copy(reader: &Reader, path: &Path) -> Sqlite {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         CREATE TABLE firms (id BLOB PRIMARY KEY, name TEXT NOT NULL, phone_number_id INTEGER);
         CREATE UNIQUE INDEX firms_number ON firms (phone_number_id);
         CREATE TABLE members (firm_id BLOB NOT NULL, id BLOB NOT NULL, name TEXT NOT NULL,
                               whatsapp_phone INTEGER, PRIMARY KEY (firm_id, id));
         CREATE INDEX members_phone ON members (whatsapp_phone);
         CREATE TABLE projects (firm_id BLOB NOT NULL, id BLOB NOT NULL, name TEXT NOT NULL,
                                client_phone INTEGER, designer_member_id BLOB,
                                designer_phone INTEGER, created_at INTEGER NOT NULL,
                                PRIMARY KEY (firm_id, id));
         CREATE INDEX projects_client ON projects (client_phone, firm_id, created_at);
         CREATE INDEX projects_legacy ON projects (designer_phone, firm_id, created_at);
         CREATE INDEX projects_member ON projects (firm_id, designer_member_id, created_at);",
    )
    .unwrap();
    conn.execute_batch("BEGIN").unwrap();
    reader
        .for_each_firm(|f| {
            conn.prepare_cached("INSERT INTO firms VALUES (?1, ?2, ?3)")
                .unwrap()
                .execute(params![
                    blob(f.id.to_u128()),
                    f.name,
                    f.phone_number_id.map(|n| n as i64)
                ])
                .unwrap();
            Ok::<_, store::Error>(())
        })
        .unwrap();
    reader
        .for_each_member(|m| {
            conn.prepare_cached("INSERT INTO members VALUES (?1, ?2, ?3, ?4)")
                .unwrap()
                .execute(params![
                    blob(m.firm_id.to_u128()),
                    blob(m.id.to_u128()),
                    m.name,
                    m.whatsapp_phone.map(|p| p.to_u64() as i64)
                ])
                .unwrap();
            Ok::<_, store::Error>(())
        })
        .unwrap();
    reader
        .for_each_project(|p| {
            conn.prepare_cached("INSERT INTO projects VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .unwrap()
                .execute(params![
                    blob(p.firm_id.to_u128()),
                    blob(p.id.to_u128()),
                    p.name,
                    p.client_phone.map(|p| p.to_u64() as i64),
                    p.designer_member_id.map(|m| blob(m.to_u128())),
                    p.designer_phone.map(|p| p.to_u64() as i64),
                    p.created_at.unix_seconds()
                ])
                .unwrap();
            Ok::<_, store::Error>(())
        })
        .unwrap();
    conn.execute_batch("COMMIT; ANALYZE;").unwrap();
    Sqlite { conn }
}

/// An id as SQLite stores it.
type Blob = Vec<u8>;

fn blob(id: u128) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Designer,
    DesignerNoProject,
    Client,
    Ambiguous(usize),
    Unknown,
}

impl Kind {
    /// firmhook's outcome, as the SQLite side tells it.
    fn of(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Designer { .. } => Kind::Designer,
            Outcome::DesignerNoProject { .. } => Kind::DesignerNoProject,
            Outcome::Client { .. } => Kind::Client,
            Outcome::Ambiguous { matches } => Kind::Ambiguous(matches.len()),
            Outcome::Unknown => Kind::Unknown,
        }
    }
}

impl Sqlite {
    /// Passes 1, 1.5 and 2 as `firmhook::resolve` runs them (no firm scope).
    fn resolve(&self, phone: u64) -> Kind {
        let phone = phone as i64;
        self.conn
            .prepare_cached("BEGIN")
            .unwrap()
            .execute([])
            .unwrap();
        let kind = self.passes(phone);
        self.conn
            .prepare_cached("COMMIT")
            .unwrap()
            .execute([])
            .unwrap();
        kind
    }

    fn passes(&self, phone: i64) -> Kind {
        let mut members = self
            .conn
            .prepare_cached(
                "SELECT firm_id, id FROM members WHERE whatsapp_phone = ?1 ORDER BY firm_id",
            )
            .unwrap();
        let found: Vec<(Vec<u8>, Vec<u8>)> = members
            .query_map([phone], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        if !found.is_empty() {
            let mut per_firm: Vec<(Blob, Option<(i64, Blob)>)> = Vec::new();
            for (firm, member) in &found {
                let assigned = self.newest(
                    "SELECT created_at, id FROM projects WHERE firm_id = ?1 AND designer_member_id = ?2 \
                     ORDER BY created_at DESC LIMIT 1",
                    params![firm, member],
                );
                let legacy = self.newest(
                    "SELECT created_at, id FROM projects WHERE designer_phone = ?1 AND firm_id = ?2 \
                     ORDER BY created_at DESC LIMIT 1",
                    params![phone, firm],
                );
                let best = match (assigned, legacy) {
                    (Some(a), Some(b)) => Some(if a.0 >= b.0 { a } else { b }),
                    (a, b) => a.or(b),
                };
                if !per_firm.iter().any(|(f, _)| f == firm) {
                    per_firm.push((firm.clone(), best));
                }
            }
            return match per_firm.as_slice() {
                [(_, Some(_))] => Kind::Designer,
                [(_, None)] => Kind::DesignerNoProject,
                several => {
                    for (firm, best) in several {
                        match best {
                            Some((_, project)) => black_box(self.project_name(firm, project)),
                            None => black_box(self.firm_name(firm)),
                        };
                    }
                    Kind::Ambiguous(several.len())
                }
            };
        }
        let mut legacy = self
            .conn
            .prepare_cached(
                "SELECT firm_id, id FROM projects WHERE designer_phone = ?1 ORDER BY firm_id, created_at DESC",
            )
            .unwrap();
        let mut firms: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for row in legacy
            .query_map([phone], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
        {
            let (firm, project): (Vec<u8>, Vec<u8>) = row.unwrap();
            if !firms.iter().any(|(f, _)| *f == firm) {
                firms.push((firm, project));
            }
        }
        if !firms.is_empty() {
            if firms.len() == 1 {
                return Kind::Designer;
            }
            for (firm, project) in &firms {
                black_box(self.project_name(firm, project));
            }
            return Kind::Ambiguous(firms.len());
        }
        let mut clients = self
            .conn
            .prepare_cached("SELECT firm_id, id FROM projects WHERE client_phone = ?1 ORDER BY firm_id, created_at DESC")
            .unwrap();
        let projects: Vec<(Vec<u8>, Vec<u8>)> = clients
            .query_map([phone], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        match projects.len() {
            0 => Kind::Unknown,
            1 => Kind::Client,
            n => {
                for (firm, project) in &projects {
                    black_box(self.project_name(firm, project));
                }
                Kind::Ambiguous(n)
            }
        }
    }

    fn newest(&self, sql: &str, params: impl rusqlite::Params) -> Option<(i64, Vec<u8>)> {
        let mut stmt = self.conn.prepare_cached(sql).unwrap();
        let mut rows = stmt.query(params).unwrap();
        rows.next()
            .unwrap()
            .map(|r| (r.get(0).unwrap(), r.get(1).unwrap()))
    }

    fn project_name(&self, firm: &[u8], project: &[u8]) -> String {
        self.conn
            .prepare_cached("SELECT name FROM projects WHERE firm_id = ?1 AND id = ?2")
            .unwrap()
            .query_row(params![firm, project], |r| r.get(0))
            .unwrap()
    }

    fn firm_name(&self, firm: &[u8]) -> String {
        self.conn
            .prepare_cached("SELECT name FROM firms WHERE id = ?1")
            .unwrap()
            .query_row(params![firm], |r| r.get(0))
            .unwrap()
    }
}
