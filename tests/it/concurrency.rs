//! Read-only commands beside a writer in another process.
//!
//! The writer is the real `firmhook serve --dev` over the database, and a
//! thread here adds a project through its admin API in a loop until told
//! to stop: each is one commit of another process while the read-only
//! commands run.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::support::{demo_dir, firmhook, free_port, stderr, stdout};

struct Writer {
    child: Child,
    stop: Arc<AtomicBool>,
    commits: Arc<AtomicU64>,
    adder: Option<std::thread::JoinHandle<()>>,
}

fn start_writer(db: &Path) -> Writer {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_firmhook"))
        .args(["serve", "--dev", "--listen", &addr, "--db"])
        .arg(db)
        .env("FIRMHOOK_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let deadline = Instant::now() + Duration::from_secs(30);
    while agent
        .get(&format!("http://{addr}/healthz"))
        .call()
        .map_or(true, |r| r.status() != 200)
    {
        assert!(Instant::now() < deadline, "the writer did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (stop, commits) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let adder = {
        let (stop, commits) = (stop.clone(), commits.clone());
        std::thread::spawn(move || {
            let firm = "0195a000-0000-7000-8000-0000000000f1";
            let mut n = 0u64;
            while !stop.load(Relaxed) {
                n += 1;
                let id = format!("0195f000-0000-7000-8000-{n:012x}");
                let body = format!(
                    r#"{{"name":"Load {n}","status":"Lead","created_at":"2026-06-01","client_phone":"+4479111{:05}"}}"#,
                    n % 100_000
                );
                let answer = agent
                    .put(&format!("http://{addr}/api/v1/firms/{firm}/projects/{id}"))
                    .header("Authorization", "Bearer dev-admin")
                    .header("Content-Type", "application/json")
                    .send(&body);
                if answer.is_ok_and(|r| r.status() == 201) {
                    commits.fetch_add(1, Relaxed);
                }
            }
        })
    };
    Writer {
        child,
        stop,
        commits,
        adder: Some(adder),
    }
}

impl Writer {
    /// Stops the writer and returns how many projects it committed.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Relaxed);
        if let Some(adder) = self.adder.take() {
            adder.join().unwrap();
        }
        self.commits.load(Relaxed)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn backup_export_resolve_and_check_run_while_another_process_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("live.redb");
    let db = db_path.display().to_string();
    let out = firmhook(&["import", demo_dir().to_str().unwrap(), "--db", &db]);
    assert!(out.status.success(), "{}", stderr(&out));

    let writer = start_writer(&db_path);
    let mut projects_seen = Vec::new();
    for round in 0..3 {
        let dest = tmp
            .path()
            .join(format!("backup-{round}.redb"))
            .display()
            .to_string();
        let out = firmhook(&["backup", &dest, "--db", &db]);
        assert_eq!(out.status.code(), Some(0), "backup: {}", stderr(&out));
        let out = firmhook(&["check", "--db", &dest]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "check of backup: {}",
            stdout(&out)
        );
        projects_seen.push(project_count(&stdout(&out)));

        let export = tmp.path().join(format!("export-{round}"));
        let out = firmhook(&["export", export.to_str().unwrap(), "--db", &db]);
        assert_eq!(out.status.code(), Some(0), "export: {}", stderr(&out));

        let out = firmhook(&["resolve", "447911123456", "--db", &db]);
        assert_eq!(out.status.code(), Some(0), "resolve: {}", stderr(&out));
        assert!(
            stdout(&out).starts_with("designer of firm"),
            "{}",
            stdout(&out)
        );

        let out = firmhook(&["check", "--db", &db]);
        assert_eq!(out.status.code(), Some(0), "live check: {}", stdout(&out));
        assert!(
            stdout(&out).starts_with("note: another process writes"),
            "{}",
            stdout(&out)
        );
    }

    // Writers are refused at once, and say why.
    for args in [
        vec!["import", demo_dir().to_str().unwrap(), "--db", &db],
        vec!["backfill", "--apply", "--db", &db],
    ] {
        let started = Instant::now();
        let out = firmhook(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("is open for writing by another process"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} waited for the lock"
        );
    }

    let commits = writer.stop();
    assert!(commits > 0);
    assert!(
        projects_seen.windows(2).all(|w| w[0] <= w[1]),
        "backups went back in time: {projects_seen:?}"
    );
    assert!(projects_seen[0] >= 8, "{projects_seen:?}");
    assert!(
        *projects_seen.last().unwrap() > 8,
        "no backup saw the writer's commits: {projects_seen:?}"
    );
}

/// The project count from `check`'s first line.
fn project_count(check_output: &str) -> u64 {
    let first = check_output.lines().next().unwrap();
    let before = first.split(" projects").next().unwrap();
    before.rsplit(' ').next().unwrap().parse().unwrap()
}
