//! Campaign signals through the worker: each rule kind fires exactly once per period under
//! duplicates, redelivery, re-fetches of changed days and overlapping backfills, and never
//! again for a day that stops qualifying; attributes reach the contact only when they
//! change; a deleted account takes its history with it.

use fitbridge::domain::signals::EventBody;
use fitbridge::domain::Outcome;
use fitbridge::domain::{Collection, DaySummary, ProviderUserId, WorkItem};
use fitbridge::ports::signals::SignalStore;
use time::Date;

use crate::support::*;

fn date(month: u8, d: u8) -> Date {
    Date::from_calendar_date(2026, time::Month::try_from(month).unwrap(), d).unwrap()
}

/// `values` as the person's steps from `from` on (a day per value), all collections set.
fn set_steps(w: &World, user: &str, from: Date, values: &[u64]) -> Vec<WorkItem> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let d = from + time::Duration::days(i as i64);
            w.provider
                .set_day(user, Collection::Activities, d, steps(*v));
            sync(user, d, &[Collection::Activities])
        })
        .collect()
}

/// Notifications sent after everything so far (the fetch log answers a notification sent
/// within the millisecond of a completed fetch from that fetch), then drained.
async fn notify_again(w: &World, items: &[WorkItem]) {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    w.drain_after(items).await;
}

/// The signal interactions of rule `rule` (their source objects).
fn fired(w: &World, rule: &str) -> Vec<String> {
    w.marketing
        .signals()
        .into_iter()
        .map(|(source, _)| source)
        .filter(|s| s.contains(&format!("-s-{rule}-")))
        .collect()
}

const STREAK: &str =
    r#"[{"id": "streak3", "kind": "streak", "metric": "steps", "at_least": 10000, "days": 3}]"#;

#[tokio::test]
async fn a_streak_fires_once_under_duplicates_redelivery_and_refetch() {
    let w = World::with_rules(STREAK);
    w.set_today(date(11, 5));
    w.connected("ANNA", ALL_SCOPES).await;
    let items = set_steps(&w, "ANNA", date(11, 2), &[12_000, 11_000, 10_500]);

    // Every day twice in one batch, then the whole batch again as a redelivery.
    let twice: Vec<WorkItem> = items.iter().chain(&items).cloned().collect();
    assert!(w
        .worker
        .sync
        .process(&w.works(&twice))
        .await
        .iter()
        .all(|o| *o == Outcome::Done));
    w.drain_after(&items).await;
    // A re-fetch of a changed day that still qualifies.
    w.provider
        .set_day("ANNA", Collection::Activities, date(11, 4), steps(13_000));
    notify_again(&w, &items[2..]).await;

    assert_eq!(fired(&w, "streak3"), ["ANNA-s-streak3-2026-11"]);
    let (_, content) = &w.marketing.signals()[0];
    let figures: serde_json::Value = serde_json::from_str(content).unwrap();
    assert_eq!(figures["metric"], "steps");
    assert_eq!(figures["days"], 3);
    assert_eq!(figures["value"], 10_500.0, "the lowest day when it fired");
}

#[tokio::test]
async fn a_day_that_stops_qualifying_never_fires_the_rule_again() {
    let w = World::with_rules(STREAK);
    w.set_today(date(11, 5));
    w.connected("BEN", ALL_SCOPES).await;
    let items = set_steps(&w, "BEN", date(11, 2), &[12_000, 11_000, 10_500]);
    w.drain_after(&items).await;
    assert_eq!(fired(&w, "streak3").len(), 1);

    // The last day is corrected down (the rule no longer holds), then up again.
    for corrected in [500, 12_000] {
        w.provider
            .set_day("BEN", Collection::Activities, date(11, 4), steps(corrected));
        notify_again(&w, &items[2..]).await;
    }
    // And a new streak later in the same month is the same period.
    w.set_today(date(11, 13));
    let more = set_steps(&w, "BEN", date(11, 10), &[10_000, 10_000, 10_000]);
    w.drain_after(&more).await;
    assert_eq!(fired(&w, "streak3"), ["BEN-s-streak3-2026-11"]);

    // The next month is a new period.
    w.set_today(date(12, 4));
    let december = set_steps(&w, "BEN", date(12, 1), &[10_000, 10_000, 10_000]);
    w.drain_after(&december).await;
    assert_eq!(
        fired(&w, "streak3"),
        ["BEN-s-streak3-2026-11", "BEN-s-streak3-2026-12"]
    );
}

#[tokio::test]
async fn a_window_sums_what_arrives_in_any_order() {
    let w = World::with_rules(
        r#"[{"id": "run30", "kind": "window", "metric": "distance", "at_least": 30, "days": 7}]"#,
    );
    w.set_today(date(11, 27));
    w.connected("CARA", ALL_SCOPES).await;
    // 7 days of 6,500 steps = 5 km each: 35 km in 7 days, delivered newest first.
    let mut items = set_steps(&w, "CARA", date(11, 20), &[6_500; 7]);
    items.reverse();
    for item in &items {
        w.drain_after(std::slice::from_ref(item)).await;
    }
    notify_again(&w, &items).await;
    assert_eq!(fired(&w, "run30"), ["CARA-s-run30-2026-11"]);
    // It fired as soon as six of the days were in: 30 km.
    let (_, content) = &w.marketing.signals()[0];
    assert!(content.contains("\"value\":30"), "{content}");
}

#[tokio::test]
async fn a_milestone_counts_the_backfill_and_fires_once_ever() {
    let w = World::with_rules(
        r#"[{"id": "steps50k", "kind": "milestone", "metric": "steps", "at_least": 50000}]"#,
    );
    w.set_today(date(11, 11));
    w.connected("DAN", ALL_SCOPES).await;
    // A backfill in two overlapping halves, each delivered twice.
    let items = set_steps(&w, "DAN", date(11, 1), &[6_000; 10]);
    for _ in 0..2 {
        notify_again(&w, &items[..6]).await;
        notify_again(&w, &items[4..]).await;
    }
    assert_eq!(fired(&w, "steps50k"), ["DAN-s-steps50k-ever"]);
    let (_, content) = &w.marketing.signals()[0];
    assert!(
        content.contains("\"value\":54000"),
        "day 9 reached it: {content}"
    );

    w.set_today(date(12, 23));
    let later = set_steps(&w, "DAN", date(12, 20), &[20_000; 3]);
    w.drain_after(&later).await;
    assert_eq!(fired(&w, "steps50k").len(), 1, "once ever");
}

#[tokio::test]
async fn a_lapse_fires_for_someone_active_before() {
    let w = World::with_rules(
        r#"[{"id": "lapse", "kind": "lapse", "metric": "steps", "active_days": 14,
             "active_at_least": 5000, "days": 5, "below": 2000}]"#,
    );
    w.set_today(date(11, 23));
    w.connected("EVA", ALL_SCOPES).await;
    w.connected("NEW", ALL_SCOPES).await;
    let mut items = set_steps(&w, "EVA", date(11, 1), &[7_000; 14]);
    items.extend(set_steps(&w, "EVA", date(11, 15), &[900; 8]));
    // Someone only seen while quiet has not lapsed from anything.
    let newcomer = set_steps(&w, "NEW", date(11, 15), &[900; 8]);
    w.drain_after(&items).await;
    w.drain_after(&newcomer).await;
    w.drain_after(&items[16..]).await;
    assert_eq!(fired(&w, "lapse"), ["EVA-s-lapse-2026-11"]);
}

#[tokio::test]
async fn old_days_of_a_backfill_build_history_without_firing() {
    // Whatever order they arrive in: here the old streak comes first, alone.
    let w = World::with_rules(STREAK);
    w.set_today(date(11, 22));
    w.connected("FAY", ALL_SCOPES).await;
    // A streak three weeks before the person's today: history, not news.
    let old = set_steps(&w, "FAY", date(11, 1), &[12_000; 3]);
    w.drain_after(&old).await;
    let rest = set_steps(&w, "FAY", date(11, 4), &[3_000; 18]);
    w.drain_after(&rest).await;
    assert!(fired(&w, "streak3").is_empty());
}

#[tokio::test]
async fn score_and_send_hour_reach_the_contact_only_when_they_change() {
    let w = World::with_rules("[]");
    w.connected("GIL", ALL_SCOPES).await;
    let days: Vec<WorkItem> = (0..10)
        .map(|i| {
            let d = date(11, 1) + time::Duration::days(i);
            w.provider.set_day(
                "GIL",
                Collection::Activities,
                d,
                DaySummary {
                    steps: Some(12_000),
                    active_minutes: Some(10),
                    // A run ending at 18:20 most days.
                    workout_ends: if i % 3 == 0 { vec![] } else { vec![1_100] },
                    ..Default::default()
                },
            );
            sync("GIL", d, &[Collection::Activities])
        })
        .collect();
    w.drain_after(&days).await;
    let attributes = w.marketing.attributes(&contact("GIL"));
    // (50 + 14) × 100 / 80 = 80: see `signals::score`.
    assert_eq!(attributes["FITBRIDGE_ACTIVITY_SCORE"], ["80"]);
    assert_eq!(attributes["FITBRIDGE_ACTIVITY_BAND"], ["very_active"]);
    assert_eq!(attributes["FITBRIDGE_SEND_HOUR"], ["18"]);
    let published = w.events.published().len();

    // The same days again change nothing and publish nothing.
    notify_again(&w, &days).await;
    assert_eq!(w.events.published().len(), published);

    // A slower day moves the score: the new value replaces the old one.
    w.provider.set_day(
        "GIL",
        Collection::Activities,
        date(11, 10),
        DaySummary {
            steps: Some(0),
            active_minutes: Some(0),
            ..Default::default()
        },
    );
    notify_again(&w, &days[9..]).await;
    let attributes = w.marketing.attributes(&contact("GIL"));
    // Mean steps 10,800 (still 50), 63 active minutes a week (12.6): 62.6 × 1.25 → 78.
    assert_eq!(attributes["FITBRIDGE_ACTIVITY_SCORE"], ["78"]);
    let scores: Vec<_> = w
        .events
        .published()
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::Score {
                score,
                previous_score,
                ..
            } => Some((score, previous_score)),
            _ => None,
        })
        .collect();
    assert_eq!(scores.len(), 2);
    assert_eq!(scores[1].1, Some(80));
}

#[tokio::test]
async fn the_score_is_of_complete_days_so_todays_syncs_leave_it_alone() {
    let w = World::with_rules("[]");
    w.connected("HAL", ALL_SCOPES).await;
    let today = date(11, 20);
    w.set_today(today);
    let active = |steps| DaySummary {
        steps: Some(steps),
        active_minutes: Some(30),
        ..Default::default()
    };
    let days: Vec<WorkItem> = (1..=14)
        .map(|back| {
            let d = today - time::Duration::days(back);
            w.provider
                .set_day("HAL", Collection::Activities, d, active(8_000));
            sync("HAL", d, &[Collection::Activities])
        })
        .collect();
    w.drain_after(&days).await;
    let score = || w.marketing.attributes(&contact("HAL"))["FITBRIDGE_ACTIVITY_SCORE"].clone();
    assert_eq!(score(), ["100"]);
    let published = w.events.published().len();

    // Today's syncs: 500 steps by breakfast, 9,000 by night. Counted as a day, the morning
    // would have lowered the score and the evening raised it again.
    for steps in [500, 4_000, 9_000] {
        w.provider
            .set_day("HAL", Collection::Activities, today, active(steps));
        notify_again(&w, &[sync("HAL", today, &[Collection::Activities])]).await;
        assert_eq!(score(), ["100"], "after {steps} steps today");
    }
    assert_eq!(w.events.published().len(), published, "no score event");

    // The next day, yesterday is complete and counts: a quiet yesterday shows.
    w.set_today(today + time::Duration::days(1));
    w.provider
        .set_day("HAL", Collection::Activities, today, active(500));
    notify_again(&w, &[sync("HAL", today, &[Collection::Activities])]).await;
    assert_ne!(score(), ["100"], "yesterday's 500 steps count now");
}

#[tokio::test]
async fn a_marketing_outage_retries_the_day_and_fires_once() {
    let w = World::with_rules(STREAK);
    w.set_today(date(11, 5));
    w.connected("HAL", ALL_SCOPES).await;
    let items = set_steps(&w, "HAL", date(11, 2), &[12_000; 3]);
    w.drain_after(&items[..2]).await;
    // The last day's interactions go in; the signal write then fails.
    w.marketing.fail_next(2);
    let out = w.worker.sync.process(&w.works(&items[2..])).await;
    assert!(
        matches!(out[0], Outcome::Retry { backoff: true, .. }),
        "{out:?}"
    );
    w.drain_after(&items[2..]).await;
    assert_eq!(fired(&w, "streak3"), ["HAL-s-streak3-2026-11"]);
}

/// Two observers of one person (different days in different workers) must not both
/// write the same signal: the one holding the right to write does, the other hands its day
/// back and, retried after the right is given back, finds the signal written.
#[tokio::test]
async fn an_observer_waits_while_another_writes_the_persons_signals() {
    use fitbridge::domain::signals::SignalState;
    let w = World::with_rules(STREAK);
    w.set_today(date(11, 5));
    w.connected("IDA", ALL_SCOPES).await;
    let items = set_steps(&w, "IDA", date(11, 2), &[12_000; 3]);
    w.drain_after(&items[..2]).await;
    // Another observer holds the right to write (it is between its claim and its record).
    let contact = contact("IDA");
    let (_, state) = w.store.load(&contact).await.unwrap();
    let noon = (date(11, 5).midnight().assume_utc() + time::Duration::hours(12)).unix_timestamp();
    let held = SignalState {
        writing_until: Some(noon + 30),
        ..state.clone()
    };
    assert!(w.store.save_state(&contact, &held).await.unwrap());
    let out = w.worker.sync.process(&w.works(&items[2..])).await;
    assert!(
        matches!(out[0], Outcome::Retry { backoff: true, .. }),
        "{out:?}"
    );
    assert!(
        fired(&w, "streak3").is_empty(),
        "written by nobody but the holder"
    );
    // The holder gives it back without having fired (it died, or its write failed).
    let (_, held) = w.store.load(&contact).await.unwrap();
    let given_back = SignalState {
        writing_until: None,
        ..held
    };
    assert!(w.store.save_state(&contact, &given_back).await.unwrap());
    w.drain_after(&items[2..]).await;
    assert_eq!(fired(&w, "streak3"), ["IDA-s-streak3-2026-11"]);
    let (_, after) = w.store.load(&contact).await.unwrap();
    assert_eq!(after.writing_until, None, "given back after writing");
}

#[tokio::test]
async fn a_backfill_arriving_newest_first_still_fires_what_the_old_days_complete() {
    let w = World::with_rules(
        r#"[{"id": "steps50k", "kind": "milestone", "metric": "steps", "at_least": 50000}]"#,
    );
    w.set_today(date(11, 11));
    w.connected("KAI", ALL_SCOPES).await;
    let items = set_steps(&w, "KAI", date(11, 1), &[6_000; 10]);
    // The three newest days first: 18,000 steps, nothing to fire yet.
    w.drain_after(&items[7..]).await;
    assert!(fired(&w, "steps50k").is_empty());
    // Then the old ones, none of them recent: the lifetime total as of today is now 60,000.
    w.drain_after(&items[..7]).await;
    assert_eq!(fired(&w, "steps50k"), ["KAI-s-steps50k-ever"]);
}

#[tokio::test]
async fn a_tenant_refusing_signals_holds_up_no_day_and_gets_them_once_fixed() {
    let w = World::with_rules(STREAK);
    w.set_today(date(11, 6));
    w.connected("JO", ALL_SCOPES).await;
    w.marketing.refuse_signals(true);
    let items = set_steps(&w, "JO", date(11, 2), &[12_000; 3]);
    let out = w.worker.sync.process(&w.works(&items)).await;
    assert!(out.iter().all(|o| *o == Outcome::Done), "{out:?}");
    assert_eq!(w.marketing.interactions().len(), 6, "the days are in");
    assert!(fired(&w, "streak3").is_empty());

    // Fixed in the tenant: the person's next day brings the signal.
    w.marketing.refuse_signals(false);
    let next = set_steps(&w, "JO", date(11, 5), &[12_000]);
    w.drain_after(&next).await;
    assert_eq!(fired(&w, "streak3"), ["JO-s-streak3-2026-11"]);
}

#[tokio::test]
async fn a_deleted_account_takes_its_history_with_it() {
    let w = World::new();
    w.connected("IDA", ALL_SCOPES).await;
    let items = set_steps(&w, "IDA", date(11, 2), &[12_000; 3]);
    w.drain_after(&items).await;
    let (history, _) = w.store.load(&contact("IDA")).await.unwrap();
    assert_eq!(history.days().count(), 3);

    w.drain_after(&[WorkItem::revoke(
        KIND,
        ProviderUserId("IDA".into()),
        true,
        None,
    )])
    .await;
    let (history, state) = w.store.load(&contact("IDA")).await.unwrap();
    assert_eq!(history.days().count(), 0);
    assert_eq!(state.version, 0);
}
