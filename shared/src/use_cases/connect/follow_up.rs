//! What follows a connection: the days before it are queued for import, and work parked
//! while the person could not be served goes back to the queue. Both best effort: a
//! person is connected all the same, and told about in the log.

use super::ConnectService;
use crate::domain::PersonKey;
use crate::domain::{Priority, ProviderKind, ProviderUserId, Task, WorkItem};
use crate::ports::store::StoreError;

impl ConnectService {
    /// Queues the import of the person's last days (yesterday and the
    /// `backfill_days - 1` before it; today arrives by notification and the daily job),
    /// each day one work item of every granted collection, as the daily job builds them.
    /// A reconnect queues them again: the import ledger writes only what SAP does not
    /// hold yet, and the signals' history records each day once. Best effort: a person
    /// whose backfill cannot be queued is connected all the same (and told in the log).
    pub(super) async fn backfill(
        &self,
        kind: ProviderKind,
        user_id: &ProviderUserId,
        scopes: &crate::domain::Scopes,
        timezone: Option<&str>,
    ) -> usize {
        let Some((_, queue)) = &self.resume else {
            return 0;
        };
        let yesterday = crate::domain::local_day::yesterday(timezone, self.clock.timestamp());
        let days: Vec<time::Date> = (0..i64::from(self.settings.backfill_days))
            .filter_map(|back| yesterday.checked_sub(time::Duration::days(back)))
            .collect();
        let work: Vec<WorkItem> = days
            .iter()
            .filter_map(|day| {
                // Yesterday is what the daily job would queue; the days before it draw on
                // the lowest share of the providers' budget.
                let priority = if *day == yesterday {
                    Priority::Daily
                } else {
                    Priority::Backfill
                };
                self.catalog
                    .sync_work(kind, user_id, scopes, *day)
                    .map(|w| w.at(priority))
            })
            .collect();
        if work.is_empty() {
            return 0;
        }
        match queue.enqueue(&work).await {
            Ok(()) => {
                tracing::info!(provider = %kind, user_id = %user_id, days = work.len(),
                    from = %days.last().map(|d| d.to_string()).unwrap_or_default(),
                    to = %yesterday, "backfill queued");
                work.len()
            }
            Err(e) => {
                tracing::warn!(provider = %kind, user_id = %user_id, error = %e,
                    "backfill could not be queued; the daily job and notifications go on");
                0
            }
        }
    }

    /// Gives the work parked for `(kind, user_id)` back to the work queue, for the
    /// person's connection `(to, to_user)` (the same one, or the successor a person
    /// migrated to): the days they missed while parked. Best effort: what cannot be
    /// queued stays parked for the next connect.
    pub(super) async fn resume_parked(
        &self,
        kind: ProviderKind,
        user_id: &ProviderUserId,
        to: ProviderKind,
        to_user: &ProviderUserId,
    ) -> usize {
        let Some((parked, queue)) = &self.resume else {
            return 0;
        };
        let result = async {
            let items = parked.parked(&PersonKey::of(kind, user_id)).await?;
            if items.is_empty() {
                return Ok(0);
            }
            let (ids, work): (Vec<String>, Vec<WorkItem>) = items
                .into_iter()
                .filter(|(_, w)| matches!(w.task, Task::Sync { .. }))
                .map(|(id, w)| {
                    let item = WorkItem {
                        provider: to,
                        user_id: to_user.clone(),
                        task: w.task,
                        // The person consented again: their new tokens get a refresh
                        // of their own if they need one.
                        after_refresh: false,
                        priority: w.priority,
                    };
                    (id, item)
                })
                .unzip();
            queue
                .enqueue(&work)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            parked.unpark(&PersonKey::of(kind, user_id), &ids).await?;
            Ok::<_, StoreError>(work.len())
        }
        .await;
        match result {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(user_id = %user_id, error = %e, "parked work stays parked");
                0
            }
        }
    }
}
