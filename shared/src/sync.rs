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
//! - Delivery is not this module's business: decoding messages, receive counts, backoff
//!   delays, visibility and keeping rate-limit waits out of the DLQ belong to the queue
//!   adapter ([`crate::api::sqs`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
use time::OffsetDateTime;

use crate::clock::SharedClock;
use crate::domain::{
    Collection, Connection, ConnectionStatus, ContactKey, DailyInteraction, DaySummary,
    ProviderKind, ProviderUserId, Task, WorkItem,
};
use crate::marketing::{InteractionSink, InteractionWrite, MarketingError};
use crate::provider::{ProviderError, Providers};
use crate::queue::{RetryQueue, RetryRequest};
use crate::signals::{Observed, SignalService};
use crate::store::{
    Claim, ConnectionStore, Ending, FetchClaim, FetchKey, FetchLog, ImportLedger, ImportRecord,
    LedgerEntry, ParkedWork, Revocation, TokenStore,
};
use crate::telemetry::metric;
use crate::tokens::{TokenError, TokenService};

/// How long an import claim lasts; longer than one worker invocation.
const CLAIM: time::Duration = time::Duration::seconds(90);
/// People processed at once within a batch.
const CONCURRENT_PEOPLE: usize = 10;
/// How soon to look again when another worker is fetching or importing the same day.
const OTHER_WORKER: Duration = Duration::from_secs(20);
/// How soon to look again when another refresher holds the person's lease.
const OTHER_REFRESHER: Duration = Duration::from_secs(10);
/// How long the tombstone and import ledger of a deleted account outlive it: late and
/// retried messages about the account still find the tombstone and do nothing (parked work
/// is kept as long), and then nothing about the person remains here.
pub const ACCOUNT_DELETION_GRACE: time::Duration = time::Duration::days(30);
/// Provider answers that say the request itself will never succeed.
const PERMANENT_STATUSES: [u16; 5] = [400, 404, 405, 409, 422];

/// One work item and when it was first sent (a notification sent before a completed
/// fetch started is already answered).
#[derive(Clone, Debug)]
pub struct Work {
    pub item: WorkItem,
    pub sent_at: OffsetDateTime,
}

/// What became of a work item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Handled (imported, already imported, parked, handed on, nothing to do).
    Done,
    /// Not handled: deliver it again after at least `after`, and after the adapter's
    /// backoff if `backoff` (a failure that may pass). Counts towards the DLQ.
    Retry { after: Duration, backoff: bool },
    /// Waiting for the provider's rate-limit reset. Not a failure: it must never count
    /// towards the DLQ.
    RateLimited(Duration),
}

impl Outcome {
    /// A failure that may pass: retry after the adapter's backoff.
    pub const BACKOFF: Outcome = Outcome::Retry {
        after: Duration::ZERO,
        backoff: true,
    };

    fn retry_after(after: Duration) -> Outcome {
        Outcome::Retry {
            after,
            backoff: false,
        }
    }
}

/// Keeps the outcome that needs the most: a failure beats a rate-limit wait beats done;
/// the longer wait wins.
fn merge(current: &mut Outcome, new: Outcome) {
    use Outcome::*;
    *current = match (current.clone(), new) {
        (Done, o) | (o, Done) => o,
        (
            Retry {
                after: a,
                backoff: x,
            },
            Retry {
                after: b,
                backoff: y,
            },
        ) => Retry {
            after: a.max(b),
            backoff: x || y,
        },
        (Retry { after, backoff }, RateLimited(d)) | (RateLimited(d), Retry { after, backoff }) => {
            Retry {
                after: after.max(d),
                backoff,
            }
        }
        (RateLimited(a), RateLimited(b)) => RateLimited(a.max(b)),
    };
}

/// What fixes a failure: the one failure policy of this use case.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Remedy {
    /// The access token died early: the retry queue's consumer refreshes it once.
    RefreshToken,
    /// The person must act first (consent again, migrate): park their work.
    Park(&'static str),
    /// The provider API is switched off: mark the person `provider_gone`, park.
    ProviderGone,
    /// Nothing can or need be done for this work (logged).
    Skip(&'static str),
    /// Wait for the provider's rate-limit reset.
    WaitForReset(Duration),
    /// Another worker is on it: look again shortly.
    RetrySoon(Duration),
    /// Transient: back off.
    Backoff,
}

/// Every failure that can stop a work item.
enum Failure<'a> {
    Provider(&'a ProviderError),
    Token(&'a TokenError),
}

fn remedy(failure: Failure<'_>) -> Remedy {
    match failure {
        Failure::Provider(e) => match e {
            ProviderError::AccessTokenExpired | ProviderError::InvalidToken => Remedy::RefreshToken,
            ProviderError::InsufficientScope => Remedy::Skip("scope no longer granted"),
            ProviderError::RateLimited { retry_after } => Remedy::WaitForReset(*retry_after),
            ProviderError::Gone => Remedy::ProviderGone,
            ProviderError::InvalidGrant => Remedy::Park("needs_reconsent"),
            // The provider refuses this request as it is (no such day or person, a request
            // it cannot serve): retrying cannot help, so the work is set aside with the
            // reason instead of cycling to the DLQ. Credentials refused (401/403 without a
            // person-specific meaning) are a deployment problem: back off until fixed.
            ProviderError::Rejected { status, .. } if PERMANENT_STATUSES.contains(status) => {
                Remedy::Park("rejected by the provider")
            }
            ProviderError::Rejected { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::Malformed { .. }
            | ProviderError::Credentials(_) => Remedy::Backoff,
        },
        Failure::Token(e) => match e {
            TokenError::NotConnected => Remedy::Skip("person not connected"),
            TokenError::Parked(status) => Remedy::Park(status),
            TokenError::NeedsReconsent => Remedy::Park("needs_reconsent"),
            TokenError::Gone => Remedy::Park("provider_gone"),
            TokenError::Busy => Remedy::RetrySoon(OTHER_REFRESHER),
            TokenError::Provider(e) => match remedy(Failure::Provider(e)) {
                wait @ Remedy::WaitForReset(_) => wait,
                _ => Remedy::Backoff,
            },
            TokenError::Store(_) => Remedy::Backoff,
        },
    }
}

pub struct SyncService {
    pub providers: Providers,
    pub tokens: Arc<TokenService>,
    pub connections: Arc<dyn ConnectionStore>,
    pub token_store: Arc<dyn TokenStore>,
    pub interactions: Arc<dyn InteractionSink>,
    pub ledger: Arc<dyn ImportLedger>,
    pub fetch_log: Arc<dyn FetchLog>,
    pub parked: Arc<dyn ParkedWork>,
    pub retry_queue: Arc<dyn RetryQueue>,
    /// Records each imported day in the person's history and fires their signals.
    pub signals: Arc<SignalService>,
    pub clock: SharedClock,
}

/// One (collection, day) to fetch for a person, and the items that asked for it.
struct Fetch {
    key: FetchKey,
    sent_at: OffsetDateTime,
    items: Vec<usize>,
}

enum FetchResult {
    /// Fetched under this fetch-log token: abandon it unless the day gets imported.
    Got(DaySummary, String),
    /// Another fetch answers these notifications.
    Skipped,
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
        self.import(fetched, &mut outcomes).await;
        outcomes
    }

    /// Everything for one person: token, fetches. Returns decided outcomes and the
    /// interactions still to import.
    async fn process_person(
        &self,
        kind: ProviderKind,
        user_id: ProviderUserId,
        items: Vec<usize>,
        batch: &[Work],
    ) -> PersonResult {
        let all = |o: Outcome| items.iter().map(|i| (*i, o.clone())).collect::<Vec<_>>();

        // The latest revocation among the person's items decides what is stale; any of
        // them saying the account is deleted makes it a deletion.
        let revocation = items
            .iter()
            .filter_map(|i| match batch[*i].item.task {
                Task::Revoke { account_deleted } => Some((batch[*i].sent_at, account_deleted)),
                Task::Sync { .. } => None,
            })
            .reduce(|(a, x), (b, y)| (a.max(b), x || y));
        if let Some((issued_at, account_deleted)) = revocation {
            return match self
                .revoke(kind, &user_id, issued_at, account_deleted)
                .await
            {
                Ok(()) => (all(Outcome::Done), vec![]),
                Err(e) => {
                    tracing::error!(user_id = %user_id, error = %e, "revocation failed; will retry");
                    (all(Outcome::BACKOFF), vec![])
                }
            };
        }

        let connection = match self.tokens.fresh(kind, &user_id).await {
            Ok(c) => c,
            Err(e) => {
                let remedy = remedy(Failure::Token(&e));
                let outcome = self.apply(kind, &user_id, &items, batch, remedy, &e).await;
                return (all(outcome), vec![]);
            }
        };

        // One fetch per distinct (collection, day) among this person's items, and only
        // for collections the person granted.
        let granted = kind.granted_collections(&connection.tokens.scopes);
        let mut fetches: BTreeMap<(Collection, time::Date), Fetch> = BTreeMap::new();
        for i in &items {
            let Task::Sync { date, collections } = &batch[*i].item.task else {
                continue;
            };
            let sent_at = batch[*i].sent_at;
            for c in collections.iter().filter(|c| granted.contains(c)) {
                let f = fetches.entry((*c, *date)).or_insert_with(|| Fetch {
                    key: FetchKey {
                        provider: kind,
                        user_id: user_id.clone(),
                        collection: *c,
                        date: *date,
                    },
                    sent_at,
                    items: vec![],
                });
                f.sent_at = f.sent_at.max(sent_at);
                f.items.push(*i);
            }
        }
        let fetches: Vec<Fetch> = fetches.into_values().collect();
        let results = join_all(fetches.iter().map(|f| self.fetch(&connection, f))).await;

        let mut outcomes = Vec::new();
        let mut fetched = Vec::new();
        let mut unauthorized = false;
        let mut gone = None;
        for (fetch, result) in fetches.iter().zip(results) {
            let e = match result {
                FetchResult::Got(summary, token) => {
                    fetched.push(Fetched {
                        key: fetch.key.clone(),
                        token,
                        items: fetch.items.clone(),
                        contact: connection.contact.clone(),
                        timezone: connection.timezone.clone(),
                        summary: summary.clone(),
                        interactions: summary
                            .metrics()
                            .into_iter()
                            .map(|(metric, value)| DailyInteraction {
                                provider: kind,
                                contact: connection.contact.clone(),
                                user_id: user_id.clone(),
                                date: fetch.key.date,
                                metric,
                                value,
                            })
                            .collect(),
                    });
                    continue;
                }
                FetchResult::Skipped => continue,
                FetchResult::Failed(e) => e,
            };
            if gone.is_some() {
                // The person's work is all parked below: no other remedy applies.
                continue;
            }
            match remedy(Failure::Provider(&e)) {
                // Refused again with the token refreshed for this very work: refreshing
                // cannot help (a proxy, a provider fault), and would go round in a circle
                // without ever reaching the DLQ. Back off like any failure that may pass.
                Remedy::RefreshToken
                    if fetch.items.iter().all(|i| batch[*i].item.after_refresh) =>
                {
                    let o = self
                        .apply(kind, &user_id, &fetch.items, batch, Remedy::Backoff, &e)
                        .await;
                    outcomes.extend(fetch.items.iter().map(|i| (*i, o.clone())));
                }
                Remedy::RefreshToken => unauthorized = true,
                Remedy::ProviderGone => gone = Some(e),
                remedy => {
                    tracing::info!(user_id = %user_id, collection = %fetch.key.collection,
                        error = %e, "fetch did not succeed");
                    let o = self
                        .apply(kind, &user_id, &fetch.items, batch, remedy, &e)
                        .await;
                    outcomes.extend(fetch.items.iter().map(|i| (*i, o.clone())));
                }
            }
        }
        if let Some(e) = gone {
            // All of the person's work is parked: nothing fetched is imported.
            let o = self
                .apply(kind, &user_id, &items, batch, Remedy::ProviderGone, &e)
                .await;
            for f in fetched.drain(..) {
                let _ = self.fetch_log.abandon(&f.key, &f.token).await;
            }
            return (all(o), vec![]);
        }
        if unauthorized {
            // The token died before its time (revoked, rotated elsewhere): hand the work to
            // the retry queue, whose consumer refreshes once per person and resends it.
            let handed = self.hand_to_retry_queue(&connection, &items, batch).await;
            outcomes.extend(all(handed));
            for f in fetched.drain(..) {
                let _ = self.fetch_log.abandon(&f.key, &f.token).await;
            }
        }
        (outcomes, fetched)
    }

    /// Carries out a remedy for `items` (all of one person) and says what became of them.
    async fn apply(
        &self,
        kind: ProviderKind,
        user_id: &ProviderUserId,
        items: &[usize],
        batch: &[Work],
        remedy: Remedy,
        cause: &dyn std::fmt::Display,
    ) -> Outcome {
        match remedy {
            Remedy::Skip(why) => {
                tracing::warn!(user_id = %user_id, items = items.len(), why, "work skipped");
                Outcome::Done
            }
            Remedy::Park(reason) => self.park(items, batch, reason).await,
            Remedy::ProviderGone => {
                if let Err(e) = self
                    .token_store
                    .set_status(kind, user_id, ConnectionStatus::ProviderGone)
                    .await
                {
                    tracing::error!(error = %e, "could not mark provider_gone");
                    return Outcome::BACKOFF;
                }
                tracing::error!(provider = %kind, user_id = %user_id,
                    "provider answered 410 Gone: person marked provider_gone and must migrate");
                self.park(items, batch, "provider_gone").await
            }
            Remedy::WaitForReset(d) => Outcome::RateLimited(d),
            Remedy::RetrySoon(d) => Outcome::retry_after(d),
            Remedy::Backoff => {
                tracing::warn!(user_id = %user_id, error = %cause, "backing off");
                Outcome::BACKOFF
            }
            // Only a fetch's 401 asks for this, and the caller gathers those per person.
            Remedy::RefreshToken => Outcome::BACKOFF,
        }
    }

    async fn fetch(&self, connection: &Connection, f: &Fetch) -> FetchResult {
        let now = self.clock.now();
        let token = match self.fetch_log.begin(&f.key, f.sent_at, now).await {
            Ok(FetchClaim::Proceed(token)) => token,
            Ok(FetchClaim::AlreadyFetched) => return FetchResult::Skipped,
            Err(e) => {
                return FetchResult::Failed(ProviderError::Unavailable {
                    reason: format!("fetch log: {e}"),
                })
            }
        };
        let provider = self
            .providers
            .get(f.key.provider)
            .expect("only served providers reach a fetch");
        let result = provider
            .fetch_day(
                &connection.tokens.access_token,
                &f.key.user_id,
                f.key.collection,
                f.key.date,
            )
            .await;
        let provider_label = f.key.provider.to_string();
        let status = match &result {
            Ok(_) => "2xx",
            Err(e) => e.status_class(),
        };
        metrics::counter!(metric::PROVIDER_CALLS, "Provider" => provider_label.clone(),
            "Status" => status)
        .increment(1);
        if result.is_ok() {
            metrics::counter!(metric::DAYS_FETCHED, "Provider" => provider_label).increment(1);
        }
        match result {
            Ok(summary) => FetchResult::Got(summary, token),
            Err(e) => {
                let _ = self.fetch_log.abandon(&f.key, &token).await;
                FetchResult::Failed(e)
            }
        }
    }

    async fn hand_to_retry_queue(
        &self,
        connection: &Connection,
        items: &[usize],
        batch: &[Work],
    ) -> Outcome {
        for i in items {
            let request = RetryRequest {
                work: batch[*i].item.clone(),
                observed_version: connection.version,
            };
            if let Err(e) = self.retry_queue.enqueue_retry(&request).await {
                tracing::error!(user_id = %connection.user_id, error = %e,
                    "retry queue unavailable");
                return Outcome::BACKOFF;
            }
        }
        tracing::info!(user_id = %connection.user_id, items = items.len(),
            "access token rejected; work sent to the retry queue");
        Outcome::Done
    }

    async fn park(&self, items: &[usize], batch: &[Work], reason: &str) -> Outcome {
        for i in items {
            if let Err(e) = self.parked.park(&batch[*i].item, reason).await {
                tracing::error!(error = %e, "could not park work");
                return Outcome::BACKOFF;
            }
        }
        if let Some(first) = items.first() {
            tracing::warn!(user_id = %batch[*first].item.user_id, items = items.len(), reason,
                "work parked");
        }
        metrics::counter!(metric::WORK_PARKED, "Reason" => reason.replace(' ', "_"))
            .increment(items.len() as u64);
        Outcome::Done
    }

    /// The person revoked access, deleted their account, or is disconnected: remove
    /// subscriptions while the token may still work, revoke the grant at the provider,
    /// forget the tokens, then flag the contact in SAP with a disconnect interaction.
    ///
    /// The tokens go first, so a marketing system that refuses the flag never keeps a
    /// revoked person's work running; the tombstone remembers the flag is due, and a
    /// retry writes it (exactly once: its source object is the revocation's). A
    /// revocation issued before the person's latest consent is stale and touches nothing.
    ///
    /// A deleted account also sets what is kept about it to expire
    /// ([`ACCOUNT_DELETION_GRACE`]) before the flag is written, so a marketing system that
    /// refuses the flag cannot keep it either.
    async fn revoke(
        &self,
        kind: ProviderKind,
        user_id: &ProviderUserId,
        issued_at: OffsetDateTime,
        account_deleted: bool,
    ) -> Result<(), String> {
        // The stored tokens, whatever their state: a revoked token cannot be refreshed.
        let stored = self
            .tokens
            .stored(kind, user_id)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(connection) = stored {
            if connection.consented_at.is_some_and(|at| at > issued_at) {
                tracing::info!(provider = %kind, user_id = %user_id,
                    "stale revocation ignored: the person connected again after it");
                return Ok(());
            }
            if let Some(provider) = self.providers.get(kind) {
                let subscribed: Vec<Collection> =
                    connection.subscriptions.iter().copied().collect();
                provider
                    .unsubscribe(&connection.tokens.access_token, user_id, &subscribed)
                    .await;
                // The grant may already be gone (the person revoked it themselves); when the
                // disconnect starts here, this is what ends it at the provider. Best effort:
                // the tokens are forgotten below either way.
                if let Err(e) = provider.revoke(&connection.tokens).await {
                    tracing::info!(provider = %kind, user_id = %user_id, error = %e,
                        "revocation at the provider failed; tokens are forgotten anyway");
                }
            }
            match self
                .connections
                .revoke(kind, user_id, Ending::Disconnected, issued_at)
                .await
                .map_err(|e| e.to_string())?
            {
                Revocation::Stale => {
                    tracing::info!(provider = %kind, user_id = %user_id,
                        "stale revocation ignored: the person connected again meanwhile");
                    return Ok(());
                }
                Revocation::Revoked(_) | Revocation::NotConnected => {}
            }
        }
        if account_deleted {
            self.forget(kind, user_id).await?;
        }
        let Some(tombstone) = self
            .connections
            .tombstone(kind, user_id)
            .await
            .map_err(|e| e.to_string())?
            .filter(|t| t.flag_pending)
        else {
            tracing::info!(user_id = %user_id, "revocation for a person not connected; nothing to do");
            return Ok(());
        };
        self.interactions
            .record_disconnect(&tombstone.contact, kind, tombstone.revoked_at)
            .await
            .map_err(|e| format!("tokens deleted; the disconnect flag is not in SAP yet: {e}"))?;
        self.connections
            .mark_flagged(kind, user_id, tombstone.revoked_at)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(provider = %kind, user_id = %user_id,
            "access revoked: tokens deleted, contact flagged, no further work");
        Ok(())
    }

    /// Sets the tombstone of a deleted account and its contact's import ledger to expire,
    /// and deletes the contact's signal history (personal data with no further use).
    /// Idempotent, so a retry finishes what a timeout interrupted.
    async fn forget(&self, kind: ProviderKind, user_id: &ProviderUserId) -> Result<(), String> {
        let at = self.clock.now() + ACCOUNT_DELETION_GRACE;
        let Some(tombstone) = self
            .connections
            .forget(kind, user_id, at)
            .await
            .map_err(|e| e.to_string())?
        else {
            // Never connected, or migrated: the contact lives on at the successor.
            return Ok(());
        };
        let expiring = self
            .ledger
            .expire(&tombstone.contact, tombstone.forget_at.unwrap_or(at))
            .await
            .map_err(|e| {
                format!("tokens deleted; the import ledger is not set to expire yet: {e}")
            })?;
        let history =
            self.signals.forget(&tombstone.contact).await.map_err(|e| {
                format!("tokens deleted; the signal history is not deleted yet: {e}")
            })?;
        tracing::info!(provider = %kind, user_id = %user_id, ledger_entries = expiring,
            history_items = history,
            "account deleted: history deleted, what else is kept expires after the grace period");
        Ok(())
    }

    /// Imports all interactions of the batch in one round trip, each exactly once; then
    /// records each fetched day in the person's signal history; then abandons each fetch
    /// for which either failed (its work item is retried, and a duplicate notification
    /// must not be skipped meanwhile on the strength of a fetch that came to nothing).
    async fn import(&self, fetched: Vec<Fetched>, outcomes: &mut [Outcome]) {
        let pending: Vec<Pending> = fetched
            .iter()
            .enumerate()
            .flat_map(|(f, fetch)| {
                fetch.interactions.iter().map(move |i| Pending {
                    interaction: i.clone(),
                    items: fetch.items.clone(),
                    fetch: f,
                })
            })
            .collect();
        let imported = self.import_interactions(&pending).await;
        let mut fetch_ok = vec![true; fetched.len()];
        for (p, result) in pending.iter().zip(imported) {
            if result == Outcome::Done {
                continue;
            }
            fetch_ok[p.fetch] = false;
            for i in &p.items {
                merge(&mut outcomes[*i], result.clone());
            }
        }
        self.observe(&fetched, &mut fetch_ok, outcomes).await;
        join_all(
            fetched
                .iter()
                .zip(fetch_ok)
                .filter(|(_, ok)| !ok)
                .map(|(f, _)| self.fetch_log.abandon(&f.key, &f.token)),
        )
        .await;
    }

    /// Hands each person's fully imported days to the signals. A person whose history or
    /// signals could not be written gets their work back (backoff) and their fetches stay
    /// open, so the retry fetches, finds the interactions unchanged and observes again.
    async fn observe(&self, fetched: &[Fetched], fetch_ok: &mut [bool], outcomes: &mut [Outcome]) {
        let mut people: BTreeMap<(ProviderKind, ProviderUserId), (Observed, Vec<usize>)> =
            BTreeMap::new();
        for (n, f) in fetched.iter().enumerate().filter(|(n, _)| fetch_ok[*n]) {
            let (observed, fetches) = people
                .entry((f.key.provider, f.key.user_id.clone()))
                .or_insert_with(|| {
                    (
                        Observed {
                            provider: f.key.provider,
                            user_id: f.key.user_id.clone(),
                            contact: f.contact.clone(),
                            timezone: f.timezone.clone(),
                            days: Vec::new(),
                        },
                        Vec::new(),
                    )
                });
            observed
                .days
                .push((f.key.date, f.key.collection, f.summary.clone()));
            fetches.push(n);
        }
        let results = join_all(
            people
                .values()
                .map(|(observed, _)| self.signals.observe(observed)),
        )
        .await;
        for ((observed, fetches), result) in people.values().zip(results) {
            if let Err(e) = result {
                tracing::warn!(user_id = %observed.user_id, error = %e,
                    "signals not recorded; the days will be fetched again");
                for n in fetches {
                    fetch_ok[*n] = false;
                    for i in &fetched[*n].items {
                        merge(&mut outcomes[*i], Outcome::BACKOFF);
                    }
                }
            }
        }
    }

    /// The settled ledger entries of the contacts' days among `pending`: (contact, source
    /// object) → content hash. A day whose read fails is simply claimed as before.
    async fn settled(
        &self,
        pending: &[Pending],
        now: OffsetDateTime,
    ) -> std::collections::HashMap<(crate::domain::ContactKey, String), String> {
        let days: std::collections::BTreeSet<(crate::domain::ContactKey, String)> = pending
            .iter()
            .map(|p| (p.interaction.contact.clone(), p.interaction.day_prefix()))
            .collect();
        let reads = join_all(days.into_iter().map(|(contact, prefix)| async move {
            match self.ledger.settled(&contact, &prefix, now).await {
                Ok(found) => found
                    .into_iter()
                    .map(|(key, hash)| ((contact.clone(), key), hash))
                    .collect(),
                Err(e) => {
                    tracing::debug!(error = %e, "ledger read failed; claiming instead");
                    Vec::new()
                }
            }
        }))
        .await;
        reads.into_iter().flatten().collect()
    }

    /// Claims each day's changed interactions at once, writes them, and records the day
    /// once.
    /// Per interaction: `Done` when it is in SAP now (written, or there already
    /// unchanged), else when to try again.
    async fn import_interactions(&self, pending: &[Pending]) -> Vec<Outcome> {
        let owner = crate::provider::pkce::new_state();
        let owner = owner.as_str();
        let now = self.clock.now();
        // What SAP surely holds already costs a read per (contact, day), not a claim: only
        // days with something changed are claimed, each once.
        let settled = &self.settled(pending, now).await;
        let hashes: Vec<String> = pending
            .iter()
            .map(|p| self.interactions.content_hash(&p.interaction))
            .collect();
        let mut results = vec![Outcome::Done; pending.len()];
        let mut days: BTreeMap<(ContactKey, String), Vec<usize>> = BTreeMap::new();
        for (n, (p, hash)) in pending.iter().zip(&hashes).enumerate() {
            let key = p.interaction.source_object();
            if settled.get(&(p.interaction.contact.clone(), key)) == Some(hash) {
                metrics::counter!(metric::INTERACTIONS, "Result" => "unchanged").increment(1);
                continue;
            }
            days.entry((p.interaction.contact.clone(), p.interaction.day_prefix()))
                .or_default()
                .push(n);
        }
        let days: Vec<((ContactKey, String), Vec<usize>)> = days.into_iter().collect();
        // Each (contact, day)'s changed interactions, deduplicated (two connections feeding
        // one contact may bring the same one twice: the first is written, the second looks
        // again later).
        let keys: Vec<Vec<String>> = days
            .iter()
            .map(|(_, ns)| {
                let mut keys: Vec<String> = ns
                    .iter()
                    .map(|n| pending[*n].interaction.source_object())
                    .collect();
                keys.sort();
                keys.dedup();
                keys
            })
            .collect();
        let claims = join_all(days.iter().zip(&keys).map(|(((contact, day), _), keys)| {
            self.ledger
                .claim(contact, day, keys, owner, now, now + CLAIM)
        }))
        .await;

        let mut claimed = Vec::new();
        let mut writes = Vec::new();
        // Parallel to `writes`: (pending index, claimed day index, content hash).
        let mut written: Vec<(usize, usize, String)> = Vec::new();
        for ((((contact, day), ns), claim), keys) in days.iter().zip(claims).zip(&keys) {
            let mut entries = match claim {
                Ok(Claim::Claimed(entries)) => entries,
                Ok(Claim::Busy) => {
                    // Another worker is importing the same day right now.
                    for n in ns {
                        results[*n] = Outcome::retry_after(OTHER_WORKER);
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "import ledger unavailable");
                    for n in ns {
                        results[*n] = Outcome::BACKOFF;
                    }
                    continue;
                }
            };
            let d = claimed.len();
            claimed.push((contact, day, keys));
            for n in ns {
                let p = &pending[*n];
                let Some(entry) = entries.remove(&p.interaction.source_object()) else {
                    results[*n] = Outcome::retry_after(OTHER_WORKER);
                    continue;
                };
                let write = match entry {
                    LedgerEntry::Imported { hash: h, .. } if h == hashes[*n] => None,
                    LedgerEntry::Imported { interaction_id, .. } => {
                        Some(InteractionWrite::Update {
                            id: interaction_id,
                            interaction: p.interaction.clone(),
                        })
                    }
                    LedgerEntry::New => Some(InteractionWrite::Create(p.interaction.clone())),
                    // A create whose result was never recorded: it may exist. Look before
                    // creating a second one.
                    LedgerEntry::CreateUnconfirmed => {
                        match self.interactions.find(&p.interaction).await {
                            Ok(Some(id)) => Some(InteractionWrite::Update {
                                id,
                                interaction: p.interaction.clone(),
                            }),
                            Ok(None) => Some(InteractionWrite::Create(p.interaction.clone())),
                            Err(e) => {
                                tracing::warn!(error = %e, "could not look up an unconfirmed create");
                                results[*n] = Outcome::BACKOFF;
                                continue;
                            }
                        }
                    }
                };
                match write {
                    None => {
                        metrics::counter!(metric::INTERACTIONS, "Result" => "unchanged")
                            .increment(1);
                    }
                    Some(w) => {
                        writes.push(w);
                        written.push((*n, d, hashes[*n].clone()));
                    }
                }
            }
        }

        let sent = if writes.is_empty() {
            Vec::new()
        } else {
            match self.interactions.write(&writes).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, interactions = writes.len(), "SAP unavailable; backing off");
                    (0..writes.len())
                        .map(|_| Err(MarketingError::Unavailable("round trip failed".into())))
                        .collect()
                }
            }
        };
        // Each claimed day records what reached SAP and is released, in one write.
        let mut records: Vec<Vec<ImportRecord>> = vec![Vec::new(); claimed.len()];
        for ((n, d, hash), result) in written.iter().zip(&sent) {
            if let Ok(id) = result {
                records[*d].push(ImportRecord {
                    key: pending[*n].interaction.source_object(),
                    hash: hash.clone(),
                    interaction_id: id.clone(),
                });
            }
        }
        let recorded: Vec<bool> = join_all(claimed.iter().zip(&records).map(
            |((contact, day, keys), records)| async move {
                self.ledger
                    .complete(contact, day, owner, keys, records)
                    .await
                    .is_ok()
            },
        ))
        .await;
        let mut ok = 0;
        // `writes`, `written` and `sent` are parallel: one entry per write.
        for (write, ((n, d, _), result)) in writes.iter().zip(written.iter().zip(&sent)) {
            let outcome = match (write, result) {
                (InteractionWrite::Create(_), Ok(_)) => "created",
                (InteractionWrite::Update { .. }, Ok(_)) => "updated",
                (_, Err(_)) => "failed",
            };
            metrics::counter!(metric::INTERACTIONS, "Result" => outcome).increment(1);
            match result {
                Ok(_) if recorded[*d] => ok += 1,
                // In SAP but not in the ledger: the retry finds it by its source object.
                Ok(_) => results[*n] = Outcome::BACKOFF,
                Err(e) => {
                    if matches!(e, MarketingError::Rejected(_)) {
                        let p = &pending[*n].interaction;
                        tracing::warn!(user_id = %p.user_id, metric = p.metric.as_str(),
                            error = %e, "SAP rejected the interaction");
                    }
                    results[*n] = Outcome::BACKOFF;
                }
            }
        }
        if !writes.is_empty() {
            tracing::info!(written = ok, of = writes.len(), "interactions imported");
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_merge_towards_what_needs_most() {
        let mut o = Outcome::Done;
        merge(&mut o, Outcome::RateLimited(Duration::from_secs(5)));
        assert_eq!(o, Outcome::RateLimited(Duration::from_secs(5)));
        merge(&mut o, Outcome::retry_after(Duration::from_secs(2)));
        assert_eq!(o, Outcome::retry_after(Duration::from_secs(5)));
        merge(&mut o, Outcome::BACKOFF);
        assert_eq!(
            o,
            Outcome::Retry {
                after: Duration::from_secs(5),
                backoff: true
            }
        );
        merge(&mut o, Outcome::Done);
        assert!(matches!(o, Outcome::Retry { backoff: true, .. }));
    }

    #[test]
    fn every_failure_has_one_remedy() {
        let p = |e: ProviderError| remedy(Failure::Provider(&e));
        assert_eq!(p(ProviderError::AccessTokenExpired), Remedy::RefreshToken);
        assert_eq!(p(ProviderError::InvalidToken), Remedy::RefreshToken);
        assert_eq!(p(ProviderError::Gone), Remedy::ProviderGone);
        assert_eq!(
            p(ProviderError::RateLimited {
                retry_after: Duration::from_secs(7)
            }),
            Remedy::WaitForReset(Duration::from_secs(7))
        );
        assert!(matches!(
            p(ProviderError::InsufficientScope),
            Remedy::Skip(_)
        ));
        assert_eq!(
            p(ProviderError::Unavailable { reason: "x".into() }),
            Remedy::Backoff
        );
        let rejected = |status| ProviderError::Rejected {
            status,
            error_type: String::new(),
        };
        assert_eq!(p(rejected(404)), Remedy::Park("rejected by the provider"));
        assert_eq!(p(rejected(400)), Remedy::Park("rejected by the provider"));
        assert_eq!(
            p(rejected(401)),
            Remedy::Backoff,
            "invalid_client: fix the deployment"
        );
        let t = |e: TokenError| remedy(Failure::Token(&e));
        assert_eq!(
            t(TokenError::NeedsReconsent),
            Remedy::Park("needs_reconsent")
        );
        assert_eq!(t(TokenError::Gone), Remedy::Park("provider_gone"));
        assert_eq!(t(TokenError::Busy), Remedy::RetrySoon(OTHER_REFRESHER));
        assert!(matches!(t(TokenError::NotConnected), Remedy::Skip(_)));
        assert_eq!(
            t(TokenError::Provider(ProviderError::RateLimited {
                retry_after: Duration::from_secs(3)
            })),
            Remedy::WaitForReset(Duration::from_secs(3))
        );
        assert_eq!(
            t(TokenError::Provider(ProviderError::InvalidToken)),
            Remedy::Backoff
        );
    }
}
