//! What is kept about a disconnected person, and its erasure, on the deployed table
//! against the emulator: the DynamoDB side of what the use-case tests hold the in-memory
//! store to (`shared/tests/use_cases/retention.rs`, `shared/admin/tests/people.rs`).
//!
//! - A contact's history months and signal state set to expire carry `ttl`; past it they
//!   read as absent (the emulator never deletes them), and a month written again replaces
//!   the item without `ttl`. A second expiry keeps the earlier time.
//! - The tombstone's expiry keeps the earlier time too, and never touches the person's
//!   new connection (another item under the same `pk`).
//! - The import ledger's expiry keeps the earlier time.
//! - Erasure deletes by key: the connection and tombstone, parked work, the fetch log,
//!   the contact's ledger (counted in days, whatever the layout) and history; a repeat
//!   finds nothing.
//!
//! Each test runs on a clock of its own, so moving it past an expiry moves no other test.

use fitbridge::domain::PersonKey;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use fitbridge::clock::SetClock;
use fitbridge::domain::signals::history::{DayRecord, MonthHistory, MonthKey};
use fitbridge::domain::signals::SignalState;
use fitbridge::domain::{
    Collection, Connection, ConnectionStatus, ContactKey, ProviderKind, ProviderUserId, WorkItem,
};
use fitbridge::ports::clock::Clock;
use fitbridge::ports::signals::SignalStore;
use fitbridge::ports::store::{
    Claim, ConnectionStore, Ending, Erased, FetchClaim, FetchKey, FetchLog, ImportLedger,
    ImportRecord, ParkedWork, FETCH_COALESCE_WINDOW,
};
use fitbridge::provider::memory::MemoryProvider;
use fitbridge::store::dynamodb::DynamoStore;
use fitbridge_integration::{aws_config, random_user_id, stack, stack_table};
use time::{Duration, OffsetDateTime};

const KIND: ProviderKind = ProviderKind::Fitbit;
const START: OffsetDateTime = time::macros::datetime!(2026-11-18 10:00 UTC);

/// The table's store on a clock of the test's own, and a raw client.
async fn store() -> (DynamoStore, aws_sdk_dynamodb::Client, Arc<SetClock>) {
    let stack = stack();
    let aws = aws_config(&stack).await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    // Frozen: a consent and a revocation stamped in the same test step must not fall on
    // either side of a second boundary by chance (the table keeps whole seconds).
    let clock = Arc::new(SetClock::frozen(START));
    let store = DynamoStore::new(client.clone(), stack_table(&stack), clock.clone());
    (store, client, clock)
}

/// The item at (`pk`, `sk`), as DynamoDB holds it.
async fn raw(
    client: &aws_sdk_dynamodb::Client,
    pk: &str,
    sk: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    client
        .get_item()
        .table_name(stack_table(&stack()))
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

fn ttl_of(item: &std::collections::HashMap<String, AttributeValue>) -> Option<i64> {
    item.get("ttl")
        .and_then(|v| v.as_n().ok())
        .map(|n| n.parse().unwrap())
}

fn contact(id: &str) -> ContactKey {
    ContactKey {
        origin: "FITBIT".into(),
        id: id.into(),
    }
}

async fn connected(store: &DynamoStore, user: &str) -> Connection {
    let provider = MemoryProvider::new(KIND, Arc::new(SetClock::frozen(START)));
    let connection = Connection {
        provider: KIND,
        user_id: ProviderUserId(user.into()),
        tokens: provider.grant(user, "activity"),
        status: ConnectionStatus::Active,
        contact: contact(user),
        customer_ref: Some(format!("C-{user}")),
        timezone: None,
        subscriptions: Default::default(),
        version: 0,
        consented_at: None,
    };
    store.save_connected(&connection).await.unwrap();
    store
        .get(&PersonKey::of(KIND, &connection.user_id))
        .await
        .unwrap()
        .unwrap()
}

fn month() -> (MonthKey, MonthHistory) {
    let mut month = MonthHistory::default();
    month.days.insert(
        13,
        DayRecord {
            steps: Some(5_000),
            ..Default::default()
        },
    );
    (MonthKey::parse("2026-11").unwrap(), month)
}

#[tokio::test]
async fn a_history_set_to_expire_carries_a_ttl_reads_absent_after_it_and_is_kept_once_written() {
    let (store, client, clock) = store().await;
    let contact = contact(&random_user_id());
    let pk = format!("SIGNALS#{}#{}", contact.origin, contact.id);
    let (key, month) = month();
    assert!(store.save_month(&contact, key, &month).await.unwrap());
    assert!(store
        .save_state(&contact, &SignalState::default())
        .await
        .unwrap());

    let at = clock.now() + Duration::days(90);
    assert_eq!(SignalStore::expire(&store, &contact, at).await.unwrap(), 2);
    assert_eq!(
        SignalStore::expire(&store, &contact, at).await.unwrap(),
        0,
        "a repeat"
    );
    assert_eq!(
        SignalStore::expire(&store, &contact, at + Duration::days(1))
            .await
            .unwrap(),
        0,
        "a later time leaves the earlier one"
    );
    let sooner = at - Duration::days(60);
    assert_eq!(
        SignalStore::expire(&store, &contact, sooner).await.unwrap(),
        2
    );
    for sk in ["MONTH#2026-11", "STATE"] {
        let item = raw(&client, &pk, sk).await.unwrap();
        assert_eq!(ttl_of(&item), Some(sooner.unix_timestamp()), "{sk}");
    }
    let (history, state) = store.load(&contact).await.unwrap();
    assert_eq!((history.months.len(), state.version), (1, 1));

    // Past it: absent, though the emulator keeps the items.
    clock.set(sooner);
    let (history, state) = store.load(&contact).await.unwrap();
    assert!(history.months.is_empty());
    assert_eq!(state, SignalState::default());
    assert!(raw(&client, &pk, "STATE").await.is_some());

    // Written again (from version 0: it counts as absent), the month has no ttl.
    assert!(store.save_month(&contact, key, &month).await.unwrap());
    let item = raw(&client, &pk, "MONTH#2026-11").await.unwrap();
    assert_eq!(ttl_of(&item), None);
    clock.set(at + Duration::days(365));
    let (history, _) = store.load(&contact).await.unwrap();
    assert_eq!(history.months[&key].version, 1);

    assert_eq!(SignalStore::forget(&store, &contact).await.unwrap(), 2);
    assert!(raw(&client, &pk, "STATE").await.is_none());
}

#[tokio::test]
async fn a_tombstones_expiry_keeps_the_earlier_time_and_never_touches_a_new_connection() {
    let (store, client, clock) = store().await;
    let user = random_user_id();
    let person = PersonKey::new(KIND, user.clone());
    connected(&store, &user).await;
    store
        .revoke(&person, Ending::Disconnected, clock.now())
        .await
        .unwrap();
    // Whole seconds: the table keeps expiries in seconds.
    let at = (clock.now() + Duration::days(90))
        .replace_nanosecond(0)
        .unwrap();
    let set = ConnectionStore::forget(&store, &person, at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(set.forget_at, Some(at));
    assert_eq!(set.contact, contact(&user));
    let later = ConnectionStore::forget(&store, &person, at + Duration::days(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(later.forget_at, Some(at), "the earlier time stays");
    let sooner = at - Duration::days(60);
    let set = ConnectionStore::forget(&store, &person, sooner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(set.forget_at, Some(sooner), "a sooner one wins");

    // The person connects again: the new connection carries no ttl, and outlives the
    // tombstone.
    clock.advance(Duration::days(1));
    connected(&store, &user).await;
    let pk = format!("CONN#{KIND}#{user}");
    assert_eq!(
        ttl_of(&raw(&client, &pk, "CONNECTION").await.unwrap()),
        None
    );
    clock.set(sooner);
    assert!(store.tombstone(&person).await.unwrap().is_none());
    assert!(
        ConnectionStore::forget(&store, &person, at)
            .await
            .unwrap()
            .is_none(),
        "an expired tombstone is not set again"
    );
    assert!(store.get(&person).await.unwrap().is_some());

    // A migration's tombstone is never set to expire.
    let migrated = ProviderUserId(random_user_id());
    connected(&store, &migrated.0).await;
    store
        .revoke(
            &PersonKey::of(KIND, &migrated),
            Ending::Migrated {
                to: ProviderKind::GoogleHealth,
            },
            clock.now(),
        )
        .await
        .unwrap();
    assert!(
        ConnectionStore::forget(&store, &PersonKey::of(KIND, &migrated), at)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_ledgers_expiry_keeps_the_earlier_time() {
    let (store, client, clock) = store().await;
    let contact = contact(&random_user_id());
    let day = format!("{}-2026-11-13-", contact.id);
    let now = clock.now();
    let key = format!("{day}steps");
    let Claim::Claimed(_) = store
        .claim(
            &contact,
            &day,
            std::slice::from_ref(&key),
            "w",
            now,
            now + Duration::seconds(90),
        )
        .await
        .unwrap()
    else {
        panic!("claimed")
    };
    let record = ImportRecord {
        key: key.clone(),
        hash: "h".into(),
        interaction_id: "i".into(),
    };
    store
        .complete(&contact, &day, "w", &[key], &[record])
        .await
        .unwrap();

    let at = now + Duration::days(90);
    assert_eq!(ImportLedger::expire(&store, &contact, at).await.unwrap(), 1);
    assert_eq!(ImportLedger::expire(&store, &contact, at).await.unwrap(), 0);
    assert_eq!(
        ImportLedger::expire(&store, &contact, at + Duration::days(1))
            .await
            .unwrap(),
        0
    );
    let sooner = now + Duration::days(30);
    assert_eq!(
        ImportLedger::expire(&store, &contact, sooner)
            .await
            .unwrap(),
        1
    );
    let pk = format!("IMPORT#{}#{}", contact.origin, contact.id);
    let item = raw(&client, &pk, &day).await.unwrap();
    assert_eq!(ttl_of(&item), Some(sooner.unix_timestamp()));
}

#[tokio::test]
async fn an_erasure_deletes_everything_held_under_the_persons_and_the_contacts_keys() {
    let (store, client, clock) = store().await;
    let user = random_user_id();
    let user_id = ProviderUserId(user.clone());
    let person = PersonKey::of(KIND, &user_id);
    let contact = contact(&user);
    let now = clock.now();
    // A connection, and the tombstone of an earlier one.
    connected(&store, &user).await;
    store
        .revoke(&person, Ending::Disconnected, now)
        .await
        .unwrap();
    clock.advance(Duration::seconds(1));
    connected(&store, &user).await;
    // Parked work, two fetch-log entries, two days in the ledger (one of them also in the
    // per-metric layout), a month of history and the state.
    store
        .park(
            &WorkItem::sync(
                KIND,
                user_id.clone(),
                time::macros::date!(2026 - 11 - 14),
                vec![Collection::Sleep],
            ),
            "test",
        )
        .await
        .unwrap();
    for collection in [Collection::Activities, Collection::Sleep] {
        let key = FetchKey {
            provider: KIND,
            user_id: user_id.clone(),
            collection,
            date: time::macros::date!(2026 - 11 - 13),
        };
        assert!(matches!(
            store
                .begin(&key, now, now, FETCH_COALESCE_WINDOW)
                .await
                .unwrap(),
            FetchClaim::Proceed(_)
        ));
    }
    for date in ["2026-11-12", "2026-11-13"] {
        let day = format!("{user}-{date}-");
        let key = format!("{day}steps");
        store
            .claim(
                &contact,
                &day,
                std::slice::from_ref(&key),
                "w",
                now,
                now + Duration::seconds(90),
            )
            .await
            .unwrap();
    }
    let pk = format!("IMPORT#{}#{}", contact.origin, contact.id);
    client
        .put_item()
        .table_name(stack_table(&stack()))
        .item("pk", AttributeValue::S(pk.clone()))
        .item("sk", AttributeValue::S(format!("{user}-2026-11-13-sleep")))
        .item("hash", AttributeValue::S("h".into()))
        .item("interaction_id", AttributeValue::S("i".into()))
        .send()
        .await
        .unwrap();
    let (key, month) = month();
    store.save_month(&contact, key, &month).await.unwrap();
    store
        .save_state(&contact, &SignalState::default())
        .await
        .unwrap();

    assert_eq!(
        ConnectionStore::erase(&store, &person).await.unwrap(),
        Erased {
            connection: true,
            tombstone: true
        }
    );
    assert_eq!(ParkedWork::erase(&store, &person).await.unwrap(), 1);
    assert_eq!(FetchLog::erase(&store, &person).await.unwrap(), 2);
    assert_eq!(
        ImportLedger::erase(&store, &contact).await.unwrap(),
        2,
        "days, whatever the layout"
    );
    assert_eq!(SignalStore::forget(&store, &contact).await.unwrap(), 2);

    // Nothing is left under the person's or the contact's keys.
    for pk in [
        format!("CONN#{KIND}#{user}"),
        format!("PARKED#{KIND}#{user}"),
        format!("FETCH#{KIND}#{user}"),
        pk,
        format!("SIGNALS#{}#{}", contact.origin, contact.id),
    ] {
        let left = client
            .query()
            .table_name(stack_table(&stack()))
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .count;
        assert_eq!(left, 0, "{pk}");
    }
    assert!(store.get(&person).await.unwrap().is_none());
    assert!(store.latest(&contact).await.unwrap().is_none());

    // A repeat finds nothing.
    assert_eq!(
        ConnectionStore::erase(&store, &person).await.unwrap(),
        Erased::default()
    );
    assert_eq!(ParkedWork::erase(&store, &person).await.unwrap(), 0);
    assert_eq!(FetchLog::erase(&store, &person).await.unwrap(), 0);
    assert_eq!(ImportLedger::erase(&store, &contact).await.unwrap(), 0);
}
