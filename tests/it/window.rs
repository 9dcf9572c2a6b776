//! The 24-hour window through the real server and the fake Graph API
//! (DESIGN section 12). The clock the tests control is the inbound
//! message's own `timestamp` (Meta's clock), which is what the window is
//! measured from: a reaction 25 hours old leaves the window closed.
//!
//! The notification under test: Lucy approves "Tile selection", and Tom,
//! the designer, hears of it from Studio Alba's number.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(15);
const LUCY: &str = "447911123403";
const TOM: &str = "447911123499";
const RAJ: &str = "447911123402";
const ALBA: &str = "0195a000-0000-7000-8000-0000000000f1";
const TILES: &str = "0195a000-0000-7000-8000-0000000000c5";
const FLOOR_PLAN: &str = "0195a000-0000-7000-8000-0000000000c4";
const OLIVIA: &str = "447911123456";
const DAY: i64 = 24 * 3600;

fn start() -> (tempfile::TempDir, FakeGraph, App) {
    let tmp = tempfile::tempdir().unwrap();
    let graph = FakeGraph::start();
    let app = spawn_app(&tmp.path().join("db.redb"), Some(&graph));
    (tmp, graph, app)
}

fn approve(app: &App) {
    let tap = webhook(
        ALBA_NUMBER,
        &[("wamid.approve", LUCY, &format!("button:mil:{TILES}"))],
    );
    assert_eq!(app.post(&tap).0, 200);
}

fn set_default_template(app: &App, kind: &str) {
    let (status, body) = api(
        app,
        "PUT",
        &format!("/api/v1/templates/{kind}"),
        Some(ADMIN),
        Some(&json!({"name": kind, "language": "en"})),
    );
    assert_eq!(status, 200, "{body}");
}

/// The requests to `to`, once `n` of them arrived (or after a moment).
fn sent_to(graph: &FakeGraph, to: &str, n: usize) -> Vec<GraphRequest> {
    graph.sent_to(to, n, WAIT)
}

#[test]
fn outside_the_window_a_notification_is_its_template() {
    let (_tmp, graph, app) = start();
    set_default_template(&app, "milestone_approved");
    assert_eq!(app.post(&reaction(ALBA_NUMBER, TOM, 25 * 3600)).0, 200);
    approve(&app);
    let to_tom = sent_to(&graph, TOM, 1);
    assert_eq!(to_tom.len(), 1);
    assert_eq!(
        to_tom[0].body,
        json!({
            "messaging_product": "whatsapp",
            "to": TOM,
            "type": "template",
            "template": {
                "name": "milestone_approved",
                "language": {"code": "en"},
                "components": [{"type": "body", "parameters": [
                    {"type": "text", "text": "Lucy Gray"},
                    {"type": "text", "text": "Tile selection"},
                    {"type": "text", "text": "Hampstead Bath"}]}]
            }
        })
    );
    assert_eq!(
        metric(&app, "firmhook_notifications_total{how=\"template\"}"),
        1
    );
}

#[test]
fn a_firms_own_template_wins_over_the_default() {
    let (_tmp, graph, app) = start();
    set_default_template(&app, "milestone_approved");
    let (status, _) = api(
        &app,
        "PUT",
        &format!("/api/v1/firms/{ALBA}/templates/milestone_approved"),
        Some(ADMIN),
        Some(&json!({"name": "alba_aprovado", "language": "pt_BR"})),
    );
    assert_eq!(status, 200);
    approve(&app);
    let to_tom = sent_to(&graph, TOM, 1);
    assert_eq!(to_tom[0].body["template"]["name"], "alba_aprovado");
    assert_eq!(to_tom[0].body["template"]["language"]["code"], "pt_BR");
}

#[test]
fn without_a_template_it_is_held_then_sent_once_when_the_person_writes() {
    let (_tmp, graph, app) = start();
    // The demo gives Studio Alba its templates: take this one away.
    let (status, _) = api(
        &app,
        "DELETE",
        &format!("/api/v1/firms/{ALBA}/templates/milestone_approved"),
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 204);
    approve(&app);
    // Lucy's confirmation goes; Tom's notification is held.
    sent_to(&graph, LUCY, 1);
    let deadline = Instant::now() + WAIT;
    while metric(&app, "firmhook_notifications_total{how=\"held\"}") == 0 {
        assert!(Instant::now() < deadline, "nothing was held");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        graph
            .settled_to(TOM, Duration::from_millis(1500))
            .is_empty()
    );
    let (_, log) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/messages?phone={TOM}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(log["items"][0]["state"], "held", "{log}");
    let (_, feed) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/events"),
        Some(ADMIN),
        None,
    );
    assert!(
        feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "message.held"),
        "{feed}"
    );
    // Tom writes: his answer, and the held notification, free-form, once.
    assert_eq!(
        app.post(&webhook(ALBA_NUMBER, &[("wamid.tom", TOM, "text:hi")]))
            .0,
        200
    );
    let to_tom = sent_to(&graph, TOM, 2);
    assert_eq!(to_tom.len(), 2);
    assert!(
        to_tom
            .iter()
            .any(|r| r.text().starts_with("Lucy Gray approved")),
        "{to_tom:?}"
    );
    assert_eq!(
        app.post(&webhook(ALBA_NUMBER, &[("wamid.tom2", TOM, "text:hi")]))
            .0,
        200
    );
    let to_tom = sent_to(&graph, TOM, 3);
    std::thread::sleep(Duration::from_millis(500));
    let notices = graph
        .requests()
        .iter()
        .filter(|r| r.to() == TOM && r.text().starts_with("Lucy Gray approved"))
        .count();
    assert_eq!(notices, 1, "{to_tom:?}");
}

#[test]
fn a_131047_refusal_sends_the_template_once() {
    let (_tmp, graph, app) = start();
    set_default_template(&app, "milestone_approved");
    // The window looks open to us, but WhatsApp says it is not.
    app.open_window(ALBA_NUMBER, TOM);
    // Lucy's confirmation first (200), then the free-form notice (131047).
    graph.answer_next(&[
        (200, &ok_body("wamid.out.lucy")),
        (400, &graph_error(131047)),
    ]);
    approve(&app);
    let to_tom = sent_to(&graph, TOM, 2);
    assert_eq!(to_tom.len(), 2, "{to_tom:?}");
    assert_eq!(to_tom[0].body["type"], "text");
    assert_eq!(to_tom[1].body["type"], "template");
    assert_eq!(
        graph.settled_to(TOM, Duration::from_millis(1500)).len(),
        2,
        "sent more than once"
    );
}

#[test]
fn a_131047_failed_status_delivered_twice_sends_the_template_once() {
    let (_tmp, graph, app) = start();
    set_default_template(&app, "milestone_approved");
    app.open_window(ALBA_NUMBER, TOM);
    approve(&app);
    let free_form = sent_to(&graph, TOM, 1);
    assert_eq!(free_form[0].body["type"], "text");
    // The fake answers each send with wamid.fake.<n>: find Tom's.
    let (_, log) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/messages?phone={TOM}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(log["items"][0]["state"], "sent", "{log}");
    let wamid = graph
        .requests()
        .iter()
        .position(|r| r.to() == TOM)
        .map(|i| format!("wamid.fake.{}", i + 1))
        .unwrap();
    let failed = json!({"entry": [{"changes": [{"value": {
        "metadata": {"phone_number_id": ALBA_NUMBER},
        "statuses": [{"id": wamid, "status": "failed", "timestamp": now_seconds().to_string(),
                      "recipient_id": TOM, "errors": [{"code": 131047, "title": "Re-engagement message"}]}]
    }}]}]})
    .to_string();
    assert_eq!(app.post(&failed).0, 200);
    assert_eq!(app.post(&failed).0, 200);
    let to_tom = sent_to(&graph, TOM, 2);
    assert_eq!(to_tom.len(), 2, "{to_tom:?}");
    assert_eq!(to_tom[1].body["type"], "template");
    assert_eq!(
        graph.settled_to(TOM, Duration::from_millis(1500)).len(),
        2,
        "sent more than once"
    );
}

#[test]
fn tapping_the_milestone_ready_templates_button_approves() {
    let (_tmp, graph, app) = start();
    set_default_template(&app, "milestone_ready");
    // Olivia marks Chelsea Loft's floor plan ready; Raj has not written.
    let ready = webhook(
        ALBA_NUMBER,
        &[("wamid.ready", OLIVIA, &format!("button:rdy:{FLOOR_PLAN}"))],
    );
    assert_eq!(app.post(&ready).0, 200);
    let to_raj = sent_to(&graph, RAJ, 1);
    assert_eq!(to_raj[0].body["type"], "template");
    let payload = to_raj[0].body["template"]["components"][1]["parameters"][0]["payload"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(payload, format!("mil:{FLOOR_PLAN}"));
    // His tap on the template's quick reply arrives as a `button` message.
    let tap = json!({"entry": [{"changes": [{"value": {
        "metadata": {"phone_number_id": ALBA_NUMBER},
        "messages": [{"from": RAJ, "id": "wamid.raj.tap", "timestamp": now_seconds().to_string(),
                      "type": "button", "button": {"payload": payload, "text": "Approve"}}]
    }}]}]})
    .to_string();
    assert_eq!(app.post(&tap).0, 200);
    let to_raj = sent_to(&graph, RAJ, 2);
    assert!(
        to_raj[1].text().starts_with("Approved \"Floor plan\""),
        "{}",
        to_raj[1].text()
    );
}

#[test]
fn the_window_closes_ten_minutes_early() {
    let edge = DAY - 10 * 60;
    for (age, free_form) in [(edge - 90, true), (edge + 90, false)] {
        let (_tmp, graph, app) = start();
        set_default_template(&app, "milestone_approved");
        assert_eq!(app.post(&reaction(ALBA_NUMBER, TOM, age)).0, 200);
        approve(&app);
        let to_tom = sent_to(&graph, TOM, 1);
        let kind = to_tom[0].body["type"].as_str().unwrap().to_owned();
        assert_eq!(
            kind == "text",
            free_form,
            "a message {age} s old: sent as {kind}"
        );
    }
}

/// A Graph API success answer with this message id.
fn ok_body(wamid: &str) -> String {
    json!({"messaging_product": "whatsapp", "messages": [{"id": wamid}]}).to_string()
}

/// The window is decided by the server's clock, which the test moves on
/// instead of waiting a day: the same status change goes free-form while
/// Lucy's last message is recent, and as its template 24 hours later.
#[test]
fn the_window_closes_when_the_servers_clock_passes_24_hours() {
    let (_tmp, graph, app) = start();
    const HAMPSTEAD: &str = "0195a000-0000-7000-8000-0000000000b3";
    let set_status = |status: &str| set_status(&app, ALBA, HAMPSTEAD, status);
    assert_eq!(
        app.post(&webhook(ALBA_NUMBER, &[("wamid.lucy", LUCY, "text:hi")]))
            .0,
        200
    );
    // Her answer, then the notice of the change, free-form.
    sent_to(&graph, LUCY, 1);
    set_status("On Hold");
    let to_lucy = sent_to(&graph, LUCY, 2);
    assert_eq!(to_lucy[1].body["type"], "text", "{to_lucy:?}");
    app.clock.advance(Duration::from_secs(DAY as u64 + 60));
    set_status("Active");
    let to_lucy = sent_to(&graph, LUCY, 3);
    assert_eq!(to_lucy.len(), 3, "{to_lucy:?}");
    assert_eq!(to_lucy[2].body["type"], "template", "{to_lucy:?}");
    assert_eq!(to_lucy[2].body["template"]["name"], "status_changed");
}
