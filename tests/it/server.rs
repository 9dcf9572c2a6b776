//! The real server on a loopback port, over a database file, talking to a
//! fake Graph API that is a real HTTP server.

use std::io::{Read, Write};
use std::time::Duration;

use firmhook::domain::{FirmId, MilestoneId, MilestoneStatus, ProjectId};
use firmhook::store::{Snapshot, State};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(15);
const LUCY: &str = "447911123403";
const TOM: &str = "447911123499";
const OLIVIA: &str = "447911123456";
const RAJ: &str = "447911123402";
const MARCOS: &str = "5511987654321";
const ALBA: &str = "0195a000-0000-7000-8000-0000000000f1";
const HAMPSTEAD: &str = "0195a000-0000-7000-8000-0000000000b3";
const TILES: &str = "0195a000-0000-7000-8000-0000000000c5";
const FITTING: &str = "0195a000-0000-7000-8000-0000000000c6";
const FLOOR_PLAN: &str = "0195a000-0000-7000-8000-0000000000c4";
const CHELSEA: &str = "0195a000-0000-7000-8000-0000000000b2";

fn start() -> (tempfile::TempDir, FakeGraph, App) {
    let tmp = tempfile::tempdir().unwrap();
    let graph = FakeGraph::start();
    let app = spawn_app(&tmp.path().join("db.redb"), Some(&graph));
    (tmp, graph, app)
}

fn milestone_status(snapshot: &Snapshot, project: &str, milestone: &str) -> MilestoneStatus {
    let reader = snapshot.read().unwrap();
    let firm = FirmId::parse(ALBA).unwrap();
    let project = ProjectId::parse(project).unwrap();
    let milestone = MilestoneId::parse(milestone).unwrap();
    reader
        .milestone(firm, project, milestone)
        .unwrap()
        .unwrap()
        .status
}

#[test]
fn handshake_answers_the_challenge_only_with_the_right_token() {
    let (_tmp, _graph, app) = start();
    let ok = get(&app.url(&format!(
        "/webhook?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=12345"
    )))
    .unwrap();
    assert_eq!(ok, (200, "12345".to_owned()));
    let wrong = get(&app.url("/webhook?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"));
    assert_eq!(wrong.unwrap().0, 403);
    assert_eq!(get(&app.url("/webhook")).unwrap().0, 403);
    assert_eq!(get(&app.url("/healthz")).unwrap(), (200, "ok\n".to_owned()));
    assert_eq!(get(&app.url("/nowhere")).unwrap().0, 404);
}

#[test]
fn only_correctly_signed_bodies_are_processed() {
    let (_tmp, graph, app) = start();
    let body = webhook(ALBA_NUMBER, &[("wamid.SIG", LUCY, "text:hi")]);
    let good = firmhook::whatsapp::signature::sign(
        &firmhook::whatsapp::signature::Secret::new(SECRET),
        body.as_bytes(),
    );
    let other = firmhook::whatsapp::signature::sign(
        &firmhook::whatsapp::signature::Secret::new("wrong"),
        body.as_bytes(),
    );
    let url = app.url("/webhook");
    let tampered = body.replace("hi", "ho");
    for (case, payload, header) in [
        ("missing", body.as_str(), None),
        ("malformed", body.as_str(), Some("sha256=xyz")),
        ("no prefix", body.as_str(), Some(&good[7..])),
        ("wrong secret", body.as_str(), Some(other.as_str())),
        ("tampered body", tampered.as_str(), Some(good.as_str())),
    ] {
        assert_eq!(post(&url, payload, header).0, 401, "{case}");
    }
    assert!(!app.snapshot().read().unwrap().is_seen("wamid.SIG").unwrap());
    assert_eq!(metric(&app, "firmhook_signature_failures_total"), 5);

    // Meta's escaping (\u00e9, \/) is signed as sent.
    let escaped = body.replace(
        "text\":{\"body\":\"hi\"}",
        r#"text":{"body":"caf\u00e9 \/ hi"}"#,
    );
    assert_ne!(escaped, body);
    let header = firmhook::whatsapp::signature::sign(
        &firmhook::whatsapp::signature::Secret::new(SECRET),
        escaped.as_bytes(),
    );
    assert_eq!(post(&url, &escaped, Some(&header)).0, 200);
    graph.wait_for(1, WAIT);
    assert!(app.snapshot().read().unwrap().is_seen("wamid.SIG").unwrap());
}

#[test]
fn oversized_and_non_json_bodies_are_refused() {
    let (_tmp, _graph, app) = start();
    // Declared far too big to be worth draining: refused at once, before
    // the body is read.
    let mut stream = std::net::TcpStream::connect(app.addr).unwrap();
    write!(
        stream,
        "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nX-Hub-Signature-256: sha256={}\r\n\r\n",
        64 * 1024 * 1024,
        "0".repeat(64)
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(app.post("{\"entry\":").0, 400);
    assert_eq!(
        app.post("{\"object\":\"whatsapp_business_account\",\"entry\":[]}")
            .0,
        200
    );
}

#[test]
fn client_approves_a_milestone_and_the_designer_hears_of_it_once() {
    let (_tmp, graph, app) = start();
    app.open_window(ALBA_NUMBER, TOM);
    assert_eq!(
        app.post(&webhook(ALBA_NUMBER, &[("wamid.1", LUCY, "text:hello")]))
            .0,
        200
    );
    let summary = &graph.wait_for(1, WAIT)[0];
    assert_eq!(summary.path, format!("/v25.0/{ALBA_NUMBER}/messages"));
    assert_eq!(summary.authorization, "Bearer test-token");
    assert_eq!(summary.to(), LUCY);
    assert!(
        summary.text().starts_with("Hampstead Bath — Active"),
        "{}",
        summary.text()
    );
    assert_eq!(summary.ids(), [format!("do_approve:{HAMPSTEAD}")]);

    app.post(&webhook(
        ALBA_NUMBER,
        &[("wamid.2", LUCY, &format!("button:do_approve:{HAMPSTEAD}"))],
    ));
    let list = &graph.wait_for(2, WAIT)[1];
    assert_eq!(list.ids(), [format!("mil:{TILES}")]);

    app.post(&webhook(
        ALBA_NUMBER,
        &[("wamid.3", LUCY, &format!("button:mil:{TILES}"))],
    ));
    let requests = graph.wait_for(4, WAIT);
    let confirm = requests
        .iter()
        .find(|r| r.to() == LUCY && r.text().starts_with("Approved"))
        .unwrap();
    assert_eq!(
        confirm.text(),
        "Approved \"Tile selection\" on Hampstead Bath. Thank you!"
    );
    let told = requests
        .iter()
        .find(|r| r.to() == TOM)
        .expect("the designer is told");
    assert_eq!(
        told.text(),
        "Lucy Gray approved \"Tile selection\" on Hampstead Bath."
    );
    assert_eq!(
        milestone_status(&app.snapshot(), HAMPSTEAD, TILES),
        MilestoneStatus::Approved
    );

    // Tapping again changes nothing and says so.
    app.post(&webhook(
        ALBA_NUMBER,
        &[("wamid.4", LUCY, &format!("button:mil:{TILES}"))],
    ));
    let again = &graph.wait_for(5, WAIT)[4];
    assert_eq!(again.text(), "\"Tile selection\" is already approved.");
    app.wait_settled();
    assert_eq!(graph.requests().iter().filter(|r| r.to() == TOM).count(), 1);
}

#[test]
fn designer_marks_ready_and_the_client_gets_an_approval_prompt() {
    let (_tmp, graph, app) = start();
    app.open_window(ALBA_NUMBER, RAJ);
    app.post(&webhook(
        ALBA_NUMBER,
        &[("wamid.1", OLIVIA, &format!("button:sel:{CHELSEA}"))],
    ));
    let summary = &graph.wait_for(1, WAIT)[0];
    assert_eq!(summary.ids(), [format!("more:ready:{CHELSEA}:0")]);
    app.post(&webhook(
        ALBA_NUMBER,
        &[("wamid.2", OLIVIA, &format!("button:more:ready:{CHELSEA}:0"))],
    ));
    assert_eq!(
        graph.wait_for(2, WAIT)[1].ids(),
        [format!("rdy:{FLOOR_PLAN}")]
    );

    app.post(&webhook(
        ALBA_NUMBER,
        &[("wamid.3", OLIVIA, &format!("button:rdy:{FLOOR_PLAN}"))],
    ));
    let requests = graph.wait_for(4, WAIT);
    let prompt = requests
        .iter()
        .find(|r| r.to() == RAJ)
        .expect("the client is asked");
    assert_eq!(prompt.ids(), [format!("mil:{FLOOR_PLAN}")]);
    assert_eq!(
        milestone_status(&app.snapshot(), CHELSEA, FLOOR_PLAN),
        MilestoneStatus::AwaitingApproval
    );
}

#[test]
fn designer_changes_status_and_a_client_cannot() {
    let (_tmp, graph, app) = start();
    app.open_window(ALBA_NUMBER, "4915123456789");
    app.post(&webhook(
        ALBA_NUMBER,
        &[("wamid.1", LUCY, "text:/status Completed")],
    ));
    assert_eq!(
        graph.wait_for(1, WAIT)[0].text(),
        "Only the designer can update project status."
    );
    app.post(&webhook(
        ALBA_NUMBER,
        &[("wamid.2", OLIVIA, "text:/STATUS on hold")],
    ));
    let requests = graph.wait_for(3, WAIT);
    assert!(
        requests
            .iter()
            .any(|r| r.to() == OLIVIA && r.text() == "Notting Hill Flat is now On Hold.")
    );
    let reader = app.snapshot().read().unwrap();
    let flat = ProjectId::parse("0195a000-0000-7000-8000-0000000000b4").unwrap();
    let project = reader
        .project(FirmId::parse(ALBA).unwrap(), flat)
        .unwrap()
        .unwrap();
    assert_eq!(project.status.as_str(), "On Hold");
}

#[test]
fn forged_taps_on_another_firms_resources_change_nothing() {
    let (_tmp, graph, app) = start();
    // Marcos designs for Casa Verde; these are Studio Alba's milestones.
    for (n, id) in [
        format!("rdy:{FITTING}"),
        format!("mil:{TILES}"),
        format!("do_approve:{HAMPSTEAD}"),
        format!("sel:{HAMPSTEAD}"),
    ]
    .iter()
    .enumerate()
    {
        let wamid = format!("wamid.forged.{n}");
        assert_eq!(
            app.post(&webhook(
                ALBA_NUMBER,
                &[(&wamid, MARCOS, &format!("button:{id}"))]
            ))
            .0,
            200
        );
    }
    let requests = graph.wait_for(4, WAIT);
    assert!(
        requests
            .iter()
            .all(|r| r.to() == MARCOS && r.text() == "That item is no longer available."),
        "{requests:#?}"
    );
    let snapshot = app.snapshot();
    assert_eq!(
        milestone_status(&snapshot, HAMPSTEAD, FITTING),
        MilestoneStatus::Pending
    );
    assert_eq!(
        milestone_status(&snapshot, HAMPSTEAD, TILES),
        MilestoneStatus::AwaitingApproval
    );
    // A typed id of the right shape for nothing at all.
    app.post(&webhook(
        ALBA_NUMBER,
        &[(
            "wamid.typed",
            LUCY,
            "button:mil:0195a000-0000-7000-8000-00000000ffff",
        )],
    ));
    assert_eq!(
        graph.wait_for(5, WAIT)[4].text(),
        "That item is no longer available."
    );
}

#[test]
fn a_wamid_delivered_many_times_is_processed_once() {
    let (_tmp, graph, app) = start();
    app.open_window(ALBA_NUMBER, TOM);
    let tap = format!("button:mil:{TILES}");
    // Twice inside one POST, and the same POST five times at once.
    let body = webhook(
        ALBA_NUMBER,
        &[("wamid.DUP", LUCY, &tap), ("wamid.DUP", LUCY, &tap)],
    );
    let threads: Vec<_> = (0..5)
        .map(|_| {
            let (body, url) = (body.clone(), app.url("/webhook"));
            std::thread::spawn(move || {
                let header = firmhook::whatsapp::signature::sign(
                    &firmhook::whatsapp::signature::Secret::new(SECRET),
                    body.as_bytes(),
                );
                post(&url, &body, Some(&header)).0
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), 200);
    }
    // One confirmation to Lucy and one notice to Tom, nothing more.
    graph.wait_for(2, WAIT);
    app.wait_settled();
    let requests = graph.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(metric(&app, "firmhook_duplicate_messages_total"), 9);
    let events = app.snapshot().read().unwrap().events().unwrap();
    assert_eq!(events.iter().filter(|e| e.wamid == "wamid.DUP").count(), 1);
}

#[test]
fn every_entry_and_change_of_a_batch_is_processed() {
    let (_tmp, graph, app) = start();
    let one = webhook(ALBA_NUMBER, &[("wamid.A", LUCY, "text:hi")]);
    let two = webhook(
        ALBA_NUMBER,
        &[
            ("wamid.B", RAJ, "text:hi"),
            ("wamid.C", OLIVIA, "text:help"),
        ],
    );
    let mut root: serde_json::Value = serde_json::from_str(&one).unwrap();
    let other: serde_json::Value = serde_json::from_str(&two).unwrap();
    let change = other["entry"][0]["changes"][0].clone();
    root["entry"][0]["changes"]
        .as_array_mut()
        .unwrap()
        .push(change.clone());
    root["entry"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"id": "2", "changes": [change]}));
    assert_eq!(app.post(&root.to_string()).0, 200);
    let requests = graph.wait_for(3, WAIT);
    let mut to: Vec<&str> = requests.iter().map(|r| r.to()).collect();
    to.sort();
    // Lucy's change, then Raj and Olivia twice (the same change in two entries
    // carries the same wamids, so only once each).
    let mut want = [LUCY, RAJ, OLIVIA];
    want.sort();
    assert_eq!(to, want);
    app.wait_settled();
    assert_eq!(graph.requests().len(), 3);
}

#[test]
fn delivery_states_only_move_forward() {
    let (_tmp, graph, app) = start();
    app.post(&webhook(ALBA_NUMBER, &[("wamid.1", LUCY, "text:hi")]));
    graph.wait_for(1, WAIT);
    // The fake answered wamid.fake.1; wait until the sender recorded it.
    let reader_state = || {
        let snapshot = app.snapshot();
        let reader = snapshot.read().unwrap();
        reader.outbound(1).unwrap().unwrap()
    };
    let deadline = std::time::Instant::now() + WAIT;
    while reader_state().state != State::Sent {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = |state: &str| {
        serde_json::json!({"entry": [{"changes": [{"value": {
            "metadata": {"phone_number_id": ALBA_NUMBER},
            "statuses": [{"id": "wamid.fake.1", "status": state, "timestamp": "1780000001", "recipient_id": LUCY}]
        }}]}]})
        .to_string()
    };
    assert_eq!(app.post(&status("read")).0, 200);
    assert_eq!(app.post(&status("sent")).0, 200);
    assert_eq!(app.post(&status("delivered")).0, 200);
    assert_eq!(reader_state().state, State::Read);
}

#[test]
fn graph_failures_are_retried_by_error_code_and_delivered_once() {
    let (_tmp, graph, app) = start();
    graph.answer_next(&[(500, "oops"), (400, &graph_error(130429))]);
    app.post(&webhook(ALBA_NUMBER, &[("wamid.1", LUCY, "text:hi")]));
    // 1 s and 4 s (±20%) of backoff, then success.
    let requests = graph.wait_for(3, Duration::from_secs(20));
    assert!(requests.iter().all(|r| r.to() == LUCY));
    app.wait_settled();
    assert_eq!(graph.requests().len(), 3);
    let outbound = app.snapshot().read().unwrap().outbound(1).unwrap().unwrap();
    assert_eq!((outbound.state, outbound.attempts), (State::Sent, 3));
    assert_eq!(
        metric(&app, "firmhook_send_attempts_total{result=\"retry\"}"),
        2
    );
}

#[test]
fn a_closed_window_is_final_and_not_retried() {
    let (_tmp, graph, app) = start();
    graph.answer_next(&[(400, &graph_error(131047))]);
    app.post(&webhook(ALBA_NUMBER, &[("wamid.1", LUCY, "text:hi")]));
    graph.wait_for(1, WAIT);
    app.wait_settled();
    assert_eq!(graph.requests().len(), 1);
    let outbound = app.snapshot().read().unwrap().outbound(1).unwrap().unwrap();
    assert_eq!(outbound.state, State::Failed);
    assert!(outbound.last_error.unwrap().contains("131047"));
}

#[test]
fn replies_still_in_the_outbox_are_sent_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db.redb");
    let down = FakeGraph::start();
    down.answer_next(&[(503, ""); 1]);
    let app = spawn_app(&db, Some(&down));
    app.post(&webhook(ALBA_NUMBER, &[("wamid.1", LUCY, "text:hi")]));
    down.wait_for(1, WAIT);
    app.stop();

    let up = FakeGraph::start();
    let app = spawn_app(&db, Some(&up));
    let requests = up.wait_for(1, WAIT);
    assert_eq!(requests[0].to(), LUCY);
    app.wait_settled();
    assert_eq!(up.requests().len(), 1);
    drop(app);
}

#[test]
fn unknown_senders_get_the_registration_hint_once_an_hour() {
    let (_tmp, graph, app) = start();
    app.post(&webhook(
        OTHER_NUMBER,
        &[("wamid.1", "14155552671", "text:hi")],
    ));
    app.post(&webhook(
        OTHER_NUMBER,
        &[("wamid.2", "14155552671", "text:hello?")],
    ));
    let requests = graph.wait_for(1, WAIT);
    assert!(
        requests[0]
            .text()
            .starts_with("Hello! We don't recognise this number")
    );
    app.wait_settled();
    assert_eq!(graph.requests().len(), 1);
}

#[test]
fn a_bsuid_only_message_resolves_through_a_remembered_phone() {
    let (_tmp, graph, app) = start();
    let with_both = serde_json::json!({"entry": [{"changes": [{"value": {
        "metadata": {"phone_number_id": ALBA_NUMBER},
        "contacts": [{"wa_id": LUCY, "user_id": "GB.555"}],
        "messages": [{"from": LUCY, "from_user_id": "GB.555", "id": "wamid.1", "type": "text", "text": {"body": "hi"}}]
    }}]}]});
    app.post(&with_both.to_string());
    graph.wait_for(1, WAIT);
    let only_user = serde_json::json!({"entry": [{"changes": [{"value": {
        "metadata": {"phone_number_id": ALBA_NUMBER},
        "contacts": [{"user_id": "GB.555"}],
        "messages": [{"from_user_id": "GB.555", "id": "wamid.2", "type": "text", "text": {"body": "hi"}}]
    }}]}]});
    app.post(&only_user.to_string());
    let reply = &graph.wait_for(2, WAIT)[1];
    assert_eq!(reply.body["recipient"], "GB.555");
    assert!(reply.body.get("to").is_none());
    assert!(
        reply.text().starts_with("Hampstead Bath"),
        "{}",
        reply.text()
    );
}

#[test]
fn an_expired_token_stops_sending_and_keeps_replies_queued() {
    let (_tmp, graph, app) = start();
    graph.answer_next(&[(401, &graph_error(190))]);
    app.post(&webhook(ALBA_NUMBER, &[("wamid.1", LUCY, "text:hi")]));
    app.post(&webhook(ALBA_NUMBER, &[("wamid.2", RAJ, "text:hi")]));
    graph.wait_for(1, WAIT);
    // The sender halts as it reads the 190, before any other send.
    let deadline = std::time::Instant::now() + WAIT;
    while metric(&app, "firmhook_sending_halted") == 0 {
        assert!(std::time::Instant::now() < deadline, "sending did not halt");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(graph.requests().len(), 1, "nothing is sent after a 190");
    assert_eq!(metric(&app, "firmhook_sending_halted"), 1);
    assert_eq!(metric(&app, "firmhook_outbox_depth"), 2);
}

#[test]
fn replies_wait_out_a_graph_api_that_is_down_then_go_once() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port(); // nothing listens: connection refused
    let app = spawn_app_full(
        &tmp.path().join("db.redb"),
        None,
        Some(graph_url(port)),
        512,
    );
    app.post(&webhook(ALBA_NUMBER, &[("wamid.1", LUCY, "text:hi")]));
    let retries = || metric(&app, "firmhook_send_attempts_total{result=\"retry\"}");
    let wait_retries = |n: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while retries() < n {
            assert!(std::time::Instant::now() < deadline, "no attempt {n}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Refused at once; then, the server's clock moved past the first
    // back-off (1 s), refused again.
    wait_retries(1);
    app.clock.advance(Duration::from_secs(3));
    wait_retries(2);
    // Nothing more is tried until the second back-off (4 s) has passed.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(retries(), 2, "retried before its time");
    // The Graph API comes back, the clock passes the back-off: it goes.
    let graph = FakeGraph::start_on(port);
    app.clock.advance(Duration::from_secs(8));
    let requests = graph.wait_for(1, Duration::from_secs(30));
    assert_eq!(requests[0].to(), LUCY);
    app.wait_settled();
    assert_eq!(graph.requests().len(), 1);
    let outbound = app.snapshot().read().unwrap().outbound(1).unwrap().unwrap();
    assert_eq!(outbound.state, State::Sent);
    assert_eq!(outbound.attempts, 3, "refused, refused, sent");
    assert_eq!(retries(), 2);
    assert_eq!(
        metric(&app, "firmhook_send_attempts_total{result=\"sent\"}"),
        1
    );
}

#[test]
fn a_graph_api_that_hangs_times_out_and_is_retried() {
    let tmp = tempfile::tempdir().unwrap();
    // Each answer comes after 1.5 s; the sender gives up on a request after 0.7 s.
    let slow = FakeGraph::start_with(0, Duration::from_millis(1500));
    let app = spawn_app(&tmp.path().join("db.redb"), Some(&slow));
    app.post(&webhook(ALBA_NUMBER, &[("wamid.1", LUCY, "text:hi")]));
    slow.wait_for(2, Duration::from_secs(15));
    let outbound = app.snapshot().read().unwrap().outbound(1).unwrap().unwrap();
    assert_eq!(outbound.state, State::Pending);
    assert!(
        outbound.last_error.unwrap().starts_with("network"),
        "a timeout is a network error"
    );
    assert!(metric(&app, "firmhook_send_attempts_total{result=\"retry\"}") >= 1);
}

#[test]
fn metrics_show_the_file_size_and_the_entries_of_each_table() {
    let (_tmp, graph, app) = start();
    app.post(&webhook(ALBA_NUMBER, &[("wamid.m1", LUCY, "text:hi")]));
    graph.wait_for(1, WAIT);
    assert!(metric(&app, "firmhook_database_bytes") > 0);
    assert_eq!(metric(&app, "firmhook_table_entries{table=\"firms\"}"), 3);
    assert_eq!(
        metric(&app, "firmhook_table_entries{table=\"milestones\"}"),
        11
    );
    assert!(metric(&app, "firmhook_table_entries{table=\"seen_batches\"}") >= 1);
}

/// Issue 22: Meta's history sync (`field: history`) and echoes of what the
/// business sent from the app are answered 200 and never replied to.
#[test]
fn history_and_echoes_are_acknowledged_and_never_answered() {
    let (_tmp, graph, app) = start();
    for (n, field) in ["history", "smb_message_echoes", "account_update"]
        .iter()
        .enumerate()
    {
        let body = webhook(ALBA_NUMBER, &[(&format!("wamid.old{n}"), LUCY, "text:hi")])
            .replace(
                "\"field\": \"messages\"",
                &format!("\"field\": \"{field}\""),
            )
            .replace("\"field\":\"messages\"", &format!("\"field\":\"{field}\""));
        assert!(body.contains(field), "{body}");
        assert_eq!(app.post(&body).0, 200, "{field}");
    }
    app.wait_settled();
    assert_eq!(graph.requests().len(), 0, "{:#?}", graph.requests());
    // The same message under `messages` is answered.
    assert_eq!(
        app.post(&webhook(ALBA_NUMBER, &[("wamid.live", LUCY, "text:hi")]))
            .0,
        200
    );
    graph.wait_for(1, WAIT);
}
