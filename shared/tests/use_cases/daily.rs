//! The daily job.

use fitbridge::domain::PersonKey;
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
            &PersonKey::of(KIND, &ProviderUserId("PARKED".into())),
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

/// A person connected with `scopes` who lives in `timezone`.
async fn living_in(w: &World, user: &str, timezone: &str) {
    use fitbridge::ports::store::ConnectionStore;
    let mut c = w.connected(user, ALL_SCOPES).await;
    c.timezone = Some(timezone.into());
    w.store.save_connected(&c).await.unwrap();
}

#[tokio::test]
async fn a_paced_daily_window_completes_with_everyone_queued_once_at_their_own_point() {
    use fitbridge::domain::Priority;
    use fitbridge::use_cases::daily::DailyPacing;
    use std::time::Duration;

    let mut w = World::new();
    let window = Duration::from_secs(120 * 60);
    let period = Duration::from_secs(15 * 60);
    w.daily.pacing = Some(DailyPacing { window, period });
    let zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"];
    for n in 0..200 {
        living_in(&w, &format!("P{n:03}"), zones[n % zones.len()]).await;
    }

    // Every 15 minutes for a day, from 14:00 UTC on the 20th: the first midnight of the
    // 21st is Tokyo's, at 15:00 UTC.
    let start = time::macros::datetime!(2026-11-20 14:00 UTC);
    let mut due: Vec<(String, time::Date, time::OffsetDateTime)> = Vec::new();
    let mut run_at = start;
    while run_at < start + time::Duration::hours(24) {
        // A run invoked a few seconds late covers the same people.
        w.clock.set(run_at + time::Duration::seconds(7));
        let report = w.daily.run().await.unwrap();
        assert_eq!(report.people, 200);
        assert_eq!(report.queued + report.not_due, 200);
        for (item, delay) in w.queue.sent() {
            assert!(delay <= period, "{delay:?}");
            assert_eq!(item.priority, Priority::Daily);
            let Task::Sync { date, .. } = item.task else {
                panic!("a sync");
            };
            due.push((item.user_id.0.clone(), date, w.now() + delay));
        }
        w.queue.drain();
        run_at += time::Duration::minutes(15);
    }

    // Each person once, for the 20th, inside the window after their own midnight.
    assert_eq!(due.len(), 200, "everyone once a night");
    let mut users: Vec<&str> = due.iter().map(|(u, _, _)| u.as_str()).collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 200);
    for (user, date, at) in &due {
        assert_eq!(*date, day(20), "{user}");
        let n: usize = user[1..].parse().unwrap();
        let tz = jiff::tz::TimeZone::get(zones[n % zones.len()]).unwrap();
        let local_midnight = jiff::civil::date(2026, 11, 21)
            .to_zoned(tz)
            .unwrap()
            .timestamp()
            .as_second();
        let since = at.unix_timestamp() - local_midnight;
        assert!(
            (0..window.as_secs() as i64).contains(&since),
            "{user} due {since} s after their midnight"
        );
    }
    // Spread, not bunched: no quarter hour of one zone's window holds more than twice its
    // share (50 people a zone, 8 quarter hours).
    let mut per_quarter = std::collections::HashMap::<(usize, i64), usize>::new();
    for (user, _, at) in &due {
        let n: usize = user[1..].parse().unwrap();
        *per_quarter
            .entry((n % zones.len(), at.unix_timestamp() / 900))
            .or_default() += 1;
    }
    assert!(
        per_quarter.values().all(|c| *c <= 2 * 50 / 8 + 2),
        "{per_quarter:?}"
    );
    let last = due.iter().map(|(_, _, at)| *at).max().unwrap();
    // The last zone of the day (New York, midnight at 05:00 UTC) completes by 07:00 UTC.
    assert!(
        last < time::macros::datetime!(2026-11-21 07:00 UTC),
        "{last}"
    );
}
