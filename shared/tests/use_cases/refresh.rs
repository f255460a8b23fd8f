//! The retry queue's use case.

use fitbridge::domain::Outcome;
use fitbridge::domain::PersonKey;
use fitbridge::domain::{Collection, ConnectionStatus, ProviderUserId};
use fitbridge::ports::queue::RetryRequest;
use fitbridge::ports::store::ParkedWork;

use crate::support::*;

#[tokio::test]
async fn a_retry_refreshes_once_and_resends_the_work() {
    let w = World::new();
    let c = w.connected("ANN", "activity").await;
    w.provider.expire_access_tokens("ANN");
    let work = sync("ANN", day(10), &[Collection::Activities]);
    let request = RetryRequest {
        work: work.clone(),
        observed_version: c.version,
    };
    assert_eq!(w.refresher.refresh.handle(&request).await, Outcome::Done);
    assert_eq!(w.refresher.refresh.handle(&request).await, Outcome::Done);
    assert_eq!(
        w.provider.refreshes_of("ANN"),
        1,
        "the second saw a newer version"
    );
    // Marked, so a second 401 for it backs off rather than coming back here.
    let resent = fitbridge::domain::WorkItem {
        after_refresh: true,
        ..work
    };
    assert_eq!(w.queue.items(), vec![resent.clone(), resent]);
}

#[tokio::test]
async fn a_retry_for_someone_who_must_consent_again_is_parked() {
    let w = World::new();
    let c = w.connected("BEN", "activity").await;
    w.provider.revoke_person("BEN");
    let request = RetryRequest {
        work: sync("BEN", day(10), &[Collection::Activities]),
        observed_version: c.version,
    };
    assert_eq!(w.refresher.refresh.handle(&request).await, Outcome::Done);
    assert!(w.queue.items().is_empty());
    assert_eq!(
        w.connection("BEN").await.unwrap().status,
        ConnectionStatus::NeedsReconsent
    );
    let parked = w
        .store
        .parked(&PersonKey::of(KIND, &ProviderUserId("BEN".into())))
        .await
        .unwrap();
    assert_eq!(parked.len(), 1);
}

#[tokio::test]
async fn a_retry_with_the_work_queue_down_backs_off() {
    let w = World::new();
    let c = w.connected("CAT", "activity").await;
    w.queue.set_down(true);
    let request = RetryRequest {
        work: sync("CAT", day(10), &[Collection::Activities]),
        observed_version: c.version,
    };
    assert_eq!(w.refresher.refresh.handle(&request).await, Outcome::BACKOFF);
}

#[tokio::test]
async fn records_that_cannot_finish_before_the_deadline_are_handed_back_untouched() {
    // Issue 8: the token-refresh function handled ten messages one after another (about
    // 13 s each in the worst case) under a 30 s timeout.
    let w = World::new();
    let c = w.connected("DAN", "activity").await;
    w.provider.expire_access_tokens("DAN");
    let request = RetryRequest {
        work: sync("DAN", day(10), &[Collection::Activities]),
        observed_version: c.version,
    };
    let record = |id: &str| {
        serde_json::json!({"messageId": id, "receiptHandle": format!("rh-{id}"),
            "body": serde_json::to_string(&request).unwrap(),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795291200000",
                           "MessageGroupId": format!("{KIND}#DAN")},
            "messageAttributes": {}})
    };
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(serde_json::json!({"Records": [record("a"), record("b")]})).unwrap();
    let almost_over = w.now() + time::Duration::seconds(3);
    let response = w
        .refresher
        .handle_until(event.clone(), Some(almost_over))
        .await;
    assert_eq!(response.batch_item_failures.len(), 2, "both handed back");
    assert_eq!(w.provider.refreshes_of("DAN"), 0, "nothing started");
    assert!(w.queue.items().is_empty());

    // With time enough, the same batch is handled.
    let plenty = w.now() + time::Duration::seconds(60);
    let response = w.refresher.handle_until(event, Some(plenty)).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(w.provider.refreshes_of("DAN"), 1);
}
