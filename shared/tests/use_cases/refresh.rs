//! The retry queue's use case.

use fitbridge::domain::{Collection, ConnectionStatus, ProviderUserId};
use fitbridge::queue::RetryRequest;
use fitbridge::store::ParkedWork;
use fitbridge::sync::Outcome;

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
    assert_eq!(w.queue.items(), vec![work.clone(), work]);
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
        .parked(KIND, &ProviderUserId("BEN".into()))
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
