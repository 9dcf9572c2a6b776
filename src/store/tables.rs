//! Every table of the database, in one place: the list in
//! [`every_table!`] makes the table definitions here, the writer's handle
//! for each and its creation (`write.rs`), and the backup's copy
//! (`backup.rs`); `check`, `/metrics` and compaction go over whatever
//! tables the file has. Adding a table is one entry in the list.
//!
//! Keys are tuples of fixed-width parts (ids as `u128`, phones as `u64`), so
//! a prefix of a key is a range and every lookup is one seek. Record values
//! are versioned postcard bytes (see `codec`). Never rename a table's string
//! name: add a new table and migrate instead.

use redb::TableDefinition;

/// Raw record bytes as written by `codec::encode`.
pub type Bytes = &'static [u8];
/// (phone, role, firm_id, rank, id): see `PHONE_ROLES`.
pub type RoleKey = (u64, u8, u128, u64, u128);
/// (firm_id, member_id, rank, project_id): see `MEMBER_PROJECTS`.
pub type MemberProjectKey = (u128, u128, u64, u128);

/// Calls the macro `$then` with every table as
/// `/// doc`, `CONST field: Key => Value = "name";`.
macro_rules! every_table {
    ($then:ident) => {
        $then! {
            /// "format" → the file format this file was last written with (see
            /// `store::FORMAT`); a build refuses a file of a newer format.
            META meta: &'static str => u32 = "meta";
            /// firm_id → Firm
            FIRMS firms: u128 => Bytes = "firms";
            /// (firm_id, member_id) → Member
            MEMBERS members: (u128, u128) => Bytes = "members";
            /// (firm_id, project_id) → Project
            PROJECTS projects: (u128, u128) => Bytes = "projects";
            /// (firm_id, project_id, milestone_id) → Milestone
            MILESTONES milestones: (u128, u128, u128) => Bytes = "milestones";
            /// (phone, role, firm_id, rank, id) → (). One index for the three phone
            /// fields, so one range scan on a phone returns every role it holds, in pass
            /// order. role: see `resolve::IndexRole`; rank: newest first (0 for members);
            /// id: the member for role 1, the project otherwise.
            PHONE_ROLES phone_roles: RoleKey => () = "phone_roles";
            /// (firm_id, member_id, rank, project_id) → (): a member's projects by
            /// `designer_member_id`, newest first.
            MEMBER_PROJECTS member_projects: MemberProjectKey => () = "member_projects";
            /// project_id → firm_id (a button carries only the project id).
            PROJECT_FIRM project_firm: u128 => u128 = "project_firm";
            /// member_id → firm_id (ids are unique across firms).
            MEMBER_FIRM member_firm: u128 => u128 = "member_firm";
            /// milestone_id → (firm_id, project_id)
            MILESTONE_OWNER milestone_owner: u128 => (u128, u128) = "milestone_owner";
            /// phone_number_id → firm_id
            FIRM_BY_NUMBER firm_by_number: u64 => u128 = "firm_by_number";
            /// wamid → received_at (Unix seconds): every inbound message we processed.
            /// Written in the same transaction as the message's effects (exactly once).
            SEEN seen: &'static str => u64 = "seen_messages";
            /// (received_at, wamid) → (): prunes `SEEN` oldest first.
            ///
            /// `SEEN` and `SEEN_BY_TIME` are the first two formats' record of
            /// processed wamids: format 3 writes `SEEN_LOG` instead, and only prunes
            /// these until they are empty (8 days after an upgrade).
            SEEN_BY_TIME seen_by_time: (u64, &'static str) => () = "seen_by_time";
            /// (received_at, seq) → the first 16 bytes of a processed wamid's SHA-256,
            /// one row per message: format 3's record of processed wamids. Format 4
            /// writes `SEEN_BATCHES` instead, and only prunes this until it is empty.
            SEEN_LOG seen_log: (u64, u64) => u128 = "seen_log";
            /// (received_at, seq) → the keys of the inbound messages one commit
            /// processed, each the first 16 bytes of the wamid's SHA-256, big-endian,
            /// one after another: every message processed in the last 8 days. An
            /// append-only log of one row per commit (a batch of 15 messages is one
            /// insert, not 15); the writer thread keeps the keys in memory to answer
            /// "seen?" (format 4).
            SEEN_BATCHES seen_batches: (u64, u64) => Bytes = "seen_batches";
            /// seq → Outbound: every reply we queued, with its delivery state.
            OUTBOX outbox: u64 => Bytes = "outbox";
            /// (due at, Unix ms, seq) → (): the replies still to send, soonest first.
            OUTBOX_DUE outbox_due: (u64, u64) => () = "outbox_due";
            /// Graph API wamid of a sent reply → its outbox seq (for status webhooks).
            OUTBOUND_WAMID outbound_wamid: &'static str => u64 = "outbound_wamid";
            /// seq → Event: the audit trail.
            EVENTS events: u64 => Bytes = "events";
            /// BSUID → phone, remembered from messages that carried both.
            BSUID_PHONE bsuid_phone: &'static str => u64 = "bsuid_phone";
            /// sender (wa_id or BSUID) → when the registration hint last went to them.
            HINTS hints: &'static str => i64 = "hints";
            /// seq → domain Event: the change feed of DESIGN section 11.
            FEED feed: u64 => Bytes = "feed";
            /// (firm_id, seq) → (): one firm's part of the feed.
            FEED_BY_FIRM feed_by_firm: (u128, u64) => () = "feed_by_firm";
            /// (firm_id, token_id) → Token (its hash, never the token).
            TOKENS tokens: (u128, u128) => Bytes = "tokens";
            /// SHA-256 of a token → (firm_id, token_id).
            TOKEN_BY_HASH token_by_hash: &'static [u8] => (u128, u128) = "token_by_hash";
            /// (firm_id, seq) → Logged: a firm's inbound and outbound messages.
            MESSAGE_LOG message_log: (u128, u64) => Bytes = "message_log";
            /// outbox seq → firm_id, for replies that belong to a firm (its feed hears
            /// of a reply given up): formats before 4. Format 4 keeps the firm in the
            /// outbox row (`Outbound::firm`); this is read for older rows and pruned
            /// with them.
            OUTBOX_FIRM outbox_firm: u64 => u128 = "outbox_firm";
            /// outbox seq → the raw bytes of an outbox row that could not be decoded:
            /// kept for a person to look at, out of the sender's way.
            QUARANTINE quarantine: u64 => Bytes = "quarantine";
            /// (business number, person) → Unix seconds of the person's last message
            /// to that number, by Meta's clock: the 24-hour window. The person is
            /// their canonical phone digits, or their BSUID when no phone is known.
            LAST_INBOUND last_inbound: (u64, &'static str) => i64 = "last_inbound";
            /// (firm_id, person) → the business number the person last wrote to in a
            /// message that reached the firm: where the firm's notices to them go
            /// from when the firm has no number of its own (DESIGN section 12). The
            /// person is as in `LAST_INBOUND`. Written only when it changes; added
            /// after format 4 (a file without it has no such numbers yet).
            CONTACT_NUMBER contact_number: (u128, &'static str) => u64 = "contact_number";
            /// milestone_id → (Unix seconds, source) of the milestone's last status
            /// change: what an import names when it keeps a status the file would
            /// take back. Added after format 4.
            MILESTONE_MOVED milestone_moved: u128 => (i64, &'static str) = "milestone_moved";
            /// (business number, person, outbox seq) → (): notifications held for a
            /// closed window, released oldest first when the person next writes.
            HELD held: (u64, &'static str, u64) => () = "held";
            /// (firm_id, 0 for the operator's default; template kind) → Template.
            TEMPLATES templates: (u128, u8) => Bytes = "templates";
            /// firm_id → Hook: where the firm's events are pushed.
            HOOKS hooks: u128 => Bytes = "hooks";
            /// firm_id → Unix seconds when the firm's event webhook answered 410 Gone:
            /// no push goes to it until its URL is set again. Added after format 4.
            HOOK_DISABLED hook_disabled: u128 => i64 = "hook_disabled";
            /// seq → Push: events waiting to be pushed (removed once delivered).
            PUSHES pushes: u64 => Bytes = "pushes";
            /// (due at, Unix ms, seq) → (): the pushes to try, soonest first.
            PUSH_DUE push_due: (u64, u64) => () = "push_due";
            /// firm_id → how many members, projects and milestones the firm has, for
            /// its quota (DESIGN section 10). Written the first time a quota is
            /// checked for the firm (counted then), exact after: every insert and
            /// delete of a firm with an entry updates it. Added after format 4; a file
            /// without it simply has no counts yet.
            FIRM_RECORDS firm_records: u128 => u64 = "firm_records";
            /// (sent at, sender) → (): prunes `HINTS` oldest first. Added after the
            /// first release: hints recorded before it are never pruned.
            HINTS_BY_TIME hints_by_time: (i64, &'static str) => () = "hints_by_time";
        }
    };
}
pub(crate) use every_table;

macro_rules! definitions {
    ($($(#[$doc:meta])* $konst:ident $field:ident: $k:ty => $v:ty = $name:literal;)*) => {
        $($(#[$doc])* pub const $konst: TableDefinition<$k, $v> = TableDefinition::new($name);)*

        /// Every table's name, as the file has it.
        pub const NAMES: &[&str] = &[$($name),*];
    };
}
every_table!(definitions);

/// (kind, id) → (): the ids one import has used so far, to report an id
/// given twice. It lives only inside the import's transaction and is
/// deleted before that commits, so no committed file has it: on disk, not
/// in memory, so an import of any size runs in bounded memory.
pub const IMPORT_IDS: TableDefinition<(u8, u128), ()> = TableDefinition::new("import_ids");

#[cfg(test)]
mod tests {
    use super::NAMES;
    use crate::store::Store;

    /// The one list makes every table: a new database has each of them,
    /// and `/metrics` (`table_sizes`) names each.
    #[test]
    fn a_new_database_has_every_table_of_the_list() {
        let store = Store::in_memory().unwrap();
        let sizes = store.read().unwrap().table_sizes().unwrap();
        let names: Vec<&str> = sizes.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(&names[..NAMES.len()], NAMES);
        let txn = store.read().unwrap();
        let created: Vec<String> = txn
            .txn()
            .list_tables()
            .unwrap()
            .map(|h| redb::TableHandle::name(&h).to_owned())
            .collect();
        for name in NAMES {
            assert!(created.iter().any(|c| c == name), "{name} was not created");
        }
        assert!(NAMES.len() >= 39, "{}", NAMES.len());
    }
}
