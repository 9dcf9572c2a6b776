//! Issue 22: Meta's error codes (DESIGN section 9) with Meta's own error
//! bodies, both as the answer to a send and as a `failed` status later.
//! The server's clock is moved on instead of waiting: the test reads when
//! the retry is due from the outbox, then passes that time.
//!
//! - 131056 (pair rate limit): the next attempt to that person waits at
//!   least 6 s.
//! - 131048 (spam rate limit): retried minutes to hours later, not given up.
//! - 190 (token expired): sending stops without using up the message's
//!   attempt; a restart with a good token sends what waited.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

const LUCY: &str = "447911123403";
const RAJ: &str = "447911123402";
const WAIT: Duration = Duration::from_secs(15);

/// Meta's answer to a send refused with `code`, as the Graph API gives it.
fn meta_error(code: i64) -> String {
    let (message, details) = match code {
        131056 => (
            "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            "Message failed to send because there were too many messages sent from this phone \
             number to the same phone number in a short period of time.",
        ),
        131048 => (
            "(#131048) Spam rate limit hit",
            "Message failed to send because there are restrictions on how many messages can be \
             sent from this phone number. This may be because too many previous messages were \
             blocked or flagged as spam.",
        ),
        190 => (
            "Error validating access token: Session has expired on Monday, 07-Dec-26 10:00:00 \
             PST. The current time is Monday, 07-Dec-26 11:00:00 PST.",
            "",
        ),
        _ => unreachable!("no body written for {code}"),
    };
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AzL3KUmh2vbwXHxP8xU4gC3"
    });
    if code == 190 {
        error["error_subcode"] = json!(463);
    } else {
        error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
    }
    json!({ "error": error }).to_string()
}

/// A `failed` status for `wamid`, as Meta posts it.
fn failed_status(wamid: &str, code: i64) -> String {
    let title = match code {
        131056 => "(Business Account, Consumer Account) pair rate limit hit",
        131048 => "Spam rate limit hit",
        _ => "Error validating access token",
    };
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001234", "phone_number_id": ALBA_NUMBER},
            "statuses": [{
                "id": wamid, "status": "failed", "timestamp": now_seconds().to_string(),
                "recipient_id": LUCY,
                "errors": [{"code": code, "title": title, "message": title,
                            "error_data": {"details": title}}]
            }]
        }
    }]}]})
    .to_string()
}

fn start() -> (tempfile::TempDir, FakeGraph, App) {
    let tmp = tempfile::tempdir().unwrap();
    let graph = FakeGraph::start();
    let app = spawn_app(&tmp.path().join("db.redb"), Some(&graph));
    (tmp, graph, app)
}

/// The first outbox row once its attempt is recorded (`attempts` of them
/// used, not pending a send): its attempts and when it is due again.
fn row_after(app: &App, attempts: u32) -> (u32, Option<u64>) {
    let deadline = Instant::now() + WAIT;
    loop {
        let snapshot = app.snapshot();
        let reader = snapshot.read().unwrap();
        let row = reader.outbound(1).unwrap().unwrap();
        if row.attempts == attempts && row.last_error.is_some() {
            return (row.attempts, reader.next_due().unwrap());
        }
        assert!(Instant::now() < deadline, "{row:?}");
        drop(reader);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lucy writes; the answer to her is refused with `code` (sync), or sent
/// and then failed with `code` (a status): returns the server time just
/// before the refusal and the row's (attempts, due) after it.
fn refused(app: &App, graph: &FakeGraph, code: i64, as_status: bool) -> (u64, (u32, Option<u64>)) {
    let status = if code == 190 { 401 } else { 400 };
    if !as_status {
        graph.answer_next(&[(status, &meta_error(code))]);
    }
    let before = app.clock.now_ms();
    assert_eq!(
        app.post(&webhook(ALBA_NUMBER, &[("wamid.hi", LUCY, "text:hi")]))
            .0,
        200
    );
    let sent = graph.sent_to(LUCY, 1, WAIT);
    assert_eq!(sent.len(), 1);
    if as_status {
        // Accepted as wamid.fake.1, then failed.
        row_sent(app);
        assert_eq!(app.post(&failed_status("wamid.fake.1", code)).0, 200);
    }
    (before, row_after(app, if code == 190 { 0 } else { 1 }))
}

fn row_sent(app: &App) {
    let deadline = Instant::now() + WAIT;
    while app
        .snapshot()
        .read()
        .unwrap()
        .outbound(1)
        .unwrap()
        .and_then(|r| r.wamid)
        .is_none()
    {
        assert!(Instant::now() < deadline, "never recorded as sent");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pair_rate_limit(as_status: bool) {
    let (_tmp, graph, app) = start();
    let (before, (_, due)) = refused(&app, &graph, 131056, as_status);
    let due = due.expect("queued again");
    assert!(due >= before + 6_000, "due {} ms after", due - before);
    assert!(due < before + 60_000, "due {} ms after", due - before);
    app.clock
        .advance(Duration::from_millis(due - before + 1_000));
    let sent = graph.sent_to(LUCY, 2, WAIT);
    assert_eq!(sent.len(), 2, "sent again once due");
    assert_eq!(sent[0].body, sent[1].body);
}

#[test]
fn a_pair_rate_limit_waits_at_least_6_s() {
    pair_rate_limit(false);
}

#[test]
fn a_pair_rate_limit_in_a_failed_status_waits_at_least_6_s() {
    pair_rate_limit(true);
}

fn spam_rate_limit(as_status: bool) {
    let (_tmp, graph, app) = start();
    let (before, (attempts, due)) = refused(&app, &graph, 131048, as_status);
    assert_eq!(attempts, 1);
    let due = due.expect("queued again, not given up");
    assert!(due >= before + 4 * 60_000, "due {} ms after", due - before);
    app.clock
        .advance(Duration::from_millis(due - before + 1_000));
    assert_eq!(graph.sent_to(LUCY, 2, WAIT).len(), 2, "sent again later");
}

#[test]
fn a_spam_rate_limit_is_retried_minutes_later() {
    spam_rate_limit(false);
}

#[test]
fn a_spam_rate_limit_in_a_failed_status_is_retried_minutes_later() {
    spam_rate_limit(true);
}

/// 190 as the answer to a send: sending stops, no attempt is used, and a
/// restart with a good token sends everything that waited, once.
#[test]
fn an_expired_token_uses_no_attempt_and_a_restart_sends_what_waited() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db.redb");
    let graph = FakeGraph::start();
    let app = spawn_app(&db, Some(&graph));
    graph.answer_next(&[(401, &meta_error(190))]);
    app.post(&webhook(ALBA_NUMBER, &[("wamid.1", LUCY, "text:hi")]));
    app.post(&webhook(ALBA_NUMBER, &[("wamid.2", RAJ, "text:hi")]));
    graph.wait_for(1, WAIT);
    let deadline = Instant::now() + WAIT;
    while metric(&app, "firmhook_sending_halted") == 0 {
        assert!(Instant::now() < deadline, "sending did not halt");
        std::thread::sleep(Duration::from_millis(20));
    }
    app.stop();
    let snapshot = firmhook::store::Snapshot::open(&db).unwrap();
    let reader = snapshot.read().unwrap();
    for seq in [1, 2] {
        let row = reader.outbound(seq).unwrap().unwrap();
        assert_eq!(row.attempts, 0, "no attempt used: {row:?}");
        assert_eq!(row.state, firmhook::store::State::Pending);
    }
    drop(reader);
    drop(snapshot);
    // The token is renewed; the server starts again.
    let app = spawn_app(&db, Some(&graph));
    let to_lucy = graph.sent_to(LUCY, 2, WAIT);
    let to_raj = graph.sent_to(RAJ, 1, WAIT);
    assert_eq!((to_lucy.len(), to_raj.len()), (2, 1), "each sent once more");
    app.wait_settled();
    assert_eq!(graph.requests().len(), 3);
}

/// 190 in a `failed` status: the message is queued again without using up
/// its attempt.
#[test]
fn an_expired_token_in_a_failed_status_uses_no_attempt() {
    let (_tmp, graph, app) = start();
    let (before, (attempts, due)) = refused(&app, &graph, 190, true);
    assert_eq!(attempts, 0);
    let due = due.expect("queued again");
    assert!(due >= before, "{due}");
    app.clock
        .advance(Duration::from_millis(due - before + 1_000));
    assert_eq!(graph.sent_to(LUCY, 2, WAIT).len(), 2);
}
