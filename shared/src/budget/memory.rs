//! The request budget of one process: a counter per (scope, window) and, per scope, when
//! a quota-wide refusal passes. Exact within the process; the scale simulation runs every
//! simulated container on one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{until_next_window, window_of};
use crate::domain::Priority;
use crate::ports::budget::{BudgetError, BudgetLimits, BudgetScope, Grant, RequestBudget};
use crate::ports::clock::SharedClock;

#[derive(Default)]
struct Scope {
    window: i64,
    used: u64,
    blocked_until: Option<OffsetDateTime>,
}

pub struct MemoryBudget {
    limits: HashMap<BudgetScope, BudgetLimits>,
    clock: SharedClock,
    state: Mutex<HashMap<BudgetScope, Scope>>,
}

impl MemoryBudget {
    /// A budget with `limits` per scope; a scope without limits is not counted.
    pub fn new(limits: HashMap<BudgetScope, BudgetLimits>, clock: SharedClock) -> MemoryBudget {
        MemoryBudget {
            limits,
            clock,
            state: Mutex::default(),
        }
    }

    /// Requests granted on `scope` in the current window.
    pub fn used(&self, scope: BudgetScope) -> u64 {
        let now = self.clock.now();
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .get(&scope)
            .filter(|s| s.window == window_of(now))
            .map_or(0, |s| s.used)
    }
}

#[async_trait]
impl RequestBudget for MemoryBudget {
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
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let s = state.entry(scope).or_default();
        if let Some(until) = s.blocked_until.filter(|u| *u > now) {
            return Ok(Grant::Wait(
                (until - now).try_into().unwrap_or(Duration::ZERO),
            ));
        }
        if s.window != window_of(now) {
            s.window = window_of(now);
            s.used = 0;
        }
        if s.used + u64::from(requests) > limits.ceiling(priority) {
            return Ok(Grant::Wait(until_next_window(now)));
        }
        s.used += u64::from(requests);
        Ok(Grant::Go)
    }

    async fn exhausted(
        &self,
        scope: BudgetScope,
        retry_after: Duration,
    ) -> Result<(), BudgetError> {
        let until = self.clock.now() + retry_after;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let s = state.entry(scope).or_default();
        s.blocked_until = Some(s.blocked_until.map_or(until, |u| u.max(until)));
        Ok(())
    }
}
