//! Port: the request budget every worker container and the daily job share, one per
//! quota holder (a provider's project or partner client, the SAP tenant).
//!
//! Invariants:
//! - A caller asks before each request it makes on the holder's quota, and makes it only
//!   when granted; a refusal says how long to wait, and waiting is never failing: the work
//!   comes back later, it is never dropped and never counts towards the dead-letter queue.
//! - Priorities share one budget by ceilings: work of a priority is granted only while the
//!   window's use stays under its ceiling ([`BudgetLimits::ceiling`]), so what lies above
//!   a lower priority's ceiling is kept for the higher ones. Notifications may use it all.
//! - A quota-holder-wide refusal (the provider says the project's quota is used up)
//!   recorded with [`RequestBudget::exhausted`] stops every caller sharing the budget
//!   until it passes, not only the one that got it.
//! - A quota holder that reports its own use of the quota on every answer (a partner's
//!   rate-limit windows in its headers) is held to the same ceilings per window
//!   ([`RequestBudget::reported`]): what it reports counts, whatever each container
//!   counted itself, so the reserve for higher priorities holds across containers without
//!   coordinating them.
//! - The budget fails open: an adapter that cannot reach its state grants, and the
//!   provider's own 429 remains the backstop.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{Priority, ProviderKind};

/// Whose quota a request spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BudgetScope {
    /// The provider's project (Google Cloud project, partner client): all people share it.
    Provider(ProviderKind),
    /// The SAP Marketing Cloud tenant.
    Marketing,
}

impl BudgetScope {
    /// A short stable name, for storage keys and metric labels.
    pub fn name(&self) -> String {
        match self {
            BudgetScope::Provider(kind) => format!("provider-{kind}"),
            BudgetScope::Marketing => "marketing".to_owned(),
        }
    }
}

/// What a caller may do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Make the requests.
    Go,
    /// Not now: ask again after this long.
    Wait(Duration),
}

#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error("request budget unavailable: {0}")]
    Unavailable(String),
}

/// How many requests a quota holder allows a minute, and how much of it each priority
/// may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetLimits {
    /// Requests a minute for everyone together; 0: no budget (every request granted).
    pub per_minute: u32,
    /// The daily pull stops at this percentage of a minute's requests.
    pub daily_percent: u8,
    /// Backfills stop at this percentage of a minute's requests.
    pub backfill_percent: u8,
}

impl BudgetLimits {
    /// No limit: the budget grants everything.
    pub const UNLIMITED: BudgetLimits = BudgetLimits {
        per_minute: 0,
        daily_percent: 100,
        backfill_percent: 100,
    };

    /// The most of a minute's requests work of `priority` may bring the window to.
    pub fn ceiling(&self, priority: Priority) -> u64 {
        self.share_of(u64::from(self.per_minute), priority)
    }

    /// The part of `limit` (a minute's requests, or a window the quota holder reports)
    /// work of `priority` may bring the use to.
    pub fn share_of(&self, limit: u64, priority: Priority) -> u64 {
        let percent = match priority {
            Priority::Notification => 100,
            Priority::Daily => self.daily_percent.min(100),
            Priority::Backfill => self.backfill_percent.min(self.daily_percent).min(100),
        };
        limit.saturating_mul(u64::from(percent)) / 100
    }

    pub fn is_unlimited(&self) -> bool {
        self.per_minute == 0
    }
}

/// One window of a quota as its holder reported it with an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaWindow {
    /// Requests counted in the window, by everyone sharing the quota.
    pub used: u64,
    pub limit: u64,
    /// When the window starts afresh.
    pub resets_at: OffsetDateTime,
}

/// Port: the shared request budget.
#[async_trait]
pub trait RequestBudget: Send + Sync {
    /// Asks for `requests` requests on `scope`'s quota now, for work of `priority`.
    async fn take(
        &self,
        scope: BudgetScope,
        priority: Priority,
        requests: u32,
    ) -> Result<Grant, BudgetError>;

    /// The quota holder said its whole quota is used up: nobody sharing `scope` asks it
    /// anything for `retry_after`.
    async fn exhausted(&self, scope: BudgetScope, retry_after: Duration)
        -> Result<(), BudgetError>;

    /// The quota holder reported its windows with an answer: from now on [`Self::take`]
    /// holds `scope` to them too. A budget that counts nothing ignores them.
    fn reported(&self, scope: BudgetScope, windows: &[QuotaWindow]) {
        let _ = (scope, windows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_priorities_stop_below_higher_ones() {
        let limits = BudgetLimits {
            per_minute: 1_000,
            daily_percent: 80,
            backfill_percent: 50,
        };
        assert_eq!(limits.ceiling(Priority::Notification), 1_000);
        assert_eq!(limits.ceiling(Priority::Daily), 800);
        assert_eq!(limits.ceiling(Priority::Backfill), 500);
        // A backfill never reaches further than the daily pull.
        let odd = BudgetLimits {
            backfill_percent: 90,
            ..limits
        };
        assert_eq!(odd.ceiling(Priority::Backfill), 800);
    }
}
