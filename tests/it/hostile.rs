//! Hostile and broken input over HTTP: the right status, no crash, nothing
//! half-stored, and the server keeps answering everyone else meanwhile.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use firmhook::whatsapp::signature::{Secret, sign};

use crate::support::*;

const LUCY: &str = "447911123403";
const TILES: &str = "0195a000-0000-7000-8000-0000000000c5";

fn start() -> (tempfile::TempDir, FakeGraph, App) {
    let tmp = tempfile::tempdir().unwrap();
    let graph = FakeGraph::start();
    let app = spawn_app(&tmp.path().join("db.redb"), Some(&graph));
    (tmp, graph, app)
}

fn signed(app: &App, body: &[u8]) -> u16 {
    let header = sign(&Secret::new(SECRET), body);
    raw_post(app, body, Some(&header))
}

/// A POST with raw bytes (not necessarily UTF-8).
fn raw_post(app: &App, body: &[u8], signature: Option<&str>) -> u16 {
    let mut stream = TcpStream::connect(app.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(signature) = signature {
        head.push_str(&format!("X-Hub-Signature-256: {signature}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_redelivery_storm_applies_once_and_answers_once() {
    let (_tmp, graph, app) = start();
    app.open_window(ALBA_NUMBER, "447911123499");
    let storm = webhook(
        ALBA_NUMBER,
        &[("wamid.STORM", LUCY, &format!("button:mil:{TILES}"))],
    );
    let threads: Vec<_> = (0..64)
        .map(|n| {
            let url = app.url("/webhook");
            let storm = storm.clone();
            // Interleaved with other traffic: a stranger's distinct messages.
            let other = webhook(
                OTHER_NUMBER,
                &[(&format!("wamid.other.{n}"), "14155552671", "text:hi")],
            );
            std::thread::spawn(move || {
                let mut codes = Vec::new();
                for body in [&storm, &other, &storm] {
                    let header = sign(&Secret::new(SECRET), body.as_bytes());
                    codes.push(post(&url, body, Some(&header)).0);
                }
                codes
            })
        })
        .collect();
    for thread in threads {
        assert!(thread.join().unwrap().iter().all(|c| *c == 200));
    }
    let snapshot = app.snapshot();
    let events = snapshot.read().unwrap().events().unwrap();
    assert_eq!(
        events.iter().filter(|e| e.wamid == "wamid.STORM").count(),
        1
    );
    // Lucy's confirmation, Tom's notice, one registration hint: three replies.
    graph.wait_for(3, Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(500));
    let to_lucy = graph.requests().iter().filter(|r| r.to() == LUCY).count();
    assert_eq!(to_lucy, 1);
    assert_eq!(graph.requests().len(), 3, "{:#?}", graph.requests());
}

#[test]
fn malformed_bodies_get_the_right_status_and_store_nothing() {
    let (_tmp, graph, app) = start();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("truncated JSON", br#"{"entry":[{"changes":[{"value":"#.to_vec(), 400),
        ("not JSON", b"hello".to_vec(), 400),
        ("invalid UTF-8", b"{\"entry\":\"\xff\xfe\"}".to_vec(), 400),
        // Valid JSON of no webhook's shape: read without recursion, ignored.
        ("deeply nested", deep.into_bytes(), 200),
        ("empty body", Vec::new(), 400),
        ("empty arrays", br#"{"entry":[{"changes":[]}]}"#.to_vec(), 200),
        ("missing metadata", br#"{"entry":[{"changes":[{"value":{"messages":[{"id":"w.x","from":"447911123403","type":"text","text":{"body":"hi"}}]}}]}]}"#.to_vec(), 200),
        ("wrong types everywhere", br#"{"object":7,"entry":[{"id":[],"changes":[{"field":{},"value":{"metadata":{"phone_number_id":{"a":1}},"contacts":"x","messages":[{"id":[1],"from":5.5,"type":9,"text":"body"}],"statuses":{"id":1}}}]}]}"#.to_vec(), 200),
        ("null everything", br#"{"entry":[{"changes":[{"value":{"metadata":null,"messages":null,"statuses":null}}]}]}"#.to_vec(), 200),
        ("huge string", format!(r#"{{"entry":[{{"changes":[{{"value":{{"metadata":{{"phone_number_id":"1"}},"messages":[{{"id":"w.huge","from":"447911123403","type":"text","text":{{"body":"{}"}}}}]}}}}]}}]}}"#, "x".repeat(2_000_000)).into_bytes(), 200),
    ];
    for (name, body, want) in &cases {
        assert_eq!(signed(&app, body), *want, "{name}");
    }
    // The huge text was from Lucy: answered once, its body not echoed.
    let requests = graph.wait_for(1, Duration::from_secs(15));
    assert!(requests.iter().all(|r| r.text().len() < 5000));
    // Nothing from the refused bodies was stored.
    let reader = app.snapshot().read().unwrap();
    assert!(
        !reader.is_seen("w.x").unwrap(),
        "a message without metadata has no business number"
    );
}

#[test]
fn every_malformed_signature_header_is_401() {
    let (_tmp, _graph, app) = start();
    let body = webhook(ALBA_NUMBER, &[("wamid.h", LUCY, "text:hi")]);
    let good = sign(&Secret::new(SECRET), body.as_bytes());
    // (Whitespace around the value is not part of it in HTTP, so " {good}"
    // is the good header.)
    let shapes = [
        String::new(),
        "sha256".into(),
        "sha256=".into(),
        "SHA256=".to_owned() + &good[7..],
        "sha1=".to_owned() + &good[7..47],
        format!("{good},{good}"),
        good[..good.len() - 1].to_owned(),
        format!("{}g", &good[..good.len() - 1]),
        "sha256=".to_owned() + &"0".repeat(64),
        "sha256=".to_owned() + &"€".repeat(32),
    ];
    for shape in &shapes {
        let status = raw_post(&app, body.as_bytes(), Some(shape));
        assert_eq!(status, 401, "{shape:?}");
    }
    assert!(!app.snapshot().read().unwrap().is_seen("wamid.h").unwrap());
}

#[test]
fn a_thousand_messages_in_one_post_are_all_processed() {
    let (_tmp, _graph, app) = start();
    let messages: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("wamid.bulk.{i}"), format!("1415555{:04}", i)))
        .collect();
    let refs: Vec<(&str, &str, &str)> = messages
        .iter()
        .map(|(w, f)| (w.as_str(), f.as_str(), "text:hi"))
        .collect();
    assert_eq!(app.post(&webhook(OTHER_NUMBER, &refs)).0, 200);
    let reader = app.snapshot().read().unwrap();
    assert!((0..1000).all(|i| reader.is_seen(&format!("wamid.bulk.{i}")).unwrap()));
}

#[test]
fn slow_and_idle_clients_do_not_stop_others_being_served() {
    let (_tmp, graph, app) = start();
    // Many idle connections from another address (past its share of 64
    // they are closed at once), and a slowloris dribbling a header.
    let idle: Vec<TcpStream> = (0..200)
        .filter_map(|_| connect_from(&app, "127.0.0.5").ok())
        .collect();
    let mut slow = connect_from(&app, "127.0.0.5").unwrap();
    slow.write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    for n in 0..20 {
        let body = webhook(
            ALBA_NUMBER,
            &[(&format!("wamid.live.{n}"), LUCY, "text:hi")],
        );
        assert_eq!(app.post(&body).0, 200);
        let _ = slow.write_all(b"X-Slow: 1\r\n");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    graph.wait_for(20, Duration::from_secs(15));
    drop(idle);
}
