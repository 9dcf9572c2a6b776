//! The parsers never panic, whatever they are fed: the same properties the
//! fuzz targets in `fuzz/` check, as proptests that run in `cargo test`.

use firmhook::domain::{Country, Phone};
use firmhook::flow::Action;
use firmhook::import::{ImportError, Mode, Options, import_dir, project_statuses};
use firmhook::store::{self, Store};
use firmhook::whatsapp::inbound;
use proptest::prelude::*;
use serde_json::{Value, json};

/// JSON trees that use the webhook's own keys, so parsing gets deep.
fn webhook_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "entry",
        "changes",
        "value",
        "metadata",
        "phone_number_id",
        "messages",
        "statuses",
        "contacts",
        "id",
        "from",
        "from_user_id",
        "wa_id",
        "user_id",
        "type",
        "text",
        "body",
        "interactive",
        "button_reply",
        "list_reply",
        "button",
        "payload",
        "title",
        "status",
        "errors",
        "code",
        "timestamp",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,20}".prop_map(Value::String),
        prop::sample::select(vec![
            "text",
            "interactive",
            "button_reply",
            "list_reply",
            "button",
            "read",
            "sent",
            "failed",
            "447911123403"
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..5).prop_map(|pairs| Value::Object(
                pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

/// Well-formed button ids of every prefix, with any UUID and offset.
fn button_id() -> impl Strategy<Value = String> {
    let uuid = || any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string());
    prop_oneof![
        (
            prop::sample::select(vec!["sel", "do_approve", "mil", "rdy"]),
            uuid()
        )
            .prop_map(|(prefix, id)| format!("{prefix}:{id}")),
        any::<u32>().prop_map(|offset| format!("more:projects:{offset}")),
        (
            prop::sample::select(vec!["approve", "ready"]),
            uuid(),
            any::<u32>()
        )
            .prop_map(|(list, id, offset)| format!("more:{list}:{id}:{offset}")),
    ]
}

/// Bodies of Meta's shape at every level, with a part of any shape here
/// and there: what `inbound::parse` reads in one pass, and what it must
/// hand to the lenient reading.
fn envelope_json() -> impl Strategy<Value = Value> {
    let any = || webhook_json().boxed();
    let items = move |item: BoxedStrategy<Value>| {
        prop::collection::vec(prop_oneof![3 => item, 1 => any()], 0..3).prop_map(Value::Array)
    };
    let id = || "wamid\\.[A-C]|447911123401|US\\.1".boxed();
    let contact =
        (id(), id()).prop_map(|(wa_id, user_id)| json!({"wa_id": wa_id, "user_id": user_id}));
    let message = (id(), id(), ".{0,8}").prop_map(|(id, from, body)| {
        json!({"id": id, "from": from, "timestamp": "1700000000", "type": "text", "text": {"body": body}})
    });
    let status = (id(), prop::sample::select(vec!["sent", "read", "failed"]))
        .prop_map(|(id, status)| json!({"id": id, "status": status, "errors": [{"code": 131047}]}));
    let value = (
        prop_oneof![
            Just(json!({"phone_number_id": "111"})),
            any().prop_map(|id| json!({ "phone_number_id": id })),
            any(),
        ],
        items(contact.boxed()),
        items(message.boxed()),
        items(status.boxed()),
    )
        .prop_map(|(metadata, contacts, messages, statuses)| {
            json!({"metadata": metadata, "contacts": contacts, "messages": messages, "statuses": statuses})
        });
    let change = prop_oneof![4 => value.prop_map(|value| json!({"field": "messages", "value": value})), 1 => any()];
    let entry = prop_oneof![
        4 => prop::collection::vec(change, 0..3).prop_map(|changes| json!({"id": "1", "changes": changes})),
        1 => any()
    ];
    prop::collection::vec(entry, 0..3)
        .prop_map(|entry| json!({"object": "whatsapp_business_account", "entry": entry}))
}

proptest! {
    #[test]
    fn the_webhook_parser_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = inbound::parse(&bytes);
        prop_assert_eq!(inbound::parse(&bytes).ok(), inbound::parse_lenient(&bytes).ok());
    }

    #[test]
    fn the_webhook_parser_reads_every_shape_as_the_lenient_reading_does(
        value in prop_oneof![envelope_json(), webhook_json()]
    ) {
        let body = value.to_string();
        prop_assert_eq!(
            inbound::parse(body.as_bytes()).unwrap(),
            inbound::parse_lenient(body.as_bytes()).unwrap()
        );
    }

    #[test]
    fn the_webhook_parser_takes_any_json_shape(value in webhook_json()) {
        let parsed = inbound::parse(value.to_string().as_bytes());
        prop_assert!(parsed.is_ok());
    }

    #[test]
    fn button_ids_parse_or_are_refused(id in "(sel|do_approve|mil|rdy|more|x)?:?.{0,60}") {
        // Anything may be sent as a button id: it parses or is refused,
        // never panics.
        let _ = Action::parse(&id);
    }

    /// Every id the bot makes reads back as the action it was made from,
    /// and writes out again as the same text.
    #[test]
    fn button_ids_round_trip(id in button_id()) {
        let action = Action::parse(&id);
        prop_assert!(action.is_ok(), "{} refused", id);
        let action = action.unwrap();
        prop_assert_eq!(action.to_string(), id.clone());
        prop_assert_eq!(Action::parse(&action.to_string()), Ok(action));
    }

    #[test]
    fn phones_parse_or_are_refused_and_canonical_forms_are_stable(
        // Mostly numbers of the lengths phones have (international, with a
        // national prefix, or bare digits), so that most of them parse;
        // then anything.
        text in prop_oneof![
            3 => "\\+[1-9][0-9]{6,14}",
            3 => "0[1-9][0-9]{8,10}",
            2 => "[1-9][0-9]{6,14}",
            1 => "[+0-9 ()./-]{0,24}",
            1 => ".{0,24}",
        ],
        region in prop::sample::select(vec!["GB", "US", "BR", "MX", "AR", "DE", "IN"]),
    ) {
        let country = Country::parse(region).unwrap();
        for phone in [Phone::parse(&text, Some(country)).map(|p| p.phone), Phone::from_wa_id(&text)].into_iter().flatten() {
            let again = Phone::parse_international(&phone.to_string());
            prop_assert_eq!(again, Ok(phone), "{} read back from {}", phone, text);
        }
    }
}

/// Crash inputs the fuzz targets found, kept as regression tests.
#[test]
fn fuzz_regressions() {
    // fuzz/artifacts/phone/crash-27835221…: "0404004" in GB parsed to
    // +404004, which no wa_id can be, so it could never be looked up.
    let country = Country::parse("GB").unwrap();
    assert!(Phone::parse("0404004", Some(country)).is_err());
    // crash-9cd0c741…: "0550022" as a wa_id was read as Brazil (55) and
    // lost its leading zero in storage.
    assert!(Phone::from_wa_id("0550022").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::support::proptest_cases(48)))]

    #[test]
    fn import_takes_any_file_and_writes_nothing_on_error(
        file in prop::sample::select(vec!["firms.csv", "firm_members.csv", "projects.csv", "milestones.csv"]),
        header in prop::sample::select(vec![
            "id,name,country,phone_number_id\n",
            "id,firm_id,name,role,whatsapp_phone\n",
            "id,firm_id,name,status,client_name,client_phone,designer_member_id,designer_phone,created_at\n",
            "id,project_id,title,status,position\n",
            "",
        ]),
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("firms.csv"), "id,name,country\n0195a000-0000-7000-8000-0000000000f1,Alba,GB\n").unwrap();
        let mut contents = header.as_bytes().to_vec();
        contents.extend_from_slice(&body);
        std::fs::write(dir.path().join(file), &contents).unwrap();
        let store = Store::in_memory().unwrap();
        let statuses = project_statuses();
        let options = Options::new(Mode::Apply, &statuses);
        match import_dir(&store, dir.path(), &options) {
            Ok(_) => {}
            Err(ImportError::Invalid(errors)) => {
                prop_assert!(!errors.is_empty());
                let (totals, _) = store::check(&store.read().unwrap()).unwrap();
                prop_assert_eq!(totals.firms + totals.members + totals.projects + totals.milestones, 0);
            }
            Err(other) => prop_assert!(false, "{other}"),
        }
    }
}
