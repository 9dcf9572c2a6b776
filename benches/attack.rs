//! The webhook door under a slow-client attack: the real `firmhook serve`
//! binary's resident memory and `/healthz` latency with no attack, while
//! 1,000 signed-looking bodies stall after their headers, and while 1,000
//! unsigned bodies of 1 MiB are pushed at it (both from 50 loopback
//! addresses, 20 connections each). Then issue 19's attacks from
//! another loopback address (127.0.0.2): 64 idle connections with a
//! well-formed but wrong signature declaring 1 MiB each, and 1,100
//! connections opened and held; under each, signed deliveries from
//! 127.0.0.1 are sent and their statuses and p99 reported. One line per
//! figure.
//!
//! `FIRMHOOK_BENCH_BINARY=path` runs another build (an older release, for a
//! before/after comparison). Without `--bench`: 20 attackers, a smoke run.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PROBES: usize = 200;
const UNSIGNED_BODY: usize = 1024 * 1024;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let attackers = if full { 1000 } else { 20 };
    let binary = std::env::var_os("FIRMHOOK_BENCH_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_firmhook")));
    let tmp = tempfile::tempdir().unwrap();
    let addr: SocketAddr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let mut server = std::process::Command::new(&binary)
        .args(["serve", "--dev", "--listen", &addr.to_string(), "--db"])
        .arg(tmp.path().join("db.redb"))
        .env("FIRMHOOK_LOG", "error")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the firmhook binary starts");
    wait_healthy(addr);
    let pid = server.id();
    println!("binary {}", binary.display());

    let quiet = probe(addr);
    report("no attack", &quiet, pid);

    // Headers of a 3 MB signed-looking body, a few bytes, then nothing.
    let signature = format!("sha256={}", "0".repeat(64));
    // Spread over 50 addresses, 20 connections each: within the
    // per-address cap, so these measure the server-wide bounds.
    let stalled: Vec<TcpStream> = (0..attackers)
        .filter_map(|i| {
            let mut stream = connect_from(&spread(i), addr)?;
            let head = format!(
                "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\
                 X-Hub-Signature-256: {signature}\r\n\r\n{{\"entry\":"
            );
            stream.write_all(head.as_bytes()).ok()?;
            Some(stream)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let under = probe(addr);
    report(
        &format!("{} stalled signed bodies", stalled.len()),
        &under,
        pid,
    );
    drop(stalled);

    // Unsigned bodies pushed as fast as the server takes them, then held.
    let started = Instant::now();
    let pushers: Vec<_> = (0..8)
        .map(|p| {
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for i in 0..attackers / 8 {
                    let Some(mut stream) = connect_from(&spread(p * attackers / 8 + i), addr)
                    else {
                        continue;
                    };
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
                    let head = format!(
                        "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                        3 * 1024 * 1024 - 1
                    );
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(&vec![b' '; UNSIGNED_BODY]);
                    held.push(stream);
                }
                held
            })
        })
        .collect();
    let held: Vec<TcpStream> = pushers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    println!(
        "attack/unsigned_push_seconds {:.1}",
        started.elapsed().as_secs_f64()
    );
    let pushed = probe(addr);
    report(
        &format!("{} unsigned 1 MiB bodies held open", held.len()),
        &pushed,
        pid,
    );
    drop(held);

    // Issue 19, finding 2: idle sockets with a wrong signature, declaring
    // 1 MiB each and sending nothing.
    let wrong = format!("sha256={}", "ab".repeat(32));
    let idle: Vec<TcpStream> = (0..64)
        .filter_map(|_| {
            let mut stream = connect_from("127.0.0.2", addr)?;
            let head = format!(
                "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\
                 X-Hub-Signature-256: {wrong}\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).ok()?;
            Some(stream)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let deliveries = signed_deliveries(addr, if full { 200 } else { 20 });
    report_deliveries(
        &format!("{} idle wrong-signature 1 MiB declarations", idle.len()),
        &deliveries,
        pid,
    );
    drop(idle);

    // Finding 4: one address opens 1,100 connections and holds them.
    let flood: Vec<TcpStream> = (0..if full { 1100 } else { 100 })
        .filter_map(|_| connect_from("127.0.0.3", addr))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let flooded = probe(addr);
    report(
        &format!("{} connections held by one address", flood.len()),
        &flooded,
        pid,
    );
    let deliveries = signed_deliveries(addr, if full { 200 } else { 20 });
    report_deliveries(
        &format!("{} connections held by one address", flood.len()),
        &deliveries,
        pid,
    );
    drop(flood);

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = server.wait();
}

/// The `i`th attacker's address: one of 50 loopback addresses.
fn spread(i: usize) -> String {
    format!("127.0.1.{}", i % 50 + 1)
}

/// A connection to `addr` from the loopback address `source`.
fn connect_from(source: &str, addr: SocketAddr) -> Option<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    let from: SocketAddr = format!("{source}:0").parse().ok()?;
    socket.bind(&from.into()).ok()?;
    socket.connect(&addr.into()).ok()?;
    Some(socket.into())
}

/// `count` signed deliveries (dev mode's secret) from 127.0.0.1, one at a
/// time: each one's status and latency in µs (0 when the connection
/// broke), sorted by latency.
fn signed_deliveries(addr: SocketAddr, count: usize) -> Vec<(u16, u64)> {
    let secret = firmhook::whatsapp::signature::Secret::new("dev-secret");
    let mut out: Vec<(u16, u64)> = (0..count)
        .map(|i| {
            let body = format!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"1","phone_number_id":"100000000000000"}},"messages":[{{"from":"447700900{:03}","id":"wamid.attack.{}.{i}","timestamp":"{}","type":"text","text":{{"body":"hi"}}}}]}}}}]}}]}}"#,
                i % 1000,
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs()
            );
            let signature = firmhook::whatsapp::signature::sign(&secret, body.as_bytes());
            let started = Instant::now();
            let status = (|| {
                let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
                stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
                write!(
                    stream,
                    "POST /webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                     Content-Length: {}\r\nX-Hub-Signature-256: {signature}\r\n\r\n{body}",
                    body.len()
                )
                .ok()?;
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                answer.split_whitespace().nth(1)?.parse().ok()
            })()
            .unwrap_or(0);
            (status, started.elapsed().as_micros() as u64)
        })
        .collect();
    out.sort_unstable_by_key(|(_, us)| *us);
    out
}

fn report_deliveries(scenario: &str, deliveries: &[(u16, u64)], pid: u32) {
    let ok = deliveries
        .iter()
        .filter(|(status, _)| *status == 200)
        .count();
    let p99 = deliveries[(deliveries.len() * 99 / 100).min(deliveries.len() - 1)].1;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    println!(
        "attack/{scenario}: signed webhooks {ok}/{} answered 200, p99 {p99} µs, rss {} MiB",
        deliveries.len(),
        rss / 1024
    );
}

/// `/healthz` latencies in µs, each on a new connection (as a new client
/// would come), sorted; failures count as `u64::MAX`.
fn probe(addr: SocketAddr) -> Vec<u64> {
    let mut out: Vec<u64> = (0..PROBES)
        .map(|_| {
            let started = Instant::now();
            match healthz(addr) {
                true => started.elapsed().as_micros() as u64,
                false => u64::MAX,
            }
        })
        .collect();
    out.sort_unstable();
    out
}

fn healthz(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

fn report(scenario: &str, latencies: &[u64], pid: u32) {
    let failed = latencies.iter().filter(|l| **l == u64::MAX).count();
    let at = |p: usize| {
        let l = latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
        if l == u64::MAX {
            "failed".to_owned()
        } else {
            l.to_string()
        }
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    println!(
        "attack/{scenario}: healthz p50 {} µs, p99 {} µs, failed {failed}/{}, rss {} MiB, peak rss {} MiB",
        at(50),
        at(99),
        latencies.len(),
        kib("VmRSS:") / 1024,
        kib("VmHWM:") / 1024
    );
}

fn wait_healthy(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !healthz(addr) {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}
