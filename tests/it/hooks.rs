//! Event webhooks through the real server: a receiver on loopback checks
//! every push with its own implementation of the Standard Webhooks scheme
//! (HMAC-SHA256 over `id.timestamp.body`, not firmhook's code), and sees
//! every event at least once across a restart of firmhook.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::*;

const ALBA: &str = "0195a000-0000-7000-8000-0000000000f1";
const HAMPSTEAD: &str = "0195a000-0000-7000-8000-0000000000b3";
const FITTING: &str = "0195a000-0000-7000-8000-0000000000c6";

/// One push as received: its headers (lowercase names) and body.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
}

/// A loopback HTTP server that answers 503 to the first `refuse` requests
/// and 200 after, recording each.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(refuse: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/firmhook", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let record = got.clone();
        std::thread::spawn(move || {
            let mut seen = 0;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut headers = HashMap::new();
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    let (name, value) = header.split_once(':').unwrap();
                    headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                }
                let length: usize = headers["content-length"].parse().unwrap();
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                seen += 1;
                let status = if seen <= refuse {
                    "503 Service Unavailable"
                } else {
                    "200 OK"
                };
                record.lock().unwrap().push(Received {
                    headers,
                    body: String::from_utf8(body).unwrap(),
                });
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Self { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until pushes answered 200 carried every one of `ids`.
    fn wait_for_ids(
        &self,
        ids: &HashSet<String>,
        refused: usize,
        within: Duration,
    ) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            let delivered: HashSet<String> = got
                .iter()
                .skip(refused)
                .map(|r| r.headers["webhook-id"].clone())
                .collect();
            if ids.is_subset(&delivered) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "pushes missing: {ids:?} not all in {delivered:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The Standard Webhooks check, written from the specification.
fn verify(secret: &str, push: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let id = &push.headers["webhook-id"];
    let timestamp = &push.headers["webhook-timestamp"];
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{}", push.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    push.headers["webhook-signature"]
        .split(' ')
        .any(|candidate| candidate == expected)
}

#[test]
fn events_are_pushed_signed_and_each_arrives_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db.redb");
    let receiver = Receiver::start(1);
    let app = spawn_app(&db, None);
    let (status, hook) = api(
        &app,
        "PUT",
        &format!("/api/v1/firms/{ALBA}/webhook"),
        Some(ADMIN),
        Some(&json!({"url": receiver.url})),
    );
    assert_eq!(status, 200, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    // Lucy's window is open: her approval prompt goes out, not held.
    app.open_window(ALBA_NUMBER, "447911123403");
    assert!(secret.starts_with("whsec_"));
    let (_, shown) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/webhook"),
        Some(ADMIN),
        None,
    );
    assert_eq!(shown, json!({"url": receiver.url}));

    let patched = api(
        &app,
        "PATCH",
        &format!("/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}"),
        Some(ADMIN),
        Some(&json!({"status": "Design"})),
    );
    assert_eq!(patched.0, 200);
    let ready = api(
        &app,
        "POST",
        &format!("/api/v1/firms/{ALBA}/milestones/{FITTING}/ready"),
        Some(ADMIN),
        None,
    );
    assert_eq!(ready.0, 200, "{}", ready.1);
    let (_, feed) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/events"),
        Some(ADMIN),
        None,
    );
    let events: Vec<Value> = feed["items"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2);
    let ids: HashSet<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();

    // The first push is refused; restart before its retry is due.
    let deadline = Instant::now() + Duration::from_secs(15);
    while receiver.received().is_empty() {
        assert!(Instant::now() < deadline, "nothing was pushed");
        std::thread::sleep(Duration::from_millis(50));
    }
    app.stop();
    let app = spawn_app(&db, None);

    let got = receiver.wait_for_ids(&ids, 1, Duration::from_secs(30));
    for push in &got {
        assert!(verify(&secret, push), "bad signature on {push:?}");
        let body: Value = serde_json::from_str(&push.body).unwrap();
        assert_eq!(body["id"], push.headers["webhook-id"].as_str());
        assert_eq!(body["firm_id"], ALBA);
        let sent_at: i64 = push.headers["webhook-timestamp"].parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((now - sent_at).abs() < 120);
    }
    let kinds: HashSet<&str> = got
        .iter()
        .skip(1)
        .map(|p| {
            let body: Value = serde_json::from_str(&p.body).unwrap();
            match body["type"].as_str().unwrap() {
                "project.status_changed" => "status",
                "milestone.ready" => "ready",
                other => panic!("unexpected {other}"),
            }
        })
        .collect();
    assert_eq!(kinds, HashSet::from(["status", "ready"]));
    // Delivered pushes leave the queue.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting = app.snapshot().read().unwrap().pushes_waiting().unwrap();
        if waiting == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{waiting} pushes still queued");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_webhook_url_must_be_http_and_a_firm_token_sets_its_own_only() {
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_app(&tmp.path().join("db.redb"), None);
    let (_, created) = api(
        &app,
        "POST",
        &format!("/api/v1/firms/{ALBA}/tokens"),
        Some(ADMIN),
        Some(&json!({})),
    );
    let token = created["token"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/firms/{ALBA}/webhook");
    let bad = api(
        &app,
        "PUT",
        &path,
        Some(&token),
        Some(&json!({"url": "ftp://x"})),
    );
    assert_eq!(
        (bad.0, bad.1["error"]["field"].as_str()),
        (400, Some("url"))
    );
    let none = api(&app, "GET", &path, Some(&token), None);
    assert_eq!(none.0, 404);
    let other = api(
        &app,
        "PUT",
        "/api/v1/firms/0195a000-0000-7000-8000-0000000000f2/webhook",
        Some(&token),
        Some(&json!({"url": "http://127.0.0.1:9/x"})),
    );
    assert_eq!(other.0, 404);
    let set = api(
        &app,
        "PUT",
        &path,
        Some(&token),
        Some(&json!({"url": "http://127.0.0.1:9/x"})),
    );
    assert_eq!(set.0, 200);
    assert_eq!(api(&app, "DELETE", &path, Some(&token), None).0, 204);
    assert_eq!(api(&app, "GET", &path, Some(&token), None).0, 404);
}
