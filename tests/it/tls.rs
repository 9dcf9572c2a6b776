//! HTTPS from certificate files: the real binary with `--tls-cert` and
//! `--tls-key`, certificates made here with rcgen, a rustls client over
//! loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use firmhook::whatsapp::signature::{Secret, sign};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use time::OffsetDateTime;

use crate::support::*;

/// A certificate authority made for one test.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "firmhook test CA");
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// A leaf for `names`, valid `from..until` (`None`: rcgen's defaults).
    pub fn leaf(
        &self,
        names: &[&str],
        validity: Option<(OffsetDateTime, OffsetDateTime)>,
    ) -> (String, String, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        if let Some((from, until)) = validity {
            params.not_before = from;
            params.not_after = until;
        }
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }
}

/// Now plus `days` (negative: in the past), as rcgen takes dates.
pub fn days_from_now(days: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(now_seconds() + days * 86_400).unwrap()
}

/// Writes a pair into `dir` as `cert.pem` / `key.pem` (replacing the
/// files by rename, as certbot does).
pub fn write_pair(dir: &Path, cert: &str, key: &str) -> (PathBuf, PathBuf) {
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    for (path, text) in [(&cert_path, cert), (&key_path, key)] {
        let temporary = path.with_extension("new");
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, path).unwrap();
    }
    (cert_path, key_path)
}

/// A rustls client that trusts only `root`.
pub fn client(
    root: CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

pub type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// An HTTPS connection to `addr` for `host`.
pub fn connect(
    addr: SocketAddr,
    host: &str,
    config: &Arc<rustls::ClientConfig>,
) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    let name = ServerName::try_from(host.to_owned()).unwrap();
    let connection = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// The leaf certificate the server presented.
pub fn served_leaf(tls: &Tls) -> Vec<u8> {
    tls.conn.peer_certificates().unwrap()[0].to_vec()
}

/// One request on a kept-alive connection; returns status and body.
pub fn request(
    tls: &mut Tls,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes()).unwrap();
    tls.write_all(body).unwrap();
    tls.flush().unwrap();
    read_response(tls)
}

fn read_response(stream: &mut impl Read) -> (u16, String) {
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let code = status.split(' ').nth(1).unwrap().parse().unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (code, String::from_utf8_lossy(&body).into_owned())
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The real binary serving HTTPS; stderr goes to `log`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Server {
    pub fn start(dir: &Path, tls_args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_on(free_port(), dir, tls_args, env)
    }

    pub fn start_on(port: u16, dir: &Path, tls_args: &[&str], env: &[(&str, &str)]) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = dir.join(format!("serve-{}.log", now_nanos()));
        let mut command = Command::new(env!("CARGO_BIN_EXE_firmhook"));
        command
            .args(["serve", "--dev", "--listen", &addr.to_string(), "--db"])
            .arg(dir.join("db.redb"))
            .args(tls_args)
            .env("FIRMHOOK_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().unwrap();
        Self { child, addr, log }
    }

    /// Waits until a TCP connection is accepted.
    pub fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(self.addr).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("serve exited {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "serve did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for `text` in the log.
    pub fn wait_log(&self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TLS13_12: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn serve_files(dir: &Path, cert: &Path, key: &Path) -> Server {
    serve_files_with(
        dir,
        cert,
        key,
        &[("FIRMHOOK_TLS_HANDSHAKE_TIMEOUT_SECS", "1")],
    )
}

/// [`serve_files`] with the environment `env`.
fn serve_files_with(dir: &Path, cert: &Path, key: &Path, env: &[(&str, &str)]) -> Server {
    let mut server = Server::start(
        dir,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        env,
    );
    server.wait_listening();
    server
}

#[test]
fn the_handshake_and_a_signed_webhook_are_answered_over_tls_1_3_and_1_2() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key, leaf) = ca.leaf(&["localhost"], None);
    let (cert_path, key_path) = write_pair(tmp.path(), &cert, &key);
    let server = serve_files(tmp.path(), &cert_path, &key_path);

    for (version, expected) in [
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
    ] {
        let config = client(ca.der(), &[version]);
        let mut tls = connect(server.addr, "localhost", &config).unwrap();
        assert_eq!(tls.conn.protocol_version(), Some(expected));
        assert_eq!(served_leaf(&tls), leaf);
        let (status, body) = request(
            &mut tls,
            "GET",
            "/webhook?hub.mode=subscribe&hub.verify_token=dev-verify&hub.challenge=8812",
            &[],
            b"",
        );
        assert_eq!((status, body.as_str()), (200, "8812"));

        let delivery = webhook(
            ALBA_NUMBER,
            &[(
                &format!("wamid.tls.{expected:?}"),
                "447700900001",
                "text:hi",
            )],
        );
        let signature = sign(&Secret::new("dev-secret"), delivery.as_bytes());
        let (status, _) = request(
            &mut tls,
            "POST",
            "/webhook",
            &[
                ("Content-Type", "application/json"),
                ("X-Hub-Signature-256", &signature),
            ],
            delivery.as_bytes(),
        );
        assert_eq!(status, 200);
    }
    let config = client(ca.der(), TLS13_12);
    let mut tls = connect(server.addr, "localhost", &config).unwrap();
    let (status, metrics) = request(
        &mut tls,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer dev-admin")],
        b"",
    );
    assert_eq!(status, 200);
    assert!(metrics.contains("firmhook_deliveries_total 2"), "{metrics}");
    assert!(
        metrics.contains("firmhook_tls_certificate_expiry_seconds "),
        "{metrics}"
    );
}

/// Connects until the served leaf is `leaf` (the reload is polled).
fn wait_served(server: &Server, config: &Arc<rustls::ClientConfig>, leaf: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let tls = connect(server.addr, "localhost", config).unwrap();
        if served_leaf(&tls) == leaf {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_renewed_pair_is_served_to_new_connections_while_open_ones_go_on() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key, first) = ca.leaf(&["localhost"], None);
    let (cert_path, key_path) = write_pair(tmp.path(), &cert, &key);
    let server = serve_files(tmp.path(), &cert_path, &key_path);
    let config = client(ca.der(), TLS13_12);
    let mut open = connect(server.addr, "localhost", &config).unwrap();
    assert_eq!(served_leaf(&open), first);

    // A renewal as certbot does it: new files renamed over the old ones.
    let (cert, key, second) = ca.leaf(&["localhost"], None);
    write_pair(tmp.path(), &cert, &key);
    wait_served(&server, &config, &second);
    server.wait_log("TLS certificate reloaded", Duration::from_secs(5));

    // The connection opened before goes on (its certificate was fixed at
    // its handshake; what matters is that it still answers).
    let (status, body) = request(&mut open, "GET", "/healthz", &[], b"");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
}

/// SIGHUP (systemctl reload) loads a new pair at once. The files are
/// otherwise checked only once an hour here, so nothing but the signal can
/// have loaded it.
#[test]
fn sighup_loads_a_new_pair_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key, first) = ca.leaf(&["localhost"], None);
    let (cert_path, key_path) = write_pair(tmp.path(), &cert, &key);
    let server = serve_files_with(
        tmp.path(),
        &cert_path,
        &key_path,
        &[("FIRMHOOK_TLS_RELOAD_SECS", "3600")],
    );
    let config = client(ca.der(), TLS13_12);
    // The port takes connections before the pair is read: a new pair
    // written before that would be the first one loaded.
    server.wait_log("TLS certificate loaded", Duration::from_secs(20));
    let (cert, key, second) = ca.leaf(&["localhost"], None);
    write_pair(tmp.path(), &cert, &key);
    // Without the signal the old pair keeps serving new connections.
    std::thread::sleep(Duration::from_secs(3));
    let before = connect(server.addr, "localhost", &config).unwrap();
    assert_eq!(served_leaf(&before), first, "reloaded without a signal");
    let hup = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_served(&server, &config, &second);
}

#[test]
fn a_broken_new_pair_is_logged_and_the_previous_one_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key, leaf) = ca.leaf(&["localhost"], None);
    let (cert_path, key_path) = write_pair(tmp.path(), &cert, &key);
    let server = serve_files(tmp.path(), &cert_path, &key_path);
    let config = client(ca.der(), TLS13_12);

    // A new certificate with the old key: they do not go together.
    let (other_cert, _, _) = ca.leaf(&["localhost"], None);
    write_pair(tmp.path(), &other_cert, &key);
    server.wait_log("new TLS certificate not loaded", Duration::from_secs(20));
    assert!(
        server.log().contains("does not go with the key"),
        "{}",
        server.log()
    );
    let mut tls = connect(server.addr, "localhost", &config).unwrap();
    assert_eq!(served_leaf(&tls), leaf);
    assert_eq!(request(&mut tls, "GET", "/healthz", &[], b"").0, 200);

    // Garbage in place of the certificate: the same.
    write_pair(
        tmp.path(),
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
        &key,
    );
    server.wait_log("not a PEM certificate", Duration::from_secs(20));
    let tls = connect(server.addr, "localhost", &config).unwrap();
    assert_eq!(served_leaf(&tls), leaf);
}

#[test]
fn unusable_pairs_are_refused_at_start_with_the_file_and_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key, _) = ca.leaf(&["localhost"], None);
    let (_, other_key, _) = ca.leaf(&["localhost"], None);
    let (expired, expired_key, _) = ca.leaf(
        &["localhost"],
        Some((days_from_now(-100), days_from_now(-10))),
    );
    let dir = tmp.path();
    let file = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let cases = [
        (
            file("c1.pem", &cert),
            file("k1.pem", &other_key),
            "does not go with the key in",
        ),
        (
            file("c2.pem", &expired),
            file("k2.pem", &expired_key),
            "expired on",
        ),
        (
            file("c3.pem", &cert),
            dir.join("missing.pem").to_str().unwrap().to_owned(),
            "missing.pem: cannot read",
        ),
        (
            file("c4.pem", "hello\n"),
            file("k4.pem", &key),
            "c4.pem: no \"BEGIN CERTIFICATE\" block",
        ),
        (
            file("c5.pem", &cert),
            file(
                "k5.pem",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            ),
            "k5.pem",
        ),
    ];
    for (cert, key, expected) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_firmhook"))
            .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--db"])
            .arg(dir.join("db.redb"))
            .args(["--tls-cert", &cert, "--tls-key", &key])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(expected), "{expected:?} not in: {err}");
    }
    // One flag without the other is a usage error.
    let out = firmhook(&["serve", "--dev", "--tls-cert", "x.pem"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--tls-key"), "{}", stderr(&out));
}

/// A TLS 1.0 ClientHello, as an old client sends it: one cipher suite
/// (TLS_RSA_WITH_AES_128_CBC_SHA), no extensions.
fn tls10_client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x01]; // client_version TLS 1.0
    hello.extend([7u8; 32]); // random
    hello.push(0); // session id
    hello.extend([0x00, 0x02, 0x00, 0x2f]); // cipher suites
    hello.extend([0x01, 0x00]); // compression: null
    let mut handshake = vec![0x01, 0x00, 0x00, hello.len() as u8];
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend(handshake);
    record
}

#[test]
fn old_tls_plain_http_and_silent_clients_are_refused_and_serving_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key, _) = ca.leaf(&["localhost"], None);
    let (cert_path, key_path) = write_pair(tmp.path(), &cert, &key);
    let server = serve_files(tmp.path(), &cert_path, &key_path);

    // TLS 1.0: a fatal alert (level 2); rustls answers a hello that
    // offers nothing it speaks with handshake_failure (40).
    let mut old = TcpStream::connect(server.addr).unwrap();
    old.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    old.write_all(&tls10_client_hello()).unwrap();
    let mut alert = [0u8; 7];
    old.read_exact(&mut alert).unwrap();
    assert_eq!(alert[0], 0x15, "not an alert record: {alert:?}");
    assert_eq!(
        &alert[5..],
        &[2, 40],
        "not a fatal handshake_failure: {alert:?}"
    );

    // Plain HTTP on the TLS port: a plain 400 that says what to do.
    let mut plain = TcpStream::connect(server.addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let (status, body) = read_response(&mut plain);
    assert_eq!(status, 400);
    assert!(body.contains("https://"), "{body}");

    // A client that connects and says nothing is closed after the
    // handshake timeout (1 s here), not held.
    let mut silent = TcpStream::connect(server.addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(
        silent.read(&mut byte).unwrap(),
        0,
        "the silent connection was not closed"
    );

    // And the server still serves.
    let config = client(ca.der(), TLS13_12);
    let mut tls = connect(server.addr, "localhost", &config).unwrap();
    let (status, metrics) = request(
        &mut tls,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer dev-admin")],
        b"",
    );
    assert_eq!(status, 200);
    for reason in ["handshake", "plain_http", "handshake_timeout"] {
        assert!(
            metrics.contains(&format!(
                "firmhook_tls_refused_total{{reason=\"{reason}\"}} 1"
            )),
            "{reason}: {metrics}"
        );
    }
}
