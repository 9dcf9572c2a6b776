//! Tenant isolation through the admin API, as a property: over the demo's
//! three firms, with a token for each, random calls (every method, every
//! firm in the path, and project and milestone ids drawn apart from every
//! firm's records, so "my project, another firm's milestone" and the
//! reverse occur, as do ids of records deleted earlier in the case) never
//! change another firm's data, never answer with another firm's ids, and
//! answer 404 for anything of another firm; and a token's calls on its own
//! firm's records do what they say. The operator's token is not used: it
//! may see everything.
//!
//! One server per case; 64 cases of 20 to 40 calls.
//! `PROPTEST_CASES=256 cargo test api_isolation` for a longer run.
//! Mutation (docs/testing.md): `FIRMHOOK_MUTATE=firm_scope cargo test
//! --features mutations api_isolation` lets a firm token into every firm,
//! and this property fails.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;

use crate::support::*;

const FIRMS: [&str; 3] = [
    "0195a000-0000-7000-8000-0000000000f1",
    "0195a000-0000-7000-8000-0000000000f2",
    "0195a000-0000-7000-8000-0000000000f3",
];

/// One firm's records as they stand: ids by kind, and its data as text.
#[derive(Debug, Clone, Default, PartialEq)]
struct Firm {
    members: Vec<String>,
    /// Each project with its milestones.
    projects: BTreeMap<String, Vec<String>>,
    text: String,
}

impl Firm {
    fn ids(&self) -> impl Iterator<Item = &String> {
        self.members
            .iter()
            .chain(self.projects.keys())
            .chain(self.projects.values().flatten())
    }

    fn has(&self, id: &str) -> bool {
        self.ids().any(|own| own == id)
    }

    fn has_member(&self, id: &str) -> bool {
        self.members.iter().any(|m| m == id)
    }

    fn has_milestone(&self, id: &str) -> bool {
        self.projects.values().flatten().any(|m| m == id)
    }
}

fn state(app: &App) -> BTreeMap<&'static str, Firm> {
    let reader = app.snapshot().read().unwrap();
    let mut out = BTreeMap::new();
    for firm in FIRMS {
        let id = firmhook::domain::FirmId::parse(firm).unwrap();
        let mut state = Firm {
            text: format!("{:?}", reader.firm(id).unwrap()),
            ..Firm::default()
        };
        for m in reader.members_page(id, None, 1000).unwrap().items {
            state.members.push(m.id.to_string());
            state.text.push_str(&format!("{m:?}"));
        }
        for p in reader
            .projects_page(id, None, 1000, |_| true)
            .unwrap()
            .items
        {
            state.text.push_str(&format!("{p:?}"));
            let milestones = reader.milestones_of(id, p.id).unwrap();
            for m in &milestones {
                state.text.push_str(&format!("{m:?}"));
            }
            state.projects.insert(
                p.id.to_string(),
                milestones.iter().map(|m| m.id.to_string()).collect(),
            );
        }
        out.insert(firm, state);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Call {
    GetFirm,
    PutFirm,
    DeleteFirm,
    ListProjects,
    GetProject,
    PatchProject,
    PutProject,
    DeleteProject,
    GetMember,
    PutMember,
    DeleteMember,
    ListMilestones,
    PutMilestone,
    DeleteMilestone,
    Ready,
    Events,
    Resolve,
}

fn calls() -> impl Strategy<Value = Call> {
    prop::sample::select(vec![
        Call::GetFirm,
        Call::PutFirm,
        Call::DeleteFirm,
        Call::ListProjects,
        Call::GetProject,
        Call::PatchProject,
        Call::PutProject,
        Call::DeleteProject,
        Call::GetMember,
        Call::PutMember,
        Call::DeleteMember,
        Call::ListMilestones,
        Call::PutMilestone,
        Call::DeleteMilestone,
        Call::Ready,
        Call::Events,
        Call::Resolve,
    ])
}

/// One step: who calls, what, the firm in the path, and three picks: the
/// project id, the milestone (or member) id, and whether the caller's own
/// ids are preferred (so own-firm calls on real records are frequent).
type Step = (
    usize,
    Call,
    usize,
    prop::sample::Index,
    prop::sample::Index,
    bool,
);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            0..3usize,
            calls(),
            prop_oneof![3 => Just(None), 1 => (0..3usize).prop_map(Some)],
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            any::<bool>(),
        )
            .prop_map(|(who, call, path, a, b, own)| (who, call, path.unwrap_or(who), a, b, own)),
        20..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(proptest_cases(64)))]

    #[test]
    fn no_firm_token_reads_or_changes_another_firms_data(steps in steps()) {
        let tmp = tempfile::tempdir().unwrap();
        let app = spawn_app(&tmp.path().join("db.redb"), None);
        let tokens: Vec<String> = FIRMS
            .iter()
            .map(|firm| {
                let (_, body) = api(&app, "POST", &format!("/api/v1/firms/{firm}/tokens"), Some(ADMIN), Some(&json!({})));
                body["token"].as_str().unwrap().to_owned()
            })
            .collect();
        // Every id that ever existed, by kind: deleted ones stay drawable.
        let start = state(&app);
        let mut projects: Vec<String> = start.values().flat_map(|f| f.projects.keys().cloned()).collect();
        let mut others: Vec<String> = start
            .values()
            .flat_map(|f| f.members.iter().chain(f.projects.values().flatten()).cloned())
            .collect();
        // And ids that never existed.
        projects.push("0195a000-0000-7000-8000-00000000dead".into());
        others.push("0195a000-0000-7000-8000-00000000beef".into());
        let mut own_successes = 0;
        for (who, call, in_path, pick_a, pick_b, prefer_own) in steps {
            let before = state(&app);
            let (own, firm) = (FIRMS[who], FIRMS[in_path]);
            let mine = &before[own];
            let (project, id) = if prefer_own && !mine.projects.is_empty() {
                let project = pick_a.get(&mine.projects.keys().cloned().collect::<Vec<_>>()).clone();
                let pool: Vec<String> = mine.projects[&project].iter().chain(&mine.members).cloned().collect();
                let id = if pool.is_empty() { pick_b.get(&others).clone() } else { pick_b.get(&pool).clone() };
                (project, id)
            } else {
                (pick_a.get(&projects).clone(), pick_b.get(&others).clone())
            };
            let body = if matches!(call, Call::PutMilestone) {
                json!({"title": "T", "status": "pending", "position": 1})
            } else {
                json!({"name": "X", "country": "GB", "status": "Active", "created_at": "2026-01-01",
                       "client_phone": "+447911123403"})
            };
            let (method, path, send) = match call {
                Call::GetFirm => ("GET", format!("/api/v1/firms/{firm}"), false),
                Call::PutFirm => ("PUT", format!("/api/v1/firms/{firm}"), true),
                Call::DeleteFirm => ("DELETE", format!("/api/v1/firms/{firm}?cascade=true"), false),
                Call::ListProjects => ("GET", format!("/api/v1/firms/{firm}/projects"), false),
                Call::GetProject => ("GET", format!("/api/v1/firms/{firm}/projects/{project}"), false),
                Call::PatchProject => ("PATCH", format!("/api/v1/firms/{firm}/projects/{project}"), true),
                Call::PutProject => ("PUT", format!("/api/v1/firms/{firm}/projects/{project}"), true),
                Call::DeleteProject => ("DELETE", format!("/api/v1/firms/{firm}/projects/{project}"), false),
                Call::GetMember => ("GET", format!("/api/v1/firms/{firm}/members/{id}"), false),
                Call::PutMember => ("PUT", format!("/api/v1/firms/{firm}/members/{id}"), true),
                Call::DeleteMember => ("DELETE", format!("/api/v1/firms/{firm}/members/{id}"), false),
                Call::ListMilestones => ("GET", format!("/api/v1/firms/{firm}/projects/{project}/milestones"), false),
                Call::PutMilestone => ("PUT", format!("/api/v1/firms/{firm}/projects/{project}/milestones/{id}"), true),
                Call::DeleteMilestone => ("DELETE", format!("/api/v1/firms/{firm}/projects/{project}/milestones/{id}"), false),
                Call::Ready => ("POST", format!("/api/v1/firms/{firm}/milestones/{id}/ready"), false),
                Call::Events => ("GET", format!("/api/v1/firms/{firm}/events"), false),
                Call::Resolve => ("GET", "/api/v1/resolve?phone=447911123401".to_owned(), false),
            };
            let (status, answer) = api(&app, method, &path, Some(&tokens[who]), send.then_some(&body));
            let after = state(&app);
            let context = format!("{method} {path} by {own}'s token answered {status}: {answer}");
            // Another firm's data: unchanged, and none of its ids in the answer.
            for (other, theirs) in &before {
                if *other == own {
                    continue;
                }
                prop_assert_eq!(&after[other].text, &theirs.text, "changed {}: {}", other, context);
                let text = answer.to_string();
                for leaked in theirs.ids().filter(|id| !path.contains(id.as_str()) && !mine.has(id)) {
                    prop_assert!(!text.contains(leaked.as_str()), "leaked {}'s id {}: {}", other, leaked, context);
                }
            }
            // Anything of another firm in the path: 404, as for what does
            // not exist. Ids are told apart by kind: a member id may equal
            // another firm's milestone id.
            let elsewhere = |has: &dyn Fn(&Firm) -> bool| {
                before.iter().any(|(f, s)| *f != own && has(s)) && !has(mine)
            };
            let project_path = matches!(
                call,
                Call::GetProject | Call::PatchProject | Call::PutProject | Call::DeleteProject
                    | Call::ListMilestones | Call::PutMilestone | Call::DeleteMilestone
            );
            let member_call = matches!(call, Call::GetMember | Call::PutMember | Call::DeleteMember);
            let milestone_call = matches!(call, Call::PutMilestone | Call::DeleteMilestone | Call::Ready);
            let touches_foreign = in_path != who
                || (project_path && elsewhere(&|f: &Firm| f.projects.contains_key(&project)))
                || (member_call && elsewhere(&|f: &Firm| f.has_member(&id)))
                || (milestone_call && elsewhere(&|f: &Firm| f.has_milestone(&id)));
            if touches_foreign && path.starts_with("/api/v1/firms/") {
                prop_assert_eq!(status, 404, "{}", context);
                continue;
            }
            // The operator's acts: 404 to a firm token, even on its own firm.
            if matches!(call, Call::PutFirm | Call::DeleteFirm) {
                prop_assert_eq!(status, 404, "{}", context);
                continue;
            }
            // The token's own records: the call does what it says.
            let own_project = mine.projects.contains_key(&project);
            let own_milestone = mine.projects.get(&project).is_some_and(|m| m.contains(&id));
            let own_member = mine.members.contains(&id);
            let expected: Option<&[u16]> = match call {
                Call::GetFirm | Call::ListProjects | Call::Events | Call::Resolve => Some(&[200]),
                Call::GetProject | Call::ListMilestones | Call::PatchProject if own_project => Some(&[200]),
                Call::PutProject if own_project => Some(&[200]),
                Call::DeleteProject if own_project => Some(&[204]),
                Call::GetMember | Call::PutMember if own_member => Some(&[200]),
                // A designer still named by a project stays.
                Call::DeleteMember if own_member => Some(&[204, 409]),
                Call::PutMilestone if own_milestone => Some(&[200]),
                Call::DeleteMilestone if own_milestone => Some(&[204]),
                // Ready only from `pending`.
                Call::Ready if own_milestone => Some(&[200, 409]),
                _ => None,
            };
            if let Some(expected) = expected {
                prop_assert!(expected.contains(&status), "expected {:?}: {}", expected, context);
                own_successes += 1;
                if call == Call::DeleteProject {
                    prop_assert!(!after[own].projects.contains_key(&project), "not deleted: {}", context);
                }
            }
        }
        prop_assert!(own_successes > 0, "no own-firm call was checked in this case");
        let reader = app.snapshot().read().unwrap();
        let (_, problems) = firmhook::store::check(&reader).unwrap();
        prop_assert!(problems.is_empty(), "{:?}", problems);
    }
}
