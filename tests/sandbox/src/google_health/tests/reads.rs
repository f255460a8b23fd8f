use super::*;

#[tokio::test]
async fn identity_profile_settings_userinfo_and_their_scopes() {
    let sandbox = start(GoogleHealthConfig::default()).await;
    let gh = &sandbox.google_health;
    let all = gh
        .grant_tokens(
            USER,
            &[
                scopes::PROFILE,
                scopes::SETTINGS,
                scopes::ACTIVITY_AND_FITNESS,
            ],
        )
        .access_token;

    let (status, identity) = get(&sandbox, &all, "/v4/users/me/identity").await;
    assert_eq!(status, StatusCode::OK);
    valid("Identity", &identity);
    assert_eq!(
        identity,
        json!({"name": "users/me/identity", "healthUserId": USER, "legacyUserId": DEFAULT_LEGACY_USER_ID})
    );
    let (status, by_id) = get(&sandbox, &all, &format!("/v4/users/{USER}/identity")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id["name"], format!("users/{USER}/identity"));
    let (status, body) = get(&sandbox, &all, "/v4/users/12345/identity").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    google_error(&body, 403, "PERMISSION_DENIED");

    let (status, profile) = get(&sandbox, &all, "/v4/users/me/profile").await;
    assert_eq!(status, StatusCode::OK);
    valid("Profile", &profile);
    assert_eq!(profile["age"], 35);
    assert_eq!(
        profile["membershipStartDate"],
        json!({"year": 2019, "month": 3, "day": 12})
    );
    assert_eq!(profile["autoWalkingStrideLengthMm"], 697);
    assert!(profile.get("email").is_none() && profile.get("name").unwrap() == "users/me/profile");

    let (status, settings) = get(&sandbox, &all, "/v4/users/me/settings").await;
    assert_eq!(status, StatusCode::OK);
    valid("Settings", &settings);
    assert_eq!(settings["timeZone"], "Europe/Berlin");
    assert_eq!(settings["languageLocale"], "de-DE");
    assert!(matches!(
        settings["utcOffset"].as_str(),
        Some("3600s" | "7200s")
    ));

    // Each method needs its scope.
    let sleep_only = gh.grant_tokens(USER, &[scopes::SLEEP]).access_token;
    for path in ["/v4/users/me/profile", "/v4/users/me/settings"] {
        let (status, body) = get(&sandbox, &sleep_only, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        let details = &body["error"]["details"][0];
        assert_eq!(details["reason"], "ACCESS_TOKEN_SCOPE_INSUFFICIENT");
    }
    assert_eq!(
        get(&sandbox, &sleep_only, "/v4/users/me/identity").await.0,
        StatusCode::OK
    );
    let profile_only = gh.grant_tokens(USER, &[scopes::PROFILE]).access_token;
    let (_, profile) = get(&sandbox, &profile_only, "/v4/users/me/profile").await;
    assert!(
        profile.get("autoWalkingStrideLengthMm").is_none(),
        "strides need the activity scope"
    );
    let openid_only = gh.grant_tokens(USER, &["openid"]).access_token;
    assert_eq!(
        get(&sandbox, &openid_only, "/v4/users/me/identity").await.0,
        StatusCode::FORBIDDEN
    );

    // OpenID userinfo: sub always, email and name with their scopes.
    let (status, info) = get(&sandbox, &openid_only, "/v1/userinfo").await;
    assert_eq!(status, StatusCode::OK);
    let sub = gh.user(USER).unwrap().sub;
    assert_eq!(info, json!({ "sub": sub }));
    let everything = gh
        .grant_tokens(USER, &["openid", "email", "profile"])
        .access_token;
    let (_, info) = get(&sandbox, &everything, "/v1/userinfo").await;
    assert_eq!(info["email"], "alex.sandbox@example.com");
    assert_eq!(info["email_verified"], true);
    assert_eq!(
        (info["given_name"].as_str(), info["family_name"].as_str()),
        (Some("Alex"), Some("Sandbox"))
    );
    let (status, body) = get(&sandbox, &sleep_only, "/v1/userinfo").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    google_error(&body, 403, "PERMISSION_DENIED");
}

/// Sums a roll-up's int64 field over its windows.
fn sum_field(body: &Value, value: &str, field: &str) -> u64 {
    body["rollupDataPoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p[value][field]
                .as_str()
                .map_or(0, |s| s.parse::<u64>().unwrap())
        })
        .sum()
}

#[tokio::test]
async fn daily_roll_ups_follow_the_contract_and_recorded_values() {
    let sandbox = start(GoogleHealthConfig::default()).await;
    let gh = &sandbox.google_health;
    let token = gh
        .grant_tokens(
            USER,
            &[scopes::ACTIVITY_AND_FITNESS, scopes::HEALTH_METRICS],
        )
        .access_token;
    let (start, end) = (days_ago(20), days_ago(6));

    let (status, steps) = roll_up(&sandbox, &token, "steps", range(start, end)).await;
    assert_eq!(status, StatusCode::OK, "{steps}");
    valid("DailyRollUpDataPointsResponse", &steps);
    let points = steps["rollupDataPoints"].as_array().unwrap();
    assert_eq!(points.len(), 14);
    assert_eq!(
        points[0]["civilStartTime"],
        json!({"date": date_json(start), "time": {}})
    );
    assert_eq!(
        points[0]["civilEndTime"],
        json!({"date": date_json(start.next_day().unwrap()), "time": {}})
    );
    assert!(
        points[0]["steps"]["countSum"].is_string(),
        "int64 as a string"
    );
    assert!(steps.get("nextPageToken").is_none());

    // Deterministic: another instance answers the same.
    let other = start_default().await;
    let other_token = other
        .google_health
        .grant_tokens(USER, &[scopes::ACTIVITY_AND_FITNESS])
        .access_token;
    assert_eq!(
        roll_up(&other, &other_token, "steps", range(start, end))
            .await
            .1,
        steps
    );

    // Weekly windows sum the days.
    let mut weekly = range(start, end);
    weekly["windowSizeDays"] = json!(7);
    let (_, weeks) = roll_up(&sandbox, &token, "steps", weekly).await;
    valid("DailyRollUpDataPointsResponse", &weeks);
    assert_eq!(weeks["rollupDataPoints"].as_array().unwrap().len(), 2);
    assert_eq!(
        sum_field(&weeks, "steps", "countSum"),
        sum_field(&steps, "steps", "countSum")
    );

    // Recorded values replace the synthetic ones; distance follows recorded steps.
    let day = days_ago(10);
    gh.record_day(
        USER,
        RecordedDay::on(day).steps(12_345).calories_kcal(2_345.6),
    );
    gh.record_day(
        USER,
        RecordedDay {
            azm_cardio: Some(10),
            ..RecordedDay::on(day).azm_minutes(31)
        },
    );
    let one_day = range(day, day.next_day().unwrap());
    let (_, steps) = roll_up(&sandbox, &token, "steps", one_day.clone()).await;
    assert_eq!(
        steps["rollupDataPoints"][0]["steps"],
        json!({"countSum": "12345"})
    );
    let (_, distance) = roll_up(&sandbox, &token, "distance", one_day.clone()).await;
    valid("DailyRollUpDataPointsResponse", &distance);
    assert_eq!(
        distance["rollupDataPoints"][0]["distance"],
        json!({"millimetersSum": (12_345 * 697).to_string()})
    );
    let (_, calories) = roll_up(&sandbox, &token, "total-calories", one_day.clone()).await;
    valid("DailyRollUpDataPointsResponse", &calories);
    assert_eq!(
        calories["rollupDataPoints"][0]["totalCalories"],
        json!({"kcalSum": 2345.6})
    );
    let (_, azm) = roll_up(&sandbox, &token, "active-zone-minutes", one_day.clone()).await;
    valid("DailyRollUpDataPointsResponse", &azm);
    // Active minutes by level: moderate follows the fat-burn zone, vigorous the cardio
    // and peak minutes (which count double as zone minutes).
    let (_, active) = roll_up(&sandbox, &token, "active-minutes", one_day.clone()).await;
    valid("DailyRollUpDataPointsResponse", &active);
    let levels =
        &active["rollupDataPoints"][0]["activeMinutes"]["activeMinutesRollupByActivityLevel"];
    let level = |name: &str| {
        levels
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["activityLevel"] == name)
            .map(|l| l["activeMinutesSum"].clone())
    };
    assert_eq!(level("MODERATE"), Some(json!("21")));
    assert_eq!(level("VIGOROUS"), Some(json!("5")));
    assert!(level("LIGHT").is_some());
    // Zero values are left out, as proto3 JSON does.
    assert_eq!(
        azm["rollupDataPoints"][0]["activeZoneMinutes"],
        json!({"sumInFatBurnHeartZone": "21", "sumInCardioHeartZone": "10"})
    );
    let (_, weight) = roll_up(&sandbox, &token, "weight", range(days_ago(30), days_ago(2))).await;
    valid("DailyRollUpDataPointsResponse", &weight);
    let weighed: Vec<f64> = weight["rollupDataPoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["weight"]["weightGramsAvg"].as_f64())
        .collect();
    assert!(
        weighed.len() >= 5 && weighed.len() < 28,
        "{}",
        weighed.len()
    );
    assert!(
        weighed.iter().all(|g| (62_000.0..67_000.0).contains(g)),
        "{weighed:?}"
    );

    // A deleted day has windows without values; the future has no data.
    gh.delete_day(USER, day);
    let (_, deleted) = roll_up(&sandbox, &token, "steps", one_day).await;
    assert_eq!(
        deleted["rollupDataPoints"][0].get("steps"),
        None,
        "{deleted}"
    );
    let tomorrow = (OffsetDateTime::now_utc() + TimeDuration::days(2)).date();
    let (_, future) = roll_up(
        &sandbox,
        &token,
        "steps",
        range(tomorrow, tomorrow.next_day().unwrap()),
    )
    .await;
    assert_eq!(future["rollupDataPoints"][0].get("steps"), None);

    // Each data type needs its scope; sleep has no daily roll-up.
    let sleep_only = gh.grant_tokens(USER, &[scopes::SLEEP]).access_token;
    let (status, _) = roll_up(&sandbox, &sleep_only, "steps", range(start, end)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = roll_up(&sandbox, &sleep_only, "sleep", range(start, end)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    google_error(&body, 400, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn roll_up_ranges_are_limited_to_14_and_90_days() {
    let sandbox = start_default().await;
    let token = sandbox
        .google_health
        .grant_tokens(USER, &[scopes::ACTIVITY_AND_FITNESS])
        .access_token;
    let end = days_ago(2);
    let (status, body) = roll_up(
        &sandbox,
        &token,
        "total-calories",
        range(end - TimeDuration::days(15), end),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(google_error(&body, 400, "INVALID_ARGUMENT").contains("14 days"));
    let (status, body) = roll_up(
        &sandbox,
        &token,
        "total-calories",
        range(end - TimeDuration::days(14), end),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["rollupDataPoints"].as_array().unwrap().len(), 14);

    let (status, body) = roll_up(
        &sandbox,
        &token,
        "steps",
        range(end - TimeDuration::days(91), end),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(google_error(&body, 400, "INVALID_ARGUMENT").contains("90 days"));
    let (status, body) = roll_up(
        &sandbox,
        &token,
        "distance",
        range(end - TimeDuration::days(90), end),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    valid("DailyRollUpDataPointsResponse", &body);
    assert_eq!(body["rollupDataPoints"].as_array().unwrap().len(), 90);

    // Pages of windows.
    let mut paged = range(end - TimeDuration::days(30), end);
    paged["pageSize"] = json!(20);
    let (_, first) = roll_up(&sandbox, &token, "steps", paged.clone()).await;
    assert_eq!(first["rollupDataPoints"].as_array().unwrap().len(), 20);
    paged["pageToken"] = first["nextPageToken"].clone();
    let (_, second) = roll_up(&sandbox, &token, "steps", paged).await;
    assert_eq!(second["rollupDataPoints"].as_array().unwrap().len(), 10);
    assert!(second.get("nextPageToken").is_none());

    // Misaligned or inverted ranges.
    let mut misaligned = range(end - TimeDuration::days(3), end);
    misaligned["range"]["start"]["time"] = json!({"hours": 6});
    assert_eq!(
        roll_up(&sandbox, &token, "steps", misaligned).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        roll_up(&sandbox, &token, "steps", range(end, end)).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        roll_up(&sandbox, &token, "steps", json!({})).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn sleep_lists_newest_first_across_pages_and_nights_span_midnight() {
    let sandbox = start_default().await;
    let gh = &sandbox.google_health;
    let token = gh.grant_tokens(USER, &[scopes::SLEEP]).access_token;
    let (from, to) = (days_ago(31), days_ago(1));
    let filter = format!(
        r#"sleep.interval.civil_end_time >= "{from}" AND sleep.interval.civil_end_time < "{to}""#
    );
    let pages = list_all(&sandbox, &token, "sleep", &filter, 10).await;
    assert!(pages.len() >= 3, "{} pages", pages.len());
    assert!(pages.iter().all(|p| p.len() <= 10));
    let points: Vec<&Value> = pages.iter().flatten().collect();
    let mains: Vec<&&Value> = points
        .iter()
        .filter(|p| p["sleep"]["metadata"]["mainSleep"] == true)
        .collect();
    assert_eq!(mains.len(), 30, "one night per day");
    let starts: Vec<OffsetDateTime> = points.iter().map(|p| point_start(p, "sleep")).collect();
    assert!(
        starts.windows(2).all(|w| w[0] >= w[1]),
        "newest first across pages"
    );

    let night = &mains[0]["sleep"];
    let civil_start = &night["interval"]["civilStartTime"];
    let civil_end = &night["interval"]["civilEndTime"];
    assert_ne!(
        civil_start["date"], civil_end["date"],
        "the night spans midnight: {night}"
    );
    assert!(civil_start["time"]["hours"].as_u64().unwrap() >= 22);
    assert!(civil_end["time"]["hours"].as_u64().unwrap() <= 8);
    assert!(matches!(
        night["interval"]["startUtcOffset"].as_str(),
        Some("3600s" | "7200s")
    ));
    assert_eq!(night["type"], "STAGES");
    let stages = night["stages"].as_array().unwrap();
    assert_eq!(stages[0]["startTime"], night["interval"]["startTime"]);
    assert_eq!(
        stages.last().unwrap()["endTime"],
        night["interval"]["endTime"]
    );
    let summary = &night["summary"];
    let minutes = |name: &str| summary[name].as_str().unwrap().parse::<u64>().unwrap();
    assert_eq!(
        minutes("minutesAsleep") + minutes("minutesAwake"),
        minutes("minutesInSleepPeriod")
    );
    if let Some(nap) = points
        .iter()
        .find(|p| p["sleep"]["metadata"]["nap"] == true)
    {
        assert_eq!(nap["sleep"]["type"], "CLASSIC");
    }

    // Page sizes above 25 are cut to 25; the default is 25 as well.
    let wide = format!(r#"sleep.interval.civil_end_time >= "{}""#, days_ago(80));
    let pages = list_all(&sandbox, &token, "sleep", &wide, 1000).await;
    assert_eq!(pages[0].len(), 25);

    // A physical filter; a recorded night replaces the day's synthetic sleep.
    let day = days_ago(5);
    let start = day
        .previous_day()
        .unwrap()
        .with_hms(23, 10, 0)
        .unwrap()
        .assume_offset(time::UtcOffset::from_hms(1, 0, 0).unwrap());
    let end = day
        .with_hms(7, 5, 0)
        .unwrap()
        .assume_offset(time::UtcOffset::from_hms(1, 0, 0).unwrap());
    gh.record_sleep(USER, RecordedSleep::new(start, end));
    let filter = format!(
        r#"sleep.interval.end_time >= "{}" AND sleep.interval.end_time < "{}""#,
        data::timestamp(end - TimeDuration::hours(1)),
        data::timestamp(end + TimeDuration::hours(1))
    );
    let points: Vec<Value> = list_all(&sandbox, &token, "sleep", &filter, 25)
        .await
        .concat();
    assert_eq!(points.len(), 1);
    let interval = &points[0]["sleep"]["interval"];
    assert_eq!(interval["startTime"], data::timestamp(start));
    assert_eq!(
        interval["civilStartTime"]["time"],
        json!({"hours": 23, "minutes": 10})
    );
    assert_eq!(
        interval["civilEndTime"]["time"],
        json!({"hours": 7, "minutes": 5})
    );
    assert_eq!(interval["endUtcOffset"], "3600s");

    // Unsupported filter fields and foreign page tokens are refused.
    let url = format!(
        "{}/v4/users/me/dataTypes/sleep/dataPoints",
        sandbox.base_url
    );
    let response = client()
        .get(&url)
        .query(&[(
            "filter",
            r#"sleep.interval.start_time >= "2026-01-01T00:00:00Z""#,
        )])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = client()
        .get(&url)
        .query(&[("pageToken", "MTB8YWJj")])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn weight_and_exercise_lists() {
    let sandbox = start_default().await;
    let gh = &sandbox.google_health;
    let token = gh
        .grant_tokens(
            USER,
            &[scopes::HEALTH_METRICS, scopes::ACTIVITY_AND_FITNESS],
        )
        .access_token;
    let from = days_ago(40);
    let filter = format!(r#"weight.sample_time.civil_time >= "{from}""#);
    let weights: Vec<Value> = list_all(&sandbox, &token, "weight", &filter, 7)
        .await
        .concat();
    assert!(
        weights.len() >= 10 && weights.len() < 40,
        "{}",
        weights.len()
    );
    let starts: Vec<OffsetDateTime> = weights.iter().map(|p| point_start(p, "weight")).collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]));
    assert!(
        starts.iter().all(|s| *s <= OffsetDateTime::now_utc()),
        "no data in the future"
    );
    let grams = weights[0]["weight"]["weightGrams"].as_f64().unwrap();
    assert_eq!(grams % 100.0, 0.0);
    assert_eq!(weights[0]["dataSource"]["device"]["formFactor"], "SCALE");

    let day = days_ago(3);
    let at = day.with_hms(7, 30, 0).unwrap().assume_utc();
    gh.record_weight(
        USER,
        RecordedWeight {
            at,
            grams: 71_234.5,
            notes: Some("after holidays".to_owned()),
        },
    );
    let filter = format!(
        r#"weight.sample_time.physical_time >= "{}" AND weight.sample_time.physical_time < "{}""#,
        data::timestamp(day.midnight().assume_utc()),
        data::timestamp(day.next_day().unwrap().midnight().assume_utc())
    );
    let recorded: Vec<Value> = list_all(&sandbox, &token, "weight", &filter, 10)
        .await
        .concat();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["weight"]["weightGrams"], 71_234.5);
    assert_eq!(recorded[0]["weight"]["notes"], "after holidays");
    assert_eq!(recorded[0]["dataSource"]["recordingMethod"], "MANUAL");

    let filter = format!(
        r#"exercise.interval.civil_start_time >= "{}""#,
        days_ago(60)
    );
    let exercises: Vec<Value> = list_all(&sandbox, &token, "exercise", &filter, 25)
        .await
        .concat();
    assert!(exercises.len() >= 10, "{}", exercises.len());
    let first = &exercises[0]["exercise"];
    assert!(first["exerciseType"].is_string() && first["displayName"].is_string());
    assert!(first["metricsSummary"]["caloriesKcal"].is_number());
    assert!(first["activeDuration"].as_str().unwrap().ends_with('s'));
    let starts: Vec<OffsetDateTime> = exercises
        .iter()
        .map(|p| point_start(p, "exercise"))
        .collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]));

    // Physical filters are not supported for sessions other than sleep.
    let url = format!(
        "{}/v4/users/me/dataTypes/exercise/dataPoints",
        sandbox.base_url
    );
    let response = client()
        .get(&url)
        .query(&[(
            "filter",
            r#"exercise.interval.start_time >= "2026-01-01T00:00:00Z""#,
        )])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Steps can be listed but are not simulated point by point; total-calories cannot.
    let (status, body) = get(&sandbox, &token, "/v4/users/me/dataTypes/steps/dataPoints").await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let (status, _) = get(
        &sandbox,
        &token,
        "/v4/users/me/dataTypes/total-calories/dataPoints",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn contract_violations_are_refused_like_google() {
    let sandbox = start_default().await;
    let gh = &sandbox.google_health;
    let token = gh
        .grant_tokens(USER, &[scopes::ACTIVITY_AND_FITNESS, scopes::SLEEP])
        .access_token;

    let (status, body) = get(
        &sandbox,
        &token,
        "/v4/users/me/dataTypes/sleep/dataPoints?page_size=5",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        google_error(&body, 400, "INVALID_ARGUMENT"),
        "Invalid JSON payload received. Unknown name \"page_size\": Cannot bind query parameter. \
         Field 'page_size' could not be found in request message."
    );
    assert_eq!(
        body["error"]["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    let (status, body) = get(
        &sandbox,
        &token,
        "/v4/users/me/dataTypes/sleep/dataPoints?pageSize=ten",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        google_error(&body, 400, "INVALID_ARGUMENT"),
        "Invalid value at 'page_size' (TYPE_INT32), \"ten\""
    );

    let mut body = range(days_ago(5), days_ago(2));
    body["range"]["start"]["hour"] = json!(0);
    let (status, answer) = roll_up(&sandbox, &token, "steps", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        google_error(&answer, 400, "INVALID_ARGUMENT"),
        "Invalid JSON payload received. Unknown name \"hour\" at 'range.start': Cannot find field."
    );
    let mut body = range(days_ago(5), days_ago(2));
    body["windowSizeDays"] = json!("a week");
    assert_eq!(
        roll_up(&sandbox, &token, "steps", body).await.0,
        StatusCode::BAD_REQUEST
    );
    let response = client()
        .post(format!(
            "{}/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp",
            sandbox.base_url
        ))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"range\":")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // snake_case field names are proto3 JSON too.
    let mut body = range(days_ago(5), days_ago(2));
    body["window_size_days"] = json!(3);
    assert_eq!(
        roll_up(&sandbox, &token, "steps", body).await.0,
        StatusCode::OK
    );

    // Unknown paths get Google's HTML 404; contract methods not simulated answer 501.
    let response = client()
        .get(format!("{}/v4/users/me/nothing", sandbox.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("That\u{2019}s an error."));
    let (status, body) = get(&sandbox, &token, "/v4/users/me/pairedDevices").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let settings = gh.grant_tokens(USER, &[scopes::SETTINGS]).access_token;
    let (status, body) = get(&sandbox, &settings, "/v4/users/me/pairedDevices").await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    google_error(&body, 501, "UNIMPLEMENTED");

    let stats = gh.stats();
    assert_eq!(
        stats.contract_violations["health.users.dataTypes.dataPoints.list"],
        2
    );
    assert_eq!(
        stats.contract_violations["health.users.dataTypes.dataPoints.dailyRollUp"],
        3
    );
    assert_eq!(stats.unmatched_requests, 1);
    let by_method = gh.requests_by_method();
    assert_eq!(
        by_method["health.users.dataTypes.dataPoints.dailyRollUp"],
        4
    );
    assert_eq!(by_method["health.users.pairedDevices.list"], 2);
    assert_eq!(stats.data_calls_of(USER), 6);
}
