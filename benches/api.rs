//! The admin API beside the webhook, the real server in-process over a real
//! file, in one run:
//!
//! - durable webhook deliveries/s over 32 connections, alone;
//! - durable API writes/s (32 clients creating milestones), alone: both go
//!   through the same writer and group commits;
//! - the webhook with a 10% mix of API writes (29 + 3 connections);
//! - `GET` of one project with its milestones, p50 and p99 over loopback,
//!   beside `GET /healthz` in the same run;
//! - an online import (`firmhook import DIR --url`, the real client) of
//!   `FIRMHOOK_BENCH_IMPORT_PROJECTS` (10,000) projects while webhooks
//!   flow: its time, and the webhook p99 meanwhile.
//!
//! The database holds `FIRMHOOK_BENCH_API_PROJECTS` projects with their
//! milestones (1,000,000 with `--bench`; 300 in the smoke run).

#[path = "support/load.rs"]
mod load;
#[path = "support/synth.rs"]
mod synth;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use firmhook::import::{Mode, Options as ImportOptions, import_dir, project_statuses};
use firmhook::store::{self, Store};
use firmhook::writer::DEFAULT_MAX_BATCH;

const SEED: u64 = 0x5eed_0003;
const CONNECTIONS: usize = 32;
const ADMIN: &str = "bench-admin-token-0123456789abcdef0123";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let duration = Duration::from_secs(if full { 10 } else { 1 });
    let projects = env_number(
        "FIRMHOOK_BENCH_API_PROJECTS",
        if full { 1_000_000 } else { 300 },
    );
    let imported = env_number(
        "FIRMHOOK_BENCH_IMPORT_PROJECTS",
        if full { 10_000 } else { 200 },
    );

    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("csv");
    std::fs::create_dir(&csv).unwrap();
    let (_, samples) = synth::write_csv(&csv, projects, SEED, synth::Milestones::With).unwrap();
    let script = load::script(&samples);
    let db = tmp.path().join("api.redb");
    {
        let store = Store::open(&db, store::DEFAULT_CACHE_BYTES).unwrap();
        let statuses = project_statuses();
        import_dir(&store, &csv, &ImportOptions::new(Mode::Apply, &statuses)).unwrap();
    }
    // (firm, project) pairs spread over the file, for the reads.
    let pairs: Vec<(String, String)> = synth::project_pairs(&csv, projects);
    std::fs::remove_dir_all(&csv).unwrap();
    let more = tmp.path().join("more");
    std::fs::create_dir(&more).unwrap();
    // New firms and records: the same generator, its ids moved to another
    // range and its business numbers left out (they are taken).
    synth::write_csv(&more, imported, SEED, synth::Milestones::With).unwrap();
    for name in firmhook::import::FILES {
        let path = more.join(name);
        if !path.exists() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("-0000-7000-8000-", "-0001-7000-8000-");
        let text = if *name == firmhook::import::FIRMS {
            text.lines()
                .map(|l| l.rsplit_once(',').map_or(l, |(head, _)| head).to_owned() + ",\n")
                .collect()
        } else {
            text
        };
        std::fs::write(&path, text).unwrap();
    }

    load::with_app(&db, DEFAULT_MAX_BATCH, Some(ADMIN), |addr| {
        let webhook = load::run(addr, &script, CONNECTIONS, duration);
        report("webhook alone", &webhook);
        let api = writes(addr, CONNECTIONS, duration, 0);
        report("API writes alone", &api);
        let counter = Arc::new(AtomicU64::new(1_000_000));
        let mix = {
            let counter = counter.clone();
            let api = std::thread::spawn(move || writes_from(addr, 3, duration, counter));
            let webhook = load::run(addr, &script, CONNECTIONS - 3, duration);
            (webhook, api.join().unwrap())
        };
        report("webhook in the 10% mix", &mix.0);
        report("API writes in the 10% mix", &mix.1);
        let (project, healthz) = reads(addr, &pairs, if full { 5000 } else { 200 });
        report("GET project with milestones", &project);
        report("GET /healthz", &healthz);

        let during = {
            let script = script.clone();
            std::thread::spawn(move || load::run(addr, &script, CONNECTIONS, duration * 3))
        };
        std::thread::sleep(duration / 2);
        let started = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_firmhook"))
            .args([
                "import",
                more.to_str().unwrap(),
                "--url",
                &format!("http://{addr}"),
            ])
            .env("FIRMHOOK_TOKEN", ADMIN)
            .output()
            .unwrap();
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
        let during = during.join().unwrap();
        println!(
            "api/online import of {imported} projects           {:>8.1} s",
            took.as_secs_f64()
        );
        report("webhook during the import", &during);

        println!();
        println!("| figure | value |");
        println!("|---|---|");
        println!(
            "| webhook alone, {CONNECTIONS} connections | {:.0}/s (p99 {} µs) |",
            webhook.per_second(),
            webhook.percentile_us(99)
        );
        println!(
            "| API writes alone, {CONNECTIONS} clients | {:.0}/s (p99 {} µs), {:.2} of the webhook |",
            api.per_second(),
            api.percentile_us(99),
            api.per_second() / webhook.per_second()
        );
        println!(
            "| webhook with 10% API writes | {:.0}/s + {:.0} API/s, {:.2} of the webhook alone |",
            mix.0.per_second(),
            mix.1.per_second(),
            (mix.0.per_second() + mix.1.per_second()) / webhook.per_second()
        );
        println!(
            "| GET project with milestones, {projects} projects | p50 {} µs, p99 {} µs (healthz p50 {} µs, p99 {} µs) |",
            project.percentile_us(50),
            project.percentile_us(99),
            healthz.percentile_us(50),
            healthz.percentile_us(99)
        );
        println!(
            "| online import, {imported} projects, webhooks flowing | {:.1} s; webhook p99 meanwhile {} µs |",
            took.as_secs_f64(),
            during.percentile_us(99)
        );
    });
}

fn report(name: &str, r: &load::Result) {
    println!(
        "api/{name:<34} {:>8.0} per s  p50 {:>6} µs  p99 {:>6} µs  ({} requests, {} failed)",
        r.per_second(),
        r.percentile_us(50),
        r.percentile_us(99),
        r.requests,
        r.failures
    );
    assert_eq!(r.failures, 0, "{name}: requests failed");
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .max_idle_connections_per_host(1)
        .build()
        .into()
}

/// `clients` threads creating milestones in the first firm's first project.
fn writes(addr: SocketAddr, clients: usize, duration: Duration, from: u64) -> load::Result {
    writes_from(addr, clients, duration, Arc::new(AtomicU64::new(from)))
}

fn writes_from(
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    next: Arc<AtomicU64>,
) -> load::Result {
    let firm = synth::uuid(0xf, 0);
    let project = synth::uuid(0xb, 0);
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (firm, project, next, failures) = (
                firm.clone(),
                project.clone(),
                next.clone(),
                failures.clone(),
            );
            std::thread::spawn(move || {
                let agent = agent();
                let mut latencies = Vec::new();
                while started.elapsed() < duration {
                    let n = next.fetch_add(1, Relaxed);
                    let id = synth::uuid(0xe, n);
                    let url = format!(
                        "http://{addr}/api/v1/firms/{firm}/projects/{project}/milestones/{id}"
                    );
                    let body =
                        format!(r#"{{"title":"Step {n}","status":"pending","position":{n}}}"#);
                    let sent = Instant::now();
                    let ok = agent
                        .put(&url)
                        .header("Authorization", &format!("Bearer {ADMIN}"))
                        .header("Content-Type", "application/json")
                        .send(body)
                        .map(|mut r| {
                            let _ = r.body_mut().read_to_vec();
                            r.status().as_u16() == 201
                        })
                        .unwrap_or(false);
                    latencies.push(sent.elapsed().as_micros() as u64);
                    if !ok {
                        failures.fetch_add(1, Relaxed);
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies_us: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    latencies_us.sort_unstable();
    load::Result {
        requests: latencies_us.len() as u64,
        failures: failures.load(Relaxed),
        seconds: started.elapsed().as_secs_f64(),
        latencies_us,
    }
}

/// `GET` of projects spread over the file, then as many `GET /healthz`,
/// one keep-alive connection each.
fn reads(addr: SocketAddr, pairs: &[(String, String)], n: usize) -> (load::Result, load::Result) {
    let agent = agent();
    let timed = |path: &dyn Fn(usize) -> String, auth: bool| {
        let started = Instant::now();
        let mut latencies = Vec::with_capacity(n);
        let mut failures = 0;
        for i in 0..n {
            let sent = Instant::now();
            let mut request = agent.get(&format!("http://{addr}{}", path(i)));
            if auth {
                request = request.header("Authorization", &format!("Bearer {ADMIN}"));
            }
            match request.call() {
                Ok(mut r) if r.status().as_u16() == 200 => {
                    let _ = r.body_mut().read_to_vec();
                }
                _ => failures += 1,
            }
            latencies.push(sent.elapsed().as_micros() as u64);
        }
        latencies.sort_unstable();
        load::Result {
            requests: n as u64,
            failures,
            seconds: started.elapsed().as_secs_f64(),
            latencies_us: latencies,
        }
    };
    let project = |i: usize| {
        let (firm, project) = &pairs[i % pairs.len()];
        format!("/api/v1/firms/{firm}/projects/{project}")
    };
    let projects = timed(&project, true);
    let healthz = timed(&|_| "/healthz".to_owned(), false);
    (projects, healthz)
}
