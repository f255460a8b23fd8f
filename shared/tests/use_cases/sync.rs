//! The worker's use case and its queue adapter.

use fitbridge::domain::PersonKey;
use std::time::Duration;

use fitbridge::domain::Outcome;
use fitbridge::domain::{Collection, ConnectionStatus, DaySummary, ProviderUserId, WorkItem};
use fitbridge::inbound::sqs::{Decision, Delivery};
use fitbridge::ports::provider::ProviderError;
use fitbridge::ports::store::{ConnectionStore, Ending, ImportLedger, ParkedWork};
use fitbridge::use_cases::sync::{Work, ACCOUNT_DELETION_GRACE};

use crate::support::*;

#[tokio::test]
async fn a_day_becomes_one_interaction_per_metric_exactly_once() {
    let w = World::new();
    w.connected("ALICE", ALL_SCOPES).await;
    w.provider
        .set_day("ALICE", Collection::Activities, day(20), steps(8000));
    let item = sync("ALICE", day(20), &[Collection::Activities]);

    // Duplicates in one batch, then the same again as a later delivery.
    let out = w
        .worker
        .sync
        .process(&[w.work(item.clone()), w.work(item.clone())])
        .await;
    assert_eq!(out, vec![Outcome::Done, Outcome::Done]);
    let out = w.worker.sync.process(&[w.later(item)]).await;
    assert_eq!(out, vec![Outcome::Done]);

    let got = w.marketing.interactions();
    let sources: Vec<&str> = got.iter().map(|i| i.source_object.as_str()).collect();
    assert_eq!(
        sources,
        ["ALICE-2026-11-20-steps", "ALICE-2026-11-20-distance"]
    );
    assert!(got.iter().all(|i| i.writes == 1 && i.provider == KIND));
    assert_eq!(
        w.provider.fetches_of("ALICE"),
        2,
        "the later delivery was sent after the first fetch completed, so it is fetched again"
    );
}

#[tokio::test]
async fn a_day_the_provider_answered_in_part_imports_that_part_and_is_fetched_again() {
    let w = World::new();
    w.connected("AMY", ALL_SCOPES).await;
    let mut partial = steps(8000);
    partial.unanswered = vec![fitbridge::domain::Metric::ActiveMinutes];
    w.provider
        .set_day("AMY", Collection::Activities, day(20), partial);
    let item = sync("AMY", day(20), &[Collection::Activities]);
    assert_eq!(
        w.worker.sync.process(&[w.work(item.clone())]).await,
        [Outcome::BACKOFF],
        "the rest of the day is asked for again"
    );
    let got = w.marketing.interactions();
    assert_eq!(got.len(), 2, "what came is imported at once: {got:?}");

    // The retry, once the day's fetch window is over (one sooner waits for it), finds
    // everything; what was imported already is not written again.
    let mut whole = steps(8000);
    whole.active_minutes = Some(31);
    w.provider
        .set_day("AMY", Collection::Activities, day(20), whole);
    assert_eq!(
        w.worker.sync.process(&[w.later(item)]).await,
        [Outcome::Done]
    );
    let got = w.marketing.interactions();
    let sources: Vec<&str> = got.iter().map(|i| i.source_object.as_str()).collect();
    assert_eq!(
        sources,
        [
            "AMY-2026-11-20-steps",
            "AMY-2026-11-20-distance",
            "AMY-2026-11-20-active_minutes"
        ]
    );
    assert!(got.iter().all(|i| i.writes == 1), "{got:?}");
}

#[tokio::test]
async fn a_replayed_delivery_costs_at_most_one_fetch_a_minute_and_loses_no_change() {
    use fitbridge::ports::store::FETCH_COALESCE_WINDOW;
    let w = World::new();
    w.connected("RAY", ALL_SCOPES).await;
    w.provider
        .set_day("RAY", Collection::Activities, day(20), steps(8000));
    let item = sync("RAY", day(20), &[Collection::Activities]);
    assert_eq!(
        w.worker.sync.process(&[w.work(item.clone())]).await,
        [Outcome::Done]
    );
    assert_eq!(w.provider.fetches_of("RAY"), 1);

    // A captured delivery replayed every second for a minute: each copy waits for the
    // window, none reaches the provider.
    let mut waiting = Vec::new();
    for _ in 0..59 {
        w.clock.advance(time::Duration::seconds(1));
        let copy = w.work(item.clone());
        let out = w.worker.sync.process(std::slice::from_ref(&copy)).await;
        assert!(matches!(out[..], [Outcome::RateLimited(_)]), "{out:?}");
        waiting.push(copy);
    }
    assert_eq!(
        w.provider.fetches_of("RAY"),
        1,
        "no provider call within the window"
    );

    // Meanwhile the person really changed the day. When the copies come back after the
    // window, one fetch answers them all, and the change is imported.
    w.provider
        .set_day("RAY", Collection::Activities, day(20), steps(9000));
    w.clock.advance(FETCH_COALESCE_WINDOW);
    let out = w.worker.sync.process(&waiting).await;
    assert!(out.iter().all(|o| *o == Outcome::Done), "{out:?}");
    assert_eq!(
        w.provider.fetches_of("RAY"),
        2,
        "one fetch for sixty copies"
    );
    let steps_now = w
        .marketing
        .interactions()
        .into_iter()
        .find(|i| i.source_object == "RAY-2026-11-20-steps")
        .unwrap();
    assert_eq!(steps_now.writes, 2, "the real change reached SAP");
}

#[tokio::test]
async fn an_unchanged_day_is_read_not_claimed_and_a_changed_one_is_claimed() {
    // Each claim is a DynamoDB write (and its completion another): a day fetched again
    // with the same values must cost a read only, and a changed one one claim, however
    // many of its metrics changed.
    let w = World::new();
    w.connected("DORA", ALL_SCOPES).await;
    w.provider
        .set_day("DORA", Collection::Activities, day(18), steps(5000));
    let item = sync("DORA", day(18), &[Collection::Activities]);
    w.worker.sync.process(&[w.work(item.clone())]).await;
    let first = w.store.ledger_claims();
    assert_eq!(first, 1, "the day claimed once for steps and distance");
    assert_eq!(w.marketing.interactions().len(), 2);

    w.worker.sync.process(&[w.later(item.clone())]).await;
    assert_eq!(w.provider.fetches_of("DORA"), 2, "fetched again");
    assert_eq!(w.store.ledger_claims(), first, "unchanged: no claim");
    assert!(w.marketing.interactions().iter().all(|i| i.writes == 1));

    // Changed values: claimed, and the interaction updated in place.
    w.provider
        .set_day("DORA", Collection::Activities, day(18), steps(6000));
    w.worker.sync.process(&[w.later(item)]).await;
    assert!(w.store.ledger_claims() > first, "changed: claimed");
    let steps = w
        .marketing
        .interactions()
        .into_iter()
        .find(|i| i.source_object.ends_with("steps"))
        .unwrap();
    assert_eq!((steps.value, steps.writes), (Some(6000.0), 2));
}

#[tokio::test]
async fn a_notification_sent_before_a_completed_fetch_costs_no_second_call() {
    let w = World::new();
    w.connected("BEA", ALL_SCOPES).await;
    w.provider
        .set_day("BEA", Collection::Activities, day(20), steps(8000));
    let item = sync("BEA", day(20), &[Collection::Activities]);
    let sent = w.now() - time::Duration::seconds(5);
    let first = Work {
        item: item.clone(),
        sent_at: sent,
    };
    // The same change announced again, in a message of its own sent a moment earlier.
    let duplicate = Work {
        item,
        sent_at: sent - time::Duration::seconds(1),
    };
    assert_eq!(w.worker.sync.process(&[first]).await, [Outcome::Done]);
    assert_eq!(w.worker.sync.process(&[duplicate]).await, [Outcome::Done]);
    assert_eq!(w.provider.fetches_of("BEA"), 1);
    assert_eq!(w.marketing.interactions().len(), 2, "steps and distance");
}

/// The fetch log is written when a fetch begins, never when it ends: the message that
/// began it must fetch again when it comes back (its worker died before the import), and
/// a duplicate skipped on the strength of that fetch is answered by it.
#[tokio::test]
async fn a_fetch_whose_worker_died_is_fetched_again_by_its_own_message() {
    use fitbridge::ports::store::{FetchClaim, FetchKey, FetchLog};
    let w = World::new();
    w.connected("DIED", ALL_SCOPES).await;
    w.provider
        .set_day("DIED", Collection::Activities, day(20), steps(8000));
    let item = sync("DIED", day(20), &[Collection::Activities]);
    let sent = w.now() - time::Duration::seconds(30);
    let key = FetchKey {
        provider: item.provider,
        user_id: item.user_id.clone(),
        collection: Collection::Activities,
        date: day(20),
    };
    // A worker began the fetch for the message, then died: nothing else was written.
    let begun = w
        .store
        .begin(
            &key,
            sent,
            sent + time::Duration::seconds(1),
            fitbridge::ports::store::FETCH_COALESCE_WINDOW,
        )
        .await
        .unwrap();
    assert!(matches!(begun, FetchClaim::Proceed(_)));

    // A duplicate sent before that fetch began is left to it...
    let duplicate = Work {
        item: item.clone(),
        sent_at: sent - time::Duration::seconds(1),
    };
    assert_eq!(w.worker.sync.process(&[duplicate]).await, [Outcome::Done]);
    assert_eq!(w.provider.fetches_of("DIED"), 0);
    // ...and the message itself, delivered again, fetches and imports the day.
    let redelivered = Work {
        item,
        sent_at: sent,
    };
    assert_eq!(w.worker.sync.process(&[redelivered]).await, [Outcome::Done]);
    assert_eq!(w.provider.fetches_of("DIED"), 1);
    assert_eq!(w.marketing.interactions().len(), 2, "steps and distance");
}

/// A fetch that came to nothing (here: the marketing system was down) is forgotten, so a
/// duplicate of its notification fetches by itself rather than trusting it.
#[tokio::test]
async fn a_failed_import_leaves_no_fetch_for_duplicates_to_trust() {
    let w = World::new();
    w.connected("FAIL", ALL_SCOPES).await;
    w.provider
        .set_day("FAIL", Collection::Activities, day(20), steps(8000));
    let item = sync("FAIL", day(20), &[Collection::Activities]);
    let sent = w.now() - time::Duration::seconds(30);
    w.marketing.fail_next(2);
    let first = Work {
        item: item.clone(),
        sent_at: sent,
    };
    assert_ne!(w.worker.sync.process(&[first]).await, [Outcome::Done]);
    let duplicate = Work {
        item,
        sent_at: sent - time::Duration::seconds(1),
    };
    assert_eq!(w.worker.sync.process(&[duplicate]).await, [Outcome::Done]);
    assert_eq!(w.provider.fetches_of("FAIL"), 2);
    assert_eq!(w.marketing.interactions().len(), 2, "steps and distance");
}

#[tokio::test]
async fn a_changed_day_updates_its_interaction_in_place() {
    let w = World::new();
    w.connected("CARL", ALL_SCOPES).await;
    let item = sync("CARL", day(19), &[Collection::Activities]);
    w.provider
        .set_day("CARL", Collection::Activities, day(19), steps(4000));
    w.worker.sync.process(&[w.work(item.clone())]).await;
    w.provider
        .set_day("CARL", Collection::Activities, day(19), steps(9000));
    w.worker.sync.process(&[w.later(item)]).await;

    let got = w.marketing.interactions();
    assert_eq!(got.len(), 2, "steps and distance, not four");
    let steps = got
        .iter()
        .find(|i| i.source_object.ends_with("steps"))
        .unwrap();
    assert_eq!((steps.value, steps.writes), (Some(9000.0), 2));
}

#[tokio::test]
async fn collections_not_granted_are_not_fetched() {
    let w = World::new();
    w.connected("DORA", "activity").await;
    let item = sync("DORA", day(18), &[Collection::Sleep, Collection::Body]);
    assert_eq!(
        w.worker.sync.process(&[w.work(item)]).await,
        [Outcome::Done]
    );
    assert_eq!(w.provider.fetches_of("DORA"), 0);
}

#[tokio::test]
async fn work_for_someone_not_connected_is_dropped() {
    let w = World::new();
    let item = sync("NOBODY", day(18), &[Collection::Activities]);
    assert_eq!(
        w.worker.sync.process(&[w.work(item)]).await,
        [Outcome::Done]
    );
    assert!(w.marketing.interactions().is_empty());
}

#[tokio::test]
async fn a_401_for_work_resent_after_its_refresh_backs_off_instead_of_going_round() {
    let w = World::new();
    w.connected("GIL", "activity").await;
    w.provider
        .set_day("GIL", Collection::Activities, day(12), steps(4200));
    let item = sync("GIL", day(12), &[Collection::Activities]);
    w.provider.fail_next([ProviderError::InvalidToken]);
    assert_eq!(
        w.worker.sync.process(&[w.work(item.clone())]).await,
        [Outcome::Done]
    );
    let retries = w.retry_queue.drain_retries();
    assert_eq!(retries.len(), 1);
    assert_eq!(w.refresher.refresh.handle(&retries[0]).await, Outcome::Done);
    let resent = w.queue.drain();
    assert_eq!(
        resent,
        [WorkItem {
            after_refresh: true,
            ..item
        }]
    );

    // Refused again with the refreshed token (a proxy, a provider fault): not a second
    // refresh, which would send it round forever, but a backoff that counts towards the DLQ.
    w.provider.fail_next([ProviderError::InvalidToken]);
    assert_eq!(
        w.worker.sync.process(&[w.work(resent[0].clone())]).await,
        [Outcome::BACKOFF]
    );
    assert!(w.retry_queue.drain_retries().is_empty());
    assert_eq!(w.provider.refreshes_of("GIL"), 1);

    // Once the provider takes the token, the same message imports.
    assert_eq!(
        w.worker.sync.process(&[w.work(resent[0].clone())]).await,
        [Outcome::Done]
    );
    assert!(w
        .marketing
        .interactions()
        .iter()
        .any(|i| i.source_object == "GIL-2026-11-12-steps"));
}

#[tokio::test]
async fn an_access_token_dying_early_goes_through_the_retry_queue_with_one_refresh() {
    let w = World::new();
    w.connected("EVE", "activity").await;
    w.provider
        .set_day("EVE", Collection::Activities, day(17), steps(5000));
    w.provider.expire_access_tokens("EVE");
    let items: Vec<WorkItem> = (10..20)
        .map(|d| sync("EVE", day(d), &[Collection::Activities]))
        .collect();
    let out = w.worker.sync.process(&w.works(&items)).await;
    assert!(out.iter().all(|o| *o == Outcome::Done), "{out:?}");
    assert!(w.marketing.interactions().is_empty());

    w.drain().await;
    assert_eq!(w.provider.refreshes_of("EVE"), 1);
    assert!(w
        .marketing
        .interactions()
        .iter()
        .any(|i| i.source_object == "EVE-2026-11-17-steps"));
    assert_eq!(
        w.connection("EVE").await.unwrap().status,
        ConnectionStatus::Active
    );
}

#[tokio::test]
async fn a_rate_limit_waits_and_never_reaches_the_dlq() {
    let w = World::new();
    w.connected("FINN", "activity").await;
    let item = sync("FINN", day(15), &[Collection::Activities]);
    let wait = Duration::from_secs(42);
    w.provider.fail_next([
        ProviderError::RateLimited { retry_after: wait },
        ProviderError::RateLimited { retry_after: wait },
    ]);

    let first = w
        .worker
        .decide(&w.deliveries(std::slice::from_ref(&item), 1))
        .await;
    assert_eq!(first, [Decision::RedeliverAfter(wait)]);
    // On its last delivery before the redrive, it goes back as a fresh copy instead.
    let last = w
        .worker
        .decide(&w.deliveries(std::slice::from_ref(&item), MAX_RECEIVE_COUNT))
        .await;
    assert_eq!(last, [Decision::Delete]);
    assert_eq!(w.queue.sent(), vec![(item, wait)]);
}

#[tokio::test]
async fn transient_failures_back_off_longer_each_time() {
    let w = World::new();
    w.connected("GUS", "activity").await;
    let item = sync("GUS", day(15), &[Collection::Activities]);
    for (receive_count, secs) in [(1, 30), (2, 60), (3, 120)] {
        w.provider.fail_next([ProviderError::Unavailable {
            reason: "HTTP 503".into(),
        }]);
        let d = w
            .worker
            .decide(&w.deliveries(std::slice::from_ref(&item), receive_count))
            .await;
        assert_eq!(d, [Decision::RedeliverAfter(Duration::from_secs(secs))]);
    }
    // And the next attempt imports it, once.
    w.worker
        .decide(&w.deliveries(std::slice::from_ref(&item), 4))
        .await;
    assert_eq!(
        w.marketing.interactions().len(),
        0,
        "an empty day has no metric"
    );
    assert_eq!(w.provider.fetches_of("GUS"), 1);
}

#[tokio::test]
async fn an_unreadable_message_is_retried_then_left_for_the_dlq() {
    let w = World::new();
    let poison = Delivery {
        body: "{not a work item".into(),
        receive_count: 2,
        sent_at: w.now(),
    };
    assert_eq!(
        w.worker.decide(&[poison]).await,
        [Decision::RedeliverAfter(Duration::from_secs(60))]
    );
}

#[tokio::test]
async fn gone_marks_the_person_and_parks_their_work() {
    let w = World::new();
    w.connected("HAL", ALL_SCOPES).await;
    w.provider.fail_next([ProviderError::Gone]);
    let item = sync("HAL", day(14), &[Collection::Activities]);
    assert_eq!(
        w.worker.sync.process(&[w.work(item.clone())]).await,
        [Outcome::Done]
    );
    assert_eq!(
        w.connection("HAL").await.unwrap().status,
        ConnectionStatus::ProviderGone
    );
    let parked = w
        .store
        .parked(&PersonKey::of(KIND, &ProviderUserId("HAL".into())))
        .await
        .unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].1, item);
    // Later work for the person is parked without calling the provider.
    let later = sync("HAL", day(15), &[Collection::Activities]);
    w.worker.sync.process(&[w.work(later)]).await;
    assert_eq!(w.provider.fetches_of("HAL"), 0);
    assert_eq!(
        w.store
            .parked(&PersonKey::of(KIND, &ProviderUserId("HAL".into())))
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_dead_refresh_token_parks_the_person_until_they_consent_again() {
    let w = World::new();
    w.connected("IDA", "activity").await;
    w.provider.revoke_person("IDA");
    // Near expiry, so the worker refreshes first, and the refresh token is dead.
    w.provider.expire_access_tokens("IDA");
    let c = w.connection("IDA").await.unwrap();
    let mut near = c.clone();
    near.tokens.expires_at = w.now() + time::Duration::minutes(1);
    fitbridge::ports::store::ConnectionStore::save_connected(&*w.store, &near)
        .await
        .unwrap();
    let item = sync("IDA", day(14), &[Collection::Activities]);
    assert_eq!(
        w.worker.sync.process(&[w.work(item)]).await,
        [Outcome::Done]
    );
    assert_eq!(
        w.connection("IDA").await.unwrap().status,
        ConnectionStatus::NeedsReconsent
    );
    assert_eq!(
        w.store
            .parked(&PersonKey::of(KIND, &ProviderUserId("IDA".into())))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn sap_down_retries_and_then_imports_exactly_once() {
    let w = World::new();
    w.connected("JO", "activity").await;
    w.provider
        .set_day("JO", Collection::Activities, day(13), steps(7000));
    let item = sync("JO", day(13), &[Collection::Activities]);
    w.marketing.fail_next(2);
    assert_eq!(
        w.worker.sync.process(&[w.work(item.clone())]).await,
        [Outcome::BACKOFF]
    );
    assert!(w.marketing.interactions().is_empty());
    // The redelivery fetches again (the failed import did not finish the fetch).
    assert_eq!(
        w.worker.sync.process(&[w.work(item)]).await,
        [Outcome::Done]
    );
    assert_eq!(w.provider.fetches_of("JO"), 2);
    assert_eq!(w.marketing.interactions().len(), 2);
    assert_eq!(w.store.imported(&contact("JO")).len(), 2);
}

#[tokio::test]
async fn one_rejected_interaction_fails_only_its_own_item() {
    let w = World::new();
    w.connected("KAI", "activity").await;
    w.connected("LEA", "activity").await;
    for u in ["KAI", "LEA"] {
        w.provider.set_day(
            u,
            Collection::Activities,
            day(12),
            DaySummary {
                steps: Some(100),
                ..Default::default()
            },
        );
    }
    w.marketing.reject_next(1);
    let out = w
        .worker
        .sync
        .process(&[
            w.work(sync("KAI", day(12), &[Collection::Activities])),
            w.work(sync("LEA", day(12), &[Collection::Activities])),
        ])
        .await;
    assert_eq!(out, [Outcome::BACKOFF, Outcome::Done]);
}

#[tokio::test]
async fn revocation_forgets_the_tokens_and_flags_the_contact() {
    let w = World::new();
    w.connected("MIA", ALL_SCOPES).await;
    let revoke = WorkItem::revoke(KIND, ProviderUserId("MIA".into()), false, None);
    assert_eq!(
        w.worker.sync.process(&[w.work(revoke)]).await,
        [Outcome::Done]
    );
    assert!(w.connection("MIA").await.is_none());
    assert_eq!(
        w.provider.revoked_grants(),
        1,
        "the grant ended at the provider too"
    );
    assert!(w.provider.subscriptions_of("MIA").is_empty());
    let tomb = w
        .store
        .tombstone(&PersonKey::of(KIND, &ProviderUserId("MIA".into())))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tomb.contact, contact("MIA"));
    assert!(!tomb.flag_pending);
    let flags = w.marketing.interactions();
    assert_eq!(flags.len(), 1);
    assert!(flags[0].source_object.starts_with("MIA-disconnected-"));
    // No further work runs for the person.
    let later = sync("MIA", day(20), &[Collection::Activities]);
    w.worker.sync.process(&[w.work(later)]).await;
    assert_eq!(w.provider.fetches_of("MIA"), 0);
}

fn revoke(user: &str) -> WorkItem {
    WorkItem::revoke(KIND, ProviderUserId(user.into()), false, None)
}

#[tokio::test]
async fn a_stale_revocation_leaves_a_newer_connection_alone() {
    // Issue 8: a revocation that waited in backoff (or arrived late) deleted the tokens
    // of a person who had reconnected meanwhile.
    let w = World::new();
    w.connected("NED", "activity").await;
    let issued = w.now() - time::Duration::minutes(10);
    // The person connected again after the revocation was issued (connected() just did).
    let stale = Work {
        item: revoke("NED"),
        sent_at: issued,
    };
    assert_eq!(w.worker.sync.process(&[stale]).await, [Outcome::Done]);
    let c = w
        .connection("NED")
        .await
        .expect("the newer connection stays");
    assert_eq!(c.status, ConnectionStatus::Active);
    assert!(w.marketing.interactions().is_empty(), "no disconnect flag");
    assert_eq!(w.provider.revoked_grants(), 0);
}

#[tokio::test]
async fn a_redriven_revocation_is_judged_by_when_it_was_issued() {
    // A revoke the webhook received before the person reconnected sits in the DLQ (SAP was
    // down); the operator redrives it after the reconnect, so its send time is newer than
    // the connection. The time it was issued, which it carries, keeps the connection.
    let w = World::new();
    let issued = w.now();
    w.clock.advance(time::Duration::hours(2));
    w.connected("UMA", "activity").await;
    w.clock.advance(time::Duration::hours(1));
    let redriven = w.later(WorkItem::revoke(
        KIND,
        ProviderUserId("UMA".into()),
        false,
        Some(issued),
    ));
    assert!(redriven.sent_at > w.connection("UMA").await.unwrap().consented_at.unwrap());
    assert_eq!(w.worker.sync.process(&[redriven]).await, [Outcome::Done]);
    let c = w
        .connection("UMA")
        .await
        .expect("the newer connection stays");
    assert_eq!(c.status, ConnectionStatus::Active);
    assert_eq!(w.provider.revoked_grants(), 0, "the grant is not revoked");
    assert!(w.marketing.interactions().is_empty(), "no disconnect flag");

    // Issued after the reconnect, the same message disconnects.
    let current = w.later(WorkItem::revoke(
        KIND,
        ProviderUserId("UMA".into()),
        false,
        Some(w.now()),
    ));
    assert_eq!(w.worker.sync.process(&[current]).await, [Outcome::Done]);
    assert!(w.connection("UMA").await.is_none());
}

#[tokio::test]
async fn a_marketing_system_refusing_the_flag_never_keeps_the_tokens() {
    // Issue 8: tokens were deleted only after SAP accepted the disconnect interaction.
    let w = World::new();
    w.connected("OLA", ALL_SCOPES).await;
    w.marketing.reject_next(1);
    let first = w.worker.sync.process(&[w.later(revoke("OLA"))]).await;
    assert_eq!(first, [Outcome::BACKOFF], "the flag is retried");
    assert!(w.connection("OLA").await.is_none(), "tokens gone at once");
    let pending = w
        .store
        .tombstone(&PersonKey::of(KIND, &ProviderUserId("OLA".into())))
        .await
        .unwrap()
        .unwrap();
    assert!(pending.flag_pending);
    // Work arriving meanwhile finds nobody.
    w.worker
        .sync
        .process(&[w.work(sync("OLA", day(20), &[Collection::Activities]))])
        .await;
    assert_eq!(w.provider.fetches_of("OLA"), 0);

    // The retry writes the flag, and a third delivery does not write it again.
    assert_eq!(
        w.worker.sync.process(&[w.later(revoke("OLA"))]).await,
        [Outcome::Done]
    );
    assert_eq!(
        w.worker.sync.process(&[w.later(revoke("OLA"))]).await,
        [Outcome::Done]
    );
    let flags: Vec<_> = w
        .marketing
        .interactions()
        .into_iter()
        .filter(|i| i.source_object.starts_with("OLA-disconnected-"))
        .collect();
    assert_eq!(flags.len(), 1, "one flag: {flags:?}");
}

fn account_deleted(user: &str) -> WorkItem {
    WorkItem::revoke(KIND, ProviderUserId(user.into()), true, None)
}

/// A connected person with one imported day (two ledger entries).
async fn with_history(w: &World, user: &str) {
    w.connected(user, "activity").await;
    w.provider
        .set_day(user, Collection::Activities, day(13), steps(7000));
    let item = sync(user, day(13), &[Collection::Activities]);
    assert_eq!(
        w.worker.sync.process(&[w.work(item)]).await,
        [Outcome::Done]
    );
    assert_eq!(w.store.imported(&contact(user)).len(), 2);
}

#[tokio::test]
async fn a_deleted_account_leaves_nothing_kept_beyond_the_grace_period() {
    // Issue 8: ledger items and tombstones had no TTL after `deleteUser`.
    let w = World::new();
    with_history(&w, "PIA").await;
    let before = w.now();
    assert_eq!(
        w.worker
            .sync
            .process(&[w.later(account_deleted("PIA"))])
            .await,
        [Outcome::Done]
    );
    assert!(w.connection("PIA").await.is_none());
    let tomb = w
        .store
        .tombstone(&PersonKey::of(KIND, &ProviderUserId("PIA".into())))
        .await
        .unwrap()
        .expect("kept through the grace period");
    let forget_at = tomb.forget_at.expect("the tombstone expires");
    assert!(forget_at >= before + ACCOUNT_DELETION_GRACE);
    assert!(forget_at <= w.now() + ACCOUNT_DELETION_GRACE);
    assert_eq!(
        w.store.ledger_expiry(&contact("PIA")),
        [Some(forget_at); 2],
        "every ledger entry of the contact expires with it"
    );
    assert!(
        !tomb.flag_pending,
        "the contact is flagged as for any revocation"
    );

    // A redelivery changes nothing: same expiry, no second flag.
    assert_eq!(
        w.worker
            .sync
            .process(&[w.later(account_deleted("PIA"))])
            .await,
        [Outcome::Done]
    );
    let again = w
        .store
        .tombstone(&PersonKey::of(KIND, &ProviderUserId("PIA".into())))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.forget_at, Some(forget_at));
    let flags = w
        .marketing
        .interactions()
        .into_iter()
        .filter(|i| i.source_object.starts_with("PIA-disconnected-"))
        .count();
    assert_eq!(flags, 1);
}

#[tokio::test]
async fn an_account_deleted_after_its_access_was_revoked_still_expires() {
    let w = World::new();
    with_history(&w, "RUT").await;
    w.worker.sync.process(&[w.later(revoke("RUT"))]).await;
    let person = PersonKey::new(KIND, "RUT");
    let revoked = w.store.tombstone(&person).await.unwrap().unwrap();
    let retained = revoked.revoked_at + RETENTION;
    assert_eq!(revoked.forget_at, Some(retained));
    assert_eq!(
        w.store.ledger_expiry(&contact("RUT")),
        [Some(retained); 2],
        "revoked: kept for the retention"
    );
    assert_eq!(
        w.worker
            .sync
            .process(&[w.later(account_deleted("RUT"))])
            .await,
        [Outcome::Done]
    );
    // The grace period ends sooner than the retention: it brings the end forward.
    let deleted = w.store.tombstone(&person).await.unwrap().unwrap();
    let forget_at = deleted.forget_at.unwrap();
    assert!(forget_at <= w.now() + ACCOUNT_DELETION_GRACE && forget_at < retained);
    assert_eq!(w.store.ledger_expiry(&contact("RUT")), [Some(forget_at); 2]);
}

#[tokio::test]
async fn an_old_account_deleted_after_migrating_keeps_the_contact_it_handed_on() {
    // The contact lives on at the successor: nothing of it may expire.
    let w = World::new();
    with_history(&w, "SVE").await;
    w.store
        .revoke(
            &PersonKey::of(KIND, &ProviderUserId("SVE".into())),
            Ending::Migrated { to: KIND },
            w.now(),
        )
        .await
        .unwrap();
    assert_eq!(
        w.worker
            .sync
            .process(&[w.later(account_deleted("SVE"))])
            .await,
        [Outcome::Done]
    );
    assert_eq!(w.store.ledger_expiry(&contact("SVE")), [None; 2]);
    let tomb = w
        .store
        .tombstone(&PersonKey::of(KIND, &ProviderUserId("SVE".into())))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tomb.forget_at, None);
    assert!(w.marketing.interactions().len() == 2, "no disconnect flag");
}

#[tokio::test]
async fn a_stale_account_deletion_leaves_the_newer_connection_and_its_history() {
    let w = World::new();
    with_history(&w, "TEA").await;
    let stale = Work {
        item: account_deleted("TEA"),
        sent_at: w.now() - time::Duration::minutes(10),
    };
    assert_eq!(w.worker.sync.process(&[stale]).await, [Outcome::Done]);
    assert!(w.connection("TEA").await.is_some());
    assert_eq!(w.store.ledger_expiry(&contact("TEA")), [None; 2]);
}

#[tokio::test]
async fn a_ledger_entry_fed_again_is_permanent_again() {
    let w = World::new();
    with_history(&w, "UMA").await;
    let soon = w.now() + ACCOUNT_DELETION_GRACE;
    assert_eq!(w.store.expire(&contact("UMA"), soon).await.unwrap(), 2);
    assert_eq!(
        w.store.expire(&contact("UMA"), soon).await.unwrap(),
        0,
        "idempotent"
    );
    w.provider
        .set_day("UMA", Collection::Activities, day(13), steps(8000));
    let item = sync("UMA", day(13), &[Collection::Activities]);
    assert_eq!(
        w.worker.sync.process(&[w.later(item)]).await,
        [Outcome::Done]
    );
    // Both of the day's entries were claimed (one to update, one found unchanged).
    assert_eq!(w.store.ledger_expiry(&contact("UMA")), [None; 2]);
}

#[tokio::test]
async fn a_permanent_refusal_is_set_aside_with_its_reason_not_retried_to_the_dlq() {
    // Issue 8: a 404 from a data endpoint was retried with backoff until the DLQ.
    let w = World::new();
    w.connected("PIA", "activity").await;
    w.provider.fail_next([ProviderError::Rejected {
        status: 404,
        error_type: "not_found".into(),
    }]);
    let item = sync("PIA", day(16), &[Collection::Activities]);
    let d = w
        .worker
        .decide(&w.deliveries(std::slice::from_ref(&item), 1))
        .await;
    assert_eq!(d, [Decision::Delete], "not redelivered");
    let parked = w
        .store
        .parked(&PersonKey::of(KIND, &ProviderUserId("PIA".into())))
        .await
        .unwrap();
    assert_eq!(parked.len(), 1, "kept, with its reason, for an operator");
    assert_eq!(parked[0].1, item);
    assert_eq!(
        w.connection("PIA").await.unwrap().status,
        ConnectionStatus::Active,
        "the person's other work goes on"
    );
}

#[tokio::test]
async fn missing_consents_at_the_provider_mark_the_person_and_park_their_work() {
    // The provider serves nothing until the person accepts its own consents there:
    // neither a retry nor a refresh helps, and their later work must not call it.
    let w = World::new();
    w.connected("UMA", ALL_SCOPES).await;
    w.provider.fail_next([ProviderError::ConsentsMissing]);
    let item = sync("UMA", day(14), &[Collection::Activities]);
    assert_eq!(
        w.worker.sync.process(&[w.work(item.clone())]).await,
        [Outcome::Done]
    );
    assert_eq!(
        w.connection("UMA").await.unwrap().status,
        ConnectionStatus::ConsentsMissing
    );
    let later = sync("UMA", day(15), &[Collection::Activities]);
    w.worker.sync.process(&[w.work(later.clone())]).await;
    assert_eq!(w.provider.fetches_of("UMA"), 0);
    let parked = w
        .store
        .parked(&PersonKey::of(KIND, &ProviderUserId("UMA".into())))
        .await
        .unwrap();
    let mut parked: Vec<WorkItem> = parked.into_iter().map(|(_, w)| w).collect();
    parked.sort_by_key(|w| format!("{:?}", w.task));
    assert_eq!(parked, [item, later]);
}
