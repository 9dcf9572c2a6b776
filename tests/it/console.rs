//! The web console's handlers through the real server: sign-in and
//! sessions, every page, firm scoping, CSRF, validation shown next to the
//! field, changes through the writer (the fake Graph API receives what a
//! click sends), page weight. The browser tests are `console_browser.rs`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

pub const ALBA: &str = "0195a000-0000-7000-8000-0000000000f1";
pub const NORDLICHT: &str = "0195a000-0000-7000-8000-0000000000f3";
/// Kensington Kitchen (Alba): Emma's; milestone "Installation" is pending.
pub const KENSINGTON: &str = "0195a000-0000-7000-8000-0000000000b1";
pub const INSTALLATION: &str = "0195a000-0000-7000-8000-0000000000c3";
/// Altbau Wohnung (Nordlicht): Lena's; "Entwurf" is pending.
pub const ALTBAU: &str = "0195a000-0000-7000-8000-0000000000b7";
pub const ENTWURF: &str = "0195a000-0000-7000-8000-0000000000ca";

/// A console client: one session's cookie and CSRF token, redirects not
/// followed.
pub struct Console {
    base: String,
    agent: ureq::Agent,
    cookie: String,
    csrf: String,
}

pub struct Answer {
    pub status: u16,
    pub location: String,
    pub body: String,
    pub set_cookie: Vec<String>,
    pub csp: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (location, csp) = (header("location"), header("content-security-policy"));
    let set_cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    Answer {
        status: response.status().as_u16(),
        location,
        body: response.body_mut().read_to_string().unwrap_or_default(),
        set_cookie,
        csp,
    }
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field");
    let rest = &html[at + 19..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The `name=value` part of a `Set-Cookie` for `name`.
fn cookie_pair(set_cookie: &[String], name: &str) -> Option<String> {
    set_cookie
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

impl Console {
    /// Signs in with `token`; panics if that fails.
    pub fn sign_in(app: &App, token: &str) -> Self {
        let (status, console) = Self::try_sign_in(app, token);
        assert_eq!(status, 303, "sign-in refused");
        console.unwrap()
    }

    pub fn try_sign_in(app: &App, token: &str) -> (u16, Option<Self>) {
        let base = app.url("");
        let agent = agent();
        let page = answer(
            agent
                .get(&format!("{base}/console/sign-in"))
                .call()
                .unwrap(),
        );
        let pre = cookie_pair(&page.set_cookie, "fh_signin").unwrap();
        let csrf = csrf_of(&page.body);
        let signed = answer(
            agent
                .post(&format!("{base}/console/sign-in"))
                .header("Cookie", &pre)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(format!("csrf={csrf}&token={}", encode(token)))
                .unwrap(),
        );
        let Some(cookie) = cookie_pair(&signed.set_cookie, "fh_session") else {
            return (signed.status, None);
        };
        let mut console = Self {
            base,
            agent,
            cookie,
            csrf: String::new(),
        };
        let home = console.get("/console");
        console.csrf = csrf_of(&console.get(&home.location).body);
        (signed.status, Some(console))
    }

    pub fn get(&self, path: &str) -> Answer {
        answer(
            self.agent
                .get(&format!("{}{path}", self.base))
                .header("Cookie", &self.cookie)
                .call()
                .unwrap(),
        )
    }

    /// A form POST with this session's CSRF token added.
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let mut all: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all)
    }

    /// A form POST with exactly these fields.
    pub fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        answer(
            self.agent
                .post(&format!("{}{path}", self.base))
                .header("Cookie", &self.cookie)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(body.join("&"))
                .unwrap(),
        )
    }
}

/// Form encoding: everything but unreserved characters as %XX.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A firm token for `firm`, made through the admin API.
pub fn firm_token(app: &App, firm: &str) -> String {
    let (status, body) = api(
        app,
        "POST",
        &format!("/api/v1/firms/{firm}/tokens"),
        Some(ADMIN),
        Some(&json!({"label": "console test"})),
    );
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

fn start() -> (tempfile::TempDir, FakeGraph, App) {
    let tmp = tempfile::tempdir().unwrap();
    let graph = FakeGraph::start();
    let app = spawn_app(&tmp.path().join("db.redb"), Some(&graph));
    (tmp, graph, app)
}

fn milestone_status(app: &App, project: &str, milestone: &str) -> String {
    let (_, body) = api(
        app,
        "GET",
        &format!("/api/v1/firms/{ALBA}/projects/{project}/milestones/{milestone}"),
        Some(ADMIN),
        None,
    );
    body["status"].as_str().unwrap_or("").to_owned()
}

#[test]
fn sign_in_sets_a_strict_http_only_cookie_and_refuses_unknown_tokens_and_forged_forms() {
    let (_tmp, _graph, app) = start();
    let (status, none) = Console::try_sign_in(&app, "not-a-token");
    assert_eq!(status, 401);
    assert!(none.is_none());

    // The sign-in form without its double-submit cookie: refused.
    let page = answer(agent().get(&app.url("/console/sign-in")).call().unwrap());
    let forged = answer(
        agent()
            .post(&app.url("/console/sign-in"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(format!("csrf={}&token={ADMIN}", csrf_of(&page.body)))
            .unwrap(),
    );
    assert_eq!(forged.status, 403);
    assert!(cookie_pair(&forged.set_cookie, "fh_session").is_none());

    let pre = cookie_pair(&page.set_cookie, "fh_signin").unwrap();
    let signed = answer(
        agent()
            .post(&app.url("/console/sign-in"))
            .header("Cookie", &pre)
            .header("X-Forwarded-Proto", "https")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(format!("csrf={}&token={ADMIN}", csrf_of(&page.body)))
            .unwrap(),
    );
    assert_eq!((signed.status, signed.location.as_str()), (303, "/console"));
    let cookie = signed
        .set_cookie
        .iter()
        .find(|c| c.starts_with("fh_session="))
        .unwrap();
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Secure",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }

    // Plain HTTP with no proxy saying otherwise: no Secure flag.
    let console = Console::sign_in(&app, ADMIN);
    assert!(!console.cookie.contains("Secure"));
    // Signed out: the cookie is cleared and the session is gone.
    let out = console.post("/console/sign-out", &[]);
    assert_eq!(
        (out.status, out.location.as_str()),
        (303, "/console/sign-in")
    );
    let after = console.get("/console/firms");
    assert_eq!(
        (after.status, after.location.as_str()),
        (303, "/console/sign-in")
    );
}

#[test]
fn every_page_answers_with_the_console_headers_and_fits_the_weight_budget() {
    let (_tmp, _graph, app) = start();
    let console = Console::sign_in(&app, ADMIN);
    let css = console.get("/console/static/console.css");
    let js = console.get("/console/static/console.js");
    assert_eq!((css.status, js.status), (200, 200));
    let pages = [
        "/console/firms".to_owned(),
        "/console/health".to_owned(),
        "/console/events".to_owned(),
        format!("/console/firms/{ALBA}/projects"),
        format!("/console/firms/{ALBA}/projects?q=kitchen&status=Active"),
        format!("/console/firms/{ALBA}/projects/{KENSINGTON}"),
        format!("/console/firms/{ALBA}/messages"),
        format!("/console/firms/{ALBA}/messages?phone=07911123401"),
        format!("/console/firms/{ALBA}/who?phone=07911123401"),
        format!("/console/firms/{ALBA}/settings"),
    ];
    for path in &pages {
        let page = console.get(path);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.csp.contains("frame-ancestors 'none'"), "{path}");
        assert!(page.csp.contains("script-src 'self'"), "{path}");
        assert!(!page.body.contains("<script>"), "{path}: an inline script");
        assert!(!page.body.contains("style=\""), "{path}: an inline style");
        // The budget: HTML + CSS + JS under 32 KiB for the demo's pages.
        let weight = page.body.len() + css.body.len() + js.body.len();
        assert!(weight < 32 * 1024, "{path}: {weight} bytes");
    }
    let who = console.get(&format!("/console/firms/{ALBA}/who?phone=07911123401"));
    assert!(who.body.contains("client of firm"), "{}", who.body);
    // Issue 25, finding 3: the answer comes first, in words, with a link;
    // the trace is behind a details element.
    let lucy = console.get(&format!("/console/firms/{ALBA}/who?phone=07911123403"));
    assert!(
        lucy.body
            .contains("Lucy Gray — client on Hampstead Bath (active).")
            || lucy
                .body
                .contains("Lucy Gray — client on Hampstead Bath (Active)."),
        "{}",
        lucy.body
    );
    assert!(
        lucy.body.contains(&format!(
            "href=\"/console/firms/{ALBA}/projects/0195a000-0000-7000-8000-0000000000b3\""
        )),
        "{}",
        lucy.body
    );
    let answer_at = lucy.body.find("client on Hampstead Bath").unwrap();
    let trace_at = lucy.body.find("<details>").unwrap();
    assert!(answer_at < trace_at, "the words come before the trace");
    let nobody = console.get(&format!("/console/firms/{ALBA}/who?phone=07911000111"));
    assert!(
        nobody
            .body
            .contains("Nobody at Studio Alba has this number"),
        "{}",
        nobody.body
    );
    let unknown = console.get("/console/nothing-here");
    assert_eq!(unknown.status, 404);
    let anonymous = answer(
        agent()
            .get(&app.url(&format!("/console/firms/{ALBA}/projects")))
            .call()
            .unwrap(),
    );
    assert_eq!(
        (anonymous.status, anonymous.location.as_str()),
        (303, "/console/sign-in")
    );
}

#[test]
fn a_firm_session_sees_its_own_firm_only() {
    let (_tmp, _graph, app) = start();
    let token = firm_token(&app, NORDLICHT);
    let console = Console::sign_in(&app, &token);
    let home = console.get("/console");
    assert_eq!(
        home.location,
        format!("/console/firms/{NORDLICHT}/projects")
    );
    assert_eq!(
        console
            .get(&format!("/console/firms/{NORDLICHT}/projects"))
            .status,
        200
    );
    for path in [
        format!("/console/firms/{ALBA}/projects"),
        format!("/console/firms/{ALBA}/projects/{KENSINGTON}"),
        // Another firm's project under this firm's path: not found either.
        format!("/console/firms/{NORDLICHT}/projects/{KENSINGTON}"),
        format!("/console/firms/{ALBA}/messages"),
        format!("/console/firms/{ALBA}/settings"),
        "/console/firms".to_owned(),
        "/console/health".to_owned(),
        "/console/events".to_owned(),
    ] {
        let page = console.get(&path);
        assert_eq!(page.status, 404, "{path}");
        assert!(!page.body.contains("Kensington"), "{path}");
    }
    // Changes too: nothing happens to Alba's milestone.
    for path in [
        format!("/console/firms/{ALBA}/projects/{KENSINGTON}/milestones/{INSTALLATION}/ready"),
        format!("/console/firms/{NORDLICHT}/projects/{KENSINGTON}/milestones/{INSTALLATION}/ready"),
    ] {
        assert_eq!(console.post(&path, &[]).status, 404, "{path}");
    }
    assert_eq!(milestone_status(&app, KENSINGTON, INSTALLATION), "pending");
    let created = console.post("/console/firms", &[("name", "Sneaky"), ("country", "GB")]);
    assert_eq!(created.status, 404);

    // Revoking the token ends the session at its next request.
    let (_, tokens) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{NORDLICHT}/tokens"),
        Some(ADMIN),
        None,
    );
    let id = tokens["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = api(
        &app,
        "DELETE",
        &format!("/api/v1/firms/{NORDLICHT}/tokens/{id}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 204);
    let after = console.get(&format!("/console/firms/{NORDLICHT}/projects"));
    assert_eq!(
        (after.status, after.location.as_str()),
        (303, "/console/sign-in")
    );
}

#[test]
fn forms_without_the_session_csrf_token_change_nothing() {
    let (_tmp, _graph, app) = start();
    let console = Console::sign_in(&app, ADMIN);
    let path =
        format!("/console/firms/{ALBA}/projects/{KENSINGTON}/milestones/{INSTALLATION}/ready");
    assert_eq!(console.post_raw(&path, &[]).status, 403);
    assert_eq!(console.post_raw(&path, &[("csrf", "0123")]).status, 403);
    // Another session's token is no good either.
    let other = Console::sign_in(&app, ADMIN);
    assert_eq!(
        console.post_raw(&path, &[("csrf", &other.csrf)]).status,
        403
    );
    assert_eq!(milestone_status(&app, KENSINGTON, INSTALLATION), "pending");
    let status = console.post_raw(
        &format!("/console/firms/{ALBA}/projects/{KENSINGTON}/status"),
        &[("status", "Completed")],
    );
    assert_eq!(status.status, 403);
}

#[test]
fn refused_forms_show_the_error_next_to_the_field_with_the_typed_value_kept() {
    let (_tmp, _graph, app) = start();
    let console = Console::sign_in(&app, ADMIN);
    let project = format!("/console/firms/{ALBA}/projects/{KENSINGTON}");
    let page = console.post(
        &format!("{project}/milestones"),
        &[("title", "Snagging"), ("position", "soon")],
    );
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("id=\"new-position-error\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("not a whole number ≥ 0: &#34;soon&#34;"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("name=\"title\" value=\"Snagging\""),
        "the title typed is kept"
    );
    assert!(
        page.body.contains("value=\"soon\""),
        "the position typed is kept"
    );

    let page = console.post(&format!("{project}/milestones"), &[("title", "  ")]);
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("id=\"new-title-error\""),
        "{}",
        page.body
    );

    let page = console.post(&format!("{project}/status"), &[("status", "Dreaming")]);
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("unknown project status"),
        "{}",
        page.body
    );

    let settings = format!("/console/firms/{ALBA}/settings");
    let page = console.post(
        &format!("{settings}/webhook"),
        &[("url", "ftp://example.com/x")],
    );
    assert_eq!(page.status, 400);
    assert!(page.body.contains("id=\"url-error\""), "{}", page.body);
    assert!(page.body.contains("value=\"ftp://example.com/x\""));

    let page = console.post(
        "/console/firms",
        &[("name", "New Studio"), ("country", "Atlantis")],
    );
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("id=\"firm-country-error\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("value=\"New Studio\""));

    // Marking ready twice: the second says why, on the page.
    let ready = format!("{project}/milestones/{INSTALLATION}/ready");
    assert_eq!(console.post(&ready, &[]).status, 303);
    let again = console.post(&ready, &[]);
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("role=\"alert\""), "{}", again.body);
}

#[test]
fn console_changes_go_through_the_writer_and_reach_whatsapp_the_feed_and_the_log() {
    let (_tmp, graph, app) = start();
    let console = Console::sign_in(&app, ADMIN);
    // Emma wrote to Alba's number: her window is open.
    app.open_window(ALBA_NUMBER, "447911123401");
    let project = format!("/console/firms/{ALBA}/projects/{KENSINGTON}");

    let ready = console.post(&format!("{project}/milestones/{INSTALLATION}/ready"), &[]);
    assert_eq!(
        (ready.status, ready.location.as_str()),
        (303, format!("{project}?done=ready").as_str())
    );
    let prompt = graph
        .wait_for(1, Duration::from_secs(10))
        .into_iter()
        .find(|r| r.to() == "447911123401")
        .expect("the approval prompt to Emma");
    assert!(prompt.text().contains("Installation"), "{}", prompt.text());
    assert_eq!(prompt.ids(), [format!("mil:{INSTALLATION}")]);
    assert_eq!(
        milestone_status(&app, KENSINGTON, INSTALLATION),
        "awaiting_approval"
    );
    let page = console.get(&format!("{project}?done=ready"));
    assert!(
        page.body.contains("asked on WhatsApp to approve"),
        "{}",
        page.body
    );

    let status = console.post(&format!("{project}/status"), &[("status", "On Hold")]);
    assert_eq!(status.status, 303);
    let events = console.get("/console/events");
    assert!(
        events.body.contains("project.status_changed"),
        "{}",
        events.body
    );

    let added = console.post(
        &format!("{project}/milestones"),
        &[("title", "Snagging list")],
    );
    assert_eq!(added.status, 303);
    let page = console.get(&project);
    assert!(page.body.contains("Snagging list"));

    // A firm created by the operator, with its first token shown once,
    // which then signs in to that firm.
    let created = console.post(
        "/console/firms",
        &[("name", "Atelier Nove"), ("country", "PT")],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let at = created
        .body
        .find("id=\"new-token\" readonly value=\"")
        .unwrap();
    let token = &created.body[at + 31..][..67];
    assert!(token.starts_with("fh_"), "{token}");
    let firm = Console::sign_in(&app, token);
    let (_, firms) = api(&app, "GET", "/api/v1/firms?limit=1000", Some(ADMIN), None);
    let nove = firms["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Atelier Nove")
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .expect("the firm was created");
    // The new firm's token lands on that firm's projects, not another's.
    assert_eq!(
        firm.get("/console").location,
        format!("/console/firms/{nove}/projects")
    );

    // The messages page has the prompt with its delivery state.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = console.get(&format!(
            "/console/firms/{ALBA}/messages?phone=%2B447911123401"
        ));
        if log.body.contains("Installation") && log.body.contains("state-sent") {
            break;
        }
        assert!(Instant::now() < deadline, "{}", log.body);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_held_notification_says_why_in_words() {
    let (_tmp, _graph, app) = start();
    let console = Console::sign_in(&app, ADMIN);
    // Lena never wrote and Nordlicht has no template: held.
    let ready = console.post(
        &format!("/console/firms/{NORDLICHT}/projects/{ALTBAU}/milestones/{ENTWURF}/ready"),
        &[],
    );
    assert_eq!(ready.status, 303);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = console.get(&format!(
            "/console/firms/{NORDLICHT}/messages?phone=015112345678"
        ));
        assert_eq!(log.status, 200);
        if log.body.contains("outside the 24-hour window, no template") {
            assert!(log.body.contains("state-held"), "{}", log.body);
            break;
        }
        assert!(Instant::now() < deadline, "{}", log.body);
        std::thread::sleep(Duration::from_millis(100));
    }
    let bad = console.get(&format!("/console/firms/{NORDLICHT}/messages?phone=12"));
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("id=\"phone-error\""));
}

#[test]
fn settings_forms_change_language_templates_and_the_event_webhook() {
    let (_tmp, _graph, app) = start();
    let console = Console::sign_in(&app, &firm_token(&app, NORDLICHT));
    let settings = format!("/console/firms/{NORDLICHT}/settings");
    let firm = || {
        api(
            &app,
            "GET",
            &format!("/api/v1/firms/{NORDLICHT}"),
            Some(ADMIN),
            None,
        )
        .1
    };

    let saved = console.post(&format!("{settings}/language"), &[("language", "es")]);
    assert_eq!(saved.location, format!("{settings}?done=language"));
    assert_eq!(firm()["language"], "es");
    let refused = console.post(&format!("{settings}/language"), &[("language", "klingon")]);
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("unknown language"),
        "{}",
        refused.body
    );
    assert_eq!(firm()["language"], "es");

    let template = format!("{settings}/templates/milestone_ready");
    let saved = console.post(&template, &[("name", "etapa_pronta"), ("language", "de")]);
    assert_eq!(saved.status, 303);
    let (status, body) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{NORDLICHT}/templates/milestone_ready"),
        Some(ADMIN),
        None,
    );
    assert_eq!((status, body["name"].as_str()), (200, Some("etapa_pronta")));
    let page = console.get(&settings);
    assert!(page.body.contains("value=\"etapa_pronta\""));
    // Both fields empty: back to the operator's default.
    assert_eq!(
        console
            .post(&template, &[("name", ""), ("language", "")])
            .status,
        303
    );
    let (status, _) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{NORDLICHT}/templates/milestone_ready"),
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 404);

    // The event webhook: its secret shown once, a test event signed and
    // received, then removed.
    let receiver = FakeGraph::start();
    let url = format!("{}/events", receiver.url());
    let saved = console.post(&format!("{settings}/webhook"), &[("url", &url)]);
    assert_eq!(saved.status, 200);
    assert!(
        saved.body.contains("id=\"secret\" readonly value=\"whsec_"),
        "{}",
        saved.body
    );
    assert!(
        !console.get(&settings).body.contains("whsec_"),
        "the secret is shown once"
    );
    let tested = console.post(&format!("{settings}/webhook/test"), &[]);
    assert!(
        tested.body.contains("Test event sent: delivered."),
        "{}",
        tested.body
    );
    let received = receiver.wait_for(1, Duration::from_secs(10));
    assert_eq!(received[0].body["type"], "webhook.test");
    assert_eq!(received[0].body["firm_id"], NORDLICHT);
    receiver.answer_next(&[(500, "{}")]);
    let failed = console.post(&format!("{settings}/webhook/test"), &[]);
    assert!(
        failed.body.contains("Test event sent: not delivered."),
        "{}",
        failed.body
    );
    // Only delivered or not: the answer's status is not shown. (Ids on
    // the page are random hex, which may hold "500" by chance.)
    assert!(
        !failed.body.contains("HTTP 500") && !failed.body.contains("status 500"),
        "{}",
        failed.body
    );
    let removed = console.post(&format!("{settings}/webhook/delete"), &[]);
    assert_eq!(removed.location, format!("{settings}?done=webhook-deleted"));
    let (status, _) = api(
        &app,
        "GET",
        &format!("/api/v1/firms/{NORDLICHT}/webhook"),
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 404);

    // The firm's tokens are listed, never their secrets.
    let page = console.get(&settings);
    assert!(page.body.contains("console test"));
    assert!(!page.body.contains("fh_"), "a token's secret on the page");
}

/// Issue 21: a status change told the client on WhatsApp (`/status`) but
/// not from the console or the API. The same act now tells the client the
/// same thing whatever the door.
#[test]
fn a_status_change_tells_the_client_the_same_from_every_door() {
    let (_tmp, graph, app) = start();
    const LUCY: &str = "447911123403";
    const TOM: &str = "447911123499";
    const HAMPSTEAD: &str = "0195a000-0000-7000-8000-0000000000b3";
    app.open_window(ALBA_NUMBER, LUCY);
    // WhatsApp: the designer's `/status`.
    let status = webhook(ALBA_NUMBER, &[("wamid.door1", TOM, "text:/status On Hold")]);
    assert_eq!(app.post(&status).0, 200);
    // The admin API.
    let (code, _) = api(
        &app,
        "PATCH",
        &format!("/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}"),
        Some(ADMIN),
        Some(&serde_json::json!({"status": "Active"})),
    );
    assert_eq!(code, 200);
    // The console.
    let console = Console::sign_in(&app, ADMIN);
    let changed = console.post(
        &format!("/console/firms/{ALBA}/projects/{HAMPSTEAD}/status"),
        &[("status", "Completed")],
    );
    assert!(
        changed.status == 200 || changed.status == 303,
        "{}",
        changed.status
    );
    // A change to the status it already has tells nobody.
    let (code, _) = api(
        &app,
        "PATCH",
        &format!("/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}"),
        Some(ADMIN),
        Some(&serde_json::json!({"status": "Completed"})),
    );
    assert_eq!(code, 200);
    let to_lucy: Vec<String> = graph
        .sent_to(LUCY, 3, Duration::from_secs(15))
        .iter()
        .map(|r| r.text())
        .collect();
    assert_eq!(
        to_lucy,
        [
            "Your project Hampstead Bath is now On Hold.",
            "Your project Hampstead Bath is now Active.",
            "Your project Hampstead Bath is now Completed.",
        ]
    );
    app.wait_settled();
    assert_eq!(
        graph.requests().iter().filter(|r| r.to() == LUCY).count(),
        3
    );
    // The same events, each naming its door; the unchanged status none.
    let changes: Vec<(String, String)> = events(&app, ALBA, "project.status_changed")
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap().to_owned(),
                e["data"].to_string(),
            )
        })
        .collect();
    let data = |from: &str, to: &str| {
        serde_json::json!({"project_id": HAMPSTEAD, "from": from, "to": to}).to_string()
    };
    assert_eq!(
        changes,
        [
            ("whatsapp".to_owned(), data("Active", "On Hold")),
            ("api".to_owned(), data("On Hold", "Active")),
            ("console".to_owned(), data("Active", "Completed")),
        ]
    );
}

/// Issue 21: a milestone edit from the API (PUT) and from the console
/// gives the same record and no event (a title is not a status), and
/// neither takes back the status the client set meanwhile.
#[test]
fn a_milestone_edit_is_the_same_from_the_api_and_the_console() {
    let (_tmp, _graph, app) = start();
    const HAMPSTEAD: &str = "0195a000-0000-7000-8000-0000000000b3";
    const TILES: &str = "0195a000-0000-7000-8000-0000000000c5";
    const FITTING: &str = "0195a000-0000-7000-8000-0000000000c6";
    let path = |m: &str| format!("/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}/milestones/{m}");
    let read = |m: &str| api(&app, "GET", &path(m), Some(ADMIN), None).1;
    let before = events(&app, ALBA, "milestone.ready").len()
        + events(&app, ALBA, "milestone.approved").len();
    // The API's PUT gives the whole record, its status as read.
    let tiles = read(TILES);
    let (code, body) = api(
        &app,
        "PUT",
        &path(TILES),
        Some(ADMIN),
        Some(&serde_json::json!({
            "title": "Wall tiles", "position": 7, "status": tiles["status"]
        })),
    );
    assert_eq!(code, 200, "{body}");
    let fitting = read(FITTING);
    let console = Console::sign_in(&app, ADMIN);
    let saved = console.post(
        &format!("/console/firms/{ALBA}/projects/{HAMPSTEAD}/milestones/{FITTING}"),
        &[("title", "Wall tiles"), ("position", "7")],
    );
    assert!(
        saved.status == 200 || saved.status == 303,
        "{}",
        saved.status
    );
    // The same record but for the id and the status each already had.
    let strip = |mut m: serde_json::Value| {
        let object = m.as_object_mut().unwrap();
        object.remove("id");
        object.remove("status");
        m
    };
    let (tiles_after, fitting_after) = (read(TILES), read(FITTING));
    assert_eq!(
        strip(tiles_after.clone()),
        strip(fitting_after.clone()),
        "API and console differ"
    );
    assert_eq!(tiles_after["title"], "Wall tiles");
    assert_eq!(tiles_after["position"], 7);
    assert_eq!(tiles_after["status"], tiles["status"]);
    assert_eq!(fitting_after["status"], fitting["status"]);
    let after = events(&app, ALBA, "milestone.ready").len()
        + events(&app, ALBA, "milestone.approved").len();
    assert_eq!(before, after, "an edit is no status change");
}

/// Issue 21: the same act through the three doors gives the same message.
/// Mark ready from the API, the console and a designer's `rdy:` tap: the
/// client's approval prompt is the same JSON but for the project, the
/// milestone and the person.
#[test]
fn mark_ready_sends_the_same_prompt_from_every_door() {
    let (_tmp, graph, app) = start();
    const TOM: &str = "447911123499";
    let doors = [
        // (client, project, project name, milestone, title)
        (
            "447911123401",
            KENSINGTON,
            "Kensington Kitchen",
            INSTALLATION,
            "Installation",
        ),
        (
            "447911123402",
            "0195a000-0000-7000-8000-0000000000b2",
            "Chelsea Loft",
            "0195a000-0000-7000-8000-0000000000c4",
            "Floor plan",
        ),
        (
            "447911123403",
            "0195a000-0000-7000-8000-0000000000b3",
            "Hampstead Bath",
            "0195a000-0000-7000-8000-0000000000c6",
            "Fitting",
        ),
    ];
    for (client, ..) in &doors {
        app.open_window(ALBA_NUMBER, client);
    }
    let (code, body) = api(
        &app,
        "POST",
        &format!("/api/v1/firms/{ALBA}/milestones/{}/ready", doors[0].3),
        Some(ADMIN),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let console = Console::sign_in(&app, ADMIN);
    let ready = console.post(
        &format!(
            "/console/firms/{ALBA}/projects/{}/milestones/{}/ready",
            doors[1].1, doors[1].3
        ),
        &[],
    );
    assert!(
        ready.status == 200 || ready.status == 303,
        "{}",
        ready.status
    );
    let tap = webhook(
        ALBA_NUMBER,
        &[("wamid.ready3", TOM, &format!("button:rdy:{}", doors[2].3))],
    );
    assert_eq!(app.post(&tap).0, 200);
    let prompts: Vec<String> = doors
        .iter()
        .map(|(client, _, name, milestone, title)| {
            let sent = graph.sent_to(client, 1, Duration::from_secs(15));
            sent[0]
                .body
                .to_string()
                .replace(client, "<client>")
                .replace(name, "<project>")
                .replace(milestone, "<milestone>")
                .replace(title, "<title>")
        })
        .collect();
    assert_eq!(prompts[0], prompts[1], "API and console differ");
    assert_eq!(prompts[0], prompts[2], "API and WhatsApp differ");
    assert!(prompts[0].contains("mil:<milestone>"), "{}", prompts[0]);
    // The same event from each door, naming the door.
    let ready = events(&app, ALBA, "milestone.ready");
    let seen: Vec<(String, String)> = doors
        .iter()
        .map(|(_, project, _, milestone, title)| {
            let event = ready
                .iter()
                .find(|e| e["data"]["milestone_id"] == *milestone)
                .unwrap_or_else(|| panic!("no milestone.ready for {milestone}: {ready:?}"));
            let data = event["data"]
                .to_string()
                .replace(project, "<project>")
                .replace(milestone, "<milestone>")
                .replace(title, "<title>");
            (event["source"].as_str().unwrap().to_owned(), data)
        })
        .collect();
    assert_eq!(seen[0].1, seen[1].1, "API and console events differ");
    assert_eq!(seen[0].1, seen[2].1, "API and WhatsApp events differ");
    let sources: Vec<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(sources, ["api", "console", "whatsapp"]);
}

/// Issue 25, finding 1: tapping Jonas (a German number) in Studio Alba's
/// Messages showed `not a possible number for its country … (read with
/// country GB)`: the list linked the number without `+` and the page read
/// it with the firm's country. Every phone in a link is E.164 with `+`.
#[test]
fn a_foreign_numbers_conversation_opens_from_the_list() {
    let (_tmp, _graph, app) = start();
    const JONAS: &str = "4915123456789";
    assert_eq!(
        app.post(&webhook(
            ALBA_NUMBER,
            &[("wamid.jonas", JONAS, "text:hallo")]
        ))
        .0,
        200
    );
    let console = Console::sign_in(&app, ADMIN);
    let list = console.get(&format!("/console/firms/{ALBA}/messages"));
    assert_eq!(list.status, 200);
    let link = format!("/console/firms/{ALBA}/messages?phone=%2B{JONAS}");
    assert!(list.body.contains(&link), "{}", list.body);
    assert!(list.body.contains(&format!(">+{JONAS}<")), "{}", list.body);
    let conversation = console.get(&link);
    assert_eq!(conversation.status, 200, "{}", conversation.body);
    assert!(
        !conversation.body.contains("not a possible number"),
        "{}",
        conversation.body
    );
    assert!(conversation.body.contains("hallo"), "{}", conversation.body);
}

/// Issue 25, finding 7: `07911 123403` found nothing while `+44 7911
/// 123403` found Lucy's project; names matched only in their own case and
/// accents. Search takes national and partial numbers, and `jose alvarez`
/// finds `José Álvarez`.
#[test]
fn search_finds_national_and_partial_numbers_and_names_without_accents() {
    let (_tmp, _graph, app) = start();
    let (code, body) = api(
        &app,
        "PUT",
        &format!("/api/v1/firms/{ALBA}/projects/0195a000-0000-7000-8000-0000000000e1"),
        Some(ADMIN),
        Some(
            &serde_json::json!({"name": "Maison Étoile", "status": "Lead", "client_name": "José Álvarez"}),
        ),
    );
    assert_eq!(code, 201, "{body}");
    let console = Console::sign_in(&app, ADMIN);
    let search = |q: &str| {
        let page = console.get(&format!(
            "/console/firms/{ALBA}/projects?q={}",
            q.replace('+', "%2B").replace(' ', "+")
        ));
        assert_eq!(page.status, 200);
        page.body
    };
    for query in [
        "07911 123403",
        "07911123403",
        "+44 7911 123403",
        "123403",
        "7911 1234",
    ] {
        assert!(search(query).contains("Hampstead Bath"), "{query}");
    }
    for query in ["jose alvarez", "JOSÉ", "etoile", "maison  étoile"] {
        assert!(search(query).contains("Maison Étoile"), "{query}");
    }
    assert!(!search("jose").contains("Hampstead Bath"));
}

/// Issue 25, findings 4 and 9: Casa Verde's Mark ready said the client had
/// been asked while the prompt was held; a status change never said
/// whether the client would hear, and an unchanged status said "Status
/// changed". Each banner now says what happened.
#[test]
fn banners_say_what_happened() {
    let (_tmp, _graph, app) = start();
    const CASA: &str = "0195a000-0000-7000-8000-0000000000f2";
    const JARDINS: &str = "0195a000-0000-7000-8000-0000000000b5";
    let console = Console::sign_in(&app, ADMIN);
    // Casa Verde has no templates and Ana has not written: held.
    let (code, body) = api(
        &app,
        "PUT",
        &format!(
            "/api/v1/firms/{CASA}/projects/{JARDINS}/milestones/0195a000-0000-7000-8000-0000000000e8"
        ),
        Some(ADMIN),
        Some(&serde_json::json!({"title": "Piso", "status": "pending", "position": 9})),
    );
    assert_eq!(code, 201, "{body}");
    let project = format!("/console/firms/{CASA}/projects/{JARDINS}");
    let ready = console.post(
        &format!("{project}/milestones/0195a000-0000-7000-8000-0000000000e8/ready"),
        &[],
    );
    assert_eq!(ready.status, 303);
    assert!(
        ready.location.ends_with("?done=ready-held"),
        "{}",
        ready.location
    );
    let page = console.get(&ready.location);
    assert!(
        page.body.contains("the client&#39;s prompt is held")
            || page.body.contains("the client's prompt is held"),
        "{}",
        page.body
    );
    // Studio Alba has templates: outside the window, the template.
    let hampstead = format!("/console/firms/{ALBA}/projects/0195a000-0000-7000-8000-0000000000b3");
    let changed = console.post(&format!("{hampstead}/status"), &[("status", "On Hold")]);
    assert!(
        changed.location.ends_with("?done=status-template"),
        "{}",
        changed.location
    );
    // Inside Lucy's window: free-form.
    app.open_window(ALBA_NUMBER, "447911123403");
    let changed = console.post(&format!("{hampstead}/status"), &[("status", "Active")]);
    assert!(
        changed.location.ends_with("?done=status"),
        "{}",
        changed.location
    );
    // The same status again: nothing happened, and the banner says so.
    let same = console.post(&format!("{hampstead}/status"), &[("status", "Active")]);
    assert!(
        same.location.ends_with("?done=status-same"),
        "{}",
        same.location
    );
    let page = console.get(&same.location);
    assert!(
        page.body.contains("already had that status"),
        "{}",
        page.body
    );
}
