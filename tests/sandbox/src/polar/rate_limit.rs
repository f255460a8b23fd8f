//! AccessLink's rate limits: per partner (client), not per person, in a short (15-minute)
//! and a long (24-hour) window, each sized by the registered people, with
//! `RateLimit-Usage`, `RateLimit-Limit` and `RateLimit-Reset` ("short, long") on every
//! answer.
//!
//! Invariants:
//! - A window starts with the first charged request after it ended, and ends its length
//!   later on the sandbox clock ("reset after 15 minutes have passed since first request").
//! - Every charged request counts in both windows, a refused one too: "requests violating
//!   the short term limit will still count toward the long term limit".
//! - A request is refused (429) when, with it, either window's usage exceeds its limit.
//! - The limits follow the number of registered people at the time of the request.

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub(super) const SHORT_WINDOW_SECS: i64 = 15 * 60;
pub(super) const LONG_WINDOW_SECS: i64 = 24 * 3600;

/// The limit formulas: `base + per_person × registered people` per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    pub short_base: u32,
    pub short_per_person: u32,
    pub long_base: u32,
    pub long_per_person: u32,
}

impl Default for RateLimits {
    /// The page's: 500 + 20 × people per 15 minutes, 5,000 + 100 × people per 24 hours.
    fn default() -> Self {
        RateLimits {
            short_base: 500,
            short_per_person: 20,
            long_base: 5_000,
            long_per_person: 100,
        }
    }
}

impl RateLimits {
    /// (short, long) for `people` registered people.
    pub fn limits(&self, people: u32) -> (u32, u32) {
        (
            self.short_base
                .saturating_add(self.short_per_person.saturating_mul(people)),
            self.long_base
                .saturating_add(self.long_per_person.saturating_mul(people)),
        )
    }
}

#[derive(Clone, Copy, Debug)]
struct Window {
    started: OffsetDateTime,
    used: u32,
}

/// The partner's two windows.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PartnerQuota {
    short: Option<Window>,
    long: Option<Window>,
}

/// What the three headers say: (short, long) each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RateInfo {
    pub(super) usage: (u32, u32),
    pub(super) limit: (u32, u32),
    /// Seconds until each window ends (its full length if it has not started).
    pub(super) reset: (i64, i64),
}

fn live(window: Option<Window>, length: i64, now: OffsetDateTime) -> Option<Window> {
    window.filter(|w| (now - w.started).whole_seconds() < length)
}

fn reset_secs(window: Option<Window>, length: i64, now: OffsetDateTime) -> i64 {
    window.map_or(length, |w| {
        (length - (now - w.started).whole_seconds()).max(0)
    })
}

impl PartnerQuota {
    /// The figures without charging a request.
    pub(super) fn peek(&self, limit: (u32, u32), now: OffsetDateTime) -> RateInfo {
        let short = live(self.short, SHORT_WINDOW_SECS, now);
        let long = live(self.long, LONG_WINDOW_SECS, now);
        RateInfo {
            usage: (short.map_or(0, |w| w.used), long.map_or(0, |w| w.used)),
            limit,
            reset: (
                reset_secs(short, SHORT_WINDOW_SECS, now),
                reset_secs(long, LONG_WINDOW_SECS, now),
            ),
        }
    }

    /// Charges one request to both windows; `Err` if either is now over its limit.
    pub(super) fn charge(
        &mut self,
        limit: (u32, u32),
        now: OffsetDateTime,
    ) -> Result<RateInfo, RateInfo> {
        let bump = |window: Option<Window>, length: i64| {
            let mut w = live(window, length, now).unwrap_or(Window {
                started: now,
                used: 0,
            });
            w.used = w.used.saturating_add(1);
            Some(w)
        };
        self.short = bump(self.short, SHORT_WINDOW_SECS);
        self.long = bump(self.long, LONG_WINDOW_SECS);
        let info = self.peek(limit, now);
        if info.usage.0 > limit.0 || info.usage.1 > limit.1 {
            Err(info)
        } else {
            Ok(info)
        }
    }

    /// Both windows start afresh with the next request (after a forced throttle).
    pub(super) fn clear(&mut self) {
        *self = PartnerQuota::default();
    }
}

impl RateInfo {
    /// The figures during a forced throttle: the short window used up, ending when the
    /// throttle does.
    pub(super) fn forced(mut self, left_secs: i64) -> RateInfo {
        self.usage.0 = self.usage.0.max(self.limit.0);
        self.reset.0 = left_secs;
        self
    }

    /// Sets the three headers on `response`.
    pub(super) fn apply(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        for (name, (short, long)) in [
            (
                "ratelimit-usage",
                (i64::from(self.usage.0), i64::from(self.usage.1)),
            ),
            (
                "ratelimit-limit",
                (i64::from(self.limit.0), i64::from(self.limit.1)),
            ),
            ("ratelimit-reset", self.reset),
        ] {
            let value = HeaderValue::from_str(&format!("{short}, {long}"))
                .expect("digits make a header value");
            headers.insert(HeaderName::from_static(name), value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn windows_start_with_the_first_request_and_count_refusals() {
        let t0 = datetime!(2026-11-20 10:00:00 UTC);
        let mut quota = PartnerQuota::default();
        assert_eq!(
            quota.peek((2, 3), t0),
            RateInfo {
                usage: (0, 0),
                limit: (2, 3),
                reset: (900, 86_400)
            }
        );
        assert!(quota.charge((2, 3), t0).is_ok());
        let second = quota
            .charge((2, 3), t0 + time::Duration::seconds(100))
            .unwrap();
        assert_eq!(second.usage, (2, 2));
        assert_eq!(second.reset, (800, 86_300));
        let refused = quota
            .charge((2, 3), t0 + time::Duration::seconds(200))
            .unwrap_err();
        assert_eq!(refused.usage, (3, 3), "the refusal counts in both windows");
        // The short window ends 15 minutes after its first request; the long one goes on.
        let later = t0 + time::Duration::seconds(900);
        let refused = quota.charge((2, 3), later).unwrap_err();
        assert_eq!(refused.usage, (1, 4));
        assert_eq!(refused.reset, (900, 85_500));
    }

    #[test]
    fn limits_grow_with_registered_people() {
        assert_eq!(RateLimits::default().limits(0), (500, 5_000));
        assert_eq!(RateLimits::default().limits(10), (700, 6_000));
    }
}
