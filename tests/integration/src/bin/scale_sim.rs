//! One simulated day at scale (`tests/local/scale_sim.sh`): the project's real webhook,
//! daily and sync use cases (wired as the functions wire them, the worker behind its real
//! queue adapter) on in-memory ports and a virtual clock, against a Google Health stand-in
//! that enforces the project quota (120,000 requests a minute) and the per-person one (300
//! a minute) and answers 429 past them, the project's as a quota-wide 429. Each collection
//! answers its own metric, as Google does (activities: steps that grow through the day;
//! sleep and body: the same value each time), so a day fetched again shows as a call, and
//! a changed value as a second SAP write.
//!
//! The day: `--people` across six time zones, about five notifications per person through
//! their waking hours (each through the webhook use case) with a burst of Berlin's morning
//! sync (a fifth of its notifications at 07:00–07:15 local), the nightly pull (paced: the
//! daily job every 15 minutes, each zone spread over 120 minutes after its midnight;
//! `--no-pacing`: once at 02:15 UTC, everyone at once, as before), and 1 % new people
//! each queueing a 30-day backfill at a random time.
//!
//! Scale: `--people` is a fraction of a million and every shared quota and capacity is
//! scaled by the same fraction (the project quota, the budget, the worker's batches a
//! second), so calls a minute scale linearly and are printed scaled back to a million;
//! per-person quotas and latencies are not scaled. A fraction of a batch a second accrues
//! until whole. The run's time and memory are linear in people.
//!
//! The worker: `--batches` batches of 10 a second (at a million), each taking a second;
//! what it hands back comes back after its delay (messages waiting on a rate limit are not
//! re-sent as fresh copies here: the receive count is not the point).
//!
//!   tests/local/scale_sim.sh [--people 50000] [--no-budget] [--no-pacing] [--batches 300]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use fitbridge::budget::{MemoryBudget, Unlimited};
use fitbridge::clock::SetClock;
use fitbridge::domain::{
    Collection, Connection, ConnectionStatus, ContactKey, DaySummary, Priority, ProviderKind,
    ProviderUserId, Secret, TokenSet, WorkItem,
};
use fitbridge::events::NoEvents;
use fitbridge::inbound::sqs::{Decision, Delivery, WorkConsumer};
use fitbridge::marketing::memory::MemoryMarketing;
use fitbridge::ports::budget::{BudgetLimits, BudgetScope, RequestBudget};
use fitbridge::ports::catalog::ProviderCatalog;
use fitbridge::ports::clock::SharedClock;
use fitbridge::ports::provider::{
    AuthorizeRequest, Person, Provider, ProviderError, Served, TokenGrant, Webhook, WebhookRequest,
};
use fitbridge::ports::store::{ConnectionStore, FETCH_COALESCE_WINDOW};
use fitbridge::provider::google_health::scopes;
use fitbridge::provider::memory::{MemoryPerson, MemoryProvider};
use fitbridge::provider::registry::{self, Registry};
use fitbridge::queue::memory::MemoryQueue;
use fitbridge::store::memory::MemoryStore;
use fitbridge::use_cases::daily::{DailyPacing, DailyService};
use fitbridge::use_cases::signals::SignalService;
use fitbridge::use_cases::sync::{SyncService, DEFAULT_RETENTION_DAYS};
use fitbridge::use_cases::tokens::TokenService;
use fitbridge::use_cases::webhook::WebhookService;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;
use url::Url;

const KIND: ProviderKind = ProviderKind::GoogleHealth;
const MILLION: f64 = 1_000_000.0;
const PROJECT_PER_MINUTE: f64 = 120_000.0;
const PERSON_PER_MINUTE: u64 = 300;
/// The simulated day starts at noon UTC, so every zone's midnight falls inside it.
const START: OffsetDateTime = time::macros::datetime!(2026-12-06 12:00 UTC);
const DAY: i64 = 86_400;
/// Time after the day for the queues to drain.
const TAIL: i64 = 6 * 3600;
/// Time zones and their shares of the people.
const ZONES: [(&str, f64); 6] = [
    ("Europe/Berlin", 0.40),
    ("Europe/London", 0.15),
    ("America/New_York", 0.20),
    ("America/Los_Angeles", 0.10),
    ("Asia/Tokyo", 0.10),
    ("Australia/Sydney", 0.05),
];

struct Options {
    people: u64,
    budget: bool,
    pacing: bool,
    batches: f64,
}

fn options() -> Options {
    let mut o = Options {
        people: 50_000,
        budget: true,
        pacing: true,
        batches: 300.0,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--people" => o.people = it.next().and_then(|v| v.parse().ok()).expect("a number"),
            "--batches" => o.batches = it.next().and_then(|v| v.parse().ok()).expect("a number"),
            "--no-budget" => o.budget = false,
            "--no-pacing" => o.pacing = false,
            other => panic!("unknown flag {other}"),
        }
    }
    o
}

/// Calls per minute window, and 429s.
#[derive(Default)]
struct Meter {
    minute: i64,
    project: u64,
    person: HashMap<String, u64>,
    per_minute: BTreeMap<i64, u64>,
    person_peak: u64,
    project_429: u64,
    person_429: u64,
    /// Calls per (person, collection, day): a day fetched again shows here.
    calls: HashMap<(String, Collection, time::Date), usize>,
}

/// The provider stand-in: the memory provider behind Google's quotas.
struct Quota {
    inner: Arc<MemoryProvider>,
    clock: SharedClock,
    project_per_minute: u64,
    meter: Mutex<Meter>,
}

#[async_trait]
impl Provider for Quota {
    fn kind(&self) -> ProviderKind {
        KIND
    }
    async fn authorize_url(&self, r: &AuthorizeRequest<'_>) -> Result<Url, ProviderError> {
        self.inner.authorize_url(r).await
    }
    async fn exchange_code(
        &self,
        code: &str,
        verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<TokenGrant, ProviderError> {
        self.inner.exchange_code(code, verifier, redirect_uri).await
    }
    async fn refresh(&self, tokens: &TokenSet) -> Result<TokenSet, ProviderError> {
        self.inner.refresh(tokens).await
    }
    async fn revoke(&self, tokens: &TokenSet) -> Result<(), ProviderError> {
        self.inner.revoke(tokens).await
    }
    async fn identify(&self, grant: &TokenGrant) -> Result<Person, ProviderError> {
        self.inner.identify(grant).await
    }
    async fn fetch_day(
        &self,
        token: &Secret,
        user: &ProviderUserId,
        collection: Collection,
        date: time::Date,
    ) -> Result<DaySummary, ProviderError> {
        let now = self.clock.now().unix_timestamp();
        {
            let mut m = self.meter.lock().unwrap();
            if m.minute != now / 60 {
                m.minute = now / 60;
                m.project = 0;
                m.person.clear();
            }
            let reset = std::time::Duration::from_secs((60 - now % 60) as u64);
            if m.project >= self.project_per_minute {
                m.project_429 += 1;
                return Err(ProviderError::QuotaExhausted { retry_after: reset });
            }
            let mine = m.person.entry(user.0.clone()).or_default();
            if *mine >= PERSON_PER_MINUTE {
                m.person_429 += 1;
                return Err(ProviderError::RateLimited { retry_after: reset });
            }
            *mine += 1;
            let mine = *mine;
            m.person_peak = m.person_peak.max(mine);
            m.project += 1;
            *m.per_minute.entry(now / 60).or_default() += 1;
            *m.calls
                .entry((user.0.clone(), collection, date))
                .or_default() += 1;
        }
        self.inner.fetch_day(token, user, collection, date).await?;
        // Something to write, one metric per collection as a real provider answers: a
        // day's steps change through the day; a night's sleep and a weight do not.
        Ok(match collection {
            Collection::Activities => DaySummary {
                steps: Some((now / 60) as u64 % 20_000),
                ..Default::default()
            },
            Collection::Sleep => DaySummary {
                minutes_asleep: Some(420),
                ..Default::default()
            },
            Collection::Body => DaySummary {
                weight_kg: Some(72.5),
                ..Default::default()
            },
        })
    }
    async fn subscribe(
        &self,
        token: &Secret,
        user: &ProviderUserId,
        collections: &[Collection],
    ) -> Vec<Collection> {
        self.inner.subscribe(token, user, collections).await
    }
    async fn unsubscribe(&self, token: &Secret, user: &ProviderUserId, collections: &[Collection]) {
        self.inner.unsubscribe(token, user, collections).await
    }
}

/// A message on the simulated work queue.
struct Msg {
    item: WorkItem,
    sent_at: OffsetDateTime,
    receive_count: u32,
    /// Queued by the daily job (a new person's yesterday is not a nightly pull).
    nightly: bool,
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let o = options();
    let wall = Instant::now();
    let f = o.people as f64 / MILLION;
    let clock = Arc::new(SetClock::frozen(START));
    let shared: SharedClock = clock.clone();
    let inner = Arc::new(MemoryProvider::new(KIND, shared.clone()).with_reusable_refresh_tokens());
    let provider = Arc::new(Quota {
        inner: inner.clone(),
        clock: shared.clone(),
        project_per_minute: (PROJECT_PER_MINUTE * f).round() as u64,
        meter: Mutex::default(),
    });
    let store = Arc::new(MemoryStore::new(shared.clone()));
    let marketing = Arc::new(MemoryMarketing::new());
    let queue = Arc::new(MemoryQueue::new());
    let providers: Served<dyn Provider> = [(KIND, provider.clone() as Arc<dyn Provider>)]
        .into_iter()
        .collect();
    let budget: Arc<dyn RequestBudget> = if o.budget {
        let limits = BudgetLimits {
            per_minute: (f64::from(registry::default_budget(KIND)) * f).round() as u32,
            daily_percent: 80,
            backfill_percent: 50,
        };
        Arc::new(MemoryBudget::new(
            HashMap::from([(BudgetScope::Provider(KIND), limits)]),
            shared.clone(),
        ))
    } else {
        Arc::new(Unlimited)
    };
    let tokens = Arc::new(TokenService::new(
        providers.clone(),
        store.clone(),
        store.clone(),
        shared.clone(),
    ));
    let worker = WorkConsumer {
        sync: SyncService {
            providers,
            tokens,
            connections: store.clone(),
            token_store: store.clone(),
            interactions: marketing.clone(),
            ledger: store.clone(),
            fetch_log: store.clone(),
            parked: store.clone(),
            retry_queue: queue.clone(),
            signals: Arc::new(SignalService {
                store: store.clone(),
                sink: marketing.clone(),
                events: Arc::new(NoEvents),
                settings: Default::default(),
                clock: shared.clone(),
            }),
            catalog: registry::catalog(),
            retention: time::Duration::days(DEFAULT_RETENTION_DAYS.into()),
            fetch_coalesce: FETCH_COALESCE_WINDOW,
            budget,
            clock: shared.clone(),
        },
        work_queue: queue.clone(),
        redelivery: queue.clone(),
        max_receive_count: u32::MAX,
        backoff_base: std::time::Duration::from_secs(30),
    };
    let webhook_queue = Arc::new(MemoryQueue::new());
    let webhook = WebhookService::new(
        [(KIND, inner.clone() as Arc<dyn Webhook>)]
            .into_iter()
            .collect(),
        webhook_queue.clone(),
        shared.clone(),
    );
    let daily_queue = Arc::new(MemoryQueue::new());
    let daily = DailyService {
        directory: store.clone(),
        queue: daily_queue.clone(),
        segments: 4,
        catalog: registry::catalog(),
        pacing: o.pacing.then_some(DailyPacing {
            window: std::time::Duration::from_secs(120 * 60),
            period: std::time::Duration::from_secs(15 * 60),
        }),
        clock: shared.clone(),
    };

    // The people, their notifications and the new ones' connect times.
    let granted = [scopes::ACTIVITY, scopes::SLEEP, scopes::MEASUREMENTS].join(" ");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut notifications: Vec<Vec<(String, Collection, time::Date)>> =
        (0..DAY + TAIL).map(|_| Vec::new()).collect();
    let mut connects: Vec<(i64, String, String)> = Vec::new();
    let mut zone_of: HashMap<String, &str> = HashMap::new();
    let collections =
        Registry.granted_collections(KIND, &fitbridge::domain::Scopes::parse(&granted));
    let mut n = 0u64;
    for (zone, share) in ZONES {
        let tz = jiff::tz::TimeZone::get(zone).unwrap();
        for _ in 0..(o.people as f64 * share).round() as u64 {
            let user = format!("U{n:07}");
            n += 1;
            inner.add_person(&user, MemoryPerson::default(), &granted);
            let tokens = inner.grant(&user, &granted);
            store
                .save_connected(&Connection {
                    provider: KIND,
                    user_id: ProviderUserId(user.clone()),
                    tokens,
                    status: ConnectionStatus::Active,
                    contact: ContactKey {
                        origin: Registry.default_mapping(KIND).contact_origin,
                        id: user.clone(),
                    },
                    customer_ref: None,
                    timezone: Some(zone.into()),
                    subscriptions: Default::default(),
                    version: 0,
                    consented_at: None,
                })
                .await
                .unwrap();
            zone_of.insert(user.clone(), zone);
            let mut count = 0;
            if zone == "Europe/Berlin" && rng.random_bool(0.2) {
                // The morning sync: the watch meets the phone.
                let local = jiff::civil::date(2026, 12, 7)
                    .at(7, 0, 0, 0)
                    .to_zoned(tz.clone())
                    .unwrap();
                let at = local.timestamp().as_second() - START.unix_timestamp()
                    + rng.random_range(0..900);
                let c = collections[rng.random_range(0..collections.len())];
                notifications[at as usize].push((user.clone(), c, local_date(zone, at)));
                count += 1;
            }
            while count < 5 {
                let at = rng.random_range(0..DAY);
                let hour = jiff::Timestamp::from_second(START.unix_timestamp() + at)
                    .unwrap()
                    .to_zoned(tz.clone())
                    .hour();
                if !(7..23).contains(&hour) {
                    continue;
                }
                let c = collections[rng.random_range(0..collections.len())];
                notifications[at as usize].push((user.clone(), c, local_date(zone, at)));
                count += 1;
            }
            if rng.random_bool(0.01) {
                connects.push((rng.random_range(0..DAY), user, zone.to_owned()));
            }
        }
    }
    connects.sort();
    let mut connects: VecDeque<_> = connects.into();
    let setup = wall.elapsed();

    // The day, a second at a time.
    let mut later: Vec<Vec<Msg>> = (0..DAY + TAIL + 3600).map(|_| Vec::new()).collect();
    let mut ready: VecDeque<Msg> = VecDeque::new();
    // The worker's batches a second, scaled: a fraction of a batch accrues until whole
    // (at most one second's worth, or one batch, waits unused).
    let per_second = o.batches * f;
    let mut credit = 0.0f64;
    let mut batches_per_minute: BTreeMap<i64, usize> = BTreeMap::new();
    let mut freshness: Vec<i64> = Vec::new();
    let mut landed: HashMap<&str, i64> = HashMap::new();
    let mut daily_left = 0u64;
    let mut processed = 0u64;
    let mut waits: BTreeMap<(&str, u64), u64> = BTreeMap::new();
    let schedule_at = |s: i64| s.rem_euclid(DAY);
    let unpaced_run = (time::macros::datetime!(2026-12-07 02:15 UTC) - START).whole_seconds();
    for t in 0..DAY + TAIL {
        let now = START + time::Duration::seconds(t);
        clock.set(now);
        if t % 3600 == 0 {
            eprintln!(
                "hour {} wall {:.1?} ready {} processed {processed}",
                t / 3600,
                wall.elapsed(),
                ready.len()
            );
        }
        // Notifications, each through the webhook use case.
        if t < DAY && !notifications[t as usize].is_empty() {
            let entries: Vec<(&str, Collection, time::Date)> = notifications[t as usize]
                .iter()
                .map(|(u, c, d)| (u.as_str(), *c, *d))
                .collect();
            for chunk in entries.chunks(50) {
                let body = MemoryProvider::notification(chunk);
                let headers = vec![(
                    "authorization".to_owned(),
                    format!("Bearer {}", inner.webhook_secret()),
                )];
                let request = WebhookRequest {
                    method: "POST",
                    query: &[],
                    headers: &headers,
                    body: &body,
                };
                webhook.receive(KIND, &request).await.expect("accepted");
            }
        }
        for item in webhook_queue.drain() {
            ready.push_back(Msg {
                item,
                sent_at: now,
                receive_count: 0,
                nightly: false,
            });
        }
        // The daily job on its schedule.
        let due = if o.pacing {
            t < DAY && schedule_at(t) % 900 == 0
        } else {
            t == unpaced_run
        };
        if due {
            daily.run().await.unwrap();
        }
        for (item, delay) in daily_queue.sent() {
            daily_left += 1;
            later[(t + delay.as_secs() as i64) as usize].push(Msg {
                item,
                sent_at: now + delay,
                receive_count: 0,
                nightly: true,
            });
        }
        daily_queue.drain();
        // New people: yesterday and 29 days before, as the connect flow queues them.
        while connects.front().is_some_and(|(at, _, _)| *at <= t) {
            let (_, user, zone) = connects.pop_front().unwrap();
            let yesterday =
                fitbridge::domain::local_day::yesterday(Some(&zone), shared.timestamp());
            for back in 0..30 {
                let day = yesterday - time::Duration::days(back);
                let item =
                    WorkItem::sync(KIND, ProviderUserId(user.clone()), day, collections.clone())
                        .at(if back == 0 {
                            Priority::Daily
                        } else {
                            Priority::Backfill
                        });
                ready.push_back(Msg {
                    item,
                    sent_at: now,
                    receive_count: 0,
                    nightly: false,
                });
            }
        }
        ready.extend(std::mem::take(&mut later[t as usize]));

        // The worker: the batches of 10 its capacity allows this second.
        credit = (credit + per_second).min(per_second.max(1.0));
        let capacity = credit.floor() as usize;
        let mut batches = 0;
        while batches < capacity && !ready.is_empty() {
            let take = ready.len().min(10);
            let batch: Vec<Msg> = ready.drain(..take).collect();
            batches += 1;
            let deliveries: Vec<Delivery> = batch
                .iter()
                .map(|m| Delivery {
                    body: serde_json::to_string(&m.item).unwrap(),
                    receive_count: m.receive_count + 1,
                    sent_at: m.sent_at,
                })
                .collect();
            let decisions = worker.decide(&deliveries).await;
            processed += batch.len() as u64;
            for (m, d) in batch.into_iter().zip(decisions) {
                match d {
                    Decision::Delete => {
                        // Done a second later, when the batch's SAP write returns.
                        let done = t + 1;
                        match m.item.priority {
                            Priority::Notification => {
                                freshness.push(done - (m.sent_at - START).whole_seconds())
                            }
                            Priority::Daily if m.nightly => {
                                let zone = zone_of[&m.item.user_id.0];
                                let at = landed.entry(zone).or_default();
                                *at = (*at).max(done);
                                daily_left = daily_left.saturating_sub(1);
                            }
                            Priority::Daily | Priority::Backfill => {}
                        }
                    }
                    Decision::RedeliverAfter(after) => {
                        *waits
                            .entry((m.item.priority.as_str(), after.as_secs().min(120)))
                            .or_default() += 1;
                        let at = t + (after.as_secs() as i64).max(1);
                        later[at.min(DAY + TAIL + 3599) as usize].push(Msg {
                            receive_count: m.receive_count + 1,
                            ..m
                        });
                    }
                }
            }
        }
        credit -= batches as f64;
        *batches_per_minute.entry(t / 60).or_default() += batches;
        // Fresh copies and the retry queue are not expected (no receive limit, long
        // tokens): anything sent there goes back on the queue.
        for item in queue.drain() {
            ready.push_back(Msg {
                item,
                sent_at: now,
                receive_count: 0,
                nightly: false,
            });
        }
        if t >= DAY && ready.is_empty() && later[t as usize..].iter().all(Vec::is_empty) {
            break;
        }
    }

    eprintln!("handed back (priority, seconds ≤ 120): {waits:?}");
    // The table.
    let m = provider.meter.lock().unwrap();
    let scale = 1.0 / f;
    let peak = m.per_minute.values().copied().max().unwrap_or(0);
    let sap_writes: u64 = marketing
        .interactions()
        .iter()
        .map(|i| i.writes as u64)
        .sum();
    freshness.sort_unstable();
    println!(
        "scale simulation: {} people (1/{:.0} of a million), budget {}, daily pull {}, \
         worker {:.0} batches/s at a million; {} messages, wall {:.0?} (setup {:.0?})",
        o.people,
        scale,
        if o.budget { "on" } else { "off" },
        if o.pacing {
            "paced over 120 min"
        } else {
            "at once (02:15 UTC)"
        },
        o.batches,
        processed,
        wall.elapsed(),
        setup
    );
    println!("| figure | value | quota / goal |");
    println!("|---|---|---|");
    println!(
        "| peak provider calls a minute (scaled to a million) | {:.0} | 120,000 (budget {}) |",
        peak as f64 * scale,
        if o.budget { "100,000" } else { "off" }
    );
    println!(
        "| peak calls a minute for one person | {} | 300 |",
        m.person_peak
    );
    println!(
        "| provider calls in the day (scaled) | {:.0} | 86,400,000 |",
        m.per_minute.values().sum::<u64>() as f64 * scale
    );
    // A day fetched more often than it was announced (five notifications and the nightly
    // pull at most here) would show as a high maximum.
    println!(
        "| provider calls per (person, collection, day), mean / max | {:.2} / {} | at most one per announcement |",
        m.calls.values().sum::<usize>() as f64 / m.calls.len().max(1) as f64,
        m.calls.values().max().unwrap_or(&0)
    );
    println!(
        "| project-level 429s (scaled) | {:.0} | 0 |",
        m.project_429 as f64 * scale
    );
    println!(
        "| per-person 429s (scaled) | {:.0} | — |",
        m.person_429 as f64 * scale
    );
    println!(
        "| SAP interaction writes in the day (scaled) | {:.0} | the tenant's |",
        sap_writes as f64 * scale
    );
    println!(
        "| peak worker batches a second (scaled) | {:.0} | {:.0} |",
        batches_per_minute.values().copied().max().unwrap_or(0) as f64 / 60.0 * scale,
        o.batches
    );
    for (zone, _) in ZONES {
        // Every zone's 7 December begins inside the simulated day (START is noon UTC).
        let midnight =
            fitbridge::domain::local_day::end_of(Some(zone), time::macros::date!(2026 - 12 - 06))
                .as_second()
                - START.unix_timestamp();
        let at = landed.get(zone).copied().unwrap_or(0);
        let when = if at >= midnight {
            format!("{} after local midnight", minutes(at - midnight))
        } else {
            // Unpaced, one run at 02:15 UTC comes before America's midnight: it pulls
            // the day before, and the day that just ended waits a day.
            format!("{} before local midnight", minutes(midnight - at))
        };
        println!("| last daily pull landed, {zone} | {when} | within 120 min |");
    }
    println!("| daily pulls not landed at the end | {daily_left} | 0 |");
    println!(
        "| notification → SAP p50 / p99 / max | {} / {} / {} | p99 ≤ 2 min |",
        minutes(percentile(&freshness, 0.5)),
        minutes(percentile(&freshness, 0.99)),
        minutes(freshness.last().copied().unwrap_or(0))
    );
}

fn minutes(seconds: i64) -> String {
    if seconds < 120 {
        format!("{seconds} s")
    } else {
        format!("{} min", seconds / 60)
    }
}

/// The zone's date `at` seconds into the simulated day.
fn local_date(zone: &str, at: i64) -> time::Date {
    let now = jiff::Timestamp::from_second(START.unix_timestamp() + at).unwrap();
    fitbridge::domain::local_day::today(Some(zone), now)
}
