//! A failing disk: while commits fail the webhook answers 500 (so Meta
//! redelivers) and nothing half-applied is kept; once the disk takes writes
//! again the server recovers by itself and the redelivery is applied once.

use std::sync::Arc;
use std::time::Duration;

use firmhook::store::{self, Store};

use crate::support::*;

const LUCY: &str = "447911123403";
const TOM: &str = "447911123499";
const TILES: &str = "0195a000-0000-7000-8000-0000000000c5";

#[test]
fn failed_commits_answer_500_keep_nothing_and_recover() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db.redb");
    let (store, disk) = Store::open_faulty(&db, store::DEFAULT_CACHE_BYTES).unwrap();
    let graph = FakeGraph::start();
    let app = spawn_app_over(
        &db,
        Some(Arc::new(store)),
        Some(&graph),
        firmhook::writer::DEFAULT_MAX_BATCH,
    );
    app.open_window(ALBA_NUMBER, "447911123499");

    assert_eq!(
        app.post(&webhook(ALBA_NUMBER, &[("wamid.before", LUCY, "text:hi")]))
            .0,
        200
    );
    graph.wait_for(1, Duration::from_secs(15));

    let tap = webhook(
        ALBA_NUMBER,
        &[("wamid.tap", LUCY, &format!("button:mil:{TILES}"))],
    );
    disk.fail_writes(true);
    assert_eq!(app.post(&tap).0, 500, "a commit on a full disk");
    assert_eq!(app.post(&tap).0, 500, "and again, Meta retrying");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        graph.requests().len(),
        1,
        "nothing was answered from a failed commit"
    );

    disk.fail_writes(false);
    // Meta's redelivery: not a duplicate (nothing of the failed attempts was
    // kept), applied once now.
    assert_eq!(app.post(&tap).0, 200);
    let requests = graph.wait_for(3, Duration::from_secs(15));
    assert!(
        requests
            .iter()
            .any(|r| r.to() == LUCY && r.text().starts_with("Approved \"Tile selection\"")),
        "{requests:#?}"
    );
    assert!(requests.iter().any(|r| r.to() == TOM));
    assert_eq!(app.post(&tap).0, 200);
    std::thread::sleep(Duration::from_millis(500));
    let approvals = graph
        .requests()
        .iter()
        .filter(|r| r.text().starts_with("Approved"))
        .count();
    assert_eq!(approvals, 1, "the effect exists once");
    let metrics = crate::support::metrics(&app);
    assert!(
        metrics.contains("firmhook_commit_failures_total 2"),
        "{metrics}"
    );
    app.stop();

    let out = firmhook(&["check", "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// Issue 21: a change in a batch that failed before it was applied (the
/// file could not be reopened after an I/O error) had no outcome, and the
/// writer thread panicked: every webhook got 500 after that while
/// `/healthz` said ok. Now the change is answered as not committed, the
/// writer goes on, and `/healthz` says when commits keep failing.
#[test]
fn a_failing_disk_never_stops_the_writer_and_healthz_tells() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db.redb");
    let (store, disk) = Store::open_faulty(&db, store::DEFAULT_CACHE_BYTES).unwrap();
    let app = spawn_app_over(
        &db,
        Some(Arc::new(store)),
        None,
        firmhook::writer::DEFAULT_MAX_BATCH,
    );
    let alba = "0195a000-0000-7000-8000-0000000000f1";
    let patch = |status: &str| {
        api(
            &app,
            "PATCH",
            &format!("/api/v1/firms/{alba}/projects/0195a000-0000-7000-8000-0000000000b3"),
            Some(ADMIN),
            Some(&serde_json::json!({ "status": status })),
        )
        .0
    };
    let healthz = || get(&app.url("/healthz")).unwrap();
    assert_eq!(healthz(), (200, "ok\n".to_owned()));
    disk.fail_writes(true);
    for n in 0..3 {
        let hi = webhook(ALBA_NUMBER, &[(&format!("wamid.fail{n}"), LUCY, "text:hi")]);
        assert_eq!(app.post(&hi).0, 500);
        // A change in a failing batch, or in one whose file is closed.
        assert_eq!(patch("On Hold"), 503);
    }
    let (status, why) = healthz();
    assert_eq!(status, 503, "{why}");
    assert!(why.contains("commits failed"), "{why}");

    disk.fail_writes(false);
    // The writer is still there: the next batch commits and all is well.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while patch("On Hold") != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer did not recover"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        app.post(&webhook(ALBA_NUMBER, &[("wamid.after", LUCY, "text:hi")]))
            .0,
        200
    );
    assert_eq!(healthz(), (200, "ok\n".to_owned()));
}

/// Issue 21: a failing disk under a batch that mixes deliveries, API
/// changes and the sender's settles. Every caller hears an error (500 for
/// deliveries, 503 for changes), `/healthz` says 503 meanwhile, the writer
/// goes on, and once the disk is back the next batches commit, every
/// reply queued before goes out, and `check` finds the file clean.
#[test]
fn a_disk_failing_under_a_mixed_batch_answers_everyone_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db.redb");
    let (store, disk) = Store::open_faulty(&db, store::DEFAULT_CACHE_BYTES).unwrap();
    // Slow answers: sends are in flight, and their settles arrive, while
    // the disk fails.
    let graph = FakeGraph::start_with(0, Duration::from_millis(400));
    let app = Arc::new(spawn_app_over(
        &db,
        Some(Arc::new(store)),
        Some(&graph),
        firmhook::writer::DEFAULT_MAX_BATCH,
    ));
    let alba = "0195a000-0000-7000-8000-0000000000f1";
    let hampstead = "0195a000-0000-7000-8000-0000000000b3";
    for n in 0..4 {
        let hi = webhook(ALBA_NUMBER, &[(&format!("wamid.pre{n}"), LUCY, "text:hi")]);
        assert_eq!(app.post(&hi).0, 200);
    }
    disk.fail_writes(true);
    let streams: Vec<_> = (0..6)
        .map(|t| {
            let app = app.clone();
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                for n in 0..3 {
                    let code = if t % 2 == 0 {
                        let hi = webhook(
                            ALBA_NUMBER,
                            &[(&format!("wamid.mid{t}.{n}"), LUCY, "text:hi")],
                        );
                        app.post(&hi).0
                    } else {
                        api(
                            &app,
                            "PATCH",
                            &format!("/api/v1/firms/{alba}/projects/{hampstead}"),
                            Some(ADMIN),
                            Some(&serde_json::json!({"name": format!("Bath {t}.{n}")})),
                        )
                        .0
                    };
                    answers.push((t % 2 == 0, code));
                }
                answers
            })
        })
        .collect();
    for stream in streams {
        for (delivery, code) in stream.join().unwrap() {
            assert_eq!(
                code,
                if delivery { 500 } else { 503 },
                "delivery: {delivery}"
            );
        }
    }
    let (status, why) = get(&app.url("/healthz")).unwrap();
    assert_eq!(status, 503, "{why}");
    assert!(firmhook_metric(&app, "firmhook_commit_failures_total") >= 3);

    disk.fail_writes(false);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let hi = webhook(ALBA_NUMBER, &[("wamid.after", LUCY, "text:hi")]);
        if app.post(&hi).0 == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the writer did not recover"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, body) = api(
        &app,
        "PATCH",
        &format!("/api/v1/firms/{alba}/projects/{hampstead}"),
        Some(ADMIN),
        Some(&serde_json::json!({"name": "Bath after"})),
    );
    assert_eq!(code, 200, "{body}");
    // Every reply queued before the failure and after it went out (a send
    // whose result could not be recorded goes again: at least once).
    // (The faulty disk's file is open exclusively: the depth is read from
    // `/metrics`, not a snapshot.)
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while firmhook_metric(&app, "firmhook_outbox_depth") > 0 {
        assert!(std::time::Instant::now() < deadline, "replies still due");
        std::thread::sleep(Duration::from_millis(50));
    }
    let to_lucy = graph.requests().iter().filter(|r| r.to() == LUCY).count();
    assert!(to_lucy >= 5, "{to_lucy} replies to Lucy");
    assert_eq!(get(&app.url("/healthz")).unwrap().0, 200);
    Arc::into_inner(app).unwrap().stop();
    let out = firmhook(&["check", "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

fn firmhook_metric(app: &App, series: &str) -> u64 {
    crate::support::metric(app, series)
}
