//! HTTPS beside plain HTTP, the real `firmhook serve` binary in both, over
//! the same database file, in one run:
//!
//! - durable webhook deliveries/s over 32 keep-alive connections: plain
//!   HTTP, then HTTPS (TLS 1.3, a certificate made here with rcgen);
//! - full TLS handshakes/s: 8 client threads, a new connection each time;
//! - `GET` of one project over HTTPS with the operator's token, p50/p99;
//! - peak resident memory (`VmHWM`) of the HTTPS server with the admin API
//!   on, after all of the above.
//!
//! The database holds `FIRMHOOK_BENCH_TLS_PROJECTS` projects with their
//! milestones (1,000,000 with `--bench`; 300 in the smoke run).

#[path = "support/load.rs"]
mod load;
#[path = "support/synth.rs"]
mod synth;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use firmhook::import::{Mode, Options as ImportOptions, import_dir, project_statuses};
use firmhook::store::{self, Store};

const SEED: u64 = 0x5eed_0005;
const CONNECTIONS: usize = 32;
const HANDSHAKERS: usize = 8;
const ADMIN: &str = "bench-admin-token-0123456789abcdef0123";

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let duration = Duration::from_secs(if full { 10 } else { 1 });
    let projects = std::env::var("FIRMHOOK_BENCH_TLS_PROJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 300 });

    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("csv");
    std::fs::create_dir(&csv).unwrap();
    let (_, samples) = synth::write_csv(&csv, projects, SEED, synth::Milestones::With).unwrap();
    let script = load::script(&samples);
    let pairs: Vec<(String, String)> = synth::project_pairs(&csv, projects);
    let db = tmp.path().join("tls.redb");
    {
        let mut store = Store::open(&db, store::DEFAULT_CACHE_BYTES).unwrap();
        let statuses = project_statuses();
        import_dir(&store, &csv, &ImportOptions::new(Mode::Apply, &statuses)).unwrap();
        store.compact().unwrap();
    }
    std::fs::remove_dir_all(&csv).unwrap();
    let (ca, cert, key) = certificate(tmp.path());
    println!("tls/database: {projects} projects");

    let mut plain = serve(&db, None);
    let http = load::run(plain.addr, &script, CONNECTIONS, duration);
    report("webhook over HTTP", &http);
    plain.stop();

    let mut secure = serve(&db, Some((&cert, &key)));
    let base = format!("https://{}", secure.addr);
    let https = load::run_at(
        &base,
        Some(load::trusting(&ca)),
        &script,
        CONNECTIONS,
        duration,
    );
    report("webhook over HTTPS", &https);
    println!(
        "tls/https_over_http_ratio               {:.2}",
        https.per_second() / http.per_second()
    );
    handshakes(secure.addr, &ca, duration);
    reads(&base, &ca, &pairs, if full { 2_000 } else { 50 });
    println!("tls/serve_peak_rss_mib {}", secure.peak_rss_kib() / 1024);
    secure.stop();
}

/// A CA and a leaf for 127.0.0.1 and localhost, written as PEM files.
fn certificate(dir: &Path) -> (Vec<u8>, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, leaf.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca.der().to_vec(), cert_path, key_path)
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn peak_rss_kib(&self) -> u64 {
        synth::peak_rss_kib_of(&self.child.id().to_string())
    }

    /// SIGTERM, and wait: the file is free for the next server.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn serve(db: &Path, tls: Option<(&Path, &Path)>) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_firmhook"));
    command
        .args(["serve", "--dev", "--listen", &addr.to_string(), "--db"])
        .arg(db)
        .env("WHATSAPP_APP_SECRET", load::SECRET)
        .env("FIRMHOOK_ADMIN_TOKEN", ADMIN)
        .env("FIRMHOOK_LOG", "warn")
        .env_remove("FIRMHOOK_CACHE_MB");
    if let Some((cert, key)) = tls {
        command
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key);
    }
    let child = command.spawn().unwrap();
    load::wait_listening(addr);
    Server { child, addr }
}

/// Full handshakes (no resumption), each on a new connection.
fn handshakes(addr: SocketAddr, ca: &[u8], duration: Duration) {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca.to_vec()))
        .unwrap();
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(firmhook::tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..HANDSHAKERS)
        .map(|_| {
            let (config, done, failed) = (config.clone(), done.clone(), failed.clone());
            std::thread::spawn(move || {
                while started.elapsed() < duration {
                    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                    let mut connection =
                        rustls::ClientConnection::new(config.clone(), name).unwrap();
                    let ok = TcpStream::connect(addr).is_ok_and(|mut tcp| {
                        while connection.is_handshaking() {
                            if connection.complete_io(&mut tcp).is_err() {
                                return false;
                            }
                        }
                        connection.send_close_notify();
                        let _ = connection.complete_io(&mut tcp);
                        let _ = tcp.flush();
                        true
                    });
                    if ok { &done } else { &failed }.fetch_add(1, Relaxed);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    let (done, failed) = (done.load(Relaxed), failed.load(Relaxed));
    println!(
        "tls/handshakes                          {:>8.0} per s  ({done} full TLS 1.3 handshakes, {failed} failed, {HANDSHAKERS} clients)",
        done as f64 / seconds
    );
    assert_eq!(failed, 0, "handshakes failed");
}

/// `GET` of one project with its milestones over HTTPS, one keep-alive
/// connection.
fn reads(base: &str, ca: &[u8], pairs: &[(String, String)], n: usize) {
    let agent = load::agent(Some(load::trusting(ca)));
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    let mut failures = 0;
    for i in 0..n {
        let (firm, project) = &pairs[i % pairs.len()];
        let sent = Instant::now();
        match agent
            .get(&format!("{base}/api/v1/firms/{firm}/projects/{project}"))
            .header("Authorization", &format!("Bearer {ADMIN}"))
            .call()
        {
            Ok(mut r) if r.status().as_u16() == 200 => {
                let _ = r.body_mut().read_to_vec();
            }
            _ => failures += 1,
        }
        latencies.push(sent.elapsed().as_micros() as u64);
    }
    latencies.sort_unstable();
    report(
        "GET project over HTTPS",
        &load::Result {
            requests: n as u64,
            failures,
            seconds: started.elapsed().as_secs_f64(),
            latencies_us: latencies,
        },
    );
}

fn report(name: &str, r: &load::Result) {
    println!(
        "tls/{name:<35} {:>8.0} per s  p50 {:>6} µs  p99 {:>6} µs  ({} requests, {} failed)",
        r.per_second(),
        r.percentile_us(50),
        r.percentile_us(99),
        r.requests,
        r.failures
    );
    assert_eq!(r.failures, 0, "{name}: requests failed");
}
