//! `import` and `export` through the library, on a real redb file.

use firmhook::cli::export::export_dir;
use firmhook::domain::Phone;
use firmhook::import::{Mode, Options, import_dir, project_statuses};
use firmhook::resolve::{Outcome, resolve};
use firmhook::store::{self, Store};

use crate::support::{csv_dir, demo_dir};

fn options(mode: Mode, statuses: &[String]) -> Options<'_> {
    Options::new(mode, statuses)
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("db.redb"), store::DEFAULT_CACHE_BYTES).unwrap()
}

/// Every error line the import reports, as text.
fn errors(store: &Store, files: &[(&str, &str)]) -> Vec<String> {
    let dir = csv_dir(files);
    let statuses = project_statuses();
    match import_dir(store, dir.path(), &options(Mode::Apply, &statuses)) {
        Ok(report) => panic!("import succeeded: {report}"),
        Err(firmhook::import::ImportError::Invalid(errors)) => errors
            .iter()
            .map(|e| {
                e.to_string()
                    .replace(&format!("{}/", dir.path().display()), "")
            })
            .collect(),
        Err(other) => panic!("store error: {other}"),
    }
}

fn total_rows(store: &Store) -> u64 {
    let (t, _) = store::check(&store.read().unwrap()).unwrap();
    t.firms + t.members + t.projects + t.milestones
}

const FIRM: &str = "0195a000-0000-7000-8000-0000000000f1";
const FIRMS: &str = "id,name,country,phone_number_id
0195a000-0000-7000-8000-0000000000f1,Studio Alba,GB,111
";

#[test]
fn demo_data_imports_and_a_second_import_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    let statuses = project_statuses();
    let first = import_dir(&store, &demo_dir(), &options(Mode::Apply, &statuses)).unwrap();
    assert_eq!(first.counts("firms.csv").inserted, 3);
    assert_eq!(first.counts("firm_members.csv").inserted, 5);
    assert_eq!(first.counts("projects.csv").inserted, 8);
    assert_eq!(first.counts("milestones.csv").inserted, 11);
    let second = import_dir(&store, &demo_dir(), &options(Mode::Apply, &statuses)).unwrap();
    assert_eq!(second.rows(), 30);
    assert!(
        second.files.iter().all(|(_, c)| c.unchanged == c.rows()),
        "{second}"
    );
    let (_, problems) = store::check(&store.read().unwrap()).unwrap();
    assert_eq!(problems, vec![]);
}

#[test]
fn every_bad_row_is_reported_with_file_line_and_field_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    let got = errors(
        &store,
        &[
            (
                "firms.csv",
                "id,name,country,phone_number_id
0195a000-0000-7000-8000-0000000000f1,Studio Alba,GB,111
not a uuid,Bad Id,GB,
0195a000-0000-7000-8000-0000000000f3,Bad Country,UK,
0195a000-0000-7000-8000-0000000000f4,Bad Number,GB,+44 111
0195a000-0000-7000-8000-0000000000f1,Duplicate,GB,
0195a000-0000-7000-8000-0000000000f5,,GB,
0195a000-0000-7000-8000-0000000000f6,Same Number,GB,111
",
            ),
            (
                "firm_members.csv",
                "id,firm_id,name,role,whatsapp_phone
0195a000-0000-7000-8000-0000000000a1,0195a000-0000-7000-8000-0000000000f1,Olivia,Lead,07911 123456
0195a000-0000-7000-8000-0000000000a2,0195a000-0000-7000-8000-0000000000f9,Nobody's,Designer,
0195a000-0000-7000-8000-0000000000a3,0195a000-0000-7000-8000-0000000000f1,Bad Phone,Designer,call me
0195a000-0000-7000-8000-0000000000a4,0195a000-0000-7000-8000-0000000000f3,Firm Failed Above,Designer,
",
            ),
            (
                "projects.csv",
                "id,firm_id,name,status,client_name,client_phone,designer_member_id,designer_phone,created_at
0195a000-0000-7000-8000-0000000000b1,0195a000-0000-7000-8000-0000000000f1,Kitchen,Done,Emma,07911 123401,,,2026-01-10
0195a000-0000-7000-8000-0000000000b2,0195a000-0000-7000-8000-0000000000f1,Loft,Active,Raj,07911 123402,,,last tuesday
0195a000-0000-7000-8000-0000000000b3,0195a000-0000-7000-8000-0000000000f1,Bath,Active,Lucy,07911 123403,0195a000-0000-7000-8000-0000000000a9,,2026-01-10
0195a000-0000-7000-8000-0000000000b4,0195a000-0000-7000-8000-0000000000f1,Flat,Active,Jo,07911 123404,,,2026-01-10
0195a000-0000-7000-8000-0000000000b5,0195a000-0000-7000-8000-0000000000f1,Short
",
            ),
            (
                "milestones.csv",
                "id,project_id,title,status,position
0195a000-0000-7000-8000-0000000000c1,0195a000-0000-7000-8000-0000000000b4,Plan,approved,1
0195a000-0000-7000-8000-0000000000c2,0195a000-0000-7000-8000-0000000000b8,Orphan,pending,1
0195a000-0000-7000-8000-0000000000c3,0195a000-0000-7000-8000-0000000000b4,Bad Status,done,2
0195a000-0000-7000-8000-0000000000c4,0195a000-0000-7000-8000-0000000000b4,Bad Position,pending,-1
0195a000-0000-7000-8000-0000000000c5,0195a000-0000-7000-8000-0000000000b1,Project Failed Above,pending,1
0195a000-0000-7000-8000-0000000000c1,0195a000-0000-7000-8000-0000000000b4,Twice,pending,3
",
            ),
        ],
    );
    let expected = [
        r#"firms.csv:3: id: neither a UUID nor a key (1 to 64 letters, digits, '-', '_' or '.'): "not a uuid""#,
        r#"firms.csv:4: country: unknown country code "UK" (expected ISO 3166 alpha-2, like GB)"#,
        r#"firms.csv:5: phone_number_id: not a WhatsApp phone_number_id (digits only): "+44 111""#,
        "firms.csv:6: id: duplicate firm id 0195a000-0000-7000-8000-0000000000f1 in this file",
        "firms.csv:7: name: is required",
        "firms.csv:8: id: phone_number_id 111 already belongs to another firm",
        "firm_members.csv:3: firm_id: unknown firm 0195a000-0000-7000-8000-0000000000f9",
        r#"firm_members.csv:4: whatsapp_phone: not a phone number: "call me" (read with country GB)"#,
        r#"projects.csv:2: status: unknown project status "Done" (expected one of: Lead, Design, Active, On Hold, Completed)"#,
        r#"projects.csv:3: created_at: not a timestamp "last tuesday" (expected RFC 3339 like 2024-03-01T10:00:00Z, or 2024-03-01)"#,
        "projects.csv:4: designer_member_id: unknown member 0195a000-0000-7000-8000-0000000000a9",
        "projects.csv:6: status: is required",
        "milestones.csv:3: project_id: unknown project 0195a000-0000-7000-8000-0000000000b8",
        r#"milestones.csv:4: status: unknown milestone status "done" (expected one of: pending, awaiting_approval, approved)"#,
        r#"milestones.csv:5: position: not a whole number ≥ 0: "-1""#,
        "milestones.csv:7: id: duplicate milestone id 0195a000-0000-7000-8000-0000000000c1 in this file",
    ];
    assert_eq!(got, expected);
    assert_eq!(total_rows(&store), 0, "a failed import writes nothing");
}

#[test]
fn a_missing_required_column_is_reported_on_the_header_line() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    let got = errors(
        &store,
        &[
            ("firms.csv", FIRMS),
            ("projects.csv", "id,firm_id,title,status\n"),
        ],
    );
    assert_eq!(
        got,
        [
            r#"projects.csv:1: missing column "name""#,
            r#"projects.csv:1: missing column "created_at""#
        ]
    );
    assert_eq!(total_rows(&store), 0);
}

#[test]
fn bom_extra_columns_reordered_columns_and_missing_files_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    let dir = csv_dir(&[
        (
            "firms.csv",
            "\u{feff}notes,country,name,id\nbig client,gb,Studio Alba,0195a000-0000-7000-8000-0000000000f1\n",
        ),
        (
            "firm_members.csv",
            "id,firm_id,name\n0195a000-0000-7000-8000-0000000000a1,0195a000-0000-7000-8000-0000000000f1,Olivia\n",
        ),
    ]);
    let statuses = project_statuses();
    let report = import_dir(&store, dir.path(), &options(Mode::Apply, &statuses)).unwrap();
    assert_eq!(report.counts("firms.csv").inserted, 1);
    assert_eq!(report.counts("firm_members.csv").inserted, 1);
    assert_eq!(report.counts("projects.csv").rows(), 0);
    let firm = store
        .read()
        .unwrap()
        .firm(FIRM.parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        (firm.name.as_str(), firm.country.to_string().as_str()),
        ("Studio Alba", "GB")
    );
    assert_eq!(firm.phone_number_id, None);
}

#[test]
fn dry_run_checks_everything_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    let statuses = project_statuses();
    let report = import_dir(&store, &demo_dir(), &options(Mode::DryRun, &statuses)).unwrap();
    assert_eq!(report.rows(), 30);
    assert_eq!(total_rows(&store), 0);
}

#[test]
fn a_changed_phone_moves_its_index_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    let statuses = project_statuses();
    let project = |phone: &str| {
        format!(
            "id,firm_id,name,status,client_phone,created_at\n\
             0195a000-0000-7000-8000-0000000000b1,{FIRM},Kitchen,Active,{phone},2026-01-10\n"
        )
    };
    let client_of = |phone: &str| {
        let phone = Phone::parse_international(phone).unwrap();
        resolve(&store.read().unwrap(), phone, None)
            .unwrap()
            .outcome
    };
    let before = csv_dir(&[
        ("firms.csv", FIRMS),
        ("projects.csv", &project("07911 123401")),
    ]);
    import_dir(&store, before.path(), &options(Mode::Apply, &statuses)).unwrap();
    assert!(matches!(client_of("447911123401"), Outcome::Client { .. }));

    let after = csv_dir(&[
        ("firms.csv", FIRMS),
        ("projects.csv", &project("07911 123402")),
    ]);
    let report = import_dir(&store, after.path(), &options(Mode::Apply, &statuses)).unwrap();
    assert_eq!(report.counts("projects.csv").updated, 1);
    assert_eq!(client_of("447911123401"), Outcome::Unknown);
    assert!(matches!(client_of("447911123402"), Outcome::Client { .. }));
    let (_, problems) = store::check(&store.read().unwrap()).unwrap();
    assert_eq!(problems, vec![]);
}

#[test]
fn a_project_cannot_move_to_another_firm() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    let statuses = project_statuses();
    let firms = "id,name,country\n\
        0195a000-0000-7000-8000-0000000000f1,Alba,GB\n\
        0195a000-0000-7000-8000-0000000000f2,Verde,BR\n";
    let project = |firm: &str| {
        format!(
            "id,firm_id,name,status,created_at\n\
             0195a000-0000-7000-8000-0000000000b1,0195a000-0000-7000-8000-0000000000{firm},Kitchen,Active,2026-01-10\n"
        )
    };
    let first = csv_dir(&[("firms.csv", firms), ("projects.csv", &project("f1"))]);
    import_dir(&store, first.path(), &options(Mode::Apply, &statuses)).unwrap();
    let got = errors(
        &store,
        &[("firms.csv", firms), ("projects.csv", &project("f2"))],
    );
    assert_eq!(
        got,
        [
            "projects.csv:2: id: project 0195a000-0000-7000-8000-0000000000b1 belongs to another \
          firm and cannot move to firm 0195a000-0000-7000-8000-0000000000f2"
        ]
    );
}

#[test]
fn export_then_import_into_an_empty_database_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let statuses = project_statuses();
    let first = Store::open(&tmp.path().join("a.redb"), store::DEFAULT_CACHE_BYTES).unwrap();
    import_dir(&first, &demo_dir(), &options(Mode::Apply, &statuses)).unwrap();
    let out_a = tmp.path().join("a");
    assert_eq!(
        export_dir(&first.read().unwrap(), &out_a).unwrap(),
        [3, 5, 8, 11]
    );

    let second = Store::open(&tmp.path().join("b.redb"), store::DEFAULT_CACHE_BYTES).unwrap();
    import_dir(&second, &out_a, &options(Mode::Apply, &statuses)).unwrap();
    let out_b = tmp.path().join("b");
    export_dir(&second.read().unwrap(), &out_b).unwrap();
    for file in [
        "firms.csv",
        "firm_members.csv",
        "projects.csv",
        "milestones.csv",
        "templates.csv",
    ] {
        let a = std::fs::read_to_string(out_a.join(file)).unwrap();
        let b = std::fs::read_to_string(out_b.join(file)).unwrap();
        assert_eq!(a, b, "{file} differs after a round trip");
    }
    // Nothing but the five files is left behind.
    let mut names: Vec<_> = std::fs::read_dir(&out_b)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "firm_members.csv",
            "firms.csv",
            "milestones.csv",
            "projects.csv",
            "templates.csv"
        ]
    );
}

/// A member file whose bad rows sit after a BOM, CRLF line ends, a quoted
/// field spanning lines and blank lines: each error must name the line an
/// editor shows, which is checked by reading that line back.
#[test]
fn error_lines_are_the_lines_an_editor_shows() {
    let members = "\u{feff}id,firm_id,name,role,whatsapp_phone\r\n\
        0195a000-0000-7000-8000-0000000000a1,0195a000-0000-7000-8000-0000000000f1,\"Olivia\r\nHart\",Lead,\r\n\
        \r\n\
        0195a000-0000-7000-8000-0000000000a2,0195a000-0000-7000-8000-0000000000f1,Tom,Lead,call me\r\n\
        \n\
        \n\
        0195a000-0000-7000-8000-0000000000a3,0195a000-0000-7000-8000-0000000000f1,\"Multi\nline\nname\",Lead,\n\
        0195a000-0000-7000-8000-0000000000a4,0195a000-0000-7000-8000-0000000000f1,Jo,Lead,not a phone\n\
        0195a000-0000-7000-8000-0000000000a5,0195a000-0000-7000-8000-0000000000f1,Last,Lead,still not";
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    let got = errors(
        &store,
        &[("firms.csv", FIRMS), ("firm_members.csv", members)],
    );
    let file_lines: Vec<&str> = members.split('\n').collect();
    let mut seen = Vec::new();
    for error in &got {
        let line: usize = error.split(':').nth(1).unwrap().parse().unwrap();
        let text = file_lines[line - 1];
        let id = error.split('"').nth(1).unwrap();
        assert!(text.contains(id), "{error} names line {line}: {text:?}");
        seen.push(line);
    }
    assert_eq!(seen, [5, 11, 12]);
}

#[test]
fn numbers_outside_known_ranges_import_with_a_warning_line() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    let dir = csv_dir(&[
        ("firms.csv", FIRMS),
        (
            "firm_members.csv",
            "id,firm_id,name,role,whatsapp_phone
0195a000-0000-7000-8000-0000000000a1,0195a000-0000-7000-8000-0000000000f1,Olivia,Lead,+44 7700 900001
0195a000-0000-7000-8000-0000000000a2,0195a000-0000-7000-8000-0000000000f1,Tom,Lead,07911 123456
0195a000-0000-7000-8000-0000000000a3,0195a000-0000-7000-8000-0000000000f1,Raj,Lead,07700 900103
",
        ),
    ]);
    let statuses = project_statuses();
    let report = import_dir(&store, dir.path(), &options(Mode::Apply, &statuses)).unwrap();
    assert_eq!(report.counts("firm_members.csv").inserted, 3);
    let warnings: Vec<String> = report
        .warnings
        .iter()
        .map(|w| {
            w.to_string()
                .replace(&format!("{}/", dir.path().display()), "")
        })
        .collect();
    assert_eq!(
        warnings,
        [
            r#"firm_members.csv:2: whatsapp_phone: warning: "+44 7700 900001" is not in a range the phone metadata knows (new or reserved); accepted as +447700900001"#,
            r#"firm_members.csv:4: whatsapp_phone: warning: "07700 900103" is not in a range the phone metadata knows (new or reserved); accepted as +447700900103"#,
        ]
    );
    assert!(report.to_string().contains("2 warning(s)"), "{report}");
    let reader = store.read().unwrap();
    let found = resolve(&reader, Phone::from_wa_id("447700900103").unwrap(), None).unwrap();
    assert!(
        matches!(found.outcome, Outcome::DesignerNoProject { .. }),
        "{found}"
    );
}

/// Issue 23: a spreadsheet as people keep it: keys of their own instead
/// of UUIDs, semicolons (Excel where the decimal mark is a comma), a BOM,
/// and a file name in capitals. It imports, and re-imports changing
/// nothing; references by key work across files; two firms may use the
/// same keys.
#[test]
fn a_spreadsheet_with_its_own_keys_semicolons_and_a_bom_imports_and_reimports() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    let dir = csv_dir(&[
        (
            "Firms.csv",
            "\u{feff}id;name;country;phone_number_id\nalba;Studio Alba;GB;106540352242922\ncasa;Casa Verde;BR;\n",
        ),
        (
            "firm_members.csv",
            "id;firm_id;name;role;whatsapp_phone\nolivia;alba;Olivia Hart;Lead;07911 123456\nana;casa;Ana Lima;Designer;(11) 99876-0001\n",
        ),
        (
            "projects.csv",
            "id;firm_id;name;status;client_name;client_phone;designer_member_id;designer_phone;created_at\n\
             kitchen;alba;Kensington Kitchen;Active;Emma Stone;07911 123401;olivia;;2026-01-10\n\
             jardins;casa;Apartamento Jardins;Active;Ana Souza;(11) 99876-5432;ana;;2026-02-10\n",
        ),
        (
            "milestones.csv",
            "id;project_id;title;status;position\nm1;kitchen;Concept board;approved;1\nm2;kitchen;Cabinet order;pending;2\nm1;jardins;Planta baixa;pending;1\n",
        ),
    ]);
    let statuses = project_statuses();
    let first = import_dir(&store, dir.path(), &options(Mode::Apply, &statuses)).unwrap();
    assert_eq!(first.rows(), 9, "{first}");
    assert_eq!(
        first
            .warnings
            .iter()
            .map(|w| w.relative())
            .collect::<Vec<_>>(),
        ["Firms.csv: warning: read as firms.csv (the names are lower case)"]
    );
    let counts = first.counts("milestones.csv");
    assert_eq!((counts.inserted, counts.updated), (3, 0));
    // The ids are the v5 UUIDs of DESIGN section 7.
    let ns = uuid::uuid!("6f1c2a9e-8d4b-5e3a-9c7f-0b1d2e3f4a5b");
    let alba = uuid::Uuid::new_v5(&ns, b"firms/alba");
    let kitchen = uuid::Uuid::new_v5(&ns, format!("{alba}/projects/kitchen").as_bytes());
    let reader = store.read().unwrap();
    let firm = firmhook::domain::FirmId::parse(&alba.to_string()).unwrap();
    let project = firmhook::domain::ProjectId::parse(&kitchen.to_string()).unwrap();
    let found = reader
        .project(firm, project)
        .unwrap()
        .expect("the keyed project");
    assert_eq!(found.name, "Kensington Kitchen");
    let designer = uuid::Uuid::new_v5(&ns, format!("{alba}/firm_members/olivia").as_bytes());
    assert_eq!(
        found.designer_member_id.map(|m| m.to_string()),
        Some(designer.to_string())
    );
    drop(reader);
    // Again: nothing changes.
    let again = import_dir(&store, dir.path(), &options(Mode::Apply, &statuses)).unwrap();
    for file in [
        "firms.csv",
        "firm_members.csv",
        "projects.csv",
        "milestones.csv",
    ] {
        let c = again.counts(file);
        assert_eq!((c.inserted, c.updated), (0, 0), "{file}: {again}");
    }
    assert_eq!(total_rows(&store), 9);
}

/// A file saved in Windows-1252 is refused with its name, the line and
/// what to do; a folder that is missing, a file, empty of known files or
/// holding an unknown `.csv` name is an error, never "imported 0 rows".
#[test]
fn encodings_folders_and_names_that_cannot_be_read_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    let statuses = project_statuses();
    let fail =
        |dir: &std::path::Path| match import_dir(&store, dir, &options(Mode::Apply, &statuses)) {
            Ok(report) => panic!("imported: {report}"),
            Err(firmhook::import::ImportError::Invalid(errors)) => {
                errors.iter().map(|e| e.relative()).collect::<Vec<_>>()
            }
            Err(other) => panic!("{other}"),
        };
    // "São Paulo" in Windows-1252: 0xE3 for ã.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("firms.csv"),
        b"id,name,country\nsp,Est\xfadio S\xe3o Paulo,BR\n",
    )
    .unwrap();
    assert_eq!(
        fail(dir.path()),
        [
            "firms.csv:2: not UTF-8 text (saved in another encoding, such as Windows-1252?): save it as CSV UTF-8"
        ]
    );
    let known = "firms.csv, firm_members.csv, projects.csv, milestones.csv, templates.csv";
    let missing = tmp.path().join("nosuchdir");
    assert_eq!(
        fail(&missing),
        [format!(
            "nosuchdir: no such folder (an import reads a folder holding {known})"
        )]
    );
    let file = dir.path().join("firms.csv");
    assert_eq!(
        fail(&file),
        [format!(
            "firms.csv: is a file, not a folder: give the folder that holds it (an import reads {known})"
        )]
    );
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("notes.txt"), "hi").unwrap();
    let errors = fail(empty.path());
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].ends_with(&format!(
            "none of the files an import reads is here (expected one or more of: {known})"
        )),
        "{errors:?}"
    );
    let misnamed = csv_dir(&[
        ("firms.csv", "id,name,country\nalba,Studio Alba,GB\n"),
        ("members.csv", "id,firm_id,name\nolivia,alba,Olivia\n"),
    ]);
    assert_eq!(
        fail(misnamed.path()),
        [format!(
            "members.csv: not a file an import reads (expected one of: {known})"
        )]
    );
    assert_eq!(total_rows(&store), 0, "nothing was written");
}
