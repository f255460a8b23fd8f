//! The use case the worker runs: for a batch of work items, get each person a valid
//! token, fetch the changed days, and import them as interactions — each (person, day,
//! metric) exactly once, updated when its values change.
//!
//! Every item ends in one [`Outcome`]. Failures are classified by what fixes them:
//! a 401 goes to the retry queue (whose consumer refreshes the token once and resends the
//! work), a 429 waits for the rate-limit reset, 5xx and timeouts back off, 410 and a
//! rejected refresh token park the person's work.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
use time::OffsetDateTime;

use crate::domain::{
    Collection, Connection, ConnectionStatus, DailyInteraction, DaySummary, ProviderKind,
    ProviderUserId, Task, WorkItem,
};
use crate::marketing::{InteractionSink, InteractionWrite, MarketingError};
use crate::provider::{Provider, ProviderError};
use crate::queue::{RetryQueue, RetryRequest, WorkQueue};
use crate::store::{
    Claim, FetchClaim, FetchKey, FetchLog, ImportLedger, LedgerEntry, ParkedWork, TokenStore,
};
use crate::tokens::{TokenError, TokenService};

/// How long an import claim lasts; longer than one worker invocation.
const CLAIM: time::Duration = time::Duration::seconds(90);
/// People processed at once within a batch.
const CONCURRENT_PEOPLE: usize = 10;

/// One message as received.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub body: String,
    /// How often SQS has delivered it, this time included.
    pub receive_count: u32,
    /// When it was first sent (SQS `SentTimestamp`).
    pub sent_at: OffsetDateTime,
}

/// What to do with a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Handled (imported, skipped as already imported, parked, or handed on): delete it.
    Done,
    /// Not handled: deliver it again after this long.
    RetryAfter(Duration),
    /// Waiting for the provider's rate-limit reset. Not a failure: it must not count
    /// towards the DLQ.
    RateLimited(Duration),
}

pub struct SyncService {
    pub providers: HashMap<ProviderKind, Arc<dyn Provider>>,
    pub tokens: Arc<TokenService>,
    pub token_store: Arc<dyn TokenStore>,
    pub interactions: Arc<dyn InteractionSink>,
    pub ledger: Arc<dyn ImportLedger>,
    pub fetch_log: Arc<dyn FetchLog>,
    pub parked: Arc<dyn ParkedWork>,
    pub retry_queue: Arc<dyn RetryQueue>,
    pub work_queue: Arc<dyn WorkQueue>,
    /// The work queue's redrive `maxReceiveCount`.
    pub max_receive_count: u32,
    /// First wait after a transient failure ([`BACKOFF_BASE`] in production).
    pub backoff_base: Duration,
}

/// First wait after a transient failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(30);

/// Exponential backoff for transient failures: 30 s, 60 s, 120 s, … at most 15 minutes.
pub fn backoff(receive_count: u32) -> Duration {
    backoff_from(BACKOFF_BASE, receive_count)
}

/// [`backoff`] from another base (tests use a short one).
pub fn backoff_from(base: Duration, receive_count: u32) -> Duration {
    let exp = receive_count.saturating_sub(1).min(5);
    (base * (1u32 << exp)).min(Duration::from_secs(900))
}

/// One (collection, day) to fetch for a person, and the messages that asked for it.
struct Fetch {
    key: FetchKey,
    sent_at: OffsetDateTime,
    items: Vec<usize>,
}

enum FetchResult {
    /// Fetched under this fetch-log token: finish it once imported, abandon it otherwise.
    Got(DaySummary, String),
    /// Someone else fetched (or is fetching) it for these notifications.
    Skipped,
    Busy,
    Failed(ProviderError),
}

impl SyncService {
    fn backoff(&self, receive_count: u32) -> Duration {
        backoff_from(self.backoff_base, receive_count)
    }

    fn provider(&self, kind: ProviderKind) -> &Arc<dyn Provider> {
        &self.providers[&kind]
    }

    pub async fn process(&self, deliveries: &[Delivery]) -> Vec<Outcome> {
        let mut outcomes = vec![Outcome::Done; deliveries.len()];
        let mut people: BTreeMap<(ProviderKind, ProviderUserId), Vec<(usize, WorkItem)>> =
            BTreeMap::new();
        for (i, d) in deliveries.iter().enumerate() {
            match serde_json::from_str::<WorkItem>(&d.body) {
                Ok(item) if self.providers.contains_key(&item.provider) => people
                    .entry((item.provider, item.user_id.clone()))
                    .or_default()
                    .push((i, item)),
                _ => {
                    // Poison: retried, then the redrive moves it to the DLQ for a person
                    // to look at. The body is ours, not personal: its size is enough here.
                    tracing::error!(
                        index = i,
                        bytes = d.body.len(),
                        receive_count = d.receive_count,
                        "unreadable work message"
                    );
                    outcomes[i] = Outcome::RetryAfter(self.backoff(d.receive_count));
                }
            }
        }

        let per_person: Vec<PersonResult> =
            stream::iter(people.into_iter().map(|((kind, user_id), items)| {
                self.process_person(kind, user_id, items, deliveries)
            }))
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
        self.import(fetched, deliveries, &mut outcomes).await;
        self.requeue_rate_limited(deliveries, &mut outcomes).await;
        outcomes
    }

    /// Everything for one person: token, fetches. Returns decided outcomes and the
    /// interactions still to import.
    async fn process_person(
        &self,
        kind: ProviderKind,
        user_id: ProviderUserId,
        items: Vec<(usize, WorkItem)>,
        deliveries: &[Delivery],
    ) -> PersonResult {
        let indices: Vec<usize> = items.iter().map(|(i, _)| *i).collect();
        let all = |o: Outcome| indices.iter().map(|i| (*i, o.clone())).collect::<Vec<_>>();
        let worst_receive = indices
            .iter()
            .map(|i| deliveries[*i].receive_count)
            .max()
            .unwrap_or(1);

        if items.iter().any(|(_, w)| w.task == Task::Revoke) {
            return match self.revoke(kind, &user_id).await {
                Ok(()) => (all(Outcome::Done), vec![]),
                Err(e) => {
                    tracing::error!(user_id = %user_id, error = %e, "revocation failed; will retry");
                    (
                        all(Outcome::RetryAfter(self.backoff(worst_receive))),
                        vec![],
                    )
                }
            };
        }

        let connection = match self.tokens.fresh(kind, &user_id).await {
            Ok(c) => c,
            Err(e) => {
                return (
                    self.token_failure(&user_id, &items, e, worst_receive).await,
                    vec![],
                )
            }
        };

        // One fetch per distinct (collection, day) among this person's messages, and only
        // for collections the person granted.
        let granted = kind.granted_collections(&connection.tokens.scopes);
        let mut fetches: BTreeMap<(Collection, time::Date), Fetch> = BTreeMap::new();
        for (i, item) in &items {
            let Task::Sync { date, collections } = &item.task else {
                continue;
            };
            for c in collections.iter().filter(|c| granted.contains(c)) {
                let f = fetches.entry((*c, *date)).or_insert_with(|| Fetch {
                    key: FetchKey {
                        provider: kind,
                        user_id: user_id.clone(),
                        collection: *c,
                        date: *date,
                    },
                    sent_at: deliveries[*i].sent_at,
                    items: vec![],
                });
                f.sent_at = f.sent_at.max(deliveries[*i].sent_at);
                f.items.push(*i);
            }
        }
        let fetches: Vec<Fetch> = fetches.into_values().collect();
        let results = join_all(fetches.iter().map(|f| self.fetch(&connection, f))).await;

        let mut outcomes = Vec::new();
        let mut fetched = Vec::new();
        let mut unauthorized = false;
        for (fetch, result) in fetches.iter().zip(results) {
            match result {
                FetchResult::Got(summary, token) => {
                    let interactions = summary
                        .metrics()
                        .into_iter()
                        .map(|(metric, value)| DailyInteraction {
                            contact: connection.contact.clone(),
                            user_id: user_id.clone(),
                            date: fetch.key.date,
                            metric,
                            value,
                        })
                        .collect();
                    fetched.push(Fetched {
                        key: fetch.key.clone(),
                        token,
                        items: fetch.items.clone(),
                        interactions,
                    });
                }
                FetchResult::Skipped => {}
                FetchResult::Busy => {
                    outcomes.extend(
                        fetch
                            .items
                            .iter()
                            .map(|i| (*i, Outcome::RetryAfter(Duration::from_secs(20)))),
                    );
                }
                FetchResult::Failed(
                    ProviderError::AccessTokenExpired | ProviderError::InvalidToken,
                ) => {
                    unauthorized = true;
                }
                FetchResult::Failed(ProviderError::InsufficientScope) => {
                    tracing::info!(user_id = %user_id, collection = %fetch.key.collection,
                        "scope no longer granted; skipping");
                }
                FetchResult::Failed(ProviderError::RateLimited { retry_after }) => {
                    outcomes.extend(
                        fetch
                            .items
                            .iter()
                            .map(|i| (*i, Outcome::RateLimited(retry_after))),
                    );
                }
                FetchResult::Failed(ProviderError::Gone) => {
                    return (self.park_gone(kind, &user_id, &items).await, vec![]);
                }
                FetchResult::Failed(e) => {
                    tracing::warn!(user_id = %user_id, collection = %fetch.key.collection,
                        error = %e, "fetch failed; backing off");
                    outcomes.extend(fetch.items.iter().map(|i| {
                        (
                            *i,
                            Outcome::RetryAfter(self.backoff(deliveries[*i].receive_count)),
                        )
                    }));
                }
            }
        }
        if unauthorized {
            // The token died before its time (revoked, rotated elsewhere): hand the work to
            // the retry queue, whose consumer refreshes once per person and resends it.
            let handed = self.hand_to_retry_queue(&connection, &items).await;
            outcomes.extend(indices.iter().map(|i| (*i, handed.clone())));
            for f in fetched.drain(..) {
                let _ = self.fetch_log.abandon(&f.key, &f.token).await;
            }
        }
        (outcomes, fetched)
    }

    async fn fetch(&self, connection: &Connection, f: &Fetch) -> FetchResult {
        let now = OffsetDateTime::now_utc();
        let token = match self.fetch_log.begin(&f.key, f.sent_at, now).await {
            Ok(FetchClaim::Proceed(token)) => token,
            Ok(FetchClaim::AlreadyFetched) => return FetchResult::Skipped,
            Ok(FetchClaim::InProgress) => return FetchResult::Busy,
            Err(e) => {
                return FetchResult::Failed(ProviderError::Unavailable {
                    reason: format!("fetch log: {e}"),
                })
            }
        };
        let result = self
            .provider(f.key.provider)
            .fetch_day(
                &connection.tokens.access_token,
                &f.key.user_id,
                f.key.collection,
                f.key.date,
            )
            .await;
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
        items: &[(usize, WorkItem)],
    ) -> Outcome {
        for (_, item) in items {
            let request = RetryRequest {
                work: item.clone(),
                observed_version: connection.version,
            };
            if let Err(e) = self.retry_queue.enqueue_retry(&request).await {
                tracing::error!(user_id = %item.user_id, error = %e, "retry queue unavailable");
                return Outcome::RetryAfter(self.backoff(1));
            }
        }
        tracing::info!(user_id = %connection.user_id, items = items.len(),
            "access token rejected; work sent to the retry queue");
        Outcome::Done
    }

    async fn token_failure(
        &self,
        user_id: &ProviderUserId,
        items: &[(usize, WorkItem)],
        e: TokenError,
        receive_count: u32,
    ) -> Vec<(usize, Outcome)> {
        let outcome = match &e {
            TokenError::NotConnected => {
                tracing::warn!(user_id = %user_id, items = items.len(),
                    "work for a person who is not connected; dropped");
                Outcome::Done
            }
            TokenError::Parked(_) | TokenError::NeedsReconsent | TokenError::Gone => {
                self.park(items, &e.to_string()).await
            }
            TokenError::Busy => Outcome::RetryAfter(Duration::from_secs(10)),
            TokenError::Provider(ProviderError::RateLimited { retry_after }) => {
                Outcome::RateLimited(*retry_after)
            }
            TokenError::Provider(_) | TokenError::Store(_) => {
                tracing::warn!(user_id = %user_id, error = %e, "no valid token; backing off");
                Outcome::RetryAfter(self.backoff(receive_count))
            }
        };
        items.iter().map(|(i, _)| (*i, outcome.clone())).collect()
    }

    async fn park(&self, items: &[(usize, WorkItem)], reason: &str) -> Outcome {
        for (_, item) in items {
            if let Err(e) = self.parked.park(item, reason).await {
                tracing::error!(error = %e, "could not park work");
                return Outcome::RetryAfter(self.backoff(1));
            }
        }
        if let Some((_, first)) = items.first() {
            tracing::warn!(user_id = %first.user_id, items = items.len(), reason, "work parked");
        }
        Outcome::Done
    }

    async fn park_gone(
        &self,
        kind: ProviderKind,
        user_id: &ProviderUserId,
        items: &[(usize, WorkItem)],
    ) -> Vec<(usize, Outcome)> {
        if let Err(e) = self
            .token_store
            .set_status(kind, user_id, ConnectionStatus::ProviderGone)
            .await
        {
            tracing::error!(error = %e, "could not mark provider_gone");
            return items
                .iter()
                .map(|(i, _)| (*i, Outcome::RetryAfter(self.backoff(1))))
                .collect();
        }
        tracing::error!(provider = %kind, user_id = %user_id,
            "provider answered 410 Gone: person marked provider_gone and must migrate");
        let o = self.park(items, "provider_gone").await;
        items.iter().map(|(i, _)| (*i, o.clone())).collect()
    }

    /// The person revoked access or deleted their account: remove subscriptions while the
    /// token may still work, forget the tokens, and flag the contact in SAP with a
    /// disconnect interaction.
    async fn revoke(&self, kind: ProviderKind, user_id: &ProviderUserId) -> Result<(), String> {
        // The stored tokens, whatever their state: a revoked token cannot be refreshed.
        let stored = self
            .tokens
            .stored(kind, user_id)
            .await
            .map_err(|e| e.to_string())?;
        let Some(connection) = stored else {
            tracing::info!(user_id = %user_id, "revocation for a person not connected; nothing to do");
            return Ok(());
        };
        for c in &connection.subscriptions {
            // Fitbit removes them itself on revocation; this is for deleteUser races.
            let _ = self
                .provider(kind)
                .unsubscribe(&connection.tokens.access_token, user_id, *c)
                .await;
        }
        self.interactions
            .record_disconnect(&connection.contact, user_id, OffsetDateTime::now_utc())
            .await
            .map_err(|e| e.to_string())?;
        self.token_store
            .revoke(kind, user_id, "revoked by the person")
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(provider = %kind, user_id = %user_id,
            "access revoked: tokens deleted, contact flagged, no further work");
        Ok(())
    }

    /// Imports all interactions of the batch in one round trip, each exactly once; then
    /// records each fetch as done only if all of its interactions are in SAP (a fetch whose
    /// import failed must not make its retried notification look already handled).
    async fn import(
        &self,
        fetched: Vec<Fetched>,
        deliveries: &[Delivery],
        outcomes: &mut [Outcome],
    ) {
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
        for (p, result) in pending.iter().zip(&imported) {
            let Err(wait) = result else { continue };
            fetch_ok[p.fetch] = false;
            for i in &p.items {
                let wait = wait.unwrap_or_else(|| self.backoff(deliveries[*i].receive_count));
                merge(&mut outcomes[*i], Outcome::RetryAfter(wait));
            }
        }
        join_all(fetched.iter().zip(fetch_ok).map(|(f, ok)| async move {
            let _ = if ok {
                self.fetch_log.finish(&f.key, &f.token).await
            } else {
                self.fetch_log.abandon(&f.key, &f.token).await
            };
        }))
        .await;
    }

    /// Claims, writes and records each interaction. Per interaction: `Ok` when it is in
    /// SAP now (written, or there already unchanged), else the wait before retrying
    /// (`None`: the usual backoff).
    async fn import_interactions(&self, pending: &[Pending]) -> Vec<Result<(), Option<Duration>>> {
        let owner = crate::provider::pkce::new_state();
        let owner = owner.as_str();
        let now = OffsetDateTime::now_utc();
        let claims = join_all(pending.iter().map(|p| async move {
            let key = p.interaction.source_object();
            self.ledger
                .claim(&p.interaction.contact, &key, owner, now, now + CLAIM)
                .await
        }))
        .await;

        let mut results: Vec<Result<(), Option<Duration>>> = vec![Ok(()); pending.len()];
        let mut writes = Vec::new();
        let mut written: Vec<(usize, String)> = Vec::new();
        for (n, (p, claim)) in pending.iter().zip(claims).enumerate() {
            let key = p.interaction.source_object();
            let entry = match claim {
                Ok(Claim::Claimed(entry)) => entry,
                Ok(Claim::Busy) => {
                    // Another worker is importing the same day right now.
                    results[n] = Err(Some(Duration::from_secs(20)));
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "import ledger unavailable");
                    results[n] = Err(None);
                    continue;
                }
            };
            let hash = self.interactions.content_hash(&p.interaction);
            let write = match entry {
                LedgerEntry::Imported { hash: h, .. } if h == hash => None,
                LedgerEntry::Imported { interaction_id, .. } => Some(InteractionWrite::Update {
                    id: interaction_id,
                    interaction: p.interaction.clone(),
                }),
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
                            let _ = self
                                .ledger
                                .release(&p.interaction.contact, &key, owner)
                                .await;
                            results[n] = Err(None);
                            continue;
                        }
                    }
                }
            };
            match write {
                None => {
                    let _ = self
                        .ledger
                        .release(&p.interaction.contact, &key, owner)
                        .await;
                }
                Some(w) => {
                    writes.push(w);
                    written.push((n, hash));
                }
            }
        }
        if writes.is_empty() {
            return results;
        }

        let sent = match self.interactions.write(&writes).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, interactions = writes.len(), "SAP unavailable; backing off");
                (0..writes.len())
                    .map(|_| Err(MarketingError::Unavailable("round trip failed".into())))
                    .collect()
            }
        };
        let recorded = join_all(
            written
                .iter()
                .zip(&sent)
                .map(|((n, hash), result)| async move {
                    let p = &pending[*n];
                    let key = p.interaction.source_object();
                    match result {
                        Ok(id) => self
                            .ledger
                            .complete(&p.interaction.contact, &key, owner, hash, id)
                            .await
                            .is_ok(),
                        Err(_) => {
                            let _ = self
                                .ledger
                                .release(&p.interaction.contact, &key, owner)
                                .await;
                            false
                        }
                    }
                }),
        )
        .await;
        let mut ok = 0;
        for (((n, _), result), recorded) in written.iter().zip(&sent).zip(recorded) {
            match result {
                Ok(_) if recorded => ok += 1,
                // In SAP but not in the ledger: the retry finds it by its source object.
                Ok(_) => results[*n] = Err(None),
                Err(e) => {
                    if matches!(e, MarketingError::Rejected(_)) {
                        let p = &pending[*n].interaction;
                        tracing::warn!(user_id = %p.user_id, metric = p.metric.as_str(),
                            error = %e, "SAP rejected the interaction");
                    }
                    results[*n] = Err(None);
                }
            }
        }
        tracing::info!(written = ok, of = writes.len(), "interactions imported");
        results
    }

    /// A message about to reach `maxReceiveCount` only because of rate limiting is sent
    /// again as a fresh copy: waiting for a reset must never push work to the DLQ.
    async fn requeue_rate_limited(&self, deliveries: &[Delivery], outcomes: &mut [Outcome]) {
        for (d, o) in deliveries.iter().zip(outcomes.iter_mut()) {
            let Outcome::RateLimited(after) = *o else {
                continue;
            };
            // SQS moves a message to the DLQ when it comes back after its
            // `maxReceiveCount`-th delivery: only that last delivery needs a fresh copy.
            if d.receive_count < self.max_receive_count {
                continue;
            }
            let Ok(item) = serde_json::from_str::<WorkItem>(&d.body) else {
                continue;
            };
            if self.work_queue.enqueue_delayed(&item, after).await.is_ok() {
                *o = Outcome::Done;
            }
        }
    }
}

/// What processing one person decided (message index → outcome), and what it fetched.
type PersonResult = (Vec<(usize, Outcome)>, Vec<Fetched>);

/// A fetched (collection, day): its fetch-log token, the messages that asked for it and
/// the interactions it yields.
struct Fetched {
    key: FetchKey,
    token: String,
    items: Vec<usize>,
    interactions: Vec<DailyInteraction>,
}

/// An interaction waiting for import, the messages it answers and its fetch.
struct Pending {
    interaction: DailyInteraction,
    items: Vec<usize>,
    fetch: usize,
}

/// Keeps the outcome that needs the most: a failure beats a rate-limit wait beats done;
/// the longer wait wins.
fn merge(current: &mut Outcome, new: Outcome) {
    use Outcome::*;
    *current = match (current.clone(), new) {
        (Done, o) | (o, Done) => o,
        (RetryAfter(a), RetryAfter(b) | RateLimited(b)) | (RateLimited(a), RetryAfter(b)) => {
            RetryAfter(a.max(b))
        }
        (RateLimited(a), RateLimited(b)) => RateLimited(a.max(b)),
    };
}
