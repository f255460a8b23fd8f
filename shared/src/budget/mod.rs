//! Request budget adapters ([`crate::ports::budget::RequestBudget`]): in memory (one
//! process, and the scale simulation), leased from DynamoDB (every container of a
//! deployment), and [`Unlimited`] (no budget); and [`ReportedQuota`] around any of them,
//! for quota holders that report their own windows.
//!
//! Both counting adapters cut time into one-minute windows of the clock they are given
//! (the window of `t` starts at `t`'s unix minute), so containers agree on windows without
//! talking to each other.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::Priority;
use crate::ports::budget::{BudgetError, BudgetScope, Grant, RequestBudget};

#[cfg(feature = "aws")]
pub mod dynamodb;
pub mod memory;
pub mod reported;

#[cfg(feature = "aws")]
pub use dynamodb::DynamoBudget;
pub use memory::MemoryBudget;
pub use reported::ReportedQuota;

/// The length of a budget window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The window `now` falls in: its unix minute.
pub(crate) fn window_of(now: OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(60)
}

/// How long from `now` until the next window starts.
pub(crate) fn until_next_window(now: OffsetDateTime) -> Duration {
    let next = OffsetDateTime::from_unix_timestamp((window_of(now) + 1) * 60)
        .expect("a minute after a valid time is valid");
    (next - now).try_into().unwrap_or(WINDOW)
}

/// A budget that grants everything.
pub struct Unlimited;

#[async_trait]
impl RequestBudget for Unlimited {
    async fn take(&self, _: BudgetScope, _: Priority, _: u32) -> Result<Grant, BudgetError> {
        Ok(Grant::Go)
    }

    async fn exhausted(&self, _: BudgetScope, _: Duration) -> Result<(), BudgetError> {
        Ok(())
    }
}
