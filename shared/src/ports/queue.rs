//! Queue ports. Their adapters are in [`crate::queue`]: SQS, and in memory.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::WorkItem;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("{failed} of {total} messages could not be queued")]
    Partial { failed: usize, total: usize },
}

/// Port: the work queue (standard SQS).
#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Queues every item, or fails: a caller that got `Ok` may acknowledge its source.
    async fn enqueue(&self, items: &[WorkItem]) -> Result<(), QueueError>;

    /// Queues one item to be delivered after `delay` (at most 15 minutes).
    async fn enqueue_delayed(
        &self,
        item: &WorkItem,
        delay: std::time::Duration,
    ) -> Result<(), QueueError>;

    /// Queues every item, each delivered after its own delay (at most 15 minutes), or
    /// fails like [`WorkQueue::enqueue`].
    async fn enqueue_paced(
        &self,
        items: &[(WorkItem, std::time::Duration)],
    ) -> Result<(), QueueError> {
        for (item, delay) in items {
            if delay.is_zero() {
                self.enqueue(std::slice::from_ref(item)).await?;
            } else {
                self.enqueue_delayed(item, *delay).await?;
            }
        }
        Ok(())
    }
}

/// What goes to the retry queue after a 401: the work, and the token version that failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryRequest {
    pub work: WorkItem,
    pub observed_version: u64,
}

/// Port: the retry queue (SQS FIFO, one message group per person, so refreshes for one
/// person are serialised).
#[async_trait]
pub trait RetryQueue: Send + Sync {
    async fn enqueue_retry(&self, request: &RetryRequest) -> Result<(), QueueError>;
}

/// Port: controls the redelivery of a message being processed.
#[async_trait]
pub trait Redelivery: Send + Sync {
    /// Makes the message visible again only after `delay`.
    async fn redeliver_after(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> Result<(), QueueError>;
}
