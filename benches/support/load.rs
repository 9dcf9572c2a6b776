//! A load generator for the webhook: `connections` threads, each with its
//! own keep-alive connection, posting signed realistic webhooks with
//! unique wamids; latency is measured per request.

#![allow(dead_code)] // each bench uses a different part

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use firmhook::whatsapp::signature::{self, Secret};

pub const SECRET: &str = "bench-secret";

/// What one sender says: (wa_id, text or `button:<id>`).
pub type Script = Vec<(String, String)>;

pub struct Result {
    pub requests: u64,
    pub failures: u64,
    pub seconds: f64,
    /// Sorted latencies in µs.
    pub latencies_us: Vec<u64>,
}

impl Result {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    pub fn percentile_us(&self, p: usize) -> u64 {
        let l = &self.latencies_us;
        if l.is_empty() {
            return 0;
        }
        l[(l.len() * p / 100).min(l.len() - 1)]
    }
}

/// A realistic mix: client texts, designer texts and client button taps.
pub fn script(samples: &super::synth::Samples) -> Script {
    let mut out = Vec::new();
    for (i, (client, project)) in samples.client_projects.iter().enumerate() {
        out.push((client.clone(), "text:hi".to_owned()));
        if let Some(designer) = samples.designers.get(i % samples.designers.len().max(1)) {
            let text = if i % 2 == 0 {
                "text:/milestones"
            } else {
                "text:hello"
            };
            out.push((designer.clone(), text.to_owned()));
        }
        let tap = if i % 2 == 0 { "sel" } else { "do_approve" };
        out.push((client.clone(), format!("button:{tap}:{project}")));
    }
    out
}

fn body(number: &str, wamid: &str, from: &str, content: &str) -> String {
    // Meta's own time of the message: now, as it would be.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut message = serde_json::json!({"from": from, "id": wamid, "timestamp": now.to_string()});
    if let Some(text) = content.strip_prefix("text:") {
        message["type"] = "text".into();
        message["text"] = serde_json::json!({"body": text});
    } else if let Some(id) = content.strip_prefix("button:") {
        message["type"] = "interactive".into();
        message["interactive"] =
            serde_json::json!({"type": "button_reply", "button_reply": {"id": id, "title": "t"}});
    }
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001", "phone_number_id": number},
            "contacts": [{"profile": {"name": "Bench"}, "wa_id": from}],
            "messages": [message],
        }
    }]}]})
    .to_string()
}

static RUN: AtomicU64 = AtomicU64::new(0);

/// A keep-alive client for the load: one idle connection kept.
pub fn agent(tls: Option<ureq::tls::TlsConfig>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .max_idle_connections_per_host(1);
    if let Some(tls) = tls {
        config = config.tls_config(tls);
    }
    config.build().into()
}

/// A client TLS configuration that trusts only `root` (DER).
pub fn trusting(root: &[u8]) -> ureq::tls::TlsConfig {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    TlsConfig::builder()
        .root_certs(RootCerts::Specific(Arc::new(vec![
            Certificate::from_der(root).to_owned(),
        ])))
        .build()
}

/// Posts for `duration` over `connections` connections; each request's
/// body is built and signed before its clock starts.
pub fn run(addr: SocketAddr, script: &Script, connections: usize, duration: Duration) -> Result {
    run_at(
        &format!("http://{addr}"),
        None,
        script,
        connections,
        duration,
    )
}

/// [`run`] against `base` (`http://…` or `https://…`), trusting `tls`.
pub fn run_at(
    base: &str,
    tls: Option<ureq::tls::TlsConfig>,
    script: &Script,
    connections: usize,
    duration: Duration,
) -> Result {
    let run = RUN.fetch_add(1, Relaxed);
    let script = Arc::new(script.clone());
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..connections)
        .map(|c| {
            let (script, failures) = (script.clone(), failures.clone());
            let (url, tls) = (format!("{base}/webhook"), tls.clone());
            std::thread::spawn(move || {
                let agent = agent(tls);
                let secret = Secret::new(SECRET);
                let mut latencies = Vec::new();
                let mut i = c;
                while started.elapsed() < duration {
                    let (from, content) = &script[i % script.len()];
                    let wamid = format!("wamid.bench.{run}.{c}.{i}");
                    let payload = body("100000000000000", &wamid, from, content);
                    let header = signature::sign(&secret, payload.as_bytes());
                    let sent = Instant::now();
                    let ok = agent
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .header(signature::HEADER, &header)
                        .send(payload)
                        .map(|mut r| {
                            let _ = r.body_mut().read_to_vec();
                            r.status().as_u16() == 200
                        })
                        .unwrap_or(false);
                    latencies.push(sent.elapsed().as_micros() as u64);
                    if !ok {
                        failures.fetch_add(1, Relaxed);
                    }
                    i += connections;
                }
                latencies
            })
        })
        .collect();
    let mut latencies_us: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    latencies_us.sort_unstable();
    Result {
        requests: latencies_us.len() as u64,
        failures: failures.load(Relaxed),
        seconds,
        latencies_us,
    }
}

/// The real server in-process on a loopback port over `db`, with replies
/// kept (dev transport); `admin` is the operator token, if any. Runs `f`
/// against it, then stops it.
pub fn with_app<T>(
    db: &std::path::Path,
    max_batch: usize,
    admin: Option<&str>,
    f: impl FnOnce(SocketAddr) -> T,
) -> T {
    use firmhook::app::{self, Options};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let options = Options {
        clock: firmhook::clock::Clock::system(),
        db: db.to_owned(),
        app_secret: Secret::new(SECRET),
        verify_token: Secret::new("bench"),
        transport: firmhook::sender::Transport::Dev,
        dev: false,
        seed_dir: None,
        seed_remove: false,
        statuses: firmhook::import::project_statuses(),
        cache_bytes: firmhook::store::DEFAULT_CACHE_BYTES,
        max_batch,
        pace_per_second: firmhook::sender::DEFAULT_PACE,
        seen_keep_seconds: firmhook::store::SEEN_KEEP_SECONDS,
        retention: firmhook::store::Retention::default(),
        limits: firmhook::http::Limits::default(),
        shared_number: None,
        // `/metrics` needs the operator token: a bench always has one.
        admin_token: Some(Secret::new(admin.unwrap_or(METRICS_TOKEN))),
        tls: None,
        hooks_reach: firmhook::push::Reach::Private,
        strangers_per_day: firmhook::writer::DEFAULT_STRANGERS_PER_DAY,
        metrics_listen: None,
        records_max: firmhook::app::DEFAULT_RECORDS_MAX,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("firmhook-http")
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                app::run(listener, options, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
    });
    wait_listening(addr);
    let result = f(addr);
    let _ = stop.send(());
    server.join().unwrap();
    result
}

/// Waits until `addr` accepts connections.
pub fn wait_listening(addr: SocketAddr) {
    for _ in 0..500 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the server did not start");
}

/// What the server did, read from outside it: its threads' own CPU clocks
/// (`/proc/self/task/*/schedstat`, nanoseconds on CPU), the bytes this
/// process sent to the disk (`/proc/self/io`, `write_bytes`: what reached
/// the block layer, not what write calls were given), and its commit counters (from
/// `/metrics`). Valid for the in-process server of [`with_app`], whose
/// writer thread is `firmhook-writer` and whose HTTP workers are
/// `firmhook-http`.
/// The operator token of [`with_app`]'s server when the bench names none,
/// which [`Work::read`] reads `/metrics` with.
pub const METRICS_TOKEN: &str = "bench-metrics-token-0123456789abcdef0123";

#[derive(Debug, Clone, Copy, Default)]
pub struct Work {
    pub writer_ns: u64,
    pub http_ns: u64,
    pub written: u64,
    pub commits: u64,
    pub jobs: u64,
}

impl Work {
    pub fn read(addr: SocketAddr) -> Self {
        let mut work = Work::default();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let path = task.path();
            let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            let ns: u64 = std::fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
                .unwrap_or(0);
            match comm.trim() {
                "firmhook-writer" => work.writer_ns += ns,
                "firmhook-http" => work.http_ns += ns,
                _ => {}
            }
        }
        let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
        work.written = io
            .lines()
            .find_map(|l| l.strip_prefix("write_bytes: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let metrics = ureq::get(&format!("http://{addr}/metrics"))
            .header("Authorization", &format!("Bearer {METRICS_TOKEN}"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default();
        let metric = |name: &str| -> u64 {
            metrics
                .lines()
                .find_map(|l| {
                    l.strip_prefix(name)
                        .and_then(|v| v.trim().parse::<f64>().ok())
                })
                .unwrap_or(0.0) as u64
        };
        work.commits = metric("firmhook_commit_batch_size_count ");
        work.jobs = metric("firmhook_commit_batch_size_sum ");
        work
    }

    /// The work done between `self` (before) and `after`, per delivery.
    pub fn per_delivery(&self, after: &Work, deliveries: u64) -> PerDelivery {
        let n = deliveries.max(1) as f64;
        let commits = after.commits.saturating_sub(self.commits).max(1) as f64;
        PerDelivery {
            writer_us: after.writer_ns.saturating_sub(self.writer_ns) as f64 / 1000.0 / n,
            http_us: after.http_ns.saturating_sub(self.http_ns) as f64 / 1000.0 / n,
            pages_per_commit: after.written.saturating_sub(self.written) as f64 / 4096.0 / commits,
            jobs_per_commit: after.jobs.saturating_sub(self.jobs) as f64 / commits,
            deliveries_per_commit: deliveries as f64 / commits,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PerDelivery {
    pub writer_us: f64,
    pub http_us: f64,
    /// Bytes the process wrote per commit, in 4 KiB pages.
    pub pages_per_commit: f64,
    /// Jobs of any kind (deliveries, send results, API changes) per commit.
    pub jobs_per_commit: f64,
    pub deliveries_per_commit: f64,
}
