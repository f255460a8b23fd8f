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

/// A message taken off a queue to be moved to another: its body as it was sent, and what
/// deletes or releases it while it is held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakenMessage {
    /// The queue's id of the message (it keeps it when it is moved to a dead-letter queue).
    pub id: String,
    pub body: String,
    /// Valid while the message is held.
    pub receipt: String,
    /// A FIFO queue's message group.
    pub group: Option<String>,
}

/// Port: a queue whose messages an operator moves by hand (a dead-letter queue redriven
/// to its source queue). Messages are moved as they are, whatever they hold.
#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Takes up to `max` (at most 10) messages, each hidden from every other consumer for
    /// `hold`. Empty: no message is visible now.
    async fn take(
        &self,
        max: usize,
        hold: std::time::Duration,
    ) -> Result<Vec<TakenMessage>, QueueError>;

    /// Sends a copy of a message taken from another queue: the same body (in a FIFO queue,
    /// in the same group). `Ok` only once the queue has it, with the copy's id.
    async fn put_copy(&self, message: &TakenMessage) -> Result<String, QueueError>;

    /// Deletes a message this queue handed out.
    async fn delete(&self, message: &TakenMessage) -> Result<(), QueueError>;

    /// Makes a message this queue handed out visible again at once.
    async fn release(&self, message: &TakenMessage) -> Result<(), QueueError>;
}
