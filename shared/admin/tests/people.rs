//! `people list|backfill|disconnect|forget` and `dlq redrive` in-process over the in-memory
//! table and queues, with the worker's use case on the same ports: what is listed, what is
//! queued, and that the worker does what was queued (imports the backfilled days; revokes,
//! deletes the tokens and flags the contact); what an erasure deletes, judged on the store. The same commands against the local stack,
//! through the built binary and the AWS SDK, are `tests/local_stack.rs`.

use fitbridge::domain::PersonKey;
use std::sync::Arc;

use fitbridge::clock::SetClock;
use fitbridge::domain::Outcome;
use fitbridge::domain::{
    Collection, Connection, ConnectionStatus, ContactKey, DaySummary, ProviderKind, ProviderUserId,
    Task, WorkItem,
};
use fitbridge::events::NoEvents;
use fitbridge::marketing::memory::MemoryMarketing;
use fitbridge::ports::catalog::ProviderCatalog;
use fitbridge::ports::clock::Clock;
use fitbridge::ports::provider::{Provider, Served};
use fitbridge::ports::store::{
    ConnectionStore, Ending, ImportLedger, ImportRecord, ParkedWork, TokenStore,
};
use fitbridge::provider::memory::{MemoryPerson, MemoryProvider};
use fitbridge::provider::registry::Registry;
use fitbridge::queue::memory::MemoryQueue;
use fitbridge::secret_store::MemorySecrets;
use fitbridge::store::memory::MemoryStore;
use fitbridge::use_cases::signals::SignalService;
use fitbridge::use_cases::sync::{SyncService, Work, DEFAULT_RETENTION_DAYS};
use fitbridge::use_cases::tokens::TokenService;
use fitbridge_admin::{EXIT_OK, EXIT_REFUSED, EXIT_USAGE};
use serde_json::Value;
use time::{Date, Duration, OffsetDateTime};

use support::Surroundings;

mod support;

const KIND: ProviderKind = ProviderKind::Fitbit;
const TABLE: &str = "fitbridge-Table";
const WORK_QUEUE: &str = "https://sqs.eu-central-1.amazonaws.com/123456789012/fitbridge-WorkQueue";
const DLQ: &str =
    "https://sqs.eu-central-1.amazonaws.com/123456789012/fitbridge-WorkDeadLetterQueue";

/// When the world's clock starts: 10:00 UTC, when UTC−12 is still on the day before.
const START: OffsetDateTime = time::macros::datetime!(2026-11-25 10:00 UTC);

/// The backends, the provider and marketing system the worker talks to, and the worker.
struct World {
    clock: Arc<SetClock>,
    backends: Arc<Surroundings>,
    provider: Arc<MemoryProvider>,
    marketing: Arc<MemoryMarketing>,
    worker: SyncService,
}

impl World {
    fn new() -> World {
        let clock = Arc::new(SetClock::new(START));
        let backends = Surroundings::new(MemorySecrets::new([]), clock.clone());
        let store = backends.store().clone();
        let provider = Arc::new(MemoryProvider::new(KIND, clock.clone()));
        let marketing = Arc::new(MemoryMarketing::new());
        let providers: Served<dyn Provider> = [(KIND, provider.clone() as Arc<dyn Provider>)]
            .into_iter()
            .collect();
        let worker = SyncService {
            providers: providers.clone(),
            tokens: Arc::new(TokenService::new(
                providers,
                store.clone(),
                store.clone(),
                clock.clone(),
            )),
            connections: store.clone(),
            token_store: store.clone(),
            interactions: marketing.clone(),
            ledger: store.clone(),
            fetch_log: store.clone(),
            parked: store.clone(),
            retry_queue: Arc::new(MemoryQueue::new()),
            signals: Arc::new(SignalService {
                store: store.clone(),
                sink: marketing.clone(),
                events: Arc::new(NoEvents),
                settings: Default::default(),
                clock: clock.clone(),
            }),
            catalog: fitbridge::provider::registry::catalog(),
            retention: Duration::days(DEFAULT_RETENTION_DAYS.into()),
            fetch_coalesce: fitbridge::ports::store::FETCH_COALESCE_WINDOW,
            budget: std::sync::Arc::new(fitbridge::budget::Unlimited),
            clock: clock.clone(),
        };
        World {
            clock,
            backends,
            provider,
            marketing,
            worker,
        }
    }

    fn store(&self) -> &MemoryStore {
        self.backends.store()
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Today in UTC, by the world's clock.
    fn today_utc(&self) -> Date {
        self.now().date()
    }

    /// Whether an RFC 3339 time the CLI printed is within minutes of the world's now.
    fn is_recent(&self, rfc3339: &str) -> bool {
        let at = OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{rfc3339}: {e}"));
        (self.now() - at).abs() < Duration::minutes(5)
    }

    /// A person connected with `scopes`, then put in `status`.
    async fn connected(
        &self,
        kind: ProviderKind,
        user: &str,
        scopes: &str,
        status: ConnectionStatus,
    ) -> ContactKey {
        self.provider
            .add_person(user, MemoryPerson::default(), scopes);
        let contact = ContactKey {
            origin: Registry.default_mapping(kind).contact_origin,
            id: user.into(),
        };
        let connection = Connection {
            provider: kind,
            user_id: ProviderUserId(user.into()),
            tokens: self.provider.grant(user, scopes),
            status: ConnectionStatus::Active,
            contact: contact.clone(),
            customer_ref: Some(format!("C-{user}")),
            timezone: Some("Europe/Berlin".into()),
            subscriptions: Default::default(),
            version: 0,
            consented_at: None,
        };
        self.store().save_connected(&connection).await.unwrap();
        self.store()
            .set_status(&PersonKey::of(kind, &connection.user_id), status, None)
            .await
            .unwrap();
        contact
    }

    /// A day imported for the contact, as the worker records it; `confirmed: false` leaves
    /// it claimed, as a worker that died between the write and its record would.
    async fn imported(&self, contact: &ContactKey, day: &str, metric: &str, confirmed: bool) {
        let prefix = format!("{}-{day}-", contact.id);
        let key = format!("{prefix}{metric}");
        let now = self.now();
        let ledger: &dyn ImportLedger = self.store();
        ledger
            .claim(
                contact,
                &prefix,
                std::slice::from_ref(&key),
                "test",
                now,
                now + Duration::seconds(90),
            )
            .await
            .unwrap();
        if confirmed {
            let record = ImportRecord {
                key,
                hash: "hash".into(),
                interaction_id: "interaction-1".into(),
            };
            ledger
                .complete(
                    contact,
                    &prefix,
                    "test",
                    std::slice::from_ref(&record.key),
                    std::slice::from_ref(&record),
                )
                .await
                .unwrap();
        }
    }

    /// The work on the work queue, taken off it.
    fn queued(&self) -> Vec<WorkItem> {
        self.backends.queue(WORK_QUEUE).drain()
    }

    /// The worker handles `items` as sent now.
    async fn work(&self, items: Vec<WorkItem>) -> Vec<Outcome> {
        let sent_at = self.now();
        let batch: Vec<Work> = items
            .into_iter()
            .map(|item| Work { item, sent_at })
            .collect();
        self.worker.process(&batch).await
    }

    async fn admin(&self, args: &[&str]) -> Ran {
        let mut context = self.backends.context(self.clock.clone());
        // The provider the world plays, as `people forget` reaches it.
        context.providers = Some(
            [(KIND, self.provider.clone() as Arc<dyn Provider>)]
                .into_iter()
                .collect(),
        );
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = fitbridge_admin::run(&args, &context, &mut out, &mut err).await;
        Ran {
            code,
            out: String::from_utf8(out).unwrap(),
            err: String::from_utf8(err).unwrap(),
        }
    }
}

struct Ran {
    code: u8,
    out: String,
    err: String,
}

/// The line of `<provider>/<user>`.
fn line_of<'a>(out: &'a str, person: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("{person} ")))
        .unwrap_or_else(|| panic!("{person} not listed:\n{out}"))
}

/// The value of `name=` on a line.
fn value_of<'a>(line: &'a str, name: &str) -> &'a str {
    line.split(' ')
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in {line}"))
}

#[tokio::test]
async fn people_list_shows_each_connection_with_its_status_times_and_last_import() {
    let world = World::new();
    let active = world
        .connected(KIND, "ACTV01", "activity sleep", ConnectionStatus::Active)
        .await;
    world.imported(&active, "2026-11-19", "steps", true).await;
    world.imported(&active, "2026-11-20", "sleep", true).await;
    world.imported(&active, "2026-11-20", "steps", true).await;
    world.imported(&active, "2026-10-02", "steps", true).await;
    world
        .connected(KIND, "GONE02", "activity", ConnectionStatus::ProviderGone)
        .await;
    let google = world
        .connected(
            ProviderKind::GoogleHealth,
            "4123456789012345678",
            "",
            ConnectionStatus::NeedsReconsent,
        )
        .await;
    world.imported(&google, "2026-11-21", "steps", false).await;
    let left = world
        .connected(KIND, "LEFT03", "activity", ConnectionStatus::Active)
        .await;
    world
        .store()
        .revoke(
            &PersonKey::of(KIND, &ProviderUserId(left.id.clone())),
            Ending::Disconnected,
            world.now(),
        )
        .await
        .unwrap();

    let all = world.admin(&["people", "list", "--table", TABLE]).await;
    assert_eq!(all.code, EXIT_OK, "{}", all.err);
    assert_eq!(all.err, "");
    let lines: Vec<&str> = all.out.lines().collect();
    assert_eq!(lines.len(), 4, "{}", all.out);
    assert!(
        lines[0].starts_with("fitbit/ACTV01 "),
        "sorted: {}",
        all.out
    );
    assert!(
        lines[1].starts_with("fitbit/GONE02 "),
        "sorted: {}",
        all.out
    );
    assert!(lines[2].starts_with("google-health/4123456789012345678 "));
    assert_eq!(
        lines[3],
        "3 people (by status: active=1, needs_reconsent=1, provider_gone=1)"
    );

    let line = line_of(&all.out, "fitbit/ACTV01");
    assert!(
        line.starts_with("fitbit/ACTV01 status=active contact=FITBIT/ACTV01 connected="),
        "{line}"
    );
    assert!(world.is_recent(value_of(line, "connected")), "{line}");
    assert!(world.is_recent(value_of(line, "consented")), "{line}");
    assert_eq!(value_of(line, "last_day"), "2026-11-20", "the newest day");
    assert!(world.is_recent(value_of(line, "last_import")), "{line}");

    let line = line_of(&all.out, "fitbit/GONE02");
    assert_eq!(value_of(line, "status"), "provider_gone");
    assert!(line.ends_with(" last_day=- last_import=-"), "{line}");

    let line = line_of(&all.out, "google-health/4123456789012345678");
    assert_eq!(value_of(line, "status"), "needs_reconsent");
    assert_eq!(value_of(line, "last_day"), "2026-11-21");
    assert_eq!(value_of(line, "last_import"), "unconfirmed");

    assert!(!all.out.contains("LEFT03"), "a disconnected person is gone");
    assert!(!all.out.contains("C-ACTV01"), "no customer ref");
    assert!(!all.out.contains("access-") && !all.out.contains("refresh-"));

    let fitbit = world
        .admin(&["people", "list", "--table", TABLE, "--provider", "fitbit"])
        .await;
    assert_eq!(fitbit.code, EXIT_OK, "{}", fitbit.err);
    assert!(fitbit
        .out
        .ends_with("2 people (by status: active=1, provider_gone=1)\n"));
    assert!(!fitbit.out.contains("google-health/"));

    let gone = world
        .admin(&["people", "list", "--table", TABLE, "--status=provider_gone"])
        .await;
    assert_eq!(gone.code, EXIT_OK, "{}", gone.err);
    assert_eq!(gone.out.lines().count(), 2, "{}", gone.out);
    assert!(gone.out.starts_with("fitbit/GONE02 status=provider_gone "));
    assert!(gone
        .out
        .ends_with("1 person (by status: provider_gone=1)\n"));

    let nobody = world
        .admin(&[
            "people",
            "list",
            "--table",
            TABLE,
            "--provider",
            "google-health",
            "--status",
            "active",
        ])
        .await;
    assert_eq!(nobody.out, "0 people\n");
}

#[tokio::test]
async fn people_list_as_json() {
    let world = World::new();
    let active = world
        .connected(KIND, "ACTV01", "activity", ConnectionStatus::Active)
        .await;
    world.imported(&active, "2026-11-20", "steps", true).await;
    world
        .connected(KIND, "GONE02", "activity", ConnectionStatus::ProviderGone)
        .await;
    let result = world
        .admin(&["people", "list", "--table", TABLE, "--json"])
        .await;
    assert_eq!(result.code, EXIT_OK, "{}", result.err);
    let people: Vec<Value> = serde_json::from_str(&result.out).unwrap();
    assert_eq!(people.len(), 2);
    let first = &people[0];
    assert_eq!(first["provider"], "fitbit");
    assert_eq!(first["user_id"], "ACTV01");
    assert_eq!(first["status"], "active");
    assert_eq!(first["contact"]["origin"], "FITBIT");
    assert_eq!(first["contact"]["id"], "ACTV01");
    assert!(world.is_recent(first["connected_at"].as_str().unwrap()));
    assert!(world.is_recent(first["consented_at"].as_str().unwrap()));
    assert!(world.is_recent(first["updated_at"].as_str().unwrap()));
    assert_eq!(first["last_import"]["day"], "2026-11-20");
    assert!(world.is_recent(first["last_import"]["imported_at"].as_str().unwrap()));
    assert_eq!(people[1]["status"], "provider_gone");
    assert_eq!(people[1]["last_import"], Value::Null);
}

#[tokio::test]
async fn backfill_queues_the_daily_jobs_work_for_each_day_and_the_worker_imports_it() {
    let world = World::new();
    world
        .connected(KIND, "BACK01", "activity sleep", ConnectionStatus::Active)
        .await;
    let user = ProviderUserId("BACK01".into());
    let last = world.today_utc() - Duration::days(1);
    let first = last - Duration::days(2);
    for (n, day) in [first, first + Duration::days(1), last]
        .into_iter()
        .enumerate()
    {
        world.provider.set_day(
            "BACK01",
            Collection::Activities,
            day,
            DaySummary {
                steps: Some(1000 + n as u64),
                ..DaySummary::default()
            },
        );
    }
    let result = world
        .admin(&[
            "people",
            "backfill",
            "--table",
            TABLE,
            "--work-queue-url",
            WORK_QUEUE,
            "--provider",
            "fitbit",
            "--user",
            "BACK01",
            "--from",
            &first.to_string(),
            "--to",
            &last.to_string(),
        ])
        .await;
    assert_eq!(result.code, EXIT_OK, "{}", result.err);
    assert_eq!(
        result.out,
        format!(
            "queued 3 sync work items for fitbit/BACK01, {first} to {last} \
             (activities,sleep): the worker imports them\n"
        )
    );
    let queued = world.queued();
    let scopes = world
        .store()
        .get(&PersonKey::of(KIND, &user))
        .await
        .unwrap()
        .unwrap()
        .tokens
        .scopes;
    let expected: Vec<WorkItem> = [first, first + Duration::days(1), last]
        .into_iter()
        .map(|day| Registry.sync_work(KIND, &user, &scopes, day).unwrap())
        .collect();
    assert_eq!(queued, expected, "what the daily job queues, day by day");
    assert!(queued.iter().all(|i| matches!(&i.task,
        Task::Sync { collections, .. } if *collections == [Collection::Activities, Collection::Sleep])));

    // The worker imports them: one interaction per day with steps.
    let outcomes = world.work(queued.clone()).await;
    assert!(outcomes.iter().all(|o| *o == Outcome::Done), "{outcomes:?}");
    let mut imported: Vec<String> = world
        .marketing
        .interactions()
        .into_iter()
        .map(|i| i.source_object)
        .collect();
    imported.sort();
    assert_eq!(
        imported,
        [first, first + Duration::days(1), last]
            .map(|d| format!("BACK01-{d}-steps"))
            .to_vec()
    );
    // Again, once the fetch log's coalescing window is over: nothing is written twice.
    world
        .clock
        .advance(fitbridge::ports::store::FETCH_COALESCE_WINDOW);
    let outcomes = world.work(queued).await;
    assert!(outcomes.iter().all(|o| *o == Outcome::Done));
    assert!(world.marketing.interactions().iter().all(|i| i.writes == 1));
}

fn backfill_args<'a>(user: &'a str, from: &'a str, to: &'a str) -> Vec<&'a str> {
    vec![
        "people",
        "backfill",
        "--table",
        TABLE,
        "--work-queue-url",
        WORK_QUEUE,
        "--provider",
        "fitbit",
        "--user",
        user,
        "--from",
        from,
        "--to",
        to,
    ]
}

#[tokio::test]
async fn backfill_refuses_people_who_are_not_connected_parked_or_without_data_scopes() {
    let world = World::new();
    world
        .connected(KIND, "GONE01", "activity", ConnectionStatus::ProviderGone)
        .await;
    world
        .connected(KIND, "NOSC02", "profile", ConnectionStatus::Active)
        .await;
    let left = world
        .connected(KIND, "LEFT03", "activity", ConnectionStatus::Active)
        .await;
    world
        .store()
        .revoke(
            &PersonKey::of(KIND, &ProviderUserId(left.id)),
            Ending::Disconnected,
            world.now(),
        )
        .await
        .unwrap();
    world
        .connected(KIND, "ACTV04", "activity", ConnectionStatus::Active)
        .await;
    let day = (world.today_utc() - Duration::days(3)).to_string();
    for (user, why) in [
        (
            "NEVER0",
            "is not connected: table fitbridge-Table holds no connection for it",
        ),
        ("LEFT03", "is not connected: its connection ended at "),
        (
            "GONE01",
            "is provider_gone: the worker would only park the work",
        ),
        ("NOSC02", "granted no data scope"),
    ] {
        let result = world.admin(&backfill_args(user, &day, &day)).await;
        assert_eq!(result.code, EXIT_REFUSED, "{user}: {}", result.err);
        assert!(result.err.contains(why), "{user}: {}", result.err);
        assert_eq!(result.out, "");
    }
    assert!(world.queued().is_empty());

    // A queue that is down: refused, and saying a second run is safe.
    world.backends.queue(WORK_QUEUE).set_down(true);
    let result = world.admin(&backfill_args("ACTV04", &day, &day)).await;
    assert_eq!(result.code, EXIT_REFUSED);
    assert!(result
        .err
        .contains("cannot queue the backfill of fitbit/ACTV04"));
    assert!(result.err.contains("running it again is safe"));
}

#[tokio::test]
async fn backfill_refuses_a_day_that_has_not_begun_where_the_person_lives() {
    let world = World::new();
    // The last time zone to reach a day (UTC-12).
    world
        .provider
        .add_person("WEST01", MemoryPerson::default(), "activity");
    let connection = Connection {
        provider: KIND,
        user_id: ProviderUserId("WEST01".into()),
        tokens: world.provider.grant("WEST01", "activity"),
        status: ConnectionStatus::Active,
        contact: ContactKey {
            origin: "FITBIT".into(),
            id: "WEST01".into(),
        },
        customer_ref: None,
        timezone: Some("Etc/GMT+12".into()),
        subscriptions: Default::default(),
        version: 0,
        consented_at: None,
    };
    world.store().save_connected(&connection).await.unwrap();
    // At 10:00 UTC it is still yesterday in UTC−12.
    let today = world.today_utc().to_string();
    let their_today =
        fitbridge::domain::local_day::today(Some("Etc/GMT+12"), world.clock.timestamp());
    assert!(their_today < world.today_utc());
    let result = world.admin(&backfill_args("WEST01", &today, &today)).await;
    assert_eq!(result.code, EXIT_USAGE, "{}", result.err);
    assert!(
        result.err.contains(&format!(
            "has not begun for fitbit/WEST01 yet: their today is {their_today} \
             (time zone Etc/GMT+12)"
        )),
        "{}",
        result.err
    );
    assert!(world.queued().is_empty());
    // Past noon UTC the day has begun everywhere.
    world
        .clock
        .set(START.replace_time(time::macros::time!(12:30)));
    let result = world.admin(&backfill_args("WEST01", &today, &today)).await;
    assert_eq!(result.code, EXIT_OK, "{}", result.err);
    assert_eq!(world.queued().len(), 1);
}

#[tokio::test]
async fn usage_errors_reach_neither_the_table_nor_a_queue() {
    let world = World::new();
    world
        .connected(KIND, "ACTV01", "activity", ConnectionStatus::Active)
        .await;
    let tomorrow = (world.today_utc() + Duration::days(1)).to_string();
    let long_ago = (world.today_utc() - Duration::days(91)).to_string();
    let yesterday = (world.today_utc() - Duration::days(1)).to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["people", "list"],
        vec!["people", "list", "--table", TABLE, "--status", "asleep"],
        backfill_args("ACTV01", &yesterday, &tomorrow),
        backfill_args("ACTV01", &long_ago, &yesterday),
        backfill_args("ACTV01", &yesterday, &long_ago),
        vec![
            "people",
            "disconnect",
            "--table",
            TABLE,
            "--provider",
            "fitbit",
            "--user",
            "ACTV01",
        ],
        vec![
            "dlq",
            "redrive",
            "--from-queue-url",
            DLQ,
            "--to-queue-url",
            DLQ,
        ],
        vec!["dlq", "redrive", "--from-queue-url", DLQ],
        vec![
            "people",
            "forget",
            "--provider",
            "fitbit",
            "--user",
            "ACTV01",
            "--yes",
        ],
    ];
    for args in cases {
        let result = world.admin(&args).await;
        assert_eq!(result.code, EXIT_USAGE, "{args:?}: {}", result.err);
        assert!(result.err.starts_with("error: "), "{}", result.err);
        assert_eq!(result.out, "");
        assert_eq!(world.backends.reached(), 0, "{args:?}");
    }
    assert!(world.queued().is_empty());
}

fn disconnect_args(user: &str) -> Vec<&str> {
    vec![
        "people",
        "disconnect",
        "--table",
        TABLE,
        "--work-queue-url",
        WORK_QUEUE,
        "--provider",
        "fitbit",
        "--user",
        user,
    ]
}

#[tokio::test]
async fn disconnect_queues_the_revocation_the_worker_completes() {
    let world = World::new();
    let contact = world
        .connected(KIND, "DISC01", "activity sleep", ConnectionStatus::Active)
        .await;
    let user = ProviderUserId("DISC01".into());

    let result = world.admin(&disconnect_args("DISC01")).await;
    assert_eq!(result.code, EXIT_OK, "{}", result.err);
    assert_eq!(
        result.out,
        "queued the disconnect of fitbit/DISC01 (status active, contact FITBIT/DISC01): \
         the worker completes it — removes the subscriptions, revokes the grant at fitbit, \
         deletes the tokens and flags the contact in SAP\n"
    );
    let queued = world.queued();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let Task::Revoke {
        account_deleted: false,
        issued_at: Some(issued_at),
    } = queued[0].task
    else {
        panic!("not a revocation with its time: {queued:?}");
    };
    assert!(
        issued_at <= world.now() && issued_at >= START,
        "{issued_at}"
    );
    assert_eq!(
        queued[0],
        WorkItem::revoke(KIND, user.clone(), false, Some(issued_at))
    );
    let json = serde_json::to_string(&queued[0]).unwrap();
    assert!(
        json.starts_with(
            r#"{"provider":"fitbit","user_id":"DISC01","task":"revoke","issued_at":""#
        ),
        "the very message a provider's revocation becomes: {json}"
    );
    // Nothing happened yet: the worker does it.
    assert!(world
        .store()
        .get(&PersonKey::of(KIND, &user))
        .await
        .unwrap()
        .is_some());
    assert_eq!(world.provider.revoked_grants(), 0);

    let outcomes = world.work(queued).await;
    assert_eq!(outcomes, vec![Outcome::Done]);
    assert_eq!(
        world.provider.revoked_grants(),
        1,
        "revoked at the provider"
    );
    assert!(
        world
            .store()
            .get(&PersonKey::of(KIND, &user))
            .await
            .unwrap()
            .is_none(),
        "tokens deleted"
    );
    let tombstone = world
        .store()
        .tombstone(&PersonKey::of(KIND, &user))
        .await
        .unwrap()
        .expect("tombstone");
    assert!(!tombstone.flag_pending, "the flag is in SAP");
    let flags: Vec<_> = world
        .marketing
        .interactions()
        .into_iter()
        .filter(|i| i.contact == contact && i.value.is_none())
        .collect();
    assert_eq!(flags.len(), 1, "one disconnect interaction");

    // Gone from the listing; a second disconnect is refused.
    let list = world.admin(&["people", "list", "--table", TABLE]).await;
    assert_eq!(list.out, "0 people\n");
    let again = world.admin(&disconnect_args("DISC01")).await;
    assert_eq!(again.code, EXIT_REFUSED);
    assert!(
        again
            .err
            .contains("fitbit/DISC01 is not connected: its connection ended at "),
        "{}",
        again.err
    );
    assert!(again.err.contains("(disconnected)"), "{}", again.err);
    assert!(world.queued().is_empty());
}

#[tokio::test]
async fn disconnect_takes_a_parked_person_and_refuses_an_unknown_one() {
    let world = World::new();
    world
        .connected(KIND, "RECN01", "activity", ConnectionStatus::NeedsReconsent)
        .await;
    let result = world.admin(&disconnect_args("RECN01")).await;
    assert_eq!(result.code, EXIT_OK, "{}", result.err);
    assert!(result.out.contains("(status needs_reconsent, "));
    assert_eq!(world.queued().len(), 1);

    let unknown = world.admin(&disconnect_args("NOBODY")).await;
    assert_eq!(unknown.code, EXIT_REFUSED);
    assert_eq!(unknown.out, "");
    assert!(unknown
        .err
        .contains("fitbit/NOBODY is not connected: table fitbridge-Table holds no connection"));
    assert!(world.queued().is_empty());
}

fn forget_args(provider: &str, user: &str, yes: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "people",
        "forget",
        "--table",
        TABLE,
        "--provider",
        provider,
        "--user",
        user,
    ]
    .map(str::to_owned)
    .to_vec();
    if yes {
        args.push("--yes".into());
    }
    args
}

impl World {
    async fn forget(&self, provider: &str, user: &str, yes: bool) -> Ran {
        let args = forget_args(provider, user, yes);
        self.admin(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .await
    }

    /// A day imported for the person through the worker: ledger, history, fetch log.
    async fn synced(&self, user: &str) {
        let day = self.today_utc() - Duration::days(2);
        self.provider
            .set_day(user, Collection::Activities, day, fitbridge_steps(4200));
        let item = WorkItem::sync(
            KIND,
            ProviderUserId(user.into()),
            day,
            vec![Collection::Activities],
        );
        assert_eq!(self.work(vec![item]).await, [Outcome::Done]);
    }
}

fn fitbridge_steps(n: u64) -> DaySummary {
    DaySummary {
        steps: Some(n),
        ..DaySummary::default()
    }
}

#[tokio::test]
async fn forget_revokes_the_grant_and_deletes_everything_held_about_a_connected_person() {
    let world = World::new();
    let user = ProviderUserId("FRGT01".into());
    let contact = world
        .connected(KIND, "FRGT01", "activity", ConnectionStatus::Active)
        .await;
    world.synced("FRGT01").await;
    // An earlier disconnect left a tombstone; the person connected again since.
    world
        .store()
        .revoke(
            &PersonKey::of(KIND, &user),
            Ending::Disconnected,
            world.now(),
        )
        .await
        .unwrap();
    world
        .connected(KIND, "FRGT01", "activity", ConnectionStatus::Active)
        .await;
    world
        .store()
        .park(
            &WorkItem::sync(
                KIND,
                user.clone(),
                world.today_utc(),
                vec![Collection::Sleep],
            ),
            "test",
        )
        .await
        .unwrap();
    let held = world
        .store()
        .kept_about(&PersonKey::of(KIND, &user), &contact);
    for kind in [
        "connection",
        "tombstone",
        "parked work",
        "fetch log",
        "import ledger",
        "signal history",
    ] {
        assert!(held.contains(&kind), "{kind}: {held:?}");
    }
    let in_sap = world.marketing.interactions().len();

    // Without --yes: what it would delete, and nothing deleted.
    let preview = world.forget("fitbit", "FRGT01", false).await;
    assert_eq!(preview.code, EXIT_OK, "{}", preview.err);
    assert_eq!(
        preview.out,
        "fitbit/FRGT01: connected (status active), contact FITBIT/FRGT01\n\
         with --yes, people forget revokes the grant at fitbit, then deletes the connection, \
         the tombstone, parked work, the fetch log, and the import ledger, signal history and \
         signal state of contact FITBIT/FRGT01; nothing in SAP\n\
         nothing was deleted: run it again with --yes to delete\n"
    );
    assert_eq!(
        world
            .store()
            .kept_about(&PersonKey::of(KIND, &user), &contact),
        held
    );
    assert_eq!(world.provider.revoked_grants(), 0);

    let result = world.forget("fitbit", "FRGT01", true).await;
    assert_eq!(result.code, EXIT_OK, "{}", result.err);
    assert_eq!(result.err, "");
    let lines: Vec<&str> = result.out.lines().collect();
    assert_eq!(
        lines[..7],
        [
            "forgot fitbit/FRGT01 (contact FITBIT/FRGT01):",
            "grant at fitbit: revoked",
            "connection: deleted",
            "tombstone: deleted",
            "parked work: deleted 1 item",
            "fetch log: deleted 1 entry",
            "import ledger of contact FITBIT/FRGT01: deleted 1 day",
        ],
        "{}",
        result.out
    );
    assert!(
        lines[7].starts_with("signal history and state of contact FITBIT/FRGT01: deleted "),
        "{}",
        lines[7]
    );
    assert!(lines[8].starts_with("connect attempts and used links: stored by hash"));
    assert_eq!(
        lines[9],
        "SAP: nothing deleted; erase contact FITBIT/FRGT01 there with the tenant's own \
         data-protection tooling"
    );
    assert_eq!(lines.len(), 10, "{}", result.out);
    assert!(!result.out.contains("C-FRGT01"), "no customer ref printed");

    // Nothing of the person is left, the grant is gone at the provider, SAP is untouched.
    assert_eq!(
        world
            .store()
            .kept_about(&PersonKey::of(KIND, &user), &contact),
        Vec::<&str>::new()
    );
    assert!(world
        .store()
        .get(&PersonKey::of(KIND, &user))
        .await
        .unwrap()
        .is_none());
    assert!(world
        .store()
        .tombstone(&PersonKey::of(KIND, &user))
        .await
        .unwrap()
        .is_none());
    assert!(world.store().ledger_expiry(&contact).is_empty());
    assert!(world.store().imported(&contact).is_empty());
    assert_eq!(world.provider.revoked_grants(), 1);
    assert_eq!(world.marketing.interactions().len(), in_sap);
    let list = world.admin(&["people", "list", "--table", TABLE]).await;
    assert_eq!(list.out, "0 people\n");

    // Again: nothing is left to delete.
    let again = world.forget("fitbit", "FRGT01", true).await;
    assert_eq!(again.code, EXIT_REFUSED);
    assert_eq!(again.out, "");
    assert!(
        again.err.contains(
            "table fitbridge-Table holds nothing about fitbit/FRGT01: no connection, \
             tombstone, parked work or fetch log (nothing was deleted)"
        ),
        "{}",
        again.err
    );
}

#[tokio::test]
async fn forget_after_a_disconnect_deletes_the_tombstone_and_what_the_contact_left() {
    let world = World::new();
    let user = ProviderUserId("LEFT01".into());
    let contact = world
        .connected(KIND, "LEFT01", "activity", ConnectionStatus::Active)
        .await;
    world.synced("LEFT01").await;
    let revoke = WorkItem::revoke(KIND, user.clone(), false, Some(world.now()));
    assert_eq!(world.work(vec![revoke]).await, [Outcome::Done]);
    assert_eq!(world.provider.revoked_grants(), 1);
    // The disconnect set what is kept to expire; the erasure does not wait for it.
    assert!(world
        .store()
        .ledger_expiry(&contact)
        .iter()
        .all(Option::is_some));

    let preview = world.forget("fitbit", "LEFT01", false).await;
    assert_eq!(preview.code, EXIT_OK, "{}", preview.err);
    assert!(
        preview
            .out
            .starts_with("fitbit/LEFT01: not connected (disconnected at "),
        "{}",
        preview.out
    );
    assert!(preview
        .out
        .contains("with --yes, people forget deletes the connection"));

    let result = world.forget("fitbit", "LEFT01", true).await;
    assert_eq!(result.code, EXIT_OK, "{}", result.err);
    for line in [
        "grant at fitbit: none (not connected)\n",
        "connection: already gone\n",
        "tombstone: deleted\n",
        "parked work: already gone\n",
        "fetch log: deleted 1 entry\n",
        "import ledger of contact FITBIT/LEFT01: deleted 1 day\n",
        "SAP: nothing deleted; erase contact FITBIT/LEFT01 there",
    ] {
        assert!(result.out.contains(line), "{line}: {}", result.out);
    }
    assert_eq!(
        world
            .store()
            .kept_about(&PersonKey::of(KIND, &user), &contact),
        Vec::<&str>::new()
    );
    assert_eq!(
        world.provider.revoked_grants(),
        1,
        "revoked once, by the disconnect"
    );
}

#[tokio::test]
async fn forget_leaves_a_migrated_contact_to_its_successor_and_says_what_it_could_not_revoke() {
    let world = World::new();
    let user = ProviderUserId("MIGR01".into());
    let contact = world
        .connected(KIND, "MIGR01", "activity", ConnectionStatus::Active)
        .await;
    world.synced("MIGR01").await;
    world
        .store()
        .revoke(
            &PersonKey::of(KIND, &user),
            Ending::Migrated {
                to: ProviderKind::GoogleHealth,
            },
            world.now(),
        )
        .await
        .unwrap();
    let result = world.forget("fitbit", "MIGR01", true).await;
    assert_eq!(result.code, EXIT_OK, "{}", result.err);
    assert!(
        result.out.contains("tombstone: deleted\n"),
        "{}",
        result.out
    );
    assert!(
        result.out.contains(
            "import ledger, signal history and state of contact FITBIT/MIGR01: kept, the \
             contact lives on at google-health: forget that person too"
        ),
        "{}",
        result.out
    );
    assert!(world
        .store()
        .tombstone(&PersonKey::of(KIND, &user))
        .await
        .unwrap()
        .is_none());
    assert!(
        !world.store().imported(&contact).is_empty(),
        "the successor's"
    );

    // A person of a provider this environment does not configure: the grant stays, said so.
    let google = ProviderUserId("4123456789012345678".into());
    let contact = world
        .connected(
            ProviderKind::GoogleHealth,
            &google.0,
            "",
            ConnectionStatus::Active,
        )
        .await;
    let preview = world.forget("google-health", &google.0, false).await;
    assert!(
        preview.out.contains(
            "people forget cannot revoke the grant at google-health (this environment does \
             not configure it), then deletes"
        ),
        "{}",
        preview.out
    );
    let result = world.forget("google-health", &google.0, true).await;
    assert_eq!(result.code, EXIT_OK, "{}", result.err);
    assert!(
        result.out.contains(
            "grant at google-health: not revoked: this environment does not configure \
             google-health"
        ),
        "{}",
        result.out
    );
    assert!(result.out.contains("connection: deleted\n"));
    assert!(
        result
            .out
            .contains("fitbit: if the person migrated from there"),
        "the predecessor's tombstone holds the contact too: {}",
        result.out
    );
    assert_eq!(
        world.store().kept_about(
            &PersonKey::of(ProviderKind::GoogleHealth, &google),
            &contact
        ),
        Vec::<&str>::new()
    );
}

#[tokio::test]
async fn forget_refuses_a_person_it_knows_nothing_about() {
    let world = World::new();
    for yes in [false, true] {
        let result = world.forget("fitbit", "NOBODY", yes).await;
        assert_eq!(result.code, EXIT_REFUSED, "{}", result.err);
        assert_eq!(result.out, "");
        assert!(
            result.err.contains("fitbit/NOBODY")
                && result.err.contains("table fitbridge-Table holds no"),
            "{}",
            result.err
        );
    }
    // Parked work left under the person's key is deleted all the same.
    world
        .store()
        .park(
            &WorkItem::sync(
                KIND,
                ProviderUserId("NOBODY".into()),
                world.today_utc(),
                vec![Collection::Activities],
            ),
            "test",
        )
        .await
        .unwrap();
    let result = world.forget("fitbit", "NOBODY", true).await;
    assert_eq!(result.code, EXIT_OK, "{}", result.err);
    assert!(result
        .out
        .starts_with("forgot fitbit/NOBODY (no contact known: no connection or tombstone):\n"));
    assert!(result.out.contains("parked work: deleted 1 item\n"));
    assert!(result
        .out
        .contains("SAP: nothing deleted, and no contact known here\n"));
}

fn work_body(user: &str, day: &str) -> String {
    format!(
        r#"{{"provider":"fitbit","user_id":"{user}","task":"sync","date":"{day}","collections":["activities"]}}"#
    )
}

#[tokio::test]
async fn redrive_moves_every_message_back_and_a_dry_run_only_lists_them() {
    let world = World::new();
    let dlq = world.backends.messages(DLQ);
    let bodies: Vec<String> = (1..=12)
        .map(|d| work_body("DEAD01", &format!("2026-11-{d:02}")))
        .collect();
    for body in &bodies {
        dlq.push(body);
    }
    dlq.push("not json at all");

    let dry = world
        .admin(&[
            "dlq",
            "redrive",
            "--from-queue-url",
            DLQ,
            "--to-queue-url",
            WORK_QUEUE,
            "--dry-run",
        ])
        .await;
    assert_eq!(dry.code, EXIT_OK, "{}", dry.err);
    let lines: Vec<&str> = dry.out.lines().collect();
    assert_eq!(lines.len(), 14, "{}", dry.out);
    assert!(lines[0].ends_with(" fitbit/DEAD01 sync 2026-11-01 activities"));
    assert!(lines[12].ends_with(" unreadable (15 bytes)"));
    assert_eq!(
        lines[13],
        format!("13 messages would be moved from {DLQ} to {WORK_QUEUE} (dry run: none was)")
    );
    assert_eq!(dlq.bodies().len(), 13);
    assert_eq!(dlq.held(), 0, "all visible again");
    assert!(world.backends.messages(WORK_QUEUE).bodies().is_empty());

    let some = world
        .admin(&[
            "dlq",
            "redrive",
            "--from-queue-url",
            DLQ,
            "--to-queue-url",
            WORK_QUEUE,
            "--max",
            "5",
        ])
        .await;
    assert_eq!(some.code, EXIT_OK, "{}", some.err);
    assert_eq!(
        some.out,
        format!("moved 5 messages from {DLQ} to {WORK_QUEUE}\n")
    );
    let rest = world
        .admin(&[
            "dlq",
            "redrive",
            "--from-queue-url",
            DLQ,
            "--to-queue-url",
            WORK_QUEUE,
        ])
        .await;
    assert_eq!(rest.code, EXIT_OK, "{}", rest.err);
    assert_eq!(
        rest.out,
        format!("moved 8 messages from {DLQ} to {WORK_QUEUE}\n")
    );
    assert!(dlq.bodies().is_empty());
    let mut expected = bodies.clone();
    expected.push("not json at all".into());
    assert_eq!(
        world.backends.messages(WORK_QUEUE).bodies(),
        expected,
        "the same bodies, in order"
    );

    let empty = world
        .admin(&[
            "dlq",
            "redrive",
            "--from-queue-url",
            DLQ,
            "--to-queue-url",
            WORK_QUEUE,
        ])
        .await;
    assert_eq!(empty.code, EXIT_OK);
    assert_eq!(
        empty.out,
        format!("moved 0 messages from {DLQ} to {WORK_QUEUE}\n")
    );
}

#[tokio::test]
async fn a_redrive_the_queue_refuses_exits_1_with_what_it_moved_and_loses_nothing() {
    let world = World::new();
    let dlq = world.backends.messages(DLQ);
    for d in 1..=4 {
        dlq.push(&work_body("DEAD01", &format!("2026-11-{d:02}")));
    }
    world.backends.messages(WORK_QUEUE).refuse_copies_after(3);
    let result = world
        .admin(&[
            "dlq",
            "redrive",
            "--from-queue-url",
            DLQ,
            "--to-queue-url",
            WORK_QUEUE,
        ])
        .await;
    assert_eq!(result.code, EXIT_REFUSED);
    assert_eq!(
        result.out,
        format!("moved 3 messages from {DLQ} to {WORK_QUEUE}\n")
    );
    assert!(
        result
            .err
            .starts_with("error: stopped: the destination refused message "),
        "{}",
        result.err
    );
    assert!(result.err.contains("which stays where it was"));
    assert_eq!(dlq.bodies(), vec![work_body("DEAD01", "2026-11-04")]);
    assert_eq!(dlq.held(), 0);
}
