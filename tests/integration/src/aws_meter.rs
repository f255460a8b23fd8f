//! A metering proxy between the AWS SDK clients and the emulator: every request passes
//! through it unchanged, and it counts what AWS would bill for it — requests by service and
//! operation, SQS requests in 64 KB chunks (standard and FIFO apart), and DynamoDB read and
//! write request units, and which kinds of item each `Scan` and `Query` read.
//!
//! DynamoDB's units are estimated the way DynamoDB computes them: a write costs one unit
//! per started KB of the item (the larger of before and after, so updates and deletes use
//! the item's size as last seen through this proxy), a transactional write twice that; a
//! read one unit per started 4 KB of what it reads, half of it for an eventually
//! consistent read, twice for a transactional one. A `Query` or `Scan` reads every item it
//! evaluates, whole (an index's entry: what the index projects), before its filter and
//! projection drop any: when a request has either, the proxy sends it again without them
//! (same page: same start key, limit and segment) to see what was evaluated. Item sizes follow DynamoDB's rules
//! (attribute names plus values; numbers by their digits). The emulator does not report
//! consumed capacity, so this is the measurement. SQS calls are billed as Lambda's event
//! source mapping would be billed ([`sqs_billed`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{HeaderMap, Request, Response};
use serde_json::Value;

/// What the requests since the last [`Meter::take`] would be billed for.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// (service, operation) → requests.
    pub requests: BTreeMap<(String, String), u64>,
    /// SQS billable requests (64 KB chunks): standard queues.
    pub sqs_standard: u64,
    /// SQS billable requests (64 KB chunks): FIFO queues.
    pub sqs_fifo: u64,
    /// DynamoDB write request units.
    pub write_units: f64,
    /// DynamoDB read request units.
    pub read_units: f64,
    /// Items `Scan` and `Query` evaluated, by kind: the `pk` up to its first `#`
    /// (`CONN`, `IMPORT`, `FETCH`, ...).
    pub items_read: BTreeMap<String, u64>,
    /// Write request units by kind of item written (as [`Self::items_read`]).
    pub writes_by_kind: BTreeMap<String, f64>,
}

impl Tally {
    /// Requests to one service.
    pub fn service(&self, service: &str) -> u64 {
        self.requests
            .iter()
            .filter(|((s, _), _)| s == service)
            .map(|(_, n)| n)
            .sum()
    }
}

#[derive(Default)]
struct State_ {
    tally: Tally,
    /// Last known size of each item, by table and key.
    sizes: HashMap<String, usize>,
}

/// The running proxy.
#[derive(Clone)]
pub struct Meter {
    pub url: String,
    state: Arc<Mutex<State_>>,
}

impl Meter {
    /// Starts a proxy on a free loopback port in front of `upstream`.
    pub async fn start(upstream: &str) -> Meter {
        let state = Arc::new(Mutex::new(State_::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let proxy = Proxy {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            state: state.clone(),
        };
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::new(proxy));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Meter {
            url: format!("http://{addr}"),
            state,
        }
    }

    /// What was counted since the last call, and starts counting afresh (item sizes are
    /// kept: they describe the table, not the period).
    pub fn take(&self) -> Tally {
        std::mem::take(&mut self.state.lock().unwrap().tally)
    }
}

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    state: Arc<Mutex<State_>>,
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 64 * 1024 * 1024).await.unwrap_or_default();
    let service = service_of(&parts.headers);
    let operation = operation_of(&parts.headers, &body);
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut upstream = proxy
        .http
        .request(parts.method.clone(), format!("{}{path}", proxy.upstream))
        .body(body.clone());
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.expect("the emulator answers");
    let status = answer.status();
    let headers = answer.headers().clone();
    let answer_body = answer.bytes().await.unwrap_or_default();
    let evaluated = match (service.as_str(), operation.as_str()) {
        ("dynamodb", "Query" | "Scan") if status.is_success() => {
            evaluated_items(&proxy, &parts.headers, path, &body).await
        }
        _ => None,
    };
    {
        let mut state = proxy.state.lock().unwrap();
        let request_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let answer_json: Value = serde_json::from_slice(&answer_body).unwrap_or(Value::Null);
        let mut operation = operation;
        match service.as_str() {
            "sqs" => {
                let billed = sqs_billed(&mut operation, &answer_json);
                let chunks = billed * (body.len() as u64).div_ceil(64 * 1024).max(1);
                let fifo = request_json["QueueUrl"]
                    .as_str()
                    .is_some_and(|u| u.ends_with(".fifo"));
                if fifo {
                    state.tally.sqs_fifo += chunks;
                } else {
                    state.tally.sqs_standard += chunks;
                }
            }
            "dynamodb" => {
                dynamodb_units(
                    &mut state,
                    &operation,
                    &request_json,
                    &answer_json,
                    evaluated.as_deref(),
                );
            }
            _ => {}
        }
        *state
            .tally
            .requests
            .entry((service, operation))
            .or_default() += 1;
    }
    let mut response = Response::builder().status(status.as_u16());
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(answer_body)).unwrap()
}

/// The items a `Query` or `Scan` with a filter or a projection evaluated: the same
/// request without them, sent again. `None` when nothing drops items or attributes (what
/// it returned is what it read).
async fn evaluated_items(
    proxy: &Proxy,
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
) -> Option<Vec<Value>> {
    let mut request: Value = serde_json::from_slice(body).ok()?;
    let object = request.as_object_mut()?;
    let dropping = [
        "FilterExpression",
        "ProjectionExpression",
        "Select",
        "AttributesToGet",
        "ScanFilter",
        "QueryFilter",
    ];
    if !dropping.iter().any(|name| object.contains_key(*name)) {
        return None;
    }
    for name in dropping {
        object.remove(name);
    }
    // DynamoDB refuses names and values no expression uses: keep the key condition's.
    let kept = object
        .get("KeyConditionExpression")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let used = |placeholder: &str| {
        kept.match_indices(placeholder).any(|(at, _)| {
            !kept[at + placeholder.len()..]
                .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    for map in ["ExpressionAttributeNames", "ExpressionAttributeValues"] {
        if let Some(entries) = object.get_mut(map).and_then(Value::as_object_mut) {
            entries.retain(|placeholder, _| used(placeholder));
            if entries.is_empty() {
                object.remove(map);
            }
        }
    }
    let mut again = proxy
        .http
        .post(format!("{}{path}", proxy.upstream))
        .body(serde_json::to_vec(&request).ok()?);
    for (name, value) in headers {
        if name != "host" && name != "content-length" {
            again = again.header(name, value);
        }
    }
    let answer: Value = again.send().await.ok()?.json().await.ok()?;
    Some(answer["Items"].as_array().cloned().unwrap_or_default())
}

/// How many requests AWS bills for an SQS call, given that the harness plays Lambda's event
/// source mapping: the mapping long-polls each queue whatever the traffic (a cost per queue,
/// not per person), so empty receives are not billed here; a non-empty receive is billed
/// with the one `DeleteMessageBatch` the mapping sends for it, in place of the harness's
/// single deletes; queue-depth checks and queue setup are the harness's own.
fn sqs_billed(operation: &mut String, answer: &Value) -> u64 {
    match operation.as_str() {
        "ReceiveMessage" => {
            let received = answer["Messages"].as_array().is_some_and(|m| !m.is_empty());
            if received {
                2
            } else {
                *operation = "ReceiveMessage (empty; not billed)".into();
                0
            }
        }
        "DeleteMessage" | "GetQueueAttributes" | "CreateQueue" | "PurgeQueue" | "GetQueueUrl" => {
            *operation = format!("{operation} (harness; not billed)");
            0
        }
        _ => 1,
    }
}

/// The service a SigV4 request is signed for: `Credential=<key>/<date>/<region>/<service>/`.
fn service_of(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_owned()
}

/// `X-Amz-Target: DynamoDB_20120810.PutItem` (JSON protocols), else `Action=` (query).
fn operation_of(headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// Counts one DynamoDB call; `evaluated`: the items a `Query` or `Scan` read, when they
/// differ from what it returned ([`evaluated_items`]).
fn dynamodb_units(
    state: &mut State_,
    operation: &str,
    request: &Value,
    answer: &Value,
    evaluated: Option<&[Value]>,
) {
    let table = request["TableName"].as_str().unwrap_or_default().to_owned();
    let consistent = request["ConsistentRead"].as_bool().unwrap_or(false);
    let read_factor = if consistent { 1.0 } else { 0.5 };
    match operation {
        "PutItem" => {
            let size = item_size(&request["Item"]);
            let key = item_key(&table, &request["Item"]);
            let before = state.sizes.insert(key, size).unwrap_or(0);
            credit_write(state, &request["Item"], write_units(size.max(before)));
        }
        "UpdateItem" => {
            let key = item_key(&table, &request["Key"]);
            let size = written_size(state, &key, request);
            credit_write(state, &request["Key"], write_units(size));
        }
        "DeleteItem" => {
            let key = item_key(&table, &request["Key"]);
            let size = state.sizes.remove(&key).unwrap_or(0);
            credit_write(state, &request["Key"], write_units(size));
        }
        "GetItem" => {
            let size = item_size(&answer["Item"]);
            if answer["Item"].is_object() {
                state.sizes.insert(item_key(&table, &answer["Item"]), size);
            }
            state.tally.read_units += read_units(size) * read_factor;
        }
        "Query" | "Scan" => {
            let returned = answer["Items"].as_array().cloned().unwrap_or_default();
            let items = evaluated.unwrap_or(&returned);
            // An index's entries are not the items' whole size.
            let whole_items = request["IndexName"].is_null();
            let mut total = 0;
            for item in items {
                let size = item_size(item);
                if whole_items && evaluated.is_some() {
                    state.sizes.insert(item_key(&table, item), size);
                }
                total += size;
                *state.tally.items_read.entry(kind_of(item)).or_default() += 1;
            }
            state.tally.read_units += read_units(total) * read_factor;
        }
        "TransactWriteItems" => {
            for entry in request["TransactItems"].as_array().into_iter().flatten() {
                let (kind, op) = entry
                    .as_object()
                    .and_then(|o| o.iter().next())
                    .expect("one operation per transact item");
                let table = op["TableName"].as_str().unwrap_or_default();
                let size = match kind.as_str() {
                    "Put" => {
                        let size = item_size(&op["Item"]);
                        let key = item_key(table, &op["Item"]);
                        size.max(state.sizes.insert(key, size).unwrap_or(0))
                    }
                    "Update" => {
                        let key = item_key(table, &op["Key"]);
                        written_size(state, &key, op)
                    }
                    "Delete" => state
                        .sizes
                        .remove(&item_key(table, &op["Key"]))
                        .unwrap_or(0),
                    _ => state
                        .sizes
                        .get(&item_key(table, &op["Key"]))
                        .copied()
                        .unwrap_or(0),
                };
                let item = if op["Item"].is_object() {
                    &op["Item"]
                } else {
                    &op["Key"]
                };
                credit_write(state, item, 2.0 * write_units(size));
            }
        }
        "BatchWriteItem" => {
            for (table, writes) in request["RequestItems"].as_object().into_iter().flatten() {
                for w in writes.as_array().into_iter().flatten() {
                    let (item, size) = if w["PutRequest"].is_object() {
                        let item = &w["PutRequest"]["Item"];
                        let size = item_size(item);
                        state.sizes.insert(item_key(table, item), size);
                        (item, size)
                    } else {
                        let key = item_key(table, &w["DeleteRequest"]["Key"]);
                        (
                            &w["DeleteRequest"]["Key"],
                            state.sizes.remove(&key).unwrap_or(0),
                        )
                    };
                    credit_write(state, item, write_units(size));
                }
            }
        }
        "BatchGetItem" | "TransactGetItems" => {
            let factor = if operation == "TransactGetItems" {
                2.0
            } else {
                read_factor
            };
            let mut sizes = Vec::new();
            if let Some(tables) = answer["Responses"].as_object() {
                for items in tables.values() {
                    sizes.extend(items.as_array().into_iter().flatten().map(item_size));
                }
            } else if let Some(items) = answer["Responses"].as_array() {
                sizes.extend(items.iter().map(|r| item_size(&r["Item"])));
            }
            for size in sizes {
                state.tally.read_units += read_units(size) * factor;
            }
        }
        _ => {}
    }
}

/// An update writes the item as it is afterwards: at least its last known size, and at
/// least its key and the values the update sets.
fn written_size(state: &mut State_, key: &str, request: &Value) -> usize {
    let set = item_size(&request["Key"]) + item_size(&request["ExpressionAttributeValues"]);
    let size = state.sizes.get(key).copied().unwrap_or(0).max(set);
    state.sizes.insert(key.to_owned(), size);
    size
}

/// The kind of an item: its `pk` up to the first `#` (`CONN`, `IMPORT`, `FETCH`, ...).
fn kind_of(item: &Value) -> String {
    let pk = item["pk"]["S"].as_str().unwrap_or_default();
    pk.split('#').next().unwrap_or_default().to_owned()
}

fn credit_write(state: &mut State_, item: &Value, units: f64) {
    state.tally.write_units += units;
    *state.tally.writes_by_kind.entry(kind_of(item)).or_default() += units;
}

fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

fn read_units(size: usize) -> f64 {
    size.div_ceil(4096).max(1) as f64
}

fn item_key(table: &str, item: &Value) -> String {
    format!("{table}|{}|{}", item["pk"], item["sk"])
}

/// An item's size as DynamoDB counts it: each attribute's name and value.
fn item_size(item: &Value) -> usize {
    item.as_object()
        .map(|attrs| attrs.iter().map(|(k, v)| k.len() + value_size(v)).sum())
        .unwrap_or(0)
}

fn value_size(v: &Value) -> usize {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        // Numbers: about one byte per two significant digits, plus one.
        "N" => inner.as_str().map_or(1, |n| n.len().div_ceil(2) + 1),
        "B" => inner.as_str().map_or(0, |b| b.len() * 3 / 4),
        "BOOL" | "NULL" => 1,
        "SS" | "NS" | "BS" => inner.as_array().map_or(0, |a| {
            a.iter().map(|s| s.as_str().map_or(0, str::len)).sum()
        }),
        "L" => {
            3 + inner
                .as_array()
                .map_or(0, |a| a.iter().map(value_size).sum())
        }
        "M" => 3 + item_size(inner),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn item_sizes_follow_dynamodbs_rules() {
        // "pk"(2) + "abc"(3) + "n"(1) + 12345 (3 digits-pairs + 1 = 4) + "ok"(2) + 1
        let item = json!({"pk": {"S": "abc"}, "n": {"N": "12345"}, "ok": {"BOOL": true}});
        assert_eq!(item_size(&item), 2 + 3 + 1 + 4 + 2 + 1);
        assert_eq!(write_units(0), 1.0);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        assert_eq!(read_units(4096), 1.0);
        assert_eq!(read_units(4097), 2.0);
    }

    #[test]
    fn updates_cost_the_item_as_last_seen() {
        let mut state = State_::default();
        let big = "x".repeat(3000);
        let put = json!({"TableName": "t", "Item": {"pk": {"S": "a"}, "sk": {"S": "b"}, "v": {"S": big}}});
        dynamodb_units(&mut state, "PutItem", &put, &Value::Null, None);
        assert_eq!(state.tally.write_units, 3.0);
        let update = json!({"TableName": "t", "Key": {"pk": {"S": "a"}, "sk": {"S": "b"}},
            "ExpressionAttributeValues": {":v": {"N": "1"}}});
        dynamodb_units(&mut state, "UpdateItem", &update, &Value::Null, None);
        assert_eq!(state.tally.write_units, 6.0);
        dynamodb_units(&mut state, "DeleteItem", &update, &Value::Null, None);
        assert_eq!(state.tally.write_units, 9.0);
    }

    #[test]
    fn a_scan_costs_what_it_evaluated_not_what_it_returned() {
        let mut state = State_::default();
        let scan = json!({"TableName": "t", "FilterExpression": "sk = :c"});
        let small = json!({"pk": {"S": "CONN#fitbit#A"}, "sk": {"S": "CONNECTION"}});
        let ledger = json!({"pk": {"S": "IMPORT#FITBIT#A"}, "sk": {"S": "x".repeat(5000)}});
        let answer = json!({"Items": [small.clone()]});
        dynamodb_units(&mut state, "Scan", &scan, &answer, Some(&[small, ledger]));
        assert_eq!(
            state.tally.read_units, 1.0,
            "two started 4 KB, eventually consistent"
        );
        assert_eq!(state.tally.items_read["CONN"], 1);
        assert_eq!(state.tally.items_read["IMPORT"], 1);
    }
}
