//! One person's part of a batch: a valid token, then one fetch per distinct (collection,
//! day) their items ask for, and what the failure policy makes of any that fail.

use crate::domain::PersonKey;
use std::collections::BTreeMap;

use futures_util::future::join_all;

use super::policy::{remedy, Failure, Remedy};
use super::{Fetch, FetchResult, Fetched, PersonResult, SyncService, Work};
use crate::domain::{
    Collection, Connection, ConnectionStatus, DailyInteraction, Outcome, ProviderKind,
    ProviderUserId, Task,
};
use crate::ports::budget::BudgetScope;
use crate::ports::provider::ProviderError;
use crate::ports::queue::RetryRequest;
use crate::ports::store::{FetchClaim, FetchKey};
use crate::telemetry::metric;

impl SyncService {
    /// Everything for one person: token, fetches. Returns decided outcomes and the
    /// interactions still to import.
    pub(super) async fn process_person(
        &self,
        kind: ProviderKind,
        user_id: ProviderUserId,
        items: Vec<usize>,
        batch: &[Work],
    ) -> PersonResult {
        let all = |o: Outcome| items.iter().map(|i| (*i, o.clone())).collect::<Vec<_>>();

        // The latest revocation among the person's items decides what is stale — by the
        // time it was issued, or for a message from before that was recorded, its send
        // time; any of them saying the account is deleted makes it a deletion.
        let revocation = items
            .iter()
            .filter_map(|i| match batch[*i].item.task {
                Task::Revoke {
                    account_deleted,
                    issued_at,
                } => Some((issued_at.unwrap_or(batch[*i].sent_at), account_deleted)),
                Task::Sync { .. } => None,
            })
            .reduce(|(a, x), (b, y)| (a.max(b), x || y));
        if let Some((issued_at, account_deleted)) = revocation {
            return match self
                .revoke(&PersonKey::of(kind, &user_id), issued_at, account_deleted)
                .await
            {
                Ok(()) => (all(Outcome::Done), vec![]),
                Err(e) => {
                    tracing::error!(user_id = %user_id, error = %e, "revocation failed; will retry");
                    (all(Outcome::BACKOFF), vec![])
                }
            };
        }

        let connection = match self.tokens.fresh(&PersonKey::of(kind, &user_id)).await {
            Ok(c) => c,
            Err(e) => {
                let remedy = remedy(Failure::Token(&e));
                let outcome = self.apply(kind, &user_id, &items, batch, remedy, &e).await;
                return (all(outcome), vec![]);
            }
        };

        // One fetch per distinct (collection, day) among this person's items, and only
        // for collections the person granted.
        let granted = self
            .catalog
            .granted_collections(kind, &connection.tokens.scopes);
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
                    priority: batch[*i].item.priority,
                    items: vec![],
                });
                f.sent_at = f.sent_at.max(sent_at);
                f.priority = f.priority.min(batch[*i].item.priority);
                f.items.push(*i);
            }
        }
        let fetches: Vec<Fetch> = fetches.into_values().collect();
        // All of the person's fetches are granted together or not at all: a message that
        // comes back after a partial grant would fetch its granted days again (the fetch
        // log lets the message that began a fetch begin it again).
        if let Some(priority) = fetches.iter().map(|f| f.priority).min() {
            let scope = BudgetScope::Provider(kind);
            if let Some(wait) = self.wait_for(scope, priority, fetches.len() as u32).await {
                return (all(Outcome::RateLimited(wait)), vec![]);
            }
        }
        let results = join_all(fetches.iter().map(|f| self.fetch(&connection, f))).await;

        let mut outcomes = Vec::new();
        let mut fetched = Vec::new();
        let mut unauthorized = false;
        let mut gone = None;
        for (fetch, result) in fetches.iter().zip(results) {
            let e = match result {
                FetchResult::Got(summary, token) => {
                    if !summary.unanswered.is_empty() {
                        // What came is imported below; the day is fetched again for the
                        // rest (what is imported already then costs no second write).
                        tracing::info!(user_id = %user_id, collection = %fetch.key.collection,
                            unanswered = ?summary.unanswered, "part of a day unanswered; fetched again");
                        outcomes.extend(fetch.items.iter().map(|i| (*i, Outcome::BACKOFF)));
                    }
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
                FetchResult::Wait(wait) => {
                    // Fetched a moment ago for another notification: this one waits for
                    // the coalescing window, like a rate limit, never towards the DLQ.
                    outcomes.extend(fetch.items.iter().map(|i| (*i, Outcome::RateLimited(wait))));
                    continue;
                }
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
    pub(super) async fn apply(
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
                    .set_status(
                        &PersonKey::of(kind, user_id),
                        ConnectionStatus::ProviderGone,
                        None,
                    )
                    .await
                {
                    tracing::error!(error = %e, "could not mark provider_gone");
                    return Outcome::BACKOFF;
                }
                tracing::error!(provider = %kind, user_id = %user_id,
                    "provider answered 410 Gone: person marked provider_gone and must migrate");
                self.park(items, batch, "provider_gone").await
            }
            Remedy::ConsentsMissing => {
                let status = ConnectionStatus::ConsentsMissing;
                if let Err(e) = self
                    .token_store
                    .set_status(&PersonKey::of(kind, user_id), status, None)
                    .await
                {
                    tracing::error!(error = %e, "could not mark consents_missing");
                    return Outcome::BACKOFF;
                }
                tracing::warn!(provider = %kind, user_id = %user_id,
                    "the person has not accepted the provider's mandatory consents: marked consents_missing until they reconnect");
                self.park(items, batch, status.as_str()).await
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

    pub(super) async fn fetch(&self, connection: &Connection, f: &Fetch) -> FetchResult {
        let now = self.clock.now();
        let token = match self
            .fetch_log
            .begin(&f.key, f.sent_at, now, self.fetch_coalesce)
            .await
        {
            Ok(FetchClaim::Proceed(token)) => token,
            Ok(FetchClaim::AlreadyFetched) => return FetchResult::Skipped,
            Ok(FetchClaim::Wait(wait)) => return FetchResult::Wait(wait),
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
                if let ProviderError::QuotaExhausted { retry_after } = &e {
                    // The whole project's quota, not this person's: every worker waits.
                    if let Err(e) = self
                        .budget
                        .exhausted(BudgetScope::Provider(f.key.provider), *retry_after)
                        .await
                    {
                        tracing::warn!(error = %e, "could not record the exhausted quota");
                    }
                }
                FetchResult::Failed(e)
            }
        }
    }

    pub(super) async fn hand_to_retry_queue(
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

    pub(super) async fn park(&self, items: &[usize], batch: &[Work], reason: &str) -> Outcome {
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
}
