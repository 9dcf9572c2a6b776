//! Tenant isolation through the admin API, as a property: over the demo's
//! three firms, with a token for each, random calls (every method, every
//! firm in the path, every firm's ids as the resource) never change another
//! firm's data and never answer with another firm's ids. The operator's
//! token is not used: it may see everything.
//!
//! One server per case (each case is a sequence of calls);
//! `PROPTEST_CASES=64 cargo test api_isolation` for a longer run.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;

use crate::support::*;

const FIRMS: [&str; 3] = [
    "0195a000-0000-7000-8000-0000000000f1",
    "0195a000-0000-7000-8000-0000000000f2",
    "0195a000-0000-7000-8000-0000000000f3",
];

/// Every id of a firm (records and the firm itself), and its data as text.
fn firm_state(app: &App) -> BTreeMap<String, (Vec<String>, String)> {
    let reader = app.snapshot().read().unwrap();
    let mut out = BTreeMap::new();
    for firm in FIRMS {
        let id = firmhook::domain::FirmId::parse(firm).unwrap();
        let mut ids = vec![firm.to_owned()];
        let mut text = format!("{:?}", reader.firm(id).unwrap());
        let members = reader.members_page(id, None, 1000).unwrap();
        for m in &members.items {
            ids.push(m.id.to_string());
            text.push_str(&format!("{m:?}"));
        }
        let projects = reader.projects_page(id, None, 1000, |_| true).unwrap();
        for p in &projects.items {
            ids.push(p.id.to_string());
            text.push_str(&format!("{p:?}"));
            for m in reader.milestones_of(id, p.id).unwrap() {
                ids.push(m.id.to_string());
                text.push_str(&format!("{m:?}"));
            }
        }
        out.insert(firm.to_owned(), (ids, text));
    }
    out
}

#[derive(Debug, Clone)]
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
    prop_oneof![
        Just(Call::GetFirm),
        Just(Call::PutFirm),
        Just(Call::DeleteFirm),
        Just(Call::ListProjects),
        Just(Call::GetProject),
        Just(Call::PatchProject),
        Just(Call::PutProject),
        Just(Call::DeleteProject),
        Just(Call::GetMember),
        Just(Call::PutMember),
        Just(Call::DeleteMember),
        Just(Call::ListMilestones),
        Just(Call::PutMilestone),
        Just(Call::DeleteMilestone),
        Just(Call::Ready),
        Just(Call::Events),
        Just(Call::Resolve),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(proptest_cases(6)))]

    #[test]
    fn no_firm_token_reads_or_changes_another_firms_data(
        steps in prop::collection::vec((0..3usize, calls(), 0..3usize, any::<prop::sample::Index>()), 1..40)
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let app = spawn_app(&tmp.path().join("db.redb"), None);
        let tokens: Vec<String> = FIRMS
            .iter()
            .map(|firm| {
                let (_, body) = api(&app, "POST", &format!("/api/v1/firms/{firm}/tokens"), Some(ADMIN), Some(&json!({})));
                body["token"].as_str().unwrap().to_owned()
            })
            .collect();
        let all_ids: Vec<String> = firm_state(&app).values().flat_map(|(ids, _)| ids.clone()).collect();
        for (who, call, in_path, pick) in steps {
            let before = firm_state(&app);
            let token = &tokens[who];
            let firm = FIRMS[in_path];
            let id = pick.get(&all_ids).clone();
            let body = json!({"name": "X", "country": "GB", "status": "Active", "title": "T",
                              "position": 1, "created_at": "2026-01-01", "client_phone": "+447911123403"});
            let (method, path, send) = match call {
                Call::GetFirm => ("GET", format!("/api/v1/firms/{firm}"), false),
                Call::PutFirm => ("PUT", format!("/api/v1/firms/{firm}"), true),
                Call::DeleteFirm => ("DELETE", format!("/api/v1/firms/{firm}?cascade=true"), false),
                Call::ListProjects => ("GET", format!("/api/v1/firms/{firm}/projects"), false),
                Call::GetProject => ("GET", format!("/api/v1/firms/{firm}/projects/{id}"), false),
                Call::PatchProject => ("PATCH", format!("/api/v1/firms/{firm}/projects/{id}"), true),
                Call::PutProject => ("PUT", format!("/api/v1/firms/{firm}/projects/{id}"), true),
                Call::DeleteProject => ("DELETE", format!("/api/v1/firms/{firm}/projects/{id}"), false),
                Call::GetMember => ("GET", format!("/api/v1/firms/{firm}/members/{id}"), false),
                Call::PutMember => ("PUT", format!("/api/v1/firms/{firm}/members/{id}"), true),
                Call::DeleteMember => ("DELETE", format!("/api/v1/firms/{firm}/members/{id}"), false),
                Call::ListMilestones => ("GET", format!("/api/v1/firms/{firm}/projects/{id}/milestones"), false),
                Call::PutMilestone => {
                    let project = pick.get(&all_ids);
                    ("PUT", format!("/api/v1/firms/{firm}/projects/{project}/milestones/{id}"), true)
                }
                Call::DeleteMilestone => {
                    let project = pick.get(&all_ids);
                    ("DELETE", format!("/api/v1/firms/{firm}/projects/{project}/milestones/{id}"), false)
                }
                Call::Ready => ("POST", format!("/api/v1/firms/{firm}/milestones/{id}/ready"), false),
                Call::Events => ("GET", format!("/api/v1/firms/{firm}/events"), false),
                Call::Resolve => ("GET", "/api/v1/resolve?phone=447911123401".to_owned(), false),
            };
            let (status, answer) = api(&app, method, &path, Some(token), send.then_some(&body));
            let after = firm_state(&app);
            let own = FIRMS[who];
            for (other, (ids, text)) in &before {
                if other == own {
                    continue;
                }
                prop_assert_eq!(&after[other].1, text, "{} {} by {}'s token changed {}", method, path, own, other);
                let answer = answer.to_string();
                let own_ids = &before[own].0;
                // An id the caller sent is no disclosure (an id of one kind
                // may equal another firm's id of another kind).
                for leaked in ids.iter().filter(|id| !own_ids.contains(id) && !path.contains(id.as_str())) {
                    prop_assert!(!answer.contains(leaked.as_str()),
                        "{} {} by {}'s token answered {} with {}'s id {}: {}", method, path, own, status, other, leaked, answer);
                }
            }
            if in_path != who && path.starts_with("/api/v1/firms/") {
                prop_assert!(status == 404 || status == 401 || status == 400 || status == 405,
                    "{} {} by another firm's token answered {}", method, path, status);
            }
        }
        let reader = app.snapshot().read().unwrap();
        let (_, problems) = firmhook::store::check(&reader).unwrap();
        prop_assert!(problems.is_empty(), "{:?}", problems);
    }
}
