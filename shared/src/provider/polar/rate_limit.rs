//! AccessLink's rate limits, as its answers report them, and this container's view of the
//! partner's budget.
//!
//! Polar limits the partner (the client application), not the person, in two windows: a
//! short one (15 minutes) and a long one (24 hours), each sized by the number of registered
//! people and reported on every answer as `RateLimit-Usage`, `RateLimit-Limit` and
//! `RateLimit-Reset`, each written `short, long` (the reset in seconds). A request over
//! either limit answers 429, and still counts towards the long window.
//!
//! Invariants:
//! - A window the last answer showed used up ([`Windows::exhausted_for`]) refuses every
//!   call of this container until its reset, without a request: a refused request would
//!   only use up more of the day.
//! - A 429 waits for the reset of the window that is used up (the later one if both are),
//!   never less than a second; without readable headers, for the short window's length.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use time::OffsetDateTime;

use crate::ports::budget::QuotaWindow;
use crate::ports::provider::ProviderError;

impl Windows {
    /// Both windows as the shared request budget takes them, answered at `now`.
    pub fn reported(&self, now: OffsetDateTime) -> [QuotaWindow; 2] {
        let window = |used, limit, reset| QuotaWindow {
            used,
            limit,
            resets_at: now + Duration::from_secs(reset),
        };
        [
            window(self.usage.0, self.limit.0, self.reset.0),
            window(self.usage.1, self.limit.1, self.reset.1),
        ]
    }
}

/// How long a 429 without readable headers waits: the short window's length.
pub(super) const SHORT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// What one answer said about the partner's two windows: (short, long) each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Windows {
    pub usage: (u64, u64),
    pub limit: (u64, u64),
    /// Seconds until each window starts afresh.
    pub reset: (u64, u64),
}

/// `short, long`: two whole numbers.
fn pair(headers: &HeaderMap, name: &str) -> Option<(u64, u64)> {
    let text = headers.get(name)?.to_str().ok()?;
    let mut values = text.split(',').map(|v| v.trim().parse::<u64>().ok());
    let pair = (values.next()??, values.next()??);
    values.next().is_none().then_some(pair)
}

impl Windows {
    /// The three headers of an answer; `None` unless all three are there and readable.
    pub fn from_headers(headers: &HeaderMap) -> Option<Windows> {
        Some(Windows {
            usage: pair(headers, "ratelimit-usage")?,
            limit: pair(headers, "ratelimit-limit")?,
            reset: pair(headers, "ratelimit-reset")?,
        })
    }

    /// How long until every used-up window has started afresh; `None` if none is used up.
    /// A window is used up when its usage has reached its limit: the next request would
    /// be refused.
    pub fn exhausted_for(&self) -> Option<Duration> {
        let short = (self.usage.0 >= self.limit.0).then_some(self.reset.0);
        let long = (self.usage.1 >= self.limit.1).then_some(self.reset.1);
        short
            .into_iter()
            .chain(long)
            .max()
            .map(|secs| Duration::from_secs(secs.max(1)))
    }
}

/// How long a 429 waits, from its headers.
pub(super) fn retry_after(windows: Option<Windows>) -> Duration {
    windows
        .and_then(|w| w.exhausted_for())
        // Refused while neither window reads as used up (a forced throttle, headers of
        // another moment): the short window's reset, else its length.
        .or_else(|| windows.map(|w| Duration::from_secs(w.reset.0.max(1))))
        .unwrap_or(SHORT_WINDOW)
}

/// This container's view of the partner's budget: until when the last answers said a
/// window is used up. Each Lambda container holds its own.
///
/// It is the seam where a partner-wide budget goes: [`PartnerBudget::may_call`] is the one
/// place the client asks "may I call now?", and [`PartnerBudget::observe`] the one place it
/// learns from an answer. A budget shared across containers (a request-budget port for
/// every provider, designed separately) replaces what is inside these two, and nothing
/// else of the client changes.
#[derive(Debug, Default)]
pub(super) struct PartnerBudget {
    blocked_until: Mutex<Option<OffsetDateTime>>,
}

impl PartnerBudget {
    /// May a request go out at `now`? `RateLimited` until the used-up window's reset.
    pub fn may_call(&self, now: OffsetDateTime) -> Result<(), ProviderError> {
        let blocked = *self.blocked_until.lock().unwrap_or_else(|e| e.into_inner());
        match blocked {
            Some(until) if until > now => {
                // Whole seconds, rounded up: never back before the reset.
                let wait = (until - now).unsigned_abs().as_secs_f64().ceil() as u64;
                Err(ProviderError::RateLimited {
                    retry_after: Duration::from_secs(wait.max(1)),
                })
            }
            _ => Ok(()),
        }
    }

    /// Learns from an answer received at `now`: a used-up window blocks until its reset.
    /// Answers arrive out of order when requests run side by side, so a block is only ever
    /// extended here, never lifted early by an answer from before it.
    pub fn observe(&self, windows: Option<Windows>, now: OffsetDateTime) {
        let Some(wait) = windows.and_then(|w| w.exhausted_for()) else {
            return;
        };
        self.block_for(wait, now);
    }

    /// Blocks every call until `now + wait` (or later, if blocked longer already).
    pub fn block_for(&self, wait: Duration, now: OffsetDateTime) {
        let until = now + wait;
        let mut blocked = self.blocked_until.lock().unwrap_or_else(|e| e.into_inner());
        if blocked.is_none_or(|b| b < until) {
            *blocked = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;
    use time::macros::datetime;

    use super::*;

    fn headers(usage: &str, limit: &str, reset: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("ratelimit-usage", usage),
            ("ratelimit-limit", limit),
            ("ratelimit-reset", reset),
        ] {
            h.insert(name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn both_windows_are_read_short_then_long() {
        let w = Windows::from_headers(&headers("12, 340", "520, 5100", "899, 86000")).unwrap();
        assert_eq!(
            w,
            Windows {
                usage: (12, 340),
                limit: (520, 5_100),
                reset: (899, 86_000)
            }
        );
        assert_eq!(w.exhausted_for(), None);
        assert_eq!(
            Windows::from_headers(&headers("1,2", "3,4", "5,6"))
                .unwrap()
                .reset,
            (5, 6)
        );
        for (usage, limit, reset) in [
            ("12", "520, 5100", "899, 86000"),
            ("12, 340, 1", "520, 5100", "899, 86000"),
            ("12, -1", "520, 5100", "899, 86000"),
            ("12, x", "520, 5100", "899, 86000"),
            ("12, 340", "520, 5100", ""),
        ] {
            assert_eq!(Windows::from_headers(&headers(usage, limit, reset)), None);
        }
        assert_eq!(Windows::from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn a_429_waits_for_the_reset_of_the_window_used_up() {
        let short = Windows::from_headers(&headers("521, 900", "520, 5100", "300, 80000"));
        assert_eq!(retry_after(short), Duration::from_secs(300));
        let long = Windows::from_headers(&headers("3, 5101", "520, 5100", "300, 80000"));
        assert_eq!(retry_after(long), Duration::from_secs(80_000));
        let both = Windows::from_headers(&headers("600, 5200", "520, 5100", "300, 80000"));
        assert_eq!(retry_after(both), Duration::from_secs(80_000));
        // A refusal whose figures show no window used up: the short window's reset.
        let forced = Windows::from_headers(&headers("3, 4", "520, 5100", "42, 80000"));
        assert_eq!(retry_after(forced), Duration::from_secs(42));
        assert_eq!(retry_after(None), SHORT_WINDOW);
        // A reset of zero still waits a second.
        let now = Windows::from_headers(&headers("520, 4", "520, 5100", "0, 80000"));
        assert_eq!(retry_after(now), Duration::from_secs(1));
    }

    #[test]
    fn a_used_up_window_refuses_calls_until_its_reset() {
        let budget = PartnerBudget::default();
        let t0 = datetime!(2026-11-18 10:00 UTC);
        budget.may_call(t0).unwrap();
        // The last request of the short window went through: usage at its limit.
        budget.observe(
            Windows::from_headers(&headers("520, 900", "520, 5100", "120, 80000")),
            t0,
        );
        let refused = budget.may_call(t0 + time::Duration::seconds(20));
        assert!(
            matches!(refused, Err(ProviderError::RateLimited { retry_after }) if retry_after == Duration::from_secs(100)),
            "{refused:?}"
        );
        // An answer to an earlier request, arriving late, does not lift the block.
        budget.observe(
            Windows::from_headers(&headers("519, 899", "520, 5100", "121, 80001")),
            t0 + time::Duration::seconds(21),
        );
        assert!(budget.may_call(t0 + time::Duration::seconds(30)).is_err());
        budget
            .may_call(t0 + time::Duration::seconds(120))
            .expect("the window started afresh");
        // Without headers nothing changes.
        budget.observe(None, t0 + time::Duration::seconds(121));
        budget.may_call(t0 + time::Duration::seconds(121)).unwrap();
    }
}
