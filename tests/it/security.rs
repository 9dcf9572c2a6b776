//! Issue 19's findings, each through the real server: what a firm token or
//! a stranger could open, and the bound that now closes it. The webhook
//! door's own attacks (idle and slow bodies, per-address shares) are in
//! `door.rs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const ALBA: &str = "0195a000-0000-7000-8000-0000000000f1";
const NORDLICHT: &str = "0195a000-0000-7000-8000-0000000000f3";
const HAMPSTEAD: &str = "0195a000-0000-7000-8000-0000000000b3";

fn start() -> (tempfile::TempDir, App) {
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_app(&tmp.path().join("db.redb"), None);
    (tmp, app)
}

fn errors(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| e.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Finding 1: a firm token's `firms.csv` row naming the shared number made
/// that firm the owner of every message to it.
#[test]
fn a_firm_token_cannot_take_a_business_number_through_import() {
    let (_tmp, app) = start();
    let nordlicht = token_for(&app, NORDLICHT);
    for number in [OTHER_NUMBER, "555000111222"] {
        let row = format!(
            "id,name,country,phone_number_id\n{NORDLICHT},Nordlicht Interiors,DE,{number}\n"
        );
        let (status, body) = import(&app, &nordlicht, &[("firms.csv", &row)]);
        assert_eq!(status, 422, "{body}");
        assert_eq!(
            errors(&body),
            ["firms.csv:2: phone_number_id: only the operator assigns business numbers"]
        );
    }
    // Its own row without a number is its own business.
    let row = format!("id,name,country\n{NORDLICHT},Nordlicht Interiors GmbH,DE\n");
    assert_eq!(import(&app, &nordlicht, &[("firms.csv", &row)]).0, 200);
    let (_, firm) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{NORDLICHT}"),
        Some(&nordlicht),
        None,
    );
    assert_eq!(firm["name"], "Nordlicht Interiors GmbH");
    assert_eq!(firm["phone_number_id"], Value::Null);

    // The shared number is no firm's own, whoever asks.
    let row = format!(
        "id,name,country,phone_number_id\n{NORDLICHT},Nordlicht Interiors,DE,{OTHER_NUMBER}\n"
    );
    let (status, body) = import(&app, ADMIN, &[("firms.csv", &row)]);
    assert_eq!(status, 422, "{body}");
    assert!(
        errors(&body)[0].contains("is the shared business number"),
        "{body}"
    );
    let (status, body) = api(
        &app,
        "PUT",
        &format!("/api/v1/firms/{NORDLICHT}"),
        Some(ADMIN),
        Some(&json!({"name": "Nordlicht", "country": "DE", "phone_number_id": OTHER_NUMBER})),
    );
    assert_eq!(status, 409, "{body}");
    // The operator still assigns numbers.
    let (status, body) = import(
        &app,
        ADMIN,
        &[(
            "firms.csv",
            &format!(
                "id,name,country,phone_number_id\n{NORDLICHT},Nordlicht Interiors,DE,555000111222\n"
            ),
        )],
    );
    assert_eq!(status, 200, "{body}");
    // And a stranger on the shared number still gets the shared number's
    // answer, not Nordlicht's.
    assert_eq!(
        app.post(&webhook(
            OTHER_NUMBER,
            &[("wamid.sec1", "447911999000", "text:hi")]
        ))
        .0,
        200
    );
    let (_, log) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{NORDLICHT}/messages"),
        Some(ADMIN),
        None,
    );
    assert_eq!(log["items"], json!([]), "{log}");
}

/// Finding 3: names of megabytes were stored and listed whole.
#[test]
fn names_and_titles_over_200_characters_are_refused_at_every_door() {
    let (_tmp, app) = start();
    let alba = token_for(&app, ALBA);
    let project = |name: &str| json!({"name": name, "status": "Active", "created_at": "2025-01-01T00:00:00Z"});
    let path = format!("/api/v1/firms/{ALBA}/projects/0195c000-0000-7000-8000-000000000001");
    let (status, body) = api(
        &app,
        "PUT",
        &path,
        Some(&alba),
        Some(&project(&"é".repeat(201))),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "name");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("longer than 200 characters: \""),
        "{message}"
    );
    assert!(
        message.len() < 300,
        "the value is quoted in part: {message}"
    );
    assert_eq!(
        api(
            &app,
            "PUT",
            &path,
            Some(&alba),
            Some(&project(&"é".repeat(200)))
        )
        .0,
        201
    );

    let title = "t".repeat(201);
    let milestones = format!(
        "id,project_id,title,status,position\n0195c000-0000-7000-8000-000000000002,{HAMPSTEAD},{title},pending,9\n"
    );
    let (status, body) = import(&app, &alba, &[("milestones.csv", &milestones)]);
    assert_eq!(status, 422);
    assert!(
        errors(&body)[0].starts_with("milestones.csv:2: title: longer than 200 characters"),
        "{body}"
    );
    let members = format!(
        "id,firm_id,name,role\n0195c000-0000-7000-8000-000000000003,{ALBA},Ana,{}\n",
        "r".repeat(1001)
    );
    let (status, body) = import(&app, &alba, &[("firm_members.csv", &members)]);
    assert_eq!(status, 422);
    assert!(
        errors(&body)[0].starts_with("firm_members.csv:2: role: longer than 1000 characters"),
        "{body}"
    );
}

/// Finding 3, import: a 100 MiB cell took 679 MiB, and 73 MB of bad rows
/// 579 MiB, each error quoting its value whole.
#[test]
fn import_cells_rows_and_error_lists_are_bounded() {
    let (_tmp, app) = start();
    let alba = token_for(&app, ALBA);
    // A cell over 64 KiB, quoted in part.
    let big = "x".repeat(100 * 1024);
    let rows = format!("id,firm_id,name\n0195c000-0000-7000-8000-000000000004,{ALBA},{big}\n");
    let (status, body) = import(&app, &alba, &[("firm_members.csv", &rows)]);
    assert_eq!(status, 422);
    let listed = errors(&body);
    assert!(
        listed[0].starts_with(
            "firm_members.csv:2: name: a cell of 102400 bytes (at most 64 KiB): \"xxx"
        ),
        "{listed:?}"
    );
    assert!(listed[0].len() < 200, "{}", listed[0].len());

    // A row that never ends (an unclosed quote) stops at 1 MiB.
    let runaway = format!(
        "id,firm_id,name\n0195c000-0000-7000-8000-000000000005,{ALBA},\"{}\n",
        "y".repeat(3 << 20)
    );
    let (status, body) = import(&app, &alba, &[("firm_members.csv", &runaway)]);
    assert_eq!(status, 422);
    assert!(
        errors(&body)[0].contains("a row runs on for more than 1 MiB"),
        "{:?}",
        errors(&body)
    );

    // 2,000 bad rows with long bad values: 1,000 listed, the rest counted.
    let mut many = String::from("id,firm_id,name\n");
    for _ in 0..2000 {
        many.push_str(&format!("{},{ALBA},x\n", "z".repeat(5000)));
    }
    let (status, body) = import(&app, &alba, &[("firm_members.csv", &many)]);
    assert_eq!(status, 422);
    let listed = errors(&body);
    assert_eq!(listed.len(), 1001);
    assert_eq!(
        listed[1000],
        "firm_members.csv: and 1000 more row errors, not listed"
    );
    assert!(listed.iter().all(|e| e.len() < 200), "{}", listed[0]);
}

/// Finding 3, multipart: a 300 MiB part header was buffered whole.
#[test]
fn multipart_part_headers_are_bounded() {
    let (_tmp, app) = start();
    let mut stream = std::net::TcpStream::connect(app.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let length = 8 * 1024 * 1024;
    write!(
        stream,
        "POST /api/v1/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: {length}\r\n\r\n\
         --XX\r\nContent-Disposition: form-data; name=\"firms.csv\"; x=\""
    )
    .unwrap();
    // Header bytes that never end; the server answers before it has them all.
    let chunk = vec![b'h'; 64 * 1024];
    for _ in 0..100 {
        if stream.write_all(&chunk).is_err() {
            break;
        }
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    assert!(answer.contains("headers run on past 64 KiB"), "{answer}");
}

/// A loopback receiver answering every request with `answer`, counting
/// the requests it read.
fn receiver(answer: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end().to_ascii_lowercase();
                if let Some(n) = line.strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap();
                }
                if line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            counted.fetch_add(1, SeqCst);
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (url, count)
}

/// Finding 5: event webhook URLs reached loopback and the metadata
/// address, redirects were followed, and the console's test event told a
/// port scanner what it found.
#[test]
fn event_webhooks_reach_public_addresses_only_and_never_follow_redirects() {
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_tuned(&tmp, firmhook::http::Limits::default(), |options| {
        options.hooks_reach = firmhook::push::Reach::PublicOnly
    });
    let alba = token_for(&app, ALBA);
    let hook = format!("/api/v1/firms/{ALBA}/webhook");
    for literal in [
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "http://10.1.2.3/x",
    ] {
        let (status, body) = api(
            &app,
            "PUT",
            &hook,
            Some(&alba),
            Some(&json!({"url": literal})),
        );
        assert_eq!(status, 400, "{literal}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("private address"),
            "{body}"
        );
    }
    // Names are checked when a push connects: `localhost` and the decimal
    // form of 127.0.0.1 resolve to loopback, and nothing is sent.
    let (url, count) = receiver("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let port = url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    for by_name in [
        format!("http://localhost:{port}/hook"),
        format!("http://2130706433:{port}/hook"),
    ] {
        let (status, body) = api(
            &app,
            "PUT",
            &hook,
            Some(&alba),
            Some(&json!({"url": by_name})),
        );
        assert_eq!(status, 200, "{body}");
        let (status, _) = api(
            &app,
            "PATCH",
            &format!("/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}"),
            Some(&alba),
            Some(
                &json!({"status": if by_name.contains("localhost") { "On Hold" } else { "Active" }}),
            ),
        );
        assert_eq!(status, 200);
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count.load(SeqCst), 0, "no push reached loopback");
    assert!(metric(&app, "firmhook_event_pushes_total{result=\"retry\"}") >= 2);
}

#[test]
fn a_redirect_is_a_failed_push_and_is_not_followed() {
    let (_tmp, app) = start();
    let (target, reached) = receiver("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let redirect: &'static str = Box::leak(
        format!("HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n")
            .into_boxed_str(),
    );
    let (url, asked) = receiver(redirect);
    let alba = token_for(&app, ALBA);
    let (status, _) = api(
        &app,
        "PUT",
        &format!("/api/v1/firms/{ALBA}/webhook"),
        Some(&alba),
        Some(&json!({"url": url})),
    );
    assert_eq!(status, 200);
    let (status, _) = api(
        &app,
        "PATCH",
        &format!("/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}"),
        Some(&alba),
        Some(&json!({"status": "On Hold"})),
    );
    assert_eq!(status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while asked.load(SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "the push never came");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(reached.load(SeqCst), 0, "the redirect was not followed");
    assert_eq!(
        metric(&app, "firmhook_event_pushes_total{result=\"delivered\"}"),
        0
    );
    assert_eq!(
        metric(&app, "firmhook_event_pushes_total{result=\"retry\"}"),
        1
    );
}

/// Finding 12: `/metrics` was open to anyone, with counts per firm.
#[test]
fn metrics_need_the_operator_token() {
    let (_tmp, app) = start();
    assert_eq!(get(&app.url("/metrics")).map(|r| r.0).unwrap_or(0), 401);
    let alba = token_for(&app, ALBA);
    let response = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(&app.url("/metrics"))
        .header("Authorization", &format!("Bearer {alba}"))
        .call()
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        401,
        "a firm token is not enough"
    );
    assert!(metrics(&app).contains("firmhook_deliveries_total"));
}

/// Finding 7: one pusher thread, soonest first: a firm's silent endpoint
/// and 40 status changes delayed another firm's push by 40.5 s. Each firm
/// now has one push in flight of its own.
#[test]
fn a_silent_endpoint_delays_no_other_firms_events() {
    let (_tmp, app) = start();
    // Alba's endpoint takes connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/hook", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let (casa_url, casa_got) = receiver("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    const CASA: &str = "0195a000-0000-7000-8000-0000000000f2";
    for (firm, url) in [(ALBA, &silent_url), (CASA, &casa_url)] {
        let path = format!("/api/v1/firms/{firm}/webhook");
        assert_eq!(
            api(&app, "PUT", &path, Some(ADMIN), Some(&json!({"url": url}))).0,
            200
        );
    }
    for i in 0..40 {
        let status = if i % 2 == 0 { "On Hold" } else { "Active" };
        let path = format!("/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}");
        assert_eq!(
            api(
                &app,
                "PATCH",
                &path,
                Some(ADMIN),
                Some(&json!({"status": status}))
            )
            .0,
            200
        );
    }
    let (_, projects) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{CASA}/projects"),
        Some(ADMIN),
        None,
    );
    let casa_project = projects["items"][0]["id"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    let path = format!("/api/v1/firms/{CASA}/projects/{casa_project}");
    assert_eq!(
        api(
            &app,
            "PATCH",
            &path,
            Some(ADMIN),
            Some(&json!({"status": "On Hold"}))
        )
        .0,
        200
    );
    while casa_got.load(SeqCst) == 0 {
        // Generous: the bug took 40 s; one silent attempt takes 15 s.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "Casa Verde's event waited behind Alba's silent endpoint: {}",
            metrics(&app)
                .lines()
                .filter(|l| l.contains("push"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Finding 9: a filter that matched nothing scanned the whole firm on an
/// HTTP worker (600,000 projects: webhook p99 2 s). A page looks at no
/// more than `EXAMINED_MAX` records and says where to go on.
#[test]
fn a_page_looks_at_a_bounded_number_of_records() {
    let (_tmp, app) = start();
    let examined = firmhook::store::EXAMINED_MAX;
    let mut rows = String::from("id,firm_id,name,status,created_at\n");
    for i in 0..examined + 5_000 {
        rows.push_str(&format!(
            "0195d000-0000-7000-8000-{i:012x},{NORDLICHT},Project {i},Active,2026-01-01\n"
        ));
    }
    let (status, body) = import(&app, ADMIN, &[("projects.csv", &rows)]);
    assert_eq!(status, 200, "{body}");
    // No project has this phone: the first page is empty but goes on.
    let base = format!("/api/v1/firms/{NORDLICHT}/projects?phone=%2B4915199999999&limit=10");
    let (status, first) = api(&app, "GET", &base, Some(ADMIN), None);
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["items"], json!([]));
    let next = first["next"]
        .as_str()
        .expect("a cursor after a partial look")
        .to_owned();
    let (_, second) = api(
        &app,
        "GET",
        &format!("{base}&after={next}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(second["items"], json!([]));
    assert_eq!(
        second["next"],
        Value::Null,
        "the rest was looked at: {second}"
    );
}

/// A raw GET from `source`, with `headers`; the status.
fn get_from(app: &App, source: &str, path: &str, headers: &str) -> u16 {
    let mut stream = connect_from(app, source).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Finding 12: 300 failed authentications in 0.1 s, unlimited.
#[test]
fn guessing_tokens_is_limited_per_address() {
    let (_tmp, app) = start();
    let bad = "Authorization: Bearer not-a-token\r\n";
    let good = format!("Authorization: Bearer {ADMIN}\r\n");
    let statuses: Vec<u16> = (0..25)
        .map(|_| get_from(&app, "127.0.0.7", "/api/v1/firms", bad))
        .collect();
    assert_eq!(statuses[..20], [401; 20]);
    assert_eq!(statuses[20..], [429; 5]);
    // Even the right token waits, from that address…
    assert_eq!(get_from(&app, "127.0.0.7", "/api/v1/firms", &good), 429);
    // …and nobody else does.
    assert_eq!(get_from(&app, "127.0.0.8", "/api/v1/firms", &good), 200);
}

/// Finding 12: the sign-in form's CSRF check took any planted cookie.
#[test]
fn a_planted_sign_in_cookie_is_refused() {
    let (_tmp, app) = start();
    let planted = "0".repeat(64);
    let mut stream = std::net::TcpStream::connect(app.addr).unwrap();
    let form = format!("csrf={planted}&token={ADMIN}");
    write!(
        stream,
        "POST /console/sign-in HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Cookie: fh_signin={planted}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 403"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    assert!(!answer.contains("fh_session="), "no session was made");
}

/// Finding 6: a firm may name any phone as a client and have the shared
/// number message it. Notifications to phones that never wrote to the
/// firm's number are capped per firm and day.
#[test]
fn notifications_to_phones_that_never_wrote_are_capped_per_day() {
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_tuned(&tmp, firmhook::http::Limits::default(), |options| {
        options.strangers_per_day = 2
    });
    let (emma, raj, lucy, jonas) = (
        "447911123401",
        "447911123402",
        "447911123403",
        "4915123456789",
    );
    // Lucy wrote to Alba's number: she is no stranger.
    assert_eq!(
        app.post(&webhook(ALBA_NUMBER, &[("wamid.cap1", lucy, "text:hi")]))
            .0,
        200
    );
    let jonas_milestone = "0195c000-0000-7000-8000-0000000000c9";
    let (status, _) = api(
        &app,
        "PUT",
        &format!(
            "/api/v1/firms/{ALBA}/projects/0195a000-0000-7000-8000-0000000000b4/milestones/{jonas_milestone}"
        ),
        Some(ADMIN),
        Some(&json!({"title": "Survey", "status": "pending", "position": 1})),
    );
    assert_eq!(status, 201);
    for milestone in [
        "0195a000-0000-7000-8000-0000000000c3",
        "0195a000-0000-7000-8000-0000000000c4",
        jonas_milestone,
        "0195a000-0000-7000-8000-0000000000c6",
    ] {
        let (status, body) = api(
            &app,
            "POST",
            &format!("/api/v1/firms/{ALBA}/milestones/{milestone}/ready"),
            Some(ADMIN),
            None,
        );
        assert_eq!(status, 200, "{body}");
    }
    let sent_to = |phone: &str| {
        let (_, body) = get(&app.url(&format!("/dev/messages?to={phone}"))).unwrap();
        serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(
        (sent_to(emma), sent_to(raj)),
        (1, 1),
        "two strangers within the cap"
    );
    assert_eq!(sent_to(jonas), 0, "the third stranger is over the cap");
    assert!(
        sent_to(lucy) >= 2,
        "Lucy wrote: her prompt is no stranger's"
    );
}

/// `--metrics-listen`: a second address serving `/metrics` without a
/// token, and nothing else.
#[test]
fn metrics_listen_serves_metrics_alone_without_a_token() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let app = spawn_tuned(&tmp, firmhook::http::Limits::default(), |options| {
        options.metrics_listen = Some(addr)
    });
    let (status, text) = get(&format!("http://{addr}/metrics")).unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("firmhook_deliveries_total"), "{text}");
    assert_eq!(get(&format!("http://{addr}/healthz")).unwrap().0, 404);
    assert_eq!(get(&format!("http://{addr}/api/v1/firms")).unwrap().0, 404);
    // The main address still wants the token.
    assert_eq!(get(&app.url("/metrics")).unwrap().0, 401);
}

/// Finding 3: no per-firm quota; 1,027 projects grew the file 6.1 GiB.
/// Members, projects and milestones are counted per firm against a quota
/// the operator sets, and a refusal leaves everything else as it was.
#[test]
fn a_firm_cannot_grow_past_its_record_quota() {
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_tuned(&tmp, firmhook::http::Limits::default(), |options| {
        options.records_max = 20
    });
    let alba = token_for(&app, ALBA);
    let put = |i: u32| {
        api(
            &app,
            "PUT",
            &format!("/api/v1/firms/{ALBA}/projects/0195e000-0000-7000-8000-{i:012x}"),
            Some(&alba),
            Some(&json!({"name": format!("P{i}"), "status": "Active", "created_at": "2026-01-01"})),
        )
    };
    let mut created = 0;
    let refused = loop {
        let (status, body) = put(created);
        if status != 201 {
            break (status, body);
        }
        created += 1;
        assert!(created < 20, "the quota never bit");
    };
    assert_eq!(refused.0, 409, "{}", refused.1);
    assert!(
        refused.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("quota of 20"),
        "{}",
        refused.1
    );
    // Replacing a record it has is no growth; deleting one frees a place.
    assert_eq!(put(0).0, 200);
    let path = format!(
        "/api/v1/firms/{ALBA}/projects/0195e000-0000-7000-8000-{:012x}",
        0
    );
    assert_eq!(api(&app, "DELETE", &path, Some(&alba), None).0, 204);
    assert_eq!(put(created).0, 201);
    // Another firm is not touched by Alba's quota.
    let row = format!(
        "id,firm_id,name,status,created_at\n0195e000-0000-7000-8000-ffff00000001,{NORDLICHT},N,Active,2026-01-01\n"
    );
    assert_eq!(import(&app, ADMIN, &[("projects.csv", &row)]).0, 200);
    // The import door counts too.
    let row = format!(
        "id,firm_id,name,status,created_at\n0195e000-0000-7000-8000-ffff00000002,{ALBA},N,Active,2026-01-01\n"
    );
    let (status, body) = import(&app, &alba, &[("projects.csv", &row)]);
    assert_eq!(status, 422, "{body}");
    assert!(errors(&body)[0].contains("quota"), "{body}");
    // And `check` agrees with the counts kept.
    drop(app);
    let out = firmhook(&[
        "check",
        "--db",
        tmp.path().join("db.redb").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Finding 10: a firm token's PUT of another firm's id answered 409
/// "belongs to another firm" (and a new id 201): an existence oracle. A
/// firm token hears 404, as for any id outside its firm.
#[test]
fn another_firms_ids_read_as_unknown_to_a_firm_token() {
    let (_tmp, app) = start();
    let alba = token_for(&app, ALBA);
    let praia = "0195a000-0000-7000-8000-0000000000b6"; // Casa Verde's
    let project = json!({"name": "Mine now", "status": "Active", "created_at": "2026-01-01"});
    let (status, body) = api(
        &app,
        "PUT",
        &format!("/api/v1/firms/{ALBA}/projects/{praia}"),
        Some(&alba),
        Some(&project),
    );
    assert_eq!(status, 404, "{body}");
    let (_, unknown) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/projects/0195a000-0000-7000-8000-00000000ffff"),
        Some(&alba),
        None,
    );
    assert_eq!(body, unknown, "the same answer as an unknown id");
    // A milestone of Casa Verde's under Alba's project: the same.
    let (status, _) = api(
        &app,
        "PUT",
        &format!(
            "/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}/milestones/0195a000-0000-7000-8000-0000000000c9"
        ),
        Some(&alba),
        Some(&json!({"title": "x", "status": "pending", "position": 1})),
    );
    assert_eq!(status, 404);
    // Nothing of Casa Verde's changed.
    let (_, theirs) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/0195a000-0000-7000-8000-0000000000f2/projects/{praia}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(theirs["name"], "Casa de Praia");
}

fn start_limited(limits: firmhook::http::Limits) -> (tempfile::TempDir, App) {
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_tuned(&tmp, limits, |_| {});
    (tmp, app)
}

/// Starts an import upload of a firms.csv part declared `length` bytes
/// long and sends `sent` bytes of it.
fn stalled_import(app: &App, length: usize, sent: usize) -> std::net::TcpStream {
    let mut stream = std::net::TcpStream::connect(app.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = "--XX\r\nContent-Disposition: form-data; name=\"firms.csv\"; filename=\"firms.csv\"\r\n\r\nid,name,country\n";
    write!(
        stream,
        "POST /api/v1/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: {length}\r\n\r\n{head}"
    )
    .unwrap();
    stream.write_all(&vec![b'#'; sent]).unwrap();
    stream
}

fn staged(tmp: &tempfile::TempDir) -> usize {
    std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".import-"))
        .count()
}

/// Finding 8: uploads never timed out, and 8 stalled ones kept 1,608 MiB
/// staged. An upload that stalls is answered 408 and its staging deleted;
/// all uploads in flight share one staging bound.
#[test]
fn stalled_imports_time_out_and_staging_is_bounded() {
    let (tmp, app) = start_limited(firmhook::http::Limits {
        deadline: Duration::from_secs(2),
        import: 1024 * 1024,
        ..firmhook::http::Limits::default()
    });
    let mut first = stalled_import(&app, 2 * 1024 * 1024, 800 * 1024);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(staged(&tmp), 1);
    // A second upload finds the staging bound spent by the first.
    let mut second = stalled_import(&app, 900 * 1024, 500 * 1024);
    let mut answer = String::new();
    let _ = second.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 503"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    // The first stalls past its deadline: 408, and nothing stays staged.
    let mut answer = String::new();
    let _ = first.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    assert_eq!(staged(&tmp), 0);
    // Then imports go through again.
    let row = format!("id,name,country\n{NORDLICHT},Nordlicht,DE\n");
    assert_eq!(import(&app, ADMIN, &[("firms.csv", &row)]).0, 200);
}

/// Finding 4: 1,100 long-polls held every connection. Past their own cap,
/// long-polls answer at once.
#[test]
fn long_polls_past_their_cap_answer_at_once() {
    let (_tmp, app) = start();
    let waiting: Vec<std::net::TcpStream> = (0..firmhook::http::MAX_LONG_POLLS)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(app.addr).unwrap();
            write!(
                stream,
                "GET /api/v1/events?wait=60&after=999999 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\r\n"
            )
            .unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let started = std::time::Instant::now();
    let (status, body) = api(
        &app,
        "GET",
        "/api/v1/events?wait=60&after=999999",
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(body["items"], json!([]));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it waited {:?}",
        started.elapsed()
    );
    assert_eq!(get(&app.url("/healthz")).unwrap().0, 200);
    drop(waiting);
}

/// Issue 21: re-importing the firm's spreadsheet set a milestone the
/// client had approved on WhatsApp back to what the file said. A file
/// never takes a milestone back; the row gets a warning.
#[test]
fn reimporting_a_spreadsheet_keeps_what_the_client_approved() {
    let (_tmp, app) = start();
    approve_tiles(&app);
    let milestones = std::fs::read_to_string(demo_dir().join("milestones.csv")).unwrap();
    assert!(milestones.contains(&format!(
        "{TILES},0195a000-0000-7000-8000-0000000000b3,Tile selection,awaiting_approval"
    )));
    let (status, body) = import(&app, ADMIN, &[("milestones.csv", &milestones)]);
    assert_eq!(status, 200, "{body}");
    let approved_at = approved_at(&app, TILES);
    assert_eq!(
        body["warnings"],
        json!([format!(
            "milestones.csv:6: status: warning: kept \"approved\" (approved by the client on \
             WhatsApp {approved_at}); the file says \"awaiting_approval\" (--overwrite-status \
             writes it)"
        )])
    );
    assert_eq!(body["counts"]["milestones.csv"]["updated"], 0, "{body}");
    let status_of = || {
        api(
            &app,
            "GET",
            &format!("/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}/milestones/{TILES}"),
            Some(ADMIN),
            None,
        )
        .1["status"]
            .clone()
    };
    assert_eq!(status_of(), "approved");
    // On purpose: the file's status is written, and it is an event.
    let (status, body) = import_with(
        &app,
        ADMIN,
        &[("milestones.csv", &milestones)],
        "?overwrite_status=true",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["counts"]["milestones.csv"]["updated"], 1, "{body}");
    assert_eq!(status_of(), "awaiting_approval");
    let (_, events) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/events"),
        Some(ADMIN),
        None,
    );
    let last = events["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["type"].as_str(), last["source"].as_str()),
        // An online import comes through the API door.
        (Some("milestone.ready"), Some("api")),
        "{last}"
    );
}

/// Tile selection, which the demo has awaiting approval, in these tests.
const TILES: &str = "0195a000-0000-7000-8000-0000000000c5";

/// Lucy approves Tile selection on WhatsApp.
fn approve_tiles(app: &App) {
    let tap = webhook(
        ALBA_NUMBER,
        &[(
            "wamid.approve-tiles",
            "447911123403",
            &format!("button:mil:{TILES}"),
        )],
    );
    assert_eq!(app.post(&tap).0, 200);
}

/// When the milestone was approved, by its `milestone.approved` event, as
/// an import's warning names it ("2026-12-01 10:02 UTC").
fn approved_at(app: &App, milestone: &str) -> String {
    let approvals = events(app, ALBA, "milestone.approved");
    let at = approvals
        .iter()
        .find(|e| e["data"]["milestone_id"] == milestone)
        .unwrap_or_else(|| panic!("no approval of {milestone}: {approvals:?}"))["at"]
        .as_str()
        .unwrap()
        .to_owned();
    format!("{} UTC", at[..16].replace('T', " "))
}

/// The same through the offline `firmhook import`: the approval stays and
/// the warning says who approved it and when; `--overwrite-status` writes
/// the file's status.
#[test]
fn an_offline_reimport_keeps_the_approval_unless_told_to_overwrite() {
    let (tmp, app) = start();
    approve_tiles(&app);
    let approved_at = approved_at(&app, TILES);
    let db = app.db.clone();
    app.stop();
    let dir = tmp.path().join("sheet");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(
        demo_dir().join("milestones.csv"),
        dir.join("milestones.csv"),
    )
    .unwrap();
    let (db, dir) = (db.to_str().unwrap(), dir.to_str().unwrap());
    let out = firmhook(&["import", "--db", db, dir]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains(&format!(
            "milestones.csv:6: status: warning: kept \"approved\" (approved by the client on \
             WhatsApp {approved_at}); the file says \"awaiting_approval\""
        )),
        "{said}"
    );
    let status = |db: &str| {
        let snapshot = firmhook::store::Snapshot::open(std::path::Path::new(db)).unwrap();
        let reader = snapshot.read().unwrap();
        let firm = firmhook::domain::FirmId::parse(ALBA).unwrap();
        let project = firmhook::domain::ProjectId::parse(HAMPSTEAD).unwrap();
        let milestone = firmhook::domain::MilestoneId::parse(TILES).unwrap();
        reader
            .milestone(firm, project, milestone)
            .unwrap()
            .unwrap()
            .status
            .to_string()
    };
    assert_eq!(status(db), "approved");
    let out = firmhook(&["import", "--db", db, "--overwrite-status", dir]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status(db), "awaiting_approval");
}

/// Issue 21: with no number of its own and no `WHATSAPP_PHONE_NUMBER_ID`,
/// a firm's notifications went from the empty string and were held
/// forever, unseen. A change that would notify is refused instead, and a
/// change that notifies nobody goes through.
#[test]
fn a_change_whose_notice_has_no_number_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_tuned(&tmp, firmhook::http::Limits::default(), |options| {
        options.shared_number = None
    });
    // Nordlicht has no number of its own; Altbau Wohnung has a client.
    let path = format!("/api/v1/firms/{NORDLICHT}/projects/0195a000-0000-7000-8000-0000000000b7");
    let (status, body) = api(
        &app,
        "PATCH",
        &path,
        Some(ADMIN),
        Some(&json!({"status": "On Hold"})),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("WHATSAPP_PHONE_NUMBER_ID is not set"),
        "{body}"
    );
    let (_, project) = api(&app, "GET", &path, Some(ADMIN), None);
    assert_eq!(project["status"], "Active", "nothing was written");
    // Once the client has written about the project on a number (one no
    // firm owns), her notices go from that number.
    const LENA: &str = "4915112345678";
    assert_eq!(
        app.post(&webhook(
            OTHER_NUMBER,
            &[("wamid.lena", LENA, "text:hallo")]
        ))
        .0,
        200
    );
    let (status, body) = api(
        &app,
        "PATCH",
        &path,
        Some(ADMIN),
        Some(&json!({"status": "On Hold"})),
    );
    assert_eq!(status, 200, "{body}");
    let snapshot = app.snapshot();
    let reader = snapshot.read().unwrap();
    let notices: Vec<_> = (1..50)
        .filter_map(|seq| reader.outbound(seq).unwrap())
        .filter(|o| o.to.as_str() == LENA)
        .map(|o| (o.phone_number_id, o.body.render()))
        .collect();
    assert_eq!(notices.len(), 2, "her answer and the notice: {notices:?}");
    assert!(
        notices.iter().all(|(from, _)| from == OTHER_NUMBER),
        "{notices:?}"
    );
    // A rename tells nobody: it goes through.
    let (status, _) = api(
        &app,
        "PATCH",
        &path,
        Some(ADMIN),
        Some(&json!({"name": "Altbau"})),
    );
    assert_eq!(status, 200);
    // Alba has its own number: its changes go on as ever.
    let (status, _) = api(
        &app,
        "PATCH",
        &format!("/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}"),
        Some(ADMIN),
        Some(&json!({"status": "On Hold"})),
    );
    assert_eq!(status, 200);
}
