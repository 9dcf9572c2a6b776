//! The admin API through the real server on loopback (DESIGN section 11):
//! tokens and scoping, every record kind, the ready action, the change
//! feed, online import, and the status and error body of each bad input.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

const ALBA: &str = "0195a000-0000-7000-8000-0000000000f1";
const CASA_VERDE: &str = "0195a000-0000-7000-8000-0000000000f2";
/// Casa Verde's project and one of its milestones.
const PRAIA: &str = "0195a000-0000-7000-8000-0000000000b6";
const HAMPSTEAD: &str = "0195a000-0000-7000-8000-0000000000b3";
const TILES: &str = "0195a000-0000-7000-8000-0000000000c5";
const SOL: &str = "0195b000-0000-7000-8000-000000000001";
const LUNA: &str = "0195b000-0000-7000-8000-0000000000b1";
const PLANOS: &str = "0195b000-0000-7000-8000-0000000000c1";
const WAIT: Duration = Duration::from_secs(15);

fn start() -> (tempfile::TempDir, FakeGraph, App) {
    let tmp = tempfile::tempdir().unwrap();
    let graph = FakeGraph::start();
    let app = spawn_app(&tmp.path().join("db.redb"), Some(&graph));
    (tmp, graph, app)
}

/// A firm token created by the operator.
fn error_field(body: &Value) -> Option<&str> {
    body["error"]["field"].as_str()
}

fn check_clean(app: &App) {
    let reader = app.snapshot().read().unwrap();
    let (_, problems) = firmhook::store::check(&reader).unwrap();
    assert_eq!(problems, vec![]);
}

#[test]
fn a_firm_its_token_a_project_a_milestone_ready_and_the_event() {
    let (_tmp, graph, app) = start();
    let (status, firm) = api(
        &app,
        "PUT",
        &format!("/api/v1/firms/{SOL}"),
        Some(ADMIN),
        Some(&json!({"name": "Atelier Sol", "country": "ES", "phone_number_id": "555000111"})),
    );
    assert_eq!(status, 201, "{firm}");
    assert_eq!(firm["country"], "ES");
    let token = token_for(&app, SOL);
    let t = Some(token.as_str());
    // Ana wrote to the firm's number within the day.
    app.open_window("555000111", "34612345678");
    let (status, project) = api(
        &app,
        "PUT",
        &format!("/api/v1/firms/{SOL}/projects/{LUNA}"),
        t,
        Some(
            &json!({"name": "Casa Luna", "status": "active", "client_name": "Ana",
                     "client_phone": "612 345 678", "created_at": "2026-03-01"}),
        ),
    );
    assert_eq!(status, 201, "{project}");
    assert_eq!(project["client_phone"], "+34612345678");
    assert_eq!(project["status"], "Active");
    let (status, milestone) = api(
        &app,
        "PUT",
        &format!("/api/v1/firms/{SOL}/projects/{LUNA}/milestones/{PLANOS}"),
        t,
        Some(&json!({"title": "Planos", "status": "pending", "position": 1})),
    );
    assert_eq!(status, 201, "{milestone}");
    // The same PUT again replaces: 200.
    let again = api(
        &app,
        "PUT",
        &format!("/api/v1/firms/{SOL}/projects/{LUNA}/milestones/{PLANOS}"),
        t,
        Some(&json!({"title": "Planos", "status": "pending", "position": 1})),
    );
    assert_eq!(again.0, 200);
    let (status, ready) = api(
        &app,
        "POST",
        &format!("/api/v1/firms/{SOL}/milestones/{PLANOS}/ready"),
        t,
        None,
    );
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "awaiting_approval");
    // The client gets the approval prompt from the firm's own number.
    let sent = graph.wait_for(1, WAIT);
    assert_eq!(sent[0].to(), "34612345678");
    assert!(
        sent[0].path.ends_with("/555000111/messages"),
        "{}",
        sent[0].path
    );
    assert_eq!(sent[0].ids(), [format!("mil:{PLANOS}")]);
    // Ready twice is a conflict, and sends nothing more.
    let twice = api(
        &app,
        "POST",
        &format!("/api/v1/firms/{SOL}/milestones/{PLANOS}/ready"),
        t,
        None,
    );
    assert_eq!(twice.0, 409);
    let (status, feed) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{SOL}/events?after=0"),
        t,
        None,
    );
    assert_eq!(status, 200);
    let event = &feed["items"][0];
    assert_eq!(event["type"], "milestone.ready");
    assert_eq!(event["source"], "api");
    assert_eq!(event["firm_id"], SOL);
    assert_eq!(event["data"]["milestone_id"], PLANOS);
    assert_eq!(feed["items"].as_array().unwrap().len(), 1);
    let (_, project) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{SOL}/projects/{LUNA}"),
        t,
        None,
    );
    assert_eq!(project["milestones"][0]["status"], "awaiting_approval");
    check_clean(&app);
}

#[test]
fn a_firm_token_sees_its_own_firm_only_and_everything_else_is_404() {
    let (_tmp, _graph, app) = start();
    let alba = token_for(&app, ALBA);
    let t = Some(alba.as_str());
    let (status, list) = api(&app, "GET", "/api/v1/firms", t, None);
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ALBA]);
    for path in [
        format!("/api/v1/firms/{CASA_VERDE}"),
        format!("/api/v1/firms/{CASA_VERDE}/projects"),
        format!("/api/v1/firms/{CASA_VERDE}/projects/{PRAIA}"),
        format!("/api/v1/firms/{CASA_VERDE}/events"),
        // Casa Verde's project asked for under Alba's own path.
        format!("/api/v1/firms/{ALBA}/projects/{PRAIA}"),
        format!("/api/v1/firms/{ALBA}/tokens"),
        "/api/v1/events".to_owned(),
    ] {
        let (status, body) = api(&app, "GET", &path, t, None);
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            !body.to_string().contains(CASA_VERDE),
            "{path} leaks: {body}"
        );
    }
    let patch = api(
        &app,
        "PATCH",
        &format!("/api/v1/firms/{CASA_VERDE}/projects/{PRAIA}"),
        t,
        Some(&json!({"status": "On Hold"})),
    );
    assert_eq!(patch.0, 404);
    // Resolving Emma, a client of both firms, shows Alba's side only.
    let (_, resolved) = api(&app, "GET", "/api/v1/resolve?phone=447911123401", t, None);
    assert_eq!(resolved["kind"], "client");
    assert_eq!(resolved["firm_id"], ALBA);
    assert!(!resolved.to_string().contains(CASA_VERDE), "{resolved}");
    let (_, operator) = api(
        &app,
        "GET",
        "/api/v1/resolve?phone=447911123401",
        Some(ADMIN),
        None,
    );
    assert_eq!(operator["kind"], "ambiguous");
}

#[test]
fn missing_unknown_revoked_and_query_string_tokens_are_401() {
    let (_tmp, _graph, app) = start();
    let token = token_for(&app, ALBA);
    let url = app.url(&format!("/api/v1/firms/{ALBA}?access_token={token}"));
    let response = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(&url)
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap()),
        Some("Bearer")
    );
    assert_eq!(api(&app, "GET", "/api/v1/firms", None, None).0, 401);
    assert_eq!(
        api(&app, "GET", "/api/v1/firms", Some("fh_nope"), None).0,
        401
    );
    assert_eq!(api(&app, "GET", "/api/v1/firms", Some(&token), None).0, 200);
    let (_, tokens) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/tokens"),
        Some(ADMIN),
        None,
    );
    let listed = &tokens["items"][0];
    assert!(
        !tokens.to_string().contains(&token),
        "the token is shown again"
    );
    let id = listed["id"].as_str().unwrap();
    let revoked = api(
        &app,
        "DELETE",
        &format!("/api/v1/firms/{ALBA}/tokens/{id}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(revoked.0, 204);
    assert_eq!(api(&app, "GET", "/api/v1/firms", Some(&token), None).0, 401);
    let metrics = crate::support::metrics(&app);
    assert!(
        metrics.contains("firmhook_api_auth_failures_total 4"),
        "{metrics}"
    );
}

#[test]
fn bad_input_gets_the_status_and_error_body_of_the_contract_and_writes_nothing() {
    let (_tmp, _graph, app) = start();
    let project = format!("/api/v1/firms/{ALBA}/projects/{LUNA}");
    let good = json!({"name": "Loft", "status": "Active", "created_at": "2026-01-01"});
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let cases: Vec<(&str, Value, u16, Option<&str>)> = vec![
        (
            "wrong type",
            with("name", json!({"a": 1})),
            400,
            Some("name"),
        ),
        (
            "missing required",
            json!({"status": "Active"}),
            400,
            Some("name"),
        ),
        (
            "invalid phone",
            with("client_phone", json!("call me")),
            400,
            Some("client_phone"),
        ),
        (
            "impossible phone",
            with("client_phone", json!("07911 1")),
            400,
            Some("client_phone"),
        ),
        (
            "unknown status",
            with("status", json!("Done")),
            400,
            Some("status"),
        ),
        (
            "bad date",
            with("created_at", json!("tuesday")),
            400,
            Some("created_at"),
        ),
        (
            "id against the path",
            with("id", json!(PRAIA)),
            400,
            Some("id"),
        ),
        (
            "unknown designer",
            with("designer_member_id", json!(SOL)),
            400,
            Some("designer_member_id"),
        ),
    ];
    for (name, body, want, field) in cases {
        let (status, answer) = api(&app, "PUT", &project, Some(ADMIN), Some(&body));
        assert_eq!(status, want, "{name}: {answer}");
        assert_eq!(error_field(&answer), field, "{name}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{name}: {answer}");
    }
    // Unknown fields are ignored.
    let (status, _) = api(
        &app,
        "PUT",
        &project,
        Some(ADMIN),
        Some(&with("colour", json!("red"))),
    );
    assert_eq!(status, 201);
    // A project id of another firm: 409.
    let moved = api(
        &app,
        "PUT",
        &format!("/api/v1/firms/{ALBA}/projects/{PRAIA}"),
        Some(ADMIN),
        Some(&good),
    );
    assert_eq!(moved.0, 409, "{}", moved.1);
    // A milestone of another project: 409.
    let (status, answer) = api(
        &app,
        "PUT",
        &format!("/api/v1/firms/{ALBA}/projects/{LUNA}/milestones/{TILES}"),
        Some(ADMIN),
        Some(&json!({"title": "x", "status": "pending", "position": 1})),
    );
    assert_eq!(status, 409, "{answer}");
    // Malformed JSON, a non-object, the wrong content type, a huge body.
    let raw = |content_type: &str, body: Vec<u8>| {
        let response = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .put(&app.url(&project))
            .header("Authorization", &format!("Bearer {ADMIN}"))
            .header("Content-Type", content_type)
            .send(body);
        response.map(|r| r.status().as_u16()).unwrap_or(0)
    };
    assert_eq!(raw("application/json", b"{\"name\":".to_vec()), 400);
    assert_eq!(raw("application/json", b"[1,2]".to_vec()), 400);
    assert_eq!(raw("text/plain", b"{}".to_vec()), 415);
    assert_eq!(raw("application/json", vec![b' '; 4 * 1024 * 1024]), 413);
    // Nothing of the refused calls was written; Hampstead is untouched.
    let reader = app.snapshot().read().unwrap();
    let firm = firmhook::domain::FirmId::parse(ALBA).unwrap();
    let loft = reader
        .project(firm, firmhook::domain::ProjectId::parse(LUNA).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(loft.name, "Loft");
    assert_eq!(loft.client_phone, None);
    drop(reader);
    let (_, hampstead) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(hampstead["name"], "Hampstead Bath");
    check_clean(&app);
}

#[test]
fn patch_changes_the_fields_given_and_a_status_change_is_an_event_a_long_poll_sees() {
    let (_tmp, _graph, app) = start();
    let alba = token_for(&app, ALBA);
    let path = format!("/api/v1/firms/{ALBA}/events?after=0&wait=30");
    let waiter = {
        let url = app.url(&path);
        let token = alba.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut response = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .new_agent()
                .get(&url)
                .header("Authorization", &format!("Bearer {token}"))
                .call()
                .unwrap();
            let body: Value =
                serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
            (started.elapsed(), body)
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let (status, patched) = api(
        &app,
        "PATCH",
        &format!("/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}"),
        Some(&alba),
        Some(&json!({"status": "on hold"})),
    );
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["status"], "On Hold");
    assert_eq!(patched["name"], "Hampstead Bath");
    assert_eq!(patched["client_phone"], "+447911123403");
    let (waited, feed) = waiter.join().unwrap();
    assert!(
        waited < Duration::from_secs(25),
        "the long poll was not woken"
    );
    let event = &feed["items"][0];
    assert_eq!(event["type"], "project.status_changed");
    assert_eq!(event["data"]["from"], "Active");
    assert_eq!(event["data"]["to"], "On Hold");
    // Nothing newer: an empty answer after the wait.
    let next = feed["next"].as_str().unwrap();
    let (_, empty) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/events?after={next}&wait=1"),
        Some(&alba),
        None,
    );
    assert_eq!(empty["items"], json!([]));
}

#[test]
fn deletes_take_what_hangs_below_and_a_firm_with_records_needs_cascade() {
    let (_tmp, _graph, app) = start();
    let refused = api(
        &app,
        "DELETE",
        &format!("/api/v1/firms/{ALBA}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(refused.0, 409, "{}", refused.1);
    let deleted = api(
        &app,
        "DELETE",
        &format!("/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(deleted.0, 204);
    let gone = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}/milestones/{TILES}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(gone.0, 404);
    // Lucy was a client of that project only: now nobody.
    let (_, lucy) = api(
        &app,
        "GET",
        "/api/v1/resolve?phone=447911123403",
        Some(ADMIN),
        None,
    );
    assert_eq!(lucy["kind"], "unknown");
    check_clean(&app);
    let cascade = api(
        &app,
        "DELETE",
        &format!("/api/v1/firms/{ALBA}?cascade=true"),
        Some(ADMIN),
        None,
    );
    assert_eq!(cascade.0, 204);
    assert_eq!(
        api(
            &app,
            "GET",
            &format!("/api/v1/firms/{ALBA}"),
            Some(ADMIN),
            None
        )
        .0,
        404
    );
    let (_, olivia) = api(
        &app,
        "GET",
        "/api/v1/resolve?phone=447911123456",
        Some(ADMIN),
        None,
    );
    assert_eq!(olivia["kind"], "unknown");
    check_clean(&app);
}

#[test]
fn lists_page_with_a_cursor_and_filter_by_status_and_phone() {
    let (_tmp, _graph, app) = start();
    let (_, first) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/projects?limit=2"),
        Some(ADMIN),
        None,
    );
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let alba_project = |n: u8| format!("0195a000-0000-7000-8000-0000000000b{n}");
    assert_eq!(ids(&first), [alba_project(1), alba_project(2)]);
    let next = first["next"].as_str().unwrap();
    assert_eq!(next, alba_project(2));
    let (_, second) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/projects?limit=2&after={next}"),
        Some(ADMIN),
        None,
    );
    // Alba's four projects: the second page is exactly the last two, and
    // nothing follows.
    assert_eq!(ids(&second), [alba_project(3), alba_project(4)]);
    assert_eq!(second["next"], Value::Null, "{second}");
    let (_, by_phone) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/projects?phone=07911%20123403"),
        Some(ADMIN),
        None,
    );
    let names: Vec<&str> = by_phone["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Hampstead Bath"]);
    let bad = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/projects?limit=5000"),
        Some(ADMIN),
        None,
    );
    assert_eq!((bad.0, error_field(&bad.1)), (400, Some("limit")));
}

#[test]
fn online_import_has_the_offline_semantics_and_a_firm_token_imports_its_own_rows() {
    let (_tmp, _graph, app) = start();
    let url = format!("http://{}", app.addr);
    let import = |token: &str, dir: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["import", dir.to_str().unwrap(), "--url", &url];
        args.extend_from_slice(extra);
        std::process::Command::new(env!("CARGO_BIN_EXE_firmhook"))
            .args(&args)
            .env("FIRMHOOK_TOKEN", token)
            .output()
            .unwrap()
    };
    let alba = token_for(&app, ALBA);
    // The demo data spans three firms: Alba's token may not import it.
    let out = import(&alba, &demo_dir(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let errors = stderr(&out);
    assert!(
        errors.contains("firms.csv:3: id: unknown firm 0195a000-0000-7000-8000-0000000000f2"),
        "{errors}"
    );
    // The operator's import of the same data changes nothing: 27 unchanged.
    let out = import(ADMIN, &demo_dir(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out)
        .lines()
        .find(|l| l.starts_with("milestones.csv"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "));
    assert_eq!(
        line.as_deref(),
        Some("milestones.csv 0 new 0 updated 11 unchanged")
    );
    // A firm's own rows, with a warning, in a dry run: nothing written.
    let own = csv_dir(&[(
        "firm_members.csv",
        &format!(
            "id,firm_id,name,role,whatsapp_phone\n0195b000-0000-7000-8000-0000000000a9,{ALBA},Nina,Designer,07700 900123\n"
        ),
    )]);
    let out = import(&alba, own.path(), &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("firm_members.csv:2: whatsapp_phone: warning:"),
        "{}",
        stderr(&out)
    );
    let nina = format!("/api/v1/firms/{ALBA}/members/0195b000-0000-7000-8000-0000000000a9");
    assert_eq!(api(&app, "GET", &nina, Some(&alba), None).0, 404);
    let out = import(&alba, own.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(api(&app, "GET", &nina, Some(&alba), None).0, 200);
    check_clean(&app);
}

#[test]
fn an_empty_or_misnamed_multipart_and_a_plain_body_are_refused() {
    let (_tmp, _graph, app) = start();
    let send = |content_type: &str, body: &str| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .post(&app.url("/api/v1/import"))
            .header("Authorization", &format!("Bearer {ADMIN}"))
            .header("Content-Type", content_type)
            .send(body)
            .map(|r| r.status().as_u16())
            .unwrap()
    };
    let multipart = "multipart/form-data; boundary=XX";
    assert_eq!(send(multipart, "--XX--\r\n"), 400);
    let misnamed = "--XX\r\nContent-Disposition: form-data; name=\"clients.csv\"; filename=\"clients.csv\"\r\n\r\nid\r\n--XX--\r\n";
    assert_eq!(send(multipart, misnamed), 400);
    assert_eq!(send("text/csv", "id,name\n"), 415);
}

#[test]
fn the_message_log_shows_both_directions_and_a_reply_given_up_is_an_event() {
    let (_tmp, graph, app) = start();
    graph.answer_next(&[(400, &graph_error(131026))]);
    let lucy = "447911123403";
    assert_eq!(
        app.post(&webhook(ALBA_NUMBER, &[("wamid.log1", lucy, "text:hi")]))
            .0,
        200
    );
    graph.wait_for(1, WAIT);
    let path = format!("/api/v1/firms/{ALBA}/messages?phone=07911%20123403");
    let deadline = Instant::now() + WAIT;
    let log = loop {
        let (status, log) = api(&app, "GET", &path, Some(ADMIN), None);
        assert_eq!(status, 200, "{log}");
        if log["items"][0]["state"] == "failed" {
            break log;
        }
        assert!(Instant::now() < deadline, "{log}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{log}");
    // Newest first: the reply, then Lucy's message.
    assert_eq!(items[0]["direction"], "outbound");
    assert_eq!(items[0]["phone"], lucy);
    assert_eq!(items[0]["error_code"], 131026);
    assert!(
        items[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Hampstead Bath")
    );
    assert_eq!(items[1]["direction"], "inbound");
    assert_eq!(items[1]["text"], "hi");
    assert_eq!(items[1]["state"], Value::Null);
    let (_, feed) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/events"),
        Some(ADMIN),
        None,
    );
    let failed = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "message.failed")
        .unwrap_or_else(|| panic!("no message.failed in {feed}"));
    assert_eq!(failed["data"]["error_code"], 131026);
    assert_eq!(failed["data"]["to"], lucy);
    assert_eq!(failed["source"], "whatsapp");
    // Another firm's token sees none of it.
    let verde = token_for(&app, CASA_VERDE);
    assert_eq!(
        api(
            &app,
            "GET",
            &format!("/api/v1/firms/{ALBA}/messages"),
            Some(&verde),
            None
        )
        .0,
        404
    );
}

#[test]
fn an_import_over_the_limit_is_413_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_app_limited(
        &tmp.path().join("db.redb"),
        None,
        None,
        firmhook::writer::DEFAULT_MAX_BATCH,
        firmhook::store::SEEN_KEEP_SECONDS,
        firmhook::http::Limits {
            import: 1024 * 1024,
            ..firmhook::http::Limits::default()
        },
    );
    let mut firms = String::from("id,name,country\n");
    for n in 0..40_000u64 {
        firms.push_str(&format!("0198a000-0000-7000-8000-{n:012x},Studio {n},GB\n"));
    }
    assert!(firms.len() > 1024 * 1024);
    let dir = csv_dir(&[("firms.csv", &firms)]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firmhook"))
        .args([
            "import",
            dir.path().to_str().unwrap(),
            "--url",
            &format!("http://{}", app.addr),
        ])
        .env("FIRMHOOK_TOKEN", ADMIN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("answered 413: import over 1 MiB"),
        "{}",
        stderr(&out)
    );
    let (_, list) = api(&app, "GET", "/api/v1/firms?limit=1000", Some(ADMIN), None);
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
}

#[test]
fn members_and_milestones_are_created_listed_replaced_and_deleted() {
    let (_tmp, _graph, app) = start();
    let member = "0195b000-0000-7000-8000-0000000000a7";
    let path = format!("/api/v1/firms/{ALBA}/members/{member}");
    let body = json!({"name": "Nina", "role": "Designer", "whatsapp_phone": "07911 555123"});
    let (status, created) = api(&app, "PUT", &path, Some(ADMIN), Some(&body));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["whatsapp_phone"], "+447911555123");
    assert_eq!(created["firm_id"], ALBA);
    let (_, resolved) = api(
        &app,
        "GET",
        "/api/v1/resolve?phone=447911555123",
        Some(ADMIN),
        None,
    );
    assert_eq!(resolved["kind"], "designer_no_project");
    let (_, members) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/members"),
        Some(ADMIN),
        None,
    );
    assert!(
        members["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == member)
    );
    // A designer still named by a project cannot go.
    let olivia = "0195a000-0000-7000-8000-0000000000a1";
    let busy = api(
        &app,
        "DELETE",
        &format!("/api/v1/firms/{ALBA}/members/{olivia}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(busy.0, 409, "{}", busy.1);
    assert_eq!(api(&app, "DELETE", &path, Some(ADMIN), None).0, 204);
    assert_eq!(api(&app, "GET", &path, Some(ADMIN), None).0, 404);
    let (_, gone) = api(
        &app,
        "GET",
        "/api/v1/resolve?phone=447911555123",
        Some(ADMIN),
        None,
    );
    assert_eq!(gone["kind"], "unknown");

    let list = format!("/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}/milestones");
    let (_, before) = api(&app, "GET", &list, Some(ADMIN), None);
    assert_eq!(before["items"].as_array().unwrap().len(), 2);
    let tiles = format!("{list}/{TILES}");
    let (status, replaced) = api(
        &app,
        "PUT",
        &tiles,
        Some(ADMIN),
        Some(&json!({"title": "Tiles, again", "status": "awaiting_approval", "position": "3"})),
    );
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["position"], 3);
    assert_eq!(api(&app, "DELETE", &tiles, Some(ADMIN), None).0, 204);
    assert_eq!(api(&app, "DELETE", &tiles, Some(ADMIN), None).0, 404);
    let (_, after) = api(&app, "GET", &list, Some(ADMIN), None);
    assert_eq!(after["items"].as_array().unwrap().len(), 1);
    check_clean(&app);
}
