//! Retention with a controlled clock: rows written with chosen timestamps
//! into a real redb file, pruned by the writer's own pass at a chosen
//! "now"; then `check` and `compact` on the same file.
//!
//! `FIRMHOOK_RETENTION_ROWS` sets how many old message-log rows the compact
//! test writes (default 200,000; docs/operations.md's figure uses 1,000,000).

use firmhook::domain::event::{Change, Direction, Event, Logged, Source};
use firmhook::domain::{FirmId, ProjectId, Timestamp};
use firmhook::notify::Purpose;
use firmhook::store::{self, Attempt, DAY, Outbound, Retention, RetentionCursor, State, Store};
use firmhook::whatsapp::outbound::{Body, Recipient};

use crate::support::*;

const NOW: i64 = 1_800_000_000;

fn firm(n: u128) -> FirmId {
    FirmId::from_u128(0x0195a000_0000_7000_8000_000000000000 + n)
}

fn logged(firm: FirmId, at: i64, outbox: Option<u64>) -> Logged {
    Logged {
        firm,
        seq: 0,
        at: Timestamp::from_unix_seconds(at),
        direction: Direction::Inbound,
        peer: "447700900001".into(),
        kind: "text".into(),
        text: "hello".into(),
        outbox,
    }
}

fn outbound(at: i64) -> Outbound {
    Outbound {
        seq: 0,
        phone_number_id: "100000000000000".into(),
        to: Recipient::WaId("447700900001".into()),
        body: Body::Text("hi".into()),
        in_reply_to: "wamid.in".into(),
        created_at: at,
        attempts: 0,
        state: State::Pending,
        wamid: None,
        last_error: None,
        purpose: Purpose::Reply,
        templated: false,
        firm: None,
    }
}

fn event(firm: FirmId, at: i64) -> Event {
    Event {
        seq: 0,
        id: uuid::Uuid::now_v7().as_u128(),
        firm,
        at: Timestamp::from_unix_seconds(at),
        source: Source::Api,
        change: Change::ProjectStatusChanged {
            project: ProjectId::from_u128(7),
            from: "design".into(),
            to: "build".into(),
        },
    }
}

fn audit(at: i64) -> store::Event {
    store::Event {
        seq: 0,
        at,
        firm: None,
        actor: "447700900001".into(),
        wamid: "wamid.x".into(),
        what: "test".into(),
    }
}

/// Prunes at `now`, `limit` rows a table per pass, until a pass removes
/// nothing; returns the total.
fn prune_all(store: &Store, now: i64, retention: Retention, limit: usize) -> store::Pruned {
    let mut cursor = RetentionCursor::default();
    let mut total = store::Pruned::default();
    loop {
        let pruned = store
            .write(|w| w.prune_retained(now, retention, &mut cursor, limit))
            .unwrap();
        if pruned.total() == 0 {
            return total;
        }
        total.messages += pruned.messages;
        total.outbox += pruned.outbox;
        total.feed += pruned.feed;
        total.events += pruned.events;
    }
}

#[test]
fn old_rows_go_recent_rows_stay_and_nothing_dangles() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db.redb"), 16 << 20).unwrap();
    let retention = Retention::default(); // 90 days, 365 days
    let old = NOW - 91 * DAY;
    let recent = NOW - 89 * DAY;
    let ancient = NOW - 400 * DAY;
    let (a, b) = (firm(1), firm(2));

    store
        .write(|w| {
            for (n, at) in [old, old, recent].into_iter().enumerate() {
                // Each message log row with its reply, sent.
                let seq = w.enqueue(&outbound(at), 0)?;
                w.settle(
                    seq,
                    0,
                    &Attempt::Sent {
                        wamid: format!("wamid.out.{n}"),
                    },
                )?;
                w.log_message(&logged(a, at, Some(seq)))?;
            }
            // An old reply still pending, and an old one held: kept.
            w.enqueue(&outbound(old), 0)?;
            let held = w.enqueue(&outbound(old), 0)?;
            w.settle(held, 0, &Attempt::Held)?;
            // The newest outbox row, for the sequence to go on from.
            w.enqueue(&outbound(recent), 0)?;
            // Firm b: only old rows; its newest stays.
            for _ in 0..3 {
                w.log_message(&logged(b, old, None))?;
            }
            for at in [ancient, ancient, old, NOW] {
                w.record_change(&event(a, at), 0)?;
                w.record_event(&audit(at))?;
            }
            Ok::<_, store::Error>(())
        })
        .unwrap();

    let pruned = prune_all(&store, NOW, retention, 256);
    assert_eq!(
        pruned,
        store::Pruned {
            messages: 2 + 2,
            outbox: 2,
            feed: 2,
            events: 2
        }
    );

    let reader = store.read().unwrap();
    let log = |firm| reader.messages_page(firm, None, 100, |_| true).unwrap().0;
    let log_a = log(a);
    assert_eq!(log_a.len(), 1);
    assert_eq!(log_a[0].0.at.unix_seconds(), recent);
    assert_eq!(log(b).len(), 1, "a firm's newest row stays");
    let kept: Vec<State> = (1..=6)
        .filter_map(|seq| reader.outbound(seq).unwrap())
        .map(|row| row.state)
        .collect();
    assert_eq!(
        kept,
        [State::Sent, State::Pending, State::Held, State::Pending]
    );
    // The replies that went are forgotten by their Graph wamid and firm
    // too; the feed's firm index follows the feed.
    let sizes = reader.table_sizes().unwrap();
    let size = |name: &str| sizes.iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(size("outbound_wamid"), 1);
    // A reply's firm is in its row (formats before 4 kept it in
    // `outbox_firm`, pruned with the row: see the unit test).
    assert_eq!(size("outbox_firm"), 0);
    assert_eq!(size("feed_by_firm"), 2);
    let feed: Vec<i64> = reader
        .feed_after(Some(a), 0, 100)
        .unwrap()
        .iter()
        .map(|e| e.at.unix_seconds())
        .collect();
    assert_eq!(feed, [old, NOW]);
    assert_eq!(reader.events().unwrap().len(), 2);
    let (_, problems) = store::check(&reader).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    drop(reader);

    // New rows take sequences after the pruned ones, never reuse them.
    store
        .write(|w| {
            let seq = w.enqueue(&outbound(NOW), 0)?;
            assert_eq!(seq, 7);
            let feed = w.record_change(&event(a, NOW), 0)?;
            assert_eq!(feed, 5);
            Ok::<_, store::Error>(())
        })
        .unwrap();
}

#[test]
fn compact_gives_back_the_space_of_a_pruned_message_log() {
    let rows: usize = std::env::var("FIRMHOOK_RETENTION_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db.redb");
    let size = || std::fs::metadata(&db).unwrap().len();
    let firms: Vec<FirmId> = (1..=20).map(firm).collect();
    let write = |store: &Store, count: usize, from: i64| {
        for chunk in 0..count.div_ceil(20_000) {
            store
                .write(|w| {
                    for n in 0..20_000.min(count - chunk * 20_000) {
                        let at = from + (chunk * 20_000 + n) as i64;
                        w.log_message(&logged(firms[n % firms.len()], at, None))?;
                    }
                    Ok::<_, store::Error>(())
                })
                .unwrap();
        }
    };
    let full = {
        let store = Store::open(&db, 64 << 20).unwrap();
        // Old rows, then a tenth as many recent ones after them in the file.
        write(&store, rows, NOW - 200 * DAY);
        write(&store, rows / 10, NOW - DAY);
        let full = size();
        // Passes larger than the writer's, for a quicker test.
        let pruned = prune_all(&store, NOW, Retention::default(), 20_000);
        assert_eq!(pruned.messages, rows);
        full
    };
    let pruned_size = size();
    let out = firmhook(&["compact", "--db", db.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let compacted = size();
    println!(
        "{rows} rows pruned of {}: {full} bytes full, {pruned_size} after pruning, {compacted} after compact",
        rows + rows / 10
    );
    println!("{}", stdout(&out).trim());
    assert!(
        compacted * 3 < full,
        "compact left {compacted} of {full} bytes for {rows} pruned rows"
    );
    let out = firmhook(&["check", "--db", db.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}
