//! SQS-triggered functions: records in, `SqsBatchResponse` out.
//!
//! A message that is not done is reported as a batch item failure (so Lambda leaves it on
//! the queue) after its visibility is set to the wait its outcome asks for; SQS counts the
//! redelivery and moves it to the DLQ after `maxReceiveCount`.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use time::OffsetDateTime;

use crate::queue::Redelivery;
use crate::refresh::RefreshService;
use crate::sync::{Delivery, Outcome, SyncService};

fn delivery(record: &SqsMessage) -> Delivery {
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
        .unwrap_or_else(OffsetDateTime::now_utc);
    Delivery {
        body: record.body.clone().unwrap_or_default(),
        receive_count,
        sent_at,
    }
}

/// Applies the outcomes: visibility for the ones to retry, and the failure list.
async fn settle(
    records: &[SqsMessage],
    outcomes: &[Outcome],
    redelivery: &dyn Redelivery,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for (record, outcome) in records.iter().zip(outcomes) {
        let delay = match outcome {
            Outcome::Done => continue,
            Outcome::RetryAfter(d) | Outcome::RateLimited(d) => *d,
        };
        if let Some(handle) = &record.receipt_handle {
            if let Err(e) = redelivery.redeliver_after(handle, delay).await {
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

/// The worker function: one batch of work messages.
pub async fn work(
    service: &SyncService,
    redelivery: &dyn Redelivery,
    event: SqsEvent,
) -> SqsBatchResponse {
    let deliveries: Vec<Delivery> = event.records.iter().map(delivery).collect();
    let outcomes = service.process(&deliveries).await;
    let response = settle(&event.records, &outcomes, redelivery).await;
    tracing::info!(
        messages = event.records.len(),
        retried = response.batch_item_failures.len(),
        "work batch done"
    );
    response
}

/// The token-refresh function: one batch from the FIFO retry queue. Once a message of a
/// person fails, that person's later messages in the batch fail too, so FIFO order holds.
pub async fn retry(
    service: &RefreshService,
    redelivery: &dyn Redelivery,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut outcomes = Vec::with_capacity(event.records.len());
    let mut failed_groups = std::collections::HashSet::new();
    for record in &event.records {
        let group = record.attributes.get("MessageGroupId").cloned();
        if group.as_ref().is_some_and(|g| failed_groups.contains(g)) {
            outcomes.push(Outcome::RetryAfter(std::time::Duration::from_secs(5)));
            continue;
        }
        let d = delivery(record);
        let outcome = service.handle(&d.body, d.receive_count).await;
        if outcome != Outcome::Done {
            if let Some(g) = group {
                failed_groups.insert(g);
            }
        }
        outcomes.push(outcome);
    }
    settle(&event.records, &outcomes, redelivery).await
}
