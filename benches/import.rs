//! `import` of a large synthetic dataset: rows per second, peak memory and
//! database size. `cargo bench --bench import` imports 1,000,000 projects
//! (with their members and milestones); without `--bench` (as `cargo test
//! --all-targets` runs it) a 2,000-project smoke run.
//! `FIRMHOOK_BENCH_MIX=projects` gives each project 4 milestones (the
//! project-heavy mix); `FIRMHOOK_BENCH_PROJECTS=N` sets the size.

#[path = "support/synth.rs"]
mod synth;

use std::time::Instant;

use firmhook::import::{Mode, Options, import_dir, project_statuses};
use firmhook::store::{self, Store};

const SEED: u64 = 0x5eed_f1e1d;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let projects: u64 = std::env::var("FIRMHOOK_BENCH_PROJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 2_000 });

    let tmp = tempfile::tempdir().expect("temporary directory");
    let csv = tmp.path().join("csv");
    std::fs::create_dir(&csv).unwrap();
    let started = Instant::now();
    // `FIRMHOOK_BENCH_MIX=projects`: 4 milestones a project (the cheap
    // rows are milestones, so this mix is the harder one).
    let mix = match std::env::var("FIRMHOOK_BENCH_MIX").as_deref() {
        Ok("projects") => synth::Milestones::Each(4),
        _ => synth::Milestones::With,
    };
    let (written, _) = synth::write_csv(&csv, projects, SEED, mix).expect("writing CSV");
    println!(
        "generated {} firms, {} members, {} projects, {} milestones in {:.1}s",
        written.firms,
        written.members,
        written.projects,
        written.milestones,
        started.elapsed().as_secs_f64()
    );
    let rss_before = synth::peak_rss_kib();

    let db = tmp.path().join("bench.redb");
    let mut store = Store::open(&db, store::DEFAULT_CACHE_BYTES).unwrap();
    let statuses = project_statuses();
    let options = Options::new(Mode::Apply, &statuses);
    let started = Instant::now();
    let report = import_dir(&store, &csv, &options).expect("import succeeds");
    let elapsed = started.elapsed().as_secs_f64();
    let import_peak = synth::peak_rss_kib();
    let raw_size = std::fs::metadata(&db).unwrap().len();
    let started = Instant::now();
    store.compact().unwrap();
    let compact_secs = started.elapsed().as_secs_f64();
    drop(store);
    assert_eq!(report.rows(), written.rows());
    let size = std::fs::metadata(&db).unwrap().len();
    let rows_per_s = written.rows() as f64 / elapsed;
    println!("import/rows              {}", written.rows());
    println!("import/seconds           {elapsed:.1}");
    println!("import/rows_per_s        {rows_per_s:.0}");
    println!("import/peak_rss_mib      {}", import_peak / 1024);
    println!(
        "import/peak_rss_with_compaction_mib {}",
        synth::peak_rss_kib() / 1024
    );
    println!("import/rss_before_mib    {}", rss_before / 1024);
    println!("import/compact_seconds   {compact_secs:.1}");
    println!(
        "import/db_before_compact_mib {:.1}",
        raw_size as f64 / (1 << 20) as f64
    );
    println!(
        "import/db_mib            {:.1}",
        size as f64 / (1 << 20) as f64
    );
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| projects | {projects} |");
    println!("| rows (all four files) | {} |", written.rows());
    println!("| import time | {elapsed:.1} s |");
    println!("| rows/s | {rows_per_s:.0} |");
    println!("| peak RSS, import | {} MiB |", import_peak / 1024);
    println!(
        "| peak RSS, import then compaction | {} MiB |",
        synth::peak_rss_kib() / 1024
    );
    println!("| compaction after import | {compact_secs:.1} s |");
    println!(
        "| database size (compacted) | {:.0} MiB |",
        size as f64 / (1 << 20) as f64
    );
}
