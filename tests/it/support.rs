//! Shared test helpers: a tiny fixture language for resolver cases, the
//! built binary, and temporary directories of CSV files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use firmhook::domain::{
    Country, Firm, FirmId, Member, MemberId, Phone, Project, ProjectId, ProjectStatus, Timestamp,
};
use firmhook::store::Store;

/// The repository's demo data.
pub fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo")
}

/// Runs the built `firmhook` binary.
pub fn firmhook(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_firmhook"))
        .args(args)
        .env_remove("FIRMHOOK_DB")
        .output()
        .expect("the firmhook binary runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes `files` (name, contents) into a fresh temporary directory.
pub fn csv_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    dir
}

/// A small world described line by line, with names instead of ids:
///
/// ```text
/// firm alba GB number=111
/// member alba olivia +447911123456        (phone optional)
/// project alba kitchen at=2026-01-10 client=+44… designer=olivia legacy=+44…
/// milestone kitchen tiles awaiting_approval
/// ```
///
/// Ids are made from the line number so they are stable, and [`Names`]
/// turns them back into names in output.
pub fn world(text: &str) -> (Store, Names) {
    let store = Store::in_memory().unwrap();
    let mut names = Names::default();
    let mut firms: HashMap<String, (FirmId, Country)> = HashMap::new();
    let mut members: HashMap<String, MemberId> = HashMap::new();
    let mut projects: HashMap<String, (FirmId, ProjectId)> = HashMap::new();
    store
        .write(|w| {
            for (n, line) in text.lines().map(str::trim).enumerate() {
                let words: Vec<&str> = line.split_whitespace().collect();
                let id = 0x1000 + n as u128;
                match words.as_slice() {
                    [] => {}
                    ["firm", name, country, rest @ ..] => {
                        let firm = FirmId::from_u128(id);
                        let country = Country::parse(country).unwrap();
                        let number = option(rest, "number").map(|n| n.parse().unwrap());
                        w.put_firm(&Firm {
                            id: firm,
                            name: name.to_string(),
                            country,
                            phone_number_id: number,
                            language: None,
                        })?;
                        firms.insert(name.to_string(), (firm, country));
                        names.add(id, name);
                    }
                    ["member", firm, name, rest @ ..] => {
                        let (firm_id, country) = firms[*firm];
                        let member = MemberId::from_u128(id);
                        w.put_member(&Member {
                            id: member,
                            firm_id,
                            name: name.to_string(),
                            role: String::new(),
                            whatsapp_phone: rest.first().map(|p| phone(p, country)),
                        })?;
                        members.insert(name.to_string(), member);
                        names.add(id, name);
                    }
                    ["project", firm, name, rest @ ..] => {
                        let (firm_id, country) = firms[*firm];
                        projects.insert(name.to_string(), (firm_id, ProjectId::from_u128(id)));
                        w.put_project(&Project {
                            id: ProjectId::from_u128(id),
                            firm_id,
                            name: name.to_string(),
                            status: ProjectStatus::parse("Active", ProjectStatus::DEFAULT_SET)
                                .unwrap(),
                            client_name: String::new(),
                            client_phone: option(rest, "client").map(|p| phone(p, country)),
                            designer_member_id: option(rest, "designer").map(|m| members[m]),
                            designer_phone: option(rest, "legacy").map(|p| phone(p, country)),
                            created_at: Timestamp::parse(
                                option(rest, "at").unwrap_or("2026-01-01"),
                            )
                            .unwrap(),
                        })?;
                        names.add(id, name);
                    }
                    ["milestone", project, name, status] => {
                        let (firm, project_id) = projects[*project];
                        let position = n as u32;
                        w.put_milestone(
                            firm,
                            &firmhook::domain::Milestone {
                                id: firmhook::domain::MilestoneId::from_u128(id),
                                project_id,
                                title: name.to_string(),
                                status: firmhook::domain::MilestoneStatus::parse(status).unwrap(),
                                position,
                            },
                        )?;
                        names.add(id, name);
                    }
                    other => panic!("fixture line {}: cannot read {other:?}", n + 1),
                }
            }
            Ok::<_, firmhook::store::Error>(())
        })
        .unwrap();
    (store, names)
}

fn option<'a>(words: &[&'a str], key: &str) -> Option<&'a str> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

fn phone(text: &str, country: Country) -> Phone {
    Phone::parse(text, Some(country))
        .unwrap_or_else(|e| panic!("fixture phone: {e}"))
        .phone
}

/// Maps fixture ids back to the names the fixture gave them.
#[derive(Default)]
pub struct Names(Vec<(String, String)>);

impl Names {
    /// The id the fixture gave `name`.
    pub fn id(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(_, n)| n == name)
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("no {name} in the fixture"))
    }

    fn add(&mut self, id: u128, name: &str) {
        self.0
            .push((uuid::Uuid::from_u128(id).to_string(), name.to_owned()));
    }

    /// Replaces every fixture id in `text` with its name.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (id, name) in &self.0 {
            out = out.replace(id, name);
        }
        out
    }
}

// ---- The server, a fake Graph API, and webhook bodies ----------------------

use std::collections::VecDeque;
use std::io::{Read, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firmhook::app::{self, Options};
use firmhook::sender::Transport;
use firmhook::whatsapp::signature::{self, Secret};

pub const SECRET: &str = "test-secret";
pub const VERIFY: &str = "test-verify";
/// The operator token of the test server.
pub const ADMIN: &str = "test-admin-token-0123456789abcdef";
/// Studio Alba's business number in the demo data.
pub const ALBA_NUMBER: &str = "106540352242922";
/// A business number no firm owns.
pub const OTHER_NUMBER: &str = "100000000000000";

/// The real server on a loopback port over a database file.
pub struct App {
    pub addr: SocketAddr,
    /// The server's clock: a test moves it forward instead of sleeping.
    pub clock: firmhook::clock::Clock,
    pub db: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts the server over `db` (seeded with the demo data if empty),
/// sending replies to `graph` (or keeping them, dev-style, if `None`).
pub fn spawn_app(db: &Path, graph: Option<&FakeGraph>) -> App {
    spawn_app_with(db, graph, firmhook::writer::DEFAULT_MAX_BATCH)
}

pub fn spawn_app_with(db: &Path, graph: Option<&FakeGraph>, max_batch: usize) -> App {
    spawn_app_over(db, None, graph, max_batch)
}

/// The server over a store the test opened itself (a faulty disk, say).
pub fn spawn_app_over(
    db: &Path,
    store: Option<Arc<Store>>,
    graph: Option<&FakeGraph>,
    max_batch: usize,
) -> App {
    spawn_app_full(db, store, graph.map(FakeGraph::url), max_batch)
}

/// The server sending to the Graph API at `graph_url` (whatever listens
/// there, or nothing), or keeping replies if `None`.
pub fn spawn_app_full(
    db: &Path,
    store: Option<Arc<Store>>,
    graph_url: Option<String>,
    max_batch: usize,
) -> App {
    spawn_app_keeping(
        db,
        store,
        graph_url,
        max_batch,
        firmhook::store::SEEN_KEEP_SECONDS,
    )
}

/// … keeping seen wamids only `seen_keep_seconds` (the soak test prunes).
pub fn spawn_app_keeping(
    db: &Path,
    store: Option<Arc<Store>>,
    graph_url: Option<String>,
    max_batch: usize,
    seen_keep_seconds: u64,
) -> App {
    spawn_app_limited(
        db,
        store,
        graph_url,
        max_batch,
        seen_keep_seconds,
        // Tests drive many connections from 127.0.0.1 at once, as Meta's
        // many addresses would: the per-address cap has tests of its own
        // (`door.rs`), which set their limits themselves.
        firmhook::http::Limits {
            per_address: 0,
            ..firmhook::http::Limits::default()
        },
    )
}

/// … with the HTTP server's body limits set by the test.
pub fn spawn_app_limited(
    db: &Path,
    store: Option<Arc<Store>>,
    graph_url: Option<String>,
    max_batch: usize,
    seen_keep_seconds: u64,
    limits: firmhook::http::Limits,
) -> App {
    spawn_app_tuned(
        db,
        store,
        graph_url,
        max_batch,
        seen_keep_seconds,
        limits,
        |_| {},
    )
}

/// … with any other option set by `tune` (the test's own settings).
pub fn spawn_app_tuned(
    db: &Path,
    store: Option<Arc<Store>>,
    graph_url: Option<String>,
    max_batch: usize,
    seen_keep_seconds: u64,
    limits: firmhook::http::Limits,
    tune: impl FnOnce(&mut Options),
) -> App {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let dev = graph_url.is_none();
    let transport = match graph_url {
        Some(base) => Transport::Graph {
            base,
            token: Secret::new("test-token"),
            timeout: Duration::from_millis(700),
        },
        None => Transport::Dev,
    };
    let mut options = Options {
        clock: firmhook::clock::Clock::system(),
        db: db.to_owned(),
        app_secret: Secret::new(SECRET),
        verify_token: Secret::new(VERIFY),
        transport,
        dev,
        seed_dir: Some(demo_dir()),
        seed_remove: false,
        statuses: firmhook::import::project_statuses(),
        cache_bytes: 16 << 20,
        max_batch,
        pace_per_second: 1000,
        seen_keep_seconds,
        retention: firmhook::store::Retention::default(),
        limits,
        shared_number: Some(OTHER_NUMBER.to_owned()),
        admin_token: Some(Secret::new(ADMIN)),
        tls: None,
        hooks_reach: firmhook::push::Reach::Private,
        strangers_per_day: firmhook::writer::DEFAULT_STRANGERS_PER_DAY,
        metrics_listen: None,
        records_max: firmhook::app::DEFAULT_RECORDS_MAX,
    };
    tune(&mut options);
    let clock = options.clock.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let shutdown = async {
                let _ = stopped.await;
            };
            match store {
                Some(store) => app::run_with_store(listener, store, options, shutdown).await,
                None => app::run(listener, options, shutdown).await,
            }
            .unwrap();
        });
    });
    let app = App {
        addr,
        clock,
        db: db.to_owned(),
        stop: Some(stop),
        thread: Some(thread),
    };
    app.wait_healthy();
    app
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok((200, _)) = get(&self.url("/healthz")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not become healthy");
    }

    /// Posts `body` signed with the test secret.
    pub fn post(&self, body: &str) -> (u16, String) {
        let header = signature::sign(&Secret::new(SECRET), body.as_bytes());
        post(&self.url("/webhook"), body, Some(&header))
    }

    /// Opens the 24-hour window of `phone` on `number`: it reacts to a
    /// message, which answers nothing.
    pub fn open_window(&self, number: &str, phone: &str) {
        assert_eq!(self.post(&reaction(number, phone, 0)).0, 200);
    }

    /// Stops the server gracefully and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the server thread ended cleanly");
        }
    }

    /// Waits until no reply is due: every queued reply was sent, given up
    /// or held, and its result committed. After that nothing more goes to
    /// the Graph API until something new comes in, so "nothing more was
    /// sent" can be checked without sleeping on it.
    pub fn wait_settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let due = self.snapshot().read().unwrap().outbox_depth().unwrap();
            if due == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "{due} replies still due");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A read-only look at the database while the server runs.
    pub fn snapshot(&self) -> firmhook::store::Snapshot {
        firmhook::store::Snapshot::open(&self.db).unwrap()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.shutdown();
        } else if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}

pub fn get(url: &str) -> Result<(u16, String), ureq::Error> {
    let mut response = agent().get(url).call()?;
    let status = response.status().as_u16();
    Ok((
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    ))
}

pub fn post(url: &str, body: &str, signature: Option<&str>) -> (u16, String) {
    try_post(url, body, signature).unwrap()
}

/// A POST that may get no answer at all (the server was killed).
pub fn try_post(
    url: &str,
    body: &str,
    signature: Option<&str>,
) -> Result<(u16, String), ureq::Error> {
    let mut request = agent().post(url).header("Content-Type", "application/json");
    if let Some(signature) = signature {
        request = request.header("X-Hub-Signature-256", signature);
    }
    let mut response = request.send(body.to_owned())?;
    let status = response.status().as_u16();
    Ok((
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    ))
}

/// A webhook body with one message per item: (wamid, from wa_id, content)
/// where content is `text:…` or `button:<id>`.
pub fn webhook(number: &str, messages: &[(&str, &str, &str)]) -> String {
    let messages: Vec<serde_json::Value> = messages
        .iter()
        .map(|(wamid, from, content)| {
            let mut m = serde_json::json!({"from": from, "id": wamid, "timestamp": now_seconds().to_string()});
            if let Some(text) = content.strip_prefix("text:") {
                m["type"] = "text".into();
                m["text"] = serde_json::json!({"body": text});
            } else if let Some(id) = content.strip_prefix("button:") {
                m["type"] = "interactive".into();
                m["interactive"] = serde_json::json!({"type": "button_reply", "button_reply": {"id": id, "title": "t"}});
            } else {
                panic!("content {content:?}");
            }
            m
        })
        .collect();
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001", "phone_number_id": number},
            "messages": messages,
        }}]}]
    })
    .to_string()
}

/// Unix seconds now.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A reaction from `from` to `number`, `age` seconds old: a message that
/// gets no answer but opens (or, old, does not open) the 24-hour window
/// for notifications to `from` from that number.
pub fn reaction(number: &str, from: &str, age: i64) -> String {
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001", "phone_number_id": number},
            "messages": [{"from": from, "id": format!("wamid.reaction.{from}.{age}.{}", now_seconds()),
                          "timestamp": (now_seconds() - age).to_string(), "type": "reaction",
                          "reaction": {"message_id": "wamid.x", "emoji": "👍"}}],
        }}]}]
    })
    .to_string()
}

/// One request the fake Graph API received.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    pub path: String,
    pub authorization: String,
    pub body: serde_json::Value,
}

impl GraphRequest {
    pub fn to(&self) -> &str {
        self.body["to"].as_str().unwrap_or("")
    }

    /// The message's text: a text body or an interactive body.
    pub fn text(&self) -> String {
        self.body["text"]["body"]
            .as_str()
            .or(self.body["interactive"]["body"]["text"].as_str())
            .unwrap_or("")
            .to_owned()
    }

    /// Every button and row id the message offers.
    pub fn ids(&self) -> Vec<String> {
        let action = &self.body["interactive"]["action"];
        let buttons = action["buttons"].as_array().into_iter().flatten();
        let rows = action["sections"][0]["rows"]
            .as_array()
            .into_iter()
            .flatten();
        buttons
            .map(|b| b["reply"]["id"].as_str().unwrap_or("").to_owned())
            .chain(rows.map(|r| r["id"].as_str().unwrap_or("").to_owned()))
            .collect()
    }
}

/// A real HTTP server on loopback standing in for the Graph API: it records
/// every request and answers from a script (then with success).
pub struct FakeGraph {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<GraphRequest>>>,
    script: Arc<Mutex<VecDeque<(u16, String)>>>,
}

impl FakeGraph {
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// On a given loopback port (0: any), e.g. one the server was already
    /// told about while nothing listened there.
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, Duration::ZERO)
    }

    /// One that waits `delay` before each answer (a slow or hung API).
    pub fn start_with(port: u16, delay: Duration) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let (seen, answers) = (requests.clone(), script.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                std::thread::sleep(delay);
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(request);
                    seen.len()
                };
                let (status, body) = answers.lock().unwrap().pop_front().unwrap_or_else(|| {
                    (200, format!(r#"{{"messaging_product":"whatsapp","messages":[{{"id":"wamid.fake.{n}"}}]}}"#))
                });
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self {
            addr,
            requests,
            script,
        }
    }

    pub fn url(&self) -> String {
        graph_url(self.addr.port())
    }

    /// The next answers, in order, before answers go back to success.
    pub fn answer_next(&self, answers: &[(u16, &str)]) {
        let mut script = self.script.lock().unwrap();
        script.extend(answers.iter().map(|(s, b)| (*s, (*b).to_owned())));
    }

    pub fn requests(&self) -> Vec<GraphRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived; returns them all.
    /// The requests to `to`, once there are at least `n`; fails if they do
    /// not come within `within`.
    pub fn sent_to(&self, to: &str, n: usize, within: Duration) -> Vec<GraphRequest> {
        let deadline = Instant::now() + within;
        loop {
            let found: Vec<GraphRequest> = self
                .requests()
                .into_iter()
                .filter(|r| r.to() == to)
                .collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{to} got {} requests, expected {n}: {found:#?}",
                found.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The requests to `to` after waiting `quiet` for any more: for
    /// checking that nothing more (or nothing) was sent.
    pub fn settled_to(&self, to: &str, quiet: Duration) -> Vec<GraphRequest> {
        std::thread::sleep(quiet);
        self.requests()
            .into_iter()
            .filter(|r| r.to() == to)
            .collect()
    }

    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<GraphRequest> {
        let deadline = Instant::now() + within;
        loop {
            let requests = self.requests();
            if requests.len() >= n {
                return requests;
            }
            assert!(
                Instant::now() < deadline,
                "the fake Graph API got {} requests, expected {n}: {requests:#?}",
                requests.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub fn graph_error(code: i64) -> String {
    format!(r#"{{"error":{{"message":"scripted","type":"OAuthException","code":{code}}}}}"#)
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<GraphRequest> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    Some(GraphRequest {
        path,
        authorization: header("authorization"),
        body: serde_json::from_slice(&buf[header_end..]).unwrap_or_default(),
    })
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Graph API base URL of a fake on `port`.
pub fn graph_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/v25.0")
}

/// `PROPTEST_CASES` if set, else `default` (for tests whose default is
/// smaller than proptest's because each case is heavier).
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One admin API call: `method path` with a bearer token and a JSON body;
/// the status and the JSON answer (`Null` when empty or not JSON).
pub fn api(
    app: &App,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let url = app.url(path);
    let mut request = ureq::http::Request::builder().method(method).uri(&url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = match body {
        Some(body) => agent().run(
            request
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .unwrap(),
        ),
        None => agent().run(request.body(()).unwrap()),
    };
    let mut response = response.unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or_default())
}

/// The server's `/metrics`, read with the operator token.
pub fn metrics(app: &App) -> String {
    let mut response = agent()
        .get(app.url("/metrics"))
        .header("Authorization", format!("Bearer {ADMIN}"))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.body_mut().read_to_string().unwrap()
}

/// A series of the server's `/metrics`, 0 when absent.
pub fn metric(app: &App, series: &str) -> u64 {
    let text = metrics(app);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{series} ")))
        .map_or(0, |v| v.parse().unwrap())
}

/// A connection from `source` (another loopback address) to the app.
pub fn connect_from(app: &App, source: &str) -> std::io::Result<std::net::TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    let from: std::net::SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&from.into())?;
    socket.connect(&app.addr.into())?;
    let stream: std::net::TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    Ok(stream)
}

/// Whether the system programs a test needs are installed. Without them
/// the test does not run: it prints one line saying so and what to
/// install, unless `CI=true`, where they are required (`.ci/run` installs
/// them) and their absence fails the test.
pub fn system_programs(test: &str, programs: &[&str], package: &str) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|program| {
            !std::process::Command::new("sh")
                .args(["-c", &format!("command -v {program}")])
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let line = format!(
        "{test}: did not run: {} not installed (`sudo apt-get install -y {package}`)",
        missing.join(", ")
    );
    let required = std::env::var("CI").as_deref() == Ok("true")
        || std::env::var("FIRMHOOK_SYSTEM_TESTS").as_deref() == Ok("require");
    assert!(
        !required,
        "{line}; under CI=true or FIRMHOOK_SYSTEM_TESTS=require it is required"
    );
    // Straight to the process's stderr: libtest captures `println!` and
    // `eprintln!` of passing tests, and this line must be seen.
    let _ = writeln!(std::io::stderr(), "{line}");
    false
}

/// A new firm token for `firm`, made with the operator token.
pub fn token_for(app: &App, firm: &str) -> String {
    let (status, body) = api(
        app,
        "POST",
        &format!("/api/v1/firms/{firm}/tokens"),
        Some(ADMIN),
        Some(&serde_json::json!({"label": "test"})),
    );
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// The server over a new database in `tmp`, in dev transport, with its
/// body `limits` and anything else set by `tune`.
pub fn spawn_tuned(
    tmp: &tempfile::TempDir,
    limits: firmhook::http::Limits,
    tune: impl FnOnce(&mut Options),
) -> App {
    spawn_app_tuned(
        &tmp.path().join("db.redb"),
        None,
        None,
        firmhook::writer::DEFAULT_MAX_BATCH,
        firmhook::store::SEEN_KEEP_SECONDS,
        limits,
        tune,
    )
}

/// `POST /api/v1/import` with one part per (file name, contents).
pub fn import(app: &App, token: &str, files: &[(&str, &str)]) -> (u16, serde_json::Value) {
    import_with(app, token, files, "")
}

/// The same, with a query string (`?overwrite_status=true`).
pub fn import_with(
    app: &App,
    token: &str,
    files: &[(&str, &str)],
    query: &str,
) -> (u16, serde_json::Value) {
    let mut body = String::new();
    for (name, contents) in files {
        body.push_str(&format!(
            "--XX\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n{contents}\r\n"
        ));
    }
    body.push_str("--XX--\r\n");
    let mut response = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(&app.url(&format!("/api/v1/import{query}")))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "multipart/form-data; boundary=XX")
        .send(&body)
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// The events of `firm`'s feed of type `kind`, oldest first (the first
/// 1,000 events).
pub fn events(app: &App, firm: &str, kind: &str) -> Vec<serde_json::Value> {
    let (_, feed) = api(
        app,
        "GET",
        &format!("/api/v1/firms/{firm}/events?limit=1000"),
        Some(ADMIN),
        None,
    );
    feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .cloned()
        .collect()
}

/// Sets a project's status through the API, which must answer 200.
pub fn set_status(app: &App, firm: &str, project: &str, status: &str) {
    let (code, body) = api(
        app,
        "PATCH",
        &format!("/api/v1/firms/{firm}/projects/{project}"),
        Some(ADMIN),
        Some(&serde_json::json!({ "status": status })),
    );
    assert_eq!(code, 200, "{body}");
}
