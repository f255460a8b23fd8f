//! The use case the worker runs: for a batch of work items, get each person a valid
//! token, fetch the changed days, and import them as interactions.
//!
//! Invariants:
//! - Each (contact, day, metric) reaches SAP exactly once, and is updated in place when
//!   its values change: every write goes through a claim in the import ledger.
//! - Each change costs one provider call however often it is announced: the fetch log
//!   skips a notification that a fetch begun after it answers.
//! - A work item is done only once its days are imported (or it was handed on, parked or
//!   skipped for good): the fetch log relies on this, as the message that began a fetch
//!   comes back until that fetch is imported.
//! - Every item ends in exactly one [`Outcome`], decided by one policy ([`remedy`]) that
//!   maps each failure to what fixes it: a 401 goes to the retry queue (whose consumer
//!   refreshes the token once and resends the work; a 401 for work it resent backs off,
//!   so a lasting one reaches the DLQ), a 429 waits for the reset, 5xx and timeouts back
//!   off, 410 and a dead refresh token park the person's work.
//! - Nothing kept about a disconnected person outlives the disconnect by more than
//!   [`SyncService::retention`] ([`revoke`]'s module docs).
//! - No provider call and no SAP write is made without the shared request budget's grant
//!   for the work's priority; a refusal is a wait ([`Outcome::RateLimited`]), and a
//!   quota-wide 429 is recorded in the budget so that every worker waits it out.
//! - Delivery is not this module's business: decoding messages, receive counts, backoff
//!   delays, visibility and keeping rate-limit waits out of the DLQ belong to the queue
//!   adapter ([`crate::inbound::sqs`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use time::OffsetDateTime;

use crate::domain::work::merge;
use crate::domain::{
    ContactKey, DailyInteraction, DaySummary, Outcome, Priority, ProviderKind, ProviderUserId,
    Task, WorkItem,
};
use crate::ports::budget::{BudgetScope, Grant, RequestBudget};
use crate::ports::catalog::Catalog;
use crate::ports::clock::SharedClock;
use crate::ports::marketing::InteractionSink;
use crate::ports::provider::{ProviderError, Providers};
use crate::ports::queue::RetryQueue;
use crate::ports::signals::Signals;
use crate::ports::store::{
    ConnectionStore, FetchKey, FetchLog, ImportLedger, ParkedWork, TokenStore,
};
use crate::ports::tokens::Tokens;
use crate::telemetry::metric;

mod import;
mod person;
mod policy;
mod revoke;

pub use revoke::{ACCOUNT_DELETION_GRACE, DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS};

/// How long an import claim lasts; longer than one worker invocation.
const CLAIM: time::Duration = time::Duration::seconds(90);
/// How soon to look again when another worker is fetching or importing the same day.
const OTHER_WORKER: Duration = Duration::from_secs(20);
/// People processed at once within a batch.
const CONCURRENT_PEOPLE: usize = 10;

/// One work item and when it was first sent (a notification sent before a completed
/// fetch started is already answered).
#[derive(Clone, Debug)]
pub struct Work {
    pub item: WorkItem,
    pub sent_at: OffsetDateTime,
}

pub struct SyncService {
    pub providers: Providers,
    /// Fresh tokens, refreshed under the one discipline ([`Tokens`]).
    pub tokens: Arc<dyn Tokens>,
    pub connections: Arc<dyn ConnectionStore>,
    pub token_store: Arc<dyn TokenStore>,
    pub interactions: Arc<dyn InteractionSink>,
    pub ledger: Arc<dyn ImportLedger>,
    pub fetch_log: Arc<dyn FetchLog>,
    pub parked: Arc<dyn ParkedWork>,
    pub retry_queue: Arc<dyn RetryQueue>,
    /// Records each imported day in the person's history and fires their signals.
    pub signals: Arc<dyn Signals>,
    /// Which collections a person's scopes grant.
    pub catalog: Catalog,
    /// How long what is kept about a disconnected person (the tombstone with the contact
    /// key and customer ref, the contact's import ledger, signal history and state)
    /// outlives the disconnect (`RETENTION_DAYS`; [`DEFAULT_RETENTION_DAYS`] unless
    /// configured): late and retried messages about the person still find the tombstone,
    /// and then nothing about them remains.
    pub retention: time::Duration,
    /// A day is fetched at most once in this window however often it is announced
    /// (`FETCH_COALESCE_SECONDS`; [`crate::ports::store::FETCH_COALESCE_WINDOW`] unless
    /// configured; 0: every later notification fetches at once).
    pub fetch_coalesce: time::Duration,
    /// The requests the providers' projects and the SAP tenant allow everyone together:
    /// asked before each provider call and each SAP write, by the work's priority.
    pub budget: Arc<dyn RequestBudget>,
    pub clock: SharedClock,
}

/// One (collection, day) to fetch for a person, and the items that asked for it.
struct Fetch {
    key: FetchKey,
    sent_at: OffsetDateTime,
    /// The most urgent priority among the items that asked for it.
    priority: Priority,
    items: Vec<usize>,
}

enum FetchResult {
    /// Fetched under this fetch-log token: abandon it unless the day gets imported.
    Got(DaySummary, String),
    /// Another fetch answers these notifications.
    Skipped,
    /// A fetch of the day began a moment ago: wait this long.
    Wait(std::time::Duration),
    Failed(ProviderError),
}

/// A fetched (collection, day): its fetch-log token, the items that asked for it and the
/// interactions it yields.
struct Fetched {
    key: FetchKey,
    token: String,
    items: Vec<usize>,
    contact: ContactKey,
    timezone: Option<String>,
    summary: DaySummary,
    interactions: Vec<DailyInteraction>,
}

/// What processing one person decided (item index → outcome), and what it fetched.
type PersonResult = (Vec<(usize, Outcome)>, Vec<Fetched>);

/// An interaction waiting for import, the items it answers and its fetch.
struct Pending {
    interaction: DailyInteraction,
    items: Vec<usize>,
    fetch: usize,
}

impl SyncService {
    /// Processes a batch; one outcome per item, in order.
    pub async fn process(&self, batch: &[Work]) -> Vec<Outcome> {
        let mut outcomes = vec![Outcome::Done; batch.len()];
        let mut people: BTreeMap<(ProviderKind, ProviderUserId), Vec<usize>> = BTreeMap::new();
        for (i, work) in batch.iter().enumerate() {
            let item = &work.item;
            if self.providers.get(item.provider).is_some() {
                people
                    .entry((item.provider, item.user_id.clone()))
                    .or_default()
                    .push(i);
            } else {
                // Work for a provider this deployment does not serve: retried, then the
                // redrive moves it to the DLQ for a person to look at.
                tracing::error!(provider = %item.provider, "work for a provider not served");
                outcomes[i] = Outcome::BACKOFF;
            }
        }

        // The batch's interactions go to SAP in one $batch: one request on the tenant's
        // budget, asked before any provider call so a wait wastes nothing.
        let syncs = people
            .values()
            .flatten()
            .filter(|i| matches!(batch[**i].item.task, Task::Sync { .. }));
        if let Some(priority) = syncs.map(|i| batch[*i].item.priority).min() {
            if let Some(wait) = self.wait_for(BudgetScope::Marketing, priority, 1).await {
                for i in people.values().flatten() {
                    if matches!(batch[*i].item.task, Task::Sync { .. }) {
                        outcomes[*i] = Outcome::RateLimited(wait);
                    }
                }
                people.retain(|_, items| {
                    items.retain(|i| !matches!(batch[*i].item.task, Task::Sync { .. }));
                    !items.is_empty()
                });
            }
        }

        let per_person: Vec<PersonResult> = stream::iter(
            people
                .into_iter()
                .map(|((kind, user_id), items)| self.process_person(kind, user_id, items, batch)),
        )
        .buffer_unordered(CONCURRENT_PEOPLE)
        .collect()
        .await;

        let mut fetched = Vec::new();
        for (decided, waiting) in per_person {
            for (i, o) in decided {
                merge(&mut outcomes[i], o);
            }
            fetched.extend(waiting);
        }
        // The time zone of each item that fetched something: what its day's end is.
        let timezones: BTreeMap<usize, Option<String>> = fetched
            .iter()
            .flat_map(|f| f.items.iter().map(|i| (*i, f.timezone.clone())))
            .collect();
        self.import(fetched, &mut outcomes).await;
        self.report_daily_pulls(batch, &outcomes, &timezones);
        outcomes
    }

    /// How long after the person's local midnight each daily pull of the batch landed.
    fn report_daily_pulls(
        &self,
        batch: &[Work],
        outcomes: &[Outcome],
        timezones: &BTreeMap<usize, Option<String>>,
    ) {
        let now = self.clock.timestamp();
        for (i, work) in batch.iter().enumerate() {
            let (Task::Sync { date, .. }, Priority::Daily, Outcome::Done, Some(timezone)) = (
                &work.item.task,
                work.item.priority,
                &outcomes[i],
                timezones.get(&i),
            ) else {
                continue;
            };
            let ended = crate::domain::local_day::end_of(timezone.as_deref(), *date);
            let minutes = now.duration_since(ended).as_secs_f64() / 60.0;
            metrics::histogram!(metric::DAILY_PULL_LANDED).record(minutes.max(0.0));
        }
    }

    /// Asks the budget for `requests` requests on `scope` at `priority`: `None` to go
    /// ahead, or how long to wait. Fails open: the quota holder's own 429 is still the
    /// backstop.
    pub(super) async fn wait_for(
        &self,
        scope: BudgetScope,
        priority: Priority,
        requests: u32,
    ) -> Option<Duration> {
        match self.budget.take(scope, priority, requests).await {
            Ok(Grant::Go) => None,
            Ok(Grant::Wait(wait)) => {
                metrics::counter!(metric::BUDGET_WAITS, "Scope" => scope.name(),
                    "Priority" => priority.as_str())
                .increment(1);
                Some(wait)
            }
            Err(e) => {
                tracing::warn!(error = %e, "request budget unavailable; going ahead");
                None
            }
        }
    }
}
