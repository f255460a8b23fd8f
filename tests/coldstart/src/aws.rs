//! The constant-time AWS endpoint the functions reach through `AWS_ENDPOINT_URL`: one HTTP
//! server answering the JSON protocols of Secrets Manager (`secretsmanager.*`), DynamoDB
//! (`DynamoDB_20120810.*`) and SQS (`AmazonSQS.*`) from canned values, by `X-Amz-Target`.
//! No storage, no waiting: what it answers depends only on the request.
//!
//! - `GetSecretValue`: the secret from the harness's map.
//! - `GetItem`: the one canned connection for a `CONN#...`/`CONNECTION` key, nothing for
//!   any other key (no used link, no revocation, no fetch log entry).
//! - `UpdateItem`: success; with `ReturnValues: UPDATED_NEW` the connection's next version.
//! - `PutItem`, `DeleteItem`, `TransactWriteItems`: success. `Query`: no items.
//! - `Scan`: the canned page of active connections, complete (no `LastEvaluatedKey`).
//! - `SendMessage`, `SendMessageBatch` (every entry successful), `DeleteMessage`,
//!   `ChangeMessageVisibility` and their batches: success.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

/// What the endpoint answers with.
#[derive(Default)]
pub struct Canned {
    /// Secret id → `SecretString`.
    pub secrets: HashMap<String, String>,
    /// The DynamoDB item of the one connection (`GetItem` on any connection key).
    pub connection: Option<Value>,
    /// The items one `Scan` page returns.
    pub scan_page: Vec<Value>,
}

struct Endpoint {
    canned: Canned,
    calls: Mutex<BTreeMap<String, u64>>,
}

pub struct AwsEndpoint {
    pub url: String,
    endpoint: Arc<Endpoint>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl AwsEndpoint {
    pub async fn start(canned: Canned) -> std::io::Result<AwsEndpoint> {
        let endpoint = Arc::new(Endpoint {
            canned,
            calls: Mutex::new(BTreeMap::new()),
        });
        let app = Router::new().fallback(handle).with_state(endpoint.clone());
        let (addr, tx) = crate::stubs::serve(app).await?;
        let url = format!("http://{addr}");
        Ok(AwsEndpoint {
            url,
            endpoint,
            shutdown: Some(tx),
        })
    }

    /// Calls answered so far, by `X-Amz-Target`, and forgets them.
    pub fn take_calls(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.endpoint.calls.lock().unwrap())
    }
}

impl Drop for AwsEndpoint {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn answer(content_type: &'static str, body: Value) -> Response {
    (
        StatusCode::OK,
        [
            ("content-type", content_type),
            ("x-amzn-requestid", "00000000-0000-4000-8000-000000000000"),
        ],
        body.to_string(),
    )
        .into_response()
}

fn refuse(content_type: &'static str, kind: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", content_type)],
        json!({"__type": kind, "message": message}).to_string(),
    )
        .into_response()
}

const JSON_1_0: &str = "application/x-amz-json-1.0";
const JSON_1_1: &str = "application/x-amz-json-1.1";

async fn handle(
    State(endpoint): State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    *endpoint
        .calls
        .lock()
        .unwrap()
        .entry(target.clone())
        .or_default() += 1;
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let canned = &endpoint.canned;
    match target.split_once('.') {
        Some(("secretsmanager", "GetSecretValue")) => {
            let id = request["SecretId"].as_str().unwrap_or_default();
            match canned.secrets.get(id) {
                Some(value) => answer(
                    JSON_1_1,
                    json!({
                        "ARN": format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{id}-AbCdEf"),
                        "Name": id, "SecretString": value, "VersionId": "00000000-0000-4000-8000-000000000001",
                        "VersionStages": ["AWSCURRENT"], "CreatedDate": 1.7e9
                    }),
                ),
                None => refuse(
                    JSON_1_1,
                    "ResourceNotFoundException",
                    "Secrets Manager can't find the specified secret.",
                ),
            }
        }
        Some(("DynamoDB_20120810", op)) => answer(JSON_1_0, dynamodb(canned, op, &request)),
        Some(("AmazonSQS", op)) => answer(JSON_1_0, sqs(op, &request)),
        _ => refuse(JSON_1_0, "UnknownOperationException", &target),
    }
}

fn dynamodb(canned: &Canned, op: &str, request: &Value) -> Value {
    let key = &request["Key"];
    let is_connection = key["pk"]["S"]
        .as_str()
        .is_some_and(|pk| pk.starts_with("CONN#"))
        && key["sk"]["S"] == "CONNECTION";
    match op {
        "GetItem" => match (&canned.connection, is_connection) {
            (Some(item), true) => json!({"Item": item}),
            _ => json!({}),
        },
        "UpdateItem" if request["ReturnValues"] == "UPDATED_NEW" => {
            let version = canned
                .connection
                .as_ref()
                .and_then(|c| c["version"]["N"].as_str()?.parse::<u64>().ok())
                .unwrap_or(0);
            json!({"Attributes": {"version": {"N": (version + 1).to_string()}}})
        }
        "Query" => json!({"Items": [], "Count": 0, "ScannedCount": 0}),
        "Scan" => json!({
            "Items": canned.scan_page, "Count": canned.scan_page.len(),
            "ScannedCount": canned.scan_page.len()
        }),
        "BatchWriteItem" => json!({"UnprocessedItems": {}}),
        _ => json!({}),
    }
}

fn sqs(op: &str, request: &Value) -> Value {
    // The SDK does not check MD5OfMessageBody; any well-formed value does.
    const MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";
    let entries = || {
        request["Entries"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        json!({"Id": e["Id"], "MessageId": format!("00000000-0000-4000-8000-{i:012}"),
                               "MD5OfMessageBody": MD5})
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    match op {
        "SendMessage" => {
            json!({"MessageId": "00000000-0000-4000-8000-000000000000", "MD5OfMessageBody": MD5})
        }
        "SendMessageBatch" => json!({"Successful": entries(), "Failed": []}),
        "DeleteMessageBatch" | "ChangeMessageVisibilityBatch" => {
            let ids: Vec<Value> = entries()
                .into_iter()
                .map(|e| json!({"Id": e["Id"]}))
                .collect();
            json!({"Successful": ids, "Failed": []})
        }
        _ => json!({}),
    }
}
