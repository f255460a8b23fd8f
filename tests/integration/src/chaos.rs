//! The chaos run: thousands of notifications for hundreds of people of three providers
//! through the real webhook, worker and token-refresh handlers — against the emulator's SQS
//! and DynamoDB and the in-process sandboxes — while faults are injected at random. At the
//! end, what the SAP sandbox holds is compared with what should be there.
//!
//! What it holds fitbridge to (the report's columns):
//! - every day an accepted notification announced reaches SAP: `missing` is 0;
//! - nothing reaches SAP twice: `duplicated` (source objects stored more than once) is 0;
//! - whatever is parked has its reason, and nothing sits in a dead-letter queue.
//!
//! The faults, each drawn at random between deliveries: SQS refusing the webhook's send (the
//! webhook answers 5xx and the "provider" delivers again later), a worker dying mid-batch
//! (its messages come back after the visibility timeout), SAP answering 5xx or failing
//! single `$batch` parts, a provider answering 5xx or 429, access tokens dying early (so
//! concurrent workers race to refresh), and people revoking access and connecting again.
//!
//! "Should be there" is what a fault-free fetch of each announced day returns, through the
//! same provider clients, at the end — so the run checks delivery, not the mapping (which
//! other tests pin against recorded payloads). A Fitbit person who revokes access loses the
//! work queued before the revocation by design (their tokens are gone); those days are
//! reported as superseded, not expected. A Google Health person's revocation parks their
//! work, which their reconnect resumes, so all of their days are expected. So does a Polar
//! person's, and since Polar has no refresh tokens, a Polar token that dies early is a
//! revocation too: parked `needs_reconsent` until the person connects again. Polar
//! delivers one event per POST and throttles the whole partner, not a person.

use fitbridge::domain::PersonKey;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use fitbridge::domain::{Collection, ConnectionStatus, ProviderKind, ProviderUserId, WorkItem};
use fitbridge::ports::queue::{QueueError, WorkQueue};
use fitbridge::ports::store::{ConnectionStore, ParkedWork};
use fitbridge::provider::registry;
use fitbridge::queue::sqs::SqsQueue;
use fitbridge::secret_store::{SecretCache, SecretsManagerSource};
use fitbridge::use_cases::webhook::WebhookService;
use fitbridge::wiring;
use fitbridge_sandbox::fitbit::Consent as FitbitConsent;
use fitbridge_sandbox::google_health::scopes as google_scopes;
use fitbridge_sandbox::google_health::Consent as GoogleConsent;
use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use time::Date;

use crate::pipeline::{Pipeline, PipelineOptions};

const FITBIT_SCOPES: &[&str] = &["profile", "activity", "sleep", "weight"];
const GOOGLE_SCOPES: &[&str] = &[
    google_scopes::ACTIVITY_AND_FITNESS,
    google_scopes::SLEEP,
    google_scopes::HEALTH_METRICS,
];

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct ChaosConfig {
    pub seed: u64,
    /// Notification entries to announce (each body carries 1 to 5; duplicates and the
    /// provider's retries come on top).
    pub notifications: usize,
    pub people: usize,
    /// Days back from today that notifications announce (Google's roll-ups reach 14).
    pub days: i64,
    /// Worker invocations running at once.
    pub workers: usize,
    /// Give up waiting for the queues to drain after this long.
    pub time_limit: Duration,
}

impl ChaosConfig {
    pub fn new(seed: u64) -> ChaosConfig {
        ChaosConfig {
            seed,
            notifications: 10_000,
            people: 200,
            days: 10,
            workers: 4,
            time_limit: Duration::from_secs(40 * 60),
        }
    }
}

/// What a run found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub fitbit_people: usize,
    pub google_people: usize,
    pub polar_people: usize,
    /// Notification entries in bodies the webhook accepted (each body counted once, not
    /// per duplicate delivery).
    pub notifications_accepted: usize,
    /// Bodies posted, duplicates and retries included.
    pub deliveries: usize,
    /// Bodies the webhook refused (SQS failing), which the provider delivered again.
    pub deliveries_retried: usize,
    /// Injected faults by kind.
    pub faults: BTreeMap<&'static str, u32>,
    pub expected: usize,
    pub imported: usize,
    pub missing: Vec<String>,
    /// Source objects SAP holds more than once.
    pub duplicated: Vec<String>,
    /// Days queued for a Fitbit person before they revoked access (dropped by design).
    pub superseded: usize,
    /// Parked work left at the end, by reason.
    pub parked: BTreeMap<String, usize>,
    pub dead_letters: u64,
    pub drained: bool,
    pub elapsed: Duration,
}

impl Report {
    /// The run met its targets: nothing missing, nothing twice, nothing in a DLQ, and
    /// whatever is parked explained.
    pub fn passed(&self) -> bool {
        self.drained
            && self.missing.is_empty()
            && self.duplicated.is_empty()
            && self.dead_letters == 0
            && !self.parked.contains_key("unexplained")
    }

    /// The table's header, for [`Report::row`].
    pub fn header() -> &'static str {
        "| seed | people (Fitbit + Google + Polar) | notifications accepted | deliveries (retried) | faults injected | interactions expected | imported | missing | duplicated | superseded by revocation | parked (reason) | in a DLQ | time |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|"
    }

    pub fn row(&self) -> String {
        let faults: u32 = self.faults.values().sum();
        let parked = if self.parked.is_empty() {
            "0".to_owned()
        } else {
            self.parked
                .iter()
                .map(|(reason, n)| format!("{n} ({reason})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "| {} | {} ({} + {} + {}) | {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} s |",
            self.seed,
            self.fitbit_people + self.google_people + self.polar_people,
            self.fitbit_people,
            self.google_people,
            self.polar_people,
            self.notifications_accepted,
            self.deliveries,
            self.deliveries_retried,
            faults,
            self.expected,
            self.imported,
            self.missing.len(),
            self.duplicated.len(),
            self.superseded,
            parked,
            self.dead_letters,
            self.elapsed.as_secs_f64(),
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", Report::header())?;
        writeln!(f, "{}", self.row())?;
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(kind, n)| format!("{kind}: {n}"))
            .collect();
        writeln!(f, "\nfaults injected: {}", faults.join(", "))?;
        if !self.drained {
            writeln!(f, "NOT DRAINED within the time limit")?;
        }
        for (what, list) in [("missing", &self.missing), ("duplicated", &self.duplicated)] {
            if !list.is_empty() {
                let shown: Vec<&str> = list.iter().take(20).map(String::as_str).collect();
                writeln!(f, "{what} (first 20): {}", shown.join(", "))?;
            }
        }
        writeln!(f, "result: {}", if self.passed() { "PASS" } else { "FAIL" })
    }
}

/// The work queue as the webhook sees it, refusing sends on demand (SQS unavailable).
struct FlakyQueue {
    inner: SqsQueue,
    fail_next: AtomicU32,
}

impl FlakyQueue {
    fn refuse(&self) -> bool {
        self.fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

#[async_trait]
impl WorkQueue for FlakyQueue {
    async fn enqueue(&self, items: &[WorkItem]) -> Result<(), QueueError> {
        if self.refuse() {
            return Err(QueueError::Unavailable("injected by the chaos run".into()));
        }
        self.inner.enqueue(items).await
    }

    async fn enqueue_delayed(&self, item: &WorkItem, delay: Duration) -> Result<(), QueueError> {
        if self.refuse() {
            return Err(QueueError::Unavailable("injected by the chaos run".into()));
        }
        self.inner.enqueue_delayed(item, delay).await
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Connected,
    /// Revoked; connects again at this delivery index.
    Revoked {
        reconnect_at: usize,
    },
}

struct Person {
    kind: ProviderKind,
    user: String,
    link: Link,
    /// Index of the first delivery after the person's latest Fitbit revocation: work
    /// queued before it was dropped with their tokens.
    epoch_start: usize,
}

/// One announced (person, collection, day).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Announced {
    person: usize,
    collection: Collection,
    date: Date,
}

struct Body {
    kind: ProviderKind,
    entries: Vec<Announced>,
}

fn fitbit_collection_type(c: Collection) -> &'static str {
    match c {
        Collection::Activities => "activities",
        Collection::Sleep => "sleep",
        Collection::Body => "body",
    }
}

/// What Polar's webhook announces: activity and sleep, never weight.
const POLAR_ANNOUNCES: [Collection; 2] = [Collection::Activities, Collection::Sleep];

/// The event Polar announces a collection with (it announces no weight).
fn polar_event(c: Collection) -> &'static str {
    match c {
        Collection::Sleep => "SLEEP",
        Collection::Activities | Collection::Body => "ACTIVITY_SUMMARY",
    }
}

fn google_data_type(c: Collection, rng: &mut StdRng) -> &'static str {
    match c {
        // Google announces each activity data type on its own; all are one collection.
        Collection::Activities => {
            ["steps", "distance", "total-calories", "active-zone-minutes"][rng.random_range(0..4)]
        }
        Collection::Sleep => "sleep",
        Collection::Body => "weight",
    }
}

/// Runs one chaos run against the local stack (`tests/local/up.sh`).
pub async fn run(config: ChaosConfig) -> Report {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut p = Pipeline::start_with(PipelineOptions {
        // The template's redrive count; waits scaled down 100 times (30 s → 300 ms) with
        // the fault windows below.
        max_receive_count: 5,
        visibility_timeout_secs: 5,
        backoff_base: Duration::from_millis(300),
    })
    .await;
    // The webhook sends through a queue that refuses on demand.
    let flaky = Arc::new(FlakyQueue {
        inner: SqsQueue::new(aws_sdk_sqs::Client::new(&p.env.aws), &p.work_url),
        fail_next: AtomicU32::new(0),
    });
    let secrets = Arc::new(SecretCache::new(Arc::new(SecretsManagerSource::new(
        aws_sdk_secretsmanager::Client::new(&p.env.aws),
    ))));
    p.webhook = WebhookService::new(
        registry::webhooks(&p.env.settings.providers, wiring::http_client(), secrets),
        flaky.clone(),
        crate::stack_clock(),
    );
    let sandbox = &p.env.sandbox;
    // The oracle fetches every day again at the end; quotas are exercised by the 429s.
    sandbox.google_health.set_rate_limits(100_000, 1_000_000);
    sandbox.fitbit.set_rate_limit(100_000);
    sandbox
        .polar
        .set_rate_limits(fitbridge_sandbox::polar::RateLimits {
            short_base: 1_000_000,
            short_per_person: 0,
            long_base: 10_000_000,
            long_per_person: 0,
        });

    let mut report = Report {
        seed: config.seed,
        ..Report::default()
    };
    let mut people = Vec::with_capacity(config.people);
    for i in 0..config.people {
        // Two in five at Fitbit (the migration's starting point), two at Google Health,
        // one at Polar.
        let kind = match i % 5 {
            0 | 1 => ProviderKind::Fitbit,
            2 | 3 => ProviderKind::GoogleHealth,
            _ => ProviderKind::Polar,
        };
        let user = match kind {
            ProviderKind::Fitbit => p.connected_user(FITBIT_SCOPES).await,
            ProviderKind::GoogleHealth => p.connected_google_user(GOOGLE_SCOPES).await,
            ProviderKind::Polar => p.connected_polar_user().await,
        };
        people.push(Person {
            kind,
            user,
            link: Link::Connected,
            epoch_start: 0,
        });
    }
    report.fitbit_people = people
        .iter()
        .filter(|p| p.kind == ProviderKind::Fitbit)
        .count();
    report.google_people = people
        .iter()
        .filter(|p| p.kind == ProviderKind::GoogleHealth)
        .count();
    report.polar_people = people.len() - report.fitbit_people - report.google_people;

    // The announcements, in bodies of 1 to 5 entries of one provider; a third of the
    // bodies delivered twice or three times; everything out of order.
    let today = crate::stack_now().date();
    let by_kind = |kind: ProviderKind| -> Vec<usize> {
        (0..people.len())
            .filter(|i| people[*i].kind == kind)
            .collect()
    };
    let fitbit_people = by_kind(ProviderKind::Fitbit);
    let google_people = by_kind(ProviderKind::GoogleHealth);
    let polar_people = by_kind(ProviderKind::Polar);
    let mut bodies: Vec<Body> = Vec::new();
    let mut announced = 0;
    while announced < config.notifications {
        let kind = match rng.random_range(0..10) {
            0..=3 => ProviderKind::Fitbit,
            4..=7 => ProviderKind::GoogleHealth,
            _ => ProviderKind::Polar,
        };
        let pool = match kind {
            ProviderKind::Fitbit => &fitbit_people,
            ProviderKind::GoogleHealth => &google_people,
            ProviderKind::Polar => &polar_people,
        };
        if pool.is_empty() {
            continue;
        }
        // Polar POSTs one event at a time, and announces activity and sleep only.
        let (most, collections): (usize, &[Collection]) = match kind {
            ProviderKind::Polar => (1, &POLAR_ANNOUNCES),
            _ => (5, &Collection::ALL),
        };
        let n = rng
            .random_range(1..=most)
            .min(config.notifications - announced);
        let entries = (0..n)
            .map(|_| Announced {
                person: pool[rng.random_range(0..pool.len())],
                collection: collections[rng.random_range(0..collections.len())],
                date: today - time::Duration::days(rng.random_range(1..=config.days)),
            })
            .collect();
        announced += n;
        bodies.push(Body { kind, entries });
    }
    let mut deliveries: Vec<usize> = Vec::new();
    for (b, _) in bodies.iter().enumerate() {
        let copies = if rng.random_bool(1.0 / 3.0) {
            rng.random_range(2..=3)
        } else {
            1
        };
        deliveries.extend(std::iter::repeat_n(b, copies));
    }
    deliveries.shuffle(&mut rng);

    // Workers and refreshers run beside the deliveries until told to stop.
    let stop = AtomicBool::new(false);
    let crash_next = AtomicU32::new(0);
    let crashes = AtomicU64::new(0);
    let worker_loops = (0..config.workers).map(|w| {
        let (p, stop, crash_next, crashes) = (&p, &stop, &crash_next, &crashes);
        async move {
            let mut rng = StdRng::seed_from_u64(config.seed ^ ((w as u64 + 1) << 32));
            while !stop.load(Ordering::SeqCst) {
                let crash = crash_next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let worked = if crash {
                    let handled = rng.random_range(0..10);
                    let batch = p.run_worker_and_crash(handled).await;
                    if batch.is_some() {
                        crashes.fetch_add(1, Ordering::SeqCst);
                    } else {
                        crash_next.fetch_add(1, Ordering::SeqCst);
                    }
                    batch.is_some()
                } else {
                    p.run_worker().await.is_some()
                };
                if !worked {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    let refresher_loops = (0..2).map(|_| {
        let (p, stop) = (&p, &stop);
        async move {
            while !stop.load(Ordering::SeqCst) {
                if p.run_refresher().await.is_none() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });

    let mut accepted_bodies: BTreeSet<usize> = BTreeSet::new();
    // Accepted announcements with the delivery index they were accepted at.
    let mut accepted: Vec<(usize, Announced)> = Vec::new();
    let mut clear_parts_at: Option<Instant> = None;
    let driver = async {
        let mut fault = |name: &'static str, report: &mut Report| {
            *report.faults.entry(name).or_default() += 1;
        };
        let mut queue: std::collections::VecDeque<usize> = deliveries.into_iter().collect();
        let mut index = 0usize;
        while let Some(b) = queue.pop_front() {
            index += 1;
            if clear_parts_at.is_some_and(|at| Instant::now() >= at) {
                sandbox
                    .sap
                    .inject_faults(fitbridge_sandbox::sap::FaultInjection {
                        fail_parts_matching: Some(String::new()),
                        ..Default::default()
                    });
                clear_parts_at = None;
            }
            // People whose time to come back has come connect again.
            for person in people.iter_mut() {
                if let Link::Revoked { reconnect_at } = person.link {
                    if index >= reconnect_at {
                        reconnect(&p, person).await;
                        person.link = Link::Connected;
                        fault("reconnect", &mut report);
                    }
                }
            }
            // A fault, now and then.
            if rng.random_bool(0.04) {
                inject_fault(
                    &p,
                    &mut rng,
                    &mut people,
                    &flaky,
                    &crash_next,
                    &mut clear_parts_at,
                    index,
                    &mut report,
                    &mut fault,
                )
                .await;
            }
            let body = &bodies[b];
            // A revoked person has no subscription: the provider announces nothing.
            let entries: Vec<Announced> = body
                .entries
                .iter()
                .copied()
                .filter(|e| people[e.person].link == Link::Connected)
                .collect();
            if entries.is_empty() {
                continue;
            }
            let status = post(&p, body.kind, &entries, &people, &mut rng).await;
            report.deliveries += 1;
            if (200..300).contains(&status) {
                if accepted_bodies.insert(b) {
                    report.notifications_accepted += entries.len();
                }
                accepted.extend(entries.iter().map(|e| (index, *e)));
            } else {
                // The provider delivers a refused body again later.
                assert!(status >= 500, "webhook answered {status} to a valid body");
                report.deliveries_retried += 1;
                queue.push_back(b);
            }
            if index.is_multiple_of(1000) {
                eprintln!(
                    "seed {}: {index} deliveries, {} s",
                    config.seed,
                    started.elapsed().as_secs()
                );
            }
        }
        // Everyone still away comes back; faults end.
        for person in people.iter_mut() {
            if let Link::Revoked { .. } = person.link {
                reconnect(&p, person).await;
                person.link = Link::Connected;
                fault("reconnect", &mut report);
            }
        }
        sandbox.sap.clear_faults();
        sandbox.fitbit.clear_faults();
        sandbox.google_health.clear_faults();
        sandbox.polar.clear_faults();
        sandbox.polar.unthrottle();
        flaky.fail_next.store(0, Ordering::SeqCst);
        crash_next.store(0, Ordering::SeqCst);
        eprintln!(
            "seed {}: all {} deliveries made after {} s; draining",
            config.seed,
            report.deliveries,
            started.elapsed().as_secs()
        );
        // Drained: both queues empty twice in a row, a visibility timeout apart.
        let deadline = Instant::now() + config.time_limit;
        let mut empty_checks = 0;
        while Instant::now() < deadline {
            let pending = p.depth(&p.work_url).await + p.depth(&p.retry_url).await;
            empty_checks = if pending == 0 { empty_checks + 1 } else { 0 };
            if empty_checks >= 2 {
                report.drained = true;
                break;
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        stop.store(true, Ordering::SeqCst);
    };
    futures_util::join!(driver, join_all(worker_loops), join_all(refresher_loops));
    report.faults.insert(
        "worker crash mid-batch",
        crashes.load(Ordering::SeqCst) as u32,
    );

    compare(&p, &people, &accepted, &mut report).await;
    report.dead_letters = p.depth(&p.dlq_url).await;
    report.elapsed = started.elapsed();
    report
}

/// Draws one fault and injects it.
#[allow(clippy::too_many_arguments)]
async fn inject_fault(
    p: &Pipeline,
    rng: &mut StdRng,
    people: &mut [Person],
    flaky: &FlakyQueue,
    crash_next: &AtomicU32,
    clear_parts_at: &mut Option<Instant>,
    index: usize,
    report: &mut Report,
    fault: &mut impl FnMut(&'static str, &mut Report),
) {
    let sandbox = &p.env.sandbox;
    let someone = rng.random_range(0..people.len());
    match rng.random_range(0..100) {
        0..=14 => {
            flaky
                .fail_next
                .fetch_add(rng.random_range(1..=3), Ordering::SeqCst);
            fault("SQS send failure at the webhook", report);
        }
        15..=29 => {
            crash_next.fetch_add(1, Ordering::SeqCst);
        }
        30..=44 => {
            let status = [500, 502, 503][rng.random_range(0..3)];
            sandbox
                .sap
                .fail_next_requests(rng.random_range(1..=3), status);
            fault("SAP 5xx", report);
        }
        45..=52 => {
            // Parts of one person fail for a moment (shorter than the retry budget).
            sandbox.sap.fail_parts_matching(&people[someone].user, 400);
            *clear_parts_at = Some(Instant::now() + Duration::from_millis(500));
            fault("SAP per-part error", report);
        }
        53..=67 => {
            let status = [500, 502, 503][rng.random_range(0..3)];
            let n = rng.random_range(1..=3);
            match rng.random_range(0..3) {
                0 => sandbox.fitbit.fail_next_requests(n, status),
                1 => sandbox.google_health.fail_next_requests(n, status),
                _ => sandbox.polar.fail_next_requests(n, status),
            }
            fault("provider 5xx", report);
        }
        68..=74 => {
            let person = &people[someone];
            match person.kind {
                ProviderKind::Fitbit => sandbox.fitbit.throttle_user(&person.user, 2),
                ProviderKind::GoogleHealth => sandbox.google_health.throttle_user(&person.user, 2),
                // Polar limits the partner: everyone waits for the window's reset.
                ProviderKind::Polar => sandbox.polar.throttle(2),
            }
            fault("provider 429", report);
        }
        75..=94 => {
            // Several of the person's days usually follow: workers race to refresh.
            let person = &mut people[someone];
            match person.kind {
                ProviderKind::Fitbit => sandbox.fitbit.expire_access_token(&person.user),
                ProviderKind::GoogleHealth => {
                    sandbox.google_health.expire_access_token(&person.user)
                }
                // Nothing to refresh: the person is parked needs_reconsent until they
                // connect again, which they do a while later.
                ProviderKind::Polar => {
                    let expired = sandbox.polar.expire_access_token(&person.user);
                    if person.link == Link::Connected {
                        person.link = Link::Revoked {
                            reconnect_at: index + rng.random_range(50..300),
                        };
                    }
                    expired
                }
            };
            fault("expired access token", report);
        }
        _ => {
            let person = &mut people[someone];
            if person.link != Link::Connected {
                return;
            }
            match person.kind {
                ProviderKind::Fitbit => {
                    sandbox.fitbit.revoke_user(&person.user);
                    // Fitbit announces the revocation; the webhook queues it.
                    let body = crate::pipeline::Pipeline::notification_body(&[(
                        "userRevokedAccess",
                        &fitbridge::domain::work::iso_date::format(crate::stack_now().date()),
                        &person.user,
                    )]);
                    let headers = vec![("x-fitbit-signature".to_owned(), p.sign(&body))];
                    // SQS may refuse it too: Fitbit retries until it is taken.
                    while p.post_webhook(ProviderKind::Fitbit, &body, &headers).await >= 500 {}
                    person.epoch_start = index + 1;
                }
                ProviderKind::GoogleHealth => {
                    // Google has no revocation notification: the next refresh finds out.
                    sandbox.google_health.revoke_user(&person.user);
                }
                // Nor has Polar: the next data call's 401 parks them; their registration
                // stays, so their reconnect finds them registered (409).
                ProviderKind::Polar => {
                    sandbox.polar.revoke_user(&person.user);
                }
            }
            person.link = Link::Revoked {
                reconnect_at: index + rng.random_range(50..300),
            };
            fault("revocation", report);
        }
    }
}

/// The person connects again through the real connect flow. An injected provider or SAP
/// failure shows them "try again", and they do.
async fn reconnect(p: &Pipeline, person: &Person) {
    let sandbox = &p.env.sandbox;
    for _ in 0..10 {
        match person.kind {
            ProviderKind::Fitbit => sandbox
                .fitbit
                .set_consent(FitbitConsent::allow_all(&person.user)),
            ProviderKind::GoogleHealth => sandbox
                .google_health
                .set_consent(GoogleConsent::allow_all(&person.user)),
            ProviderKind::Polar => sandbox
                .polar
                .set_consent(fitbridge_sandbox::polar::Consent::allow(&person.user)),
        }
        let status = p.env.connect_to(person.kind, None).await.status();
        if status == 200 {
            return;
        }
        assert!(
            status.is_server_error(),
            "reconnect of {}: {status}",
            person.user
        );
    }
    panic!("{} could not reconnect in 10 attempts", person.user);
}

/// Posts one body as the provider would, signed; returns the webhook's status.
async fn post(
    p: &Pipeline,
    kind: ProviderKind,
    entries: &[Announced],
    people: &[Person],
    rng: &mut StdRng,
) -> u16 {
    let iso = fitbridge::domain::work::iso_date::format;
    match kind {
        ProviderKind::Fitbit => {
            let list: Vec<(String, String, String)> = entries
                .iter()
                .map(|e| {
                    (
                        fitbit_collection_type(e.collection).to_owned(),
                        iso(e.date),
                        people[e.person].user.clone(),
                    )
                })
                .collect();
            let refs: Vec<(&str, &str, &str)> = list
                .iter()
                .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
                .collect();
            let body = Pipeline::notification_body(&refs);
            let headers = vec![("x-fitbit-signature".to_owned(), p.sign(&body))];
            p.post_webhook(kind, &body, &headers).await
        }
        ProviderKind::GoogleHealth => {
            let list: Vec<(String, String, String)> = entries
                .iter()
                .map(|e| {
                    (
                        people[e.person].user.clone(),
                        google_data_type(e.collection, rng).to_owned(),
                        iso(e.date),
                    )
                })
                .collect();
            let refs: Vec<(&str, &str, &str)> = list
                .iter()
                .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
                .collect();
            let body = Pipeline::google_notification_body(&refs);
            let headers = p.google_headers(&body);
            p.post_webhook(kind, &body, &headers).await
        }
        ProviderKind::Polar => {
            // One event per POST: the body names one person's civil day.
            let e = entries.first().expect("one entry");
            let event = polar_event(e.collection);
            let user: u64 = people[e.person].user.parse().expect("numeric Polar id");
            let kind_path = if event == "SLEEP" {
                "sleep"
            } else {
                "activities"
            };
            let body = json!({"event": event, "user_id": user, "date": iso(e.date),
                "timestamp": "2026-11-21T19:58:12Z",
                "url": format!("https://www.polaraccesslink.com/v3/users/{kind_path}/{}", iso(e.date))})
            .to_string()
            .into_bytes();
            let headers = p.polar_headers(event, &body);
            p.post_webhook(kind, &body, &headers).await
        }
    }
}

/// Compares what SAP holds with a fault-free fetch of every announced day.
async fn compare(
    p: &Pipeline,
    people: &[Person],
    accepted: &[(usize, Announced)],
    report: &mut Report,
) {
    let mut expected_days: BTreeSet<Announced> = BTreeSet::new();
    let mut superseded_days: BTreeSet<Announced> = BTreeSet::new();
    for (index, a) in accepted {
        if *index < people[a.person].epoch_start {
            superseded_days.insert(*a);
        } else {
            expected_days.insert(*a);
        }
    }
    superseded_days.retain(|a| !expected_days.contains(a));

    let sync = &p.worker.sync;
    let mut expected: BTreeSet<String> = BTreeSet::new();
    let mut superseded: BTreeSet<String> = BTreeSet::new();
    for (days, into) in [
        (&expected_days, &mut expected),
        (&superseded_days, &mut superseded),
    ] {
        for a in days {
            let person = &people[a.person];
            let user = ProviderUserId(person.user.clone());
            let connection = sync
                .tokens
                .fresh(&PersonKey::of(person.kind, &user))
                .await
                .unwrap_or_else(|e| panic!("{}: no usable connection: {e}", person.user));
            let provider = sync.providers.get(person.kind).expect("provider served");
            let day = provider
                .fetch_day(&connection.tokens.access_token, &user, a.collection, a.date)
                .await
                .unwrap_or_else(|e| panic!("{}: oracle fetch failed: {e}", person.user));
            let source_id = connection.contact.source_id();
            for (metric, _) in day.metrics() {
                into.insert(format!(
                    "{source_id}-{}-{}",
                    fitbridge::domain::work::iso_date::format(a.date),
                    metric.as_str()
                ));
            }
        }
    }
    superseded.retain(|s| !expected.contains(s));

    let ours: BTreeSet<&str> = people.iter().map(|p| p.user.as_str()).collect();
    let mut held: BTreeMap<String, usize> = BTreeMap::new();
    for i in p.env.sandbox.sap.interactions() {
        let (Some(contact), Some(source)) = (
            i.field_str("InteractionContactId"),
            i.field_str("InteractionSourceObject"),
        ) else {
            continue;
        };
        if ours.contains(contact) && !source.contains("-disconnected-") {
            *held.entry(source.to_owned()).or_default() += 1;
        }
    }
    report.expected = expected.len();
    report.imported = expected.iter().filter(|s| held.contains_key(*s)).count();
    report.missing = expected
        .iter()
        .filter(|s| !held.contains_key(*s))
        .cloned()
        .collect();
    report.duplicated = held
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(s, n)| format!("{s} ×{n}"))
        .collect();
    report.superseded = superseded.len();

    for person in people {
        let user = ProviderUserId(person.user.clone());
        let parked = p
            .env
            .store
            .parked(&PersonKey::of(person.kind, &user))
            .await
            .unwrap_or_default()
            .len();
        if parked == 0 {
            continue;
        }
        let reason = match p.env.store.get(&PersonKey::of(person.kind, &user)).await {
            Ok(Some(c)) if c.status == ConnectionStatus::NeedsReconsent => "needs reconsent",
            Ok(Some(c)) if c.status == ConnectionStatus::ProviderGone => "provider gone",
            _ => "unexplained",
        };
        *report.parked.entry(reason.to_owned()).or_default() += parked;
    }
}
