//! Each function as the SAM template deploys it: its environment (infra/template.yaml, with
//! the endpoints pointed at the harness), the event it is measured with, what its answer
//! must look like, and what the AWS endpoint answers it.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use crate::aws::Canned;

pub const ALL: [&str; 5] = ["webhook", "oauth", "worker", "token-refresh", "daily-sync"];

const FITBIT_SECRET: &str = "fitbridge/fitbit";
const GOOGLE_SECRET: &str = "fitbridge/google-health";
const SAP_SECRET: &str = "fitbridge/sap";
const LINK_SECRET: &str = "fitbridge/connect-link";
/// Signs the harness's own connect links; not a credential of anything.
const LINK_KEY: &str = "coldstart-harness-connect-link-key";
const WORK_QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/fitbridge-WorkQueue";
const RETRY_QUEUE: &str =
    "https://sqs.us-east-1.amazonaws.com/123456789012/fitbridge-RetryQueue.fifo";
/// The person the worker and the token-refresh function work for.
const USER: &str = "CSTART";
/// The day the worker imports and the token-refresh function resends.
const DAY: &str = "2026-11-20";
/// The connection's token version the canned table holds (and a retry observed).
const VERSION: u64 = 3;

/// One function, ready to start.
pub struct Setup {
    /// The function's environment besides what Lambda itself sets.
    pub env: Vec<(&'static str, String)>,
    pub canned: Canned,
    /// What the measured invocations get.
    pub event: String,
    /// The template's `Timeout`: the deadline Lambda hands out.
    pub timeout: Duration,
    /// The template's `MemorySize`.
    pub memory_mb: u32,
    /// Whether the answer is the one of the success path.
    pub check: fn(&str) -> Result<(), String>,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis()
}

/// The stored secrets: the sandboxes' credentials, the harness's link key.
fn secrets(sandbox: &crate::stubs::Stubs) -> HashMap<String, String> {
    let fitbit = sandbox.fitbit.config();
    let google = sandbox.google_health.config();
    let sap = sandbox.sap.config();
    HashMap::from([
        (
            FITBIT_SECRET.to_owned(),
            json!({"client_id": fitbit.client_id, "client_secret": fitbit.client_secret,
                   "subscriber_verification_code": "coldstart-verification-code"})
            .to_string(),
        ),
        (
            GOOGLE_SECRET.to_owned(),
            json!({"client_id": google.client_id, "client_secret": google.client_secret,
                   "webhook_authorization": "Bearer coldstart-webhook"})
            .to_string(),
        ),
        (
            SAP_SECRET.to_owned(),
            json!({"username": sap.username, "password": sap.password}).to_string(),
        ),
        (LINK_SECRET.to_owned(), json!({"key": LINK_KEY}).to_string()),
    ])
}

/// The template's `Globals` and each function's own variables, endpoints on the sandbox.
fn env(function: &str, sandbox: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("RUST_LOG", "info".to_owned()),
        ("TABLE_NAME", "fitbridge-Table-1A2B3C4D5E6F".to_owned()),
        ("FITBIT_SECRET_ID", FITBIT_SECRET.to_owned()),
        ("FITBIT_API_BASE_URL", sandbox.to_owned()),
        ("GOOGLE_HEALTH_SECRET_ID", GOOGLE_SECRET.to_owned()),
        ("GOOGLE_HEALTH_API_BASE_URL", sandbox.to_owned()),
        ("GOOGLE_OAUTH_TOKEN_URL", format!("{sandbox}/token")),
        ("GOOGLE_OAUTH_REVOKE_URL", format!("{sandbox}/revoke")),
        ("WORK_QUEUE_URL", WORK_QUEUE.to_owned()),
    ];
    let sap = [
        ("SAP_SECRET_ID", SAP_SECRET.to_owned()),
        ("SAP_BASE_URL", sandbox.to_owned()),
        ("SAP_CONTACT_API", "contact".to_owned()),
        ("SAP_CUSTOMER_ID_ORIGIN", "CUSTOMER_ID".to_owned()),
        ("INTERACTION_MAPPING", String::new()),
    ];
    match function {
        "oauth" => {
            env.extend(sap);
            env.extend([
                ("CONNECT_LINK_SECRET_ID", LINK_SECRET.to_owned()),
                ("PUBLIC_BASE_URL", String::new()),
                (
                    "FITBIT_AUTHORIZE_URL",
                    format!("{sandbox}/oauth2/authorize"),
                ),
                (
                    "GOOGLE_OAUTH_AUTHORIZE_URL",
                    format!("{sandbox}/o/oauth2/v2/auth"),
                ),
                (
                    "GOOGLE_OPENID_USERINFO_URL",
                    format!("{sandbox}/v1/userinfo"),
                ),
                ("GOOGLE_HEALTH_OPENID", "false".to_owned()),
            ]);
        }
        "webhook" => env.push((
            "GOOGLE_HEALTH_KEYSET_URL",
            format!("{sandbox}/google-health/webhook-keyset.json"),
        )),
        "worker" => {
            env.extend(sap);
            env.extend([
                ("RETRY_QUEUE_URL", RETRY_QUEUE.to_owned()),
                ("WORK_QUEUE_MAX_RECEIVE_COUNT", "5".to_owned()),
            ]);
        }
        "token-refresh" => env.push(("RETRY_QUEUE_URL", RETRY_QUEUE.to_owned())),
        "daily-sync" => env.push(("SCAN_SEGMENTS", "8".to_owned())),
        _ => {}
    }
    env
}

/// An HTTP API (payload 2.0) event as API Gateway delivers it.
fn http_api_event(method: &str, path: &str, query: &[(&str, &str)], body: Option<&str>) -> Value {
    let domain = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com";
    let raw_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let route = if path.starts_with("/webhooks/") {
        format!("{method} /webhooks/{{provider}}")
    } else {
        format!("{method} /connect/{{provider}}")
    };
    let provider = path.rsplit('/').next().unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {
            "host": domain,
            "x-forwarded-for": "198.51.100.23",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            "x-amzn-trace-id": "Root=1-67a0c0de-0123456789abcdef01234567"
        },
        "requestContext": {
            "accountId": "123456789012", "apiId": "a1b2c3d4e5", "domainName": domain,
            "domainPrefix": "a1b2c3d4e5",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "198.51.100.23", "userAgent": "coldstart"},
            "requestId": "Xk3AbCdEoAMEbWx=", "routeKey": route, "stage": "$default",
            "time": "21/Nov/2026:20:00:00 +0000", "timeEpoch": 1_795_291_200_000i64
        },
        "isBase64Encoded": false,
        "pathParameters": {"provider": provider}
    });
    if !query.is_empty() {
        event["queryStringParameters"] = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    if let Some(body) = body {
        event["body"] = json!(body);
        event["headers"]["content-type"] = json!("application/json");
        event["headers"]["content-length"] = json!(body.len().to_string());
    }
    event
}

/// Ten notifications for ten people, as the existing webhook benchmark sends them.
fn ten_notifications() -> String {
    let list: Vec<Value> = (0..10)
        .map(|i| {
            let collection = ["activities", "sleep", "body"][i % 3];
            let owner = format!("U{i:05}");
            json!({"collectionType": collection, "date": format!("2026-11-{:02}", 10 + i),
                   "ownerId": owner, "ownerType": "user",
                   "subscriptionId": format!("{owner}-{collection}")})
        })
        .collect();
    serde_json::to_string(&list).expect("JSON")
}

fn webhook_event(client_secret: &str) -> String {
    let body = ten_notifications();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(format!("{client_secret}&").as_bytes())
        .expect("any key length");
    mac.update(body.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let mut event = http_api_event("POST", "/webhooks/fitbit", &[], Some(&body));
    event["headers"]["x-fitbit-signature"] = json!(signature);
    event.to_string()
}

/// `GET /connect/fitbit` with a link the company's app signed (shared/src/connect_link.rs).
fn connect_event() -> String {
    let customer_ref = "C-1042";
    let expires = (now_ms() / 1000) as i64 + 30 * 86_400;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(LINK_KEY.as_bytes()).expect("any key");
    mac.update(format!("v1\nfitbit\n{customer_ref}\n{expires}").as_bytes());
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    let expires = expires.to_string();
    let mut event = http_api_event(
        "GET",
        "/connect/fitbit",
        &[("ref", customer_ref), ("expires", &expires), ("sig", &sig)],
        None,
    );
    event["headers"]["user-agent"] = json!("Mozilla/5.0 (X11; Linux x86_64) coldstart");
    event["headers"]["accept"] = json!("text/html");
    event.to_string()
}

fn sqs_record(n: usize, body: &str, queue: &str, fifo: bool) -> Value {
    let sent = now_ms().to_string();
    let mut attributes = json!({
        "ApproximateReceiveCount": "1", "SentTimestamp": sent,
        "SenderId": "AROAEXAMPLEROLEID12345:fitbridge-WebhookFunction-Ab12Cd34Ef56",
        "ApproximateFirstReceiveTimestamp": sent
    });
    if fifo {
        attributes["MessageGroupId"] = json!(format!("fitbit#{USER}"));
        attributes["MessageDeduplicationId"] = json!(format!("{n:064x}"));
        attributes["SequenceNumber"] = json!(format!(
            "{:020}",
            18_890_123_456_789_012_345u128 + n as u128
        ));
    }
    json!({
        "messageId": format!("5b4a4e8e-2f0c-4a53-9c3e-{n:012x}"),
        "receiptHandle": format!("AQEB{n:060x}"),
        "body": body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": "f7646c1f55f3291248fb8b15588a61d1",
        "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{}", queue.rsplit('/').next().unwrap_or_default()),
        "awsRegion": "us-east-1"
    })
}

fn work_item(collection: &str) -> Value {
    json!({"provider": "fitbit", "user_id": USER, "task": "sync", "date": DAY,
           "collections": [collection]})
}

/// A batch of three work items for one person's day, as the webhook queues them.
fn worker_event() -> String {
    let records: Vec<Value> = ["activities", "sleep", "body"]
        .iter()
        .enumerate()
        .map(|(i, c)| sqs_record(i, &work_item(c).to_string(), WORK_QUEUE, false))
        .collect();
    json!({ "Records": records }).to_string()
}

/// One retry after a 401 seen with the stored token version: refresh, resend.
fn retry_event() -> String {
    let body = json!({"work": work_item("activities"), "observed_version": VERSION});
    json!({ "Records": [sqs_record(0, &body.to_string(), RETRY_QUEUE, true)] }).to_string()
}

fn schedule_event() -> String {
    json!({
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
        "time": "2026-11-21T02:15:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/fitbridge-DailySync"],
        "detail": {}
    })
    .to_string()
}

/// The person's connection as the table holds it, with tokens the sandbox issued.
fn connection_item(sandbox: &crate::stubs::Stubs) -> Value {
    let scopes = ["profile", "activity", "sleep", "weight"];
    let grant = sandbox.fitbit.grant_tokens(USER, &scopes);
    let expires = (now_ms() / 1000) as i64 + grant.expires_in;
    json!({
        "pk": {"S": format!("CONN#fitbit#{USER}")}, "sk": {"S": "CONNECTION"},
        "provider": {"S": "fitbit"}, "user_id": {"S": USER},
        "access_token": {"S": grant.access_token}, "refresh_token": {"S": grant.refresh_token},
        "access_expires_at": {"N": expires.to_string()}, "scopes": {"S": grant.scope},
        "status": {"S": "active"}, "contact_origin": {"S": "FITBIT"}, "contact_id": {"S": USER},
        "subscriptions": {"L": []}, "version": {"N": VERSION.to_string()},
        "connected_at": {"N": "1795291200"}, "consented_at": {"N": "1795291200000"}
    })
}

/// One scan page of a segment: twelve active connections.
fn scan_page() -> Vec<Value> {
    let zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"];
    (0..12)
        .map(|i| {
            json!({"provider": {"S": "fitbit"}, "user_id": {"S": format!("D{i:05}")},
                   "timezone": {"S": zones[i % zones.len()]},
                   "scopes": {"S": "profile activity sleep weight"}})
        })
        .collect()
}

fn status_is(answer: &str, wanted: impl Fn(u64) -> bool) -> Result<(), String> {
    let v: Value = serde_json::from_str(answer).map_err(|e| format!("not JSON: {e}"))?;
    match v["statusCode"].as_u64() {
        Some(s) if wanted(s) => Ok(()),
        other => Err(format!("statusCode {other:?}")),
    }
}

fn no_failures(answer: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(answer).map_err(|e| format!("not JSON: {e}"))?;
    match v["batchItemFailures"].as_array() {
        Some(f) if f.is_empty() => Ok(()),
        _ => Err(format!("batch item failures: {}", v["batchItemFailures"])),
    }
}

/// What each function is measured with.
pub fn event_name(function: &str) -> &'static str {
    match function {
        "webhook" => "POST /webhooks/fitbit, 10 signed notifications",
        "oauth" => "GET /connect/fitbit with a signed link",
        "worker" => "SQS batch: 3 work items, 1 person-day (Fitbit fetch, SAP import)",
        "token-refresh" => "SQS FIFO retry: refresh the token, resend the work",
        "daily-sync" => "EventBridge schedule: 8 scan segments × 12 people",
        _ => "",
    }
}

pub fn setup(function: &str, sandbox: &crate::stubs::Stubs) -> Setup {
    let secrets = secrets(sandbox);
    let env = env(function, &sandbox.base_url);
    let canned = |connection: Option<Value>, scan_page: Vec<Value>| Canned {
        secrets: secrets.clone(),
        connection,
        scan_page,
    };
    match function {
        "webhook" => Setup {
            env,
            canned: canned(None, vec![]),
            event: webhook_event(&sandbox.fitbit.config().client_secret),
            timeout: Duration::from_secs(10),
            memory_mb: 256,
            check: |a| status_is(a, |s| s == 204),
        },
        "oauth" => Setup {
            env,
            canned: canned(None, vec![]),
            event: connect_event(),
            timeout: Duration::from_secs(29),
            memory_mb: 256,
            check: |a| status_is(a, |s| (300..400).contains(&s)),
        },
        "worker" => {
            sandbox.fitbit.set_rate_limit(1_000_000);
            Setup {
                env,
                canned: canned(Some(connection_item(sandbox)), vec![]),
                event: worker_event(),
                timeout: Duration::from_secs(60),
                memory_mb: 512,
                check: no_failures,
            }
        }
        "token-refresh" => Setup {
            env,
            canned: canned(Some(connection_item(sandbox)), vec![]),
            event: retry_event(),
            timeout: Duration::from_secs(90),
            memory_mb: 256,
            check: no_failures,
        },
        "daily-sync" => Setup {
            env,
            canned: canned(None, scan_page()),
            event: schedule_event(),
            timeout: Duration::from_secs(900),
            memory_mb: 1024,
            check: |a| {
                let v: Value = serde_json::from_str(a).map_err(|e| format!("not JSON: {e}"))?;
                match v["queued"].as_u64() {
                    Some(q) if q > 0 => Ok(()),
                    _ => Err(format!("nothing queued: {v}")),
                }
            },
        },
        other => panic!("unknown function {other}"),
    }
}
