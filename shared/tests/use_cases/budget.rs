//! The shared request budget in the worker: priorities, yielding, and a quota-wide 429
//! reaching every worker.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fitbridge::budget::MemoryBudget;
use fitbridge::domain::{Collection, Outcome, Priority};
use fitbridge::inbound::sqs::Decision;
use fitbridge::ports::budget::{BudgetLimits, BudgetScope};
use fitbridge::ports::provider::ProviderError;

use crate::support::*;

/// 10 requests a minute on the provider's project: the daily pull reaches 8, backfills 5.
fn budget(w: &World) -> Arc<MemoryBudget> {
    Arc::new(MemoryBudget::new(
        HashMap::from([(
            BudgetScope::Provider(KIND),
            BudgetLimits {
                per_minute: 10,
                daily_percent: 80,
                backfill_percent: 50,
            },
        )]),
        w.clock.clone(),
    ))
}

/// One day of activities for `user`, at `priority`.
fn work(user: &str, d: u8, priority: Priority) -> fitbridge::domain::WorkItem {
    sync(user, day(d), &[Collection::Activities]).at(priority)
}

async fn people(w: &World, n: usize) -> Vec<String> {
    let mut users = Vec::new();
    for i in 0..n {
        let user = format!("P{i:03}");
        w.connected(&user, ALL_SCOPES).await;
        w.provider.set_day(
            &user,
            Collection::Activities,
            day(20),
            steps(1000 + i as u64),
        );
        users.push(user);
    }
    users
}

fn waited(outcomes: &[Outcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::RateLimited(_)))
        .count()
}

#[tokio::test]
async fn each_priority_stops_at_its_ceiling_and_notifications_reach_the_whole_minute() {
    let mut w = World::new();
    // The start of a minute, so the whole test stays in one window.
    w.clock.set(START);
    let b = budget(&w);
    w.worker.sync.budget = b.clone();
    let users = people(&w, 12).await;
    let one = |u: &str, p| vec![w.work(work(u, 20, p))];

    let mut outcomes = Vec::new();
    for u in &users[0..6] {
        outcomes.extend(w.worker.sync.process(&one(u, Priority::Backfill)).await);
    }
    assert_eq!(
        waited(&outcomes),
        1,
        "backfills stop at 5 of 10: {outcomes:?}"
    );
    let mut outcomes = Vec::new();
    for u in &users[6..10] {
        outcomes.extend(w.worker.sync.process(&one(u, Priority::Daily)).await);
    }
    assert_eq!(
        waited(&outcomes),
        1,
        "the daily pull stops at 8: {outcomes:?}"
    );
    let mut outcomes = Vec::new();
    for u in &users[10..12] {
        outcomes.extend(w.worker.sync.process(&one(u, Priority::Notification)).await);
    }
    assert_eq!(
        outcomes,
        [Outcome::Done, Outcome::Done],
        "notifications take the rest"
    );
    assert_eq!(b.used(BudgetScope::Provider(KIND)), 10);
    let late = w
        .worker
        .sync
        .process(&one(&users[0], Priority::Notification))
        .await;
    assert!(
        matches!(late[..], [Outcome::RateLimited(d)] if d <= Duration::from_secs(60)),
        "even a notification waits for the next minute once the quota is used: {late:?}"
    );
    // The provider was asked exactly as often as the budget allowed.
    let fetched: u64 = users.iter().map(|u| w.provider.fetches_of(u)).sum();
    assert_eq!(fetched, 10);
}

#[tokio::test]
async fn a_backfill_yields_to_notifications_and_still_lands_later() {
    let mut w = World::new();
    w.clock.set(START);
    w.worker.sync.budget = budget(&w);
    let users = people(&w, 12).await;
    // A new person's 30-day backfill is already using its share when the notifications
    // come: they still get their data within the same minute.
    let backfill: Vec<_> = users[..9]
        .iter()
        .map(|u| w.work(work(u, 20, Priority::Backfill)))
        .collect();
    let out = w.worker.sync.process(&backfill).await;
    assert_eq!(waited(&out), 4, "{out:?}");
    let notifications: Vec<_> = users[9..]
        .iter()
        .map(|u| w.work(work(u, 20, Priority::Notification)))
        .collect();
    assert_eq!(
        w.worker.sync.process(&notifications).await,
        [Outcome::Done, Outcome::Done, Outcome::Done]
    );

    // What waited is a rate-limit wait for the queue: never towards the dead-letter queue,
    // and it lands once a later minute has room.
    let waiting: Vec<_> = users[..9]
        .iter()
        .zip(&out)
        .filter(|(_, o)| matches!(o, Outcome::RateLimited(_)))
        .map(|(u, _)| work(u, 20, Priority::Backfill))
        .collect();
    // On its last allowed receive, a waiting message is sent again as a fresh copy.
    let decisions = w
        .worker
        .decide(&w.deliveries(&waiting, MAX_RECEIVE_COUNT))
        .await;
    assert!(
        decisions.iter().all(|d| *d == Decision::Delete),
        "{decisions:?}"
    );
    let copies = w.queue.drain();
    assert_eq!(copies, waiting, "not one dropped");
    w.clock.advance(time::Duration::minutes(1));
    w.drain_after(&copies).await;
    for u in &users {
        assert_eq!(w.provider.fetches_of(u), 1, "{u}");
    }
    assert_eq!(
        w.marketing.interactions().len(),
        12 * 2,
        "steps and distance each"
    );
}

#[tokio::test]
async fn a_project_level_429_slows_every_worker_and_a_persons_own_does_not() {
    let w = World::new();
    w.clock.set(START);
    let shared = Arc::new(MemoryBudget::new(
        HashMap::from([(
            BudgetScope::Provider(KIND),
            BudgetLimits {
                per_minute: 1_000,
                daily_percent: 80,
                backfill_percent: 50,
            },
        )]),
        w.clock.clone(),
    ));
    let (a, b) = (w.worker_with(shared.clone()), w.worker_with(shared.clone()));
    people(&w, 4).await;
    let n = |u: &str| vec![w.work(work(u, 20, Priority::Notification))];

    // One person's own limit: only their work waits.
    w.provider.fail_next([ProviderError::RateLimited {
        retry_after: Duration::from_secs(60),
    }]);
    assert!(matches!(
        a.process(&n("P000")).await[..],
        [Outcome::RateLimited(_)]
    ));
    assert_eq!(b.process(&n("P001")).await, [Outcome::Done]);

    // The project's quota: worker A is told, and worker B waits without asking.
    w.provider.fail_next([ProviderError::QuotaExhausted {
        retry_after: Duration::from_secs(60),
    }]);
    assert_eq!(
        a.process(&n("P002")).await,
        [Outcome::RateLimited(Duration::from_secs(60))]
    );
    w.clock.advance(time::Duration::seconds(20));
    let out = b.process(&n("P003")).await;
    assert!(
        matches!(out[..], [Outcome::RateLimited(d)]
            if d > Duration::from_secs(39) && d <= Duration::from_secs(40)),
        "waits out the rest of the minute: {out:?}"
    );
    assert_eq!(
        w.provider.fetches_of("P003"),
        0,
        "no call while the quota is used up"
    );

    // Once it passes, both go on.
    w.clock.advance(time::Duration::seconds(41));
    assert_eq!(b.process(&n("P003")).await, [Outcome::Done]);
    assert_eq!(a.process(&n("P002")).await, [Outcome::Done]);
}

#[tokio::test]
async fn a_quota_the_provider_reports_keeps_the_rest_of_the_day_for_notifications() {
    use fitbridge::budget::{ReportedQuota, Unlimited};
    use fitbridge::ports::budget::{QuotaWindow, RequestBudget};

    let mut w = World::with_frozen_clock();
    let quota = Arc::new(ReportedQuota::new(
        Arc::new(Unlimited),
        BudgetLimits {
            per_minute: 0,
            daily_percent: 80,
            backfill_percent: 50,
        },
        w.clock.clone(),
    ));
    w.worker.sync.budget = quota.clone();
    let users = people(&w, 4).await;
    // What the provider's last answer said: half of the partner's day is used, by all of
    // the deployment's containers together.
    let resets_at = START + time::Duration::hours(6);
    quota.reported(
        BudgetScope::Provider(KIND),
        &[QuotaWindow {
            used: 5_000,
            limit: 10_000,
            resets_at,
        }],
    );
    let one = |u: &str, p| vec![w.work(work(u, 20, p))];
    // A backfill waits for the day's reset: a wait, never a failure.
    assert_eq!(
        w.worker
            .sync
            .process(&one(&users[0], Priority::Backfill))
            .await,
        [Outcome::RateLimited(Duration::from_secs(6 * 3600))]
    );
    assert_eq!(w.provider.fetches_of(&users[0]), 0);
    // The daily pull and notifications go on.
    assert_eq!(
        w.worker
            .sync
            .process(&one(&users[1], Priority::Daily))
            .await,
        [Outcome::Done]
    );
    assert_eq!(
        w.worker
            .sync
            .process(&one(&users[2], Priority::Notification))
            .await,
        [Outcome::Done]
    );
    // At 80 % the daily pull waits too; notifications still have the day's last fifth.
    quota.reported(
        BudgetScope::Provider(KIND),
        &[QuotaWindow {
            used: 8_000,
            limit: 10_000,
            resets_at,
        }],
    );
    assert!(matches!(
        w.worker
            .sync
            .process(&one(&users[3], Priority::Daily))
            .await[..],
        [Outcome::RateLimited(_)]
    ));
    assert_eq!(
        w.worker
            .sync
            .process(&one(&users[3], Priority::Notification))
            .await,
        [Outcome::Done]
    );
    // After the reset the backfill lands.
    w.clock.set(resets_at);
    assert_eq!(
        w.worker
            .sync
            .process(&one(&users[0], Priority::Backfill))
            .await,
        [Outcome::Done]
    );
    assert_eq!(w.provider.fetches_of(&users[0]), 1);
}
