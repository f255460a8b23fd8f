//! The retry queue's consumer: after a 401, refresh the person's token once and resend
//! the original work to the work queue.
//!
//! The retry queue is FIFO with one message group per person, so a person's retries are
//! handled one after another; [`crate::tokens`] makes sure that a refresh also never races
//! a worker's proactive refresh. A message whose token version is already outdated (an
//! earlier message refreshed it) just resends its work with the current token.

use std::sync::Arc;
use std::time::Duration;

use crate::queue::{RetryRequest, WorkQueue};
use crate::store::ParkedWork;
use crate::sync::{backoff, Outcome};
use crate::tokens::{TokenError, TokenService};

pub struct RefreshService {
    pub tokens: Arc<TokenService>,
    pub work_queue: Arc<dyn WorkQueue>,
    pub parked: Arc<dyn ParkedWork>,
}

impl RefreshService {
    pub async fn handle(&self, body: &str, receive_count: u32) -> Outcome {
        let Ok(request) = serde_json::from_str::<RetryRequest>(body) else {
            tracing::error!(bytes = body.len(), "unreadable retry message");
            return Outcome::RetryAfter(backoff(receive_count));
        };
        let work = &request.work;
        match self
            .tokens
            .after_unauthorized(work.provider, &work.user_id, request.observed_version)
            .await
        {
            Ok(connection) => match self.work_queue.enqueue(std::slice::from_ref(work)).await {
                Ok(()) => {
                    tracing::info!(user_id = %work.user_id, version = connection.version,
                        "token valid again; work resent");
                    Outcome::Done
                }
                Err(e) => {
                    tracing::error!(error = %e, "work queue unavailable");
                    Outcome::RetryAfter(backoff(receive_count))
                }
            },
            Err(TokenError::NotConnected) => {
                tracing::warn!(user_id = %work.user_id, "retry for a person no longer connected; dropped");
                Outcome::Done
            }
            Err(e @ (TokenError::NeedsReconsent | TokenError::Gone | TokenError::Parked(_))) => {
                match self.parked.park(work, &e.to_string()).await {
                    Ok(()) => Outcome::Done,
                    Err(_) => Outcome::RetryAfter(backoff(receive_count)),
                }
            }
            Err(TokenError::Busy) => Outcome::RetryAfter(Duration::from_secs(5)),
            Err(e) => {
                tracing::warn!(user_id = %work.user_id, error = %e, "refresh failed; will retry");
                Outcome::RetryAfter(backoff(receive_count))
            }
        }
    }
}
