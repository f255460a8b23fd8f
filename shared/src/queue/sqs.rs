//! SQS adapter for the queue ports.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use futures_util::stream::{self, StreamExt};
use sha2::{Digest, Sha256};

use crate::domain::WorkItem;
use crate::ports::queue::{QueueError, Redelivery, RetryQueue, RetryRequest, WorkQueue};

/// SendMessageBatch takes at most 10 entries.
const BATCH: usize = 10;
/// Batches in flight at once when many items are queued (the daily job).
const CONCURRENT_BATCHES: usize = 32;
/// Longest SQS DelaySeconds.
const MAX_DELAY: Duration = Duration::from_secs(900);

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    /// Sends one batch of up to 10 bodies; entries SQS refuses are tried once more.
    /// Returns how many could not be queued.
    async fn send_batch(&self, bodies: &[(String, Duration)]) -> Result<usize, QueueError> {
        let mut pending: Vec<(usize, &(String, Duration))> = bodies.iter().enumerate().collect();
        for _attempt in 0..2 {
            let entries = pending
                .iter()
                .map(|(i, (body, delay))| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body.as_str())
                        .set_delay_seconds(
                            (!delay.is_zero()).then(|| delay.min(&MAX_DELAY).as_secs() as i32),
                        )
                        .build()
                        .expect("id and body are set")
                })
                .collect::<Vec<_>>();
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
            let failed: Vec<String> = out.failed.into_iter().map(|f| f.id).collect();
            pending.retain(|(i, _)| failed.contains(&i.to_string()));
            if pending.is_empty() {
                return Ok(0);
            }
        }
        Ok(pending.len())
    }
}

fn body(item: &impl serde::Serialize) -> String {
    serde_json::to_string(item).expect("work items always serialise")
}

#[async_trait]
impl WorkQueue for SqsQueue {
    async fn enqueue(&self, items: &[WorkItem]) -> Result<(), QueueError> {
        let items: Vec<(WorkItem, Duration)> =
            items.iter().map(|i| (i.clone(), Duration::ZERO)).collect();
        self.enqueue_paced(&items).await
    }

    async fn enqueue_paced(&self, items: &[(WorkItem, Duration)]) -> Result<(), QueueError> {
        let batches: Vec<Vec<(String, Duration)>> = items
            .chunks(BATCH)
            .map(|chunk| chunk.iter().map(|(i, d)| (body(i), *d)).collect())
            .collect();
        let results: Vec<Result<usize, QueueError>> = stream::iter(batches)
            .map(|batch| {
                let queue = self.clone(); // a client handle: cheap
                async move { queue.send_batch(&batch).await }
            })
            .buffer_unordered(CONCURRENT_BATCHES)
            .collect()
            .await;
        let mut failed = 0;
        for r in results {
            failed += match r {
                Ok(n) => n,
                // A batch the service refused outright counts whole.
                Err(_) => BATCH,
            };
        }
        match failed.min(items.len()) {
            0 => Ok(()),
            failed => Err(QueueError::Partial {
                failed,
                total: items.len(),
            }),
        }
    }

    async fn enqueue_delayed(&self, item: &WorkItem, delay: Duration) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body(item))
            .delay_seconds(delay.min(MAX_DELAY).as_secs() as i32)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

#[async_trait]
impl RetryQueue for SqsQueue {
    async fn enqueue_retry(&self, request: &RetryRequest) -> Result<(), QueueError> {
        let body = body(request);
        // The same work failing in many workers at once collapses into one message within
        // SQS's 5-minute deduplication window.
        let dedup: String = Sha256::digest(body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_group_id(format!(
                "{}#{}",
                request.work.provider, request.work.user_id
            ))
            .message_deduplication_id(dedup)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

#[async_trait]
impl Redelivery for SqsQueue {
    async fn redeliver_after(
        &self,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        // Visibility timeouts go up to 12 hours.
        let secs = delay.as_secs().min(43_200) as i32;
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}
