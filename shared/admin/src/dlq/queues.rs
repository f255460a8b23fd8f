//! The queues a dead-letter redrive moves messages between, as they are, whatever they
//! hold: only the operator's redrive uses this port, so it lives here, with its SQS and
//! in-memory adapters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_sdk_sqs::Client;
use fitbridge::ports::queue::QueueError;
use sha2::{Digest, Sha256};

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

/// Where the redrive finds the queues it is given by URL.
pub trait MessageQueues: Send + Sync {
    fn message_queue(&self, url: &str) -> Arc<dyn MessageQueue>;
}

/// Queues in memory by URL, created on first use (tests).
#[derive(Default)]
pub struct MemoryQueues(Mutex<std::collections::HashMap<String, MemoryMessageQueue>>);

impl MemoryQueues {
    /// The queue at `url`.
    pub fn queue(&self, url: &str) -> MemoryMessageQueue {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(url.to_owned())
            .or_default()
            .clone()
    }
}

impl MessageQueues for MemoryQueues {
    fn message_queue(&self, url: &str) -> Arc<dyn MessageQueue> {
        Arc::new(self.queue(url))
    }
}

/// SQS, through the AWS SDK's configuration (`fitbridge::wiring::aws_config`).
pub struct SqsQueues(pub Client);

impl MessageQueues for SqsQueues {
    fn message_queue(&self, url: &str) -> Arc<dyn MessageQueue> {
        Arc::new(SqsMessageQueue {
            client: self.0.clone(),
            url: url.to_owned(),
        })
    }
}

/// One SQS queue, its messages taken and moved as they are.
pub struct SqsMessageQueue {
    client: Client,
    url: String,
}

/// SQS takes at most 10 messages at once.
const BATCH: usize = 10;

fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_sqs::error::SdkError<E, R>,
) -> QueueError {
    QueueError::Unavailable(DisplayErrorContext(e).to_string())
}

/// How long a take waits for a message when none is visible: long polling asks every
/// server, so an empty answer means an empty queue (short polling samples a few).
const TAKE_WAIT_SECS: i32 = 1;

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[async_trait]
impl MessageQueue for SqsMessageQueue {
    async fn take(&self, max: usize, hold: Duration) -> Result<Vec<TakenMessage>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, BATCH) as i32)
            .visibility_timeout(hold.as_secs().min(43_200) as i32)
            .wait_time_seconds(TAKE_WAIT_SECS)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                Some(TakenMessage {
                    group: m
                        .attributes
                        .as_ref()
                        .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                        .cloned(),
                    id: m.message_id?,
                    body: m.body.unwrap_or_default(),
                    receipt: m.receipt_handle?,
                })
            })
            .collect())
    }

    async fn put_copy(&self, message: &TakenMessage) -> Result<String, QueueError> {
        let mut send = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(&message.body);
        // FIFO queue names end in `.fifo`.
        if self.url.ends_with(".fifo") {
            let group = message.group.as_deref().ok_or_else(|| {
                QueueError::Unavailable(
                    "a FIFO queue needs a message group, and the message has none".into(),
                )
            })?;
            // Unique to this take of the message: the SDK's own retries of this send are
            // one message, while a later run's copy (of a message whose delete failed, or
            // that came back) is never taken for a duplicate and dropped.
            send = send
                .message_group_id(group)
                .message_deduplication_id(sha256_hex(message.receipt.as_bytes()));
        }
        let out = send.send().await.map_err(unavailable)?;
        Ok(out.message_id.unwrap_or_default())
    }

    async fn delete(&self, message: &TakenMessage) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(&message.receipt)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn release(&self, message: &TakenMessage) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(&message.receipt)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(unavailable)?;
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
