//! `deploy/`: the systemd units pass `systemd-analyze verify` (Debian
//! package `systemd`, which `.ci/run` installs when missing), and the
//! backup script keeps the newest verified backups.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

fn deploy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name)
}

#[test]
fn the_systemd_units_verify_and_keep_their_hardening() {
    if !system_programs("deploy", &["systemd-analyze"], "systemd") {
        return;
    }
    // The units name the installed paths; point them at this build.
    let tmp = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_firmhook");
    let script = deploy("firmhook-backup");
    let mut units = Vec::new();
    for name in [
        "firmhook.service",
        "firmhook-backup.service",
        "firmhook-backup.timer",
    ] {
        let text = std::fs::read_to_string(deploy(name)).unwrap();
        let text = text
            .replace("/usr/local/bin/firmhook-backup", script.to_str().unwrap())
            .replace("/usr/local/bin/firmhook ", &format!("{binary} "));
        let path = tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        units.push(path);
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        stderr(&out)
    );

    let service = std::fs::read_to_string(deploy("firmhook.service")).unwrap();
    for line in [
        "DynamicUser=yes",
        "StateDirectory=firmhook",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "EnvironmentFile=/etc/firmhook/firmhook.env",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(
            service.lines().any(|l| l == line),
            "{line} missing from firmhook.service"
        );
    }
}

fn backups(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn run_backup(db: &Path, dir: &Path, keep: &str) -> std::process::Output {
    Command::new(deploy("firmhook-backup"))
        .env("FIRMHOOK_BIN", env!("CARGO_BIN_EXE_firmhook"))
        .env("FIRMHOOK_DB", db)
        .env("FIRMHOOK_BACKUP_DIR", dir)
        .env("FIRMHOOK_BACKUP_KEEP", keep)
        .output()
        .unwrap()
}

#[test]
fn the_backup_script_keeps_the_newest_verified_backups_and_prunes_nothing_on_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db.redb");
    let out = firmhook(&[
        "import",
        demo_dir().to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tmp.path().join("backups");

    let mut made = Vec::new();
    for _ in 0..4 {
        let out = run_backup(&db, &dir, "2");
        assert!(out.status.success(), "{}", stderr(&out));
        let names = backups(&dir);
        made.push(names.last().unwrap().clone());
    }
    let kept = backups(&dir);
    assert_eq!(kept, made[2..].to_vec(), "not the newest two");
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for name in &kept {
        let path = dir.join(name);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let out = firmhook(&["check", "--db", path.to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
    }

    // A backup that fails exits non-zero and prunes nothing.
    let out = run_backup(&tmp.path().join("missing.redb"), &dir, "1");
    assert!(!out.status.success());
    assert_eq!(backups(&dir), kept);

    let out = run_backup(&db, &dir, "0");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("FIRMHOOK_BACKUP_KEEP"),
        "{}",
        stderr(&out)
    );
    assert_eq!(backups(&dir), kept);
}
