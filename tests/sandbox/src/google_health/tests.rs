//! Tests through HTTP against a sandbox on a random port, as clients see it. Every answer
//! a test looks at is also checked against the discovery document's response schema.

use std::collections::HashMap;

use axum::http::StatusCode;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use time::{Date, Duration as TimeDuration, OffsetDateTime};
use url::Url;

use super::*;
use crate::test_support::{client, code_exchange_form, refresh_form, start_sandbox};
use crate::{Sandbox, SandboxConfig};

/// Activity patterns: weekday runners' evening runs, lapses, the admin API's `pattern`.
mod patterns;
/// Quotas, forced throttling, injected faults and latency: what the import pipeline's tests
/// provoke.
mod pipeline;
/// Service accounts, subscribers, endpoint verification, signed notifications and keys.
mod webhooks;

const REDIRECT_URI: &str = "http://localhost:9000/google/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K50s8f9gPnTGuTfW7KmRLTFaOk";
const USER: &str = DEFAULT_HEALTH_USER_ID;

async fn start(config: GoogleHealthConfig) -> Sandbox {
    start_sandbox(SandboxConfig {
        google_health: config,
        ..Default::default()
    })
    .await
}

/// A civil day `n` days before today (far enough from midnight in Berlin to be a past day).
fn days_ago(n: i64) -> Date {
    (OffsetDateTime::now_utc() - TimeDuration::days(n)).date()
}

fn date_json(date: Date) -> Value {
    json!({ "year": date.year(), "month": date.month() as u8, "day": date.day() })
}

/// The default authorize parameters; `overrides` replace or add some.
async fn authorize_with(sandbox: &Sandbox, overrides: &[(&str, &str)]) -> reqwest::Response {
    let challenge = pkce_s256(VERIFIER);
    let mut params: Vec<(String, String)> = [
        (
            "client_id",
            sandbox.google_health.config().client_id.as_str(),
        ),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", scopes::ACTIVITY_AND_FITNESS),
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("state", "st4te"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (name, value) in overrides {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push(((*name).to_owned(), (*value).to_owned()));
        }
    }
    client()
        .get(format!("{}/o/oauth2/v2/auth", sandbox.base_url))
        .query(&params)
        .send()
        .await
        .unwrap()
}

/// Runs the authorize step and returns the redirect's query parameters.
async fn authorize(sandbox: &Sandbox, overrides: &[(&str, &str)]) -> HashMap<String, String> {
    let response = authorize_with(sandbox, overrides).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT_URI), "{location}");
    location.query_pairs().into_owned().collect()
}

/// A token request with the client credentials in the body.
async fn token_request(sandbox: &Sandbox, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let config = sandbox.google_health.config();
    let mut form: Vec<(&str, &str)> = form.to_vec();
    form.push(("client_id", &config.client_id));
    form.push(("client_secret", &config.client_secret));
    let response = client()
        .post(format!("{}/token", sandbox.base_url))
        .form(&form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn exchange(sandbox: &Sandbox, code: &str) -> (StatusCode, Value) {
    token_request(sandbox, &code_exchange_form(code, REDIRECT_URI, VERIFIER)).await
}

async fn refresh(sandbox: &Sandbox, refresh_token: &str) -> (StatusCode, Value) {
    token_request(sandbox, &refresh_form(refresh_token)).await
}

/// An API call; the body is parsed if it is JSON (`Value::Null` otherwise).
async fn api(
    sandbox: &Sandbox,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client()
        .request(method, format!("{}{path}", sandbox.base_url))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(sandbox: &Sandbox, token: &str, path: &str) -> (StatusCode, Value) {
    api(sandbox, reqwest::Method::GET, token, path, None).await
}

async fn roll_up(
    sandbox: &Sandbox,
    token: &str,
    data_type: &str,
    body: Value,
) -> (StatusCode, Value) {
    api(
        sandbox,
        reqwest::Method::POST,
        token,
        &format!("/v4/users/me/dataTypes/{data_type}/dataPoints:dailyRollUp"),
        Some(body),
    )
    .await
}

fn range(start: Date, end: Date) -> Value {
    json!({ "range": { "start": { "date": date_json(start) }, "end": { "date": date_json(end) } } })
}

/// Asserts Google's error shape and returns the message.
fn google_error(body: &Value, code: u16, status: &str) -> String {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["status"], status, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

fn valid(schema: &str, body: &Value) {
    if let Err(problems) = validate_response(schema, body) {
        panic!("{schema} does not match the contract:\n{problems}\n{body:#}");
    }
}

fn jwt_claims(jwt: &str) -> Value {
    let claims = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap()
}

#[test]
fn the_contract_knows_every_simulated_data_type() {
    let known = data_types::simulated_types_are_known();
    // (listable, daily roll-up)
    assert_eq!(known["steps"], (true, true));
    assert_eq!(known["distance"], (true, true));
    assert_eq!(known["active-zone-minutes"], (true, true));
    assert_eq!(known["total-calories"], (false, true));
    assert_eq!(known["weight"], (true, true));
    assert_eq!(known["sleep"], (true, false));
    assert_eq!(known["exercise"], (true, false));
}

#[tokio::test]
async fn consent_flow_with_pkce_offline_access_and_single_use_codes() {
    let sandbox = start(GoogleHealthConfig::default()).await;
    let redirect = authorize(&sandbox, &[]).await;
    assert_eq!(redirect["state"], "st4te");
    assert_eq!(redirect["scope"], scopes::ACTIVITY_AND_FITNESS);
    assert_eq!(redirect["iss"], "https://accounts.google.com");
    let code = redirect["code"].clone();
    assert!(code.starts_with("4/0"), "{code}");

    // A wrong verifier fails and burns the code.
    let (status, body) = token_request(
        &sandbox,
        &code_exchange_form(&code, REDIRECT_URI, &"x".repeat(43)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Invalid code verifier."})
    );
    let (status, body) = exchange(&sandbox, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // A redirect URI differing from the authorize request's.
    let code = authorize(&sandbox, &[]).await["code"].clone();
    let (status, body) = token_request(
        &sandbox,
        &code_exchange_form(&code, "http://localhost:9000/other", VERIFIER),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("redirect_uri_mismatch"))
    );

    // Client authentication with HTTP Basic works too; the code is good once.
    let code = authorize(&sandbox, &[]).await["code"].clone();
    let config = sandbox.google_health.config();
    let response = client()
        .post(format!("{}/token", sandbox.base_url))
        .header(
            "authorization",
            format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", config.client_id, config.client_secret))
            ),
        )
        .form(&code_exchange_form(&code, REDIRECT_URI, VERIFIER))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["cache-control"],
        "no-cache, no-store, max-age=0, must-revalidate"
    );
    let grant: Value = response.json().await.unwrap();
    assert_eq!(grant["expires_in"], 3599);
    assert_eq!(grant["token_type"], "Bearer");
    assert_eq!(grant["scope"], scopes::ACTIVITY_AND_FITNESS);
    assert!(grant["access_token"].as_str().unwrap().starts_with("ya29."));
    assert!(grant["refresh_token"].as_str().unwrap().starts_with("1//0"));
    assert!(grant.get("id_token").is_none(), "no openid, no id_token");
    let (status, body) = exchange(&sandbox, &code).await;
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Bad Request"}),
        "{status}"
    );

    // Wrong client credentials are 401 invalid_client.
    let response = client()
        .post(format!("{}/token", sandbox.base_url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &config.client_id),
            ("client_secret", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    let stats = sandbox.google_health.stats();
    assert_eq!(stats.token_requests_with("authorization_code", "ok"), 1);
    assert_eq!(
        stats.token_requests_with("authorization_code", "invalid_grant"),
        3
    );
    assert_eq!(
        stats.token_requests_with("authorization_code", "redirect_uri_mismatch"),
        1
    );
    assert_eq!(stats.authorizations[USER], 3);
}

#[tokio::test]
async fn refresh_tokens_come_only_with_offline_access_on_the_consent_screen() {
    let sandbox = start(GoogleHealthConfig::default()).await;
    // Online access: no refresh token.
    let code =
        authorize(&sandbox, &[("access_type", "online"), ("prompt", "")]).await["code"].clone();
    let (status, grant) = exchange(&sandbox, &code).await;
    assert_eq!(status, StatusCode::OK);
    assert!(grant.get("refresh_token").is_none(), "{grant}");

    // Offline, scopes already granted, no prompt: the consent screen is skipped and no
    // refresh token comes back... unless the user has none yet.
    let redirect = authorize(&sandbox, &[("prompt", "")]).await;
    assert_eq!(redirect["prompt"], "none");
    let (_, grant) = exchange(&sandbox, &redirect["code"]).await;
    assert!(
        grant["refresh_token"].is_string(),
        "the first refresh token: {grant}"
    );
    let redirect = authorize(&sandbox, &[("prompt", "")]).await;
    let (_, grant) = exchange(&sandbox, &redirect["code"]).await;
    assert!(grant.get("refresh_token").is_none(), "{grant}");

    // prompt=consent shows the screen again: a new refresh token.
    let redirect = authorize(&sandbox, &[]).await;
    assert_eq!(redirect["prompt"], "consent");
    let (_, grant) = exchange(&sandbox, &redirect["code"]).await;
    assert!(grant["refresh_token"].is_string(), "{grant}");

    // A new scope shows the screen too; prompt=none then answers consent_required.
    let redirect = authorize(&sandbox, &[("prompt", "none"), ("scope", scopes::SLEEP)]).await;
    assert_eq!(redirect["error"], "consent_required");
    assert!(!redirect.contains_key("code"));
}

#[tokio::test]
async fn authorize_refuses_bad_requests_with_an_error_page() {
    let sandbox = start(GoogleHealthConfig {
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        ..Default::default()
    })
    .await;
    for (overrides, status, error) in [
        (
            vec![("client_id", "other.apps.googleusercontent.com")],
            401,
            "invalid_client",
        ),
        (
            vec![("redirect_uri", "http://localhost:9000/elsewhere")],
            400,
            "redirect_uri_mismatch",
        ),
        (
            vec![(
                "scope",
                "https://www.googleapis.com/auth/googlehealth.teleport.readonly",
            )],
            400,
            "invalid_scope",
        ),
        (
            vec![("scope", scopes::CLOUD_PLATFORM)],
            400,
            "invalid_scope",
        ),
        (vec![("scope", "")], 400, "invalid_request"),
        (
            vec![("code_challenge_method", "plain")],
            400,
            "invalid_request",
        ),
        (vec![("code_challenge", "")], 400, "invalid_request"),
        (
            vec![("response_type", "token")],
            400,
            "unsupported_response_type",
        ),
        (vec![("access_type", "forever")], 400, "invalid_request"),
    ] {
        let response = authorize_with(&sandbox, &overrides).await;
        assert_eq!(response.status().as_u16(), status, "{overrides:?}");
        assert!(response.headers().get("location").is_none());
        let page = response.text().await.unwrap();
        assert!(
            page.contains(&format!("Error {status}: {error}")),
            "{overrides:?}: {page}"
        );
    }
}

#[tokio::test]
async fn denial_and_partial_consent() {
    let sandbox = start(GoogleHealthConfig::default()).await;
    let gh = &sandbox.google_health;
    gh.set_consent(Consent::deny(USER));
    let redirect = authorize(&sandbox, &[]).await;
    assert_eq!(redirect["error"], "access_denied");
    assert_eq!(redirect["state"], "st4te");
    assert!(!redirect.contains_key("code"));
    assert_eq!(gh.stats().consent_denials, 1);

    // A second person unticks sleep; sign-in scopes cannot be unticked.
    gh.add_user(GoogleUser::new("7700000000000000001", "Kim", "Partial"));
    gh.set_consent(Consent::allow_only(
        "7700000000000000001",
        &[scopes::ACTIVITY_AND_FITNESS],
    ));
    let requested = format!(
        "{} {} openid email",
        scopes::ACTIVITY_AND_FITNESS,
        scopes::SLEEP
    );
    let redirect = authorize(&sandbox, &[("scope", &requested), ("nonce", "n-1")]).await;
    let granted = format!(
        "{} openid {}",
        scopes::ACTIVITY_AND_FITNESS,
        scopes::USERINFO_EMAIL
    );
    let granted_sorted = {
        let mut s: Vec<&str> = granted.split(' ').collect();
        s.sort();
        s.join(" ")
    };
    assert_eq!(redirect["scope"], granted_sorted);
    let (status, grant) = exchange(&sandbox, &redirect["code"]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(grant["scope"], granted_sorted);
    let id_token = grant["id_token"].as_str().unwrap();
    let claims = jwt_claims(id_token);
    assert_eq!(claims["email"], "kim.partial@example.com");
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["aud"], gh.config().client_id);
    assert!(claims.get("name").is_none(), "no profile scope, no name");
    assert_eq!(
        gh.consented_scopes("7700000000000000001"),
        granted_sorted.split(' ').map(str::to_owned).collect()
    );

    let token = grant["access_token"].as_str().unwrap();
    let (status, body) = get(&sandbox, token, "/v4/users/me/dataTypes/sleep/dataPoints").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        google_error(&body, 403, "PERMISSION_DENIED"),
        "Request had insufficient authentication scopes."
    );
    let (status, _) = roll_up(&sandbox, token, "steps", range(days_ago(3), days_ago(2))).await;
    assert_eq!(status, StatusCode::OK);

    // A login hint signs in that person, with their own answer.
    gh.set_consent(Consent::allow_all(USER));
    gh.set_consent(Consent::allow_only(
        "7700000000000000001",
        &[scopes::ACTIVITY_AND_FITNESS],
    ));
    let redirect = authorize(&sandbox, &[("login_hint", "alex.sandbox@example.com")]).await;
    let (_, grant) = exchange(&sandbox, &redirect["code"]).await;
    let token = grant["access_token"].as_str().unwrap();
    let (_, identity) = get(&sandbox, token, "/v4/users/me/identity").await;
    assert_eq!(identity["healthUserId"], USER);
}

#[tokio::test]
async fn refresh_tokens_are_reusable_and_the_answer_has_no_new_one() {
    let sandbox = start(GoogleHealthConfig::default()).await;
    let gh = &sandbox.google_health;
    let first = gh.grant_tokens(USER, &[scopes::ACTIVITY_AND_FITNESS, "openid"]);
    let refresh_token = first.refresh_token.clone().unwrap();
    let (status, second) = refresh(&sandbox, &refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert!(second.get("refresh_token").is_none(), "{second}");
    assert_eq!(second["expires_in"], 3599);
    assert_eq!(second["scope"], first.scope);
    assert!(
        second["id_token"].is_string(),
        "openid grants carry an id_token on refresh"
    );
    let (status, third) = refresh(&sandbox, &refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(second["access_token"], third["access_token"]);
    // Earlier access tokens stay valid until their hour is over.
    for token in [
        first.access_token.as_str(),
        second["access_token"].as_str().unwrap(),
    ] {
        let (status, _) = get(&sandbox, token, "/v4/users/me/identity").await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(gh.stats().refreshes_of(USER), 2);
    // A month later the refresh token still works (the app is in production).
    gh.advance_clock(30 * 86_400);
    assert_eq!(refresh(&sandbox, &refresh_token).await.0, StatusCode::OK);
    let (status, body) = refresh(&sandbox, "1//0-not-a-token").await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("Token has been expired or revoked.")
        )
    );
}

#[tokio::test]
async fn testing_mode_refresh_tokens_die_after_seven_days() {
    let sandbox = start(GoogleHealthConfig {
        testing_mode: true,
        ..Default::default()
    })
    .await;
    let gh = &sandbox.google_health;
    let grant = gh.grant_tokens(USER, &[scopes::SLEEP]);
    let refresh_token = grant.refresh_token.unwrap();
    gh.advance_clock(6 * 86_400 + 23 * 3600);
    assert_eq!(refresh(&sandbox, &refresh_token).await.0, StatusCode::OK);
    gh.advance_clock(3600);
    let (status, body) = refresh(&sandbox, &refresh_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
    );
    // Re-consent gives a fresh one (the old is dead, so even without prompt=consent).
    let redirect = authorize(&sandbox, &[("prompt", ""), ("scope", scopes::SLEEP)]).await;
    let (_, grant) = exchange(&sandbox, &redirect["code"]).await;
    assert!(grant["refresh_token"].is_string(), "{grant}");
}

#[tokio::test]
async fn revocation_and_expiry() {
    let sandbox = start(GoogleHealthConfig::default()).await;
    let gh = &sandbox.google_health;
    let grant = gh.grant_tokens(USER, &[scopes::PROFILE]);
    assert!(gh.expire_access_token(USER));
    let response = client()
        .get(format!("{}/v4/users/me/profile", sandbox.base_url))
        .bearer_auth(&grant.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    google_error(&response.json().await.unwrap(), 401, "UNAUTHENTICATED");

    let grant = gh.grant_tokens(USER, &[scopes::PROFILE]);
    gh.advance_clock(3599);
    assert_eq!(
        get(&sandbox, &grant.access_token, "/v4/users/me/profile")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let grant = gh.grant_tokens(USER, &[scopes::PROFILE]);
    assert_eq!(
        get(&sandbox, &grant.access_token, "/v4/users/me/profile")
            .await
            .0,
        StatusCode::OK
    );
    let refresh_token = grant.refresh_token.unwrap();
    let revoke = |token: String| {
        client()
            .post(format!("{}/revoke?token={token}", sandbox.base_url))
            .send()
    };
    assert_eq!(
        revoke(refresh_token.clone()).await.unwrap().status(),
        StatusCode::OK
    );
    let (status, body) = refresh(&sandbox, &refresh_token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = get(&sandbox, &grant.access_token, "/v4/users/me/profile").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    google_error(&body, 401, "UNAUTHENTICATED");
    let again = revoke(refresh_token).await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"],
        "invalid_token"
    );
    assert!(gh.consented_scopes(USER).is_empty());
    assert_eq!(gh.stats().revocations[USER], 1);

    // Revoking by form body, through an access token.
    let grant = gh.grant_tokens(USER, &[scopes::PROFILE]);
    let response = client()
        .post(format!("{}/revoke", sandbox.base_url))
        .form(&[("token", grant.access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        refresh(&sandbox, &grant.refresh_token.unwrap()).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, body) = get(&sandbox, "ya29.unknown", "/v4/users/me/profile").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    google_error(&body, 401, "UNAUTHENTICATED");
    let (status, body) = get(&sandbox, "", "/v4/users/me/profile").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(google_error(&body, 401, "UNAUTHENTICATED")
        .starts_with("Request is missing required authentication credential"));
}

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

async fn start_default() -> Sandbox {
    start(GoogleHealthConfig::default()).await
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

/// Every page of a list, following `nextPageToken`.
async fn list_all(
    sandbox: &Sandbox,
    token: &str,
    data_type: &str,
    filter: &str,
    page_size: u32,
) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut page_token = String::new();
    loop {
        let mut url = Url::parse(&format!(
            "{}/v4/users/me/dataTypes/{data_type}/dataPoints",
            sandbox.base_url
        ))
        .unwrap();
        url.query_pairs_mut()
            .append_pair("filter", filter)
            .append_pair("pageSize", &page_size.to_string());
        if !page_token.is_empty() {
            url.query_pairs_mut().append_pair("pageToken", &page_token);
        }
        let response = client().get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        valid("ListDataPointsResponse", &body);
        pages.push(body["dataPoints"].as_array().cloned().unwrap_or_default());
        match body["nextPageToken"].as_str() {
            Some(next) => page_token = next.to_owned(),
            None => return pages,
        }
    }
}

fn point_start(point: &Value, data_type: &str) -> OffsetDateTime {
    let text = match data_type {
        "weight" => point["weight"]["sampleTime"]["physicalTime"].as_str(),
        other => point[other]["interval"]["startTime"].as_str(),
    };
    OffsetDateTime::parse(
        text.unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
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

/// The sandbox shares the tests' tracing subscriber in-process: no token, code, secret or
/// assertion may reach the logs.
#[tokio::test(flavor = "current_thread")]
async fn no_secrets_in_the_logs() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "fitbridge_sandbox=trace",
        ))
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sandbox = start_default().await;
    let redirect = authorize(
        &sandbox,
        &[("scope", &format!("{} openid", scopes::ACTIVITY_AND_FITNESS))],
    )
    .await;
    let (_, grant) = exchange(&sandbox, &redirect["code"]).await;
    let refresh_token = grant["refresh_token"].as_str().unwrap().to_owned();
    let (_, refreshed) = refresh(&sandbox, &refresh_token).await;
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    roll_up(&sandbox, &access, "steps", range(days_ago(3), days_ago(2))).await;
    client()
        .post(format!("{}/revoke?token={refresh_token}", sandbox.base_url))
        .send()
        .await
        .unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("google health sandbox"),
        "the sandbox logged something: {logs}"
    );
    for secret in [
        redirect["code"].as_str(),
        grant["access_token"].as_str().unwrap(),
        &refresh_token,
        &access,
        grant["id_token"].as_str().unwrap(),
        &sandbox.google_health.config().client_secret,
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}
