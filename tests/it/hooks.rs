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
    assert_eq!(shown, json!({"url": receiver.url, "disabled_at": null}));

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

/// What a scripted receiver does with one request.
#[derive(Clone, Copy, Debug)]
enum Act {
    /// Answers this status line at once.
    Answer(&'static str),
    /// Answers 200 after this long.
    Slow(Duration),
    /// Reads the request and never answers.
    Hang,
}

/// One request as a scripted receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    id: String,
    body: String,
    at: Instant,
}

/// A loopback receiver acting out `script(n)` for its n-th request (from
/// 0), each on a thread of its own.
fn scripted(
    script: impl Fn(usize) -> Act + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/firmhook", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let script = Arc::new(script);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (record, script) = (record.clone(), script.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line.is_empty() {
                    return;
                }
                let mut parts = line.split_whitespace();
                let (method, path) = (
                    parts.next().unwrap_or("").to_owned(),
                    parts.next().unwrap_or("").to_owned(),
                );
                let mut headers = HashMap::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() {
                        return;
                    }
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                    }
                }
                let length: usize = headers
                    .get("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let n = {
                    let mut seen = record.lock().unwrap();
                    seen.push(Seen {
                        method,
                        path,
                        id: headers.get("webhook-id").cloned().unwrap_or_default(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                        at: Instant::now(),
                    });
                    seen.len() - 1
                };
                let status = match script(n) {
                    Act::Answer(status) => status,
                    Act::Slow(wait) => {
                        std::thread::sleep(wait);
                        "200 OK"
                    }
                    Act::Hang => {
                        std::thread::sleep(Duration::from_secs(600));
                        return;
                    }
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nLocation: /elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            });
        }
    });
    (url, seen)
}

fn set_hook(app: &App, firm: &str, url: &str) {
    let (status, body) = api(
        app,
        "PUT",
        &format!("/api/v1/firms/{firm}/webhook"),
        Some(ADMIN),
        Some(&json!({ "url": url })),
    );
    assert_eq!(status, 200, "{body}");
}

/// Waits until the receiver has seen `n` requests; moves the server's
/// clock on by an hour meanwhile, so each retry comes due at once.
fn wait_seen(app: &App, seen: &Arc<Mutex<Vec<Seen>>>, n: usize, within: Duration) -> Vec<Seen> {
    let deadline = Instant::now() + within;
    loop {
        let got = seen.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} requests: {got:?}",
            got.len()
        );
        app.clock.advance(Duration::from_secs(3600));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Issue 22 (Standard Webhooks): a redirect is a failure, never followed;
/// 5xx and a receiver slower than 15 s are retried; 410 Gone disables the
/// endpoint (a `webhook.disabled` event, `disabled_at` in the API) until
/// its URL is set again.
#[test]
fn redirects_errors_and_slow_receivers_are_retried_and_410_disables() {
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_app(&tmp.path().join("db.redb"), None);
    let (url, seen) = scripted(|n| match n {
        0 => Act::Answer("302 Found"),
        1 => Act::Answer("307 Temporary Redirect"),
        2 => Act::Answer("500 Internal Server Error"),
        3 => Act::Slow(Duration::from_secs(20)),
        4 => Act::Answer("200 OK"),
        5 => Act::Answer("410 Gone"),
        _ => Act::Answer("200 OK"),
    });
    set_hook(&app, ALBA, &url);
    set_status(&app, ALBA, HAMPSTEAD, "On Hold");
    let got = wait_seen(&app, &seen, 5, Duration::from_secs(60));
    // The same event each time, always POSTed to the URL: no redirect was
    // followed (the receiver would have seen a GET of /elsewhere).
    assert!(
        got.iter()
            .all(|r| r.method == "POST" && r.path == "/hooks/firmhook"),
        "{got:?}"
    );
    assert!(
        got.iter().all(|r| r.id == got[0].id && !r.body.is_empty()),
        "{got:?}"
    );
    // The slow answer was given up on after 15 s, not waited for.
    let waited = got[4].at - got[3].at;
    assert!(waited >= Duration::from_secs(15), "{waited:?}");
    assert!(
        waited < Duration::from_secs(20),
        "it waited for the slow answer: {waited:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        seen.lock().unwrap().len(),
        5,
        "delivered once, then no more"
    );
    assert!(metric(&app, "firmhook_event_pushes_total{result=\"retry\"}") >= 4);

    // 410 Gone: disabled, and said so.
    set_status(&app, ALBA, HAMPSTEAD, "Active");
    wait_seen(&app, &seen, 6, Duration::from_secs(30));
    let hook_url = format!("/api/v1/firms/{ALBA}/webhook");
    let deadline = Instant::now() + Duration::from_secs(15);
    let disabled = loop {
        let (_, hook) = api(&app, "GET", &hook_url, Some(ADMIN), None);
        if !hook["disabled_at"].is_null() {
            break hook;
        }
        assert!(Instant::now() < deadline, "not disabled: {hook}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(disabled["url"], url);
    let gone = events(&app, ALBA, "webhook.disabled")
        .into_iter()
        .next()
        .expect("a webhook.disabled event");
    assert_eq!(gone["data"], json!({"url": url, "status": 410}));
    // Nothing more goes to it, whatever happens and however long.
    set_status(&app, ALBA, HAMPSTEAD, "On Hold");
    for _ in 0..5 {
        app.clock.advance(Duration::from_secs(3600));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        seen.lock().unwrap().len(),
        6,
        "pushed to a disabled webhook"
    );
    // The console says so.
    let console = crate::console::Console::sign_in(&app, ADMIN);
    let settings = console.get(&format!("/console/firms/{ALBA}/settings"));
    assert!(
        settings.body.contains("answered 410 Gone"),
        "{}",
        settings.body
    );
    // Setting the URL again enables it.
    set_hook(&app, ALBA, &url);
    let (_, hook) = api(&app, "GET", &hook_url, Some(ADMIN), None);
    assert!(hook["disabled_at"].is_null(), "{hook}");
    set_status(&app, ALBA, HAMPSTEAD, "Active");
    let got = wait_seen(&app, &seen, 7, Duration::from_secs(30));
    let body: Value = serde_json::from_str(&got[6].body).unwrap();
    assert_eq!(body["type"], "project.status_changed");
}

/// Issue 22 (fairness): one firm's dead endpoint (it takes the connection
/// and never answers) delays no other firm's events.
#[test]
fn a_dead_endpoint_delays_no_other_firms_events() {
    const CASA: &str = "0195a000-0000-7000-8000-0000000000f2";
    const JARDINS: &str = "0195a000-0000-7000-8000-0000000000b5";
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_app(&tmp.path().join("db.redb"), None);
    let (dead, dead_seen) = scripted(|_| Act::Hang);
    let (healthy, healthy_seen) = scripted(|_| Act::Answer("200 OK"));
    set_hook(&app, ALBA, &dead);
    set_hook(&app, CASA, &healthy);
    let mut delays = Vec::new();
    for round in 0..6 {
        let status = if round % 2 == 0 { "On Hold" } else { "Active" };
        // Alba's events pile up behind its dead endpoint…
        set_status(&app, ALBA, HAMPSTEAD, status);
        // …while each of Casa Verde's arrives at once.
        let committed = Instant::now();
        set_status(&app, CASA, JARDINS, status);
        let deadline = committed + Duration::from_secs(15);
        loop {
            if healthy_seen.lock().unwrap().len() > round {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Casa Verde's event {round} did not arrive"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        delays.push(healthy_seen.lock().unwrap()[round].at - committed);
    }
    delays.sort();
    eprintln!("healthy firm's push delays behind a dead endpoint: {delays:?}");
    assert!(
        delays[delays.len() / 2] < Duration::from_secs(1),
        "{delays:?}"
    );
    assert!(
        !dead_seen.lock().unwrap().is_empty(),
        "the dead endpoint was tried"
    );
}
