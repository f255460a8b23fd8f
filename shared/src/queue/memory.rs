//! In-memory adapter of the queue ports, for use-case tests: it records what was sent, and
//! can be told to refuse sends (a queue that is down). [`MemoryMessageQueue`] plays a
//! queue whose messages are moved by hand.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::WorkItem;
use crate::ports::queue::{
    MessageQueue, QueueError, Redelivery, RetryQueue, RetryRequest, TakenMessage, WorkQueue,
};

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

/// Message ids, unique across every [`MemoryMessageQueue`] of the process.
static NEXT_MESSAGE: AtomicU64 = AtomicU64::new(1);

struct StoredMessage {
    id: String,
    body: String,
    group: Option<String>,
    /// The receipt it was handed out with, while it is held.
    held: Option<String>,
}

#[derive(Default)]
struct Messages {
    messages: Vec<StoredMessage>,
    receipts: u64,
    down: bool,
    /// Copies accepted before every further one is refused.
    copies_left: Option<usize>,
    /// Deletes done before every further one fails.
    deletes_left: Option<usize>,
}

impl Messages {
    fn push(&mut self, body: &str, group: Option<String>) -> String {
        let id = format!("m-{}", NEXT_MESSAGE.fetch_add(1, Ordering::SeqCst));
        self.messages.push(StoredMessage {
            id: id.clone(),
            body: body.to_owned(),
            group,
            held: None,
        });
        id
    }
}

/// A queue of raw messages with SQS's hold-and-delete semantics (without the clock: a held
/// message stays held until deleted or released). Clones share the queue.
#[derive(Clone, Default)]
pub struct MemoryMessageQueue {
    state: Arc<Mutex<Messages>>,
    /// Where copies go instead (a destination whose consumer fails them straight back).
    echo: Arc<Mutex<Option<Arc<Mutex<Messages>>>>>,
}

impl MemoryMessageQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Messages> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a message as a producer would; returns its id.
    pub fn push(&self, body: &str) -> String {
        self.lock().push(body, None)
    }

    /// Adds a message in a FIFO message group.
    pub fn push_in_group(&self, body: &str, group: &str) -> String {
        self.lock().push(body, Some(group.to_owned()))
    }

    /// Every message's body, held or not, in order.
    pub fn bodies(&self) -> Vec<String> {
        self.lock()
            .messages
            .iter()
            .map(|m| m.body.clone())
            .collect()
    }

    /// Every message's group, in order.
    pub fn groups(&self) -> Vec<Option<String>> {
        self.lock()
            .messages
            .iter()
            .map(|m| m.group.clone())
            .collect()
    }

    /// Messages handed out and neither deleted nor released.
    pub fn held(&self) -> usize {
        self.lock()
            .messages
            .iter()
            .filter(|m| m.held.is_some())
            .count()
    }

    /// Every take fails while `down`.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Accepts `n` more copies, then refuses every one.
    pub fn refuse_copies_after(&self, n: usize) {
        self.lock().copies_left = Some(n);
    }

    /// Deletes `n` more messages, then fails every delete.
    pub fn refuse_deletes_after(&self, n: usize) {
        self.lock().deletes_left = Some(n);
    }

    /// Copies put here land in `other` instead, with the id given here.
    pub fn echo_copies_to(&self, other: &MemoryMessageQueue) {
        *self.echo.lock().unwrap() = Some(other.state.clone());
    }
}

#[async_trait]
impl MessageQueue for MemoryMessageQueue {
    async fn take(&self, max: usize, _hold: Duration) -> Result<Vec<TakenMessage>, QueueError> {
        let mut state = self.lock();
        if state.down {
            return Err(QueueError::Unavailable("queue is down".into()));
        }
        let mut taken = Vec::new();
        let mut receipts = state.receipts;
        for m in state.messages.iter_mut().filter(|m| m.held.is_none()) {
            if taken.len() == max.min(10) {
                break;
            }
            receipts += 1;
            let receipt = format!("{}#{receipts}", m.id);
            m.held = Some(receipt.clone());
            taken.push(TakenMessage {
                id: m.id.clone(),
                body: m.body.clone(),
                receipt,
                group: m.group.clone(),
            });
        }
        state.receipts = receipts;
        Ok(taken)
    }

    async fn put_copy(&self, message: &TakenMessage) -> Result<String, QueueError> {
        let echo = self.echo.lock().unwrap().clone();
        let mut state = self.lock();
        match &mut state.copies_left {
            Some(0) => return Err(QueueError::Unavailable("copy refused".into())),
            Some(n) => *n -= 1,
            None => {}
        }
        match echo {
            Some(other) => {
                drop(state);
                let mut other = other.lock().unwrap_or_else(|e| e.into_inner());
                Ok(other.push(&message.body, message.group.clone()))
            }
            None => Ok(state.push(&message.body, message.group.clone())),
        }
    }

    async fn delete(&self, message: &TakenMessage) -> Result<(), QueueError> {
        let mut state = self.lock();
        match &mut state.deletes_left {
            Some(0) => return Err(QueueError::Unavailable("delete failed".into())),
            Some(n) => *n -= 1,
            None => {}
        }
        state
            .messages
            .retain(|m| m.held.as_deref() != Some(message.receipt.as_str()));
        Ok(())
    }

    async fn release(&self, message: &TakenMessage) -> Result<(), QueueError> {
        for m in self.lock().messages.iter_mut() {
            if m.held.as_deref() == Some(message.receipt.as_str()) {
                m.held = None;
            }
        }
        Ok(())
    }
}
