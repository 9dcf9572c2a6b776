//! Old database files stay readable. `tests/fixtures/v1.redb` was written
//! by the first release from the demo data, beside the CSV export it gave
//! (`tests/fixtures/v1/`). Every later build must read the file and export
//! the same rows. To write a new fixture after a format change, run
//! `FIRMHOOK_WRITE_FIXTURE=1 cargo test fixture_file`: it writes
//! `v<format>.redb` (and `v<format>/`) for this build's format, and refuses
//! to write over a fixture that exists, so the old ones are kept.

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
        // Columns added since the first release (`firms.csv` `language`)
        // are empty for its records: compare the columns it had.
        let have = if file == "firms.csv" {
            have.lines()
                .map(|line| {
                    line.rsplit_once(',')
                        .expect("a language column")
                        .0
                        .to_owned()
                        + "\n"
                })
                .collect()
        } else {
            have
        };
        assert_eq!(have, want, "{file} from the v1 file differs");
    }
    let phone = Phone::parse_international("447911123456").unwrap();
    let outcome = resolve(&reader, phone, None).unwrap().outcome;
    assert!(matches!(outcome, Outcome::Designer { .. }), "{outcome:?}");
}

/// The path of a new fixture `name` for this build's format; fails if a
/// fixture of that name exists (fixtures are never written over).
fn new_fixture(name: &str) -> PathBuf {
    let path = fixtures().join(format!("{name}{}.redb", store::FORMAT));
    assert!(
        !path.exists(),
        "{} exists: fixtures are kept; remove it by hand only if it was never committed",
        path.display()
    );
    path
}

fn write_fixture() {
    let dir = fixtures();
    let path = new_fixture("v");
    let rows = dir.join(format!("v{}", store::FORMAT));
    std::fs::create_dir_all(&rows).unwrap();
    let statuses = project_statuses();
    let options = Options::new(Mode::Apply, &statuses);
    {
        let store = Store::open(&path, store::DEFAULT_CACHE_BYTES).unwrap();
        import_dir(&store, &demo_dir(), &options).unwrap();
    }
    let snapshot = Snapshot::open(&path).unwrap();
    export_dir(&snapshot.read().unwrap(), &rows).unwrap();
}

/// `tests/fixtures/outbox-v1.redb` holds replies still queued by the
/// release whose outbox rows were the wire types in postcard (outbox
/// format 1): a text, reply buttons, a list, a reply to a BSUID. Every
/// later build must decode them and send them. To write it again (only
/// ever with the release it is named for), run
/// `FIRMHOOK_WRITE_OUTBOX_FIXTURE=1 cargo test fixture_file` (it writes
/// `outbox-v<format>.redb` and never over an existing fixture).
#[test]
fn replies_queued_by_the_outbox_v1_release_still_send() {
    if std::env::var_os("FIRMHOOK_WRITE_OUTBOX_FIXTURE").is_some() {
        write_outbox_fixture();
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("outbox-v1.redb");
    std::fs::copy(fixtures().join("outbox-v1.redb"), &db).unwrap();
    let graph = crate::support::FakeGraph::start();
    let app = crate::support::spawn_app(&db, Some(&graph));
    let sent = graph.wait_for(5, std::time::Duration::from_secs(15));
    let mut to: Vec<String> = sent
        .iter()
        .map(|r| {
            r.body["to"]
                .as_str()
                .or(r.body["recipient"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect();
    to.sort();
    assert_eq!(
        to,
        [
            "447911123401",
            "447911123403",
            "447911123456",
            "447911123499",
            "US.FIXTURE"
        ]
    );
    let kinds: Vec<&str> = sent
        .iter()
        .map(|r| {
            r.body["interactive"]["type"]
                .as_str()
                .or(r.body["type"].as_str())
                .unwrap()
        })
        .collect();
    for kind in ["text", "button", "list"] {
        assert!(kinds.contains(&kind), "no {kind} among {kinds:?}");
    }
    app.stop();
}

fn write_outbox_fixture() {
    use firmhook::whatsapp::inbound::{Content, Delivery, Message, Sender};
    let path = new_fixture("outbox-v");
    let statuses = project_statuses();
    let store = Store::open(&path, store::DEFAULT_CACHE_BYTES).unwrap();
    import_dir(&store, &demo_dir(), &Options::new(Mode::Apply, &statuses)).unwrap();
    let message = |wamid: &str, wa_id: Option<&str>, bsuid: Option<&str>, text: &str| Message {
        wamid: wamid.into(),
        phone_number_id: firmhook::domain::BusinessNumber::new(100000000000000),
        sender: Sender {
            wa_id: wa_id.map(Into::into),
            bsuid: bsuid.map(Into::into),
            own_wa_id: wa_id.is_some(),
        },
        timestamp: 1_780_000_000,
        content: Content::Text(text.into()),
    };
    let delivery = Delivery {
        messages: vec![
            message("wamid.f1", Some("447911123403"), None, "hi"),
            message("wamid.f2", Some("447911123401"), None, "hi"),
            message("wamid.f3", Some("447911123456"), None, "/projects"),
            message("wamid.f4", None, Some("US.FIXTURE"), "hi"),
        ],
        statuses: vec![],
        past: Vec::new(),
        dropped: vec![],
    };
    let config = firmhook::writer::Config {
        statuses: statuses.clone(),
        shared_number: None,
        seen_keep_seconds: store::SEEN_KEEP_SECONDS,
        retention: store::Retention::default(),
        max_batch: 1,
        strangers_per_day: firmhook::writer::DEFAULT_STRANGERS_PER_DAY,
        strangers: Default::default(),
        clock: Default::default(),
    };
    let metrics = firmhook::metrics::Metrics::default();
    let queued = store
        .write(|w| firmhook::writer::apply(w, &delivery, &config, &metrics))
        .unwrap();
    assert_eq!(queued, 4);
    // A list, which no demo conversation makes.
    use firmhook::whatsapp::outbound::{Body, Choice, Recipient};
    let rows: Vec<Choice> = (1..=5)
        .map(|n| Choice::new(format!("sel:{n}"), format!("Row {n}")).describe("a row"))
        .collect();
    store
        .write(|w| {
            w.enqueue(
                &firmhook::store::Outbound {
                    seq: 0,
                    phone_number_id: "100000000000000".into(),
                    to: Recipient::WaId("447911123499".into()),
                    body: Body::choices("Pick one", &rows, 0, |o| format!("more:{o}")),
                    in_reply_to: "wamid.f5".into(),
                    created_at: 1_780_000_000,
                    attempts: 0,
                    state: firmhook::store::State::Pending,
                    wamid: None,
                    last_error: None,
                    // Fields of later formats; this fixture was written
                    // without them.
                    purpose: firmhook::notify::Purpose::Reply,
                    templated: false,
                    firm: None,
                },
                0,
            )
        })
        .unwrap();
}

/// An outbox row that cannot be decoded (a future format, a torn write) is
/// set aside, counted and logged; the replies behind it still go out.
#[test]
fn an_undecodable_outbox_row_is_quarantined_and_the_queue_moves_on() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("outbox-v1.redb");
    std::fs::copy(fixtures().join("outbox-v1.redb"), &db).unwrap();
    {
        // Written the way a newer release might: a version this build lacks,
        // due before every other row.
        let file = redb::Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::SingleWriter)
            .create(&db)
            .unwrap();
        let txn = file.begin_write().unwrap();
        {
            let mut outbox = txn
                .open_table(redb::TableDefinition::<u64, &[u8]>::new("outbox"))
                .unwrap();
            outbox.insert(9_999, [9u8, 1, 2, 3].as_slice()).unwrap();
            let mut due = txn
                .open_table(redb::TableDefinition::<(u64, u64), ()>::new("outbox_due"))
                .unwrap();
            due.insert((0, 9_999), ()).unwrap();
        }
        txn.commit().unwrap();
    }
    let graph = crate::support::FakeGraph::start();
    let app = crate::support::spawn_app(&db, Some(&graph));
    graph.wait_for(5, std::time::Duration::from_secs(15));
    // The results are settled after the batch: wait for the queue to empty.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let metrics = loop {
        let metrics = crate::support::metrics(&app);
        if metrics.contains("firmhook_outbox_depth 0") {
            break metrics;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        metrics.contains("firmhook_outbox_quarantined_total 1"),
        "{metrics}"
    );
    app.stop();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = crate::support::firmhook(&["check", "--db", db.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::support::stdout(&out)
    );
}
