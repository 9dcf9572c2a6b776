//! The HTTP server: `serve(listener, state, shutdown)` and one `match` on
//! (method, path). hyper lives here and nowhere else.
//!
//! Headers must arrive within [`HEADER_TIMEOUT`] (an idle keep-alive
//! connection is closed after the same time); a body within the deadline of
//! [`body::Limits`]; at most [`MAX_CONNECTIONS`] are open at once. The
//! webhook itself is `webhook.rs`.

pub(crate) mod api;
pub(crate) mod body;
mod clients;
mod console;
mod webhook;

pub use body::Limits;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::tls::Acceptor;
use crate::whatsapp::signature::Secret;
use crate::writer::Queue;

pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_CONNECTIONS: usize = 1024;
/// The most one connection buffers of what it reads (headers included).
const READ_BUFFER: usize = 16 * 1024;
/// How long shutdown waits for requests in flight: bodies still arriving
/// and long-polls end at once, so this is for commits (DESIGN section 10:
/// SIGTERM ends within 5 s).
const DRAIN: Duration = Duration::from_secs(3);

pub struct State {
    pub app_secret: Secret,
    pub verify_token: Secret,
    pub writer: Queue,
    /// Reads only: changes go to `writer` as commands.
    pub store: crate::store::Reads,
    pub metrics: Arc<Metrics>,
    /// The time the doors stamp records with (tokens, new projects).
    pub clock: crate::clock::Clock,
    /// `WHATSAPP_PHONE_NUMBER_ID`: what a firm without a number of its own
    /// sends from (the console's banners say how a client is told).
    pub shared_number: Option<crate::domain::BusinessNumber>,
    /// `serve --dev`: enables `GET /dev/messages`.
    pub dev: bool,
    pub limits: Limits,
    /// The operator's API token; `None`: no operator access.
    pub admin_token: Option<Secret>,
    /// The allowed project statuses.
    pub statuses: Vec<String>,
    /// The database's directory: online imports are staged there.
    pub data_dir: std::path::PathBuf,
    /// The database file, for its size in `/metrics`.
    pub db_path: std::path::PathBuf,
    /// Whether the server speaks TLS (the console's cookies are `Secure`).
    pub tls: bool,
    /// The web console's sessions.
    pub sessions: console::Sessions,
    /// Slots for long-polls of the change feed (`wait`); one held per
    /// waiting request.
    pub long_polls: Arc<Semaphore>,
    /// Whether event webhooks may reach private addresses.
    pub hooks_reach: crate::push::Reach,
}

/// Long-polls waiting at once, all clients together: a quarter of the
/// connection slots, so waiting clients cannot take them all.
pub const MAX_LONG_POLLS: usize = MAX_CONNECTIONS / 4;

type Body = Full<Bytes>;

/// Serves until `shutdown` resolves, then stops accepting, lets requests
/// in flight finish (up to 30 s) and returns. With `tls`, every connection
/// shakes hands first (bounded by the acceptor's timeout, holding its
/// connection slot meanwhile).
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    tls: Option<Acceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let budget = body::Budget::new(state.limits.memory);
    let staging = body::Budget::new(usize::try_from(state.limits.import).unwrap_or(usize::MAX));
    let clients = clients::Clients::new(state.limits.per_address, state.limits.unsigned_share);
    // Bodies still arriving when shutdown starts are abandoned at once.
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // An address over its share is refused before it takes one
                // of the server's slots.
                let Some(client) = clients.admit(peer.ip()) else {
                    state.metrics.refused("per_address");
                    drop(stream);
                    continue;
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    state.metrics.refused("connections");
                    drop(stream); // over the connection limit
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let door = Door {
                    state: state.clone(),
                    budget: budget.clone(),
                    staging: staging.clone(),
                    closing: closing_rx.clone(),
                    client: Arc::new(client),
                };
                let watcher = graceful.watcher();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => connection(stream, door, watcher).await,
                        Some(tls) => {
                            let mut closing = door.closing.clone();
                            tokio::select! {
                                secured = tls.accept(stream, &door.state.metrics) => {
                                    if let Some(stream) = secured {
                                        connection(stream, door, watcher).await;
                                    }
                                }
                                () = async {
                                    let _ = closing.wait_for(|closing| *closing).await;
                                } => {}
                            }
                        }
                    }
                    drop(slot);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = closing.send(true);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => tracing::warn!("shutdown: requests still in flight after 3 s"),
    }
    Ok(())
}

/// `--metrics-listen`: serves `GET /metrics` (and nothing else) without a
/// token, one connection at a time being enough for a scraper. Runs until
/// aborted.
pub async fn serve_metrics(listener: TcpListener, state: Arc<State>) {
    let slots = Arc::new(Semaphore::new(16));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let state = state.clone();
                async move {
                    Ok::<_, Infallible>(match (request.method(), request.uri().path()) {
                        (&Method::GET, "/metrics") => metrics(&state),
                        _ => text(StatusCode::NOT_FOUND, "not found\n"),
                    })
                }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(slot);
        });
    }
}

/// Serves one connection's requests until it closes or shutdown ends it.
async fn connection<S>(stream: S, door: Door, watcher: Watcher)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        // hyper's read buffer grows to this and keeps its size while the
        // connection lives: at the default (~400 KiB) a thousand
        // connections pushing bodies hold 400 MiB.
        .max_buf_size(READ_BUFFER)
        // A client may shut its sending side after the request and still
        // read the answer.
        .half_close(true)
        .serve_connection(
            TokioIo::new(stream),
            service_fn(move |request| route(request, door.clone())),
        );
    let _ = watcher.watch(connection).await;
}

/// What one connection's requests need: the state, the body budget and
/// the shutdown signal.
#[derive(Clone)]
pub(crate) struct Door {
    state: Arc<State>,
    budget: body::Budget,
    /// Bytes of online imports staged on disk, all requests together.
    staging: body::Budget,
    closing: tokio::sync::watch::Receiver<bool>,
    /// The connection's client address and what it holds.
    client: Arc<clients::Connection>,
}

impl Door {
    /// A whole request body within `limits` (the deadline, the size, the
    /// shared memory budget). An early refusal (too large, busy) first
    /// reads and discards the rest, so the client reads the answer.
    async fn read_body(
        &self,
        request: Request<Incoming>,
        limits: &Limits,
    ) -> Result<body::Held, body::Refusal> {
        let (_, mut incoming) = request.into_parts();
        let mut body = body::Request {
            body: &mut incoming,
            until: tokio::time::Instant::now() + limits.deadline,
            limits,
            closing: self.closing.clone(),
        };
        let read = body.read(&self.budget, None).await;
        if let Err(body::Refusal::TooLarge | body::Refusal::Busy) = read {
            body.drain().await;
        }
        read
    }
}

async fn route(request: Request<Incoming>, door: Door) -> Result<Response<Body>, Infallible> {
    let state = &door.state;
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, "/webhook") => handshake(&request, state),
        (&Method::POST, "/webhook") => webhook::post(request, &door).await,
        (&Method::GET, "/healthz") => healthz(state),
        (&Method::GET, "/metrics") => {
            // Counts per firm are the operator's business (DESIGN section 10).
            if operator_bearer(&request, state) {
                metrics(state)
            } else {
                state
                    .metrics
                    .api_auth_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut refused = text(
                    StatusCode::UNAUTHORIZED,
                    "/metrics needs the operator token\n",
                );
                refused.headers_mut().insert(
                    hyper::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer"),
                );
                refused
            }
        }
        (&Method::GET, "/dev/messages") if state.dev => dev_messages(&request, state),
        (&Method::GET, "/dev/firms") if state.dev => dev_firms(state),
        (_, path) if path.starts_with("/api/v1/") => api::route(request, &door).await,
        (_, path) if path == "/console" || path.starts_with("/console/") => {
            console::route(request, &door).await
        }
        (_, "/webhook" | "/healthz" | "/metrics") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    };
    let mut response = response;
    if state.tls {
        // Browsers that once reached the console over HTTPS keep to it.
        response.headers_mut().insert(
            hyper::header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    Ok(response)
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json(value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A writer batch older than this means the writer is stuck.
const STUCK_AFTER_MS: u64 = 5_000;
/// Commits failed in a row before `/healthz` says so.
const FAILED_COMMITS: u64 = 3;

/// `GET /healthz`: 200 `ok`, or 503 with the reason when nothing can be
/// written: the writer thread is gone, stuck on one batch for 5 s, or its
/// last 3 commits failed (DESIGN section 5). An import in progress is not
/// a stuck writer.
fn healthz(state: &State) -> Response<Body> {
    use std::sync::atomic::Ordering::Relaxed;
    let busy_since = state.metrics.writer_busy_since_ms.load(Relaxed);
    let failed = state.metrics.commit_failures_in_row.load(Relaxed);
    // The writer's own progress, in real time.
    let now = crate::clock::wall_ms();
    let problem = if state.writer.is_closed() {
        Some("the writer has stopped".to_owned())
    } else if busy_since != 0 && now.saturating_sub(busy_since) > STUCK_AFTER_MS {
        Some(format!(
            "the writer has been on one batch for {} s",
            now.saturating_sub(busy_since) / 1000
        ))
    } else if failed >= FAILED_COMMITS {
        Some(format!("the last {failed} commits failed"))
    } else {
        None
    };
    match problem {
        None => text(StatusCode::OK, "ok\n"),
        Some(why) => text(StatusCode::SERVICE_UNAVAILABLE, &format!("{why}\n")),
    }
}

/// Whether the request carries the operator's bearer token.
fn operator_bearer(request: &Request<Incoming>, state: &State) -> bool {
    match (&state.admin_token, api::bearer(request.headers())) {
        (Some(admin), Some(token)) => admin.matches(token.as_bytes()),
        _ => false,
    }
}

/// `GET /webhook?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
fn handshake(request: &Request<Incoming>, state: &State) -> Response<Body> {
    let query = Query::of(request);
    let get = |key: &str| query.get(key);
    let token_ok =
        get("hub.verify_token").is_some_and(|t| state.verify_token.matches(t.as_bytes()));
    match (get("hub.mode"), get("hub.challenge")) {
        (Some("subscribe"), Some(challenge)) if token_ok => text(StatusCode::OK, challenge),
        _ => text(StatusCode::FORBIDDEN, "forbidden\n"),
    }
}

fn metrics(state: &State) -> Response<Body> {
    use std::fmt::Write;
    let reader = state.store.read();
    let depth = reader
        .as_ref()
        .ok()
        .and_then(|r| r.outbox_depth().ok())
        .unwrap_or(0);
    let mut body = state.metrics.render(depth);
    // How big the file is and what fills it (retention and `compact`).
    let size = std::fs::metadata(&state.db_path).map_or(0, |m| m.len());
    let _ = writeln!(
        body,
        "# HELP firmhook_database_bytes Size of the database file.\n# TYPE firmhook_database_bytes gauge\nfirmhook_database_bytes {size}"
    );
    if let Ok(tables) = reader.and_then(|r| r.table_sizes()) {
        let _ = writeln!(
            body,
            "# HELP firmhook_table_entries Entries per table.\n# TYPE firmhook_table_entries gauge"
        );
        for (table, entries) in tables {
            let _ = writeln!(
                body,
                "firmhook_table_entries{{table=\"{table}\"}} {entries}"
            );
        }
    }
    let mut response = text(StatusCode::OK, &body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// `GET /dev/messages?to=<wa_id>&after=<seq>`: the replies kept in dev mode.
fn dev_messages(request: &Request<Incoming>, state: &State) -> Response<Body> {
    let query = Query::of(request);
    let get = |key: &str| query.get(key);
    let after = get("after").and_then(|v| v.parse().ok()).unwrap_or(0);
    let found = state.store.read().and_then(|r| {
        let messages = r.outbox_after(after, get("to"), 200)?;
        messages
            .into_iter()
            .map(|m| {
                let text = dev_text(&r, &m)?;
                Ok(serde_json::json!({
                    "seq": m.seq,
                    "to": m.to.as_str(),
                    "from": m.phone_number_id,
                    "state": m.state.as_str(),
                    "text": text,
                    "message": m.body.to_json(&m.to),
                }))
            })
            .collect::<Result<Vec<_>, crate::store::Error>>()
    });
    match found {
        Ok(list) => json(&serde_json::Value::Array(list)),
        Err(err) => {
            tracing::error!(error = %err, "reading the outbox failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "")
        }
    }
}

/// `GET /dev/firms`: every firm's id, name and business number, so that
/// `simulate --firm` can write to a firm's own number.
fn dev_firms(state: &State) -> Response<Body> {
    let mut firms = Vec::new();
    let found = state.store.read().and_then(|r| {
        r.for_each_firm(|firm| {
            firms.push(serde_json::json!({
                "id": firm.id.to_string(),
                "name": firm.name,
                "phone_number_id": firm.phone_number_id.map(|n| n.to_string()),
            }));
            Ok::<_, crate::store::Error>(())
        })
    });
    match found {
        Ok(()) => json(&serde_json::Value::Array(firms)),
        Err(err) => {
            tracing::error!(error = %err, "reading the firms failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "")
        }
    }
}

/// What `simulate` shows of a kept message: its text, or the template it
/// went out as, or why it is held.
fn dev_text(
    reader: &crate::store::Reader,
    m: &crate::store::Outbound,
) -> Result<String, crate::store::Error> {
    use crate::notify::Purpose;
    let Purpose::Notification { firm, notice } = &m.purpose else {
        return Ok(m.body.render());
    };
    if m.state == crate::store::State::Held {
        return Ok(format!(
            "(held: outside the 24-hour window and no {} template; sent when they next write)\n{}",
            notice.kind,
            m.body.render()
        ));
    }
    if !m.templated {
        return Ok(m.body.render());
    }
    let name = reader.template_for(*firm, notice.kind)?.map_or_else(
        || notice.kind.to_string(),
        |t| format!("{} ({})", t.name, t.language),
    );
    let mut text = format!("[template {name}: {}]", notice.params.join(" | "));
    if let Some(payload) = &notice.button {
        text.push_str(&format!("\n    [quick reply]  {payload}"));
    }
    Ok(text)
}

/// The query string, decoded.
#[derive(Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn of(request: &Request<Incoming>) -> Self {
        Self::parse(request.uri().query().unwrap_or(""))
    }

    /// `a=1&b=2`, as a query string or a form body
    /// (`application/x-www-form-urlencoded`) has it.
    pub(crate) fn parse(text: &str) -> Self {
        let pairs = text
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Self(pairs)
    }

    /// Every (name, value) pair, in order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = &(String, String)> {
        self.0.iter()
    }

    /// The first value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("two ASCII hex digits");
                out.push(u8::from_str_radix(hex, 16).expect("two hex digits are a byte"));
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(percent_decode("a%20b+c%2Fd"), "a b c/d");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        // A sign is not a hex digit (`u8::from_str_radix` would take it).
        assert_eq!(percent_decode("%+1"), "% 1");
        assert_eq!(percent_decode("%-1"), "%-1");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
    }
}
