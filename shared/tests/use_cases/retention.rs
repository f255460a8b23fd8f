//! What is kept about a person after they disconnect, and for how long: the tombstone (it
//! holds the contact key), the contact's import ledger, signal history and signal state
//! expire the retention after the disconnect, whatever the provider says later (Google
//! never says the account is gone). Time is the world's clock; expiry is judged by it.

use fitbridge::domain::signals::history::{DayRecord, History, MonthKey};
use fitbridge::domain::signals::SignalState;
use fitbridge::domain::PersonKey;
use fitbridge::domain::{Collection, ConnectionStatus, Outcome, ProviderUserId, WorkItem};
use fitbridge::ports::signals::SignalStore;
use fitbridge::ports::store::{ConnectionStore, ParkedWork};
use fitbridge::use_cases::sync::ACCOUNT_DELETION_GRACE;
use time::Duration;

use crate::support::*;

fn revoke(user: &str, account_deleted: bool) -> WorkItem {
    WorkItem::revoke(KIND, ProviderUserId(user.into()), account_deleted, None)
}

/// A connected person with one imported day: two ledger entries, a month of history.
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
    let (history, _) = w.store.load(&contact(user)).await.unwrap();
    assert!(history.day(day(13)).is_some());
}

#[tokio::test]
async fn a_disconnect_sets_everything_kept_about_the_person_to_expire_after_the_retention() {
    // Security review, item 10: after a disconnect the history, the import ledger and the
    // tombstone were kept for ever.
    let w = World::new();
    let person = PersonKey::new(KIND, "VIC");
    let contact = contact("VIC");
    with_history(&w, "VIC").await;
    w.store
        .park(&sync("VIC", day(14), &[Collection::Sleep]), "test")
        .await
        .unwrap();

    assert_eq!(
        w.worker
            .sync
            .process(&[w.later(revoke("VIC", false))])
            .await,
        [Outcome::Done]
    );
    let tombstone = w.store.tombstone(&person).await.unwrap().unwrap();
    let at = tombstone.revoked_at + RETENTION;
    assert_eq!(tombstone.forget_at, Some(at));
    assert_eq!(w.store.ledger_expiry(&contact), [Some(at); 2]);
    assert_eq!(
        w.store.expire(&contact, at).await.unwrap(),
        0,
        "the history and the state are set to expire at the same time"
    );

    // A redelivery sets nothing again and flags nothing again.
    assert_eq!(
        w.worker
            .sync
            .process(&[w.later(revoke("VIC", false))])
            .await,
        [Outcome::Done]
    );
    let again = w.store.tombstone(&person).await.unwrap().unwrap();
    assert_eq!(again.forget_at, Some(at));
    assert_eq!(w.store.ledger_expiry(&contact), [Some(at); 2]);
    let flags = w
        .marketing
        .interactions()
        .into_iter()
        .filter(|i| i.source_object.starts_with("VIC-disconnected-"))
        .count();
    assert_eq!(flags, 1);

    // Kept through the retention...
    w.clock.set(at - Duration::seconds(1));
    let kept = w.store.kept_about(&person, &contact);
    for kind in ["tombstone", "import ledger", "signal history"] {
        assert!(kept.contains(&kind), "{kind}: {kept:?}");
    }
    let (history, _) = w.store.load(&contact).await.unwrap();
    assert!(history.day(day(13)).is_some());

    // ...and then nothing about the person remains.
    w.clock.set(at);
    assert_eq!(w.store.kept_about(&person, &contact), Vec::<&str>::new());
    assert!(w.store.tombstone(&person).await.unwrap().is_none());
    assert_eq!(
        w.store.load(&contact).await.unwrap(),
        (History::default(), SignalState::default())
    );
}

#[tokio::test]
async fn a_person_who_connects_again_within_the_retention_keeps_what_they_write_again() {
    let w = World::new();
    let person = PersonKey::new(KIND, "WES");
    let contact = contact("WES");
    with_history(&w, "WES").await;
    w.worker
        .sync
        .process(&[w.later(revoke("WES", false))])
        .await;
    let at = w
        .store
        .tombstone(&person)
        .await
        .unwrap()
        .unwrap()
        .forget_at
        .unwrap();

    // Ten days later the person connects again, and their days flow.
    w.clock.advance(Duration::days(10));
    w.connected("WES", "activity").await;
    w.provider
        .set_day("WES", Collection::Activities, day(27), steps(9000));
    let item = sync("WES", day(27), &[Collection::Activities]);
    assert_eq!(
        w.worker.sync.process(&[w.later(item)]).await,
        [Outcome::Done]
    );
    let mut expiry = w.store.ledger_expiry(&contact);
    expiry.sort();
    assert_eq!(
        expiry,
        [None, None, Some(at), Some(at)],
        "the new day is kept; the old one, not written again, expires as set"
    );

    // Past the retention: the tombstone is gone, the new connection and what it wrote
    // are not.
    w.clock.set(at + Duration::days(1));
    assert!(w.store.tombstone(&person).await.unwrap().is_none());
    let connection = w.connection("WES").await.expect("the new connection stays");
    assert_eq!(connection.status, ConnectionStatus::Active);
    let kept = w.store.kept_about(&person, &contact);
    for kind in ["connection", "import ledger", "signal history"] {
        assert!(kept.contains(&kind), "{kind}: {kept:?}");
    }
    assert!(!kept.contains(&"tombstone"), "{kept:?}");
    let (history, _) = w.store.load(&contact).await.unwrap();
    assert!(
        history.day(day(27)).is_some(),
        "the month written again is kept"
    );

    // And it works: the person's next day is imported.
    let next = w.yesterday_in("Europe/Berlin");
    w.provider
        .set_day("WES", Collection::Activities, next, steps(8000));
    let item = sync("WES", next, &[Collection::Activities]);
    assert_eq!(
        w.worker.sync.process(&[w.later(item)]).await,
        [Outcome::Done]
    );
    assert_eq!(w.store.imported(&contact).len(), 6);
}

#[tokio::test]
async fn a_deleted_account_loses_its_history_at_once_and_the_rest_by_the_sooner_end() {
    // The grace period ends sooner than the default retention...
    let w = World::new();
    let contact_of_ida = contact("IDA");
    with_history(&w, "IDA").await;
    let before = w.now();
    w.worker.sync.process(&[w.later(revoke("IDA", true))]).await;
    let tombstone = w
        .store
        .tombstone(&PersonKey::of(KIND, &ProviderUserId("IDA".into())))
        .await
        .unwrap()
        .unwrap();
    let at = tombstone.forget_at.unwrap();
    assert!(at >= before + ACCOUNT_DELETION_GRACE && at <= w.now() + ACCOUNT_DELETION_GRACE);
    assert_eq!(w.store.ledger_expiry(&contact_of_ida), [Some(at); 2]);
    assert_eq!(
        w.store.load(&contact_of_ida).await.unwrap(),
        (History::default(), SignalState::default()),
        "the history is deleted at once"
    );

    // ...and a retention shorter than the grace period ends sooner still.
    let mut w = World::new();
    w.worker.sync.retention = Duration::days(7);
    with_history(&w, "JON").await;
    w.worker.sync.process(&[w.later(revoke("JON", true))]).await;
    let tombstone = w
        .store
        .tombstone(&PersonKey::of(KIND, &ProviderUserId("JON".into())))
        .await
        .unwrap()
        .unwrap();
    let at = tombstone.revoked_at + Duration::days(7);
    assert_eq!(tombstone.forget_at, Some(at));
    assert_eq!(w.store.ledger_expiry(&contact("JON")), [Some(at); 2]);
}

#[tokio::test]
async fn signal_items_set_to_expire_count_as_absent_after_their_time_and_are_kept_once_written() {
    let w = World::new();
    let contact = contact("KAT");
    let mut history = History::default();
    history.set(
        day(13),
        DayRecord::default().apply(Collection::Activities, &steps(5000)),
    );
    let month = MonthKey::of(day(13));
    assert!(w
        .store
        .save_month(&contact, month, &history.months[&month])
        .await
        .unwrap());
    assert!(w
        .store
        .save_state(&contact, &SignalState::default())
        .await
        .unwrap());

    let at = w.now() + Duration::days(3);
    assert_eq!(w.store.expire(&contact, at).await.unwrap(), 2);
    assert_eq!(w.store.expire(&contact, at).await.unwrap(), 0, "a repeat");
    assert_eq!(
        w.store
            .expire(&contact, at + Duration::days(1))
            .await
            .unwrap(),
        0,
        "an earlier time stays"
    );
    let sooner = at - Duration::days(1);
    assert_eq!(
        w.store.expire(&contact, sooner).await.unwrap(),
        2,
        "a sooner one wins"
    );
    let (loaded, state) = w.store.load(&contact).await.unwrap();
    assert_eq!((loaded.months.len(), state.version), (1, 1));

    w.clock.set(sooner);
    assert_eq!(
        w.store.load(&contact).await.unwrap(),
        (History::default(), SignalState::default())
    );
    // Written again (as from version 0, since it counts as absent), the month is kept.
    let mut fresh = history.months[&month].clone();
    fresh.version = 0;
    assert!(w.store.save_month(&contact, month, &fresh).await.unwrap());
    w.clock.set(at + Duration::days(365));
    let (loaded, state) = w.store.load(&contact).await.unwrap();
    assert_eq!(loaded.months[&month].version, 1);
    assert_eq!(state, SignalState::default(), "the state was not written");
}
