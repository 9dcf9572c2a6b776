//! Read-only commands beside a writer in another process.
//!
//! The writer is this same test binary, started again with
//! `FIRMHOOK_IT_WRITER_DB` set, running [`writer_process`]: it holds the
//! database open for writing (as `firmhook serve` will) and commits a new
//! project in a loop until told to stop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use firmhook::domain::{FirmId, Phone, Project, ProjectId, ProjectStatus, Timestamp};
use firmhook::store::{self, Store};

use crate::support::{demo_dir, firmhook, stderr, stdout};

const WRITER_ENV: &str = "FIRMHOOK_IT_WRITER_DB";

/// The child's entry point; a no-op unless started by [`start_writer`].
#[test]
fn writer_process() {
    let Some(db) = std::env::var_os(WRITER_ENV).map(PathBuf::from) else {
        return;
    };
    let store = Store::open(&db, store::DEFAULT_CACHE_BYTES).unwrap();
    let firm = FirmId::parse("0195a000-0000-7000-8000-0000000000f1").unwrap();
    let stop = db.with_extension("stop");
    std::fs::write(db.with_extension("ready"), "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut commits = 0u64;
    while !stop.exists() && Instant::now() < deadline {
        commits += 1;
        let project = Project {
            id: ProjectId::new_v7(),
            firm_id: firm,
            name: format!("Load {commits}"),
            status: ProjectStatus::parse("Lead", ProjectStatus::DEFAULT_SET).unwrap(),
            client_name: String::new(),
            client_phone: Some(
                Phone::from_wa_id(&format!("4479111{:05}", commits % 100_000)).unwrap(),
            ),
            designer_member_id: None,
            designer_phone: None,
            created_at: Timestamp::from_unix_seconds(1_780_000_000 + commits as i64),
        };
        store.write(|w| w.put_project(&project)).unwrap();
    }
    std::fs::write(db.with_extension("commits"), commits.to_string()).unwrap();
}

struct Writer {
    child: Child,
    db: PathBuf,
}

fn start_writer(db: &Path) -> Writer {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "concurrency::writer_process",
            "--test-threads=1",
            "--quiet",
        ])
        .env(WRITER_ENV, db)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = db.with_extension("ready");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(
            Instant::now() < deadline,
            "the writer process did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Writer {
        child,
        db: db.to_owned(),
    }
}

impl Writer {
    /// Stops the writer and returns how many transactions it committed.
    fn stop(mut self) -> u64 {
        std::fs::write(self.db.with_extension("stop"), "").unwrap();
        assert!(
            self.child.wait().unwrap().success(),
            "the writer process failed"
        );
        std::fs::read_to_string(self.db.with_extension("commits"))
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.child.kill();
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
