//! Every table of the database, in one place.
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

/// "format" → the file format this file was last written with (see
/// `store::FORMAT`); a build refuses a file of a newer format.
pub const META: TableDefinition<&str, u32> = TableDefinition::new("meta");
/// firm_id → Firm
pub const FIRMS: TableDefinition<u128, Bytes> = TableDefinition::new("firms");
/// (firm_id, member_id) → Member
pub const MEMBERS: TableDefinition<(u128, u128), Bytes> = TableDefinition::new("members");
/// (firm_id, project_id) → Project
pub const PROJECTS: TableDefinition<(u128, u128), Bytes> = TableDefinition::new("projects");
/// (firm_id, project_id, milestone_id) → Milestone
pub const MILESTONES: TableDefinition<(u128, u128, u128), Bytes> =
    TableDefinition::new("milestones");

/// (phone, role, firm_id, rank, id) → (). One index for the three phone
/// fields, so one range scan on a phone returns every role it holds, in pass
/// order. role: see `resolve::IndexRole`; rank: newest first (0 for members);
/// id: the member for role 1, the project otherwise.
pub const PHONE_ROLES: TableDefinition<RoleKey, ()> = TableDefinition::new("phone_roles");
/// (firm_id, member_id, rank, project_id) → (): a member's projects by
/// `designer_member_id`, newest first.
pub const MEMBER_PROJECTS: TableDefinition<MemberProjectKey, ()> =
    TableDefinition::new("member_projects");
/// project_id → firm_id (a button carries only the project id).
pub const PROJECT_FIRM: TableDefinition<u128, u128> = TableDefinition::new("project_firm");
/// member_id → firm_id (ids are unique across firms).
pub const MEMBER_FIRM: TableDefinition<u128, u128> = TableDefinition::new("member_firm");
/// milestone_id → (firm_id, project_id)
pub const MILESTONE_OWNER: TableDefinition<u128, (u128, u128)> =
    TableDefinition::new("milestone_owner");
/// phone_number_id → firm_id
pub const FIRM_BY_NUMBER: TableDefinition<u64, u128> = TableDefinition::new("firm_by_number");

/// wamid → received_at (Unix seconds): every inbound message we processed.
/// Written in the same transaction as the message's effects (exactly once).
pub const SEEN: TableDefinition<&str, u64> = TableDefinition::new("seen_messages");
/// (received_at, wamid) → (): prunes `SEEN` oldest first.
///
/// `SEEN` and `SEEN_BY_TIME` are the first two formats' record of
/// processed wamids: format 3 writes `SEEN_LOG` instead, and only prunes
/// these until they are empty (8 days after an upgrade).
pub const SEEN_BY_TIME: TableDefinition<(u64, &str), ()> = TableDefinition::new("seen_by_time");
/// (received_at, seq) → the first 16 bytes of a processed wamid's SHA-256,
/// one row per message: format 3's record of processed wamids. Format 4
/// writes `SEEN_BATCHES` instead, and only prunes this until it is empty.
pub const SEEN_LOG: TableDefinition<(u64, u64), u128> = TableDefinition::new("seen_log");
/// (received_at, seq) → the keys of the inbound messages one commit
/// processed, each the first 16 bytes of the wamid's SHA-256, big-endian,
/// one after another: every message processed in the last 8 days. An
/// append-only log of one row per commit (a batch of 15 messages is one
/// insert, not 15); the writer thread keeps the keys in memory to answer
/// "seen?" (format 4).
pub const SEEN_BATCHES: TableDefinition<(u64, u64), Bytes> = TableDefinition::new("seen_batches");
/// seq → Outbound: every reply we queued, with its delivery state.
pub const OUTBOX: TableDefinition<u64, Bytes> = TableDefinition::new("outbox");
/// (due at, Unix ms, seq) → (): the replies still to send, soonest first.
pub const OUTBOX_DUE: TableDefinition<(u64, u64), ()> = TableDefinition::new("outbox_due");
/// Graph API wamid of a sent reply → its outbox seq (for status webhooks).
pub const OUTBOUND_WAMID: TableDefinition<&str, u64> = TableDefinition::new("outbound_wamid");
/// seq → Event: the audit trail.
pub const EVENTS: TableDefinition<u64, Bytes> = TableDefinition::new("events");
/// BSUID → phone, remembered from messages that carried both.
pub const BSUID_PHONE: TableDefinition<&str, u64> = TableDefinition::new("bsuid_phone");
/// sender (wa_id or BSUID) → when the registration hint last went to them.
pub const HINTS: TableDefinition<&str, i64> = TableDefinition::new("hints");
/// seq → domain Event: the change feed of DESIGN section 11.
pub const FEED: TableDefinition<u64, Bytes> = TableDefinition::new("feed");
/// (firm_id, seq) → (): one firm's part of the feed.
pub const FEED_BY_FIRM: TableDefinition<(u128, u64), ()> = TableDefinition::new("feed_by_firm");
/// (firm_id, token_id) → Token (its hash, never the token).
pub const TOKENS: TableDefinition<(u128, u128), Bytes> = TableDefinition::new("tokens");
/// SHA-256 of a token → (firm_id, token_id).
pub const TOKEN_BY_HASH: TableDefinition<&[u8], (u128, u128)> =
    TableDefinition::new("token_by_hash");
/// (firm_id, seq) → Logged: a firm's inbound and outbound messages.
pub const MESSAGE_LOG: TableDefinition<(u128, u64), Bytes> = TableDefinition::new("message_log");
/// outbox seq → firm_id, for replies that belong to a firm (its feed hears
/// of a reply given up): formats before 4. Format 4 keeps the firm in the
/// outbox row (`Outbound::firm`); this is read for older rows and pruned
/// with them.
pub const OUTBOX_FIRM: TableDefinition<u64, u128> = TableDefinition::new("outbox_firm");
/// outbox seq → the raw bytes of an outbox row that could not be decoded:
/// kept for a person to look at, out of the sender's way.
pub const QUARANTINE: TableDefinition<u64, Bytes> = TableDefinition::new("quarantine");
/// (business number, person) → Unix seconds of the person's last message
/// to that number, by Meta's clock: the 24-hour window. The person is
/// their canonical phone digits, or their BSUID when no phone is known.
pub const LAST_INBOUND: TableDefinition<(u64, &str), i64> = TableDefinition::new("last_inbound");
/// (firm_id, person) → the business number the person last wrote to in a
/// message that reached the firm: where the firm's notices to them go
/// from when the firm has no number of its own (DESIGN section 12). The
/// person is as in `LAST_INBOUND`. Written only when it changes; added
/// after format 4 (a file without it has no such numbers yet).
pub const CONTACT_NUMBER: TableDefinition<(u128, &str), u64> =
    TableDefinition::new("contact_number");
/// milestone_id → (Unix seconds, source) of the milestone's last status
/// change: what an import names when it keeps a status the file would
/// take back. Added after format 4.
pub const MILESTONE_MOVED: TableDefinition<u128, (i64, &str)> =
    TableDefinition::new("milestone_moved");
/// (business number, person, outbox seq) → (): notifications held for a
/// closed window, released oldest first when the person next writes.
pub const HELD: TableDefinition<(u64, &str, u64), ()> = TableDefinition::new("held");
/// (firm_id, 0 for the operator's default; template kind) → Template.
pub const TEMPLATES: TableDefinition<(u128, u8), Bytes> = TableDefinition::new("templates");
/// firm_id → Hook: where the firm's events are pushed.
pub const HOOKS: TableDefinition<u128, Bytes> = TableDefinition::new("hooks");
/// firm_id → Unix seconds when the firm's event webhook answered 410 Gone:
/// no push goes to it until its URL is set again. Added after format 4.
pub const HOOK_DISABLED: TableDefinition<u128, i64> = TableDefinition::new("hook_disabled");
/// seq → Push: events waiting to be pushed (removed once delivered).
pub const PUSHES: TableDefinition<u64, Bytes> = TableDefinition::new("pushes");
/// (due at, Unix ms, seq) → (): the pushes to try, soonest first.
pub const PUSH_DUE: TableDefinition<(u64, u64), ()> = TableDefinition::new("push_due");
/// firm_id → how many members, projects and milestones the firm has, for
/// its quota (DESIGN section 10). Written the first time a quota is
/// checked for the firm (counted then), exact after: every insert and
/// delete of a firm with an entry updates it. Added after format 4; a file
/// without it simply has no counts yet.
pub const FIRM_RECORDS: TableDefinition<u128, u64> = TableDefinition::new("firm_records");
/// (kind, id) → (): the ids one import has used so far, to report an id
/// given twice. It lives only inside the import's transaction and is
/// deleted before that commits, so no committed file has it: on disk, not
/// in memory, so an import of any size runs in bounded memory.
pub const IMPORT_IDS: TableDefinition<(u8, u128), ()> = TableDefinition::new("import_ids");
/// (sent at, sender) → (): prunes `HINTS` oldest first. Added after the
/// first release: hints recorded before it are never pruned.
pub const HINTS_BY_TIME: TableDefinition<(i64, &str), ()> = TableDefinition::new("hints_by_time");
