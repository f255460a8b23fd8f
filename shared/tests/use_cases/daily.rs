//! The daily job.

use fitbridge::domain::{ConnectionStatus, ProviderUserId, Task};
use fitbridge::ports::store::TokenStore;

use crate::support::*;

#[tokio::test]
async fn one_item_per_active_person_for_their_yesterday_and_none_for_parked_ones() {
    let w = World::new();
    for n in 0..30 {
        w.connected(&format!("P{n:03}"), ALL_SCOPES).await;
    }
    w.connected("ONLYPROFILE", "profile").await;
    w.connected("PARKED", ALL_SCOPES).await;
    w.store
        .set_status(
            KIND,
            &ProviderUserId("PARKED".into()),
            ConnectionStatus::NeedsReconsent,
            None,
        )
        .await
        .unwrap();

    // 01:30 UTC on the 21st is already the 21st in Berlin: yesterday is the 20th.
    w.clock.set(time::macros::datetime!(2026-11-21 01:30 UTC));
    let report = w.daily.run().await.unwrap();
    assert_eq!(
        (report.people, report.queued, report.without_scopes),
        (31, 30, 1)
    );
    let items = w.queue.items();
    assert_eq!(items.len(), 30);
    for item in &items {
        let Task::Sync { date, collections } = &item.task else {
            panic!("a sync");
        };
        assert_eq!(*date, day(20));
        assert_eq!(collections.len(), 3, "every granted collection in one item");
    }
    assert!(!items.iter().any(|i| i.user_id.0 == "PARKED"));
}
