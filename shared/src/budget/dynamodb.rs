//! The request budget every container of a deployment shares, leased from the table in
//! slices: a container takes `slice` requests of a (scope, minute) window with one
//! conditional write and spends them locally, so coordination costs one write per `slice`
//! requests, not one per request.
//!
//! Invariants:
//! - A window's leases never sum past the ceiling of the priority that leased them: the
//!   write adds `slice` to the window's `used` only if `used` is at most the ceiling less
//!   the slice. A container keeps one slice per (scope, priority), so a backfill never
//!   spends requests leased under the notifications' ceiling.
//! - What a container leased and did not spend lapses with its window: at most `slice`
//!   requests per (container, scope, priority) a minute go unused, never over the limit.
//! - A quota-wide 429 ([`RequestBudget::exhausted`]) marks the windows it covers blocked
//!   in the table: every container's next lease fails until it passes, so the slowdown
//!   reaches all of them within one slice.
//! - Items are `pk = BUDGET#<scope>`, `sk = WINDOW#<unix minute>`, `used`, `blocked_until`
//!   (unix seconds) and `ttl` an hour after the window.
//! - Failing open: the table unreachable grants (the provider's 429 is the backstop).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use aws_sdk_dynamodb::Client;
use time::OffsetDateTime;

use super::{until_next_window, window_of};
use crate::domain::Priority;
use crate::ports::budget::{BudgetError, BudgetLimits, BudgetScope, Grant, RequestBudget};
use crate::ports::clock::SharedClock;
use crate::store::dynamodb::codec::{get_n, is_condition_failure, n, s, Item};

/// How long a window's item outlives it.
const KEEP: i64 = 3600;

#[derive(Default)]
struct Slice {
    window: i64,
    left: u32,
}

pub struct DynamoBudget {
    client: Client,
    table: String,
    limits: HashMap<BudgetScope, BudgetLimits>,
    slice: u32,
    clock: SharedClock,
    slices: Mutex<HashMap<(BudgetScope, Priority), Slice>>,
    /// Per scope: until when this container knows the quota is used up.
    blocked: Mutex<HashMap<BudgetScope, OffsetDateTime>>,
}

impl DynamoBudget {
    pub fn new(
        client: Client,
        table: impl Into<String>,
        limits: HashMap<BudgetScope, BudgetLimits>,
        slice: u32,
        clock: SharedClock,
    ) -> DynamoBudget {
        DynamoBudget {
            client,
            table: table.into(),
            limits,
            slice: slice.max(1),
            clock,
            slices: Mutex::default(),
            blocked: Mutex::default(),
        }
    }

    fn key(scope: BudgetScope, window: i64) -> Item {
        HashMap::from([
            ("pk".to_owned(), s(format!("BUDGET#{}", scope.name()))),
            ("sk".to_owned(), s(format!("WINDOW#{window}"))),
        ])
    }

    fn blocked_until(&self, scope: BudgetScope, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.get(&scope).copied().filter(|u| *u > now)
    }

    fn block(&self, scope: BudgetScope, until: OffsetDateTime) {
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        let at = blocked.entry(scope).or_insert(until);
        *at = (*at).max(until);
    }

    /// Leases `amount` requests of the window for a priority whose ceiling is `ceiling`:
    /// `Ok(None)` when granted, else until when to wait.
    async fn lease(
        &self,
        scope: BudgetScope,
        window: i64,
        amount: u32,
        ceiling: u64,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, BudgetError> {
        let next_window = now + until_next_window(now);
        let Some(most_before) = ceiling.checked_sub(u64::from(amount)) else {
            return Ok(Some(next_window));
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(scope, window)))
            .update_expression("ADD used :amount SET #ttl = :ttl")
            .condition_expression(
                "(attribute_not_exists(used) OR used <= :most) AND \
                 (attribute_not_exists(blocked_until) OR blocked_until <= :now)",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":amount", n(i64::from(amount)))
            .expression_attribute_values(":most", n(most_before as i64))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .expression_attribute_values(":ttl", n((window + 1) * 60 + KEEP))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(e) if is_condition_failure(&e) => {
                let old = match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                        c.item.clone().unwrap_or_default()
                    }
                    _ => Item::default(),
                };
                let blocked = get_n(&old, "blocked_until")
                    .ok()
                    .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                    .filter(|t| *t > now);
                if let Some(until) = blocked {
                    self.block(scope, until);
                }
                Ok(Some(blocked.unwrap_or(next_window)))
            }
            Err(e) => Err(BudgetError::Unavailable(e.to_string())),
        }
    }
}

fn wait(until: OffsetDateTime, now: OffsetDateTime) -> Grant {
    Grant::Wait((until - now).try_into().unwrap_or(Duration::ZERO))
}

#[async_trait]
impl RequestBudget for DynamoBudget {
    async fn take(
        &self,
        scope: BudgetScope,
        priority: Priority,
        requests: u32,
    ) -> Result<Grant, BudgetError> {
        let Some(limits) = self.limits.get(&scope).filter(|l| !l.is_unlimited()) else {
            return Ok(Grant::Go);
        };
        let now = self.clock.now();
        if let Some(until) = self.blocked_until(scope, now) {
            return Ok(wait(until, now));
        }
        let window = window_of(now);
        {
            let mut slices = self.slices.lock().unwrap_or_else(|e| e.into_inner());
            let slice = slices.entry((scope, priority)).or_default();
            if slice.window == window && slice.left >= requests {
                slice.left -= requests;
                return Ok(Grant::Go);
            }
        }
        let ceiling = limits.ceiling(priority);
        // Never lease more than a priority may reach in a whole window.
        let amount = self
            .slice
            .max(requests)
            .min(u32::try_from(ceiling).unwrap_or(u32::MAX))
            .max(requests);
        if let Some(until) = self.lease(scope, window, amount, ceiling, now).await? {
            return Ok(wait(until, now));
        }
        let mut slices = self.slices.lock().unwrap_or_else(|e| e.into_inner());
        let slice = slices.entry((scope, priority)).or_default();
        *slice = Slice {
            window,
            left: amount - requests,
        };
        Ok(Grant::Go)
    }

    async fn exhausted(
        &self,
        scope: BudgetScope,
        retry_after: Duration,
    ) -> Result<(), BudgetError> {
        let now = self.clock.now();
        let until = now + retry_after;
        self.block(scope, until);
        // Every window the wait covers: a container leasing in any of them sees it.
        for window in window_of(now)..=window_of(until) {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(scope, window)))
                .update_expression("SET blocked_until = :until, #ttl = :ttl")
                .condition_expression(
                    "attribute_not_exists(blocked_until) OR blocked_until < :until",
                )
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":until", n(until.unix_timestamp()))
                .expression_attribute_values(":ttl", n((window + 1) * 60 + KEEP))
                .send()
                .await
                .map(|_| ())
                .or_else(|e| {
                    if is_condition_failure(&e) {
                        Ok(())
                    } else {
                        Err(BudgetError::Unavailable(e.to_string()))
                    }
                })?;
        }
        Ok(())
    }
}
