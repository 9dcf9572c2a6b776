//! Soak: a steady, bounded loopback load for a few minutes. Memory and open
//! file descriptors stay flat, latency stays stable, and the database stays
//! bounded as seen-message records are pruned (kept 20 s here instead of 8
//! days). Slow, so gated: `FIRMHOOK_SOAK_SECS=180 cargo test soak --
//! --nocapture` (at least 70 s; without it the test says it did not run
//! and returns).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::support::*;

const RATE: u64 = 200; // deliveries per second
const WINDOW: Duration = Duration::from_secs(10);
const KEEP_SECONDS: u64 = 20;

fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

struct Window {
    rss_kib: u64,
    fds: usize,
    p50_us: u64,
    p99_us: u64,
    db_bytes: u64,
    sent: usize,
}

#[test]
fn steady_load_keeps_memory_fds_latency_and_size_flat() {
    let Some(seconds) = std::env::var("FIRMHOOK_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        println!("soak: did not run (set FIRMHOOK_SOAK_SECS=180 to run it)");
        return;
    };
    // Pruning starts once the keep period has passed; after that window
    // at least three more are needed to compare against it.
    let settled_at = (KEEP_SECONDS / WINDOW.as_secs()) as usize + 1;
    let needed = (settled_at as u64 + 4) * WINDOW.as_secs();
    assert!(
        seconds >= needed,
        "FIRMHOOK_SOAK_SECS={seconds}: at least {needed} s are needed to compare the settled state with later ones"
    );
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db.redb");
    let app = spawn_app_keeping(
        &db,
        None,
        None,
        firmhook::writer::DEFAULT_MAX_BATCH,
        KEEP_SECONDS,
    );
    let url = app.url("/webhook");
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (url, stop, latencies) = (url.clone(), stop.clone(), latencies.clone());
            std::thread::spawn(move || {
                let gap = Duration::from_secs(4) / RATE as u32;
                let mut n = 0u64;
                let mut next = Instant::now();
                while !stop.load(Relaxed) {
                    n += 1;
                    // Reactions (recorded as seen, never answered) and texts
                    // from a few strangers (one hint each per hour).
                    let wamid = format!("wamid.soak.{t}.{n}");
                    let body = if n.is_multiple_of(4) {
                        webhook(
                            OTHER_NUMBER,
                            &[(&wamid, &format!("1415555{:04}", t), "text:hi")],
                        )
                    } else {
                        webhook(OTHER_NUMBER, &[(&wamid, "14155550100", "text:hi")])
                            .replace("\"type\":\"text\"", "\"type\":\"reaction\"")
                    };
                    let header = firmhook::whatsapp::signature::sign(
                        &firmhook::whatsapp::signature::Secret::new(SECRET),
                        body.as_bytes(),
                    );
                    let started = Instant::now();
                    let (status, _) = post(&url, &body, Some(&header));
                    assert_eq!(status, 200);
                    latencies
                        .lock()
                        .unwrap()
                        .push(started.elapsed().as_micros() as u64);
                    next += gap;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
            })
        })
        .collect();

    let mut windows = Vec::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        std::thread::sleep(WINDOW);
        let mut window: Vec<u64> = std::mem::take(&mut *latencies.lock().unwrap());
        window.sort_unstable();
        let pct = |p: usize| window.get(window.len() * p / 100).copied().unwrap_or(0);
        let w = Window {
            rss_kib: proc_status("VmRSS:"),
            fds: open_fds(),
            p50_us: pct(50),
            p99_us: pct(99),
            db_bytes: std::fs::metadata(&db).map_or(0, |m| m.len()),
            sent: window.len(),
        };
        eprintln!(
            "soak t={:>4}s  {:>5} deliveries  p50 {:>6} µs  p99 {:>6} µs  rss {:>6} KiB  fds {:>4}  db {:>9} B",
            windows.len() as u64 * WINDOW.as_secs() + WINDOW.as_secs(),
            w.sent,
            w.p50_us,
            w.p99_us,
            w.rss_kib,
            w.fds,
            w.db_bytes
        );
        windows.push(w);
    }
    stop.store(true, Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
    // Compare with the state once the keep period has passed and pruning
    // runs: the last window is a later one, never the settled one itself.
    assert!(windows.len() > settled_at + 2, "{} windows", windows.len());
    let settled = &windows[settled_at];
    let last = windows.last().unwrap();
    assert!(
        last.rss_kib <= settled.rss_kib + settled.rss_kib / 4 + 16 * 1024,
        "memory grew: {} → {} KiB",
        settled.rss_kib,
        last.rss_kib
    );
    assert!(
        last.fds <= settled.fds + 16,
        "file descriptors grew: {} → {}",
        settled.fds,
        last.fds
    );
    assert!(
        last.p99_us <= settled.p99_us * 3 + 20_000,
        "latency grew: p99 {} → {} µs",
        settled.p99_us,
        last.p99_us
    );
    assert!(
        last.db_bytes <= settled.db_bytes * 2 + (4 << 20),
        "database grew: {} → {} bytes",
        settled.db_bytes,
        last.db_bytes
    );
    let total: usize = windows.iter().map(|w| w.sent).sum();
    eprintln!(
        "soak: {seconds} s, {total} deliveries, rss {} → {} KiB",
        windows[0].rss_kib, last.rss_kib
    );
}
