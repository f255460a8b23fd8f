//! A budget that also holds each scope to the windows its quota holder reports
//! ([`RequestBudget::reported`]), around any other budget.
//!
//! Some quota holders count every request of the partner in windows (say 15 minutes and 24
//! hours) and say on every answer how much of each is used, by all of our containers
//! together. So a container that has just had an answer knows the partner-wide use without
//! asking anyone,
//! and the priorities' ceilings ([`BudgetLimits::share_of`]) can be applied to it: the
//! daily pull stops at its share of each window and backfills at theirs, keeping the rest
//! of the day for notifications, whatever the number of containers.
//!
//! Invariants:
//! - A request is granted only if every window reported for its scope and not yet reset
//!   stays within the ceiling of the work's priority with it; else the work waits for the
//!   latest reset among the windows it would overrun. Then the wrapped budget decides.
//! - Requests granted here count towards the reported windows until the next report, so
//!   one container's own burst is held back before the provider says so.
//! - A report never lowers a window's use: answers to requests made side by side arrive
//!   out of order. A window that has reset (its time passed, or a report of the same window
//!   names a later reset by more than a minute) is replaced.
//! - Nothing is shared or stored: each container holds what its own answers said, and a
//!   container without a report yet asks only the wrapped budget (its first answer brings
//!   one; the provider's 429 is the backstop).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::Priority;
use crate::ports::budget::{
    BudgetError, BudgetLimits, BudgetScope, Grant, QuotaWindow, RequestBudget,
};
use crate::ports::clock::SharedClock;

/// A report naming a reset this much later than the one known is a new window.
const NEW_WINDOW: time::Duration = time::Duration::minutes(1);

pub struct ReportedQuota {
    inner: Arc<dyn RequestBudget>,
    /// The priorities' shares (its `per_minute` is not used).
    shares: BudgetLimits,
    clock: SharedClock,
    reports: Mutex<HashMap<BudgetScope, Vec<QuotaWindow>>>,
}

impl ReportedQuota {
    pub fn new(inner: Arc<dyn RequestBudget>, shares: BudgetLimits, clock: SharedClock) -> Self {
        ReportedQuota {
            inner,
            shares,
            clock,
            reports: Mutex::default(),
        }
    }

    /// Until when work of `priority` asking for `requests` must wait, by the reports; or
    /// `None`, with the requests counted.
    fn hold(
        &self,
        scope: BudgetScope,
        priority: Priority,
        requests: u32,
        now: OffsetDateTime,
    ) -> Option<OffsetDateTime> {
        let mut reports = self.reports.lock().unwrap_or_else(|e| e.into_inner());
        let windows = reports.get_mut(&scope)?;
        windows.retain(|w| w.resets_at > now);
        let overrun = windows
            .iter()
            .filter(|w| w.used + u64::from(requests) > self.shares.share_of(w.limit, priority))
            .map(|w| w.resets_at)
            .max();
        if overrun.is_none() {
            for w in windows.iter_mut() {
                w.used += u64::from(requests);
            }
        }
        overrun
    }
}

#[async_trait]
impl RequestBudget for ReportedQuota {
    async fn take(
        &self,
        scope: BudgetScope,
        priority: Priority,
        requests: u32,
    ) -> Result<Grant, BudgetError> {
        let now = self.clock.now();
        match self.hold(scope, priority, requests, now) {
            Some(until) => Ok(Grant::Wait(
                (until - now).try_into().unwrap_or(Duration::ZERO),
            )),
            None => self.inner.take(scope, priority, requests).await,
        }
    }

    async fn exhausted(
        &self,
        scope: BudgetScope,
        retry_after: Duration,
    ) -> Result<(), BudgetError> {
        self.inner.exhausted(scope, retry_after).await
    }

    fn reported(&self, scope: BudgetScope, windows: &[QuotaWindow]) {
        let mut reports = self.reports.lock().unwrap_or_else(|e| e.into_inner());
        let known = reports.entry(scope).or_default();
        if known.len() != windows.len() {
            *known = windows.to_vec();
            return;
        }
        for (old, new) in known.iter_mut().zip(windows) {
            if new.resets_at > old.resets_at + NEW_WINDOW || old.resets_at <= self.clock.now() {
                *old = *new;
            } else {
                old.used = old.used.max(new.used);
                old.limit = new.limit;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::budget::Unlimited;
    use crate::clock::SetClock;
    use crate::domain::ProviderKind;

    /// A partner client that reports its windows.
    const PARTNER: BudgetScope = BudgetScope::Marketing;
    const NOW: OffsetDateTime = datetime!(2027-03-02 09:00 UTC);

    fn budget() -> (ReportedQuota, Arc<SetClock>) {
        let clock = Arc::new(SetClock::frozen(NOW));
        let shares = BudgetLimits {
            per_minute: 0,
            daily_percent: 80,
            backfill_percent: 50,
        };
        (
            ReportedQuota::new(Arc::new(Unlimited), shares, clock.clone()),
            clock,
        )
    }

    /// Two windows: 15 minutes of 1,000 and a day of 10,000, `day_used` of it used.
    fn windows(short_used: u64, day_used: u64) -> [QuotaWindow; 2] {
        [
            QuotaWindow {
                used: short_used,
                limit: 1_000,
                resets_at: NOW + time::Duration::minutes(10),
            },
            QuotaWindow {
                used: day_used,
                limit: 10_000,
                resets_at: NOW + time::Duration::hours(5),
            },
        ]
    }

    async fn grant(b: &ReportedQuota, priority: Priority, requests: u32) -> Grant {
        b.take(PARTNER, priority, requests).await.unwrap()
    }

    #[tokio::test]
    async fn each_priority_stops_at_its_share_of_the_partners_day() {
        let (b, _) = budget();
        assert_eq!(
            grant(&b, Priority::Backfill, 3).await,
            Grant::Go,
            "no report yet"
        );
        b.reported(PARTNER, &windows(0, 4_998));
        assert_eq!(grant(&b, Priority::Backfill, 2).await, Grant::Go);
        // 5,000 of 10,000: backfills wait for the day's reset, the rest goes on.
        assert_eq!(
            grant(&b, Priority::Backfill, 1).await,
            Grant::Wait(Duration::from_secs(5 * 3600))
        );
        b.reported(PARTNER, &windows(0, 7_999));
        assert_eq!(grant(&b, Priority::Daily, 1).await, Grant::Go);
        assert!(matches!(
            grant(&b, Priority::Daily, 1).await,
            Grant::Wait(_)
        ));
        // Notifications reach the whole day, and no further.
        b.reported(PARTNER, &windows(0, 9_999));
        assert_eq!(grant(&b, Priority::Notification, 1).await, Grant::Go);
        assert!(matches!(
            grant(&b, Priority::Notification, 1).await,
            Grant::Wait(_)
        ));
    }

    #[tokio::test]
    async fn the_short_window_holds_too_and_waits_only_for_its_own_reset() {
        let (b, _) = budget();
        b.reported(PARTNER, &windows(800, 0));
        assert_eq!(
            grant(&b, Priority::Daily, 1).await,
            Grant::Wait(Duration::from_secs(600))
        );
        assert_eq!(grant(&b, Priority::Notification, 1).await, Grant::Go);
    }

    #[tokio::test]
    async fn a_late_answer_never_lowers_the_use_and_a_reset_window_counts_afresh() {
        let (b, clock) = budget();
        b.reported(PARTNER, &windows(0, 5_000));
        // An answer to an earlier request, arriving last.
        b.reported(PARTNER, &windows(0, 4_000));
        assert!(matches!(
            grant(&b, Priority::Backfill, 1).await,
            Grant::Wait(_)
        ));
        // The day has reset: the old window no longer holds anything back.
        clock.set(NOW + time::Duration::hours(5));
        assert_eq!(grant(&b, Priority::Backfill, 1).await, Grant::Go);
        // A new day's report replaces the old one whatever it says.
        let new_day = [QuotaWindow {
            used: 10,
            limit: 10_000,
            resets_at: NOW + time::Duration::hours(29),
        }];
        b.reported(PARTNER, &new_day);
        assert_eq!(grant(&b, Priority::Backfill, 4_990).await, Grant::Go);
        assert!(matches!(
            grant(&b, Priority::Backfill, 1).await,
            Grant::Wait(_)
        ));
    }

    #[tokio::test]
    async fn other_scopes_are_the_wrapped_budgets_alone() {
        let (b, _) = budget();
        b.reported(PARTNER, &windows(1_000, 10_000));
        let other = BudgetScope::Provider(ProviderKind::ALL[0]);
        assert_eq!(
            b.take(other, Priority::Backfill, 1).await.unwrap(),
            Grant::Go
        );
    }
}
