//! The built binary against the local stack (the emulator the SAM template is deployed
//! to, `tests/local/up.sh`): `people list|backfill|disconnect` and `dlq redrive` reach its
//! DynamoDB and SQS through the AWS SDK's default configuration, pointed there by
//! `AWS_ENDPOINT_URL`, exactly as they reach an AWS account.
//!
//! Like every test against the emulator, these need the stack deployed: without
//! `$FITBRIDGE_STACK_FILE` (or `.local/stack.json`) they fail and say how to deploy it.
//! The table is the deployed one, shared with other tests: only this test's (random)
//! people are looked at. The queues are this test's own, created here, so no deployed
//! worker takes their messages — except in the one test that has the deployed worker
//! complete a disconnect from the deployed work queue.

use fitbridge::domain::PersonKey;
use std::path::PathBuf;
use std::process::{Command, Output};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use fitbridge::clock::SystemClock;
use fitbridge::domain::Secret;
use fitbridge::domain::{
    Collection, Connection, ConnectionStatus, ContactKey, ProviderKind, ProviderUserId, Scopes,
    Task, TokenSet, WorkItem,
};
use fitbridge::ports::catalog::ProviderCatalog;
use fitbridge::ports::clock::Clock;
use fitbridge::ports::store::{ConnectionStore, ImportLedger, ImportRecord, TokenStore};
use fitbridge::provider::registry::Registry;
use fitbridge::store::dynamodb::DynamoStore;
use rand::Rng;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

const BIN: &str = env!("CARGO_BIN_EXE_fitbridge-admin");

/// Now, by the clock the binary and the deployed stack run on: the machine's. The one
/// wall-clock read of this suite, for inputs relative to now (a token's expiry, the
/// days to backfill); that it holds on any date is shown by running it under faketime.
fn stack_now() -> OffsetDateTime {
    SystemClock.now()
}

/// The deployed local stack's description (written by `tests/local/deploy.py`).
fn stack() -> Value {
    let path = std::env::var_os("FITBRIDGE_STACK_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.local/stack.json")
        });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): the local stack is not deployed; run tests/local/test.sh, \
             or tests/local/up.sh --build",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("stack.json is JSON")
}

/// This test's view of the emulator: the SDK configuration its own calls use, and the
/// environment the binary runs with.
struct Emulator {
    aws: SdkConfig,
    endpoint: String,
    region: String,
    table: String,
}

impl Emulator {
    async fn new() -> Emulator {
        let stack = stack();
        let endpoint = stack["endpoint"].as_str().expect("endpoint").to_owned();
        let region = stack["region"].as_str().unwrap_or("us-east-1").to_owned();
        let aws = aws_config::defaults(BehaviorVersion::latest())
            .http_client(fitbridge::wiring::aws_http_client())
            .endpoint_url(&endpoint)
            .region(Region::new(region.clone()))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "emulator",
            ))
            .load()
            .await;
        Emulator {
            aws,
            endpoint,
            region,
            table: stack["outputs"]["TableName"]
                .as_str()
                .expect("stack output TableName")
                .to_owned(),
        }
    }

    fn store(&self) -> DynamoStore {
        DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.aws),
            &self.table,
            std::sync::Arc::new(SystemClock),
        )
    }

    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.aws)
    }

    /// A queue of this test's own.
    async fn queue(&self, name: &str) -> String {
        let mut create = self.sqs().create_queue().queue_name(name);
        if name.ends_with(".fifo") {
            create = create.attributes(QueueAttributeName::FifoQueue, "true");
        }
        create
            .send()
            .await
            .expect("create a test queue")
            .queue_url
            .expect("queue url")
    }

    async fn delete_queue(&self, url: &str) {
        let _ = self.sqs().delete_queue().queue_url(url).send().await;
    }

    /// Runs the binary with the SDK's default configuration pointed at the emulator
    /// (off the test's runtime thread).
    async fn admin(&self, args: &[&str]) -> Output {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_DEFAULT_PROFILE")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_REGION", &self.region)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    /// Takes every message off a queue: (body, message group).
    async fn drain(&self, url: &str) -> Vec<(String, Option<String>)> {
        let sqs = self.sqs();
        let mut all = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return all;
            }
            for m in messages {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle.clone().unwrap())
                    .send()
                    .await
                    .expect("delete");
                let group = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned();
                all.push((m.body.unwrap_or_default(), group));
            }
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A random 6-character Fitbit-style user id, unique per test run.
fn random_user_id() -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// A queue name of this run's own.
fn queue_name(what: &str) -> String {
    format!(
        "fitbridge-admin-test-{}-{what}",
        random_user_id().to_lowercase()
    )
}

async fn connect(
    store: &DynamoStore,
    provider: ProviderKind,
    user: &str,
    scopes: &str,
    status: ConnectionStatus,
) -> ContactKey {
    let contact = ContactKey {
        origin: Registry.default_mapping(provider).contact_origin,
        id: user.into(),
    };
    let connection = Connection {
        provider,
        user_id: ProviderUserId(user.into()),
        tokens: TokenSet {
            access_token: Secret::new(format!("access-{user}")),
            refresh_token: Secret::new(format!("refresh-{user}")),
            expires_at: stack_now() + Duration::hours(8),
            scopes: Scopes::parse(scopes),
        },
        status: ConnectionStatus::Active,
        contact: contact.clone(),
        customer_ref: None,
        timezone: Some("Europe/Berlin".into()),
        subscriptions: Default::default(),
        version: 0,
        consented_at: None,
    };
    store.save_connected(&connection).await.unwrap();
    store
        .set_status(&PersonKey::of(provider, &connection.user_id), status, None)
        .await
        .unwrap();
    contact
}

/// The line of `<provider>/<user>` in a listing.
fn line_of<'a>(out: &'a str, person: &str) -> Option<&'a str> {
    out.lines().find(|l| l.starts_with(&format!("{person} ")))
}

fn value_of<'a>(line: &'a str, name: &str) -> &'a str {
    line.split(' ')
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in {line}"))
}

fn is_recent(rfc3339: &str) -> bool {
    let at = OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"));
    (stack_now() - at).abs() < Duration::minutes(5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_listed_backfilled_and_disconnected_through_the_table_and_the_queue() {
    let emulator = Emulator::new().await;
    let store = emulator.store();
    let table = emulator.table.clone();
    let work_queue = emulator.queue(&queue_name("work")).await;

    let active = random_user_id();
    let gone = random_user_id();
    let contact = connect(
        &store,
        ProviderKind::Fitbit,
        &active,
        "profile activity sleep",
        ConnectionStatus::Active,
    )
    .await;
    connect(
        &store,
        ProviderKind::Fitbit,
        &gone,
        "activity",
        ConnectionStatus::ProviderGone,
    )
    .await;
    // Two days imported, as the worker records them; the newer is what the listing shows.
    let now = stack_now();
    for day in ["2026-11-19", "2026-11-20"] {
        let prefix = format!("{active}-{day}-");
        let key = format!("{prefix}steps");
        store
            .claim(
                &contact,
                &prefix,
                std::slice::from_ref(&key),
                "test",
                now,
                now + Duration::seconds(90),
            )
            .await
            .unwrap();
        let record = ImportRecord {
            key,
            hash: "hash".into(),
            interaction_id: "interaction".into(),
        };
        store
            .complete(
                &contact,
                &prefix,
                "test",
                std::slice::from_ref(&record.key),
                std::slice::from_ref(&record),
            )
            .await
            .unwrap();
    }

    // people list
    let list = emulator
        .admin(&["people", "list", "--table", &table, "--provider", "fitbit"])
        .await;
    let out = text(&list.stdout);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list.stderr));
    let line = line_of(&out, &format!("fitbit/{active}")).expect("the active person");
    assert!(
        line.starts_with(&format!(
            "fitbit/{active} status=active contact=FITBIT/{active} connected="
        )),
        "{line}"
    );
    assert!(is_recent(value_of(line, "connected")), "{line}");
    assert!(is_recent(value_of(line, "consented")), "{line}");
    assert_eq!(value_of(line, "last_day"), "2026-11-20", "{line}");
    assert!(is_recent(value_of(line, "last_import")), "{line}");
    let line = line_of(&out, &format!("fitbit/{gone}")).expect("the provider_gone person");
    assert_eq!(value_of(line, "status"), "provider_gone");
    assert!(line.ends_with(" last_day=- last_import=-"), "{line}");
    assert!(out.lines().last().unwrap().contains(" (by status: "));
    assert!(!out.contains(&format!("access-{active}")));

    let json = emulator
        .admin(&[
            "people",
            "list",
            "--table",
            &table,
            "--status",
            "provider_gone",
            "--json",
        ])
        .await;
    assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr));
    let people: Vec<Value> = serde_json::from_slice(&json.stdout).unwrap();
    assert!(people
        .iter()
        .any(|p| p["user_id"] == gone.as_str() && p["status"] == "provider_gone"));
    assert!(people.iter().all(|p| p["status"] == "provider_gone"));
    assert!(!people.iter().any(|p| p["user_id"] == active.as_str()));

    // people backfill: one item per day, each for the granted collections.
    let last = stack_now().date() - Duration::days(1);
    let first = last - Duration::days(2);
    let backfill = emulator
        .admin(&[
            "people",
            "backfill",
            "--table",
            &table,
            "--work-queue-url",
            &work_queue,
            "--provider",
            "fitbit",
            "--user",
            &active,
            "--from",
            &first.to_string(),
            "--to",
            &last.to_string(),
        ])
        .await;
    assert_eq!(
        backfill.status.code(),
        Some(0),
        "{}",
        text(&backfill.stderr)
    );
    assert_eq!(
        text(&backfill.stdout),
        format!(
            "queued 3 sync work items for fitbit/{active}, {first} to {last} \
             (activities,sleep): the worker imports them\n"
        )
    );
    let mut queued: Vec<WorkItem> = emulator
        .drain(&work_queue)
        .await
        .into_iter()
        .map(|(body, _)| serde_json::from_str(&body).expect("a work item"))
        .collect();
    queued.sort_by_key(|i| match &i.task {
        Task::Sync { date, .. } => Some(*date),
        Task::Revoke { .. } => None,
    });
    let expected: Vec<WorkItem> = [first, first + Duration::days(1), last]
        .into_iter()
        .map(|day| {
            WorkItem::sync(
                ProviderKind::Fitbit,
                ProviderUserId(active.clone()),
                day,
                vec![Collection::Activities, Collection::Sleep],
            )
        })
        .collect();
    assert_eq!(queued, expected);

    // A parked person is not backfilled; nothing is queued.
    let refused = emulator
        .admin(&[
            "people",
            "backfill",
            "--table",
            &table,
            "--work-queue-url",
            &work_queue,
            "--provider",
            "fitbit",
            "--user",
            &gone,
            "--from",
            &last.to_string(),
            "--to",
            &last.to_string(),
        ])
        .await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("is provider_gone"));

    // people disconnect: the revocation, for the worker.
    let disconnect = emulator
        .admin(&[
            "people",
            "disconnect",
            "--table",
            &table,
            "--work-queue-url",
            &work_queue,
            "--provider",
            "fitbit",
            "--user",
            &active,
        ])
        .await;
    assert_eq!(
        disconnect.status.code(),
        Some(0),
        "{}",
        text(&disconnect.stderr)
    );
    assert!(text(&disconnect.stdout).contains("the worker completes it"));
    let queued = emulator.drain(&work_queue).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let revoke = serde_json::from_str::<WorkItem>(&queued[0].0).unwrap();
    let Task::Revoke {
        issued_at: Some(issued_at),
        ..
    } = revoke.task
    else {
        panic!("not a revocation with its time: {revoke:?}");
    };
    assert_eq!(
        revoke,
        WorkItem::revoke(
            ProviderKind::Fitbit,
            ProviderUserId(active.clone()),
            false,
            Some(issued_at)
        )
    );

    let nobody = random_user_id();
    let unknown = emulator
        .admin(&[
            "people",
            "disconnect",
            "--table",
            &table,
            "--work-queue-url",
            &work_queue,
            "--provider",
            "fitbit",
            "--user",
            &nobody,
        ])
        .await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains(&format!("fitbit/{nobody} is not connected")));
    assert!(unknown.stdout.is_empty());
    assert!(emulator.drain(&work_queue).await.is_empty());

    emulator.delete_queue(&work_queue).await;
}

/// The deployed worker, fed by the deployed work queue (the emulator's SQS trigger),
/// completes a disconnect this CLI queued as it completes a provider's revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_worker_completes_a_disconnect_queued_here() {
    let emulator = Emulator::new().await;
    let store = emulator.store();
    let work_queue = stack()["outputs"]["WorkQueueUrl"]
        .as_str()
        .expect("stack output WorkQueueUrl")
        .to_owned();
    let user = random_user_id();
    connect(
        &store,
        ProviderKind::Fitbit,
        &user,
        "activity",
        ConnectionStatus::Active,
    )
    .await;
    let disconnect = emulator
        .admin(&[
            "people",
            "disconnect",
            "--table",
            &emulator.table,
            "--work-queue-url",
            &work_queue,
            "--provider",
            "fitbit",
            "--user",
            &user,
        ])
        .await;
    assert_eq!(
        disconnect.status.code(),
        Some(0),
        "{}",
        text(&disconnect.stderr)
    );
    let user_id = ProviderUserId(user.clone());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let tombstone = loop {
        let tombstone = store
            .tombstone(&PersonKey::of(ProviderKind::Fitbit, &user_id))
            .await
            .unwrap();
        match tombstone {
            Some(t) if !t.flag_pending => break t,
            _ if std::time::Instant::now() > deadline => {
                panic!("the worker did not complete the disconnect in 90 s: {tombstone:?}")
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
        }
    };
    assert_eq!(
        tombstone.ending,
        fitbridge::ports::store::Ending::Disconnected
    );
    assert!(
        store
            .get(&PersonKey::of(ProviderKind::Fitbit, &user_id))
            .await
            .unwrap()
            .is_none(),
        "tokens deleted"
    );
    let list = emulator
        .admin(&[
            "people",
            "list",
            "--table",
            &emulator.table,
            "--provider",
            "fitbit",
        ])
        .await;
    assert!(line_of(&text(&list.stdout), &format!("fitbit/{user}")).is_none());
}

fn work_body(user: &str, day: u32) -> String {
    format!(
        r#"{{"provider":"fitbit","user_id":"{user}","task":"sync","date":"2026-11-{day:02}","collections":["activities"]}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_queue_is_listed_then_moved_back_without_losing_a_message() {
    let emulator = Emulator::new().await;
    let sqs = emulator.sqs();
    let dlq = emulator.queue(&queue_name("dlq")).await;
    let source = emulator.queue(&queue_name("work")).await;
    let user = random_user_id();
    let bodies: Vec<String> = (1..=12).map(|d| work_body(&user, d)).collect();
    for body in &bodies {
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let dry = emulator
        .admin(&[
            "dlq",
            "redrive",
            "--from-queue-url",
            &dlq,
            "--to-queue-url",
            &source,
            "--dry-run",
        ])
        .await;
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    let out = text(&dry.stdout);
    assert_eq!(out.lines().count(), 13, "{out}");
    assert!(out.contains(&format!(" fitbit/{user} sync 2026-11-01 activities\n")));
    assert!(out.ends_with(&format!(
        "12 messages would be moved from {dlq} to {source} (dry run: none was)\n"
    )));

    // The dry run released them: all can be moved at once.
    let some = emulator
        .admin(&[
            "dlq",
            "redrive",
            "--from-queue-url",
            &dlq,
            "--to-queue-url",
            &source,
            "--max",
            "5",
        ])
        .await;
    assert_eq!(some.status.code(), Some(0), "{}", text(&some.stderr));
    assert_eq!(
        text(&some.stdout),
        format!("moved 5 messages from {dlq} to {source}\n")
    );
    let rest = emulator
        .admin(&[
            "dlq",
            "redrive",
            "--from-queue-url",
            &dlq,
            "--to-queue-url",
            &source,
        ])
        .await;
    assert_eq!(rest.status.code(), Some(0), "{}", text(&rest.stderr));
    assert_eq!(
        text(&rest.stdout),
        format!("moved 7 messages from {dlq} to {source}\n")
    );

    let mut moved: Vec<String> = emulator
        .drain(&source)
        .await
        .into_iter()
        .map(|(body, _)| body)
        .collect();
    moved.sort();
    let mut expected = bodies.clone();
    expected.sort();
    assert_eq!(moved, expected, "every message once, body unchanged");
    assert!(emulator.drain(&dlq).await.is_empty(), "the DLQ is empty");

    emulator.delete_queue(&dlq).await;
    emulator.delete_queue(&source).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_dead_letter_queue_moves_back_in_its_message_groups() {
    let emulator = Emulator::new().await;
    let sqs = emulator.sqs();
    let dlq = emulator.queue(&queue_name("retry-dlq.fifo")).await;
    let source = emulator.queue(&queue_name("retry.fifo")).await;
    let (a, b) = (random_user_id(), random_user_id());
    let messages = [
        (format!("fitbit#{a}"), work_body(&a, 1)),
        (format!("fitbit#{b}"), work_body(&b, 1)),
        (format!("fitbit#{a}"), work_body(&a, 2)),
    ];
    for (n, (group, body)) in messages.iter().enumerate() {
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(body)
            .message_group_id(group)
            .message_deduplication_id(format!("dedup-{n}"))
            .send()
            .await
            .unwrap();
    }
    let result = emulator
        .admin(&[
            "dlq",
            "redrive",
            "--from-queue-url",
            &dlq,
            "--to-queue-url",
            &source,
        ])
        .await;
    assert_eq!(result.status.code(), Some(0), "{}", text(&result.stderr));
    assert_eq!(
        text(&result.stdout),
        format!("moved 3 messages from {dlq} to {source}\n")
    );
    let moved = emulator.drain(&source).await;
    let in_group = |group: &str| -> Vec<String> {
        moved
            .iter()
            .filter(|(_, g)| g.as_deref() == Some(group))
            .map(|(body, _)| body.clone())
            .collect()
    };
    assert_eq!(moved.len(), 3, "{moved:?}");
    assert_eq!(
        in_group(&format!("fitbit#{a}")),
        [work_body(&a, 1), work_body(&a, 2)],
        "in their group, in order"
    );
    assert_eq!(in_group(&format!("fitbit#{b}")), [work_body(&b, 1)]);
    assert!(emulator.drain(&dlq).await.is_empty());

    emulator.delete_queue(&dlq).await;
    emulator.delete_queue(&source).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_backfill_indexes_a_connection_written_before_the_index() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let emulator = Emulator::new().await;
    let store = emulator.store();
    let ddb = aws_sdk_dynamodb::Client::new(&emulator.aws);
    let old = random_user_id();
    connect(
        &store,
        ProviderKind::Fitbit,
        &old,
        "activity",
        ConnectionStatus::Active,
    )
    .await;
    let key = std::collections::HashMap::from([
        (
            "pk".to_owned(),
            AttributeValue::S(format!("CONN#fitbit#{old}")),
        ),
        ("sk".to_owned(), AttributeValue::S("CONNECTION".into())),
    ]);
    // As the version before the index wrote it.
    ddb.update_item()
        .table_name(&emulator.table)
        .set_key(Some(key.clone()))
        .update_expression("REMOVE directory_key")
        .send()
        .await
        .unwrap();

    let out = emulator
        .admin(&["directory", "backfill", "--table", &emulator.table])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(line.starts_with("directory backfill: scanned="), "{line}");
    assert!(
        value_of(line.trim_end(), "added").parse::<u64>().unwrap() >= 1,
        "{line}"
    );
    let item = ddb
        .get_item()
        .table_name(&emulator.table)
        .set_key(Some(key.clone()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item.get("directory_key"), key.get("pk"));
}
