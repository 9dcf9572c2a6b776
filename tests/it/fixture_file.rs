//! Old database files stay readable. `tests/fixtures/v1.redb` was written
//! by the first release from the demo data, beside the CSV export it gave
//! (`tests/fixtures/v1/`). Every later build must read the file and export
//! the same rows. To write a new fixture after a format change (keep the
//! old one too!), run `FIRMHOOK_WRITE_FIXTURE=1 cargo test fixture_file`.

use std::path::{Path, PathBuf};

use firmhook::cli::export::export_dir;
use firmhook::domain::Phone;
use firmhook::import::{Mode, Options, import_dir, project_statuses};
use firmhook::resolve::{Outcome, resolve};
use firmhook::store::{self, Snapshot, Store};

use crate::support::demo_dir;

const FILES: [&str; 4] = [
    "firms.csv",
    "firm_members.csv",
    "projects.csv",
    "milestones.csv",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn the_v1_database_file_is_still_read_and_exports_the_same_rows() {
    if std::env::var_os("FIRMHOOK_WRITE_FIXTURE").is_some() {
        write_fixture();
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("v1.redb");
    std::fs::copy(fixtures().join("v1.redb"), &db).unwrap();

    let snapshot = Snapshot::open(&db).unwrap();
    let reader = snapshot.read().unwrap();
    let (_, problems) = store::check(&reader).unwrap();
    assert_eq!(problems, vec![]);
    let out = tmp.path().join("export");
    export_dir(&reader, &out).unwrap();
    for file in FILES {
        let want = std::fs::read_to_string(fixtures().join("v1").join(file)).unwrap();
        let have = std::fs::read_to_string(out.join(file)).unwrap();
        assert_eq!(have, want, "{file} from the v1 file differs");
    }
    let phone = Phone::parse_international("447911123456").unwrap();
    let outcome = resolve(&reader, phone, None).unwrap().outcome;
    assert!(matches!(outcome, Outcome::Designer { .. }), "{outcome:?}");
}

fn write_fixture() {
    let dir = fixtures();
    std::fs::create_dir_all(dir.join("v1")).unwrap();
    let path = dir.join("v1.redb");
    let _ = std::fs::remove_file(&path);
    let statuses = project_statuses();
    let options = Options::new(Mode::Apply, &statuses);
    {
        let store = Store::open(&path, store::DEFAULT_CACHE_BYTES).unwrap();
        import_dir(&store, &demo_dir(), &options).unwrap();
    }
    let snapshot = Snapshot::open(&path).unwrap();
    export_dir(&snapshot.read().unwrap(), &dir.join("v1")).unwrap();
}
