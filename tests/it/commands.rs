//! The `firmhook` binary: flags, output and exit codes of DESIGN section 7.

use std::path::Path;

use serde_json::Value;

use crate::support::{csv_dir, demo_dir, firmhook, free_port, stderr, stdout};

/// A temporary database holding the demo data.
fn demo_db() -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db.redb").display().to_string();
    let out = firmhook(&["import", demo_dir().to_str().unwrap(), "--db", &db]);
    assert!(out.status.success(), "{}", stderr(&out));
    (tmp, db)
}

fn resolve_json(db: &str, args: &[&str]) -> Value {
    let mut all = vec!["resolve", "--db", db, "--json"];
    all.extend_from_slice(args);
    let out = firmhook(&all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn resolve_json_has_the_fixed_shape_for_every_kind() {
    let (_tmp, db) = demo_db();
    let designer = resolve_json(&db, &["447911123456"]);
    assert_eq!(designer["kind"], "designer");
    assert_eq!(designer["firm_id"], "0195a000-0000-7000-8000-0000000000f1");
    assert_eq!(
        designer["project_id"],
        "0195a000-0000-7000-8000-0000000000b4"
    );
    assert_eq!(designer["matches"], serde_json::json!([]));
    let labels: Vec<&str> = designer["passes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pass"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["0", "1", "1.5", "2", "3"]);

    let no_project = resolve_json(&db, &["+44 7911 222333"]);
    assert_eq!(no_project["kind"], "designer_no_project");
    assert_eq!(no_project["project_id"], Value::Null);

    let ambiguous = resolve_json(&db, &["447911123401"]);
    assert_eq!(ambiguous["kind"], "ambiguous");
    assert_eq!(ambiguous["firm_id"], Value::Null);
    assert_eq!(ambiguous["matches"][1]["name"], "Casa de Praia");
    assert_eq!(ambiguous["matches"][1]["role"], "client");

    let scoped = resolve_json(
        &db,
        &["447911123401", "--phone-number-id", "106540352242933"],
    );
    assert_eq!(scoped["kind"], "client");
    assert_eq!(scoped["project_id"], "0195a000-0000-7000-8000-0000000000b6");

    let unknown = resolve_json(&db, &["14155552671"]);
    assert_eq!(unknown["kind"], "unknown");
}

#[test]
fn resolve_explain_prints_every_pass() {
    let (_tmp, db) = demo_db();
    let out = firmhook(&["resolve", "551187654321", "--db", &db, "--explain"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.starts_with("resolving +5511987654321\npass 0 "),
        "{text}"
    );
    assert!(text.contains("pass 1.5 "), "{text}");
    assert!(text.ends_with("=> designer of firm 0195a000-0000-7000-8000-0000000000f2, project 0195a000-0000-7000-8000-0000000000b6\n"), "{text}");
}

#[test]
fn errors_exit_2_with_the_reason_on_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("none.redb").display().to_string();

    let out = firmhook(&["resolve", "447911123456", "--db", &missing]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("none.redb does not exist"),
        "{}",
        stderr(&out)
    );
    assert!(
        !Path::new(&missing).exists(),
        "a read-only command created the file"
    );

    let out = firmhook(&["resolve", "call me", "--db", &missing]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(r#"PHONE "call me""#),
        "{}",
        stderr(&out)
    );

    let out = firmhook(&["resolve"]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");

    let bad = csv_dir(&[("firms.csv", "id,name,country\nf/1,Alba,GB\n")]);
    let db = tmp.path().join("db.redb").display().to_string();
    let out = firmhook(&["import", bad.path().to_str().unwrap(), "--db", &db]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(r#"firms.csv:2: id: neither a UUID nor a key"#) && err.contains(r#""f/1""#),
        "{err}"
    );
    assert!(err.contains("1 error(s)"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
}

#[test]
fn the_database_flag_wins_over_the_environment() {
    let (_tmp, db) = demo_db();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firmhook"))
        .args(["resolve", "447911123456", "--db", &db])
        .env("FIRMHOOK_DB", "/nonexistent/elsewhere.redb")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firmhook"))
        .args(["resolve", "447911123456"])
        .env("FIRMHOOK_DB", &db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("designer of firm"));
}

#[test]
fn backfill_reports_then_applies_once() {
    let (_tmp, db) = demo_db();
    let tom = "447911123499";
    let before = resolve_json(&db, &[tom]);
    assert_eq!(
        before["passes"][2]["found"],
        "project 0195a000-0000-7000-8000-0000000000b3 of firm 0195a000-0000-7000-8000-0000000000f1"
    );

    let dry = firmhook(&["backfill", "--db", &db]);
    assert_eq!(dry.status.code(), Some(0));
    let text = stdout(&dry);
    assert!(
        text.contains("set member 0195a000-0000-7000-8000-0000000000a2 (Tom Reed)"),
        "{text}"
    );
    assert!(
        text.contains("left for pass 1.5: project 0195a000-0000-7000-8000-0000000000b8"),
        "{text}"
    );
    assert!(
        text.contains(
            "summary: 1 member(s) to update, 0 conflict(s), 1 project(s) left for pass 1.5"
        ),
        "{text}"
    );
    assert_eq!(
        resolve_json(&db, &[tom])["passes"][1]["found"],
        "nothing",
        "a dry run wrote"
    );

    let apply = firmhook(&["backfill", "--db", &db, "--apply"]);
    assert!(
        stdout(&apply).contains("applied: 1 member(s) updated"),
        "{}",
        stdout(&apply)
    );
    let after = resolve_json(&db, &[tom]);
    assert_eq!(after["kind"], "designer");
    assert_eq!(
        after["passes"][1]["found"],
        "member 0195a000-0000-7000-8000-0000000000a2 of firm 0195a000-0000-7000-8000-0000000000f1"
    );

    let again = firmhook(&["backfill", "--db", &db, "--apply"]);
    let text = stdout(&again);
    assert!(text.contains("summary: 0 member(s) to update"), "{text}");
    assert!(text.contains("applied: 0 member(s) updated"), "{text}");
}

#[test]
fn backup_is_verified_and_passes_check() {
    let (tmp, db) = demo_db();
    let dest = tmp.path().join("copy.redb").display().to_string();
    let out = firmhook(&["backup", &dest, "--db", &db]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("8 projects, 11 milestones"),
        "{}",
        stdout(&out)
    );
    let out = firmhook(&["check", "--db", &dest]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).ends_with("ok\n"));
    let listed: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(listed.len(), 2, "no temporary file is left behind");
}

/// Issue 23: `backup` into a missing folder said `No such file or
/// directory (os error 2)`, and into a folder `Is a directory`. Now a
/// missing folder is made (owner-only) and a folder gets a file named by
/// the time.
#[test]
fn backup_makes_its_folder_and_names_a_file_in_a_folder() {
    use std::os::unix::fs::PermissionsExt;
    let (tmp, db) = demo_db();
    let nested = tmp.path().join("backups/daily/copy.redb");
    let out = firmhook(&["backup", nested.to_str().unwrap(), "--db", &db]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(nested.is_file());
    let mode = std::fs::metadata(tmp.path().join("backups/daily"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    let folder = tmp.path().join("backups");
    let out = firmhook(&["backup", folder.to_str().unwrap(), "--db", &db]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let named: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("firmhook-"))
        .collect();
    assert_eq!(named.len(), 1, "{named:?}");
    let name = &named[0];
    assert!(
        name.len() == "firmhook-20261208T010203Z.redb".len() && name.ends_with("Z.redb"),
        "{name}"
    );
    assert!(stdout(&out).contains(name.as_str()), "{}", stdout(&out));
    // A path that cannot be a folder names itself in the error.
    let blocked = tmp.path().join("backups/daily/copy.redb/inside.redb");
    let out = firmhook(&["backup", blocked.to_str().unwrap(), "--db", &db]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("copy.redb"),
        "the error names the path: {}",
        stderr(&out)
    );
}

/// Issue 23: `serve --db` with a typo served an empty database without a
/// word; now it says it created one, and where. And `--dev` took a short
/// admin token without a word.
#[test]
fn serve_says_when_it_creates_a_new_database() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("typo/firmhok.redb");
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let port = crate::support::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_firmhook"))
        .args([
            "serve",
            "--dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--db",
        ])
        .arg(&db)
        .env("FIRMHOOK_LOG", "info")
        .env("FIRMHOOK_ADMIN_TOKEN", "short")
        .env("TMPDIR", &scratch)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while crate::support::get(&format!("http://127.0.0.1:{port}/healthz")).is_err() {
        assert!(std::time::Instant::now() < deadline, "serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The demo data's temporary copy is gone once loaded: a server killed
    // now leaves nothing behind.
    let leftover: Vec<_> = std::fs::read_dir(&scratch).unwrap().flatten().collect();
    assert!(leftover.is_empty(), "{leftover:?}");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    child.wait().unwrap();
    let created = log
        .lines()
        .find(|l| l.contains("created a new, empty database"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(created.contains("firmhok.redb"), "{created}");
    // A short operator token works in --dev, with a warning.
    assert!(
        log.contains("FIRMHOOK_ADMIN_TOKEN has 5 characters"),
        "{log}"
    );
    assert!(
        created.contains(&tmp.path().canonicalize().unwrap().display().to_string()),
        "{created}"
    );
}

#[test]
fn check_exits_1_listing_a_dangling_index_entry() {
    let (_tmp, db) = demo_db();
    {
        // Damage the file behind firmhook's back: an index entry for a
        // project that does not exist.
        let raw = redb::Database::create(&db).unwrap();
        let txn = raw.begin_write().unwrap();
        {
            let def: redb::TableDefinition<u128, u128> = redb::TableDefinition::new("project_firm");
            txn.open_table(def).unwrap().insert(7u128, 9u128).unwrap();
        }
        txn.commit().unwrap();
    }
    let out = firmhook(&["check", "--db", &db]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(
            "problem: project_firm entry for 00000000-0000-0000-0000-000000000007 points at nothing"
        ),
        "{text}"
    );
    assert!(text.ends_with("1 problem(s)\n"), "{text}");
}

#[test]
fn serve_without_secrets_names_each_missing_variable() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firmhook"))
        .args(["serve", "--db", "/nonexistent/never.redb"])
        .env_remove("WHATSAPP_APP_SECRET")
        .env_remove("WHATSAPP_VERIFY_TOKEN")
        .env("WHATSAPP_ACCESS_TOKEN", "set")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN set"),
        "{err}"
    );
    assert!(!err.contains("WHATSAPP_ACCESS_TOKEN"), "{err}");

    let out = firmhook(&[
        "serve",
        "--dev",
        "--listen",
        "0.0.0.0:0",
        "--db",
        "/nonexistent/x.redb",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("loopback only"), "{}", stderr(&out));
}

#[test]
fn serve_dev_answers_simulate_and_exits_0_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("dev.redb").display().to_string();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    // From another directory: the demo data is built in. Logs go to a
    // file, as under a service manager.
    let log = tmp.path().join("serve.log");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_firmhook"))
        .args(["serve", "--dev", "--db", &db, "--listen", &listen])
        .current_dir(tmp.path())
        .env_remove("WHATSAPP_APP_SECRET")
        .env_remove("WHATSAPP_VERIFY_TOKEN")
        .env_remove("NO_COLOR")
        .env_remove("FIRMHOOK_LOG_FORMAT")
        .env_remove("FIRMHOOK_LOG")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let url = format!("http://{listen}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while crate::support::get(&format!("{url}/healthz")).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "serve --dev did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let simulate = |args: &[&str]| {
        let mut all = vec!["simulate", "--url", &url];
        all.extend_from_slice(args);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_firmhook"))
            .args(&all)
            .env_remove("WHATSAPP_APP_SECRET")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let picker = simulate(&["--from", "+44 7911 123401", "--text", "hi"]);
    assert!(
        picker.contains("sel:0195a000-0000-7000-8000-0000000000b6"),
        "{picker}"
    );
    let approve = simulate(&[
        "--from",
        "447911123403",
        "--button",
        "mil:0195a000-0000-7000-8000-0000000000c5",
    ]);
    assert!(
        approve.contains("← Approved \"Tile selection\" on Hampstead Bath."),
        "{approve}"
    );
    // Tom has not written in a day: Studio Alba's template goes instead.
    assert!(
        approve.contains(
            "⇢ to 447911123499: [template milestone_approved (en): Lucy Gray | Tile selection | Hampstead Bath]"
        ),
        "{approve}"
    );

    // A firm's own number, by the firm's name; a notification held for a
    // closed window, shown as held, then shown when the designer's own
    // message releases it.
    let approved = simulate(&[
        "--firm",
        "Casa Verde Arquitetura",
        "--from",
        "+55 11 99876-5432",
        "--button",
        "mil:0195a000-0000-7000-8000-0000000000c8",
    ]);
    assert!(
        approved.contains("⇢ to 5511987654321: (held: outside the 24-hour window"),
        "{approved}"
    );
    let released = simulate(&[
        "--firm",
        "casa verde arquitetura",
        "--from",
        "+55 11 98765-4321",
        "--text",
        "oi",
    ]);
    assert!(
        released.contains("← (held until now, released by this message) Ana Souza"),
        "{released}"
    );
    // No server: the error says how to start one.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let out = firmhook(&[
        "simulate",
        "--url",
        &nowhere,
        "--from",
        "447911123403",
        "--text",
        "hi",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cargo run --release -- serve --dev"),
        "{}",
        stderr(&out)
    );

    // An untrusted id with a line break is logged escaped, on one line.
    let forged = crate::support::webhook(
        "106540352242922",
        &[(
            "wamid.x\n2026-01-01T00:00:00Z  INFO FORGED",
            "447911123403",
            "text:hi",
        )],
    );
    let secret = firmhook::whatsapp::signature::Secret::new("dev-secret");
    let header = firmhook::whatsapp::signature::sign(&secret, forged.as_bytes());
    let (code, _) = crate::support::post(&format!("{url}/webhook"), &forged, Some(&header));
    assert_eq!(code, 200);

    let pid = server.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    assert_eq!(status.code(), Some(0), "serve exits 0 on SIGTERM");
    let out = firmhook(&["check", "--db", &db]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("INFO"), "{logged}");
    // The forged id was logged, escaped, on the line of its message, and
    // forged no line of its own.
    assert!(
        logged.contains(r"wamid.x\n2026-01-01T00:00:00Z  INFO FORGED"),
        "the forged id is not in the log, escaped:\n{logged}"
    );
    assert!(
        !logged
            .lines()
            .any(|line| line.starts_with("2026-01-01T00:00:00Z  INFO FORGED")),
        "a line break in an id forged a log line:\n{logged}"
    );
    assert!(
        !logged.contains('\x1b'),
        "colour escapes in a log file:\n{logged:?}"
    );
}

/// Runs the binary with a umask of 0, as a careless service manager might.
fn firmhook_umask_0(args: &[&str]) -> std::process::Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_firmhook"))
        .args(args)
        .env_remove("FIRMHOOK_DB")
        .output()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn files_with_personal_data_are_readable_by_their_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("state/db.redb");
    let out = firmhook_umask_0(&[
        "import",
        demo_dir().to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(db.parent().unwrap()), 0o700);

    let backup = tmp.path().join("backup.redb");
    let out = firmhook_umask_0(&[
        "backup",
        backup.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&backup), 0o600);

    let export = tmp.path().join("export/today");
    let out = firmhook_umask_0(&[
        "export",
        export.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&export), 0o700);
    assert_eq!(mode(export.parent().unwrap()), 0o700);
    for file in [
        "firms.csv",
        "firm_members.csv",
        "projects.csv",
        "milestones.csv",
    ] {
        assert_eq!(mode(&export.join(file)), 0o600, "{file}");
    }

    let out = firmhook(&["check", "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = firmhook(&["check", "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("has mode 644: it holds names and phone numbers"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_failed_import_into_a_new_path_leaves_no_database_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("new.redb");
    let bad = csv_dir(&[("firms.csv", "id,name,country\nnot a uuid,Studio,GB\n")]);
    let out = firmhook(&[
        "import",
        bad.path().to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("firms.csv:2: id: neither a UUID nor a key"),
        "{}",
        stderr(&out)
    );
    assert!(!db.exists(), "an empty database was left behind");
}

#[test]
fn version_names_the_file_format_and_a_newer_file_is_refused() {
    let out = firmhook(&["--version"]);
    assert_eq!(stdout(&out).trim(), "firmhook 0.1.0 (file format 4)");
    let (_tmp, db) = demo_db();
    {
        let file = redb::Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::SingleWriter)
            .create(&db)
            .unwrap();
        let txn = file.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<&str, u32>::new("meta"))
            .unwrap()
            .insert("format", 99)
            .unwrap();
        txn.commit().unwrap();
    }
    for args in [
        vec!["resolve", "447911123456", "--db", &db],
        vec!["check", "--db", &db],
        vec!["export", "/nonexistent/never", "--db", &db],
    ] {
        let out = firmhook(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out)
                .contains("written by a newer firmhook (file format 99; this build reads up to 4)"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn compact_gives_pruned_space_back() {
    let (_tmp, db) = demo_db();
    {
        let store = firmhook::store::Store::open(Path::new(&db), 16 << 20).unwrap();
        for chunk in 0..20 {
            store
                .write(|w| {
                    for i in 0..10_000 {
                        w.mark_seen(&format!("wamid.{chunk}.{i}.{}", "x".repeat(40)), 1)?;
                    }
                    Ok::<_, firmhook::store::Error>(())
                })
                .unwrap();
        }
        // Recent ones after them in the file: the pruned space is in the
        // middle, where only `compact` gives it back (redb trims a free
        // tail by itself).
        store
            .write(|w| {
                for i in 0..10_000 {
                    w.mark_seen(&format!("wamid.new.{i}.{}", "x".repeat(40)), 10 * 24 * 3600)?;
                }
                Ok::<_, firmhook::store::Error>(())
            })
            .unwrap();
        while !store
            .write(|w| w.prune_seen(10 * 24 * 3600, 8 * 24 * 3600, 50_000))
            .unwrap()
            .is_empty()
        {}
    }
    let before = std::fs::metadata(&db).unwrap().len();
    let out = firmhook(&["compact", "--db", &db]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("compacted "), "{}", stdout(&out));
    let after = std::fs::metadata(&db).unwrap().len();
    assert!(after < before / 2, "{before} → {after}");
    let out = firmhook(&["check", "--db", &db]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// Issue 23: `import --help` and `export --help` left out templates.csv;
/// `serve --help` named no variable. Every variable the server's code
/// reads (scanned from its source) is in `serve --help`.
#[test]
fn help_lists_every_file_and_every_variable() {
    for command in ["import", "export"] {
        let help = stdout(&firmhook(&[command, "--help"]));
        for file in firmhook::import::FILES {
            assert!(
                help.contains(file),
                "{command} --help lacks {file}:\n{help}"
            );
        }
    }
    let help = stdout(&firmhook(&["serve", "--help"]));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut read = std::collections::BTreeSet::new();
    for file in [
        "src/cli/serve.rs",
        "src/cli/logging.rs",
        "src/cli/mod.rs",
        "src/app.rs",
        "src/config.rs",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for part in text.split('"').skip(1).step_by(2) {
            let is_name = (part.starts_with("FIRMHOOK_") || part.starts_with("WHATSAPP_"))
                && part.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
            if is_name {
                read.insert(part.to_owned());
            }
        }
    }
    read.extend(
        firmhook::config::VARIABLES
            .iter()
            .map(|v| v.name.to_owned()),
    );
    assert!(read.len() >= 25, "{read:?}");
    let missing: Vec<_> = read
        .iter()
        .filter(|name| !help.contains(name.as_str()))
        .collect();
    assert!(missing.is_empty(), "serve --help lacks {missing:?}");
}
