//! The import ledger's DynamoDB adapter against the emulator, on the deployed table.
//!
//! - A day is one item: importing all six metrics of a day costs one claim and one
//!   record, one write unit each (the item stays under 1 KB).
//! - A claimed interaction is settled for nobody and busy for everybody else until
//!   completed; the day's other interactions stay free (another collection of the day is
//!   imported alongside).
//! - A create that was started and never recorded is reported as unconfirmed.
//! - Entries of the per-metric layout (before one item per day) are still read: what
//!   they recorded is neither created again nor lost.

use aws_sdk_dynamodb::types::AttributeValue;
use fitbridge::domain::ContactKey;
use fitbridge::ports::clock::Clock;
use fitbridge::ports::store::{Claim, ImportLedger, ImportRecord, LedgerEntry};
use fitbridge::store::dynamodb::DynamoStore;
use fitbridge_integration::aws_meter::Meter;
use fitbridge_integration::test_clock;
use fitbridge_integration::{
    aws_config, aws_config_at, aws_endpoint, random_user_id, stack, stack_table,
};
use time::Duration;

const METRICS: [&str; 6] = [
    "steps",
    "distance",
    "calories",
    "active_minutes",
    "sleep",
    "weight",
];

fn table() -> String {
    stack_table(&stack())
}

fn contact() -> ContactKey {
    ContactKey {
        origin: "FITBIT".into(),
        id: random_user_id(),
    }
}

fn claimed(claim: Claim) -> std::collections::HashMap<String, LedgerEntry> {
    match claim {
        Claim::Claimed(entries) => entries,
        Claim::Busy => panic!("expected the claim"),
    }
}

#[tokio::test]
async fn a_day_costs_one_claim_and_one_record_however_many_metrics_changed() {
    let stack = stack();
    let meter = Meter::start(&aws_endpoint(&stack)).await;
    let aws = aws_config_at(&stack, &meter.url).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table(), test_clock());
    let contact = contact();
    let day = format!("{}-2026-11-20-", contact.id);
    let keys: Vec<String> = METRICS.iter().map(|m| format!("{day}{m}")).collect();
    let now = test_clock().now();

    let _ = meter.take();
    let entries = claimed(
        store
            .claim(
                &contact,
                &day,
                &keys,
                "w1",
                now,
                now + Duration::seconds(90),
            )
            .await
            .unwrap(),
    );
    assert!(entries.values().all(|e| *e == LedgerEntry::New));
    // Claimed: settled for nobody, busy for another worker.
    assert!(store.settled(&contact, &day, now).await.unwrap().is_empty());
    assert_eq!(
        store
            .claim(
                &contact,
                &day,
                &keys,
                "w2",
                now,
                now + Duration::seconds(90)
            )
            .await
            .unwrap(),
        Claim::Busy
    );
    let records: Vec<ImportRecord> = keys
        .iter()
        .map(|key| ImportRecord {
            key: key.clone(),
            // As long as the SAP adapter's: a SHA-256 in hex.
            hash: "a".repeat(64),
            interaction_id: uuid_like(key),
        })
        .collect();
    store
        .complete(&contact, &day, "w1", &keys, &records)
        .await
        .unwrap();
    let tally = meter.take();
    assert_eq!(
        tally.writes_by_kind.get("IMPORT"),
        Some(&3.0),
        "the claim, the refused claim and the record: one unit each for six metrics"
    );

    let settled = store.settled(&contact, &day, now).await.unwrap();
    assert_eq!(settled.len(), 6);
    assert!(settled.values().all(|h| *h == "a".repeat(64)));
    // Claimed again for a change: each key is known with its interaction.
    let entries = claimed(
        store
            .claim(
                &contact,
                &day,
                &keys[..1],
                "w3",
                now,
                now + Duration::seconds(90),
            )
            .await
            .unwrap(),
    );
    assert_eq!(
        entries[&keys[0]],
        LedgerEntry::Imported {
            hash: "a".repeat(64),
            interaction_id: uuid_like(&keys[0]),
        }
    );
    // Meanwhile another collection of the day is not held up.
    let sleep = format!("{day}sleep_stages");
    claimed(
        store
            .claim(
                &contact,
                &day,
                std::slice::from_ref(&sleep),
                "w4",
                now,
                now + Duration::seconds(90),
            )
            .await
            .unwrap(),
    );
    let settled = store.settled(&contact, &day, now).await.unwrap();
    assert!(!settled.contains_key(&keys[0]), "claimed: not settled");
    assert_eq!(settled.len(), 5, "the others are");
    store
        .complete(&contact, &day, "w3", &keys[..1], &[])
        .await
        .unwrap();
    store
        .complete(&contact, &day, "w4", std::slice::from_ref(&sleep), &[])
        .await
        .unwrap();
    assert_eq!(store.settled(&contact, &day, now).await.unwrap().len(), 6);
    let latest = store.latest(&contact).await.unwrap().expect("a day");
    assert_eq!(latest.day, time::macros::date!(2026 - 11 - 20));
    assert!(latest.imported_at.is_some());
}

#[tokio::test]
async fn a_create_started_and_never_recorded_is_unconfirmed() {
    let aws = aws_config(&stack()).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table(), test_clock());
    let contact = contact();
    let day = format!("{}-2026-11-21-", contact.id);
    let steps = format!("{day}steps");
    let now = test_clock().now();
    // The worker claimed and died: its claim ran out.
    claimed(
        store
            .claim(
                &contact,
                &day,
                std::slice::from_ref(&steps),
                "dead",
                now,
                now,
            )
            .await
            .unwrap(),
    );
    let later = now + Duration::seconds(5);
    let entries = claimed(
        store
            .claim(
                &contact,
                &day,
                std::slice::from_ref(&steps),
                "w",
                later,
                later + Duration::seconds(90),
            )
            .await
            .unwrap(),
    );
    assert_eq!(entries[&steps], LedgerEntry::CreateUnconfirmed);
}

#[tokio::test]
async fn entries_of_the_per_metric_layout_are_still_read() {
    let aws = aws_config(&stack()).await;
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let store = DynamoStore::new(ddb.clone(), table(), test_clock());
    let contact = contact();
    let day = format!("{}-2026-11-19-", contact.id);
    let pk = format!("IMPORT#{}#{}", contact.origin, contact.id);
    // As the per-metric layout wrote them: steps imported, distance's create unconfirmed.
    ddb.put_item()
        .table_name(table())
        .item("pk", AttributeValue::S(pk.clone()))
        .item("sk", AttributeValue::S(format!("{day}steps")))
        .item("hash", AttributeValue::S("h-steps".into()))
        .item("interaction_id", AttributeValue::S("id-steps".into()))
        .send()
        .await
        .unwrap();
    ddb.put_item()
        .table_name(table())
        .item("pk", AttributeValue::S(pk))
        .item("sk", AttributeValue::S(format!("{day}distance")))
        .item("create_started", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    let now = test_clock().now();
    let settled = store.settled(&contact, &day, now).await.unwrap();
    assert_eq!(
        settled.get(&format!("{day}steps")).map(String::as_str),
        Some("h-steps")
    );

    let keys = [
        format!("{day}steps"),
        format!("{day}distance"),
        format!("{day}calories"),
    ];
    let entries = claimed(
        store
            .claim(&contact, &day, &keys, "w", now, now + Duration::seconds(90))
            .await
            .unwrap(),
    );
    assert_eq!(
        entries[&keys[0]],
        LedgerEntry::Imported {
            hash: "h-steps".into(),
            interaction_id: "id-steps".into()
        }
    );
    assert_eq!(entries[&keys[1]], LedgerEntry::CreateUnconfirmed);
    assert_eq!(entries[&keys[2]], LedgerEntry::New);
    // Recorded in the day item, which wins over the old entry from then on.
    store
        .complete(
            &contact,
            &day,
            "w",
            &keys,
            &[ImportRecord {
                key: keys[0].clone(),
                hash: "h-steps-2".into(),
                interaction_id: "id-steps".into(),
            }],
        )
        .await
        .unwrap();
    let settled = store.settled(&contact, &day, now).await.unwrap();
    assert_eq!(settled.get(&keys[0]).map(String::as_str), Some("h-steps-2"));
}

/// An id shaped like SAP's interaction UUIDs.
fn uuid_like(key: &str) -> String {
    let hex = format!("{:032x}", key.len() as u128 * 0x9e37_79b9_7f4a_7c15);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
