use super::*;
use crate::test_support::{
    assert_bad_fault_changes_refused, assert_bad_raw_answers_refused, clear_faults_via_admin,
    fetch_json,
};

fn admin(sandbox: &Sandbox, rest: &str) -> String {
    format!("{}/_admin/polar{rest}", sandbox.base_url)
}

async fn post(sandbox: &Sandbox, rest: &str, body: Value) -> reqwest::Response {
    client()
        .post(admin(sandbox, rest))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn people_are_added_connected_and_given_days_through_the_admin_api() {
    let sandbox = start_default().await;
    let response = post(
        &sandbox,
        "/users",
        json!({ "polar_user_id": "31337", "first_name": "Ada", "pattern": "lapse",
                "timezone": "America/New_York", "member_id": "m-31337" }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["pattern"], "lapse");
    assert_eq!(user["registration"]["member_id"], "m-31337");
    let response = post(&sandbox, "/users", json!({ "polar_user_id": "GGNJL9" })).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let user: Value = fetch_json(client().get(admin(&sandbox, "/users/2278517"))).await;
    assert_eq!(user["pattern"], "weekday_runner");

    let response = post(
        &sandbox,
        "/users/31337/connect",
        json!({ "member_id": "m-31337" }),
    )
    .await;
    let grant: TokenGrant = response.json().await.unwrap();
    assert_eq!(grant.x_user_id, 31_337);
    let response = post(
        &sandbox,
        "/users/31337/days",
        json!({ "date": "2026-11-19", "steps": 12_345, "active_minutes": 95 }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = get(
        &sandbox,
        &grant.access_token,
        "/v3/users/activities/2026-11-19",
    )
    .await;
    let day = json_of(response, StatusCode::OK, "activity-summary").await;
    assert_eq!(
        (day["steps"].as_u64(), day["active_duration"].as_str()),
        (Some(12_345), Some("PT1H35M"))
    );
    let response = client()
        .delete(admin(&sandbox, "/users/31337/days/2026-11-19"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = get(
        &sandbox,
        &grant.access_token,
        "/v3/users/activities/2026-11-19",
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let calls: Value = fetch_json(client().get(admin(&sandbox, "/users/31337/data-calls"))).await;
    assert_eq!(calls, json!({ "polar_user_id": "31337", "data_calls": 2 }));

    let response = post(
        &sandbox,
        "/users/31337/mandatory-consents",
        json!({ "accepted": false }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = get(
        &sandbox,
        &grant.access_token,
        "/v3/users/activities/2026-11-19",
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let out: Value =
        fetch_json(client().delete(admin(&sandbox, "/users/31337/registration"))).await;
    assert_eq!(out, json!({ "deregistered": true }));
    let response = post(
        &sandbox,
        "/users/31337/registration",
        json!({ "member_id": "m-2" }),
    )
    .await;
    let out: Value = response.json().await.unwrap();
    assert_eq!(out["registration"]["member_id"], "m-2");
}

#[tokio::test]
async fn the_shared_operations_work_on_polar() {
    let sandbox = start_default().await;
    let response = post(
        &sandbox,
        "/consent",
        json!({ "polar_user_id": USER, "deny": true }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(authorize(&sandbox, &[]).await["error"], "access_denied");

    let grant: TokenGrant = fetch_json(
        client()
            .post(admin(&sandbox, &format!("/users/{USER}/tokens")))
            .json(&json!({ "scopes": [SCOPE] })),
    )
    .await;
    let issued: Value =
        fetch_json(client().get(admin(&sandbox, &format!("/users/{USER}/tokens")))).await;
    assert_eq!(issued["issued"], json!([grant.access_token]));
    let expired: Value =
        fetch_json(client().post(admin(&sandbox, &format!("/users/{USER}/expire-token")))).await;
    assert_eq!(expired, json!({ "expired": true }));
    let response = client()
        .post(admin(&sandbox, &format!("/users/{USER}/expire-token")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let revoked: Value =
        fetch_json(client().post(admin(&sandbox, &format!("/users/{USER}/revoke")))).await;
    assert_eq!(revoked, json!({ "revoked": true }));
    // Polar's quota is the partner's: no per-person throttle route.
    let response = client()
        .delete(admin(&sandbox, &format!("/users/{USER}/throttle")))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());

    let limits =
        json!({ "short_base": 1, "short_per_person": 0, "long_base": 10, "long_per_person": 0 });
    assert_eq!(
        post(&sandbox, "/rate-limits", limits).await.status(),
        StatusCode::OK
    );
    let token = connected(&sandbox).await;
    let path = format!("/v3/users/{USER}");
    assert_eq!(get(&sandbox, &token, &path).await.status(), StatusCode::OK);
    assert_eq!(
        get(&sandbox, &token, &path).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let response = post(&sandbox, "/clock", json!({ "advance_secs": 900 })).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(get(&sandbox, &token, &path).await.status(), StatusCode::OK);

    let faults = admin(&sandbox, "/faults");
    assert_bad_fault_changes_refused(&faults).await;
    assert_bad_raw_answers_refused(&faults).await;
    clear_faults_via_admin(&faults).await;

    let stats: PolarStats = fetch_json(client().get(admin(&sandbox, "/stats"))).await;
    assert_eq!(stats.throttled, 1);
    assert_eq!(stats.endpoint_calls("GET /v3/users/{user-id}"), 3);
    let response = client()
        .post(admin(&sandbox, "/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sandbox.polar.stats(), PolarStats::default());
    assert!(sandbox.polar.user(USER).unwrap().registration.is_none());
}

#[tokio::test]
async fn notifications_and_deliveries_through_the_admin_api() {
    let sandbox = start_default().await;
    let response = post(
        &sandbox,
        "/notify",
        json!({ "polar_user_id": USER, "event": "SLEEP" }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "no webhook yet");
    let webhook: Value = fetch_json(client().get(admin(&sandbox, "/webhook"))).await;
    assert_eq!(webhook, json!({ "webhook": null }));
    let receiver = Receiver::start(200).await;
    create_webhook(&sandbox, &receiver, &["SLEEP"]).await;
    sandbox.polar.register(USER, "member-1");
    let response = post(
        &sandbox,
        "/notify",
        json!({ "polar_user_id": USER, "event": "SLEEP", "date": "2026-11-19" }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let out: Value = response.json().await.unwrap();
    assert_eq!(out["deliveries"][0]["status"], 200);
    let sent: WebhookPayload =
        serde_json::from_str(out["deliveries"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent.date.as_deref(), Some("2026-11-19"));
    let response = post(&sandbox, "/notify", json!({ "polar_user_id": USER })).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "no event");
    let webhook: Value = fetch_json(client().get(admin(&sandbox, "/webhook"))).await;
    assert_eq!(webhook["webhook"]["events"], json!(["SLEEP"]));
    assert!(webhook["webhook"]["signature_secret_key"].is_string());
    let deliveries: Value = fetch_json(client().get(admin(&sandbox, "/deliveries"))).await;
    let events: Vec<&str> = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["PING", "SLEEP"]);
}
