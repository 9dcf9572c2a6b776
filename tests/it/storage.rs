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
