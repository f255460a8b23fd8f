use std::time::{Duration, Instant};

use super::*;
use crate::test_support::*;
use crate::RawAnswer;

const IDENTITY: &str = "/v4/users/me/identity";

fn admin_url(sandbox: &Sandbox, path: &str) -> String {
    format!("{}/_admin/google-health/{path}", sandbox.base_url)
}

#[tokio::test]
async fn at_most_300_requests_per_user_per_minute() {
    let sandbox = start_default().await;
    let gh = &sandbox.google_health;
    // Start right after a minute boundary of the sandbox clock, so the window cannot slide
    // halfway through.
    let past = gh.now().unix_timestamp().rem_euclid(60);
    gh.advance_clock(60 - past);
    let token = gh.grant_tokens(USER, &[scopes::PROFILE]).access_token;
    let http = client();
    all_ok_concurrently((0..300).map(|_| {
        http.get(format!("{}{IDENTITY}", sandbox.base_url))
            .bearer_auth(&token)
    }))
    .await;
    let response = client()
        .get(format!("{}{IDENTITY}", sandbox.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        response.headers().get("retry-after").is_none(),
        "Google documents no Retry-After"
    );
    let body: Value = response.json().await.unwrap();
    let message = google_error(&body, 429, "RESOURCE_EXHAUSTED");
    assert!(message.contains("per user"), "{message}");
    assert_eq!(body["error"]["details"][0]["reason"], "RATE_LIMIT_EXCEEDED");

    // Another person has their own quota; the window slides.
    let other = gh
        .grant_tokens("5500000000000000002", &[scopes::PROFILE])
        .access_token;
    assert_eq!(get(&sandbox, &other, IDENTITY).await.0, StatusCode::OK);
    gh.advance_clock(30);
    assert_eq!(
        get(&sandbox, &token, IDENTITY).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    gh.advance_clock(31);
    assert_eq!(get(&sandbox, &token, IDENTITY).await.0, StatusCode::OK);
    let stats = gh.stats();
    assert_eq!(stats.throttled[USER], 2);
    assert_eq!(stats.api_calls[USER]["health.users.getIdentity"], 303);

    // The project's quota covers everybody.
    gh.set_rate_limits(300, 3);
    gh.advance_clock(60);
    for _ in 0..3 {
        assert_eq!(get(&sandbox, &other, IDENTITY).await.0, StatusCode::OK);
    }
    let (status, body) = get(&sandbox, &token, IDENTITY).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(google_error(&body, 429, "RESOURCE_EXHAUSTED").contains("'Requests per minute'"));
    assert_eq!(gh.stats().project_throttled, 1);
}

#[tokio::test]
async fn a_throttled_user_gets_429_until_the_time_is_up() {
    let sandbox = start_default().await;
    let gh = &sandbox.google_health;
    let token = gh.grant_tokens(USER, &[scopes::PROFILE]).access_token;
    let response = client()
        .post(admin_url(&sandbox, &format!("users/{USER}/throttle")))
        .json(&json!({ "secs": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = get(&sandbox, &token, IDENTITY).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    google_error(&body, 429, "RESOURCE_EXHAUSTED");
    // OAuth is not throttled.
    assert_eq!(
        refresh(
            &sandbox,
            &gh.grant_tokens(USER, &[scopes::PROFILE])
                .refresh_token
                .unwrap()
        )
        .await
        .0,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&sandbox, &token, IDENTITY).await.0, StatusCode::OK);

    gh.throttle_user(USER, 60);
    assert_eq!(
        get(&sandbox, &token, IDENTITY).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let response = client()
        .delete(admin_url(&sandbox, &format!("users/{USER}/throttle")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(get(&sandbox, &token, IDENTITY).await.0, StatusCode::OK);
    assert_eq!(gh.stats().throttled[USER], 2);
}

#[tokio::test]
async fn injected_failures_answer_the_next_api_requests() {
    let sandbox = start_default().await;
    let gh = &sandbox.google_health;
    let grant = gh.grant_tokens(USER, &[scopes::ACTIVITY_AND_FITNESS, scopes::PROFILE]);
    let faults_url = admin_url(&sandbox, "faults");
    assert_eq!(
        inject_faults_via_admin(&faults_url, json!({"fail_next_requests": 2, "status": 503})).await,
        GoogleHealthFaults {
            fail_next_requests: 2,
            status: 503,
            latency_ms: 0,
            raw_answer: None,
            only_paths_containing: None,
        }
    );

    // OAuth is not affected and does not use up the failures.
    let (status, refreshed) = refresh(&sandbox, grant.refresh_token.as_deref().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let token = refreshed["access_token"].as_str().unwrap().to_owned();
    let body = range(days_ago(4), days_ago(2));
    for _ in 0..2 {
        let (status, answer) = roll_up(&sandbox, &token, "steps", body.clone()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        google_error(&answer, 503, "UNAVAILABLE");
    }
    assert_eq!(
        roll_up(&sandbox, &token, "steps", body.clone()).await.0,
        StatusCode::OK
    );
    gh.fail_next_requests(1, 500);
    let (status, answer) = get(&sandbox, &token, "/v4/users/me/profile").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    google_error(&answer, 500, "INTERNAL");
    assert_eq!(
        get(&sandbox, &token, "/v4/users/me/profile").await.0,
        StatusCode::OK
    );

    assert_bad_fault_changes_refused(&faults_url).await;
    clear_faults_via_admin(&faults_url).await;
    assert_eq!(gh.faults(), GoogleHealthFaults::default());

    let stats = gh.stats();
    assert_eq!(stats.injected_failures, 3);
    assert_eq!(stats.data_calls_of(USER), 3);
    assert_eq!(stats.api_calls_of(USER), 5);
    let counted: Value =
        fetch_json(client().get(admin_url(&sandbox, &format!("users/{USER}/data-calls")))).await;
    assert_eq!(counted["data_calls"], 3);
}

#[tokio::test]
async fn raw_answers_replace_the_next_api_answers_as_they_are() {
    let sandbox = start_default().await;
    let gh = &sandbox.google_health;
    let grant = gh.grant_tokens(USER, &[scopes::ACTIVITY_AND_FITNESS, scopes::PROFILE]);
    let faults_url = admin_url(&sandbox, "faults");
    let page = "<!DOCTYPE html><html><body><p>502. That’s an error.</p></body></html>";
    let faults = inject_faults_via_admin(
        &faults_url,
        json!({"fail_next_requests": 2,
            "raw_answer": {"status": 502, "content_type": "text/html; charset=UTF-8", "body": page}}),
    )
    .await;
    assert_eq!(faults.fail_next_requests, 2);

    // OAuth is not affected.
    let (status, refreshed) = refresh(&sandbox, grant.refresh_token.as_deref().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let token = refreshed["access_token"].as_str().unwrap().to_owned();
    let body = range(days_ago(4), days_ago(2));
    let http = client();
    for request in [
        http.post(format!(
            "{}/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp",
            sandbox.base_url
        ))
        .json(&body),
        http.get(format!("{}/v4/users/me/profile", sandbox.base_url)),
    ] {
        let response = request.bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=UTF-8"
        );
        assert_eq!(response.text().await.unwrap(), page);
    }
    assert_eq!(gh.faults(), GoogleHealthFaults::default());
    assert_eq!(
        roll_up(&sandbox, &token, "steps", body.clone()).await.0,
        StatusCode::OK
    );

    // A 200 whose numbers are of the wrong type.
    let wrong = r#"{"rollupDataPoints":[{"steps":{"countSum":{"value":"12"}}}]}"#;
    gh.answer_next_requests(1, RawAnswer::new(200, "application/json", wrong));
    let response = http
        .get(format!("{}/v4/users/me/profile", sandbox.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), wrong);
    // Failures after that answer in Google's shape again.
    gh.fail_next_requests(1, 500);
    let (status, answer) = get(&sandbox, &token, "/v4/users/me/profile").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    google_error(&answer, 500, "INTERNAL");

    assert_bad_raw_answers_refused(&faults_url).await;
    assert_eq!(gh.stats().injected_failures, 4);
}

#[tokio::test]
async fn latency_delays_api_responses_concurrently_but_not_oauth() {
    let sandbox = start_default().await;
    let gh = &sandbox.google_health;
    let grant = gh.grant_tokens(USER, &[scopes::ACTIVITY_AND_FITNESS]);
    gh.set_latency(Duration::from_millis(200));
    let http = client();
    let elapsed = all_ok_concurrently((2..12).map(|n| {
        http.post(format!(
            "{}/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp",
            sandbox.base_url
        ))
        .bearer_auth(&grant.access_token)
        .json(&range(days_ago(n + 1), days_ago(n)))
    }))
    .await;
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_millis(1000),
        "{elapsed:?}"
    );
    assert_eq!(gh.data_calls(USER), 10);

    gh.set_latency(Duration::from_secs(3));
    let started = Instant::now();
    assert_eq!(
        refresh(&sandbox, grant.refresh_token.as_deref().unwrap())
            .await
            .0,
        StatusCode::OK
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn admin_api_drives_users_data_and_tokens() {
    let sandbox = start_default().await;
    let http = client();
    let response = http
        .post(admin_url(&sandbox, "users"))
        .json(&json!({"health_user_id": "9100000000000000003", "given_name": "Ana", "family_name": "Admin",
                      "legacy_user_id": "ABC123", "time_zone": "America/Los_Angeles", "membership_start_date": "2025-01-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let grant: TokenGrant = fetch_json(
        http.post(admin_url(&sandbox, "users/9100000000000000003/tokens"))
            .json(&json!({"scopes": [scopes::SLEEP, scopes::ACTIVITY_AND_FITNESS]})),
    )
    .await;
    let (_, identity) = get(&sandbox, &grant.access_token, IDENTITY).await;
    assert_eq!(identity["legacyUserId"], "ABC123");

    let day = days_ago(4);
    let response = http
        .post(admin_url(&sandbox, "users/9100000000000000003/days"))
        .json(&json!({"date": day.to_string(), "steps": 4321}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, steps) = roll_up(
        &sandbox,
        &grant.access_token,
        "steps",
        range(day, day.next_day().unwrap()),
    )
    .await;
    assert_eq!(steps["rollupDataPoints"][0]["steps"]["countSum"], "4321");
    let response = http
        .post(admin_url(&sandbox, "users/9100000000000000003/sleep"))
        .json(&json!({"start": format!("{}T23:10:00-07:00", day.previous_day().unwrap()), "end": format!("{day}T07:05:00-07:00"),
                      "stages": [{"stage": "LIGHT", "minutes": 200}, {"stage": "DEEP", "minutes": 100}, {"stage": "REM", "minutes": 175}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let filter = format!(
        r#"sleep.interval.civil_end_time >= "{day}" AND sleep.interval.civil_end_time < "{}""#,
        day.next_day().unwrap()
    );
    let nights: Vec<Value> = list_all(&sandbox, &grant.access_token, "sleep", &filter, 25)
        .await
        .concat();
    assert_eq!(nights.len(), 1);
    assert_eq!(nights[0]["sleep"]["interval"]["startUtcOffset"], "-25200s");
    assert_eq!(nights[0]["sleep"]["stages"].as_array().unwrap().len(), 3);
    let response = http
        .delete(admin_url(
            &sandbox,
            &format!("users/9100000000000000003/days/{day}"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let nights: Vec<Value> = list_all(&sandbox, &grant.access_token, "sleep", &filter, 25)
        .await
        .concat();
    assert!(nights.is_empty());

    let response = http
        .post(admin_url(&sandbox, "users/9100000000000000003/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["revoked"], true);
    assert_eq!(
        get(&sandbox, &grant.access_token, IDENTITY).await.0,
        StatusCode::UNAUTHORIZED
    );
    let stats: GoogleHealthStats = fetch_json(http.get(admin_url(&sandbox, "stats"))).await;
    assert_eq!(stats.revocations["9100000000000000003"], 1);
    let response = http
        .post(admin_url(&sandbox, "reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(sandbox.google_health.user("9100000000000000003").is_none());
}
