use std::time::Duration;

use super::*;
use crate::test_support::inject_faults_via_admin;
use crate::RawAnswer;

/// The resets are `expected` less the seconds the test has taken so far (the sandbox clock
/// runs on).
fn resets_about(response: &reqwest::Response, expected: (i64, i64)) {
    let (short, long) = rate_header(response, "ratelimit-reset");
    assert!((expected.0 - 5..=expected.0).contains(&short), "{short}");
    assert!((expected.1 - 5..=expected.1).contains(&long), "{long}");
}

fn small_limits() -> PolarConfig {
    PolarConfig {
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        rate_limits: RateLimits {
            short_base: 3,
            short_per_person: 1,
            long_base: 6,
            long_per_person: 2,
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn every_answer_carries_the_partners_usage_limits_and_resets() {
    let sandbox = start_default().await;
    let token = connected(&sandbox).await;
    let response = get(&sandbox, &token, &format!("/v3/users/{USER}")).await;
    // One registered person: 500 + 20, 5,000 + 100.
    assert_eq!(rate_header(&response, "ratelimit-limit"), (520, 5_100));
    assert_eq!(rate_header(&response, "ratelimit-usage"), (1, 1));
    resets_about(&response, (900, 86_400));
    sandbox.polar.advance_clock(100);
    // The webhook endpoints count for the same partner; so do refusals.
    let response = webhook_request(&sandbox, reqwest::Method::GET, "")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(rate_header(&response, "ratelimit-usage"), (2, 2));
    resets_about(&response, (800, 86_300));
    // Unauthenticated and unknown requests are not charged, but carry the headers.
    for response in [
        get(&sandbox, "never-issued", "/v3/exercises").await,
        get(&sandbox, &token, "/v3/nothing-here").await,
    ] {
        assert_eq!(rate_header(&response, "ratelimit-usage"), (2, 2));
    }
    // More registered people, higher limits.
    for id in ["11", "12", "13", "14"] {
        sandbox.polar.register(id, &format!("member-{id}"));
    }
    let response = get(&sandbox, &token, "/v3/exercises").await;
    assert_eq!(rate_header(&response, "ratelimit-limit"), (600, 5_500));
    assert_eq!(sandbox.polar.stats().endpoint_calls("GET /v3/exercises"), 1);
}

#[tokio::test]
async fn past_the_short_window_429_and_refusals_count_toward_the_day() {
    let sandbox = start(small_limits()).await;
    let token = connected(&sandbox).await;
    // One person: 4 per 15 minutes, 8 per day.
    let path = format!("/v3/users/activities/{TODAY}");
    for _ in 0..4 {
        assert_eq!(get(&sandbox, &token, &path).await.status(), StatusCode::OK);
    }
    let refused = get(&sandbox, &token, &path).await;
    assert_eq!(rate_header(&refused, "ratelimit-usage"), (5, 5));
    assert!(refused.headers().get("retry-after").is_none());
    assert_eq!(
        error_type(refused, StatusCode::TOO_MANY_REQUESTS).await,
        "TooManyRequests"
    );
    // A new short window; the long one remembers the refusal.
    sandbox.polar.advance_clock(15 * 60);
    for _ in 0..3 {
        assert_eq!(get(&sandbox, &token, &path).await.status(), StatusCode::OK);
    }
    let refused = get(&sandbox, &token, &path).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(rate_header(&refused, "ratelimit-usage"), (4, 9));
    let long_reset = rate_header(&refused, "ratelimit-reset").1;
    assert!(
        (86_400 - 905..=86_400 - 900).contains(&long_reset),
        "{long_reset}"
    );
    // A day after the first request, both start over.
    sandbox.polar.advance_clock(24 * 3600);
    let response = get(&sandbox, &token, &path).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(rate_header(&response, "ratelimit-usage"), (1, 1));
    let stats = sandbox.polar.stats();
    assert_eq!(stats.throttled, 2);
    assert_eq!(stats.data_calls_of(USER), 10, "429s count as calls");
}

#[tokio::test]
async fn a_forced_throttle_refuses_the_partner_until_it_ends() {
    let sandbox = start_default().await;
    let token = connected(&sandbox).await;
    let path = format!("/v3/users/{USER}");
    assert_eq!(get(&sandbox, &token, &path).await.status(), StatusCode::OK);
    sandbox.polar.throttle(60);
    let refused = get(&sandbox, &token, &path).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(rate_header(&refused, "ratelimit-usage").0, 520);
    let reset = rate_header(&refused, "ratelimit-reset").0;
    assert!((59..=60).contains(&reset), "{reset}");
    // The webhook endpoints are the same partner.
    let response = webhook_request(&sandbox, reqwest::Method::GET, "")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    sandbox.polar.unthrottle();
    assert_eq!(get(&sandbox, &token, &path).await.status(), StatusCode::OK);

    // Through the admin API, for one second of real time: then fresh windows.
    let admin = format!("{}/_admin/polar/throttle", sandbox.base_url);
    let response = client()
        .post(&admin)
        .json(&json!({"secs": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        get(&sandbox, &token, &path).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let response = get(&sandbox, &token, &path).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(rate_header(&response, "ratelimit-usage"), (1, 1));
    let response = client().delete(&admin).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn injected_faults_answer_in_polars_shape_or_raw() {
    let sandbox = start_default().await;
    let token = connected(&sandbox).await;
    let path = format!("/v3/users/activities/{TODAY}");
    let faults = format!("{}/_admin/polar/faults", sandbox.base_url);
    inject_faults_via_admin(&faults, json!({"fail_next_requests": 1, "status": 503})).await;
    let response = get(&sandbox, &token, &path).await;
    assert_eq!(
        rate_header(&response, "ratelimit-usage"),
        (1, 1),
        "charged first"
    );
    assert_eq!(
        error_type(response, StatusCode::SERVICE_UNAVAILABLE).await,
        "Injected"
    );
    sandbox
        .polar
        .answer_next_requests(1, RawAnswer::new(502, "text/html", "<h1>Bad Gateway</h1>"));
    let response = get(&sandbox, &token, &path).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(
        response.headers().get("ratelimit-usage").is_none(),
        "raw: as it is"
    );
    assert_eq!(response.text().await.unwrap(), "<h1>Bad Gateway</h1>");
    assert_eq!(get(&sandbox, &token, &path).await.status(), StatusCode::OK);
    assert_eq!(sandbox.polar.stats().injected_failures, 2);
    // OAuth never takes faults.
    sandbox.polar.fail_next_requests(5, 500);
    let grant = connect_via_oauth(&sandbox).await;
    assert_eq!(grant.x_user_id, 2_278_517);
    sandbox.polar.clear_faults();
}

#[tokio::test]
async fn unknown_paths_are_404_and_documented_unsimulated_ones_501() {
    let sandbox = start_default().await;
    let token = connected(&sandbox).await;
    let response = get(
        &sandbox,
        &token,
        "/v3/users/continuous-heart-rate/2026-11-19",
    )
    .await;
    assert_eq!(
        error_type(response, StatusCode::NOT_IMPLEMENTED).await,
        "NotImplemented"
    );
    let response = get(
        &sandbox,
        &token,
        "/v3/users/2278517/activity-transactions/1",
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_IMPLEMENTED,
        "deprecated, not simulated"
    );
    let response = get(&sandbox, &token, "/v3/no/such/thing").await;
    assert_eq!(
        error_type(response, StatusCode::NOT_FOUND).await,
        "NotFound"
    );
    let response = client()
        .put(format!("{}/v3/users", sandbox.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(sandbox.polar.stats().unmatched_requests, 4);
}
