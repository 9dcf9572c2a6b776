//! kill -9 during a stream of admin API writes: every write that got its
//! 2xx is there after the restart, nothing is half-written, `check` is
//! clean.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

const WRITERS: usize = 16;
const PER_WRITER: usize = 60;
const ALBA: &str = "0195a000-0000-7000-8000-0000000000f1";
const HAMPSTEAD: &str = "0195a000-0000-7000-8000-0000000000b3";
const OPERATOR: &str = "crash-test-operator-token-0123456789";

fn serve(db: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_firmhook"))
        .args([
            "serve",
            "--dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--db",
        ])
        .arg(db)
        .env("FIRMHOOK_ADMIN_TOKEN", OPERATOR)
        .env("FIRMHOOK_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_up(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&format!("http://127.0.0.1:{port}/healthz")).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn milestone(writer: usize, n: usize) -> String {
    format!("0197a000-0000-7000-8000-{:06x}{:06x}", writer, n)
}

#[test]
fn every_acknowledged_api_write_survives_a_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db.redb");
    let port = free_port();
    let mut server = serve(&db, port);
    wait_up(port);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let acknowledged = acknowledged.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(10)))
                    .http_status_as_error(false)
                    .build()
                    .into();
                for n in 0..PER_WRITER {
                    let id = milestone(w, n);
                    let url = format!(
                        "http://127.0.0.1:{port}/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}/milestones/{id}"
                    );
                    let body = json!({"title": format!("Step {w}.{n}"), "status": "pending", "position": n});
                    let answer = agent
                        .put(&url)
                        .header("Authorization", &format!("Bearer {OPERATOR}"))
                        .header("Content-Type", "application/json")
                        .send(body.to_string());
                    match answer {
                        Ok(response) if response.status().as_u16() == 201 => {
                            acknowledged.lock().unwrap().push(id)
                        }
                        Ok(response) => panic!("{id}: {}", response.status()),
                        Err(_) => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    // Kill once a good part of the stream is acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < WRITERS * PER_WRITER / 3 {
        assert!(Instant::now() < deadline, "the writes did not go through");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill().unwrap();
    server.wait().unwrap();
    for writer in writers {
        writer.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(!acknowledged.is_empty());

    // `check` recovers the file and finds it consistent.
    let out = firmhook(&["check", "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let mut server = serve(&db, port);
    wait_up(port);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for id in &acknowledged {
        let url = format!(
            "http://127.0.0.1:{port}/api/v1/firms/{ALBA}/projects/{HAMPSTEAD}/milestones/{id}"
        );
        let status = agent
            .get(&url)
            .header("Authorization", &format!("Bearer {OPERATOR}"))
            .call()
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 200, "acknowledged milestone {id} is missing");
    }
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    assert_eq!(server.wait().unwrap().code(), Some(0));
    eprintln!(
        "{} of {} writes acknowledged before the kill, all present",
        acknowledged.len(),
        WRITERS * PER_WRITER
    );
}
