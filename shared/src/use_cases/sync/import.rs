//! The import: every fetched interaction of a batch into the marketing system in one round
//! trip, each exactly once (a claim in the import ledger before every write), then each
//! fully imported day into the person's signals.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use time::OffsetDateTime;

use super::{Fetched, Pending, SyncService, CLAIM, OTHER_WORKER};
use crate::domain::work::merge;
use crate::domain::{ContactKey, Outcome, ProviderKind, ProviderUserId};
use crate::ports::marketing::{InteractionWrite, MarketingError};
use crate::ports::signals::Observed;
use crate::ports::store::{Claim, ImportRecord, LedgerEntry};
use crate::telemetry::metric;

impl SyncService {
    /// Imports all interactions of the batch in one round trip, each exactly once; then
    /// records each fetched day in the person's signal history; then abandons each fetch
    /// for which either failed (its work item is retried, and a duplicate notification
    /// must not be skipped meanwhile on the strength of a fetch that came to nothing).
    pub(super) async fn import(&self, fetched: Vec<Fetched>, outcomes: &mut [Outcome]) {
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
        let owner = crate::domain::pkce::new_state();
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
