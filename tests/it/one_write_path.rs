//! One act, one command (issue 21): the property that no door loses
//! another's change.
//!
//! Five streams run at once over the same projects of one firm, through
//! the real server: clients approving on WhatsApp (each after the API
//! marked the milestone ready), API PATCHes of the projects (names and
//! statuses), API PUTs creating projects, console edits of milestone
//! titles, and online imports of a spreadsheet that still says every
//! milestone is `pending`. Afterwards:
//! - every change answered 2xx is present (the last name, the last title,
//!   every created project);
//! - no approval is lost: every milestone is `approved`;
//! - every event matches a change: one `milestone.ready` and one
//!   `milestone.approved` per milestone, one `project.status_changed` per
//!   status PATCH;
//! - `firmhook check` finds the file clean.
//!
//! With the commands bypassed on purpose (`FIRMHOOK_MUTATE=bypass_commands`,
//! docs/testing.md: the handlers write back what they read and import
//! writes the file's status) it fails.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use serde_json::json;

use crate::console::Console;
use crate::support::*;

const ALBA: &str = "0195a000-0000-7000-8000-0000000000f1";
const PROJECTS: usize = 6;
const MILESTONES: usize = 4;

fn project_id(p: usize) -> String {
    format!("0195d000-0000-7000-8000-{p:012x}")
}

fn milestone_id(p: usize, m: usize) -> String {
    format!("0195d000-0000-7000-8001-{:012x}", p * 16 + m)
}

fn client(p: usize) -> String {
    format!("4479111{:05}", 70_000 + p)
}

fn original_title(p: usize, m: usize) -> String {
    format!("Step {m} of {p}")
}

/// Milestones with an even number are edited in the console; the others
/// are in the spreadsheet that is imported again and again.
fn in_console(m: usize) -> bool {
    m.is_multiple_of(2)
}

#[test]
fn no_door_loses_another_doors_change() {
    let tmp = tempfile::tempdir().unwrap();
    let app = Arc::new(spawn_app(&tmp.path().join("db.redb"), None));
    let project_path = |p: usize| format!("/api/v1/firms/{ALBA}/projects/{}", project_id(p));
    for p in 0..PROJECTS {
        let (code, body) = api(
            &app,
            "PUT",
            &project_path(p),
            Some(ADMIN),
            Some(&json!({
                "name": format!("Project {p}"), "status": "Active", "client_name": "Client",
                "client_phone": format!("+{}", client(p)), "created_at": "2026-06-01"
            })),
        );
        assert_eq!(code, 201, "{body}");
        for m in 0..MILESTONES {
            let (code, body) = api(
                &app,
                "PUT",
                &format!("{}/milestones/{}", project_path(p), milestone_id(p, m)),
                Some(ADMIN),
                Some(&json!({
                    "title": original_title(p, m), "position": m + 1, "status": "pending"
                })),
            );
            assert_eq!(code, 201, "{body}");
        }
    }
    let sheet: String = std::iter::once("id,project_id,title,status,position\n".to_owned())
        .chain((0..PROJECTS).flat_map(|p| {
            (0..MILESTONES).filter(|m| !in_console(*m)).map(move |m| {
                format!(
                    "{},{},{},pending,{}\n",
                    milestone_id(p, m),
                    project_id(p),
                    original_title(p, m),
                    m + 1
                )
            })
        }))
        .collect();
    let done = Arc::new(AtomicBool::new(false));

    // WhatsApp: each milestone marked ready, then the client's approval.
    let whatsapp = {
        let app = app.clone();
        std::thread::spawn(move || {
            for m in 0..MILESTONES {
                for p in 0..PROJECTS {
                    let milestone = milestone_id(p, m);
                    let (code, body) = api(
                        &app,
                        "POST",
                        &format!("/api/v1/firms/{ALBA}/milestones/{milestone}/ready"),
                        Some(ADMIN),
                        None,
                    );
                    assert_eq!(code, 200, "{body}");
                    let tap = webhook(
                        ALBA_NUMBER,
                        &[(
                            &format!("wamid.prop.{p}.{m}"),
                            &client(p),
                            &format!("button:mil:{milestone}"),
                        )],
                    );
                    assert_eq!(app.post(&tap).0, 200);
                }
            }
        })
    };
    // The API: renames and status changes (PATCH); the last 2xx wins.
    let patches = {
        let (app, done) = (app.clone(), done.clone());
        std::thread::spawn(move || {
            let mut names: HashMap<usize, String> = HashMap::new();
            let mut status_changes = 0;
            let mut n = 0;
            while !done.load(SeqCst) || n < 2 * PROJECTS {
                let p = n % PROJECTS;
                let body = if n % 3 == 0 {
                    // Each project's statuses alternate: every PATCH changes it.
                    let round = n / PROJECTS;
                    json!({"status": if round.is_multiple_of(2) { "On Hold" } else { "Active" }})
                } else {
                    json!({"name": format!("Project {p} v{n}")})
                };
                let (code, answer) = api(&app, "PATCH", &project_path(p), Some(ADMIN), Some(&body));
                assert_eq!(code, 200, "{answer}");
                if let Some(name) = body["name"].as_str() {
                    names.insert(p, name.to_owned());
                } else {
                    status_changes += 1;
                }
                n += 1;
            }
            (names, status_changes)
        })
    };
    // The API: new projects (PUT), each of which must be there.
    let puts = {
        let (app, done) = (app.clone(), done.clone());
        std::thread::spawn(move || {
            let mut created = Vec::new();
            let mut n = 0;
            while !done.load(SeqCst) || n < 5 {
                let id = format!("0195d000-0000-7000-8002-{n:012x}");
                let (code, body) = api(
                    &app,
                    "PUT",
                    &format!("/api/v1/firms/{ALBA}/projects/{id}"),
                    Some(ADMIN),
                    Some(&json!({"name": format!("New {n}"), "status": "Lead",
                                 "created_at": "2026-06-02"})),
                );
                assert_eq!(code, 201, "{body}");
                created.push(id);
                n += 1;
            }
            created
        })
    };
    // The console: milestone titles; the last saved title wins.
    let console = {
        let (app, done) = (app.clone(), done.clone());
        std::thread::spawn(move || {
            let console = Console::sign_in(&app, ADMIN);
            let mut titles: HashMap<(usize, usize), String> = HashMap::new();
            let mut n = 0;
            while !done.load(SeqCst) || n < 2 * PROJECTS {
                let p = n % PROJECTS;
                let m = (n / PROJECTS * 2) % MILESTONES;
                assert!(in_console(m));
                let title = format!("Edited {n}");
                let saved = console.post(
                    &format!(
                        "/console/firms/{ALBA}/projects/{}/milestones/{}",
                        project_id(p),
                        milestone_id(p, m)
                    ),
                    &[("title", &title), ("position", &(m + 1).to_string())],
                );
                assert!(
                    saved.status == 303 || saved.status == 200,
                    "{}",
                    saved.status
                );
                titles.insert((p, m), title);
                n += 1;
            }
            titles
        })
    };
    // Online imports of the spreadsheet, which says `pending` throughout.
    let imports = {
        let (app, done, sheet) = (app.clone(), done.clone(), sheet.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !done.load(SeqCst) || n < 2 {
                let (code, body) = import(&app, ADMIN, &[("milestones.csv", &sheet)]);
                assert_eq!(code, 200, "{body}");
                n += 1;
            }
        })
    };
    whatsapp.join().expect("the WhatsApp stream");
    done.store(true, SeqCst);
    let (names, status_changes) = patches.join().expect("the PATCH stream");
    let created = puts.join().expect("the PUT stream");
    let titles = console.join().expect("the console stream");
    imports.join().expect("the import stream");
    // The spreadsheet once more, after every approval.
    let (code, body) = import(&app, ADMIN, &[("milestones.csv", &sheet)]);
    assert_eq!(code, 200, "{body}");

    // Every 2xx change is present.
    for (p, name) in &names {
        let (_, project) = api(&app, "GET", &project_path(*p), Some(ADMIN), None);
        assert_eq!(project["name"], *name, "project {p} lost its rename");
    }
    for id in &created {
        let path = format!("/api/v1/firms/{ALBA}/projects/{id}");
        assert_eq!(
            api(&app, "GET", &path, Some(ADMIN), None).0,
            200,
            "{id} lost"
        );
    }
    // No approval is lost, and every title is the last one given.
    let mut lost = Vec::new();
    for p in 0..PROJECTS {
        for m in 0..MILESTONES {
            let (_, milestone) = api(
                &app,
                "GET",
                &format!("{}/milestones/{}", project_path(p), milestone_id(p, m)),
                Some(ADMIN),
                None,
            );
            if milestone["status"] != "approved" {
                lost.push(format!("{p}.{m}: {}", milestone["status"]));
            }
            let title = match titles.get(&(p, m)) {
                Some(edited) => edited.clone(),
                None => original_title(p, m),
            };
            assert_eq!(milestone["title"], title, "milestone {p}.{m}");
        }
    }
    assert!(lost.is_empty(), "approvals lost: {lost:?}");
    // Every event matches a change.
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let (_, page) = api(
            &app,
            "GET",
            &format!("/api/v1/firms/{ALBA}/events?after={after}&limit=1000"),
            Some(ADMIN),
            None,
        );
        let items = page["items"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        after = items.last().unwrap()["seq"].as_u64().unwrap();
        events.extend(items);
    }
    let mut per_milestone: HashMap<(String, String), usize> = HashMap::new();
    let mut statuses = 0;
    for event in &events {
        let kind = event["type"].as_str().unwrap().to_owned();
        match kind.as_str() {
            "milestone.ready" | "milestone.approved" => {
                let milestone = event["data"]["milestone_id"].as_str().unwrap().to_owned();
                *per_milestone.entry((milestone, kind)).or_default() += 1;
            }
            "project.status_changed" => statuses += 1,
            _ => {}
        }
    }
    for p in 0..PROJECTS {
        for m in 0..MILESTONES {
            for kind in ["milestone.ready", "milestone.approved"] {
                let key = (milestone_id(p, m), kind.to_owned());
                assert_eq!(
                    per_milestone.get(&key).copied().unwrap_or(0),
                    1,
                    "{kind} of milestone {p}.{m}"
                );
            }
        }
    }
    assert_eq!(statuses, status_changes, "one event per status PATCH");
    let db = app.db.clone();
    Arc::into_inner(app)
        .expect("no stream holds the server")
        .stop();
    let out = firmhook(&["check", "--db", db.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}
