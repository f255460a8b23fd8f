use time::Duration;

use super::*;

const WEDNESDAY: Date = date!(2026 - 11 - 18);

fn activity_path(day: Date) -> String {
    format!("/v3/users/activities/{day}")
}

#[tokio::test]
async fn a_days_activity_has_the_pages_fields() {
    let sandbox = start_default().await;
    let token = connected(&sandbox).await;
    let response = get(&sandbox, &token, &activity_path(WEDNESDAY)).await;
    let day = json_of(
        response,
        StatusCode::OK,
        "activity-summary-with-all-samples",
    )
    .await;
    let summary: ActivitySummary = serde_json::from_value(day.clone()).unwrap();
    assert_eq!(summary.start_time, "2026-11-18T00:00:00");
    assert_eq!(summary.end_time, "2026-11-18T23:59:59");
    assert!(
        summary.steps >= 10_000,
        "a weekday runner's weekday: {}",
        summary.steps
    );
    assert!(
        summary.distance_from_steps > 5_000.0,
        "metres: {}",
        summary.distance_from_steps
    );
    assert!(summary.active_duration.starts_with("PT") && summary.active_duration.contains('H'));
    assert!(summary.calories > summary.active_calories);
    assert!(day.get("samples").is_none());
    // The same day answers the same.
    let again = get(&sandbox, &token, &activity_path(WEDNESDAY)).await;
    assert_eq!(again.json::<Value>().await.unwrap(), day);

    let with_samples = format!(
        "{}?steps=true&activity_zones=true&inactivity_stamps=true",
        activity_path(WEDNESDAY)
    );
    let response = get(&sandbox, &token, &with_samples).await;
    let day = json_of(
        response,
        StatusCode::OK,
        "activity-summary-with-all-samples",
    )
    .await;
    assert_eq!(day["samples"]["date"], "2026-11-18");
    assert_eq!(day["samples"]["steps"]["total_steps"], summary.steps);
    assert!(
        day["samples"]["activity_zones"]["samples"]
            .as_array()
            .unwrap()
            .len()
            >= 3
    );
}

#[tokio::test]
async fn days_without_data_answer_204_and_old_or_bad_dates_400() {
    let sandbox = start_default().await;
    let token = connected(&sandbox).await;
    let status = |path: String| {
        let (sandbox, token) = (&sandbox, &token);
        async move { get(sandbox, token, &path).await.status() }
    };
    assert_eq!(
        status(activity_path(TODAY + Duration::days(1))).await,
        StatusCode::NO_CONTENT
    );
    sandbox.polar.delete_day(USER, WEDNESDAY);
    assert_eq!(
        status(activity_path(WEDNESDAY)).await,
        StatusCode::NO_CONTENT
    );
    sandbox
        .polar
        .record_activity(USER, RecordedActivity::on(WEDNESDAY).steps(4_321));
    let response = get(&sandbox, &token, &activity_path(WEDNESDAY)).await;
    let day = json_of(response, StatusCode::OK, "activity-summary").await;
    assert_eq!(day["steps"], 4_321);
    assert!((day["distance_from_steps"].as_f64().unwrap() - 4_321.0 * 0.6972).abs() < 1.0);

    // 365 days back is the oldest date; the person has data from their membership on.
    assert_eq!(
        status(activity_path(TODAY - Duration::days(365))).await,
        StatusCode::OK
    );
    let response = get(
        &sandbox,
        &token,
        &activity_path(TODAY - Duration::days(366)),
    )
    .await;
    assert_eq!(
        error_type(response, StatusCode::BAD_REQUEST).await,
        "BadRequest"
    );
    assert_eq!(
        status("/v3/users/activities/2026-13-01".into()).await,
        StatusCode::BAD_REQUEST
    );
    let mut newcomer = PolarUser::new("777", "New", "Comer");
    newcomer.member_since = "2026-11-10".to_owned();
    sandbox.polar.add_user(newcomer);
    let newcomer = sandbox.polar.connect("777", "member-777").access_token;
    let response = get(&sandbox, &newcomer, &activity_path(date!(2026 - 11 - 09))).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = get(&sandbox, &newcomer, &activity_path(date!(2026 - 11 - 10))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sandbox.polar.data_calls(USER), 6);
}

#[tokio::test]
async fn activity_lists_cover_28_days_or_a_range() {
    let sandbox = start_default().await;
    let token = connected(&sandbox).await;
    sandbox.polar.delete_day(USER, WEDNESDAY);
    let response = get(&sandbox, &token, "/v3/users/activities").await;
    let list = json_of(
        response,
        StatusCode::OK,
        "array-of-activity-summary-with-all-samples",
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 27, "28 days, one emptied");
    assert_eq!(list[0]["start_time"], "2026-10-24T00:00:00");
    let response = get(
        &sandbox,
        &token,
        "/v3/users/activities/?from=2026-11-01&to=2026-11-10",
    )
    .await;
    let list = json_of(
        response,
        StatusCode::OK,
        "array-of-activity-summary-with-all-samples",
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 10);
    let response = get(
        &sandbox,
        &token,
        "/v3/users/activities?from=2026-11-15&steps=true",
    )
    .await;
    let list = json_of(
        response,
        StatusCode::OK,
        "array-of-activity-summary-with-all-samples",
    )
    .await;
    assert_eq!(
        list.as_array().unwrap().len(),
        5,
        "to defaults to today; one emptied"
    );
    assert!(list[0]["samples"]["steps"].is_object());
    for bad in [
        "?from=2026-10-01&to=2026-11-10",
        "?from=2025-11-01",
        "?to=2026-11-10",
        "?from=x",
    ] {
        let response = get(&sandbox, &token, &format!("/v3/users/activities{bad}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn a_night_belongs_to_its_morning_and_a_missing_one_is_404() {
    let sandbox = start_default().await;
    let token = connected(&sandbox).await;
    let response = get(&sandbox, &token, "/v3/users/sleep/2026-11-19").await;
    let night = json_of(response, StatusCode::OK, "sleep").await;
    let sleep: Sleep = serde_json::from_value(night.clone()).unwrap();
    assert_eq!(sleep.date, "2026-11-19");
    assert!(
        sleep.sleep_start_time.starts_with("2026-11-18T2"),
        "{}",
        sleep.sleep_start_time
    );
    assert!(
        sleep.sleep_start_time.ends_with("+01:00"),
        "Berlin in November"
    );
    assert!(sleep.sleep_end_time.starts_with("2026-11-19T0"));
    assert_eq!(
        sleep.polar_user,
        format!("{}/v3/users/{USER}", sandbox.base_url)
    );
    assert!(sleep.light_sleep + sleep.deep_sleep + sleep.rem_sleep > 5 * 3600);
    let response = get(&sandbox, &token, "/v3/users/sleep/2026-11-21").await;
    assert_eq!(
        error_type(response, StatusCode::NOT_FOUND).await,
        "NotFound"
    );
    sandbox.polar.delete_day(USER, date!(2026 - 11 - 19));
    let response = get(&sandbox, &token, "/v3/users/sleep/2026-11-19").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = get(&sandbox, &token, "/v3/users/sleep/yesterday").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = get(&sandbox, &token, "/v3/users/sleep").await;
    let nights = json_of(response, StatusCode::OK, "nights").await;
    assert_eq!(nights["nights"].as_array().unwrap().len(), 27);
    let response = get(&sandbox, &token, "/v3/users/sleep/available").await;
    let available = json_of(response, StatusCode::OK, "available-sleeps").await;
    let last = available["available"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["date"], "2026-11-20");
}

#[tokio::test]
async fn exercises_appear_once_uploaded_after_registration() {
    let sandbox = start_default().await;
    let token = connected(&sandbox).await;
    // Registered at 13:00 Berlin: the week's earlier runs were uploaded before it.
    let response = get(&sandbox, &token, "/v3/exercises").await;
    let list = json_of(response, StatusCode::OK, "exercisesHashId").await;
    assert_eq!(list, json!([]));
    // Friday's run ends 18:xx Berlin; by 21:00 it is uploaded.
    sandbox.polar.advance_clock(8 * 3600);
    let response = get(&sandbox, &token, "/v3/exercises").await;
    let list = json_of(response, StatusCode::OK, "exercisesHashId").await;
    let runs: Vec<Exercise> = serde_json::from_value(list).unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.sport, "RUNNING");
    assert!(run.start_time.starts_with("2026-11-20T1"));
    assert_eq!(run.start_time_utc_offset, 60);
    assert!(
        run.upload_time.starts_with("2026-11-20T17:")
            || run.upload_time.starts_with("2026-11-20T18:")
    );
    assert!(run.distance > 3_000.0);
    let response = get(&sandbox, &token, &format!("/v3/exercises/{}", run.id)).await;
    let one = json_of(response, StatusCode::OK, "exerciseHashId").await;
    assert_eq!(one["id"], run.id.as_str());
    let response = get(&sandbox, &token, "/v3/exercises/0000000").await;
    assert_eq!(
        error_type(response, StatusCode::NOT_FOUND).await,
        "NotFound"
    );
    // Thirty days later it is gone from the list.
    sandbox.polar.advance_clock(31 * 24 * 3600);
    let later = get(&sandbox, &token, &format!("/v3/exercises/{}", run.id)).await;
    assert_eq!(later.status(), StatusCode::NOT_FOUND);
}

#[test]
fn the_default_person_keeps_a_seven_day_streak() {
    let user = PolarUser::new(USER, "Alex", "Sandbox").with_pattern(ActivityPattern::WeekdayRunner);
    let steps: Vec<u32> = (0..7)
        .map(|back| {
            let day = TODAY - Duration::days(back);
            data::activity(&user, day, TODAY, None, data::SampleOptions::default()).steps
        })
        .collect();
    assert!(steps.iter().all(|s| *s >= 10_000), "{steps:?}");
}

#[tokio::test]
async fn a_lapsing_person_hardly_moves_in_the_last_ten_days() {
    let sandbox = start_default().await;
    sandbox
        .polar
        .add_user(PolarUser::new("4242", "La", "Pse").with_pattern(ActivityPattern::Lapse));
    let token = sandbox.polar.connect("4242", "member-4242").access_token;
    let response = get(
        &sandbox,
        &token,
        "/v3/users/activities/?from=2026-10-24&to=2026-11-20",
    )
    .await;
    let list: Vec<ActivitySummary> = response.json().await.unwrap();
    assert_eq!(list.len(), 28);
    let (before, lapse) = list.split_at(17);
    assert!(
        lapse.iter().all(|d| d.steps < 2_000),
        "{:?}",
        lapse.iter().map(|d| d.steps).collect::<Vec<_>>()
    );
    assert!(before.iter().all(|d| d.steps >= 6_000));
    assert!(lapse.iter().all(|d| d.inactivity_alert_count >= 3));
}
