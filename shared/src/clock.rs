//! Time as an input: every use case and adapter that needs "now" asks a [`Clock`] it was
//! given, never the system.
//!
//! Invariants:
//! - Only [`SystemClock`] reads the wall clock, and only `wiring` (for the functions and
//!   the admin CLI) hands it out; tests and simulations hand out a [`SetClock`].
//! - Elapsed time within one process (timeouts, cache ages, backoff sleeps) is measured
//!   with `std::time::Instant`/`tokio::time`, which no date can break; a [`Clock`] is for
//!   what is compared with dates and stored times: expiries, leases, "yesterday".

use std::sync::{Arc, Mutex};
use std::time::Instant;

use time::OffsetDateTime;

/// Port: what time it is.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;

    /// The same instant, as the time-zone arithmetic of [`crate::domain::local_day`] takes it.
    fn timestamp(&self) -> jiff::Timestamp {
        to_timestamp(self.now())
    }
}

/// A clock as services hold it.
pub type SharedClock = Arc<dyn Clock>;

/// `t` as a `jiff::Timestamp`.
pub fn to_timestamp(t: OffsetDateTime) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(t.unix_timestamp_nanos())
        .expect("an OffsetDateTime is within jiff's range")
}

/// The machine's clock: production.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock set to a chosen time, which then runs on like a watch (so code that waits a
/// few milliseconds sees time pass), and can be set again or moved on: tests and
/// simulations. [`SetClock::frozen`] makes one that stands still.
pub struct SetClock {
    at: Mutex<(OffsetDateTime, Instant)>,
    runs: bool,
}

impl SetClock {
    /// Shows `at` now, and runs on from there.
    pub fn new(at: OffsetDateTime) -> SetClock {
        SetClock {
            at: Mutex::new((at, Instant::now())),
            runs: true,
        }
    }

    /// Shows `at` until it is set or moved on.
    pub fn frozen(at: OffsetDateTime) -> SetClock {
        SetClock {
            runs: false,
            ..SetClock::new(at)
        }
    }

    /// Shows `at` now.
    pub fn set(&self, at: OffsetDateTime) {
        *self.at.lock().unwrap_or_else(|e| e.into_inner()) = (at, Instant::now());
    }

    /// Moves the clock on by `by`.
    pub fn advance(&self, by: time::Duration) {
        let now = self.now();
        self.set(now + by);
    }
}

impl Clock for SetClock {
    fn now(&self) -> OffsetDateTime {
        let (at, since) = *self.at.lock().unwrap_or_else(|e| e.into_inner());
        if self.runs {
            at + since.elapsed()
        } else {
            at
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_set_clock_shows_its_time_and_runs_on_unless_frozen() {
        let at = datetime!(2028-02-29 23:59:59 UTC);
        let running = SetClock::new(at);
        let first = running.now();
        assert!(first >= at && first - at < time::Duration::seconds(5));
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(running.now() > first);
        running.advance(time::Duration::days(1));
        assert_eq!(running.now().date(), time::macros::date!(2028 - 03 - 01));

        let frozen = SetClock::frozen(at);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(frozen.now(), at);
        assert_eq!(frozen.timestamp().to_string(), "2028-02-29T23:59:59Z");
        frozen.set(datetime!(2026-12-31 12:00 UTC));
        assert_eq!(frozen.now(), datetime!(2026-12-31 12:00 UTC));
    }
}
