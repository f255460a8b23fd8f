//! SQS-triggered functions: records in, `SqsBatchResponse` out. The delivery side of the
//! pipeline lives here, so the use cases never see a message.
//!
//! Invariants:
//! - A record that is not done is reported as a batch item failure (so Lambda leaves it on
//!   the queue) after its visibility is set to the wait its outcome asks for; SQS counts
//!   the redelivery and moves it to the DLQ after `maxReceiveCount`.
//! - A transient failure waits [`backoff`] of its receive count.
//! - Waiting for a rate-limit reset is not failing: a record on its last delivery before
//!   the DLQ that only waits for a reset is sent again as a fresh copy and deleted.
//! - An unreadable body is poison: retried with backoff, then the DLQ keeps it for a
//!   person to look at (its size is logged, not its content).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use time::OffsetDateTime;

use crate::domain::Outcome;
use crate::domain::WorkItem;
use crate::ports::clock::SharedClock;
use crate::ports::queue::{Redelivery, RetryRequest, WorkQueue};
use crate::telemetry::metric;
use crate::use_cases::refresh::RefreshService;
use crate::use_cases::sync::{SyncService, Work};

/// First wait after a transient failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(30);
/// Longest wait after a transient failure.
const BACKOFF_MAX: Duration = Duration::from_secs(900);

/// Exponential backoff for transient failures: `base`, 2·`base`, 4·`base`, … at most
/// 15 minutes.
pub fn backoff(base: Duration, receive_count: u32) -> Duration {
    let exp = receive_count.saturating_sub(1).min(5);
    (base * (1u32 << exp)).min(BACKOFF_MAX)
}

/// One message as received.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub body: String,
    /// How often SQS has delivered it, this time included.
    pub receive_count: u32,
    /// When it was first sent (SQS `SentTimestamp`).
    pub sent_at: OffsetDateTime,
}

impl Delivery {
    /// `now`: the send time of a record that does not say (never seen from SQS).
    pub fn from_record(record: &SqsMessage, now: OffsetDateTime) -> Delivery {
        let receive_count = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let sent_at = record
            .attributes
            .get("SentTimestamp")
            .and_then(|v| v.parse::<i128>().ok())
            .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok())
            .unwrap_or(now);
        Delivery {
            body: record.body.clone().unwrap_or_default(),
            receive_count,
            sent_at,
        }
    }
}

/// What to do with a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Delete,
    RedeliverAfter(Duration),
}

impl Decision {
    /// What an outcome means for its message on its `receive_count`-th delivery.
    fn of(outcome: Outcome, backoff_base: Duration, receive_count: u32) -> Decision {
        match outcome {
            Outcome::Done => Decision::Delete,
            Outcome::Retry { after, backoff: b } if b => {
                Decision::RedeliverAfter(after.max(backoff(backoff_base, receive_count)))
            }
            Outcome::Retry { after, .. } | Outcome::RateLimited(after) => {
                Decision::RedeliverAfter(after)
            }
        }
    }
}

/// The worker function's adapter: work messages to [`SyncService`] and back.
/// Counts a message that failed; on its last allowed receive (when the queue's
/// `maxReceiveCount` is known here) SQS moves it to the DLQ next.
fn count_failure(receive_count: u32, max_receive_count: Option<u32>) {
    metrics::counter!(metric::WORK_FAILED).increment(1);
    if max_receive_count.is_some_and(|max| receive_count >= max) {
        metrics::counter!(metric::WORK_DEAD_LETTERED).increment(1);
    }
}

pub struct WorkConsumer {
    pub sync: SyncService,
    /// For fresh copies of rate-limited work.
    pub work_queue: Arc<dyn WorkQueue>,
    pub redelivery: Arc<dyn Redelivery>,
    /// The work queue's redrive `maxReceiveCount`.
    pub max_receive_count: u32,
    /// First wait after a transient failure ([`BACKOFF_BASE`] in production).
    pub backoff_base: Duration,
}

impl WorkConsumer {
    /// The worker function: one batch of work messages.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let now = self.sync.clock.now();
        let deliveries: Vec<Delivery> = event
            .records
            .iter()
            .map(|r| Delivery::from_record(r, now))
            .collect();
        let decisions = self.decide(&deliveries).await;
        let response = settle(&event.records, &decisions, self.redelivery.as_ref()).await;
        tracing::info!(
            messages = event.records.len(),
            retried = response.batch_item_failures.len(),
            "work batch done"
        );
        response
    }

    /// Decodes the deliveries, runs the use case on the readable ones, and turns each
    /// outcome into what happens to its message.
    pub async fn decide(&self, deliveries: &[Delivery]) -> Vec<Decision> {
        let mut decisions = vec![Decision::Delete; deliveries.len()];
        let mut batch = Vec::new();
        let mut positions = Vec::new();
        for (i, d) in deliveries.iter().enumerate() {
            match serde_json::from_str::<WorkItem>(&d.body) {
                Ok(item) => {
                    batch.push(Work {
                        item,
                        sent_at: d.sent_at,
                    });
                    positions.push(i);
                }
                Err(_) => {
                    tracing::error!(
                        index = i,
                        bytes = d.body.len(),
                        receive_count = d.receive_count,
                        "unreadable work message"
                    );
                    decisions[i] =
                        Decision::RedeliverAfter(backoff(self.backoff_base, d.receive_count));
                    count_failure(d.receive_count, Some(self.max_receive_count));
                }
            }
        }
        let outcomes = self.sync.process(&batch).await;
        for ((i, work), outcome) in positions.into_iter().zip(&batch).zip(outcomes) {
            let d = &deliveries[i];
            if matches!(outcome, Outcome::Retry { backoff: true, .. }) {
                count_failure(d.receive_count, Some(self.max_receive_count));
            }
            decisions[i] = match outcome {
                Outcome::RateLimited(after) => self.wait_for_reset(&work.item, d, after).await,
                other => Decision::of(other, self.backoff_base, d.receive_count),
            };
        }
        decisions
    }

    /// SQS moves a message to the DLQ when it comes back after its `maxReceiveCount`-th
    /// delivery: only that last delivery needs a fresh copy.
    async fn wait_for_reset(&self, item: &WorkItem, d: &Delivery, after: Duration) -> Decision {
        if d.receive_count >= self.max_receive_count
            && self.work_queue.enqueue_delayed(item, after).await.is_ok()
        {
            return Decision::Delete;
        }
        Decision::RedeliverAfter(after)
    }
}

/// The token-refresh function's adapter: retry-queue messages to [`RefreshService`].
pub struct RetryConsumer {
    pub refresh: RefreshService,
    pub redelivery: Arc<dyn Redelivery>,
    pub backoff_base: Duration,
    /// What the invocation's deadline is compared with.
    pub clock: SharedClock,
}

/// An invocation's deadline as the Lambda runtime gives it (milliseconds since the epoch).
pub fn lambda_deadline(millis: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The most one refresh may take: waiting for another refresher (5 s), the provider
/// call (8 s) and the store. A record is started only with this much time left.
const ONE_REFRESH: Duration = Duration::from_secs(15);

impl RetryConsumer {
    /// One batch from the FIFO retry queue, with no deadline (tests).
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_until(event, None).await
    }

    /// One batch from the FIFO retry queue. Once a message of a person (a message group)
    /// is not done, that person's later messages in the batch wait too, so FIFO order
    /// holds. Records are handled one after another, and one that could not finish before
    /// the invocation's `deadline` is handed back untouched rather than cut off midway.
    pub async fn handle_until(
        &self,
        event: SqsEvent,
        deadline: Option<OffsetDateTime>,
    ) -> SqsBatchResponse {
        let mut decisions = Vec::with_capacity(event.records.len());
        let mut failed_groups = HashSet::new();
        for record in &event.records {
            let group = record.attributes.get("MessageGroupId").cloned();
            let now = self.clock.now();
            let out_of_time = deadline.is_some_and(|d| d - now < ONE_REFRESH);
            if out_of_time || group.as_ref().is_some_and(|g| failed_groups.contains(g)) {
                if let Some(g) = group {
                    failed_groups.insert(g);
                }
                decisions.push(Decision::RedeliverAfter(Duration::from_secs(5)));
                continue;
            }
            let d = Delivery::from_record(record, now);
            let decision = match serde_json::from_str::<RetryRequest>(&d.body) {
                Ok(request) => {
                    let outcome = self.refresh.handle(&request).await;
                    if matches!(outcome, Outcome::Retry { backoff: true, .. }) {
                        count_failure(d.receive_count, None);
                    }
                    Decision::of(outcome, self.backoff_base, d.receive_count)
                }
                Err(_) => {
                    count_failure(d.receive_count, None);
                    tracing::error!(bytes = d.body.len(), "unreadable retry message");
                    Decision::RedeliverAfter(backoff(self.backoff_base, d.receive_count))
                }
            };
            if decision != Decision::Delete {
                if let Some(g) = group {
                    failed_groups.insert(g);
                }
            }
            decisions.push(decision);
        }
        settle(&event.records, &decisions, self.redelivery.as_ref()).await
    }
}

/// Applies the decisions: visibility for the ones to redeliver, and the failure list.
async fn settle(
    records: &[SqsMessage],
    decisions: &[Decision],
    redelivery: &dyn Redelivery,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for (record, decision) in records.iter().zip(decisions) {
        let Decision::RedeliverAfter(delay) = decision else {
            continue;
        };
        if let Some(handle) = &record.receipt_handle {
            if let Err(e) = redelivery.redeliver_after(handle, *delay).await {
                // The queue's own visibility timeout applies instead; nothing is lost.
                tracing::warn!(error = %e, "could not set the redelivery delay");
            }
        }
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = record.message_id.clone().unwrap_or_default();
        response.batch_item_failures.push(failure);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_fifteen_minutes() {
        let base = BACKOFF_BASE;
        assert_eq!(backoff(base, 1), Duration::from_secs(30));
        assert_eq!(backoff(base, 2), Duration::from_secs(60));
        assert_eq!(backoff(base, 5), Duration::from_secs(480));
        assert_eq!(backoff(base, 6), Duration::from_secs(900));
        assert_eq!(backoff(base, u32::MAX), Duration::from_secs(900));
        assert_eq!(backoff(base, 0), Duration::from_secs(30));
    }
}
