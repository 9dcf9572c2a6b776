//! Signed payloads that try to borrow someone's identity or slip past the
//! rules, through the real server: lone contacts, BSUID re-links, taps on
//! another firm's number, an existence oracle, one bad item in a batch and
//! identifiers of megabytes.

use std::time::Duration;

use firmhook::domain::{FirmId, Phone, ProjectId};
use serde_json::json;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(15);
const LUCY: &str = "447911123403";
const EMMA: &str = "447911123401";
const OLIVIA: &str = "447911123456";
const STRANGER: &str = "14155552671";
const ALBA: &str = "0195a000-0000-7000-8000-0000000000f1";
const NOTTING_HILL: &str = "0195a000-0000-7000-8000-0000000000b4";
/// Emma's project at Studio Alba, and Casa Verde's business number.
const KENSINGTON: &str = "0195a000-0000-7000-8000-0000000000b1";
const CASA_VERDE_NUMBER: &str = "106540352242933";

fn start() -> (tempfile::TempDir, FakeGraph, App) {
    let tmp = tempfile::tempdir().unwrap();
    let graph = FakeGraph::start();
    let app = spawn_app(&tmp.path().join("db.redb"), Some(&graph));
    (tmp, graph, app)
}

fn change(number: &str, contacts: serde_json::Value, messages: serde_json::Value) -> String {
    json!({"entry": [{"changes": [{"value": {
        "metadata": {"phone_number_id": number},
        "contacts": contacts,
        "messages": messages,
    }}]}]})
    .to_string()
}

fn text(wamid: &str, body: &str) -> serde_json::Value {
    json!({"id": wamid, "timestamp": "1780000000", "type": "text", "text": {"body": body}})
}

fn with(mut message: serde_json::Value, ids: serde_json::Value) -> serde_json::Value {
    for (k, v) in ids.as_object().unwrap() {
        message[k] = v.clone();
    }
    message
}

fn notting_hill_status(app: &App) -> String {
    let reader = app.snapshot().read().unwrap();
    let project = reader
        .project(
            FirmId::parse(ALBA).unwrap(),
            ProjectId::parse(NOTTING_HILL).unwrap(),
        )
        .unwrap()
        .unwrap();
    project.status.to_string()
}

fn linked(app: &App, bsuid: &str) -> Option<Phone> {
    app.snapshot().read().unwrap().bsuid_phone(bsuid).unwrap()
}

#[test]
fn a_lone_contact_naming_someone_else_does_not_make_the_sender_them() {
    let (_tmp, graph, app) = start();
    let before = notting_hill_status(&app);
    // Mallory writes BSUID-only; the lone contact names Olivia, a designer.
    let body = change(
        ALBA_NUMBER,
        json!([{"wa_id": OLIVIA, "user_id": "US.OLIVIA"}]),
        json!([with(
            text("wamid.m1", "/status On Hold"),
            json!({"from_user_id": "US.MALLORY"})
        )]),
    );
    assert_eq!(app.post(&body).0, 200);
    let reply = &graph.wait_for(1, WAIT)[0];
    assert_eq!(reply.body["recipient"], "US.MALLORY");
    assert!(
        reply.text().starts_with("Hello! We don't recognise"),
        "{}",
        reply.text()
    );
    assert_eq!(notting_hill_status(&app), before);
    assert_eq!(linked(&app, "US.MALLORY"), None);
    // A later BSUID-only message from Mallory is still nobody.
    let again = change(
        ALBA_NUMBER,
        json!([]),
        json!([with(
            text("wamid.m2", "/status On Hold"),
            json!({"from_user_id": "US.MALLORY"})
        )]),
    );
    assert_eq!(app.post(&again).0, 200);
    assert_eq!(notting_hill_status(&app), before);
}

#[test]
fn a_linked_bsuid_is_never_relinked_by_a_stranger() {
    let (_tmp, graph, app) = start();
    // Lucy writes with both ids: her BSUID is linked to her phone.
    let lucy = change(
        ALBA_NUMBER,
        json!([{"wa_id": LUCY, "user_id": "GB.LUCY"}]),
        json!([with(
            text("wamid.l1", "hi"),
            json!({"from": LUCY, "from_user_id": "GB.LUCY"})
        )]),
    );
    assert_eq!(app.post(&lucy).0, 200);
    let lucy_phone = Phone::from_wa_id(LUCY).unwrap();
    assert_eq!(linked(&app, "GB.LUCY"), Some(lucy_phone));
    // A stranger's message whose contact carries Lucy's BSUID.
    let stranger = change(
        ALBA_NUMBER,
        json!([{"wa_id": STRANGER, "user_id": "GB.LUCY"}]),
        json!([with(text("wamid.s1", "hi"), json!({"from": STRANGER}))]),
    );
    assert_eq!(app.post(&stranger).0, 200);
    assert_eq!(
        linked(&app, "GB.LUCY"),
        Some(lucy_phone),
        "the link was replaced"
    );
    assert_eq!(
        metric(
            &app,
            "firmhook_inbound_dropped_total{what=\"identity_conflict\"}"
        ),
        1
    );
    // The stranger was answered as a stranger, at their own number.
    let replies = graph.wait_for(2, WAIT);
    assert_eq!(replies[1].to(), STRANGER);
    assert!(replies[1].text().starts_with("Hello! We don't recognise"));
    // Lucy's BSUID-only messages are still Lucy's.
    let only_bsuid = change(
        ALBA_NUMBER,
        json!([{"user_id": "GB.LUCY"}]),
        json!([with(
            text("wamid.l2", "hi"),
            json!({"from_user_id": "GB.LUCY"})
        )]),
    );
    assert_eq!(app.post(&only_bsuid).0, 200);
    let reply = &graph.wait_for(3, WAIT)[2];
    assert_eq!(reply.body["recipient"], "GB.LUCY");
    assert!(
        reply.text().starts_with("Hampstead Bath"),
        "{}",
        reply.text()
    );
}

#[test]
fn a_number_change_is_served_by_the_new_phone_and_keeps_the_old_link() {
    let (_tmp, graph, app) = start();
    let first = change(
        ALBA_NUMBER,
        json!([{"wa_id": LUCY, "user_id": "GB.LUCY"}]),
        json!([with(
            text("wamid.n1", "hi"),
            json!({"from": LUCY, "from_user_id": "GB.LUCY"})
        )]),
    );
    assert_eq!(app.post(&first).0, 200);
    // Meta's number-change notice comes from the old number; then the
    // person writes from the new one with the same BSUID.
    let notice = change(
        ALBA_NUMBER,
        json!([]),
        json!([{"from": LUCY, "id": "wamid.sys", "type": "system",
                "system": {"body": "changed", "wa_id": STRANGER, "type": "user_changed_number"}}]),
    );
    assert_eq!(app.post(&notice).0, 200);
    let new_number = change(
        ALBA_NUMBER,
        json!([{"wa_id": STRANGER, "user_id": "GB.LUCY"}]),
        json!([with(
            text("wamid.n2", "hi"),
            json!({"from": STRANGER, "from_user_id": "GB.LUCY"})
        )]),
    );
    assert_eq!(app.post(&new_number).0, 200);
    let replies = graph.wait_for(2, WAIT);
    // Answered at the number it came from, as that number is known today.
    assert_eq!(replies[1].to(), STRANGER);
    assert_eq!(
        linked(&app, "GB.LUCY"),
        Some(Phone::from_wa_id(LUCY).unwrap())
    );
}

#[test]
fn a_tap_on_another_firms_project_from_a_firms_own_number_is_refused() {
    let (_tmp, graph, app) = start();
    // Emma is a client of Studio Alba and of Casa Verde; on Casa Verde's
    // own number she taps Studio Alba's project.
    let tap = webhook(
        CASA_VERDE_NUMBER,
        &[("wamid.t1", EMMA, &format!("button:sel:{KENSINGTON}"))],
    );
    assert_eq!(app.post(&tap).0, 200);
    // The same tap with an id that exists nowhere.
    let nowhere = webhook(
        CASA_VERDE_NUMBER,
        &[(
            "wamid.t2",
            EMMA,
            "button:sel:0195a000-0000-7000-8000-00000000dead",
        )],
    );
    assert_eq!(app.post(&nowhere).0, 200);
    let replies = graph.wait_for(2, WAIT);
    // On Casa Verde's number, in Casa Verde's language.
    assert_eq!(replies[0].text(), "Este item não está mais disponível.");
    assert_eq!(
        replies[0].text(),
        replies[1].text(),
        "the answers tell the ids apart"
    );
    // On the shared number, the same tap shows the summary.
    let shared = webhook(
        OTHER_NUMBER,
        &[("wamid.t3", EMMA, &format!("button:sel:{KENSINGTON}"))],
    );
    assert_eq!(app.post(&shared).0, 200);
    let reply = &graph.wait_for(3, WAIT)[2];
    assert!(
        reply.text().starts_with("Kensington Kitchen"),
        "{}",
        reply.text()
    );
}

#[test]
fn a_forged_tap_on_another_firms_id_reads_like_an_id_that_does_not_exist() {
    let (_tmp, graph, app) = start();
    // Olivia (Studio Alba) taps a Casa Verde milestone, then a made-up one.
    let taps = webhook(
        OTHER_NUMBER,
        &[
            (
                "wamid.o1",
                OLIVIA,
                "button:rdy:0195a000-0000-7000-8000-0000000000c8",
            ),
            (
                "wamid.o2",
                OLIVIA,
                "button:rdy:0195a000-0000-7000-8000-00000000dead",
            ),
        ],
    );
    assert_eq!(app.post(&taps).0, 200);
    let replies = graph.wait_for(2, WAIT);
    assert_eq!(replies[0].text(), replies[1].text());
}

#[test]
fn one_unreadable_message_does_not_hold_back_the_others() {
    let (_tmp, graph, app) = start();
    let body = format!(
        r#"{{"entry":[{{"changes":[{{"value":{{"metadata":{{"phone_number_id":"{ALBA_NUMBER}"}},
        "messages":[
          {{"from":"{LUCY}","id":"wamid.bad1","type":"text","text":{{"body":"\ud83d"}}}},
          {{"from":"{LUCY}","id":"wamid.bad2","timestamp":1e400,"type":"text","text":{{"body":"x"}}}},
          {{"from":"{LUCY}","id":"wamid.good","type":"text","text":{{"body":"hi"}}}}]}}}}]}}]}}"#
    );
    assert_eq!(app.post(&body).0, 200);
    graph.wait_for(1, WAIT);
    let reader = app.snapshot().read().unwrap();
    assert!(reader.is_seen("wamid.good").unwrap());
    assert!(!reader.is_seen("wamid.bad1").unwrap());
    assert_eq!(
        metric(&app, "firmhook_inbound_dropped_total{what=\"bad_item\"}"),
        2
    );
}

#[test]
fn megabyte_identifiers_are_dropped_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db.redb");
    let app = spawn_app(&db, None);
    let size_before = std::fs::metadata(&db).unwrap().len();
    let huge = "4".repeat(2_900_000);
    let from = change(
        ALBA_NUMBER,
        json!([]),
        json!([with(text("wamid.h1", "hi"), json!({"from": huge}))]),
    );
    assert_eq!(app.post(&from).0, 200);
    let wamid = change(
        ALBA_NUMBER,
        json!([]),
        json!([with(
            text(&"w".repeat(2_900_000), "hi"),
            json!({"from": LUCY})
        )]),
    );
    assert_eq!(app.post(&wamid).0, 200);
    assert_eq!(
        metric(
            &app,
            "firmhook_inbound_dropped_total{what=\"oversized_id\"}"
        ),
        2
    );
    // No reply was queued at all (the dev transport marks a reply sent at
    // once, so the outbox's depth would not show one: read its rows).
    let reader = app.snapshot().read().unwrap();
    let queued = reader.outbox_after(0, None, 10).unwrap();
    assert!(queued.is_empty(), "{} replies queued", queued.len());
    assert!(!reader.is_seen("wamid.h1").unwrap());
    drop(reader);
    app.stop();
    let grown = std::fs::metadata(&db)
        .unwrap()
        .len()
        .saturating_sub(size_before);
    assert!(grown < 1_000_000, "the file grew by {grown} bytes");
}
