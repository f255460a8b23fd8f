//! Users a test forced over their quota at a provider sandbox, for a span of real time.
//!
//! Invariants: a forced throttle runs on real time, not the sandbox clock, since tests wait
//! for it to end; what a throttled request answers, and that the user starts with a fresh
//! quota afterwards, is the provider's.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Users a test forced over their quota, until an instant of real time.
#[derive(Clone, Debug, Default)]
pub(crate) struct ForcedThrottles {
    until: HashMap<String, Instant>,
}

impl ForcedThrottles {
    /// Forces the user over their quota for `duration` of real time from now.
    pub(crate) fn force(&mut self, user: &str, duration: Duration) {
        self.until
            .insert(user.to_owned(), Instant::now() + duration);
    }

    /// Ends the user's forced throttle early.
    pub(crate) fn lift(&mut self, user: &str) {
        self.until.remove(user);
    }

    /// What is left of the user's forced throttle, if one is in force.
    pub(crate) fn left(&self, user: &str) -> Option<Duration> {
        self.until
            .get(user)?
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
    }

    /// Forgets the user's forced throttle once its time is up; true if one ended (the
    /// provider then gives the user a fresh quota).
    pub(crate) fn end_if_over(&mut self, user: &str) -> bool {
        let over = self.until.contains_key(user) && self.left(user).is_none();
        if over {
            self.until.remove(user);
        }
        over
    }
}
