//! The importer takes any file contents: it imports, or reports errors and
//! writes nothing.
#![no_main]

use firmhook::import::{ImportError, Mode, Options, import_dir, project_statuses};
use firmhook::store::{self, Store};

const FILES: [&str; 4] = ["firms.csv", "firm_members.csv", "projects.csv", "milestones.csv"];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&which, contents)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("firms.csv"),
        "id,name,country\n0195a000-0000-7000-8000-0000000000f1,Alba,GB\n",
    )
    .unwrap();
    std::fs::write(dir.path().join(FILES[which as usize % 4]), contents).unwrap();
    let store = Store::in_memory().unwrap();
    let statuses = project_statuses();
    let options = Options::new(Mode::Apply, &statuses);
    match import_dir(&store, dir.path(), &options) {
        Ok(_) => {}
        Err(ImportError::Invalid(errors)) => {
            assert!(!errors.is_empty());
            let (t, _) = store::check(&store.read().unwrap()).unwrap();
            assert_eq!(t.firms + t.members + t.projects + t.milestones, 0);
        }
        Err(other) => panic!("{other}"),
    }
});
