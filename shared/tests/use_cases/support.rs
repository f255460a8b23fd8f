//! One world of in-memory ports wired exactly as `wiring.rs` wires the real ones.

use fitbridge::domain::PersonKey;
use std::sync::Arc;
use std::time::Duration;

use fitbridge::clock::SetClock;
use fitbridge::domain::{
    Collection, Connection, ConnectionStatus, ContactKey, DaySummary, ProviderKind, ProviderUserId,
    WorkItem,
};
use fitbridge::events::MemoryEvents;
use fitbridge::inbound::sqs::{Decision, Delivery, RetryConsumer, WorkConsumer};
use fitbridge::marketing::memory::MemoryMarketing;
use fitbridge::ports::budget::RequestBudget;
use fitbridge::ports::catalog::ProviderCatalog;
use fitbridge::ports::clock::{Clock, SharedClock};
use fitbridge::ports::provider::{Provider, Served, Webhook};
use fitbridge::ports::queue::{RetryQueue, WorkQueue};
use fitbridge::ports::store::ConnectionStore;
use fitbridge::ports::store::FETCH_COALESCE_WINDOW;
use fitbridge::provider::memory::{MemoryPerson, MemoryProvider};
use fitbridge::provider::registry::{self, Registry};
use fitbridge::queue::memory::MemoryQueue;
use fitbridge::secret_store::{CachedLinkKeys, MemorySecrets, SecretCache};
use fitbridge::store::memory::MemoryStore;
use fitbridge::use_cases::connect::{ConnectService, ConnectSettings};
use fitbridge::use_cases::daily::DailyService;
use fitbridge::use_cases::refresh::RefreshService;
use fitbridge::use_cases::signals::{SignalService, SignalSettings};
use fitbridge::use_cases::sync::{SyncService, Work, DEFAULT_RETENTION_DAYS};
use fitbridge::use_cases::tokens::TokenService;
use fitbridge::use_cases::webhook::WebhookService;
use time::{Date, OffsetDateTime};

/// The provider the memory provider plays, and its scope vocabulary.
pub const KIND: ProviderKind = ProviderKind::Fitbit;
/// The provider people of [`KIND`] migrate to.
pub const SUCCESSOR: ProviderKind = ProviderKind::GoogleHealth;
pub const ALL_SCOPES: &str = "profile activity sleep weight";
pub const MAX_RECEIVE_COUNT: u32 = 5;
pub const LINK_KEY: &str = "link-key";
/// When every world's clock starts: a Wednesday in the middle of November 2026, whose
/// last 30 days hold no month's first week. Tests of the calendar set their own.
pub const START: OffsetDateTime = time::macros::datetime!(2026-11-18 10:00 UTC);
/// How long what is kept about a disconnected person lasts: the default.
pub const RETENTION: time::Duration = time::Duration::days(DEFAULT_RETENTION_DAYS as i64);

pub struct World {
    pub provider: Arc<MemoryProvider>,
    /// The provider that succeeds [`KIND`], with reusable refresh tokens.
    pub successor: Arc<MemoryProvider>,
    pub store: Arc<MemoryStore>,
    pub queue: Arc<MemoryQueue>,
    pub retry_queue: Arc<MemoryQueue>,
    pub marketing: Arc<MemoryMarketing>,
    /// What the signals published.
    pub events: Arc<MemoryEvents>,
    /// Every use case's and adapter's clock: [`START`] unless a test sets it.
    pub clock: Arc<SetClock>,
    pub tokens: Arc<TokenService>,
    pub worker: WorkConsumer,
    pub refresher: RetryConsumer,
    pub connect: ConnectService,
    pub webhook: WebhookService,
    pub daily: DailyService,
}

impl World {
    pub fn new() -> World {
        World::build(false, SignalSettings::default(), 0, false)
    }

    /// A world whose clock stands still: it moves only when a test moves it, so what a
    /// test compares times with never depends on how fast it ran.
    pub fn with_frozen_clock() -> World {
        World::build(false, SignalSettings::default(), 0, true)
    }

    /// A world whose provider's refresh tokens stay valid after use.
    pub fn with_reusable_refresh_tokens() -> World {
        World::build(true, SignalSettings::default(), 0, false)
    }

    /// A world whose connects queue the import of the last `days` days.
    pub fn with_backfill(days: u32) -> World {
        World::build(false, SignalSettings::default(), days, false)
    }

    /// A world whose campaign signals run these rules (JSON, as `SIGNAL_RULES`).
    pub fn with_rules(rules: &str) -> World {
        World::build(
            false,
            SignalSettings {
                rules: fitbridge::domain::signals::rules::Rules::parse(rules).unwrap(),
                ..SignalSettings::default()
            },
            0,
            false,
        )
    }

    fn build(
        reusable_refresh_tokens: bool,
        signals: SignalSettings,
        backfill_days: u32,
        frozen: bool,
    ) -> World {
        let clock = Arc::new(if frozen {
            SetClock::frozen(START)
        } else {
            SetClock::new(START)
        });
        let shared: SharedClock = clock.clone();
        let provider = MemoryProvider::new(KIND, shared.clone());
        let provider = Arc::new(if reusable_refresh_tokens {
            provider.with_reusable_refresh_tokens()
        } else {
            provider
        });
        let successor =
            Arc::new(MemoryProvider::new(SUCCESSOR, shared.clone()).with_reusable_refresh_tokens());
        let store = Arc::new(MemoryStore::new(shared.clone()));
        let queue = Arc::new(MemoryQueue::new());
        let retry_queue = Arc::new(MemoryQueue::new());
        let marketing = Arc::new(MemoryMarketing::new());
        let events = Arc::new(MemoryEvents::default());
        let providers: Served<dyn Provider> = [
            (KIND, provider.clone() as Arc<dyn Provider>),
            (SUCCESSOR, successor.clone() as Arc<dyn Provider>),
        ]
        .into_iter()
        .collect();
        let webhooks: Served<dyn Webhook> = [
            (KIND, provider.clone() as Arc<dyn Webhook>),
            (SUCCESSOR, successor.clone() as Arc<dyn Webhook>),
        ]
        .into_iter()
        .collect();
        let secrets = Arc::new(SecretCache::new(Arc::new(MemorySecrets::new([(
            "link",
            serde_json::json!({"key": LINK_KEY}),
        )]))));
        let tokens = Arc::new(TokenService::new(
            providers.clone(),
            store.clone(),
            store.clone(),
            shared.clone(),
        ));
        let sync = SyncService {
            providers: providers.clone(),
            tokens: tokens.clone(),
            connections: store.clone(),
            token_store: store.clone(),
            interactions: marketing.clone(),
            ledger: store.clone(),
            fetch_log: store.clone(),
            parked: store.clone(),
            retry_queue: retry_queue.clone(),
            signals: Arc::new(SignalService {
                store: store.clone(),
                sink: marketing.clone(),
                events: events.clone(),
                settings: signals,
                clock: shared.clone(),
            }),
            catalog: registry::catalog(),
            retention: RETENTION,
            fetch_coalesce: FETCH_COALESCE_WINDOW,
            budget: std::sync::Arc::new(fitbridge::budget::Unlimited),
            clock: shared.clone(),
        };
        let worker = WorkConsumer {
            sync,
            work_queue: queue.clone(),
            redelivery: queue.clone(),
            max_receive_count: MAX_RECEIVE_COUNT,
            backoff_base: Duration::from_secs(30),
        };
        let refresher = RetryConsumer {
            refresh: RefreshService {
                tokens: tokens.clone(),
                work_queue: queue.clone(),
                parked: store.clone(),
            },
            redelivery: retry_queue.clone(),
            backoff_base: Duration::from_secs(30),
            clock: shared.clone(),
        };
        let connect = ConnectService {
            providers,
            attempts: store.clone(),
            connections: store.clone(),
            marketing: marketing.clone(),
            link_keys: Arc::new(CachedLinkKeys {
                cache: secrets,
                secret_id: "link".into(),
            }),
            settings: ConnectSettings {
                public_base_url: Some("https://fitbridge.test".parse().unwrap()),
                backfill_days,
                require_signed_links: false,
            },
            mappings: registry::default_mappings(),
            resume: Some((store.clone(), queue.clone())),
            catalog: registry::catalog(),
            clock: shared.clone(),
        };
        World {
            webhook: WebhookService::new(webhooks, queue.clone(), shared.clone()),
            daily: DailyService {
                directory: store.clone(),
                queue: queue.clone(),
                segments: 4,
                catalog: registry::catalog(),
                pacing: None,
                clock: shared,
            },
            provider,
            successor,
            store,
            queue,
            retry_queue,
            marketing,
            events,
            clock,
            tokens,
            worker,
            refresher,
            connect,
        }
    }

    /// Another worker container over this world's table, provider and SAP, asking
    /// `budget` before its calls (containers share nothing else in memory).
    pub fn worker_with(&self, budget: Arc<dyn RequestBudget>) -> SyncService {
        let shared: SharedClock = self.clock.clone();
        let providers: Served<dyn Provider> = [
            (KIND, self.provider.clone() as Arc<dyn Provider>),
            (SUCCESSOR, self.successor.clone() as Arc<dyn Provider>),
        ]
        .into_iter()
        .collect();
        SyncService {
            providers,
            tokens: self.tokens.clone(),
            connections: self.store.clone(),
            token_store: self.store.clone(),
            interactions: self.marketing.clone(),
            ledger: self.store.clone(),
            fetch_log: self.store.clone(),
            parked: self.store.clone(),
            retry_queue: self.retry_queue.clone(),
            signals: Arc::new(SignalService {
                store: self.store.clone(),
                sink: self.marketing.clone(),
                events: self.events.clone(),
                settings: SignalSettings::default(),
                clock: shared.clone(),
            }),
            catalog: registry::catalog(),
            retention: RETENTION,
            fetch_coalesce: FETCH_COALESCE_WINDOW,
            budget,
            clock: shared,
        }
    }

    /// The clock shows noon (UTC) of `day`, and runs on from there.
    pub fn set_today(&self, day: Date) {
        self.clock
            .set(day.midnight().assume_utc() + time::Duration::hours(12));
    }

    /// Now, by the world's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The person's yesterday in `timezone`, by the world's clock.
    pub fn yesterday_in(&self, timezone: &str) -> Date {
        fitbridge::domain::local_day::yesterday(Some(timezone), self.clock.timestamp())
    }

    /// A person connected with `scopes`, as the connect flow leaves them.
    pub async fn connected(&self, user: &str, scopes: &str) -> Connection {
        self.provider
            .add_person(user, MemoryPerson::default(), scopes);
        let tokens = self.provider.grant(user, scopes);
        let connection = Connection {
            provider: KIND,
            user_id: ProviderUserId(user.into()),
            tokens,
            status: ConnectionStatus::Active,
            contact: contact(user),
            customer_ref: None,
            timezone: Some("Europe/Berlin".into()),
            subscriptions: Default::default(),
            version: 0,
            consented_at: None,
        };
        self.store.save_connected(&connection).await.unwrap();
        self.connection(user).await.unwrap()
    }

    pub async fn connection(&self, user: &str) -> Option<Connection> {
        self.store
            .get(&PersonKey::of(KIND, &ProviderUserId(user.into())))
            .await
            .unwrap()
    }

    /// A work item, first sent now.
    pub fn work(&self, item: WorkItem) -> Work {
        Work {
            item,
            sent_at: self.now(),
        }
    }

    /// Work items, first sent now.
    pub fn works(&self, items: &[WorkItem]) -> Vec<Work> {
        items.iter().map(|i| self.work(i.clone())).collect()
    }

    /// A notification sent after everything so far, once the fetch log's coalescing
    /// window is over (the clock moves on by it).
    pub fn later(&self, item: WorkItem) -> Work {
        self.clock
            .advance(FETCH_COALESCE_WINDOW + time::Duration::seconds(1));
        Work {
            item,
            sent_at: self.now(),
        }
    }

    /// Deliveries of these items, first received now.
    pub fn deliveries(&self, items: &[WorkItem], receive_count: u32) -> Vec<Delivery> {
        items
            .iter()
            .map(|i| Delivery {
                body: serde_json::to_string(i).unwrap(),
                receive_count,
                sent_at: self.now(),
            })
            .collect()
    }

    /// Queues these items and drains.
    pub async fn drain_after(&self, items: &[WorkItem]) {
        self.queue.enqueue(items).await.unwrap();
        self.drain().await;
    }

    /// Runs the worker and the refresher until both queues are empty, redelivering what
    /// they hand back (without waiting for the delays). Returns the rounds it took.
    pub async fn drain(&self) -> usize {
        for round in 1..=20 {
            let work = self.queue.drain();
            let retries = self.retry_queue.drain_retries();
            if work.is_empty() && retries.is_empty() {
                return round;
            }
            if !work.is_empty() {
                let decisions = self
                    .worker
                    .decide(&self.deliveries(&work, round as u32))
                    .await;
                // Time passes as the queue makes the messages wait.
                let wait = decisions
                    .iter()
                    .filter_map(|d| match d {
                        Decision::RedeliverAfter(after) => Some(*after),
                        Decision::Delete => None,
                    })
                    .max();
                for (item, d) in work.into_iter().zip(decisions) {
                    if d != Decision::Delete {
                        self.queue.enqueue(&[item]).await.unwrap();
                    }
                }
                if let Some(wait) = wait {
                    self.clock.advance(time::Duration::try_from(wait).unwrap());
                }
            }
            for r in retries {
                let outcome = self.refresher.refresh.handle(&r).await;
                if outcome != fitbridge::domain::Outcome::Done {
                    self.retry_queue.enqueue_retry(&r).await.unwrap();
                }
            }
        }
        panic!("queues not drained in 20 rounds");
    }
}

pub fn contact(user: &str) -> ContactKey {
    ContactKey {
        origin: Registry.default_mapping(KIND).contact_origin,
        id: user.into(),
    }
}

pub fn day(d: u8) -> Date {
    Date::from_calendar_date(2026, time::Month::November, d).unwrap()
}

pub fn sync(user: &str, date: Date, collections: &[Collection]) -> WorkItem {
    WorkItem::sync(
        KIND,
        ProviderUserId(user.into()),
        date,
        collections.to_vec(),
    )
}

pub fn sync_for(kind: ProviderKind, user: &str, date: Date) -> WorkItem {
    WorkItem::sync(
        kind,
        ProviderUserId(user.into()),
        date,
        vec![Collection::Activities],
    )
}

pub fn steps(n: u64) -> DaySummary {
    DaySummary {
        steps: Some(n),
        distance_km: Some(n as f64 / 1300.0),
        ..Default::default()
    }
}
