//! `serve --acme` against Pebble, the ACME test server (Debian package
//! `pebble`, which `.ci/run` installs), all on loopback: Pebble's DNS
//! questions go to its companion `pebble-challtestsrv`, which answers
//! 127.0.0.1 for every name, and Pebble validates TLS-ALPN-01 on the
//! port the server listens on.
//!
//! Without the package these tests fail and say what to install.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::support::*;
use crate::tls::{Ca, Server, client, connect, days_from_now, request, served_leaf};

const DOMAIN: &str = "firm.test";

/// Pebble and its DNS server, stopped when dropped.
struct Pebble {
    pebble: Child,
    dns: Child,
    directory: String,
    management: SocketAddr,
    /// The test CA that signed Pebble's own HTTPS certificate.
    ca: Ca,
    ca_file: PathBuf,
}

/// Pebble's ports, kept across its restarts: the directory URL names the
/// cache entries, as it does in production.
#[derive(Clone, Copy)]
struct Ports {
    tls: u16,
    listen: u16,
    management: u16,
    dns: u16,
    dns_management: u16,
    http: u16,
}

impl Ports {
    /// Pebble validating TLS-ALPN-01 on `tls`.
    fn new(tls: u16) -> Self {
        Self {
            tls,
            listen: free_port(),
            management: free_port(),
            dns: free_port(),
            dns_management: free_port(),
            http: free_port(),
        }
    }
}

impl Pebble {
    fn start(dir: &Path, ports: &Ports) -> Self {
        let ca = Ca::new();
        let (cert, key, _) = ca.leaf(&["localhost"], None);
        let ca_file = dir.join("pebble-ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        std::fs::write(dir.join("pebble-cert.pem"), cert).unwrap();
        std::fs::write(dir.join("pebble-key.pem"), key).unwrap();
        let Ports {
            tls: tls_port,
            listen,
            management,
            dns,
            dns_management,
            http,
        } = *ports;
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": dir.join("pebble-cert.pem"),
            "privateKey": dir.join("pebble-key.pem"),
            "httpPort": http,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        let config_file = dir.join("pebble.json");
        std::fs::write(&config_file, config.to_string()).unwrap();
        let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
        let dns_child = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-management", &format!("127.0.0.1:{dns_management}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(log("challtestsrv.log"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(&config_file)
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            // No random waits, no nonces refused at random: a test that
            // fails says something about the server, not about luck.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log("pebble.log"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pebble = Self {
            pebble,
            dns: dns_child,
            directory: format!("https://localhost:{listen}/dir"),
            management: format!("127.0.0.1:{management}").parse().unwrap(),
            ca,
            ca_file,
        };
        for port in [listen, management, dns_management] {
            let deadline = Instant::now() + Duration::from_secs(20);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "Pebble did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        pebble
    }

    /// The root Pebble issues under (a new one each time it starts).
    fn root(&self) -> CertificateDer<'static> {
        let config = client(self.ca.der(), &[&rustls::version::TLS13]);
        let mut tls = connect(self.management, "localhost", &config).unwrap();
        let (status, pem) = request(&mut tls, "GET", "/roots/0", &[], b"");
        assert_eq!(status, 200, "{pem}");
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn acme_args(&self) -> Vec<String> {
        [
            "--acme",
            DOMAIN,
            "--acme-email",
            "ops@firm.test",
            "--acme-directory",
            &self.directory,
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in [&mut self.pebble, &mut self.dns] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn serve(dir: &Path, port: u16, acme_args: &[String], ca_file: &Path) -> Server {
    let args: Vec<&str> = acme_args.iter().map(String::as_str).collect();
    let mut server = Server::start_on(
        port,
        dir,
        &args,
        &[("FIRMHOOK_ACME_CA", ca_file.to_str().unwrap())],
    );
    server.wait_listening();
    server
}

/// The one cached certificate file.
fn cached_certificate(dir: &Path) -> PathBuf {
    let certificates: Vec<PathBuf> = std::fs::read_dir(dir.join("acme"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("certificate-")
        })
        .collect();
    assert_eq!(certificates.len(), 1, "{certificates:?}");
    certificates[0].clone()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A certificate for DOMAIN from the test CA, two thirds through its
/// lifetime: due for renewal. Written as the cache holds it (key first).
fn seed_expiring(dir: &Path, ca: &Ca) -> Vec<u8> {
    let (cert, key, der) = ca.leaf(&[DOMAIN], Some((days_from_now(-60), days_from_now(1))));
    std::fs::write(cached_certificate(dir), format!("{key}\n{cert}")).unwrap();
    der
}

#[test]
fn acme_obtains_caches_and_renews_its_certificate_and_rides_out_a_dead_acme_server() {
    if !system_programs("acme", &["pebble", "pebble-challtestsrv"], "pebble") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = free_port();
    let ports = Ports::new(port);

    // 1. A first certificate, obtained over TLS-ALPN-01 on the serving port.
    let pebble = Pebble::start(dir, &ports);
    let server = serve(dir, port, &pebble.acme_args(), &pebble.ca_file);
    server.wait_log("ACME: new certificate obtained", Duration::from_secs(60));
    assert!(
        server.log().contains("ACME validation handshake answered"),
        "{}",
        server.log()
    );
    let verified = client(pebble.root(), &[&rustls::version::TLS13]);
    let mut tls = connect(server.addr, DOMAIN, &verified).unwrap();
    let first = served_leaf(&tls);
    let (status, body) = request(
        &mut tls,
        "GET",
        "/webhook?hub.mode=subscribe&hub.verify_token=dev-verify&hub.challenge=1337",
        &[],
        b"",
    );
    assert_eq!((status, body.as_str()), (200, "1337"));
    assert_eq!(mode(&dir.join("acme")), 0o700);
    for entry in std::fs::read_dir(dir.join("acme")).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    drop(server);
    let (acme_args, ca_file) = (pebble.acme_args(), pebble.ca_file.clone());
    drop(pebble);

    // 2. A restart serves the cached certificate, the ACME server gone.
    let server = serve(dir, port, &acme_args, &ca_file);
    server.wait_log(
        "ACME: serving the cached certificate",
        Duration::from_secs(20),
    );
    let tls = connect(server.addr, DOMAIN, &verified).unwrap();
    assert_eq!(served_leaf(&tls), first);
    drop(server);

    // 3. A certificate due for renewal is renewed at start.
    let test_ca = Ca::new();
    let expiring = seed_expiring(dir, &test_ca);
    let pebble = Pebble::start(dir, &ports);
    let server = serve(dir, port, &pebble.acme_args(), &pebble.ca_file);
    server.wait_log(
        "ACME: serving the cached certificate",
        Duration::from_secs(20),
    );
    server.wait_log("ACME: new certificate obtained", Duration::from_secs(60));
    let renewed = client(pebble.root(), &[&rustls::version::TLS13]);
    let tls = connect(server.addr, DOMAIN, &renewed).unwrap();
    assert_ne!(served_leaf(&tls), expiring);
    assert_ne!(served_leaf(&tls), first);
    drop(server);
    let (acme_args, ca_file) = (pebble.acme_args(), pebble.ca_file.clone());
    drop(pebble);

    // 4. Due for renewal and the ACME server down: the error is logged,
    //    retried, and the current certificate goes on serving.
    let expiring = seed_expiring(dir, &test_ca);
    let server = serve(dir, port, &acme_args, &ca_file);
    server.wait_log("ACME: failed; will retry", Duration::from_secs(30));
    let old = client(test_ca.der(), &[&rustls::version::TLS13]);
    let mut tls = connect(server.addr, DOMAIN, &old).unwrap();
    assert_eq!(served_leaf(&tls), expiring);
    assert_eq!(request(&mut tls, "GET", "/healthz", &[], b"").0, 200);
}

/// Arguments, environment, and what the error says.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn acme_settings_that_cannot_work_are_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db.redb");
    let cases: [Case; 4] = [
        (
            &["--acme", "https://firm.test", "--acme-email", "a@b.c"],
            &[],
            "is not a domain name",
        ),
        (
            &["--acme", "firm.test", "--acme-email", "nobody"],
            &[],
            "is not an email address",
        ),
        (
            &[
                "--acme",
                "firm.test",
                "--acme-email",
                "a@b.c",
                "--acme-directory",
                "http://x/dir",
            ],
            &[],
            "is not an https:// URL",
        ),
        (
            &["--acme", "firm.test", "--acme-email", "a@b.c"],
            &[("FIRMHOOK_ACME_CA", "/nonexistent/ca.pem")],
            "FIRMHOOK_ACME_CA: cannot read /nonexistent/ca.pem",
        ),
    ];
    for (args, env, expected) in cases {
        let mut command = Command::new(env!("CARGO_BIN_EXE_firmhook"));
        command
            .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--db"])
            .arg(&db)
            .args(args);
        for (name, value) in env {
            command.env(name, value);
        }
        let out = command.output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(expected), "{expected:?} not in: {err}");
    }
    let out = firmhook(&["serve", "--dev", "--acme", "firm.test"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--acme-email"), "{}", stderr(&out));
}
