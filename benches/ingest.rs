//! Durable webhook throughput, and the server's memory.
//!
//! The real server runs in-process on a loopback port over a real database
//! file; a load generator in the same process posts signed, realistic
//! webhooks (client and designer texts, button taps) over 32 connections.
//! Every 200 is counted only after its delivery was committed with fsync.
//! In the same run: the same with group commit off (one transaction per
//! delivery), and a bare hyper server answering 200 with no work, the
//! ceiling on this machine. With `--bench`, last: peak resident memory
//! (`VmHWM`) of the real `firmhook serve` binary over a 1,000,000-project
//! database under the same load, default configuration.

#[path = "support/load.rs"]
mod load;
#[path = "support/synth.rs"]
mod synth;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use firmhook::import::{Mode, Options as ImportOptions, import_dir, project_statuses};
use firmhook::store::{self, Store};
use firmhook::writer::DEFAULT_MAX_BATCH;

const SEED: u64 = 0x5eed_0002;
const CONNECTIONS: usize = 32;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let duration = Duration::from_secs(if full { 10 } else { 1 });
    let projects = if full { 10_000 } else { 300 };

    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("csv");
    std::fs::create_dir(&csv).unwrap();
    let (_, samples) = synth::write_csv(&csv, projects, SEED, synth::Milestones::With).unwrap();
    let script = load::script(&samples);

    let measured = |addr| {
        let before = load::Work::read(addr);
        let result = load::run(addr, &script, CONNECTIONS, duration);
        let after = load::Work::read(addr);
        let work = before.per_delivery(&after, result.requests);
        (result, work)
    };
    // `FIRMHOOK_BENCH_PROFILE=single`: one transaction per delivery only,
    // to see a commit's fixed cost in a profile.
    let profile = std::env::var("FIRMHOOK_BENCH_PROFILE").ok();
    let batch = if profile.as_deref() == Some("single") {
        1
    } else {
        DEFAULT_MAX_BATCH
    };
    let (grouped, grouped_work) =
        with_server(&tmp.path().join("grouped.redb"), &csv, batch, measured);
    report("group commit", &grouped);
    report_work("group commit", &grouped_work);
    // `FIRMHOOK_BENCH_PROFILE=1`: the group-commit run only, for a profiler
    // (ARCHITECTURE.md, "Where the writer's time goes").
    if profile.is_some() {
        return;
    }
    let (single, single_work) = with_server(&tmp.path().join("single.redb"), &csv, 1, measured);
    report("one transaction per delivery", &single);
    report_work("one transaction per delivery", &single_work);
    let bare = with_bare_hyper(|addr| load::run(addr, &script, CONNECTIONS, duration));
    report("bare hyper (no work)", &bare);

    let memory = full.then(|| memory(tmp.path(), duration));

    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| durable deliveries/s, group commit, {CONNECTIONS} connections | {:.0} (p50 {} µs, p99 {} µs) |",
        grouped.per_second(),
        grouped.percentile_us(50),
        grouped.percentile_us(99)
    );
    println!(
        "| durable deliveries/s, one transaction per delivery | {:.0} (p50 {} µs, p99 {} µs) |",
        single.per_second(),
        single.percentile_us(50),
        single.percentile_us(99)
    );
    println!(
        "| CPU per delivery, group commit: writer thread / HTTP workers | {:.1} µs / {:.1} µs |",
        grouped_work.writer_us, grouped_work.http_us
    );
    println!(
        "| written per commit, group commit | {:.1} pages of 4 KiB ({:.1} deliveries, {:.1} jobs per commit) |",
        grouped_work.pages_per_commit,
        grouped_work.deliveries_per_commit,
        grouped_work.jobs_per_commit
    );
    println!(
        "| bare hyper ceiling | {:.0} (p50 {} µs, p99 {} µs) |",
        bare.per_second(),
        bare.percentile_us(50),
        bare.percentile_us(99)
    );
    println!(
        "| firmhook / bare hyper | {:.2} |",
        grouped.per_second() / bare.per_second()
    );
    println!(
        "| group commit / one transaction per delivery | {:.1}× |",
        grouped.per_second() / single.per_second()
    );
    if let Some((projects, kib, rate)) = memory {
        println!(
            "| serve peak RSS, {projects} projects, default config, under load ({rate:.0}/s) | {} MiB |",
            kib / 1024
        );
    }
}

fn report(name: &str, r: &load::Result) {
    println!(
        "ingest/{name:<30} {:>8.0} per s  p50 {:>6} µs  p99 {:>6} µs  ({} requests, {} failed)",
        r.per_second(),
        r.percentile_us(50),
        r.percentile_us(99),
        r.requests,
        r.failures
    );
    assert_eq!(r.failures, 0, "{name}: requests failed");
}

fn report_work(name: &str, w: &load::PerDelivery) {
    println!(
        "ingest/{name:<30} writer {:>6.1} µs  http {:>6.1} µs CPU per delivery  {:>5.1} pages, {:>5.1} deliveries, {:>5.1} jobs per commit",
        w.writer_us, w.http_us, w.pages_per_commit, w.deliveries_per_commit, w.jobs_per_commit
    );
}

fn import(db: &Path, csv: &Path) {
    let store = Store::open(db, store::DEFAULT_CACHE_BYTES).unwrap();
    let statuses = project_statuses();
    let options = ImportOptions::new(Mode::Apply, &statuses);
    import_dir(&store, csv, &options).unwrap();
}

/// Runs `f` against the real server over a fresh copy of the data.
fn with_server<T>(db: &Path, csv: &Path, max_batch: usize, f: impl FnOnce(SocketAddr) -> T) -> T {
    import(db, csv);
    load::with_app(db, max_batch, None, f)
}

/// A hyper server that reads the body and answers 200: the ceiling.
fn with_bare_hyper<T>(f: impl FnOnce(SocketAddr) -> T) -> T {
    use http_body_util::{BodyExt, Full};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(
                    |request: hyper::Request<hyper::body::Incoming>| async move {
                        let _ = request.into_body().collect().await;
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(
                            bytes::Bytes::from_static(b"ok\n"),
                        )))
                    },
                );
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    load::wait_listening(addr);
    let result = f(addr);
    runtime.shutdown_background();
    result
}

/// Peak RSS of the real binary over a large database under load:
/// (projects, KiB, deliveries per second).
fn memory(dir: &Path, duration: Duration) -> (u64, u64, f64) {
    let projects: u64 = std::env::var("FIRMHOOK_BENCH_MEMORY_PROJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let csv = dir.join("big-csv");
    std::fs::create_dir(&csv).unwrap();
    let (_, samples) = synth::write_csv(&csv, projects, SEED, synth::Milestones::With).unwrap();
    let db = dir.join("big.redb");
    {
        import(&db, &csv);
        Store::open(&db, store::DEFAULT_CACHE_BYTES)
            .unwrap()
            .compact()
            .unwrap();
    }
    std::fs::remove_dir_all(&csv).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_firmhook"))
        .args(["serve", "--dev", "--listen", &addr.to_string(), "--db"])
        .arg(&db)
        .env("WHATSAPP_APP_SECRET", load::SECRET)
        .env("FIRMHOOK_LOG", "warn")
        .env_remove("FIRMHOOK_CACHE_MB")
        .spawn()
        .unwrap();
    load::wait_listening(addr);
    let result = load::run(addr, &load::script(&samples), CONNECTIONS, duration);
    report("serve binary, large database", &result);
    let kib = synth::peak_rss_kib_of(&child.id().to_string());
    println!("memory/serve_peak_rss_mib {}", kib / 1024);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    (projects, kib, result.per_second())
}
