//! The retry queue's use case: after a 401, refresh the person's token once and resend
//! the original work to the work queue, marked as refreshed: a second 401 for it then
//! backs off towards the dead-letter queue instead of coming back here in a circle.
//!
//! The retry queue is FIFO with one message group per person, so a person's retries are
//! handled one after another; the token use case ([`Tokens`]) makes sure that a refresh also never races
//! a worker's proactive refresh. A request whose token version is already outdated (an
//! earlier one refreshed it) just resends its work with the current token.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{Outcome, WorkItem};
use crate::ports::queue::{RetryRequest, WorkQueue};
use crate::ports::store::ParkedWork;
use crate::ports::tokens::{TokenError, Tokens};
use crate::telemetry::metric;

/// How soon to look again when another refresher holds the person's lease.
const OTHER_REFRESHER: Duration = Duration::from_secs(5);

pub struct RefreshService {
    pub tokens: Arc<dyn Tokens>,
    pub work_queue: Arc<dyn WorkQueue>,
    pub parked: Arc<dyn ParkedWork>,
}

impl RefreshService {
    pub async fn handle(&self, request: &RetryRequest) -> Outcome {
        let work = &request.work;
        match self
            .tokens
            .after_unauthorized(&work.person(), request.observed_version)
            .await
        {
            // Marked: a second 401 is not the token's, and must not come back here.
            Ok(connection) => match self
                .work_queue
                .enqueue(&[WorkItem {
                    after_refresh: true,
                    ..work.clone()
                }])
                .await
            {
                Ok(()) => {
                    metrics::counter!(metric::WORK_QUEUED).increment(1);
                    tracing::info!(user_id = %work.user_id, version = connection.version,
                        "token valid again; work resent");
                    Outcome::Done
                }
                Err(e) => {
                    tracing::error!(error = %e, "work queue unavailable");
                    Outcome::BACKOFF
                }
            },
            Err(TokenError::NotConnected) => {
                tracing::warn!(user_id = %work.user_id, "retry for a person no longer connected; dropped");
                Outcome::Done
            }
            Err(e @ (TokenError::NeedsReconsent | TokenError::Gone | TokenError::Parked(_))) => {
                let reason = match &e {
                    TokenError::Gone => "provider_gone",
                    TokenError::Parked(status) => status,
                    _ => "needs_reconsent",
                };
                match self.parked.park(work, &e.to_string()).await {
                    Ok(()) => {
                        metrics::counter!(metric::WORK_PARKED, "Reason" => reason).increment(1);
                        Outcome::Done
                    }
                    Err(_) => Outcome::BACKOFF,
                }
            }
            Err(TokenError::Busy) => Outcome::Retry {
                after: OTHER_REFRESHER,
                backoff: false,
            },
            Err(e) => {
                tracing::warn!(user_id = %work.user_id, error = %e, "refresh failed; will retry");
                Outcome::BACKOFF
            }
        }
    }
}
