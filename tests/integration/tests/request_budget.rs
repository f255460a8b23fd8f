//! The shared request budget's DynamoDB adapter against the emulator, on the deployed
//! table: the rules the use-case tests hold the in-memory budget to, decided here by
//! DynamoDB's condition expressions between containers that share nothing else.
//!
//! - Containers lease slices of a (scope, minute) window; together they never pass a
//!   priority's ceiling (backfill 50 %, daily 80 %, notifications all of it), and a lower
//!   priority's leases leave the rest to the higher ones.
//! - A new minute is a new window.
//! - A quota-wide 429 recorded by one container makes every other one wait it out.
//! - Coordination costs one write per slice, not one per request (a metering proxy counts
//!   them).
//!
//! Each test runs on its own frozen clock at a random minute, so runs and tests never share
//! a window item.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fitbridge::budget::DynamoBudget;
use fitbridge::clock::SetClock;
use fitbridge::domain::{Priority, ProviderKind};
use fitbridge::ports::budget::{BudgetLimits, BudgetScope, Grant, RequestBudget};
use fitbridge::ports::clock::Clock;
use fitbridge_integration::aws_meter::Meter;
use fitbridge_integration::{aws_config, aws_config_at, aws_endpoint, stack, stack_table};
use rand::Rng;
use time::OffsetDateTime;

const SCOPE: BudgetScope = BudgetScope::Provider(ProviderKind::GoogleHealth);

/// A clock at the start of a random minute, frozen.
fn clock() -> Arc<SetClock> {
    let minute: i64 = rand::rng().random_range(1_000_000..20_000_000);
    Arc::new(SetClock::frozen(
        OffsetDateTime::from_unix_timestamp(minute * 60).unwrap(),
    ))
}

fn limits(per_minute: u32) -> HashMap<BudgetScope, BudgetLimits> {
    HashMap::from([(
        SCOPE,
        BudgetLimits {
            per_minute,
            daily_percent: 80,
            backfill_percent: 50,
        },
    )])
}

async fn container(
    aws: &aws_config::SdkConfig,
    per_minute: u32,
    slice: u32,
    clock: &Arc<SetClock>,
) -> DynamoBudget {
    DynamoBudget::new(
        aws_sdk_dynamodb::Client::new(aws),
        stack_table(&stack()),
        limits(per_minute),
        slice,
        clock.clone(),
    )
}

/// Requests granted one at a time, alternating between the containers, until every one of
/// them is told to wait.
async fn take_all(containers: &[&DynamoBudget], priority: Priority) -> u32 {
    let mut granted = 0;
    let mut waiting = vec![false; containers.len()];
    while waiting.iter().any(|w| !w) {
        for (n, c) in containers.iter().enumerate() {
            if waiting[n] {
                continue;
            }
            match c.take(SCOPE, priority, 1).await.unwrap() {
                Grant::Go => granted += 1,
                Grant::Wait(_) => waiting[n] = true,
            }
        }
    }
    granted
}

#[tokio::test]
async fn containers_together_stay_within_each_prioritys_share_of_the_minute() {
    let aws = aws_config(&stack()).await;
    let clock = clock();
    let a = container(&aws, 100, 10, &clock).await;
    let b = container(&aws, 100, 10, &clock).await;

    assert_eq!(take_all(&[&a, &b], Priority::Backfill).await, 50);
    assert_eq!(
        take_all(&[&a, &b], Priority::Daily).await,
        30,
        "the daily pull reaches 80 of 100"
    );
    assert_eq!(
        take_all(&[&a, &b], Priority::Notification).await,
        20,
        "notifications keep the last 20"
    );
    match a.take(SCOPE, Priority::Notification, 1).await.unwrap() {
        Grant::Wait(wait) => assert!(wait <= Duration::from_secs(60), "{wait:?}"),
        Grant::Go => panic!("the minute is used up"),
    }

    // The next minute is a window of its own.
    clock.set(clock.now() + time::Duration::minutes(1));
    assert_eq!(take_all(&[&a, &b], Priority::Backfill).await, 50);
}

#[tokio::test]
async fn a_quota_wide_429_seen_by_one_container_holds_the_others() {
    let aws = aws_config(&stack()).await;
    let clock = clock();
    let a = container(&aws, 1000, 10, &clock).await;
    let b = container(&aws, 1000, 10, &clock).await;
    assert_eq!(
        b.take(SCOPE, Priority::Notification, 1).await.unwrap(),
        Grant::Go
    );

    a.exhausted(SCOPE, Duration::from_secs(90)).await.unwrap();
    // `b` spends what it leased already, then its next lease meets the block.
    let mut waited = None;
    for _ in 0..20 {
        if let Grant::Wait(wait) = b.take(SCOPE, Priority::Notification, 1).await.unwrap() {
            waited = Some(wait);
            break;
        }
    }
    assert_eq!(waited, Some(Duration::from_secs(90)), "b waits the 429 out");
    // In the next minute, still within the 90 s, a fresh container waits too.
    clock.set(clock.now() + time::Duration::seconds(61));
    let c = container(&aws, 1000, 10, &clock).await;
    assert_eq!(
        c.take(SCOPE, Priority::Daily, 1).await.unwrap(),
        Grant::Wait(Duration::from_secs(29))
    );
    // Once it has passed, everyone goes on.
    clock.set(clock.now() + time::Duration::seconds(30));
    assert_eq!(c.take(SCOPE, Priority::Daily, 1).await.unwrap(), Grant::Go);
}

#[tokio::test]
async fn coordination_costs_one_write_per_slice() {
    let stack = stack();
    let meter = Meter::start(&aws_endpoint(&stack)).await;
    let aws = aws_config_at(&stack, &meter.url).await;
    let clock = clock();
    let a = container(&aws, 100_000, 50, &clock).await;
    let _ = meter.take();
    for _ in 0..1_000 {
        assert_eq!(a.take(SCOPE, Priority::Daily, 1).await.unwrap(), Grant::Go);
    }
    let tally = meter.take();
    assert_eq!(
        tally
            .requests
            .get(&("dynamodb".to_owned(), "UpdateItem".to_owned())),
        Some(&20),
        "{tally:?}"
    );
    assert_eq!(tally.service("dynamodb"), 20, "{tally:?}");
    assert!(
        tally.write_units <= 20.0,
        "one unit per lease: {}",
        tally.write_units
    );
}
