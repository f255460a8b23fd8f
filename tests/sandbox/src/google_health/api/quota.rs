//! The request budget: Google's per-user and per-project quotas over a sliding minute, and
//! the per-user throttle tests force.
//!
//! Invariants: a request is charged before contract validation, and only if it is let
//! through (a refused request is not charged); only user tokens count against the per-user
//! quota; a forced throttle runs on real time, not the sandbox clock, and when it ends the
//! user starts with an empty window.

use time::OffsetDateTime;

use crate::counters;
use crate::google_health::error::ApiError;
use crate::google_health::oauth::Principal;
use crate::google_health::State;

/// Requests per second of the sandbox clock over the last minute.
#[derive(Clone, Debug, Default)]
pub(in crate::google_health) struct SlidingWindow {
    buckets: std::collections::VecDeque<(i64, u32)>,
}

impl SlidingWindow {
    fn used(&mut self, now_secs: i64) -> u32 {
        while self
            .buckets
            .front()
            .is_some_and(|(second, _)| *second <= now_secs - 60)
        {
            self.buckets.pop_front();
        }
        self.buckets.iter().map(|(_, n)| n).sum()
    }

    fn add(&mut self, now_secs: i64) {
        match self.buckets.back_mut() {
            Some((second, n)) if *second == now_secs => *n += 1,
            _ => self.buckets.push_back((now_secs, 1)),
        }
    }
}

impl State {
    /// Charges a request to the quotas; `Err` with the 429 if one is used up (the refused
    /// request is not charged).
    pub(super) fn rate_take(
        &mut self,
        principal: &Principal,
        project_number: &str,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        let second = now.unix_timestamp();
        let consumer = format!("project_number:{project_number}");
        if let Principal::User(user) = principal {
            if self.throttles.left(user).is_some() {
                counters::bump(&mut self.stats.throttled, user);
                return Err(ApiError::quota_exceeded(
                    "Requests per minute per user",
                    &consumer,
                ));
            }
            if self.throttles.end_if_over(user) {
                self.user_windows.remove(user);
            }
            let limit = self.per_user_limit;
            let used = self
                .user_windows
                .entry(user.clone())
                .or_default()
                .used(second);
            if used >= limit {
                counters::bump(&mut self.stats.throttled, user);
                tracing::debug!(%user, "google health sandbox: per-user quota exceeded");
                return Err(ApiError::quota_exceeded(
                    "Requests per minute per user",
                    &consumer,
                ));
            }
        }
        if self.project_window.used(second) >= self.per_project_limit {
            self.stats.project_throttled += 1;
            return Err(ApiError::quota_exceeded("Requests per minute", &consumer));
        }
        if let Principal::User(user) = principal {
            self.user_windows
                .entry(user.clone())
                .or_default()
                .add(second);
        }
        self.project_window.add(second);
        Ok(())
    }
}
