//! The webhook use case: a provider's delivery comes in; its handshake is answered, or its
//! notifications become work on the queue.
//!
//! Invariants: nothing here calls the provider or SAP (providers want an answer within
//! seconds); a delivery is acknowledged only once all of its work is queued — anything
//! else answers with an error status so the provider delivers it again.

use std::sync::Arc;

use crate::domain::ProviderKind;
use crate::ports::clock::SharedClock;
use crate::ports::provider::{Received, WebhookRefusal, WebhookRequest, Webhooks};
use crate::ports::queue::{QueueError, WorkQueue};
use crate::telemetry::metric;

/// Notification bodies are a few hundred bytes; anything this large is not a provider.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no webhook for this provider")]
    UnknownProvider,
    #[error("body too large ({0} bytes)")]
    TooLarge(usize),
    #[error(transparent)]
    Refused(#[from] WebhookRefusal),
    #[error("work could not be queued: {0}")]
    Queue(#[from] QueueError),
}

impl WebhookError {
    /// Why a delivery was refused, as the `Reason` of its metric.
    pub fn reason(&self) -> &'static str {
        match self {
            WebhookError::UnknownProvider => "unknown_provider",
            WebhookError::TooLarge(_) => "too_large",
            WebhookError::Refused(WebhookRefusal::Unauthenticated { .. }) => "signature",
            WebhookError::Refused(WebhookRefusal::Malformed) => "malformed",
            WebhookError::Refused(WebhookRefusal::MethodNotAllowed) => "method",
            WebhookError::Refused(WebhookRefusal::Unavailable(_)) => "keys_unavailable",
            WebhookError::Refused(WebhookRefusal::NotYetVerifiable(_)) => "unknown_key",
            WebhookError::Queue(_) => "queue_unavailable",
        }
    }

    /// Whether the refusal is ours (we could not take a delivery we should have), as
    /// opposed to the sender's: what the unavailability alarm counts.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            WebhookError::Refused(WebhookRefusal::Unavailable(_)) | WebhookError::Queue(_)
        )
    }

    /// The HTTP status the provider gets.
    pub fn status(&self) -> u16 {
        match self {
            WebhookError::UnknownProvider => 404,
            WebhookError::TooLarge(_) => 413,
            WebhookError::Refused(WebhookRefusal::Unauthenticated { status, .. }) => *status,
            WebhookError::Refused(WebhookRefusal::Malformed) => 400,
            WebhookError::Refused(WebhookRefusal::MethodNotAllowed) => 405,
            // Not queued: make the provider retry rather than lose the notification.
            WebhookError::Refused(
                WebhookRefusal::Unavailable(_) | WebhookRefusal::NotYetVerifiable(_),
            )
            | WebhookError::Queue(_) => 503,
        }
    }
}

/// What a delivery turned into.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    Handshake {
        status: u16,
    },
    Notifications {
        status: u16,
        received: usize,
        queued: usize,
        skipped: usize,
        ignored: usize,
    },
}

impl Accepted {
    pub fn status(&self) -> u16 {
        match self {
            Accepted::Handshake { status } | Accepted::Notifications { status, .. } => *status,
        }
    }
}

pub struct WebhookService {
    webhooks: Webhooks,
    queue: Arc<dyn WorkQueue>,
    /// Stamps the revocations with the time they were received.
    clock: SharedClock,
}

impl WebhookService {
    pub fn new(webhooks: Webhooks, queue: Arc<dyn WorkQueue>, clock: SharedClock) -> Self {
        WebhookService {
            webhooks,
            queue,
            clock,
        }
    }

    /// Authenticates and parses the delivery with the provider's webhook, queues one work
    /// item per distinct (person, collection, day), and says what to answer.
    pub async fn receive(
        &self,
        provider: ProviderKind,
        request: &WebhookRequest<'_>,
    ) -> Result<Accepted, WebhookError> {
        let result = self.answer(provider, request).await;
        match &result {
            Ok(Accepted::Notifications {
                received, queued, ..
            }) => {
                metrics::counter!(metric::NOTIFICATIONS_ACCEPTED).increment(*received as u64);
                metrics::counter!(metric::WORK_QUEUED).increment(*queued as u64);
            }
            Ok(Accepted::Handshake { .. }) => {}
            Err(e) if e.is_unavailable() => {
                metrics::counter!(metric::WEBHOOK_UNAVAILABLE).increment(1);
            }
            Err(e) => {
                metrics::counter!(metric::NOTIFICATIONS_REJECTED, "Reason" => e.reason())
                    .increment(1);
            }
        }
        result
    }

    async fn answer(
        &self,
        provider: ProviderKind,
        request: &WebhookRequest<'_>,
    ) -> Result<Accepted, WebhookError> {
        let webhook = self
            .webhooks
            .get(provider)
            .ok_or(WebhookError::UnknownProvider)?;
        if request.body.len() > MAX_BODY_BYTES {
            return Err(WebhookError::TooLarge(request.body.len()));
        }
        match webhook.receive(request).await? {
            Received::Handshake { status } => Ok(Accepted::Handshake { status }),
            Received::Notifications {
                notifications,
                ack_status,
            } => {
                // A revocation is issued when it reaches us: a connection made later
                // survives it, however often the message is delivered again.
                let now = self.clock.now();
                let work: Vec<_> = notifications
                    .work
                    .into_iter()
                    .map(|item| item.issued(now))
                    .collect();
                self.queue.enqueue(&work).await?;
                Ok(Accepted::Notifications {
                    status: ack_status,
                    received: notifications.received,
                    queued: work.len(),
                    skipped: notifications.skipped,
                    ignored: notifications.ignored,
                })
            }
        }
    }
}
