//! Issue 22: every webhook field Meta documents for WhatsApp Business
//! Accounts, every message type and every status, from the committed
//! payloads in `tests/fixtures/payloads/` (written from the documented
//! shapes). Each is answered 200; only live `messages` are answered on
//! WhatsApp; a history sync and the business's echoes land in the message
//! log as what they are (direction, original time), never answered.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::support::*;

const ALBA: &str = "0195a000-0000-7000-8000-0000000000f1";
const LUCY: &str = "447911123403";

fn payloads() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/payloads");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_field_and_type_gets_200_and_only_live_messages_are_answered() {
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_app(&tmp.path().join("db.redb"), None);
    let files = payloads();
    let fields: BTreeSet<String> = files
        .iter()
        .map(|(_, body)| {
            let body: Value = serde_json::from_str(body).unwrap();
            body["entry"][0]["changes"][0]["field"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(fields.len() >= 20, "{fields:?}");
    for (name, body) in &files {
        let (status, answer) = app.post(body);
        assert_eq!(status, 200, "{name}: {answer}");
        // Redelivered: still 200, and nothing twice.
        assert_eq!(app.post(body).0, 200, "{name} again");
    }
    app.wait_settled();
    let snapshot = app.snapshot();
    let reader = snapshot.read().unwrap();
    let answered: BTreeSet<String> = (1..500)
        .filter_map(|seq| reader.outbound(seq).unwrap())
        .map(|o| o.in_reply_to)
        .collect();
    let live: BTreeSet<String> = [
        "wamid.live.text",
        "wamid.live.button_reply",
        "wamid.live.list_reply",
        "wamid.live.button",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(answered, live, "only live text and taps are answered");

    let (_, log) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/messages?phone={LUCY}&limit=200"),
        Some(ADMIN),
        None,
    );
    let logged: Vec<(String, String, String, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            let kind = m["kind"].as_str().unwrap();
            kind.starts_with("history:") || kind.starts_with("echo:")
        })
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap().to_owned();
            (s("kind"), s("direction"), s("at"), s("text"))
        })
        .collect();
    let expected = |kind: &str, direction: &str, at: &str, text: &str| {
        (kind.into(), direction.into(), at.into(), text.into())
    };
    let mut logged = logged;
    logged.sort();
    assert_eq!(
        logged,
        [
            expected(
                "echo:text",
                "outbound",
                "2025-12-08T08:00:00Z",
                "I'll call you at 5."
            ),
            expected(
                "history:text",
                "inbound",
                "2023-11-14T22:13:20Z",
                "Is the tile in stock?"
            ),
            expected("history:text", "inbound", "2023-11-14T22:16:40Z", "Thanks!"),
            expected(
                "history:text",
                "outbound",
                "2023-11-14T22:15:00Z",
                "Yes, from Monday."
            ),
        ],
        "each once, as what it is: {log}"
    );
    assert!(
        !log.to_string().contains("not live"),
        "a field other than history and echoes is not logged: {log}"
    );
    // A history sync or an echo opens no 24-hour window: the message log
    // and the window are Meta's `messages` alone.
    let number: u64 = ALBA_NUMBER.parse().unwrap();
    let last = reader.last_inbound(number, LUCY).unwrap();
    assert_eq!(last, Some(1_765_180_800), "the live messages' own time");
}
