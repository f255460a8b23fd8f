//! Tests through HTTP against a sandbox on a random port, as clients see it. Every JSON
//! answer a test looks at is also checked against the page's schema for it. The sandbox
//! clock is set to [`NOW`]; no test reads the wall clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State as AxumState;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};
use url::Url;

use super::*;
use crate::test_support::{client, start_sandbox};
use crate::{Sandbox, SandboxConfig};

/// Admin API round trips: people, consents, registration, days, throttles, stats.
mod admin;
/// The code flow without PKCE, code replays, long-lived tokens, revocation and expiry.
mod authorization;
/// The page itself: served endpoints documented, examples parsed by the wire types.
mod contract_checks;
/// The partner's rate limits and their headers, forced throttles, injected faults.
mod rate_limits;
/// Daily activity, sleep and exercises: 204, 400, 404 and the patterns.
mod reads;
/// Registration, user information, de-registration and Polar's mandatory consents.
mod registration;
/// The webhook: create with a `PING`, signatures, deliveries, deactivation, activation.
mod webhooks;

const REDIRECT_URI: &str = "http://localhost:9000/polar/callback";
/// A Friday, midday in Berlin.
const NOW: OffsetDateTime = datetime!(2026-11-20 12:00 UTC);
const TODAY: Date = date!(2026 - 11 - 20);
const USER: &str = DEFAULT_USER_ID;

async fn start(config: PolarConfig) -> Sandbox {
    let sandbox = start_sandbox(SandboxConfig {
        polar: config,
        ..Default::default()
    })
    .await;
    sandbox.polar.set_clock(NOW);
    sandbox
}

async fn start_default() -> Sandbox {
    start(PolarConfig {
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        ..Default::default()
    })
    .await
}

fn basic_auth(config: &PolarConfig) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", config.client_id, config.client_secret))
    )
}

/// Runs the authorize step; the redirect's query parameters.
async fn authorize(sandbox: &Sandbox, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", sandbox.polar.config().client_id.as_str()),
        ("scope", SCOPE),
        ("state", "st4te"),
    ];
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        params.push((name, value));
    }
    let response = client()
        .get(format!("{}/oauth2/authorization", sandbox.base_url))
        .query(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT_URI), "{location}");
    location.query_pairs().into_owned().collect()
}

/// `POST /v2/oauth2/token` with the client's Basic credentials.
async fn exchange(sandbox: &Sandbox, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}/v2/oauth2/token", sandbox.base_url))
        .header("authorization", basic_auth(sandbox.polar.config()))
        .header("accept", "application/json;charset=UTF-8")
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

/// The whole flow; the token answer.
async fn connect_via_oauth(sandbox: &Sandbox) -> TokenGrant {
    let query = authorize(sandbox, &[]).await;
    let (status, body) = exchange(
        sandbox,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

async fn get(sandbox: &Sandbox, token: &str, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", sandbox.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn register(sandbox: &Sandbox, token: &str, member_id: &str) -> reqwest::Response {
    client()
        .post(format!("{}/v3/users", sandbox.base_url))
        .bearer_auth(token)
        .json(&json!({ "member-id": member_id }))
        .send()
        .await
        .unwrap()
}

/// A token for the default person, registered as `member-1`.
async fn connected(sandbox: &Sandbox) -> String {
    sandbox.polar.connect(USER, "member-1").access_token
}

/// The JSON answer, after checking its status and its schema.
async fn json_of(response: reqwest::Response, status: StatusCode, schema: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    if let Err(problem) = contract::validate(schema, &body) {
        panic!("{schema}: {problem}\n{body}");
    }
    body
}

/// The error answer's `errorType`, after checking the `error` schema.
async fn error_type(response: reqwest::Response, status: StatusCode) -> String {
    let body = json_of(response, status, "error").await;
    assert_eq!(body["status"], status.as_u16());
    body["errorType"].as_str().unwrap().to_owned()
}

/// `at` is `expected` by the sandbox clock, which runs on from [`NOW`] while a test runs.
fn assert_close(at: OffsetDateTime, expected: OffsetDateTime) {
    let apart = (at - expected).abs();
    assert!(
        apart < time::Duration::seconds(10),
        "{at} is not about {expected}"
    );
}

/// A `RateLimit-*` header as (short, long).
fn rate_header(response: &reqwest::Response, name: &str) -> (i64, i64) {
    let value = response.headers()[name].to_str().unwrap();
    let (short, long) = value.split_once(',').unwrap();
    (short.trim().parse().unwrap(), long.trim().parse().unwrap())
}

/// What a test webhook receiver got.
#[derive(Clone, Debug)]
struct Received {
    event: Option<String>,
    signature: Option<String>,
    body: String,
}

/// A webhook receiver answering `status` (shared, so a test can change it).
#[derive(Clone)]
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(status: u16) -> Receiver {
        #[derive(Clone)]
        struct Shared {
            status: Arc<AtomicU16>,
            received: Arc<Mutex<Vec<Received>>>,
        }
        async fn receive(
            AxumState(shared): AxumState<Shared>,
            headers: HeaderMap,
            body: String,
        ) -> StatusCode {
            let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
            shared.received.lock().unwrap().push(Received {
                event: header("polar-webhook-event"),
                signature: header("polar-webhook-signature"),
                body,
            });
            StatusCode::from_u16(shared.status.load(Ordering::SeqCst)).unwrap()
        }
        let shared = Shared {
            status: Arc::new(AtomicU16::new(status)),
            received: Arc::default(),
        };
        let app = Router::new()
            .route("/acl_webhook", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/acl_webhook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            url,
            status: shared.status,
            received: shared.received,
        }
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// A request to `/v3/webhooks...` with the client's credentials.
fn webhook_request(
    sandbox: &Sandbox,
    method: reqwest::Method,
    rest: &str,
) -> reqwest::RequestBuilder {
    client()
        .request(method, format!("{}/v3/webhooks{rest}", sandbox.base_url))
        .header("authorization", basic_auth(sandbox.polar.config()))
}

/// Creates the webhook for `events` at the receiver; the `data` of the answer.
async fn create_webhook(sandbox: &Sandbox, receiver: &Receiver, events: &[&str]) -> Value {
    let response = webhook_request(sandbox, reqwest::Method::POST, "")
        .json(&json!({ "events": events, "url": receiver.url }))
        .send()
        .await
        .unwrap();
    json_of(response, StatusCode::CREATED, "createdWebhook").await["data"].clone()
}
