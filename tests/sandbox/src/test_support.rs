//! Helpers the provider sandboxes' tests share: a sandbox on a random port, an HTTP client
//! that shows redirects as they are, the token request forms every OAuth 2.0 server takes,
//! and the fault-injection admin route both providers serve.
//!
//! Invariants:
//! - A helper that returns has succeeded: it asserts what it needs and panics otherwise.
//! - Nothing here knows a provider's paths or error shapes; callers pass the URLs.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use reqwest::redirect::Policy;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::faults::Faults;
use crate::{Sandbox, SandboxConfig};

/// A sandbox on a random local port, stopped when dropped.
pub(crate) async fn start_sandbox(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts")
}

/// Redirects are what the authorization tests look at, so none is followed; the sandbox is
/// local, so no proxy from the environment may get in between.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// The `authorization_code` grant's form (RFC 6749 §4.1.3, with the PKCE verifier).
pub(crate) fn code_exchange_form<'a>(
    code: &'a str,
    redirect_uri: &'a str,
    verifier: &'a str,
) -> [(&'a str, &'a str); 4] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ]
}

/// The `refresh_token` grant's form (RFC 6749 §6).
pub(crate) fn refresh_form(refresh_token: &str) -> [(&str, &str); 2] {
    [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ]
}

/// Sends the request and parses the JSON answer, whatever its status.
pub(crate) async fn fetch_json<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> T {
    request.send().await.unwrap().json().await.unwrap()
}

/// Sends the requests all at once and asserts that each answers 200; returns how long they
/// took together.
pub(crate) async fn all_ok_concurrently(
    requests: impl IntoIterator<Item = reqwest::RequestBuilder>,
) -> Duration {
    let started = Instant::now();
    let mut running = JoinSet::new();
    for request in requests {
        running.spawn(async move { request.send().await.unwrap().status() });
    }
    while let Some(status) = running.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    started.elapsed()
}

/// POSTs a fault injection change to `/_admin/<sandbox>/faults` and returns the faults it
/// answers.
pub(crate) async fn inject_faults_via_admin(faults_url: &str, change: Value) -> Faults {
    let response = client()
        .post(faults_url)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The faults admin route refuses unknown fields and statuses that are no errors.
pub(crate) async fn assert_bad_fault_changes_refused(faults_url: &str) {
    for bad in [json!({"statuz": 500}), json!({"status": 200})] {
        let response = client().post(faults_url).json(&bad).send().await.unwrap();
        assert!(response.status().is_client_error(), "{bad}");
    }
}

/// DELETEs every fault through the admin route.
pub(crate) async fn clear_faults_via_admin(faults_url: &str) {
    let response = client().delete(faults_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

/// The faults admin route refuses raw answers that are no valid HTTP response.
pub(crate) async fn assert_bad_raw_answers_refused(faults_url: &str) {
    for bad in [
        json!({"fail_next_requests": 1,
               "raw_answer": {"status": 99, "content_type": "text/plain", "body": ""}}),
        json!({"fail_next_requests": 1,
               "raw_answer": {"status": 502, "content_type": "text/html\nX: y", "body": ""}}),
        json!({"fail_next_requests": 1,
               "raw_answer": {"status": 502, "content_type": "text/html", "body": "",
                              "headers": [["bad header", "v"]]}}),
        json!({"raw_answer": {"status": 502, "content_type": "text/html", "bodi": ""}}),
    ] {
        let response = client().post(faults_url).json(&bad).send().await.unwrap();
        assert!(response.status().is_client_error(), "{bad}");
    }
}
