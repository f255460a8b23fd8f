//! Tests through HTTP against a sandbox on a random port, as clients see it.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;
use time::macros::date;
use url::Url;

use super::*;
use crate::test_support::{client, code_exchange_form, refresh_form, start_sandbox};
use crate::{Sandbox, SandboxConfig};

/// The authorization code flow with PKCE, client authentication, consent, single-use
/// refresh tokens, expiry and revocation.
mod authorization;
/// Fault injection, forced rate limits, revocation, raw notifications and concurrent
/// refreshes: what the import pipeline's tests provoke.
mod pipeline;

const REDIRECT_URI: &str = "http://localhost:9000/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K50s8f9gPnTGuTfW7KmRLTFaOk";

async fn start(config: FitbitConfig) -> Sandbox {
    start_sandbox(SandboxConfig {
        fitbit: config,
        ..Default::default()
    })
    .await
}

fn basic_auth(config: &FitbitConfig) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", config.client_id, config.client_secret))
    )
}

/// Runs the authorize step and returns the redirect's query parameters.
async fn authorize(sandbox: &Sandbox, scope: &str, verifier: &str) -> HashMap<String, String> {
    let response = client()
        .get(format!("{}/oauth2/authorize", sandbox.base_url))
        .query(&[
            ("client_id", "23SBOX"),
            ("response_type", "code"),
            ("scope", scope),
            ("redirect_uri", REDIRECT_URI),
            ("state", "st4te"),
            ("code_challenge", &pkce_s256(verifier)),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT_URI));
    location.query_pairs().into_owned().collect()
}

async fn token_request(sandbox: &Sandbox, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}/oauth2/token", sandbox.base_url))
        .header("authorization", basic_auth(sandbox.fitbit.config()))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn exchange(sandbox: &Sandbox, code: &str, verifier: &str) -> (StatusCode, Value) {
    token_request(sandbox, &code_exchange_form(code, REDIRECT_URI, verifier)).await
}

async fn refresh(sandbox: &Sandbox, refresh_token: &str) -> (StatusCode, Value) {
    token_request(sandbox, &refresh_form(refresh_token)).await
}

async fn api_get(sandbox: &Sandbox, token: &str, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", sandbox.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn error_type(body: &Value) -> &str {
    assert_eq!(body["success"], false, "Fitbit error shape: {body}");
    body["errors"][0]["errorType"].as_str().unwrap()
}

fn header_i64(response: &reqwest::Response, name: &str) -> i64 {
    response.headers()[name].to_str().unwrap().parse().unwrap()
}

#[test]
fn notification_signature_is_hmac_sha1_with_secret_ampersand() {
    let body = br#"[{"collectionType":"activities","date":"2010-03-01","ownerId":"184X36","ownerType":"user","subscriptionId":"2345"}]"#;
    // Expected value computed independently (Python hmac/base64).
    assert_eq!(
        sign_notification("sandbox-client-secret", body),
        "wt9CEjq+UVhdYslTLlWh/JJzAbk="
    );
}

#[tokio::test]
async fn rate_limit_headers_and_429() {
    let sandbox = start(FitbitConfig {
        rate_limit_per_hour: 3,
        ..Default::default()
    })
    .await;
    // Start just after a top of the hour, so the quota cannot reset halfway through.
    let past_the_hour = OffsetDateTime::now_utc().unix_timestamp().rem_euclid(3600);
    sandbox.fitbit.advance_clock(3600 - past_the_hour + 5);
    let grant = sandbox.fitbit.grant_tokens(DEFAULT_USER_ID, &["activity"]);
    let path = "/1/user/-/activities/date/2026-10-01.json";
    for remaining in [2, 1, 0] {
        let response = api_get(&sandbox, &grant.access_token, path).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header_i64(&response, "fitbit-rate-limit-limit"), 3);
        assert_eq!(
            header_i64(&response, "fitbit-rate-limit-remaining"),
            remaining
        );
        assert!((1..=3600).contains(&header_i64(&response, "fitbit-rate-limit-reset")));
    }
    let response = api_get(&sandbox, &grant.access_token, path).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header_i64(&response, "fitbit-rate-limit-remaining"), 0);
    let reset = header_i64(&response, "fitbit-rate-limit-reset");
    assert_eq!(header_i64(&response, "retry-after"), reset);
    assert_eq!(
        error_type(&response.json().await.unwrap()),
        "request_throttled"
    );

    // Errors carry the headers too.
    let response = api_get(&sandbox, "not-a-token", path).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response
        .headers()
        .contains_key("fitbit-rate-limit-remaining"));

    // The quota resets at the top of the hour.
    sandbox.fitbit.advance_clock(reset);
    let response = api_get(&sandbox, &grant.access_token, path).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_i64(&response, "fitbit-rate-limit-remaining"), 2);

    let stats = sandbox.fitbit.stats();
    assert_eq!(stats.api_calls[DEFAULT_USER_ID][path], 5);
    assert_eq!(stats.throttled[DEFAULT_USER_ID], 1);
}

#[tokio::test]
async fn subscriptions_created_existing_and_conflicting() {
    let sandbox = start(FitbitConfig::default()).await;
    let token = sandbox
        .fitbit
        .grant_tokens(DEFAULT_USER_ID, &["activity", "sleep"])
        .access_token;
    let call = |method: reqwest::Method, path: &str| {
        client()
            .request(method, format!("{}/1/user/-/{path}", sandbox.base_url))
            .bearer_auth(&token)
            .send()
    };

    let created = call(
        reqwest::Method::POST,
        "activities/apiSubscriptions/u1-act.json",
    )
    .await
    .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let body: Value = created.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"collectionType": "activities", "ownerId": DEFAULT_USER_ID, "ownerType": "user",
                           "subscriberId": "1", "subscriptionId": "u1-act"})
    );
    let again = call(
        reqwest::Method::POST,
        "activities/apiSubscriptions/u1-act.json",
    )
    .await
    .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    // The id belongs to another stream; the stream has another id.
    for path in [
        "sleep/apiSubscriptions/u1-act.json",
        "activities/apiSubscriptions/u1-other.json",
    ] {
        assert_eq!(
            call(reqwest::Method::POST, path).await.unwrap().status(),
            StatusCode::CONFLICT,
            "{path}"
        );
    }
    let too_long = format!("sleep/apiSubscriptions/{}.json", "x".repeat(51));
    assert_eq!(
        call(reqwest::Method::POST, &too_long)
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    let no_scope = call(reqwest::Method::POST, "body/apiSubscriptions/u1-body.json")
        .await
        .unwrap();
    assert_eq!(no_scope.status(), StatusCode::FORBIDDEN);
    let sleep = call(
        reqwest::Method::POST,
        "sleep/apiSubscriptions/u1-sleep.json",
    )
    .await
    .unwrap();
    assert_eq!(sleep.status(), StatusCode::CREATED);

    let list: Value = call(reqwest::Method::GET, "apiSubscriptions.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["apiSubscriptions"].as_array().unwrap().len(), 2);
    let stats = sandbox.fitbit.stats();
    assert_eq!(
        stats.subscriptions[DEFAULT_USER_ID],
        ["activities", "sleep"]
    );

    let deleted = call(
        reqwest::Method::DELETE,
        "sleep/apiSubscriptions/u1-sleep.json",
    )
    .await
    .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let deleted = call(
        reqwest::Method::DELETE,
        "sleep/apiSubscriptions/u1-sleep.json",
    )
    .await
    .unwrap();
    assert_eq!(deleted.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        sandbox.fitbit.stats().subscriptions[DEFAULT_USER_ID],
        ["activities"]
    );
}

#[tokio::test]
async fn gone_mode_answers_410_everywhere_but_admin() {
    let sandbox = start(FitbitConfig::default()).await;
    let token = sandbox
        .fitbit
        .grant_tokens(DEFAULT_USER_ID, &["profile"])
        .access_token;
    let http = client();
    let admin = |enabled: bool| {
        http.post(format!("{}/_admin/fitbit/gone", sandbox.base_url))
            .json(&serde_json::json!({ "enabled": enabled }))
            .send()
    };
    assert_eq!(admin(true).await.unwrap().status(), StatusCode::OK);
    let responses = [
        http.get(format!(
            "{}/oauth2/authorize?client_id=23SBOX",
            sandbox.base_url
        ))
        .send()
        .await
        .unwrap(),
        http.post(format!("{}/oauth2/token", sandbox.base_url))
            .send()
            .await
            .unwrap(),
        http.post(format!("{}/oauth2/revoke", sandbox.base_url))
            .send()
            .await
            .unwrap(),
        api_get(&sandbox, &token, "/1/user/-/profile.json").await,
        api_get(&sandbox, &token, "/1.2/user/-/sleep/date/2026-10-01.json").await,
    ];
    for response in responses {
        assert_eq!(response.status(), StatusCode::GONE);
        assert_eq!(error_type(&response.json().await.unwrap()), "gone");
    }
    let stats = http
        .get(format!("{}/_admin/fitbit/stats", sandbox.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(stats.status(), StatusCode::OK);

    assert_eq!(admin(false).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        api_get(&sandbox, &token, "/1/user/-/profile.json")
            .await
            .status(),
        StatusCode::OK
    );
}

/// What a test subscriber received: (signature header, body).
type Received = Arc<Mutex<Vec<(Option<String>, String)>>>;

/// A subscriber that records notifications and checks the verification code `right`.
async fn start_subscriber() -> (String, Received) {
    async fn receive(
        AxumState(received): AxumState<Received>,
        headers: HeaderMap,
        body: String,
    ) -> StatusCode {
        let signature = headers
            .get("x-fitbit-signature")
            .map(|v| v.to_str().unwrap().to_owned());
        received.lock().unwrap().push((signature, body));
        StatusCode::NO_CONTENT
    }
    async fn verify(Query(query): Query<HashMap<String, String>>) -> StatusCode {
        if query.get("verify").map(String::as_str) == Some("right") {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::NOT_FOUND
        }
    }
    let received = Received::default();
    let app = Router::new()
        .route("/webhook", post(receive).get(verify))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

#[tokio::test]
async fn notifications_are_signed_arrays() {
    let (url, received) = start_subscriber().await;
    let sandbox = start(FitbitConfig {
        subscriber_url: Some(url.clone()),
        ..Default::default()
    })
    .await;
    let token = sandbox
        .fitbit
        .grant_tokens(DEFAULT_USER_ID, &["activity"])
        .access_token;
    let subscribe = client()
        .post(format!(
            "{}/1/user/-/activities/apiSubscriptions/sub-7.json",
            sandbox.base_url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(subscribe.status(), StatusCode::CREATED);

    let notifications = vec![
        Notification::new("activities", "2026-10-01", DEFAULT_USER_ID),
        Notification::new("sleep", "2026-10-01", DEFAULT_USER_ID),
    ];
    let request = |mode, bad_signature| NotifyRequest {
        notifications: notifications.clone(),
        mode,
        bad_signature,
        ..Default::default()
    };
    assert_eq!(
        sandbox
            .fitbit
            .deliver_notifications(request(NotifyMode::Array, false))
            .await
            .unwrap(),
        [204]
    );
    assert_eq!(
        sandbox
            .fitbit
            .deliver_notifications(request(NotifyMode::Single, false))
            .await
            .unwrap(),
        [204, 204]
    );
    assert_eq!(
        sandbox
            .fitbit
            .deliver_notifications(request(NotifyMode::Duplicated, true))
            .await
            .unwrap(),
        [204]
    );

    let received = received.lock().unwrap().clone();
    let secret = &sandbox.fitbit.config().client_secret;
    let lengths: Vec<usize> = received
        .iter()
        .map(|(_, body)| serde_json::from_str::<Vec<Value>>(body).unwrap().len())
        .collect();
    assert_eq!(lengths, [2, 1, 1, 4]);
    for (signature, body) in &received[..3] {
        assert_eq!(
            signature.as_deref(),
            Some(sign_notification(secret, body.as_bytes()).as_str())
        );
    }
    let (bad, body) = &received[3];
    assert_ne!(
        bad.as_deref(),
        Some(sign_notification(secret, body.as_bytes()).as_str())
    );

    let first: Vec<Value> = serde_json::from_str(&received[0].1).unwrap();
    assert_eq!(
        first[0],
        serde_json::json!({"collectionType": "activities", "date": "2026-10-01", "ownerId": DEFAULT_USER_ID,
                           "ownerType": "user", "subscriptionId": "sub-7"})
    );
    assert_eq!(sandbox.fitbit.stats().notifications_sent, 4);

    let outcome = sandbox
        .fitbit
        .verify_subscriber(None, Some("right".to_owned()))
        .await
        .unwrap();
    assert_eq!(
        (
            outcome.correct_code_status,
            outcome.wrong_code_status,
            outcome.verified
        ),
        (204, 404, true)
    );
}

#[tokio::test]
async fn data_is_deterministic_and_follows_recorded_activity() {
    let sandbox = start(FitbitConfig::default()).await;
    let token = sandbox
        .fitbit
        .grant_tokens(DEFAULT_USER_ID, &["activity", "sleep", "weight"])
        .access_token;
    let get = |path: String| {
        let token = token.clone();
        let sandbox = &sandbox;
        async move {
            let response = api_get(sandbox, &token, &path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };

    let day = get("/1/user/-/activities/date/2026-10-01.json".to_owned()).await;
    assert_eq!(
        day,
        get(format!(
            "/1/user/{DEFAULT_USER_ID}/activities/date/2026-10-01.json"
        ))
        .await
    );
    assert_ne!(
        day["summary"],
        get("/1/user/-/activities/date/2026-10-02.json".to_owned()).await["summary"]
    );
    let summary = &day["summary"];
    assert!(summary["steps"].as_u64().unwrap() >= 2_500);
    assert_eq!(summary["distances"][0]["activity"], "total");
    assert_eq!(
        summary["caloriesOut"].as_u64().unwrap(),
        summary["caloriesBMR"].as_u64().unwrap() + summary["activityCalories"].as_u64().unwrap()
    );

    sandbox.fitbit.record_activity(
        DEFAULT_USER_ID,
        RecordedActivity::on(date!(2026 - 10 - 01)).steps(12_345),
    );
    let recorded = get("/1/user/-/activities/date/2026-10-01.json".to_owned()).await;
    assert_eq!(recorded["summary"]["steps"], 12_345);
    assert_eq!(
        recorded["summary"]["veryActiveMinutes"],
        summary["veryActiveMinutes"]
    );

    let sleep = get("/1.2/user/-/sleep/date/2026-10-01.json".to_owned()).await;
    let log = &sleep["sleep"][0];
    assert_eq!(
        (log["dateOfSleep"].as_str(), log["type"].as_str()),
        (Some("2026-10-01"), Some("stages"))
    );
    let staged: u64 = log["levels"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["seconds"].as_u64().unwrap())
        .sum();
    assert_eq!(staged, log["timeInBed"].as_u64().unwrap() * 60);
    assert_eq!(
        log["minutesAsleep"].as_u64().unwrap() + log["minutesAwake"].as_u64().unwrap(),
        log["timeInBed"].as_u64().unwrap()
    );
    assert_eq!(sleep["summary"]["totalMinutesAsleep"], log["minutesAsleep"]);

    let mut weighed_days = 0;
    for day in 1..=20 {
        let weight = get(format!(
            "/1/user/-/body/log/weight/date/2026-10-{day:02}.json"
        ))
        .await;
        if let Some(entry) = weight["weight"].as_array().unwrap().first() {
            weighed_days += 1;
            assert_eq!(entry["source"], "API");
            assert!((60.0..70.0).contains(&entry["weight"].as_f64().unwrap()));
        }
    }
    assert!(
        (1..20).contains(&weighed_days),
        "some days weighed, some not: {weighed_days}"
    );

    let invalid = api_get(
        &sandbox,
        &token,
        "/1/user/-/activities/date/2026-13-01.json",
    )
    .await;
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    let unknown = api_get(&sandbox, &token, "/1/user/-/nothing.json").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn workouts_and_activity_patterns() {
    let sandbox = start(FitbitConfig::default()).await;
    let admin = client();
    let add = |body: Value| {
        let admin = &admin;
        let url = format!("{}/_admin/fitbit/users", sandbox.base_url);
        async move {
            let response = admin.post(url).json(&body).send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap_or_default())
        }
    };
    let (_, lapse) = add(serde_json::json!({"user_id": "LAPSE1", "pattern": "lapse"})).await;
    assert_eq!(lapse["pattern"], "lapse");
    let (_, derived) = add(serde_json::json!({"user_id": "SBX001"})).await;
    assert_eq!(derived["pattern"], "default");
    let (status, _) = add(serde_json::json!({"user_id": "X1", "pattern": "sofa"})).await;
    assert!(status.is_client_error());
    assert_eq!(
        sandbox
            .fitbit
            .user(DEFAULT_USER_ID)
            .unwrap()
            .activity_pattern(),
        ActivityPattern::WeekdayRunner
    );

    let day_of = |user: &str, back: i64| {
        let token = sandbox
            .fitbit
            .grant_tokens(user, &["activity"])
            .access_token;
        let sandbox = &sandbox;
        async move {
            let day = (time::OffsetDateTime::now_utc() - time::Duration::days(back)).date();
            let path = format!("/1/user/-/activities/date/{day}.json");
            let response = api_get(sandbox, &token, &path).await;
            assert_eq!(response.status(), StatusCode::OK);
            (day, response.json::<Value>().await.unwrap())
        }
    };

    // The default person runs every weekday evening, ending in the 18:00 hour.
    let mut km = 0.0;
    for back in 1..=30 {
        let (day, body) = day_of(DEFAULT_USER_ID, back).await;
        let summary = &body["summary"];
        km += summary["distances"][0]["distance"].as_f64().unwrap();
        assert_eq!(summary["distances"][2]["activity"], "loggedActivities");
        let logs = body["activities"].as_array().unwrap();
        if day.weekday().number_from_monday() > 5 {
            continue;
        }
        assert!(summary["steps"].as_u64().unwrap() >= 10_000, "{day}");
        assert_eq!(logs.len(), 1, "{day}: {body}");
        let run = &logs[0];
        assert_eq!(
            (&run["activityId"], &run["activityParentId"], &run["name"]),
            (
                &Value::from(90009),
                &Value::from(90009),
                &Value::from("Run")
            )
        );
        assert_eq!(run["startDate"], day.to_string());
        assert_eq!(run["hasStartTime"], true);
        let (h, m) = run["startTime"].as_str().unwrap().split_once(':').unwrap();
        let start: u64 = h.parse::<u64>().unwrap() * 60 + m.parse::<u64>().unwrap();
        let end = start + run["duration"].as_u64().unwrap() / 60_000;
        assert_eq!(end / 60, 18, "{run}");
        assert!(run["steps"].as_u64().unwrap() < summary["steps"].as_u64().unwrap());
        assert!(
            run["distance"].as_f64().unwrap()
                < summary["distances"][0]["distance"].as_f64().unwrap()
        );
        assert!(summary["veryActiveMinutes"].as_u64().unwrap() >= end - start - 10);
        assert!(run["lastModified"].as_str().unwrap().ends_with(".000Z"));
        assert!(run["logId"].is_u64() && run["calories"].is_u64());
    }
    assert!(km >= 100.0, "{km} km in 30 days");

    // A lapse: fewer than 2,000 steps and no workouts in the last days.
    for back in 1..=9 {
        let (day, body) = day_of("LAPSE1", back).await;
        assert!(body["summary"]["steps"].as_u64().unwrap() < 2_000, "{day}");
        assert_eq!(body["activities"], serde_json::json!([]));
    }
    let (_, active) = day_of("LAPSE1", 20).await;
    assert!(active["summary"]["steps"].as_u64().unwrap() >= 6_000);

    // Default days: a workout on some of them, within the day's totals.
    let mut with_workouts = 0;
    for back in 1..=20 {
        let (_, body) = day_of("SBX001", back).await;
        for log in body["activities"].as_array().unwrap() {
            with_workouts += 1;
            assert!(log["steps"].as_u64().unwrap() <= body["summary"]["steps"].as_u64().unwrap());
            assert!(log["duration"].as_u64().unwrap() % 60_000 == 0);
        }
    }
    assert!((2..20).contains(&with_workouts), "{with_workouts}");
}
