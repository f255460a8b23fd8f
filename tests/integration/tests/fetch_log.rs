//! The fetch log's DynamoDB adapter against the emulator, on the deployed table: the
//! same rules the use-case tests hold the in-memory log to, decided here by DynamoDB's
//! condition expressions.
//!
//! - A notification sent before a fetch began is answered by it, whether that fetch is
//!   running, succeeded or its worker died; one sent later is fetched.
//! - The message that began a fetch (told by its send time) fetches again when it comes
//!   back.
//! - An abandoned fetch answers nothing; abandoning a fetch that a later one replaced
//!   leaves the later one standing.
//! - An entry written by the log's earlier form (`completed_since`) still answers.
//! - A notification sent after the last fetch began, within a minute of it, waits for
//!   the window (a replay costs no provider call); after it, it is fetched.
//! - One write per fetch, when it begins (a metering proxy counts them); a refused
//!   duplicate costs its refused write and one read.

use aws_sdk_dynamodb::types::AttributeValue;
use fitbridge::domain::{Collection, ProviderKind, ProviderUserId};
use fitbridge::ports::clock::Clock;
use fitbridge::ports::store::{FetchClaim, FetchKey, FetchLog, FETCH_COALESCE_WINDOW as WINDOW};
use fitbridge::store::dynamodb::DynamoStore;
use fitbridge_integration::aws_meter::Meter;
use fitbridge_integration::test_clock;
use fitbridge_integration::{
    aws_config, aws_config_at, aws_endpoint, random_user_id, stack, stack_table,
};
use time::Duration;

fn table() -> String {
    stack_table(&stack())
}

fn key(user: &str) -> FetchKey {
    FetchKey {
        provider: ProviderKind::Fitbit,
        user_id: ProviderUserId(user.into()),
        collection: Collection::Activities,
        date: time::macros::date!(2026 - 11 - 20),
    }
}

fn proceeded(claim: FetchClaim) -> String {
    match claim {
        FetchClaim::Proceed(token) => token,
        other => panic!("expected to proceed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_fetch_answers_the_notifications_sent_before_it_began() {
    let aws = aws_config(&stack()).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table(), test_clock());
    let key = key(&random_user_id());
    let t0 = test_clock().now() - Duration::minutes(5);
    let sent = t0;

    let token = proceeded(
        store
            .begin(&key, sent, t0 + Duration::seconds(1), WINDOW)
            .await
            .unwrap(),
    );
    // Running or done, it answers a duplicate sent before it began...
    let earlier = sent - Duration::seconds(3);
    assert_eq!(
        store
            .begin(&key, earlier, t0 + Duration::seconds(2), WINDOW)
            .await
            .unwrap(),
        FetchClaim::AlreadyFetched
    );
    // ...but not its own message coming back (its worker may have died before the import).
    proceeded(
        store
            .begin(&key, sent, t0 + Duration::seconds(60), WINDOW)
            .await
            .unwrap(),
    );
    // A notification sent after it began announces newer data: fetched once the
    // coalescing window since the last fetch began (at +60 s) is over.
    let newer = t0 + Duration::seconds(90);
    let newer_token = proceeded(
        store
            .begin(&key, newer, t0 + Duration::seconds(121), WINDOW)
            .await
            .unwrap(),
    );
    // The first fetch's token abandons nothing any more: the newer fetch stands.
    store.abandon(&key, &token).await.unwrap();
    assert_eq!(
        store
            .begin(
                &key,
                newer - Duration::seconds(1),
                t0 + Duration::seconds(122),
                WINDOW
            )
            .await
            .unwrap(),
        FetchClaim::AlreadyFetched,
        "the newer fetch still answers what was sent before it"
    );
    // Abandoned (its import failed), it answers nothing any more.
    store.abandon(&key, &newer_token).await.unwrap();
    proceeded(
        store
            .begin(
                &key,
                newer - Duration::seconds(1),
                t0 + Duration::seconds(123),
                WINDOW,
            )
            .await
            .unwrap(),
    );
}

/// Entries of the log's earlier form (written until this version, kept 7 days) still
/// answer what their completed fetch saw.
#[tokio::test]
async fn an_entry_of_the_earlier_form_still_answers() {
    let aws = aws_config(&stack()).await;
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let store = DynamoStore::new(ddb.clone(), table(), test_clock());
    let user = random_user_id();
    let completed = test_clock().now() - Duration::minutes(10);
    ddb.put_item()
        .table_name(table())
        .item("pk", AttributeValue::S(format!("FETCH#fitbit#{user}")))
        .item("sk", AttributeValue::S("activities#2026-11-20".into()))
        .item(
            "completed_since",
            AttributeValue::N(((completed.unix_timestamp_nanos() / 1_000_000) as i64).to_string()),
        )
        .send()
        .await
        .unwrap();
    let key = key(&user);
    assert_eq!(
        store
            .begin(
                &key,
                completed - Duration::seconds(1),
                test_clock().now(),
                WINDOW
            )
            .await
            .unwrap(),
        FetchClaim::AlreadyFetched
    );
    proceeded(
        store
            .begin(
                &key,
                completed + Duration::seconds(1),
                test_clock().now(),
                WINDOW,
            )
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn a_fetch_costs_one_write_in_the_log() {
    let stack = stack();
    let meter = Meter::start(&aws_endpoint(&stack)).await;
    let aws = aws_config_at(&stack, &meter.url).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table(), test_clock());
    let key = key(&random_user_id());
    let now = test_clock().now();
    let _ = meter.take();
    proceeded(store.begin(&key, now, now, WINDOW).await.unwrap());
    assert_eq!(
        store
            .begin(&key, now - Duration::seconds(1), now, WINDOW)
            .await
            .unwrap(),
        FetchClaim::AlreadyFetched
    );
    let tally = meter.take();
    assert_eq!(
        tally.write_units, 2.0,
        "the fetch's begin, and the refused duplicate's"
    );
    assert_eq!(
        tally
            .requests
            .get(&("dynamodb".into(), "UpdateItem".into())),
        Some(&2),
        "no completion"
    );
    assert_eq!(
        tally.requests.get(&("dynamodb".into(), "GetItem".into())),
        Some(&1),
        "a refused duplicate reads why: answered, or too soon"
    );
}

#[tokio::test]
async fn a_notification_within_a_minute_of_a_fetch_waits_for_the_window() {
    let aws = aws_config(&stack()).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table(), test_clock());
    let key = key(&random_user_id());
    let t0 = test_clock().now() - Duration::minutes(5);
    proceeded(store.begin(&key, t0, t0, WINDOW).await.unwrap());
    // A replay (or a real change) sent 10 s later, handled at 20 s: 40 s to wait.
    let claim = store
        .begin(
            &key,
            t0 + Duration::seconds(10),
            t0 + Duration::seconds(20),
            WINDOW,
        )
        .await
        .unwrap();
    assert_eq!(claim, FetchClaim::Wait(std::time::Duration::from_secs(40)));
    // Once the window is over it is fetched.
    proceeded(
        store
            .begin(
                &key,
                t0 + Duration::seconds(10),
                t0 + Duration::seconds(60),
                WINDOW,
            )
            .await
            .unwrap(),
    );
}
