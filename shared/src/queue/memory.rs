//! In-memory adapter of the queue ports, for use-case tests: it records what was sent, and
//! can be told to refuse sends (a queue that is down). [`MemoryMessageQueue`] plays a
//! queue whose messages are moved by hand.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::WorkItem;
use crate::ports::queue::{QueueError, Redelivery, RetryQueue, RetryRequest, WorkQueue};

/// A queue that keeps every message sent to it.
#[derive(Default)]
pub struct MemoryQueue {
    sent: Mutex<Vec<(WorkItem, Duration)>>,
    retries: Mutex<Vec<RetryRequest>>,
    redeliveries: Mutex<Vec<(String, Duration)>>,
    down: AtomicBool,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every send fails while `down`.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Work sent, in order, without its delay.
    pub fn items(&self) -> Vec<WorkItem> {
        self.sent().into_iter().map(|(item, _)| item).collect()
    }

    /// Work sent, with the delay it was sent with.
    pub fn sent(&self) -> Vec<(WorkItem, Duration)> {
        self.sent.lock().unwrap().clone()
    }

    /// Takes the work sent so far (a consumer receiving it).
    pub fn drain(&self) -> Vec<WorkItem> {
        std::mem::take(&mut *self.sent.lock().unwrap())
            .into_iter()
            .map(|(item, _)| item)
            .collect()
    }

    /// Takes the retry requests sent so far.
    pub fn drain_retries(&self) -> Vec<RetryRequest> {
        std::mem::take(&mut *self.retries.lock().unwrap())
    }

    /// Redelivery delays set, by receipt handle.
    pub fn redeliveries(&self) -> Vec<(String, Duration)> {
        self.redeliveries.lock().unwrap().clone()
    }

    fn check_up(&self) -> Result<(), QueueError> {
        if self.down.load(Ordering::SeqCst) {
            Err(QueueError::Unavailable("queue is down".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl WorkQueue for MemoryQueue {
    async fn enqueue(&self, items: &[WorkItem]) -> Result<(), QueueError> {
        self.check_up()?;
        self.sent
            .lock()
            .unwrap()
            .extend(items.iter().map(|i| (i.clone(), Duration::ZERO)));
        Ok(())
    }

    async fn enqueue_delayed(&self, item: &WorkItem, delay: Duration) -> Result<(), QueueError> {
        self.check_up()?;
        self.sent.lock().unwrap().push((item.clone(), delay));
        Ok(())
    }
}

#[async_trait]
impl RetryQueue for MemoryQueue {
    async fn enqueue_retry(&self, request: &RetryRequest) -> Result<(), QueueError> {
        self.check_up()?;
        let mut retries = self.retries.lock().unwrap();
        // SQS FIFO deduplication: the same request within the window is one message.
        if !retries.contains(request) {
            retries.push(request.clone());
        }
        Ok(())
    }
}

#[async_trait]
impl Redelivery for MemoryQueue {
    async fn redeliver_after(
        &self,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.check_up()?;
        self.redeliveries
            .lock()
            .unwrap()
            .push((receipt_handle.to_owned(), delay));
        Ok(())
    }
}
