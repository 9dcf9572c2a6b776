//! The flow handler on its own: no HTTP, an in-memory database, each case
//! a world, a sender, a message, and what comes back.

use firmhook::domain::Phone;
use firmhook::flow::{Context, Effect, Input, Output, To, handle};
use firmhook::store::Store;

use crate::support::{Names, world};

fn run(store: &Store, from: &str, input: Input) -> Output {
    let statuses = firmhook::import::project_statuses();
    let cx = Context {
        sender: Phone::parse_international(from).ok(),
        sender_key: from,
        phone_number_id: None,
        now: 1_780_000_000,
        statuses: &statuses,
        lang: firmhook::flow::text::Lang::En,
    };
    store.rehearse(|w| handle(&*w, &cx, input)).unwrap()
}

/// Every reply as `to: text [ids]`, with fixture ids as names.
fn show(names: &Names, out: &Output) -> Vec<String> {
    out.replies
        .iter()
        .map(|r| {
            let to = match &r.to {
                To::Sender => "sender".to_owned(),
                To::Phone(p) => p.to_string(),
            };
            let text = names.apply(&r.body.render());
            format!("{to}: {text}")
        })
        .collect()
}

fn big_designer() -> (Store, Names) {
    let mut text = String::from(
        "firm alba GB\nfirm verde BR\nmember alba olivia +447911123456\n\
         project verde praia client=+447911123456 at=2026-01-01\n",
    );
    for n in 1..=23 {
        text.push_str(&format!(
            "project alba p{n:02} designer=olivia at=2026-01-{n:02}\n"
        ));
    }
    world(&text)
}

#[test]
fn more_than_ten_projects_come_in_pages_of_nine_with_a_more_row() {
    let (store, names) = big_designer();
    let first = run(&store, "447911123456", Input::Text("/projects"));
    let text = show(&names, &first).join("\n");
    assert!(text.contains("(1–9 of 24)"), "{text}");
    assert!(text.contains("- p23  sel:p23"), "newest first: {text}");
    assert!(text.contains("- More…  more:projects:9"), "{text}");

    let next = run(&store, "447911123456", Input::Button("more:projects:9"));
    let text = show(&names, &next).join("\n");
    assert!(text.contains("(10–18 of 24)"), "{text}");
    assert!(text.contains("more:projects:18"), "{text}");
    let last = run(&store, "447911123456", Input::Button("more:projects:18"));
    let text = show(&names, &last).join("\n");
    assert!(text.contains("(19–24 of 24)"), "{text}");
    assert!(!text.contains("More…"), "{text}");
}

#[test]
fn a_designer_who_is_a_client_elsewhere_is_offered_those_projects() {
    let (store, names) = big_designer();
    let out = run(&store, "447911123456", Input::Text("hello"));
    let replies = show(&names, &out);
    assert_eq!(out.kind, "designer");
    assert!(
        replies[0].starts_with("sender: p23 — Active"),
        "{replies:#?}"
    );
    assert_eq!(
        replies[1],
        "sender: You are also a client on:\n  [praia]  sel:praia"
    );
    // The tap on that project acts as its client.
    let tap = run(
        &store,
        "447911123456",
        Input::Button(&format!("sel:{}", names.id("praia"))),
    );
    assert_eq!(tap.kind, "client");
}

#[test]
fn roles_are_derived_on_every_tap_not_taken_from_the_id() {
    let (store, names) = world(
        "firm alba GB
         firm verde BR
         member alba olivia +447911123456
         member verde marcos +5511987654321
         project alba kitchen client=+447911123401 designer=olivia
         milestone kitchen plan pending
         milestone kitchen tiles awaiting_approval
         project verde praia client=+5511998765432 designer=marcos
         milestone praia conceito awaiting_approval",
    );
    let tiles = format!("mil:{}", names.id("tiles"));
    let plan = format!("rdy:{}", names.id("plan"));
    // The client of kitchen may approve; the designer of another firm, a
    // client of another project, and a stranger may not.
    for who in [
        "5511987654321",
        "5511998765432",
        "14155552671",
        "447911123456",
    ] {
        let out = run(&store, who, Input::Button(&tiles));
        assert_eq!(out.effects, vec![], "{who} approved");
        assert_eq!(
            show(&names, &out),
            ["sender: That item is no longer available."],
            "{who}"
        );
    }
    let out = run(&store, "447911123401", Input::Button(&tiles));
    assert!(matches!(out.effects.as_slice(), [Effect::Milestone { .. }]));
    assert_eq!(
        show(&names, &out),
        [
            "sender: Approved \"tiles\" on kitchen. Thank you!",
            "+447911123456: The client approved \"tiles\" on kitchen."
        ]
    );
    // Only a designer of the project marks ready; the client cannot.
    assert_eq!(
        run(&store, "447911123401", Input::Button(&plan)).effects,
        vec![]
    );
    assert_eq!(
        run(&store, "5511987654321", Input::Button(&plan)).effects,
        vec![]
    );
    assert_eq!(
        run(&store, "447911123456", Input::Button(&plan))
            .effects
            .len(),
        1
    );
}

#[test]
fn malformed_and_stale_ids_are_answered_without_effect() {
    let (store, names) = world(
        "firm alba GB
         project alba kitchen client=+447911123401",
    );
    for id in [
        "sel:",
        "mil:xyz",
        "drop:table",
        "sel:0195a000-0000-7000-8000-00000000dead",
    ] {
        let out = run(&store, "447911123401", Input::Button(id));
        assert_eq!(out.effects, vec![]);
        assert_eq!(out.replies.len(), 1, "{id}");
    }
    let stale = run(
        &store,
        "447911123401",
        Input::Button("mil:0195a000-0000-7000-8000-00000000dead"),
    );
    assert_eq!(
        show(&names, &stale),
        ["sender: That item is no longer available."]
    );
}

#[test]
fn clients_sending_designer_commands_are_refused() {
    let (store, names) = world(
        "firm alba GB
         project alba kitchen client=+447911123401",
    );
    for command in ["/status Completed", "/projects", "/READY", "/milestones"] {
        let out = run(&store, "447911123401", Input::Text(command));
        assert_eq!(
            show(&names, &out),
            ["sender: Only the designer can update project status."],
            "{command}"
        );
        assert_eq!(out.effects, vec![]);
    }
}
