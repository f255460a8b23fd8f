use std::time::Instant;

use axum::body::Bytes;
use tokio::task::JoinSet;

use super::*;
use crate::test_support::*;
use crate::RawAnswer;

const ACTIVITIES: &str = "/1/user/-/activities/date/2026-11-20.json";

fn admin_url(sandbox: &Sandbox, path: &str) -> String {
    format!("{}/_admin/fitbit/{path}", sandbox.base_url)
}

#[tokio::test]
async fn latency_delays_api_responses_concurrently_but_not_oauth() {
    let sandbox = start(FitbitConfig::default()).await;
    let grant = sandbox.fitbit.grant_tokens(DEFAULT_USER_ID, &["activity"]);
    sandbox.fitbit.set_latency(Duration::from_millis(200));
    assert_eq!(sandbox.fitbit.faults().latency_ms, 200);

    let http = client();
    let elapsed = all_ok_concurrently((1..=10).map(|day| {
        http.get(format!(
            "{}/1/user/-/activities/date/2026-11-{day:02}.json",
            sandbox.base_url
        ))
        .bearer_auth(&grant.access_token)
    }))
    .await;
    // One after the other would take 2 s.
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_millis(1000),
        "{elapsed:?}"
    );
    assert_eq!(sandbox.fitbit.data_calls(DEFAULT_USER_ID), 10);

    // The token endpoint is not delayed.
    sandbox.fitbit.set_latency(Duration::from_secs(3));
    let started = Instant::now();
    let (status, _) = refresh(&sandbox, &grant.refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn injected_failures_answer_the_next_api_requests() {
    let sandbox = start(FitbitConfig::default()).await;
    let grant = sandbox
        .fitbit
        .grant_tokens(DEFAULT_USER_ID, &["activity", "sleep", "profile"]);
    let faults_url = admin_url(&sandbox, "faults");
    let faults = inject_faults_via_admin(
        &faults_url,
        serde_json::json!({"fail_next_requests": 2, "status": 503}),
    )
    .await;
    assert_eq!(
        faults,
        FitbitFaults {
            fail_next_requests: 2,
            status: 503,
            latency_ms: 0,
            raw_answer: None,
            only_paths_containing: None,
        }
    );

    // OAuth is not affected and does not use up the failures.
    let (status, pair) = refresh(&sandbox, &grant.refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    let token = pair["access_token"].as_str().unwrap().to_owned();

    for _ in 0..2 {
        let response = api_get(&sandbox, &token, ACTIVITIES).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response
            .headers()
            .contains_key("fitbit-rate-limit-remaining"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_type(&body), "system");
    }
    assert_eq!(
        api_get(&sandbox, &token, ACTIVITIES).await.status(),
        StatusCode::OK
    );

    sandbox.fitbit.fail_next_requests(1, 500);
    let response = api_get(&sandbox, &token, "/1.2/user/-/sleep/date/2026-11-20.json").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        api_get(&sandbox, &token, "/1/user/-/profile.json")
            .await
            .status(),
        StatusCode::OK
    );

    assert_bad_fault_changes_refused(&faults_url).await;
    clear_faults_via_admin(&faults_url).await;
    assert_eq!(sandbox.fitbit.faults(), FitbitFaults::default());

    let stats = sandbox.fitbit.stats();
    assert_eq!(stats.injected_failures, 3);
    // Activities three times and sleep once; the profile is no data fetch.
    assert_eq!(stats.data_calls_of(DEFAULT_USER_ID), 4);
    assert_eq!(stats.api_calls_of(DEFAULT_USER_ID), 5);
    let counted: Value = fetch_json(client().get(admin_url(
        &sandbox,
        &format!("users/{DEFAULT_USER_ID}/data-calls"),
    )))
    .await;
    assert_eq!(counted["data_calls"], 4);
}

#[tokio::test]
async fn raw_answers_replace_the_next_api_answers_as_they_are() {
    let sandbox = start(FitbitConfig::default()).await;
    let grant = sandbox
        .fitbit
        .grant_tokens(DEFAULT_USER_ID, &["activity", "profile"]);
    let faults_url = admin_url(&sandbox, "faults");
    let page =
        "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>";
    let faults = inject_faults_via_admin(
        &faults_url,
        serde_json::json!({"fail_next_requests": 2,
            "raw_answer": {"status": 502, "content_type": "text/html", "body": page}}),
    )
    .await;
    assert_eq!(
        faults.raw_answer,
        Some(RawAnswer::new(502, "text/html", page))
    );

    // OAuth is not affected and does not use up the answers.
    let (status, pair) = refresh(&sandbox, &grant.refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    let token = pair["access_token"].as_str().unwrap().to_owned();
    for path in [ACTIVITIES, "/1/user/-/profile.json"] {
        let response = api_get(&sandbox, &token, path).await;
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(response.headers()["content-type"], "text/html");
        assert!(
            !response
                .headers()
                .contains_key("fitbit-rate-limit-remaining"),
            "as it is: nothing of Fitbit's"
        );
        assert_eq!(response.text().await.unwrap(), page);
    }
    // The answer went with the last failure.
    assert_eq!(sandbox.fitbit.faults(), FitbitFaults::default());
    assert_eq!(
        api_get(&sandbox, &token, ACTIVITIES).await.status(),
        StatusCode::OK
    );

    // Any status, with headers of its own: a 200 cut short, a 429 without Fitbit's headers.
    let cut = r#"{"summary":{"steps":80"#;
    sandbox
        .fitbit
        .answer_next_requests(1, RawAnswer::new(200, "application/json", cut));
    let response = api_get(&sandbox, &token, ACTIVITIES).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), cut);
    sandbox.fitbit.answer_next_requests(
        1,
        RawAnswer::new(429, "text/plain", "Too Many Requests").with_header("x-proxy", "edge"),
    );
    let response = api_get(&sandbox, &token, ACTIVITIES).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["x-proxy"], "edge");
    assert!(!response.headers().contains_key("fitbit-rate-limit-reset"));
    assert!(!response.headers().contains_key("retry-after"));

    // Failures after that answer in Fitbit's shape again.
    sandbox.fitbit.fail_next_requests(1, 503);
    let body: Value = api_get(&sandbox, &token, ACTIVITIES)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(error_type(&body), "system");

    assert_bad_raw_answers_refused(&faults_url).await;
    assert_eq!(sandbox.fitbit.faults(), FitbitFaults::default());
    assert_eq!(sandbox.fitbit.stats().injected_failures, 5);
}

#[tokio::test]
async fn a_throttled_user_gets_429_until_the_reset() {
    let sandbox = start(FitbitConfig::default()).await;
    let token = sandbox
        .fitbit
        .grant_tokens(DEFAULT_USER_ID, &["activity", "profile"])
        .access_token;
    sandbox
        .fitbit
        .add_user(TestUser::new("OTHER1", "Other", "User"));
    let other = sandbox
        .fitbit
        .grant_tokens("OTHER1", &["activity"])
        .access_token;

    sandbox.fitbit.throttle_user(DEFAULT_USER_ID, 1);
    let mut reset = 0;
    for path in [ACTIVITIES, "/1/user/-/profile.json"] {
        let response = api_get(&sandbox, &token, path).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert_eq!(header_i64(&response, "fitbit-rate-limit-limit"), 150);
        assert_eq!(header_i64(&response, "fitbit-rate-limit-remaining"), 0);
        reset = header_i64(&response, "fitbit-rate-limit-reset");
        assert_eq!(reset, 1);
        assert_eq!(header_i64(&response, "retry-after"), reset);
        assert_eq!(
            error_type(&response.json().await.unwrap()),
            "request_throttled"
        );
    }
    assert_eq!(
        api_get(&sandbox, &other, ACTIVITIES).await.status(),
        StatusCode::OK
    );

    // After the announced seconds (real time), the user has a fresh quota.
    tokio::time::sleep(Duration::from_secs(reset.unsigned_abs()) + Duration::from_millis(50)).await;
    let response = api_get(&sandbox, &token, ACTIVITIES).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_i64(&response, "fitbit-rate-limit-remaining"), 149);

    // The same through the admin API, ended early.
    let http = client();
    let throttle = admin_url(&sandbox, &format!("users/{DEFAULT_USER_ID}/throttle"));
    let response = http
        .post(&throttle)
        .json(&serde_json::json!({"reset_secs": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = api_get(&sandbox, &token, ACTIVITIES).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!((29..=30).contains(&header_i64(&response, "fitbit-rate-limit-reset")));
    let response = http.delete(&throttle).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        api_get(&sandbox, &token, ACTIVITIES).await.status(),
        StatusCode::OK
    );

    let stats = sandbox.fitbit.stats();
    assert_eq!(stats.throttled[DEFAULT_USER_ID], 3);
    assert!(!stats.throttled.contains_key("OTHER1"));
    // Throttled fetches are counted as calls.
    assert_eq!(stats.data_calls_of(DEFAULT_USER_ID), 4);
}

#[tokio::test]
async fn revocation_invalidates_tokens_and_removes_subscriptions() {
    let sandbox = start(FitbitConfig::default()).await;
    let first = sandbox.fitbit.grant_tokens(DEFAULT_USER_ID, &["activity"]);
    // A rotated pair whose old refresh token is still inside its grace window.
    let (status, second) = refresh(&sandbox, &first.refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    let access = second["access_token"].as_str().unwrap().to_owned();
    let subscription = |method: reqwest::Method, token: &str| {
        client()
            .request(
                method,
                format!(
                    "{}/1/user/-/activities/apiSubscriptions/s1.json",
                    sandbox.base_url
                ),
            )
            .bearer_auth(token)
            .send()
    };
    assert_eq!(
        subscription(reqwest::Method::POST, &access)
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );

    assert!(sandbox.fitbit.revoke_user(DEFAULT_USER_ID));
    assert!(sandbox.fitbit.subscriptions(DEFAULT_USER_ID).is_empty());
    assert!(!sandbox
        .fitbit
        .stats()
        .subscriptions
        .contains_key(DEFAULT_USER_ID));

    let response = api_get(&sandbox, &access, ACTIVITIES).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_type(&response.json().await.unwrap()), "invalid_token");
    let response = subscription(reqwest::Method::DELETE, &access)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_type(&response.json().await.unwrap()), "invalid_token");
    for refresh_token in [
        second["refresh_token"].as_str().unwrap(),
        first.refresh_token.as_str(),
    ] {
        let (status, body) = refresh(&sandbox, refresh_token).await;
        assert_eq!(
            (status, error_type(&body)),
            (StatusCode::BAD_REQUEST, "invalid_grant")
        );
    }

    // Revoking through /oauth2/revoke does the same.
    let again = sandbox.fitbit.grant_tokens(DEFAULT_USER_ID, &["activity"]);
    assert_eq!(
        subscription(reqwest::Method::POST, &again.access_token)
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    let response = client()
        .post(format!("{}/oauth2/revoke", sandbox.base_url))
        .header("authorization", basic_auth(sandbox.fitbit.config()))
        .form(&[("token", again.refresh_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(sandbox.fitbit.subscriptions(DEFAULT_USER_ID).is_empty());
    let response = subscription(reqwest::Method::DELETE, &again.access_token)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sandbox.fitbit.stats().revocations[DEFAULT_USER_ID], 2);
}

/// A subscriber that fetches from the sandbox before answering (so the sandbox must not hold
/// its lock while delivering) and checks the signature over the raw bytes.
struct Subscriber {
    secret: String,
    api: String,
    token: String,
    /// (status of the fetch, raw body, signature valid)
    log: Mutex<Vec<(u16, Vec<u8>, bool)>>,
}

async fn receive(
    AxumState(subscriber): AxumState<Arc<Subscriber>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let fetched = reqwest::Client::new()
        .get(format!("{}/1/user/-/profile.json", subscriber.api))
        .bearer_auth(&subscriber.token)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    let expected = sign_notification(&subscriber.secret, &body);
    let valid = headers
        .get("x-fitbit-signature")
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    subscriber
        .log
        .lock()
        .unwrap()
        .push((fetched, body.to_vec(), valid));
    if valid {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

#[tokio::test]
async fn raw_notifications_with_right_and_wrong_signatures() {
    let sandbox = start(FitbitConfig::default()).await;
    let token = sandbox
        .fitbit
        .grant_tokens(DEFAULT_USER_ID, &["profile"])
        .access_token;
    let subscriber = Arc::new(Subscriber {
        secret: sandbox.fitbit.config().client_secret.clone(),
        api: sandbox.base_url.clone(),
        token,
        log: Mutex::default(),
    });
    let app = Router::new()
        .route("/fitbit/webhook", post(receive))
        .with_state(subscriber.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/fitbit/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    sandbox.fitbit.set_subscriber(Some(url), None);

    let raw = r#"[{"collectionType":"activities","date":"2026-11-20","ownerId":"GGNJL9","ownerType":"user","subscriptionId":"s1"}]"#;
    let right = sign_notification(&sandbox.fitbit.config().client_secret, raw.as_bytes());
    let deliver = |request: NotifyRequest| sandbox.fitbit.deliver_notifications(request);
    let raw_request = || NotifyRequest {
        raw_body: Some(raw.to_owned()),
        ..Default::default()
    };
    assert_eq!(deliver(raw_request()).await.unwrap(), [204]);
    assert_eq!(
        deliver(NotifyRequest {
            bad_signature: true,
            ..raw_request()
        })
        .await
        .unwrap(),
        [404]
    );
    assert_eq!(
        deliver(NotifyRequest {
            omit_signature: true,
            ..raw_request()
        })
        .await
        .unwrap(),
        [404]
    );
    assert_eq!(
        deliver(NotifyRequest {
            signature: Some(right.clone()),
            bad_signature: true,
            ..raw_request()
        })
        .await
        .unwrap(),
        [204]
    );
    let url_encoded: String = url::form_urlencoded::byte_serialize(b"wrong+/=").collect();
    assert_eq!(
        deliver(NotifyRequest {
            signature: Some(url_encoded),
            ..raw_request()
        })
        .await
        .unwrap(),
        [404]
    );
    assert_eq!(
        deliver(NotifyRequest {
            mode: NotifyMode::Repeated,
            ..raw_request()
        })
        .await
        .unwrap(),
        [204, 204]
    );
    // Not even JSON: still signed over exactly these bytes.
    assert_eq!(
        deliver(NotifyRequest {
            raw_body: Some("not json".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap(),
        [204]
    );
    // Through the admin API.
    let response: Value = fetch_json(
        client()
            .post(admin_url(&sandbox, "notify"))
            .json(&serde_json::json!({"raw_body": raw, "bad_signature": true})),
    )
    .await;
    assert_eq!(response["statuses"], serde_json::json!([404]));

    let log = subscriber.log.lock().unwrap().clone();
    let valid: Vec<bool> = log.iter().map(|(_, _, valid)| *valid).collect();
    assert_eq!(
        valid,
        [true, false, false, true, false, true, true, true, false]
    );
    assert!(log.iter().all(|(fetched, _, _)| *fetched == 200));
    assert_eq!(log[0].1, raw.as_bytes());
    assert_eq!(log[7].1, b"not json");
    assert_eq!(sandbox.fitbit.stats().notifications_sent, 9);
}

#[tokio::test]
async fn fifty_concurrent_identical_refreshes_rotate_once() {
    let sandbox = start(FitbitConfig::default()).await;
    let first = sandbox
        .fitbit
        .grant_tokens(DEFAULT_USER_ID, &["activity", "sleep"]);
    let http = client();
    let auth = basic_auth(sandbox.fitbit.config());
    let mut requests = JoinSet::new();
    for _ in 0..50 {
        let request = http
            .post(format!("{}/oauth2/token", sandbox.base_url))
            .header("authorization", &auth)
            .form(&refresh_form(&first.refresh_token));
        requests.spawn(async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        });
    }
    let mut bodies = Vec::new();
    while let Some(result) = requests.join_next().await {
        let (status, body) = result.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        bodies.push(body);
    }
    assert_eq!(bodies.len(), 50);
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "identical responses"
    );
    assert_ne!(bodies[0]["refresh_token"], first.refresh_token.as_str());

    let stats = sandbox.fitbit.stats();
    assert_eq!(stats.refreshes_of(DEFAULT_USER_ID), 1);
    assert_eq!(stats.replays_of(DEFAULT_USER_ID), 49);
    assert_eq!(stats.token_requests_with("refresh_token", "ok"), 1);
    assert_eq!(stats.token_requests_with("refresh_token", "replayed"), 49);
    assert_eq!(
        stats.token_requests_with("refresh_token", "invalid_grant"),
        0
    );
    let active = sandbox.fitbit.active_tokens(DEFAULT_USER_ID).unwrap();
    assert_eq!(bodies[0]["access_token"], active.access_token.as_str());
    assert_eq!(bodies[0]["refresh_token"], active.refresh_token.as_str());
    assert_eq!(sandbox.fitbit.tokens_issued(DEFAULT_USER_ID).len(), 4);
}
