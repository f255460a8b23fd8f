//! The daily job's directory against the emulator's DynamoDB: the deployed template's
//! table shape with its sparse `Directory` index, and the real adapter.
//!
//! - The directory holds exactly the active connections and follows every write that
//!   changes a status: parked people leave it, reconnected ones come back, a revoked one
//!   is gone, a token refresh changes nothing; no index entry carries a token.
//! - The daily job's scan reads connection items only: on a table whose import ledger is
//!   a hundred times larger than its connections, a metering proxy sees it evaluate no
//!   ledger item (the whole-table scan it replaced, run as a control, reads them all).
//! - `fitbridge_admin::directory::backfill` indexes connections written before the index existed, takes
//!   out one parked without leaving it, and changes nothing when run again.
//!
//! The first test uses the deployed table (shared with other tests: only this test's
//! random people are looked at); the others a fresh table of the same shape each, so
//! their counts are exact.

use fitbridge::domain::PersonKey;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use fitbridge::domain::Secret;
use fitbridge::domain::{
    Connection, ConnectionStatus, ContactKey, ProviderKind, ProviderUserId, Scopes, TokenSet,
};
use fitbridge::ports::clock::Clock;
use fitbridge::ports::store::{
    ConnectionDirectory, ConnectionStore, Ending, Revocation, TokenStore,
};
use fitbridge::store::dynamodb::keys::DIRECTORY_INDEX;
use fitbridge::store::dynamodb::DynamoStore;
use fitbridge::use_cases::daily::DailyService;
use fitbridge_integration::aws_meter::Meter;
use fitbridge_integration::memory::CountingQueue;
use fitbridge_integration::test_clock;
use fitbridge_integration::{
    aws_config, aws_config_at, aws_endpoint, create_table_like_the_stacks, random_user_id, stack,
    stack_table,
};
use time::Duration;

const FITBIT: ProviderKind = ProviderKind::Fitbit;

fn connection(user: &str, status: ConnectionStatus) -> Connection {
    Connection {
        provider: FITBIT,
        user_id: ProviderUserId(user.into()),
        tokens: TokenSet {
            access_token: Secret::new(format!("access-{user}")),
            refresh_token: Secret::new(format!("refresh-{user}")),
            expires_at: test_clock().now() + Duration::hours(8),
            scopes: Scopes::parse("profile activity sleep"),
        },
        status,
        contact: ContactKey {
            origin: "FITBIT".into(),
            id: user.into(),
        },
        customer_ref: None,
        timezone: Some("Europe/Berlin".into()),
        subscriptions: Default::default(),
        version: 0,
        consented_at: None,
    }
}

/// Every user id the directory lists, over all segments and pages.
async fn directory(store: &DynamoStore, segments: u32) -> HashSet<String> {
    let mut found = HashSet::new();
    for segment in 0..segments {
        let mut start = None;
        loop {
            let page = store.scan_active(segment, segments, start).await.unwrap();
            for entry in page.entries {
                assert!(found.insert(entry.user_id.0), "listed once");
            }
            start = page.next;
            if start.is_none() {
                break;
            }
        }
    }
    found
}

fn key(user: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            "pk".into(),
            AttributeValue::S(format!("CONN#fitbit#{user}")),
        ),
        ("sk".into(), AttributeValue::S("CONNECTION".into())),
    ])
}

/// A fresh table shaped like the deployed one, and a store on it.
async fn fresh_table(ddb: &aws_sdk_dynamodb::Client) -> (String, DynamoStore) {
    let table = format!("fb-directory-{}", random_user_id().to_lowercase());
    create_table_like_the_stacks(ddb, &stack(), &table).await;
    let store = DynamoStore::new(ddb.clone(), &table, test_clock()).with_scan_limit(4);
    (table, store)
}

#[tokio::test]
async fn the_directory_holds_the_active_connections_and_follows_every_status_change() {
    let stack = stack();
    let aws = aws_config(&stack).await;
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let table = stack_table(&stack);
    // Small pages: the listing must follow every page of every segment.
    let store = DynamoStore::new(ddb.clone(), &table, test_clock()).with_scan_limit(5);
    let [active, parked, gone, revoked, back, refreshed] =
        std::array::from_fn(|_| random_user_id());
    let mine = [&active, &parked, &gone, &revoked, &back, &refreshed];

    for user in [&active, &parked, &revoked, &refreshed] {
        store
            .save_connected(&connection(user, ConnectionStatus::Active))
            .await
            .unwrap();
    }
    store
        .save_connected(&connection(&gone, ConnectionStatus::ProviderGone))
        .await
        .unwrap();
    store
        .save_connected(&connection(&back, ConnectionStatus::NeedsReconsent))
        .await
        .unwrap();
    let listed = directory(&store, 3).await;
    for user in [&active, &parked, &revoked, &refreshed] {
        assert!(listed.contains(user), "active {user} is listed");
    }
    assert!(!listed.contains(&gone) && !listed.contains(&back));

    // Parked (refresh token rejected), reconnected, revoked, tokens refreshed.
    store
        .set_status(
            &PersonKey::of(FITBIT, &ProviderUserId(parked.clone())),
            ConnectionStatus::NeedsReconsent,
            None,
        )
        .await
        .unwrap();
    store
        .save_connected(&connection(&back, ConnectionStatus::Active))
        .await
        .unwrap();
    let revocation = store
        .revoke(
            &PersonKey::of(FITBIT, &ProviderUserId(revoked.clone())),
            Ending::Disconnected,
            test_clock().now() + Duration::seconds(1),
        )
        .await
        .unwrap();
    assert!(matches!(revocation, Revocation::Revoked(_)));
    let rotated = connection(&refreshed, ConnectionStatus::Active).tokens;
    assert!(store
        .replace_tokens_if_connected(
            &PersonKey::of(FITBIT, &ProviderUserId(refreshed.clone())),
            &rotated
        )
        .await
        .unwrap());

    // Out of the index itself, not only filtered out of the listing.
    let parked_item = ddb
        .get_item()
        .table_name(&table)
        .set_key(Some(key(&parked)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(!parked_item.contains_key("directory_key"));

    let listed = directory(&store, 3).await;
    let mut in_directory: Vec<&str> = mine
        .iter()
        .filter(|u| listed.contains(u.as_str()))
        .map(|u| u.as_str())
        .collect();
    in_directory.sort();
    let mut want = vec![active.as_str(), back.as_str(), refreshed.as_str()];
    want.sort();
    assert_eq!(in_directory, want, "active, reconnected, refreshed only");
    // A parked person is back in the directory once active again.
    store
        .set_status(
            &PersonKey::of(FITBIT, &ProviderUserId(parked.clone())),
            ConnectionStatus::Active,
            None,
        )
        .await
        .unwrap();
    assert!(directory(&store, 1).await.contains(&parked));

    // The index's entries, as any reader with Scan on it would see them: no token.
    let mut start = None;
    let mut seen = 0;
    loop {
        let page = ddb
            .scan()
            .table_name(&table)
            .index_name(DIRECTORY_INDEX)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            let user = item.get("user_id").and_then(|v| v.as_s().ok());
            if user.is_some_and(|u| mine.iter().any(|m| m.as_str() == u)) {
                seen += 1;
                let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
                names.sort();
                assert_eq!(
                    names,
                    [
                        "directory_key",
                        "pk",
                        "provider",
                        "scopes",
                        "sk",
                        "status",
                        "timezone",
                        "user_id"
                    ]
                );
            }
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    assert_eq!(seen, 4);
}

#[tokio::test]
async fn the_daily_scan_reads_no_ledger_item() {
    const PEOPLE: usize = 5;
    const LEDGER_PER_PERSON: usize = 100;
    let stack = stack();
    let ddb = aws_sdk_dynamodb::Client::new(&aws_config(&stack).await);
    let (table, store) = fresh_table(&ddb).await;
    let users: Vec<String> = (0..PEOPLE).map(|_| random_user_id()).collect();
    for user in &users {
        store
            .save_connected(&connection(user, ConnectionStatus::Active))
            .await
            .unwrap();
    }
    let parked = random_user_id();
    store
        .save_connected(&connection(&parked, ConnectionStatus::ProviderGone))
        .await
        .unwrap();
    // A long history: each person's import ledger, as the worker writes it.
    let ledger: Vec<WriteRequest> = users
        .iter()
        .flat_map(|user| {
            (0..LEDGER_PER_PERSON).map(move |day| {
                let item = HashMap::from([
                    (
                        "pk".into(),
                        AttributeValue::S(format!("IMPORT#FITBIT#{user}")),
                    ),
                    (
                        "sk".into(),
                        AttributeValue::S(format!("{user}-day{day:04}-steps")),
                    ),
                    ("hash".into(), AttributeValue::S("0".repeat(64))),
                    (
                        "interaction_id".into(),
                        AttributeValue::S("8e4a2f3c-1f0b-4a51-9a7d-0c6b3a1d2e4f".into()),
                    ),
                ]);
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                    .build()
            })
        })
        .collect();
    for chunk in ledger.chunks(25) {
        let out = ddb
            .batch_write_item()
            .request_items(&table, chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    }

    let meter = Meter::start(&aws_endpoint(&stack)).await;
    let metered = aws_sdk_dynamodb::Client::new(&aws_config_at(&stack, &meter.url).await);
    let queue = Arc::new(CountingQueue::default());
    let daily = DailyService {
        directory: Arc::new(
            DynamoStore::new(metered.clone(), &table, test_clock()).with_scan_limit(2),
        ),
        queue: queue.clone(),
        segments: 4,
        catalog: fitbridge::provider::registry::catalog(),
        pacing: None,
        clock: test_clock(),
    };
    let report = daily.run().await.unwrap();
    let tally = meter.take();
    assert_eq!(report.people, PEOPLE as u64);
    assert_eq!(queue.items.load(Ordering::Relaxed), PEOPLE as u64);
    assert_eq!(
        tally.items_read,
        BTreeMap::from([("CONN".to_owned(), PEOPLE as u64)]),
        "the active connections, nothing else"
    );
    let scans = tally.requests[&("dynamodb".to_owned(), "Scan".to_owned())];
    assert!(
        tally.read_units <= 0.5 * scans as f64,
        "{} read units for {scans} small pages",
        tally.read_units
    );

    // The control: the whole-table scan the daily job made before reads every item.
    let mut start = None;
    loop {
        let page = metered
            .scan()
            .table_name(&table)
            .filter_expression("sk = :conn AND #status = :active")
            .projection_expression("provider, user_id")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":conn", AttributeValue::S("CONNECTION".into()))
            .expression_attribute_values(":active", AttributeValue::S("active".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let control = meter.take();
    assert_eq!(
        control.items_read.get("IMPORT"),
        Some(&((PEOPLE * LEDGER_PER_PERSON) as u64))
    );
    assert!(control.read_units > tally.read_units);
    ddb.delete_table().table_name(&table).send().await.unwrap();
}

#[tokio::test]
async fn the_backfill_indexes_connections_written_before_the_index() {
    let stack = stack();
    let ddb = aws_sdk_dynamodb::Client::new(&aws_config(&stack).await);
    let (table, store) = fresh_table(&ddb).await;
    let [old_a, old_b, parked, current] = std::array::from_fn(|_| random_user_id());
    for user in [&old_a, &old_b, &current] {
        store
            .save_connected(&connection(user, ConnectionStatus::Active))
            .await
            .unwrap();
    }
    store
        .save_connected(&connection(&parked, ConnectionStatus::NeedsReconsent))
        .await
        .unwrap();
    // As the version before the index left them: active connections without the key, and
    // one parked by that version after a backfill had given it the key.
    for user in [&old_a, &old_b] {
        ddb.update_item()
            .table_name(&table)
            .set_key(Some(key(user)))
            .update_expression("REMOVE directory_key")
            .send()
            .await
            .unwrap();
    }
    ddb.update_item()
        .table_name(&table)
        .set_key(Some(key(&parked)))
        .update_expression("SET directory_key = :k")
        .expression_attribute_values(":k", AttributeValue::S(format!("CONN#fitbit#{parked}")))
        .send()
        .await
        .unwrap();
    // The daily job's status filter already skips the parked one.
    assert_eq!(directory(&store, 2).await, HashSet::from([current.clone()]));

    let done = fitbridge_admin::directory::backfill(&ddb, &table, Some(4))
        .await
        .unwrap();
    assert_eq!(
        (done.added, done.removed, done.changed_meanwhile),
        (2, 1, 0)
    );
    assert_eq!(done.scanned, 4);
    assert_eq!(
        directory(&store, 2).await,
        HashSet::from([old_a.clone(), old_b.clone(), current.clone()])
    );
    let raw = ddb
        .get_item()
        .table_name(&table)
        .set_key(Some(key(&parked)))
        .send()
        .await
        .unwrap();
    assert!(!raw.item().unwrap().contains_key("directory_key"));

    let again = fitbridge_admin::directory::backfill(&ddb, &table, Some(4))
        .await
        .unwrap();
    assert_eq!(
        (again.added, again.removed, again.changed_meanwhile),
        (0, 0, 0)
    );
    ddb.delete_table().table_name(&table).send().await.unwrap();
}
