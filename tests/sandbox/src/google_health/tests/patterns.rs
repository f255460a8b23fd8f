use time::Weekday;

use super::*;

/// A person's daily steps from `start` up to (not including) `end`, oldest first.
async fn daily_steps(sandbox: &Sandbox, token: &str, start: Date, end: Date) -> Vec<(Date, u64)> {
    let (status, body) = roll_up(sandbox, token, "steps", range(start, end)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    valid("DailyRollUpDataPointsResponse", &body);
    body["rollupDataPoints"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let steps = p["steps"]["countSum"].as_str().unwrap_or("0");
            (start + TimeDuration::days(i as i64), steps.parse().unwrap())
        })
        .collect()
}

/// The day's exercise, listed with the filter the production client sends (civil dates).
async fn exercise_on(sandbox: &Sandbox, token: &str, day: Date) -> Vec<Value> {
    let next = day.next_day().unwrap();
    let filter = format!(
        r#"exercise.interval.civil_start_time >= "{day}" AND exercise.interval.civil_start_time < "{next}""#
    );
    let listed = list_all(sandbox, token, "exercise", &filter, 25)
        .await
        .concat();
    // The same with explicit midnight times.
    let with_times = format!(
        r#"exercise.interval.civil_start_time >= "{day}T00:00:00" AND exercise.interval.civil_start_time < "{next}T00:00:00""#
    );
    assert_eq!(
        list_all(sandbox, token, "exercise", &with_times, 25)
            .await
            .concat(),
        listed
    );
    listed
}

#[tokio::test]
async fn weekday_runners_run_in_the_evening_and_walk_ten_thousand_steps() {
    let sandbox = start_default().await;
    let gh = &sandbox.google_health;
    assert_eq!(
        gh.user(USER).unwrap().activity_pattern(),
        ActivityPattern::WeekdayRunner
    );
    let token = gh
        .grant_tokens(USER, &[scopes::ACTIVITY_AND_FITNESS])
        .access_token;
    let (start, end) = (days_ago(31), days_ago(1));
    let days = daily_steps(&sandbox, &token, start, end).await;
    assert_eq!(days.len(), 30);
    let mut longest_streak = 0;
    let mut streak = 0;
    for (day, steps) in &days {
        streak = if *steps >= 10_000 { streak + 1 } else { 0 };
        longest_streak = longest_streak.max(streak);
        let weekday = day.weekday();
        if matches!(weekday, Weekday::Saturday | Weekday::Sunday) {
            continue;
        }
        assert!(*steps >= 10_000, "{day}: {steps}");
        let exercise = exercise_on(&sandbox, &token, *day).await;
        assert_eq!(exercise.len(), 1, "{day}: {exercise:?}");
        let run = &exercise[0]["exercise"];
        assert_eq!(run["exerciseType"], "RUNNING");
        assert_eq!(run["interval"]["civilEndTime"]["date"], date_json(*day));
        assert_eq!(
            run["interval"]["civilEndTime"]["time"]["hours"], 18,
            "{run}"
        );
        let run_steps: u64 = run["metricsSummary"]["steps"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(run_steps < *steps);
    }
    assert!(longest_streak >= 7, "the default person walks on Sundays");
    let (_, distance) = roll_up(&sandbox, &token, "distance", range(start, end)).await;
    let millimetres: u64 = distance["rollupDataPoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["distance"]["millimetersSum"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert!(millimetres >= 100_000_000, "{millimetres} mm in 30 days");
}

#[tokio::test]
async fn lapsing_people_stop_ten_days_before_today() {
    let sandbox = start_default().await;
    let gh = &sandbox.google_health;
    let admin = client();
    let added: Value = admin
        .post(format!("{}/_admin/google-health/users", sandbox.base_url))
        .json(&json!({"health_user_id": "4499000000000000001", "pattern": "lapse"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(added["pattern"], "lapse");
    // Without a pattern the ids decide; a migrated person's legacy id does.
    let derived: Value = admin
        .post(format!("{}/_admin/google-health/users", sandbox.base_url))
        .json(&json!({"health_user_id": "4400000000000000002", "legacy_user_id": "SBX021"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(derived["pattern"], "lapse");
    let refused = admin
        .post(format!("{}/_admin/google-health/users", sandbox.base_url))
        .json(&json!({"health_user_id": "4499000000000000002", "pattern": "sofa"}))
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error());

    let token = gh
        .grant_tokens("4499000000000000001", &[scopes::ACTIVITY_AND_FITNESS])
        .access_token;
    let days = daily_steps(&sandbox, &token, days_ago(60), days_ago(1)).await;
    // The sandbox's today is the person's local date; a day either side of UTC is left out.
    for (day, steps) in &days {
        if *day >= days_ago(9) {
            assert!(*steps < 2_000, "{day}: {steps}");
        } else if *day < days_ago(12) {
            assert!(*steps >= 6_000, "{day}: {steps}");
        }
    }
    for back in 1..=9 {
        assert!(exercise_on(&sandbox, &token, days_ago(back))
            .await
            .is_empty());
    }
}
