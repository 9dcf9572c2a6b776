//! Tenant isolation as a property: over random multi-firm data (phones
//! shared across firms, designers who are clients elsewhere, legacy designer
//! phones) and random sequences of (sender, message) covering every button
//! prefix with ids of every firm's resources and of none, no record changes
//! unless the sender holds the right role on it, checked against a model
//! of the roles taken from the data. `PROPTEST_CASES` sets the case count.

use std::collections::BTreeMap;

use firmhook::domain::{
    Country, Firm, FirmId, Member, MemberId, Milestone, MilestoneId, MilestoneStatus, Phone,
    Project, ProjectId, ProjectStatus, Timestamp,
};
use firmhook::metrics::Metrics;
use firmhook::store::{self, Store};
use firmhook::whatsapp::inbound::{Content, Delivery, Message, Sender};
use firmhook::writer::{self, Config};
use proptest::prelude::*;

/// Phones in play: index into this list.
const PHONES: [&str; 6] = [
    "447400000001",
    "447400000002",
    "447400000003",
    "447400000004",
    "5511987650001",
    "5511987650002",
];

#[derive(Debug, Clone)]
struct World {
    firms: Vec<Firm>,
    members: Vec<Member>,
    projects: Vec<Project>,
    milestones: Vec<(FirmId, Milestone)>,
}

fn phone(i: usize) -> Phone {
    Phone::from_wa_id(PHONES[i]).unwrap()
}

fn world() -> impl Strategy<Value = World> {
    let firm_count = 2..=3usize;
    firm_count
        .prop_flat_map(|firms| {
            let members =
                prop::collection::vec((0..firms, prop::option::of(0..PHONES.len())), 1..=5);
            let projects = prop::collection::vec(
                (
                    0..firms,
                    prop::option::of(0..PHONES.len()),
                    prop::option::of(0..PHONES.len()),
                    prop::option::of(0..5usize),
                    0..3u8,
                    0..1000i64,
                ),
                1..=6,
            );
            let milestones = prop::collection::vec((0..6usize, 0..3u8), 0..=10);
            (Just(firms), members, projects, milestones)
        })
        .prop_map(|(firm_count, members, projects, milestones)| {
            let firms: Vec<Firm> = (0..firm_count)
                .map(|f| Firm {
                    id: FirmId::from_u128(0xF0 + f as u128),
                    name: format!("firm{f}"),
                    country: Country::parse("GB").unwrap(),
                    phone_number_id: Some(9000 + f as u64),
                    language: None,
                })
                .collect();
            let members: Vec<Member> = members
                .into_iter()
                .enumerate()
                .map(|(m, (firm, p))| Member {
                    id: MemberId::from_u128(0xA0 + m as u128),
                    firm_id: firms[firm].id,
                    name: format!("member{m}"),
                    role: String::new(),
                    whatsapp_phone: p.map(phone),
                })
                .collect();
            let projects: Vec<Project> = projects
                .into_iter()
                .enumerate()
                .map(|(i, (firm, client, legacy, member, status, at))| {
                    let firm_id = firms[firm].id;
                    // Only a member of the same firm can be the designer member.
                    let designer_member_id = member
                        .and_then(|m| members.get(m))
                        .filter(|m| m.firm_id == firm_id)
                        .map(|m| m.id);
                    Project {
                        id: ProjectId::from_u128(0xB0 + i as u128),
                        firm_id,
                        name: format!("project{i}"),
                        status: ProjectStatus::parse(
                            ProjectStatus::DEFAULT_SET[status as usize],
                            ProjectStatus::DEFAULT_SET,
                        )
                        .unwrap(),
                        client_name: String::new(),
                        client_phone: client.map(phone),
                        designer_member_id,
                        designer_phone: legacy.map(phone),
                        created_at: Timestamp::from_unix_seconds(1_700_000_000 + at),
                    }
                })
                .collect();
            let milestones = milestones
                .into_iter()
                .enumerate()
                .filter_map(|(i, (p, status))| {
                    let project = projects.get(p)?;
                    Some((
                        project.firm_id,
                        Milestone {
                            id: MilestoneId::from_u128(0xC0 + i as u128),
                            project_id: project.id,
                            title: format!("milestone{i}"),
                            status: MilestoneStatus::ALL[status as usize],
                            position: i as u32,
                        },
                    ))
                })
                .collect();
            World {
                firms,
                members,
                projects,
                milestones,
            }
        })
}

/// A message: (sender phone index, text or button id).
fn messages() -> impl Strategy<Value = Vec<(usize, String)>> {
    let resource = prop_oneof![
        (0xB0u128..0xB8).prop_map(|id| ProjectId::from_u128(id).to_string()),
        (0xC0u128..0xCC).prop_map(|id| MilestoneId::from_u128(id).to_string()),
    ];
    let content = prop_oneof![
        (
            prop::sample::select(vec![
                "sel",
                "do_approve",
                "mil",
                "rdy",
                "more:ready",
                "more:approve"
            ]),
            resource
        )
            .prop_map(|(prefix, id)| if prefix.starts_with("more") {
                format!("button:{prefix}:{id}:0")
            } else {
                format!("button:{prefix}:{id}")
            }),
        prop::sample::select(vec![
            "text:hi",
            "text:/status Completed",
            "text:/status on hold",
            "text:/ready",
            "text:/projects",
            "button:more:projects:0",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec((0..PHONES.len(), content), 1..25)
}

/// Every record's mutable state: milestone statuses and project statuses.
fn state(
    store: &Store,
) -> (
    BTreeMap<MilestoneId, MilestoneStatus>,
    BTreeMap<ProjectId, String>,
) {
    let reader = store.read().unwrap();
    let mut milestones = BTreeMap::new();
    reader
        .for_each_milestone(|m| {
            milestones.insert(m.id, m.status);
            Ok::<_, store::Error>(())
        })
        .unwrap();
    let mut projects = BTreeMap::new();
    reader
        .for_each_project(|p| {
            projects.insert(p.id, p.status.as_str().to_owned());
            Ok::<_, store::Error>(())
        })
        .unwrap();
    (milestones, projects)
}

/// The model: roles from the data alone, as DESIGN section 4 defines them.
fn is_designer(world: &World, sender: Phone, project: &Project) -> bool {
    project.designer_phone == Some(sender)
        || world
            .members
            .iter()
            .any(|m| m.firm_id == project.firm_id && m.whatsapp_phone == Some(sender))
}

fn is_client(sender: Phone, project: &Project) -> bool {
    project.client_phone == Some(sender)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::support::proptest_cases(64)))]

    #[test]
    fn no_record_changes_without_the_role_on_it(world in world(), messages in messages()) {
        let store = Store::in_memory().unwrap();
        store.write(|w| {
            for firm in &world.firms { w.put_firm(firm)?; }
            for member in &world.members { w.put_member(member)?; }
            for project in &world.projects { w.put_project(project)?; }
            for (firm, milestone) in &world.milestones { w.put_milestone(*firm, milestone)?; }
            Ok::<_, store::Error>(())
        }).unwrap();
        let config = Config { statuses: firmhook::import::project_statuses(), shared_number: None, max_batch: 1, seen_keep_seconds: store::SEEN_KEEP_SECONDS, retention: store::Retention::default(), strangers_per_day: firmhook::writer::DEFAULT_STRANGERS_PER_DAY, strangers: Default::default(), clock: Default::default() };
        let metrics = Metrics::default();
        for (n, (who, content)) in messages.iter().enumerate() {
            let sender = phone(*who);
            let before = state(&store);
            let content = match content.strip_prefix("text:") {
                Some(text) => Content::Text(text.to_owned()),
                None => Content::Button { id: content.trim_start_matches("button:").to_owned(), title: String::new() },
            };
            let number = world.firms[n % world.firms.len()].phone_number_id.unwrap();
            let delivery = Delivery {
                messages: vec![Message {
                    wamid: format!("wamid.{n}"),
                    phone_number_id: firmhook::domain::BusinessNumber::new(number),
                    sender: Sender { wa_id: Some(PHONES[*who].to_owned()), bsuid: None, own_wa_id: true },
                    timestamp: 0,
                    content,
                }],
                statuses: vec![],
                dropped: vec![],
                past: vec![],
            };
            store.write(|w| writer::apply(w, &delivery, &config, &metrics)).unwrap();
            let after = state(&store);
            // An authorised tap does what it says: the client's `mil:` on a
            // milestone awaiting approval approves it, the designer's `rdy:`
            // on a pending one of a project with a client phone asks for
            // approval (on the firm's own number, since the message came in
            // on one).
            let tapped = messages[n].1.strip_prefix("button:").and_then(|id| firmhook::flow::Action::parse(id).ok());
            let authorised = |milestone: MilestoneId, needs: &dyn Fn(&Project) -> bool, from: MilestoneStatus| {
                world.milestones.iter().find(|(_, m)| m.id == milestone).and_then(|(_, m)| {
                    let project = world.projects.iter().find(|p| p.id == m.project_id)?;
                    let own_number = world.firms.iter().any(|f| f.id == project.firm_id && f.phone_number_id == Some(number));
                    (own_number && needs(project) && before.0[&milestone] == from).then_some(())
                })
            };
            match tapped {
                Some(firmhook::flow::Action::Approve(m)) if authorised(m, &|p| is_client(sender, p), MilestoneStatus::AwaitingApproval).is_some() => {
                    prop_assert_eq!(after.0[&m], MilestoneStatus::Approved, "{}'s authorised mil: tap on {:?} changed nothing", PHONES[*who], m);
                }
                // (A project with no client phone has nobody to ask: the
                // designer is told so and nothing changes.)
                Some(firmhook::flow::Action::Ready(m)) if authorised(m, &|p| is_designer(&world, sender, p) && p.client_phone.is_some(), MilestoneStatus::Pending).is_some() => {
                    prop_assert_eq!(after.0[&m], MilestoneStatus::AwaitingApproval, "{}'s authorised rdy: tap on {:?} changed nothing", PHONES[*who], m);
                }
                _ => {}
            }
            for (id, status) in &after.0 {
                let was = before.0[id];
                if *status == was { continue; }
                let (_, milestone) = world.milestones.iter().find(|(_, m)| m.id == *id).unwrap();
                let project = world.projects.iter().find(|p| p.id == milestone.project_id).unwrap();
                match (was, *status) {
                    (MilestoneStatus::Pending, MilestoneStatus::AwaitingApproval) => {
                        prop_assert!(is_designer(&world, sender, project), "{} marked {id:?} ready without being its designer", PHONES[*who]);
                    }
                    (MilestoneStatus::AwaitingApproval, MilestoneStatus::Approved) => {
                        prop_assert!(is_client(sender, project), "{} approved {id:?} without being its client", PHONES[*who]);
                    }
                    other => prop_assert!(false, "impossible transition {other:?}"),
                }
            }
            for (id, status) in &after.1 {
                if *status == before.1[id] { continue; }
                let project = world.projects.iter().find(|p| p.id == *id).unwrap();
                prop_assert!(is_designer(&world, sender, project), "{} changed the status of {id:?} without being its designer", PHONES[*who]);
            }
        }
        let (_, problems) = store::check(&store.read().unwrap()).unwrap();
        prop_assert!(problems.is_empty(), "{problems:?}");
    }
}
