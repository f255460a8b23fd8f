//! The webhook use case: verify the subscriber, accept notifications, queue the work.
//! Nothing here calls the provider or SAP: Fitbit wants an answer within 5 seconds.

use std::sync::Arc;

use subtle::ConstantTimeEq;

use crate::provider::fitbit::webhook as fitbit;
use crate::queue::{QueueError, WorkQueue};
use crate::secret_store::{ProviderCredentials, SecretCache, SecretError};

/// Notification bodies are a few hundred bytes; anything this large is not Fitbit.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("signature missing or wrong")]
    BadSignature,
    #[error("body is not a notification array")]
    Malformed,
    #[error("body too large ({0} bytes)")]
    TooLarge(usize),
    #[error("work could not be queued: {0}")]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// What a notification body turned into.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    pub received: usize,
    pub queued: usize,
    pub skipped: usize,
    pub ignored: usize,
}

pub struct WebhookService {
    secrets: Arc<SecretCache>,
    fitbit_secret_id: String,
    queue: Arc<dyn WorkQueue>,
}

impl WebhookService {
    pub fn new(
        secrets: Arc<SecretCache>,
        fitbit_secret_id: String,
        queue: Arc<dyn WorkQueue>,
    ) -> Self {
        WebhookService {
            secrets,
            fitbit_secret_id,
            queue,
        }
    }

    async fn credentials(&self) -> Result<ProviderCredentials, SecretError> {
        self.secrets.get(&self.fitbit_secret_id).await
    }

    /// `GET ?verify=<code>`: is this the configured subscriber verification code?
    pub async fn verify_subscriber(&self, code: &str) -> Result<bool, SecretError> {
        let credentials = self.credentials().await?;
        Ok(credentials
            .subscriber_verification_code
            .is_some_and(|expected| expected.expose().as_bytes().ct_eq(code.as_bytes()).into()))
    }

    /// `POST`: checks the signature over the raw bytes, parses, queues one work item per
    /// distinct (owner, collection, date). `Ok` only when everything valid is queued.
    pub async fn accept(
        &self,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<Accepted, WebhookError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(WebhookError::TooLarge(body.len()));
        }
        let credentials = self.credentials().await?;
        let valid = signature
            .is_some_and(|s| fitbit::signature_is_valid(&credentials.client_secret, body, s));
        if !valid {
            return Err(WebhookError::BadSignature);
        }
        let parsed = fitbit::parse(body).map_err(|_| WebhookError::Malformed)?;
        self.queue.enqueue(&parsed.work).await?;
        Ok(Accepted {
            received: parsed.received,
            queued: parsed.work.len(),
            skipped: parsed.skipped,
            ignored: parsed.ignored,
        })
    }
}
