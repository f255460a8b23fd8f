//! The daily job at scale, against the emulator (`tests/local/daily_scale.sh`): a fresh
//! table shaped like the deployed one (its `Directory` index included) is loaded with
//! `--people` connections and `--ledger` import-ledger items per person (BatchWriteItem
//! from `--threads` tasks), then the real daily use case (`fitbridge::daily`) runs with
//! the real DynamoDB adapter and a counting queue (`--sqs`: the emulator's SQS) and prints
//! its wall time; a second run through the metering proxy (`aws_meter`) prints the read
//! units and which items it read. `--old-scan` also times the whole-table scan the daily
//! job made before (a copy of that code, below) and prices it from the loaded items'
//! sizes (a whole-table scan reads every item whole).
//!
//!   tests/local/daily_scale.sh \
//!       [--people 100000] [--ledger 10] [--threads 8] [--segments 8] [--old-scan] [--sqs]
//!
//! The table is deleted at the end (the emulator keeps everything in memory: about 2 KB
//! per item).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use fitbridge::clock::SystemClock;
use fitbridge::ports::queue::WorkQueue;
use fitbridge::ports::store::{
    ConnectionDirectory, ConnectionSummary, DirectoryEntry, DirectoryPage, StoreError,
};
use fitbridge::queue::sqs::SqsQueue;
use fitbridge::store::dynamodb::DynamoStore;
use fitbridge::use_cases::daily::{DailyReport, DailyService};
use fitbridge_integration::aws_meter::Meter;
use fitbridge_integration::memory::CountingQueue;
use fitbridge_integration::{
    aws_config, aws_config_at, aws_endpoint, create_table_like_the_stacks, random_user_id, stack,
};

struct Options {
    people: u64,
    ledger: u64,
    threads: u64,
    segments: u32,
    old_scan: bool,
    sqs: bool,
}

fn options() -> Options {
    let mut o = Options {
        people: 100_000,
        ledger: 10,
        threads: 8,
        segments: 8,
        old_scan: false,
        sqs: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} needs a number"))
        };
        match flag.as_str() {
            "--people" => o.people = value(),
            "--ledger" => o.ledger = value(),
            "--threads" => o.threads = value().max(1),
            "--segments" => o.segments = value().clamp(1, 64) as u32,
            "--old-scan" => o.old_scan = true,
            "--sqs" => o.sqs = true,
            other => panic!(
                "unknown argument {other}: [--people N] [--ledger N] [--threads N] \
                 [--segments N] [--old-scan] [--sqs]"
            ),
        }
    }
    o
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A connection item as `DynamoStore::save_connected` writes an active one (tokens of a
/// realistic length; every 20th person parked, so without `directory_key`).
fn connection_item(person: u64) -> HashMap<String, AttributeValue> {
    let user = format!("U{person:07}");
    let pk = format!("CONN#fitbit#{user}");
    let active = !person.is_multiple_of(20);
    let mut item = HashMap::from([
        ("pk".to_owned(), s(&pk)),
        ("sk".to_owned(), s("CONNECTION")),
        ("provider".to_owned(), s("fitbit")),
        ("user_id".to_owned(), s(&user)),
        ("access_token".to_owned(), s("a".repeat(280))),
        ("refresh_token".to_owned(), s("r".repeat(64))),
        ("access_expires_at".to_owned(), n(1_795_000_000)),
        (
            "scopes".to_owned(),
            s("activity heartrate profile sleep weight"),
        ),
        (
            "status".to_owned(),
            s(if active { "active" } else { "needs_reconsent" }),
        ),
        ("contact_origin".to_owned(), s("FITBIT")),
        ("contact_id".to_owned(), s(&user)),
        ("subscriptions".to_owned(), AttributeValue::L(vec![])),
        ("version".to_owned(), n(3)),
        ("connected_at".to_owned(), n(1_790_000_000)),
        ("updated_at".to_owned(), n(1_790_000_000)),
        ("consented_at".to_owned(), n(1_790_000_000_000)),
        ("timezone".to_owned(), s("Europe/Berlin")),
    ]);
    if active {
        item.insert("directory_key".to_owned(), s(pk));
    }
    item
}

/// One import-ledger entry as the worker leaves it (completed).
fn ledger_item(person: u64, entry: u64) -> HashMap<String, AttributeValue> {
    let user = format!("U{person:07}");
    let metrics = ["steps", "distance", "calories", "active_minutes", "sleep"];
    let day = entry / metrics.len() as u64;
    let metric = metrics[(entry % metrics.len() as u64) as usize];
    HashMap::from([
        ("pk".to_owned(), s(format!("IMPORT#FITBIT#{user}"))),
        ("sk".to_owned(), s(format!("{user}-d{day:05}-{metric}"))),
        ("hash".to_owned(), s("0f".repeat(32))),
        (
            "interaction_id".to_owned(),
            s("8e4a2f3c-1f0b-4a51-9a7d-0c6b3a1d2e4f"),
        ),
        ("create_started".to_owned(), n(1_790_000_000)),
    ])
}

/// An item's size as DynamoDB counts it (the attribute kinds written here).
fn item_size(item: &HashMap<String, AttributeValue>) -> u64 {
    item.iter()
        .map(|(name, value)| {
            name.len() as u64
                + match value {
                    AttributeValue::S(v) => v.len() as u64,
                    AttributeValue::N(v) => v.len().div_ceil(2) as u64 + 1,
                    _ => 3,
                }
        })
        .sum()
}

/// Loads the table: `threads` tasks, each BatchWriteItem of 25, unprocessed items sent
/// again. Returns the loaded items' total size.
async fn load(ddb: &aws_sdk_dynamodb::Client, table: &str, o: &Options) -> u64 {
    let bytes = Arc::new(AtomicU64::new(0));
    let written = Arc::new(AtomicU64::new(0));
    let total = o.people * (1 + o.ledger);
    let start = Instant::now();
    let tasks: Vec<_> = (0..o.threads)
        .map(|t| {
            let (ddb, table) = (ddb.clone(), table.to_owned());
            let (bytes, written) = (bytes.clone(), written.clone());
            let (people, ledger, threads) = (o.people, o.ledger, o.threads);
            tokio::spawn(async move {
                let mut batch = Vec::with_capacity(25);
                let items = (0..people).filter(|p| p % threads == t).flat_map(|p| {
                    std::iter::once(connection_item(p))
                        .chain((0..ledger).map(move |e| ledger_item(p, e)))
                });
                let mut items = items.peekable();
                while items.peek().is_some() {
                    batch.clear();
                    batch.extend(items.by_ref().take(25));
                    bytes.fetch_add(batch.iter().map(item_size).sum(), Ordering::Relaxed);
                    let mut requests: Vec<WriteRequest> = batch
                        .iter()
                        .map(|item| {
                            WriteRequest::builder()
                                .put_request(
                                    PutRequest::builder()
                                        .set_item(Some(item.clone()))
                                        .build()
                                        .unwrap(),
                                )
                                .build()
                        })
                        .collect();
                    while !requests.is_empty() {
                        let out = ddb
                            .batch_write_item()
                            .request_items(&table, requests)
                            .send()
                            .await
                            .expect("BatchWriteItem");
                        requests = out
                            .unprocessed_items
                            .and_then(|mut u| u.remove(&table))
                            .unwrap_or_default();
                    }
                    let done = written.fetch_add(batch.len() as u64, Ordering::Relaxed)
                        + batch.len() as u64;
                    if done % 100_000 < 25 {
                        eprintln!("  {done} items in {:.0} s", start.elapsed().as_secs_f64());
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a loader task");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "loaded {total} items ({} connections, {} ledger) in {secs:.0} s ({:.0} items/s, {} tasks); {:.0} MB by DynamoDB's item sizes",
        o.people,
        o.people * o.ledger,
        total as f64 / secs,
        o.threads,
        bytes.load(Ordering::Relaxed) as f64 / 1e6
    );
    bytes.load(Ordering::Relaxed)
}

/// The directory as the daily job read it before the index: a scan of the whole table,
/// filtered to active connections (a copy of that code, for the comparison only).
struct WholeTableScan {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

#[async_trait]
impl ConnectionDirectory for WholeTableScan {
    async fn scan_active(
        &self,
        segment: u32,
        total_segments: u32,
        start: Option<HashMap<String, String>>,
    ) -> Result<DirectoryPage, StoreError> {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .segment(segment as i32)
            .total_segments(total_segments as i32)
            .filter_expression("sk = :conn AND #status = :active")
            .projection_expression("provider, user_id, #timezone, scopes")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#timezone", "timezone")
            .expression_attribute_values(":conn", s("CONNECTION"))
            .expression_attribute_values(":active", s("active"))
            .set_exclusive_start_key(start.map(|k| k.into_iter().map(|(k, v)| (k, s(v))).collect()))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let entries = out
            .items()
            .iter()
            .map(|item| DirectoryEntry {
                provider: item["provider"].as_s().unwrap().parse().unwrap(),
                user_id: fitbridge::domain::ProviderUserId(item["user_id"].as_s().unwrap().clone()),
                timezone: item.get("timezone").and_then(|v| v.as_s().ok()).cloned(),
                scopes: fitbridge::domain::Scopes::parse(item["scopes"].as_s().unwrap()),
            })
            .collect();
        let next = out.last_evaluated_key.map(|k| {
            k.into_iter()
                .filter_map(|(k, v)| v.as_s().ok().map(|v| (k, v.clone())))
                .collect()
        });
        Ok(DirectoryPage { entries, next })
    }

    async fn connections_of(
        &self,
        _provider: fitbridge::domain::ProviderKind,
    ) -> Result<Vec<ConnectionSummary>, StoreError> {
        unreachable!("the daily job lists no provider")
    }
}

async fn run_daily(
    directory: Arc<dyn ConnectionDirectory>,
    queue: Arc<dyn WorkQueue>,
    segments: u32,
) -> (DailyReport, f64) {
    let service = DailyService {
        directory,
        queue,
        segments,
        catalog: fitbridge::provider::registry::catalog(),
        pacing: None,
        clock: Arc::new(SystemClock),
    };
    let start = Instant::now();
    let report = service.run().await.expect("daily run");
    (report, start.elapsed().as_secs_f64())
}

/// A DynamoDB client that waits for the emulator: it serves one request at a time and
/// takes seconds per page of a large table (it sorts the whole table for every page), so
/// parallel segments queue there longer than the SDK's stalled-stream grace period.
fn patient(aws: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(aws)
            .stalled_stream_protection(
                aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
            )
            .build(),
    )
}

#[tokio::main]
async fn main() {
    let o = options();
    let stack = stack();
    let aws = aws_config(&stack).await;
    let ddb = patient(&aws);
    let table = format!("fb-daily-scale-{}", random_user_id().to_lowercase());
    create_table_like_the_stacks(&ddb, &stack, &table).await;
    println!(
        "== daily job at scale: table {table}, {} segments ==",
        o.segments
    );
    let table_bytes = load(&ddb, &table, &o).await;
    let active = o.people - o.people.div_ceil(20);

    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue_url = if o.sqs {
        Some(
            sqs.create_queue()
                .queue_name(format!("{table}-work"))
                .send()
                .await
                .expect("create queue")
                .queue_url
                .expect("queue url"),
        )
    } else {
        None
    };
    let queue = || -> (Arc<dyn WorkQueue>, Arc<CountingQueue>) {
        let counting = Arc::new(CountingQueue::default());
        match &queue_url {
            Some(url) => (Arc::new(SqsQueue::new(sqs.clone(), url)), counting),
            None => (counting.clone(), counting),
        }
    };

    // The daily job as deployed: the Directory index.
    let (q, counting) = queue();
    let store = Arc::new(DynamoStore::new(ddb.clone(), &table, Arc::new(SystemClock)));
    let (report, secs) = run_daily(store, q, o.segments).await;
    assert_eq!(report.people, active, "every active person, once");
    println!(
        "directory index: {} people -> {} work items in {secs:.1} s wall ({}; the emulator scans its whole table in Python on every page, real DynamoDB reads only the index)",
        report.people,
        report.queued,
        if o.sqs {
            "the emulator's SQS".to_owned()
        } else {
            format!(
                "counting queue: {} SendMessageBatch calls it would make",
                counting.batch_calls.load(Ordering::Relaxed)
            )
        }
    );

    // Again through the metering proxy (it sends each filtered page twice): the units.
    let meter = Meter::start(&aws_endpoint(&stack)).await;
    let metered = patient(&aws_config_at(&stack, &meter.url).await);
    let counting = Arc::new(CountingQueue::default());
    let (report, _) = run_daily(
        Arc::new(DynamoStore::new(metered, &table, Arc::new(SystemClock))),
        counting,
        o.segments,
    )
    .await;
    let tally = meter.take();
    println!(
        "directory index: {} Scan requests, {:.1} read units (${:.6} at $0.125 per million), items read {:?}",
        tally.requests[&("dynamodb".to_owned(), "Scan".to_owned())],
        tally.read_units,
        tally.read_units * 0.125e-6,
        tally.items_read
    );
    assert_eq!(report.people, active);

    if o.old_scan {
        let (report, secs) = run_daily(
            Arc::new(WholeTableScan {
                client: ddb.clone(),
                table: table.clone(),
            }),
            Arc::new(CountingQueue::default()),
            o.segments,
        )
        .await;
        assert_eq!(report.people, active);
        // A scan reads every item whole: half a unit per started 4 KB, about 1 MB a page.
        let units = (table_bytes as f64 / 4096.0).ceil() * 0.5;
        println!(
            "whole-table scan (before): {} people in {secs:.1} s wall; it reads all {:.0} MB: about {units:.0} read units (${:.6}), from the loaded items' sizes",
            report.people,
            table_bytes as f64 / 1e6,
            units * 0.125e-6
        );
    }

    if let Some(url) = queue_url {
        let _ = sqs.delete_queue().queue_url(url).send().await;
    }
    ddb.delete_table()
        .table_name(&table)
        .send()
        .await
        .expect("delete the table");
}
