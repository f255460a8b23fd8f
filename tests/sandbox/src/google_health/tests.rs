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

/// The authorization code flow with PKCE, consent, refresh tokens, revocation and expiry.
mod authorization;
/// Activity patterns: weekday runners' evening runs, lapses, the admin API's `pattern`.
mod patterns;
/// Quotas, forced throttling, injected faults and latency: what the import pipeline's tests
/// provoke.
mod pipeline;
/// The `/v4` reads: identity, profile, settings and userinfo, daily roll-ups, lists, and the
/// contract's refusals.
mod reads;
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

async fn start_default() -> Sandbox {
    start(GoogleHealthConfig::default()).await
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
