//! The bytes of every stored layout, frozen (issue 24): one sample record
//! of each kind is encoded and compared with `tests/fixtures/layouts.txt`,
//! where each line is `<name> v<version> <hex>`. Changing a record's
//! fields, their order or their types without a new version changes its
//! bytes and fails this test; a new version is a new line, which
//! `FIRMHOOK_WRITE_LAYOUTS=1 cargo test --lib layouts` adds (it never
//! rewrites a line that is there).

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::domain::event::{Change, Direction, Event, Hook, Logged, Push, Source};
    use crate::domain::{
        Country, Firm, FirmId, Lang, Member, MemberId, Milestone, MilestoneId, MilestoneStatus,
        Phone, Project, ProjectId, ProjectStatus, Timestamp, Token, TokenId,
    };
    use crate::notify::{Notice, Purpose, Template, TemplateKind};
    use crate::store::codec::{Record, encode};
    use crate::store::{Outbound, State};
    use crate::whatsapp::outbound::{Body, Choice, Recipient};

    /// `label` names the table the record is stored in.
    fn line<T: Record>(label: &str, record: &T) -> (String, String) {
        let bytes = encode(record);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        (format!("{label} v{}", T::VERSION), hex)
    }

    /// One sample of every stored record kind, with every optional field
    /// given and every enum at a variant that carries data.
    fn samples() -> Vec<(String, String)> {
        let firm = FirmId::from_u128(0x0195a000_0000_7000_8000_0000000000f1);
        let project = ProjectId::from_u128(0x0195a000_0000_7000_8000_0000000000b3);
        let milestone = MilestoneId::from_u128(0x0195a000_0000_7000_8000_0000000000c5);
        let at = Timestamp::from_unix_seconds(1_765_180_800);
        let phone = Phone::from_wa_id("447911123403").unwrap();
        let status = ProjectStatus::parse("Active", ProjectStatus::DEFAULT_SET).unwrap();
        vec![
            line(
                "firms",
                &Firm {
                    id: firm,
                    name: "Studio Alba".into(),
                    country: Country::parse("GB").unwrap(),
                    phone_number_id: Some(106540352242922),
                    language: Some(Lang::PtBr),
                },
            ),
            line(
                "members",
                &Member {
                    id: MemberId::from_u128(0xa1),
                    firm_id: firm,
                    name: "Olivia Hart".into(),
                    role: "Lead".into(),
                    whatsapp_phone: Some(phone),
                },
            ),
            line(
                "projects",
                &Project {
                    id: project,
                    firm_id: firm,
                    name: "Hampstead Bath".into(),
                    status: status.clone(),
                    client_name: "Lucy Gray".into(),
                    client_phone: Some(phone),
                    designer_member_id: Some(MemberId::from_u128(0xa1)),
                    designer_phone: Some(phone),
                    created_at: at,
                },
            ),
            line(
                "milestones",
                &Milestone {
                    id: milestone,
                    project_id: project,
                    title: "Tile selection".into(),
                    status: MilestoneStatus::AwaitingApproval,
                    position: 1,
                },
            ),
            line(
                "tokens",
                &Token {
                    firm,
                    id: TokenId::from_u128(7),
                    label: "studio app".into(),
                    hash: [9; 32],
                    created_at: at,
                    last_used: Some(at),
                },
            ),
            line(
                "hooks",
                &Hook {
                    firm,
                    url: "https://hooks.example.com/firmhook".into(),
                    secret: vec![1, 2, 3],
                },
            ),
            line(
                "pushes",
                &Push {
                    seq: 3,
                    firm,
                    event: 17,
                    attempts: 2,
                    last_error: Some("HTTP 500".into()),
                },
            ),
            line(
                "message_log",
                &Logged {
                    firm,
                    seq: 4,
                    at,
                    direction: Direction::Outbound,
                    peer: "447911123403".into(),
                    kind: "buttons".into(),
                    text: "Tile selection".into(),
                    outbox: Some(12),
                },
            ),
            line(
                "feed",
                &Event {
                    seq: 17,
                    id: 0x01a2,
                    firm,
                    at,
                    source: Source::Console,
                    change: Change::ProjectStatusChanged {
                        project,
                        from: "Active".into(),
                        to: "On Hold".into(),
                    },
                },
            ),
            line(
                "events",
                &crate::store::Event {
                    seq: 5,
                    at: 1_765_180_800,
                    firm: Some(firm),
                    actor: "447911123403".into(),
                    wamid: "wamid.1".into(),
                    what: "milestone approved".into(),
                },
            ),
            line(
                "templates",
                &Template {
                    name: "milestone_ready".into(),
                    language: "pt_BR".into(),
                },
            ),
            line(
                "outbox",
                &Outbound {
                    seq: 12,
                    phone_number_id: "106540352242922".into(),
                    to: Recipient::WaId("447911123403".into()),
                    body: Body::Buttons {
                        body: "Tile selection is ready".into(),
                        buttons: vec![Choice {
                            id: format!("mil:{milestone}"),
                            title: "Approve".into(),
                            description: String::new(),
                        }],
                    },
                    in_reply_to: "wamid.1".into(),
                    created_at: 1_765_180_800,
                    attempts: 1,
                    state: State::Held,
                    wamid: Some("wamid.out.1".into()),
                    last_error: Some("error 131047: outside the window".into()),
                    purpose: Purpose::Notification {
                        firm,
                        notice: Notice {
                            kind: TemplateKind::MilestoneReady,
                            params: vec!["Hampstead Bath".into(), "Tile selection".into()],
                            button: Some(format!("mil:{milestone}")),
                        },
                    },
                    templated: true,
                    firm: Some(firm),
                },
            ),
        ]
    }

    #[test]
    fn every_stored_layout_has_the_bytes_it_was_released_with() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layouts.txt");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut committed: BTreeMap<String, String> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(name, hex)| (name.to_owned(), hex.to_owned()))
            .collect();
        let write = std::env::var("FIRMHOOK_WRITE_LAYOUTS").as_deref() == Ok("1");
        let mut problems = Vec::new();
        let mut added = false;
        for (name, hex) in samples() {
            match committed.get(&name) {
                Some(frozen) if *frozen == hex => {}
                Some(frozen) => problems.push(format!(
                    "{name}: the layout changed without a new version\n  frozen {frozen}\n  now    {hex}"
                )),
                None if write => {
                    committed.insert(name, hex);
                    added = true;
                }
                None => problems.push(format!(
                    "{name}: no frozen bytes; a new version? FIRMHOOK_WRITE_LAYOUTS=1 cargo test \
                     --lib layouts adds them"
                )),
            }
        }
        if added {
            let mut out = String::from(
                "# The bytes of one sample of every stored layout (src/store/layouts.rs).\n\
                 # A line is never changed: a new layout is a new version, a new line.\n",
            );
            for (name, hex) in &committed {
                out.push_str(&format!("{name} {hex}\n"));
            }
            std::fs::write(&path, out).unwrap();
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
